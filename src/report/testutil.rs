//! Test fixtures: the metrics documents `evaluate` writes, for a small sweep and a base
//! model, and a report spec with the `report` stage's defaults. Shared by the library's
//! tests and the `report` stage's.

use super::Label;
use super::grid::{Aggregate, Best};
use super::pivot::MetricsInput;
use super::spec::{ReportKind, ReportSpec};
use serde_json::{Value as Json, json};

/// A metrics document the way `evaluate` writes it (summary + `slices` by `ops`).
pub fn eval_metrics(accuracy: f64, slices: &[(i64, f64)]) -> Json {
    let mut m = json!({
        "metric": "exact_match", "accuracy": accuracy, "n": 100, "samples": 1, "k": 1,
        "pass@1": accuracy, "avg@1": accuracy, "temperature": 0.0, "max_new_tokens": 64,
    });
    if !slices.is_empty() {
        let mut s = serde_json::Map::new();
        for (ops, acc) in slices {
            s.insert(
                ops.to_string(),
                json!({"n": 10, "accuracy": acc, "pass@1": acc, "avg@1": acc}),
            );
        }
        m["slice_by"] = json!("ops");
        m["slices"] = Json::Object(s);
    }
    m
}

/// The 2 × 3 sweep `acc[budget, band]` and a base evaluation `base_acc`. Accuracy peaks
/// at medium for 256 and at hard for 1024; per-ops slices: easier ops are solved more
/// often.
pub fn sweep() -> (Vec<MetricsInput>, MetricsInput) {
    let table = [(256, [0.50, 0.55, 0.45]), (1024, [0.52, 0.60, 0.66])];
    let mut family = Vec::new();
    for (budget, accs) in table {
        for (band, acc) in ["easy", "medium", "hard"].iter().zip(accs) {
            family.push(MetricsInput {
                instance: format!("acc[budget={budget},band={band}]"),
                coords: vec![
                    ("budget".into(), Label::Num(budget as f64)),
                    ("band".into(), Label::Text(band.to_string())),
                ],
                metrics: eval_metrics(acc, &[(2, acc + 0.3), (3, acc), (10, acc - 0.3)]),
            });
        }
    }
    let base = MetricsInput {
        instance: "base_acc".into(),
        coords: Vec::new(),
        metrics: eval_metrics(0.40, &[(2, 0.7), (3, 0.4), (10, 0.1)]),
    };
    (family, base)
}

/// A spec of `kind` with the `report` stage's defaults (accuracy, raw values, best =
/// max, precision 3, 800 × 500) and no axes.
pub fn spec(kind: ReportKind) -> ReportSpec {
    ReportSpec {
        kind,
        value: "accuracy".into(),
        x: None,
        y: None,
        series: None,
        relative: false,
        aggregate: Aggregate::None,
        best: Best::Max,
        x_scale: None,
        title: String::new(),
        precision: 3,
        width: 800,
        height: 500,
    }
}

/// `Some(name)`, for axes.
pub fn var(name: &str) -> Option<String> {
    Some(name.to_string())
}
