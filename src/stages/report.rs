//! The `report` stage kind: turns a family of metrics artifacts (typically every cell
//! of a sweep of `evaluate` stages) into a table (Markdown + CSV) and a chart (line,
//! heatmap or bar; PNG + SVG), addressed by the family's sweep variables.
//!
//! Invariants: the output folder holds `report.md`, `table.csv`, `metrics.json` (the
//! numbers shown, with the best cell of each row) and, except for `kind = table`,
//! `chart.png` + `chart.svg`; all are pure functions of the inputs' metrics, their
//! instance names and coordinates, and the parameters — no paths, no timestamps — so a
//! rerun over identical inputs reproduces identical bytes. Problems only the data can
//! reveal (a metric or variable an artifact lacks, two artifacts for one cell) are
//! `StageError::Input`s naming the artifact and what it does have.
//!
//! This file is only the kind: its parameters, their checks, and a `run` that reads the
//! inputs' metrics, hands them to the reporting library (`report::render`: pivoting,
//! tables, charts, the page) and writes what it renders.

use super::artifact::{METRICS_FILE, REPORT_FILE};
use super::{
    ArtifactKind, InputArtifact, InputSpec, ParamSpec, ParamType, Params, StageContext, StageError,
    StageKind, StageResult,
};
use crate::report::render::{CHART_PNG, CHART_SVG, TABLE_CSV, render};
use crate::report::{Aggregate, Best, Label, MetricsInput, ReportError, ReportKind, ReportSpec, Scale};
use crate::value::Value;
use serde_json::Value as Json;

/// The reporting stage kinds.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![Box::new(Report)]
}

const KINDS: &[&str] = &["table", "line", "heatmap", "bar"];
const RELATIVE: &[&str] = &["none", "baseline"];
const AGGREGATES: &[&str] = &["none", "mean", "min", "max"];
const BESTS: &[&str] = &["max", "min", "none"];
const SCALES: &[&str] = &["auto", "linear", "log", "category"];
/// Why `relative_to = baseline` cannot work (checked at lowering, and again at run time).
const NEEDS_BASELINE: &str = "`relative_to = baseline` needs a baseline input: `report(acc, base_acc, …)`";

struct Report;

impl StageKind for Report {
    fn name(&self) -> &'static str {
        "report"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Tables (Markdown + CSV) and charts (line, heatmap, bar; PNG + SVG) over a family of metrics, addressed by their sweep variables"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        vec![
            InputSpec::many(
                "results",
                ArtifactKind::Metrics,
                "the metrics to report: a sweep family (`acc`), a sub-family (`acc[band=hard]`) or one artifact",
            ),
            InputSpec::optional(
                "baseline",
                ArtifactKind::Metrics,
                "a reference evaluation (e.g. of the base model): subtracted with `relative_to = baseline`, else shown beside the results",
            ),
        ]
    }
    fn params(&self) -> Vec<ParamSpec> {
        use ParamSpec as P;
        use ParamType as T;
        let s = |v: &str| Value::Str(v.into());
        vec![
            P::optional(
                "kind",
                T::Enum(KINDS),
                s("table"),
                "what to draw: `table` (no chart), `line` (value against x, one line per series), `heatmap` (y rows × x columns, best cell of each row marked), `bar` (groups by x, one bar per series)",
            ),
            P::optional(
                "value",
                T::Metric,
                s("accuracy"),
                "the metric: a key of each metrics.json, dotted for nested values (`pass@4`, `slices.7.accuracy`); read per slice when an axis is the slice variable",
            ),
            P::optional(
                "x",
                T::Axis,
                s(""),
                "the columns / x axis: a sweep variable (`band`), the evaluations' `slice_by` column (`ops`), or `instance`; required for line, heatmap and bar",
            ),
            P::optional(
                "y",
                T::Axis,
                s(""),
                "the rows of a heatmap (required) or of a table (default: every other varying variable)",
            ),
            P::optional(
                "series",
                T::Axis,
                s(""),
                "line / bar: one line or bar per value of this variable (default: one per combination of the other varying variables)",
            ),
            P::optional(
                "relative_to",
                T::Enum(RELATIVE),
                s("none"),
                "`baseline`: report value − the baseline input's value (a gain); `none`: raw values, the baseline (if bound) shown as a reference",
            ),
            P::optional(
                "aggregate",
                T::Enum(AGGREGATES),
                s("none"),
                "how artifacts that fall into one cell combine (e.g. seeds): `none` makes that an error; with mean/min/max, variables not on an axis are aggregated over",
            ),
            P::optional(
                "best",
                T::Enum(BESTS),
                s("max"),
                "which cell of each row is best (bold in the table, framed on a heatmap): `max` for accuracy, `min` for losses, `none`",
            ),
            P::optional(
                "x_scale",
                T::Enum(SCALES),
                s("auto"),
                "line charts: `linear` / `log` (numeric x), `category` (evenly spaced), `auto` (linear for numbers, else category)",
            ),
            P::optional(
                "title",
                T::Str,
                s(""),
                "chart and page title (default: derived from value and axes)",
            ),
            P::optional(
                "precision",
                T::Int,
                Value::Int(3),
                "digits after the decimal point in tables and on heatmaps",
            ),
            P::optional("width", T::Int, Value::Int(800), "chart width in pixels"),
            P::optional("height", T::Int, Value::Int(500), "chart height in pixels"),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Report
    }
    /// Tables, titles and `metrics.json` name the inputs (the `instance` axis, the
    /// baseline).
    fn reads_input_names(&self, _params: &Params) -> bool {
        true
    }
    fn validate(&self, p: &Params) -> Vec<(Option<&'static str>, String)> {
        let mut errs = Vec::new();
        let st = |n: &str| p.get(n).and_then(Value::as_str).unwrap_or("").to_string();
        let (kind, x, y, series) = (st("kind"), st("x"), st("y"), st("series"));
        match kind.as_str() {
            "heatmap" => {
                if x.is_empty() {
                    errs.push((
                        Some("x"),
                        "a heatmap needs `x` (its columns), e.g. `x = band`".to_string(),
                    ));
                }
                if y.is_empty() {
                    errs.push((
                        Some("y"),
                        "a heatmap needs `y` (its rows), e.g. `y = budget`".to_string(),
                    ));
                }
                if !series.is_empty() {
                    errs.push((
                        Some("series"),
                        "a heatmap has no series: its rows are `y`".to_string(),
                    ));
                }
            }
            "line" | "bar" => {
                if x.is_empty() {
                    errs.push((
                        Some("x"),
                        format!("a {kind} chart needs `x`, e.g. `x = budget` or `x = ops`"),
                    ));
                }
                if !y.is_empty() {
                    errs.push((
                        Some("y"),
                        format!(
                            "a {kind} chart plots `value` against `x`; name the lines with `series = {y}`"
                        ),
                    ));
                }
            }
            "table" if !series.is_empty() => {
                errs.push((
                    Some("series"),
                    format!("a table has rows, not series: write `y = {series}`"),
                ));
            }
            _ => {}
        }
        let axes = [("x", &x), ("y", &y), ("series", &series)];
        for (i, (a, va)) in axes.iter().enumerate() {
            for (b, vb) in &axes[i + 1..] {
                if !va.is_empty() && va == vb {
                    errs.push((None, format!("`{a}` and `{b}` both name `{va}`")));
                }
            }
        }
        if st("value").trim().is_empty() {
            errs.push((
                Some("value"),
                "must name a metric, e.g. `value = accuracy`".to_string(),
            ));
        }
        if st("x_scale") != "auto" && !st("x_scale").is_empty() && kind != "line" {
            errs.push((
                Some("x_scale"),
                "only line charts have a numeric x axis".to_string(),
            ));
        }
        let int = |n: &str| p.get(n).and_then(Value::as_i64);
        for n in ["width", "height"] {
            if int(n).is_some_and(|v| !(200..=4000).contains(&v)) {
                errs.push((
                    if n == "width" {
                        Some("width")
                    } else {
                        Some("height")
                    },
                    "must be in 200..=4000".into(),
                ));
            }
        }
        if int("precision").is_some_and(|v| !(0..=10).contains(&v)) {
            errs.push((Some("precision"), "must be in 0..=10".into()));
        }
        errs
    }
    fn validate_inputs(&self, p: &Params, bound: &[&str]) -> Vec<(&'static str, String)> {
        let relative = p.get("relative_to").and_then(Value::as_str) == Some("baseline");
        match relative && !bound.contains(&"baseline") {
            true => vec![("relative_to", NEEDS_BASELINE.to_string())],
            false => Vec::new(),
        }
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        let spec = spec_from_params(ctx.params())?;
        let results: Vec<MetricsInput> = ctx
            .slot("results")
            .iter()
            .map(load_input)
            .collect::<Result<_, _>>()?;
        if results.is_empty() {
            return Err(StageError::Input("`results` is empty: nothing to report".into()));
        }
        let baseline = ctx.slot("baseline").first().map(load_input).transpose()?;
        if spec.relative && baseline.is_none() {
            return Err(StageError::Input(NEEDS_BASELINE.into()));
        }
        let rendered = render(&spec, &results, baseline.as_ref()).map_err(report_err)?;
        let out = ctx.out_dir();
        std::fs::write(out.join(REPORT_FILE), &rendered.markdown)?;
        std::fs::write(out.join(TABLE_CSV), rendered.table.to_csv())?;
        std::fs::write(
            out.join(METRICS_FILE),
            serde_json::to_vec_pretty(&rendered.metrics)?,
        )?;
        if let (Some(chart), Some(svg)) = (&rendered.chart, &rendered.svg) {
            chart
                .write_png(&out.join(CHART_PNG), (spec.width, spec.height))
                .map_err(report_err)?;
            std::fs::write(out.join(CHART_SVG), svg)?;
        }
        ctx.log(&format!(
            "report: {} of `{}` over {} input(s), {} × {} grid",
            spec.kind.as_str(),
            spec.value,
            results.len(),
            rendered.rows,
            rendered.cols
        ));
        Ok(())
    }
}

fn report_err(e: ReportError) -> StageError {
    match e {
        ReportError::Data(m) => StageError::Input(m),
        ReportError::Lookup(e) => StageError::Input(e.to_string()),
        ReportError::Chart(m) => StageError::Failed(format!("drawing the chart: {m}")),
        ReportError::Io(e) => StageError::Io(e),
    }
}

/// The parameters, read once (lowering has checked them; an unknown word here is a
/// parameter that bypassed lowering).
fn spec_from_params(p: &Params) -> Result<ReportSpec, StageError> {
    let opt = |n: &str| -> Result<Option<String>, StageError> {
        let s = p.str(n)?.trim();
        Ok(if s.is_empty() { None } else { Some(s.to_string()) })
    };
    let word = |n: &str| -> Result<String, StageError> { Ok(p.str(n)?.to_string()) };
    let bad = |n: &str, v: &str| StageError::Input(format!("parameter `{n}`: unknown value `{v}`"));
    let px = |n: &str| -> Result<u32, StageError> {
        u32::try_from(p.i64(n)?.clamp(1, 8000))
            .map_err(|_| StageError::Input(format!("parameter `{n}` is out of range")))
    };
    let (kind, aggregate, best, x_scale) =
        (word("kind")?, word("aggregate")?, word("best")?, word("x_scale")?);
    Ok(ReportSpec {
        kind: ReportKind::parse(&kind).ok_or_else(|| bad("kind", &kind))?,
        value: p.str("value")?.trim().to_string(),
        x: opt("x")?,
        y: opt("y")?,
        series: opt("series")?,
        relative: p.str("relative_to")? == "baseline",
        aggregate: Aggregate::parse(&aggregate).ok_or_else(|| bad("aggregate", &aggregate))?,
        best: Best::parse(&best).ok_or_else(|| bad("best", &best))?,
        x_scale: match x_scale.as_str() {
            "auto" | "" => None,
            "linear" => Some(Scale::Linear),
            "log" => Some(Scale::Log),
            "category" => Some(Scale::Category),
            other => return Err(bad("x_scale", other)),
        },
        title: p.str("title")?.to_string(),
        precision: p.usize("precision")?.min(10),
        width: px("width")?,
        height: px("height")?,
    })
}

/// Reads one input artifact's metrics document.
fn load_input(a: &InputArtifact) -> Result<MetricsInput, StageError> {
    let path = a.file(METRICS_FILE);
    let bytes = std::fs::read(&path)
        .map_err(|e| StageError::Input(format!("`{}` has no readable {METRICS_FILE}: {e}", a.instance)))?;
    let metrics: Json = serde_json::from_slice(&bytes)
        .map_err(|e| StageError::Input(format!("`{}`: {METRICS_FILE} is not valid JSON: {e}", a.instance)))?;
    let coords = a
        .coords
        .iter()
        .map(|(k, v)| (k.clone(), coord_label(v)))
        .collect();
    Ok(MetricsInput {
        instance: a.instance.clone(),
        coords,
        metrics,
    })
}

/// A sweep coordinate as a report label: numbers stay numbers (so they sort as numbers),
/// other values are shown as in instance names.
fn coord_label(v: &Value) -> Label {
    match v {
        Value::Int(i) => Label::Num(*i as f64),
        Value::Float(f) => Label::Num(*f),
        Value::Str(s) => Label::Text(s.clone()),
        other => Label::Text(other.coord_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::InputSlot;
    use super::super::context::NoProgress;
    use super::*;
    use crate::report::testutil::{spec, sweep};
    use std::path::Path;
    use std::sync::atomic::AtomicBool;

    /// The fixture sweep as metrics artifacts on disk: one folder per instance.
    fn artifacts(root: &Path) -> (Vec<InputArtifact>, InputArtifact) {
        let write = |input: &MetricsInput| {
            let dir = root.join(input.instance.replace(['[', ']', '=', ','], "_"));
            std::fs::create_dir_all(&dir).unwrap();
            let bytes = serde_json::to_vec_pretty(&input.metrics).unwrap();
            std::fs::write(dir.join(METRICS_FILE), bytes).unwrap();
            let coords = input.coords.iter().map(|(k, l)| {
                let v = match l {
                    Label::Num(x) => Value::Int(*x as i64),
                    Label::Text(t) => Value::Str(t.clone()),
                };
                (k.clone(), v)
            });
            InputArtifact {
                instance: input.instance.clone(),
                coords: coords.collect(),
                kind: ArtifactKind::Metrics,
                dir,
            }
        };
        let (fam, base) = sweep();
        (fam.iter().map(write).collect(), write(&base))
    }

    /// The kind's parameters: its defaults, then `params`.
    fn params(params: &[(&str, Value)]) -> Params {
        let mut p = Params::default();
        for spec in Report.params() {
            p.0.insert(
                spec.name.to_string(),
                spec.default.unwrap_or(Value::Str(String::new())),
            );
        }
        for (k, v) in params {
            p.0.insert(k.to_string(), v.clone());
        }
        p
    }

    fn run_report(
        params: &[(&str, Value)],
        results: &[InputArtifact],
        baseline: Option<&InputArtifact>,
        out: &Path,
    ) -> StageResult {
        let p = self::params(params);
        let errs = Report.validate(&p);
        assert!(errs.is_empty(), "validate: {errs:?}");
        let inputs = vec![
            InputSlot {
                name: "results".into(),
                members: results.to_vec(),
            },
            InputSlot {
                name: "baseline".into(),
                members: baseline.into_iter().cloned().collect(),
            },
        ];
        std::fs::create_dir_all(out).unwrap();
        let cancel = AtomicBool::new(false);
        let ctx = StageContext::new(
            "heatmap".into(),
            p,
            inputs,
            out.to_path_buf(),
            out.with_extension("work"),
            None,
            &NoProgress,
            &cancel,
        )
        .unwrap();
        Report.run(&ctx)
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn parameters_become_the_libraries_spec() {
        assert_eq!(
            spec_from_params(&params(&[])).unwrap(),
            spec(ReportKind::Table),
            "the defaults"
        );
        let p = params(&[
            ("kind", s("line")),
            ("x", s(" budget ")),
            ("series", s("band")),
            ("value", s(" pass@1 ")),
            ("relative_to", s("baseline")),
            ("aggregate", s("mean")),
            ("best", s("min")),
            ("x_scale", s("log")),
            ("title", s("T")),
            ("precision", Value::Int(5)),
            ("width", Value::Int(640)),
        ]);
        let want = ReportSpec {
            x: Some("budget".into()),
            series: Some("band".into()),
            value: "pass@1".into(),
            relative: true,
            aggregate: Aggregate::Mean,
            best: Best::Min,
            x_scale: Some(Scale::Log),
            title: "T".into(),
            precision: 5,
            width: 640,
            ..spec(ReportKind::Line)
        };
        assert_eq!(spec_from_params(&p).unwrap(), want);
    }

    #[test]
    fn run_writes_what_the_library_renders_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let (fam, base) = artifacts(dir.path());
        let params = [
            ("kind", s("heatmap")),
            ("x", s("band")),
            ("y", s("budget")),
            ("value", s("accuracy")),
            ("relative_to", s("baseline")),
        ];
        let out = dir.path().join("out");
        run_report(&params, &fam, Some(&base), &out).unwrap();
        let want = {
            let (fam, base) = sweep();
            render(
                &spec_from_params(&self::params(&params)).unwrap(),
                &fam,
                Some(&base),
            )
            .unwrap()
        };
        let read = |f: &str| std::fs::read(out.join(f)).unwrap();
        assert_eq!(read(REPORT_FILE), want.markdown.as_bytes());
        assert_eq!(read(TABLE_CSV), want.table.to_csv().as_bytes());
        assert_eq!(
            read(METRICS_FILE),
            serde_json::to_vec_pretty(&want.metrics).unwrap()
        );
        assert_eq!(read(CHART_SVG), want.svg.unwrap().as_bytes());
        assert_eq!(&read(CHART_PNG)[1..4], b"PNG");

        // A second run over the same inputs writes identical bytes, charts included.
        let again = dir.path().join("again");
        run_report(&params, &fam, Some(&base), &again).unwrap();
        for f in [REPORT_FILE, TABLE_CSV, METRICS_FILE, CHART_PNG, CHART_SVG] {
            assert_eq!(
                read(f),
                std::fs::read(again.join(f)).unwrap(),
                "{f} differs between runs"
            );
        }
        // A table writes no chart.
        let table = dir.path().join("table");
        run_report(&[("x", s("band"))], &fam, None, &table).unwrap();
        assert!(table.join(TABLE_CSV).exists() && !table.join(CHART_PNG).exists());
    }

    #[test]
    fn runtime_errors_name_the_instance_and_what_exists() {
        let dir = tempfile::tempdir().unwrap();
        let (fam, _) = artifacts(dir.path());
        let out = dir.path().join("out");
        let err = |params: &[(&str, Value)], results: &[InputArtifact]| {
            run_report(params, results, None, &out).unwrap_err().to_string()
        };
        // What the library finds is an input error.
        let e = err(&[("value", s("acc"))], &fam);
        assert!(
            e.starts_with(
                "invalid input: `value = acc`: `acc[budget=256,band=easy]`: its metrics.json has no `acc`"
            ),
            "{e}"
        );
        let e = err(
            &[("kind", s("line")), ("x", s("band")), ("x_scale", s("log"))],
            &fam,
        );
        assert!(
            e.starts_with("invalid input: ") && e.contains("not a number"),
            "{e}"
        );
        // What the stage finds: a baseline it was not given, a missing metrics file.
        let e = err(&[("relative_to", s("baseline"))], &fam);
        assert_eq!(e, format!("invalid input: {NEEDS_BASELINE}"));
        let mut broken = fam.clone();
        broken[1].dir = dir.path().join("nowhere");
        let e = err(&[], &broken);
        assert!(
            e.contains("`acc[budget=256,band=medium]` has no readable metrics.json"),
            "{e}"
        );
        assert!(err(&[], &[]).contains("`results` is empty"));
    }

    #[test]
    fn the_library_names_the_metrics_file_as_the_stages_do() {
        assert_eq!(crate::report::pivot::METRICS_JSON, METRICS_FILE);
    }

    #[test]
    fn validate_catches_what_it_can() {
        let check = |p: &[(&str, &str)]| -> Vec<(Option<&'static str>, String)> {
            let p: Vec<(&str, Value)> = p.iter().map(|(k, v)| (*k, s(v))).collect();
            Report.validate(&params(&p))
        };
        assert!(check(&[]).is_empty());
        let e = check(&[("kind", "heatmap"), ("x", "band")]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, Some("y"));
        assert_eq!(check(&[("kind", "line")])[0].0, Some("x"));
        assert!(
            check(&[("kind", "line"), ("x", "ops"), ("y", "band")])[0]
                .1
                .contains("series = band")
        );
        assert!(
            check(&[("kind", "bar"), ("x", "band"), ("series", "band")])[0]
                .1
                .contains("both name `band`")
        );
        assert_eq!(
            check(&[("kind", "table"), ("series", "band")])[0].0,
            Some("series")
        );
        assert_eq!(check(&[("value", " ")])[0].0, Some("value"));
        assert_eq!(check(&[("x_scale", "log")])[0].0, Some("x_scale"));
        assert_eq!(
            Report.validate(&params(&[("width", Value::Int(10))]))[0].0,
            Some("width")
        );
        // The kind's enum rejects unknown kinds at lowering, with a suggestion.
        let kind = Report.params().into_iter().find(|p| p.name == "kind").unwrap();
        assert!(
            kind.ty
                .coerce(s("heatmpa"))
                .unwrap_err()
                .contains("did you mean `heatmap`")
        );
    }
}
