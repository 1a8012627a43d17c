//! The `evaluate` stage kind: generates answers for a test set (greedy or sampled) and
//! reports accuracy, pass@k and avg@k, overall and per slice of a column. Declared here;
//! generation is `sieve-torch`'s.
//!
//! Invariants: the output holds `metrics.json` (the numbers, and per-slice numbers when
//! `slice_by` is given) and `metrics.parquet` (one row per example: outputs, extracted
//! answers, correctness); sample `j` of the row with id `i` is drawn from a seed that
//! depends only on (seed, i, j), so results do not depend on batching.

use super::declare::{DeviceSpec, ParamValue, Problems, Seed, Stage, Torch, positive};
use super::{ArtifactKind, InputSpec, ParamType};
use crate::eval::{METRICS, Metric};
use crate::value::Value;
use std::num::NonZeroU64;

impl ParamValue for Metric {
    fn param_type() -> ParamType {
        ParamType::Enum(METRICS)
    }
    fn from_value(v: &Value) -> Result<Self, String> {
        v.as_str()
            .and_then(Metric::parse)
            .ok_or_else(|| format!("expected one of {}, found `{v}`", METRICS.join(" | ")))
    }
    fn to_value(&self) -> Option<Value> {
        Some(Value::Str(self.name().to_string()))
    }
}

crate::stage_params! {
    /// Parameters of [`Evaluate`].
    pub struct EvaluateParams {
        /// how an output is judged against `answer`: exact_match (the final answer after the last `Answer:`, else the whole output), boxed (last \boxed{}), last_number, normalized, contains
        metric: Metric = Metric::ExactMatch,
        /// generation budget per sample
        max_new_tokens: NonZeroU64 = positive(256),
        /// 0 = greedy
        temperature: f64 = 0.0,
        /// nucleus sampling mass (1 = off)
        top_p: f64 = 1.0,
        /// top-k sampling (0 = off)
        top_k: u64 = 0,
        /// samples per prompt (n)
        samples: NonZeroU64 = positive(1),
        /// k of pass@k / avg@k (default: samples)
        k: Option<u64>,
        /// column to slice the metrics by (e.g. `ops`)
        slice_by: Option<String>,
        /// stop strings (besides EOS)
        stop: Vec<String> = Vec::new(),
        /// sequences generated together
        batch_size: NonZeroU64 = positive(64),
        /// wrap each prompt in the model's chat template (one user turn)
        chat: bool = false,
        seed: Seed,
        device: DeviceSpec,
    }
}

impl EvaluateParams {
    /// The k of pass@k / avg@k.
    pub fn pass_k(&self) -> u64 {
        self.k.unwrap_or(self.samples.get())
    }
}

/// `evaluate(model, data, …)`.
pub struct Evaluate;

impl Stage for Evaluate {
    const NAME: &'static str = "evaluate";
    /// 2: exact_match compares the final answer after the last `Answer:` marker.
    const VERSION: u32 = 2;
    const DOC: &'static str = "Generates answers for a test set (greedy or sampled) and reports accuracy, pass@k and avg@k, overall and per slice";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("model", ArtifactKind::Model, "the model to evaluate"),
        InputSpec::one("data", ArtifactKind::Dataset, "test rows (`prompt`, `answer`)"),
    ];
    const OUTPUT: ArtifactKind = ArtifactKind::Metrics;
    const TORCH: Torch = Torch::Always;
    type Params = EvaluateParams;

    /// The metrics are sliced by the `slice_by` column: a report axis may name it (or
    /// `slice`), as `report` reads them.
    fn output_variables(p: &EvaluateParams) -> Vec<String> {
        match &p.slice_by {
            Some(col) => vec![col.clone(), "slice".to_string()],
            None => Vec::new(),
        }
    }

    fn validate(p: &EvaluateParams, problems: &mut Problems) {
        if p.temperature < 0.0 {
            problems.at(EvaluateParams::temperature, "must be ≥ 0");
        } else if p.samples.get() > 1 && p.temperature == 0.0 {
            problems.at(
                EvaluateParams::temperature,
                "several samples per prompt need temperature > 0 (greedy samples are identical)",
            );
        }
        if let Some(k) = p.k
            && !(1..=p.samples.get()).contains(&k)
        {
            problems.at(
                EvaluateParams::k,
                format!("must be in 1..={} (the number of samples)", p.samples),
            );
        }
        if !(0.0..=1.0).contains(&p.top_p) || p.top_p == 0.0 {
            problems.at(EvaluateParams::top_p, "must be in (0, 1]");
        }
    }
}
