//! The `score` stage kind: per-row difficulty scores of a dataset, written as a scores
//! artifact (`scores.parquet` + the scored `data.parquet`; layout in `data::score`).
//!
//! `by` selects the method: `column("ops")` (a numeric column as is), `length()` /
//! `length("chars" | "words" | "bytes" | "tokens")` (prompt + response) and
//! `cot_length(…)` (the response, i.e. the reference chain of thought). `tokens` counts
//! with the bound `model` input's tokenizer, else the `tokenizer` parameter. The
//! model-based methods need a `model` input (a reference model): `loss` (mean NLL of the
//! response given the prompt, nats/token), `ifd` (that loss / the loss of the response
//! without the prompt) and `pass_rate(k)` (k seeded samples judged against `answer`;
//! the score is 1 − pass rate). Every method is "higher = harder".
//!
//! Invariant: the scores artifact is a pure function of the dataset bytes, the method and
//! its parameters (tokenizer; for model-based methods the model bytes, seed, sampling
//! options, batch size and device class), so one scoring is cached and reused by every
//! `select` over it. Model-based scores are computed in length-sorted batches whose
//! composition depends only on the data and `batch_size`, and a sample's seed only on
//! (seed, row id, sample index), so a rerun writes byte-identical files.

use super::artifact::DATASET_FILE;
use super::data::{checker, data_err, model_input, token_counter};
use super::declare::{DeviceSpec, ParamValue, Problems, Seed, Stage, TokenizerSpec, Torch, positive};
use super::{ArtifactKind, InputSpec, ParamType, StageContext, StageError, StageResult};
use crate::data::schema::{ANSWER, RESPONSE};
use crate::data::score::{Method, compute, method_name, write_scores};
use crate::data::text::TokenCounter;
use crate::eval::Metric;
use crate::value::{CallValue, Value};
use std::num::NonZeroU64;
use std::path::Path;

/// Constructors accepted by `by`.
pub const METHODS: &[&str] = &["column", "length", "cot_length", "loss", "pass_rate", "ifd"];
/// Units of `length(…)` / `cot_length(…)`.
const UNITS: &[&str] = &["chars", "words", "bytes", "tokens"];
/// Samples per row of a bare `pass_rate`.
const DEFAULT_K: u64 = 8;
/// Most samples per row `pass_rate(k)` accepts (a guard against typos, not a limit of the method).
const MAX_K: i64 = 65_536;

/// A checked `by` value.
#[derive(Debug, Clone, PartialEq)]
pub enum ScoreBy {
    /// `column("name")`.
    Column(String),
    /// `length(unit?)`.
    Length(Option<String>),
    /// `cot_length(unit?)`.
    CotLength(Option<String>),
    /// `loss`: mean response NLL given the prompt.
    Loss,
    /// `ifd`: conditional / unconditional response loss.
    Ifd,
    /// `pass_rate(k)`: 1 − the fraction of k samples judged correct.
    PassRate(u64),
}

impl ScoreBy {
    /// Whether the method needs a reference model (and libtorch).
    pub fn needs_model(&self) -> bool {
        matches!(self, ScoreBy::Loss | ScoreBy::Ifd | ScoreBy::PassRate(_))
    }

    /// The `method` string stored in `scores.parquet` by the model-based methods (plain
    /// methods name theirs in `data::score::method_name`).
    pub fn model_method(&self) -> String {
        match self {
            ScoreBy::Loss => "loss".into(),
            ScoreBy::Ifd => "ifd".into(),
            ScoreBy::PassRate(k) => format!("pass_rate({k})"),
            _ => String::new(),
        }
    }

    /// The method's short name for messages: `pass_rate`, `loss`, `cot_length`, `column(ops)`.
    pub fn word(&self) -> String {
        match self {
            ScoreBy::Column(c) => format!("column({c})"),
            ScoreBy::Length(_) => "length".into(),
            ScoreBy::CotLength(_) => "cot_length".into(),
            ScoreBy::Loss => "loss".into(),
            ScoreBy::Ifd => "ifd".into(),
            ScoreBy::PassRate(_) => "pass_rate".into(),
        }
    }

    /// The column whose null values leave a row without a score.
    pub fn needed_column(&self) -> Option<&str> {
        match self {
            ScoreBy::Column(c) => Some(c),
            ScoreBy::Length(_) => None,
            ScoreBy::CotLength(_) | ScoreBy::Loss | ScoreBy::Ifd => Some(RESPONSE),
            ScoreBy::PassRate(_) => Some(ANSWER),
        }
    }
}

impl ParamValue for ScoreBy {
    fn param_type() -> ParamType {
        ParamType::Call(METHODS)
    }
    fn from_value(v: &Value) -> Result<Self, String> {
        parse_by(v)
    }
    fn to_value(&self) -> Option<Value> {
        let (call, args) = match self {
            ScoreBy::Column(c) => ("column", vec![Value::Str(c.clone())]),
            ScoreBy::Length(u) => ("length", u.iter().map(|u| Value::Str(u.clone())).collect()),
            ScoreBy::CotLength(u) => ("cot_length", u.iter().map(|u| Value::Str(u.clone())).collect()),
            ScoreBy::Loss => ("loss", Vec::new()),
            ScoreBy::Ifd => ("ifd", Vec::new()),
            ScoreBy::PassRate(k) => ("pass_rate", vec![Value::Int(*k as i64)]),
        };
        Some(Value::Call(CallValue {
            call: call.into(),
            args,
        }))
    }
}

/// Checks the `by` call.
fn parse_by(by: &Value) -> Result<ScoreBy, String> {
    let c = match by {
        Value::Call(c) => c.clone(),
        Value::Str(s) => CallValue {
            call: s.clone(),
            args: Vec::new(),
        },
        other => {
            return Err(format!(
                "expected one of {}, found `{other}`",
                METHODS.join(" | ")
            ));
        }
    };
    if c.args.len() > 1 {
        return Err(format!("`{}(…)` takes at most one argument", c.call));
    }
    let arg = c.args.first();
    let text = match arg {
        None => None,
        Some(Value::Str(s)) => Some(s.clone()),
        Some(other) if c.call != "pass_rate" => {
            return Err(format!("`{}(…)` takes a string, found `{other}`", c.call));
        }
        Some(_) => None,
    };
    match c.call.as_str() {
        "column" => text
            .map(ScoreBy::Column)
            .ok_or_else(|| "`column(…)` needs the column name, e.g. column(\"ops\")".into()),
        "length" | "cot_length" => match &text {
            Some(u) if !UNITS.contains(&u.as_str()) => Err(format!(
                "unit `{u}` of `{}(…)`: expected {}",
                c.call,
                UNITS.join(" | ")
            )),
            _ if c.call == "length" => Ok(ScoreBy::Length(text)),
            _ => Ok(ScoreBy::CotLength(text)),
        },
        "loss" | "ifd" if arg.is_some() => Err(format!("`{}` takes no arguments", c.call)),
        "loss" => Ok(ScoreBy::Loss),
        "ifd" => Ok(ScoreBy::Ifd),
        "pass_rate" => match arg {
            None => Ok(ScoreBy::PassRate(DEFAULT_K)),
            Some(Value::Int(k)) if (1..=MAX_K).contains(k) => Ok(ScoreBy::PassRate(*k as u64)),
            Some(other) => Err(format!(
                "`pass_rate(k)` takes the number of samples per row, an int in 1..={MAX_K}, found `{other}`"
            )),
        },
        other => Err(format!(
            "unknown method `{other}` (expected {})",
            METHODS.join(" | ")
        )),
    }
}

crate::stage_params! {
    /// Parameters of [`Score`].
    pub struct ScoreParams {
        /// column("name") | length(unit) | cot_length(unit) with unit chars | words | bytes | tokens (default tokens) | model-based: loss (response NLL) | ifd (loss with / without the prompt) | pass_rate(k) (1 − pass rate over k samples, default 8)
        by: ScoreBy = ScoreBy::CotLength(None),
        tokenizer: TokenizerSpec = TokenizerSpec::default(),
        /// also store this many quantile bands in the `bucket` column; select(bands = 0) uses them
        bands: Option<NonZeroU64>,
        /// pass_rate: how a sample is judged against `answer` (as in evaluate)
        metric: Metric = Metric::ExactMatch,
        /// pass_rate: sampling temperature (0 = greedy, only with k = 1)
        temperature: f64 = 1.0,
        /// pass_rate: nucleus sampling mass (1 = off)
        top_p: f64 = 1.0,
        /// pass_rate: top-k sampling (0 = off)
        top_k: u64 = 0,
        /// pass_rate: generation budget per sample
        max_new_tokens: NonZeroU64 = positive(256),
        /// pass_rate: stop strings (besides EOS)
        stop: Vec<String> = Vec::new(),
        /// loss / ifd: cut prompt + response to this many tokens (default: the model's context); rows whose prompt fills it score null
        max_seq_len: Option<NonZeroU64>,
        /// model-based: sequences per forward batch / generated together
        batch_size: NonZeroU64 = positive(32),
        /// largest fraction of rows allowed to get a null score (a null input column, a prompt that leaves no room for the response, a non-finite value); above it the stage fails naming the cause
        max_unscorable: f64 = 0.0,
        /// model-based: wrap each prompt in the model's chat template (one user turn)
        chat: bool = false,
        seed: Seed,
        device: DeviceSpec,
    }
}

/// `score(data, [model], by = …)`.
pub struct Score;

impl Stage for Score {
    const NAME: &'static str = "score";
    /// 2: a Hugging Face tokenizer is named by its content digest in the `method`
    /// column (it was the path, which made outputs depend on the store's location).
    const VERSION: u32 = 2;
    const DOC: &'static str = "Per-row difficulty scores (higher = harder) by a column, the example or CoT length, or a reference model's loss, IFD or 1 − pass rate; a scores artifact reused by every selection";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("data", ArtifactKind::Dataset, "the dataset to score"),
        model_input("reference model: its tokenizer for token lengths; required by loss / pass_rate / ifd"),
    ];
    const OUTPUT: ArtifactKind = ArtifactKind::Scores;
    /// Only the model-based methods (`loss`, `ifd`, `pass_rate`) run libtorch; the plain
    /// ones neither load it nor fold the device class into their key.
    const TORCH: Torch = Torch::Sometimes;
    type Params = ScoreParams;

    fn needs_torch(p: &ScoreParams) -> bool {
        p.by.needs_model()
    }

    fn validate(p: &ScoreParams, problems: &mut Problems) {
        if p.temperature < 0.0 {
            problems.at(
                ScoreParams::temperature,
                format!("must be ≥ 0, got {}", p.temperature),
            );
        } else if let ScoreBy::PassRate(k) = p.by
            && k > 1
            && p.temperature == 0.0
        {
            problems.at(
                ScoreParams::temperature,
                format!("pass_rate({k}) needs temperature > 0 (greedy samples are identical)"),
            );
        }
        if !(0.0..=1.0).contains(&p.max_unscorable) {
            problems.at(
                ScoreParams::max_unscorable,
                format!("a fraction of the rows, in [0, 1]; got {}", p.max_unscorable),
            );
        }
    }

    fn validate_inputs(p: &ScoreParams, bound: &[&str], problems: &mut Problems) {
        if p.by.needs_model() && !bound.contains(&"model") {
            problems.at(ScoreParams::by, missing_model(&p.by));
        }
    }

    fn run(p: &ScoreParams, ctx: &StageContext) -> StageResult {
        if p.by.needs_model() {
            if ctx.slot("model").is_empty() {
                return Err(StageError::Input(missing_model(&p.by)));
            }
            return super::torch::run(Self::NAME, ctx);
        }
        let data = ctx.input("data")?.file(DATASET_FILE);
        let counter = |unit: Option<&str>| -> Result<TokenCounter, StageError> {
            match unit.unwrap_or("tokens") {
                "tokens" => token_counter(ctx, &p.tokenizer),
                u => TokenCounter::from_spec(u).map_err(data_err),
            }
        };
        let (m, c) = match &p.by {
            ScoreBy::Column(col) => (Method::Column(col.clone()), TokenCounter::Chars),
            ScoreBy::Length(u) => (Method::Length, counter(u.as_deref())?),
            ScoreBy::CotLength(u) => (Method::CotLength, counter(u.as_deref())?),
            other => return Err(StageError::Failed(format!("internal: {other:?} is model-based"))),
        };
        let (ids, scores) = compute(&data, &m, &c, checker(ctx)).map_err(data_err)?;
        let name = method_name(&m, &c);
        // Plain methods leave a row unscored only where their input column is null.
        let missing = scores.iter().filter(|s| s.is_none()).count();
        check_unscorable(p, &name, &data, scores.len(), missing, None)?;
        write_scores(ctx.out_dir(), &data, &ids, &scores, &name, bands(p)).map_err(data_err)?;
        ctx.log(&format!(
            "score: {name} over {}: {} rows, {missing} unscorable",
            data.display(),
            scores.len()
        ));
        Ok(())
    }
}

/// Why a model-based method cannot run without a `model` input.
fn missing_model(by: &ScoreBy) -> String {
    let method = by.model_method();
    format!("score(by = {method}) needs a model input: score(data, model, by = {method})")
}

/// The number of quantile bands to store (0 = none, as `data::score` takes it).
pub fn bands(p: &ScoreParams) -> usize {
    p.bands.map_or(0, NonZeroU64::get) as usize
}

/// "a" or "an" before a column name.
pub fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// The column names of a dataset file, for messages.
pub fn columns_of(data: &Path) -> String {
    crate::data::io::parquet_schema(data)
        .map(|s| {
            s.fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|e| format!("(unreadable: {e})"))
}

/// Fails when more than `max_unscorable` of the `rows` rows got no score: `missing` of
/// them because the method's input column is null there, `failed` (with why) because the
/// method could not score them. The error names the column the method needs and what
/// the dataset has, since an all-null `answer` or `response` column is the usual cause.
pub fn check_unscorable(
    p: &ScoreParams,
    method: &str,
    data: &Path,
    rows: usize,
    missing: usize,
    failed: Option<(usize, &str)>,
) -> Result<(), StageError> {
    let max = p.max_unscorable;
    let (failed, why) = failed.unwrap_or((0, ""));
    let unscorable = missing + failed;
    if unscorable == 0 || unscorable as f64 <= max * rows as f64 {
        return Ok(());
    }
    let mut causes = Vec::new();
    if missing > 0
        && let Some(col) = p.by.needed_column()
    {
        let word = p.by.word();
        causes.push(if missing == rows {
            format!(
                "{word} needs {} `{col}` column, and `{col}` is null in every row; the dataset has: {}",
                article(col),
                columns_of(data)
            )
        } else {
            format!("`{col}` (which {word} needs) is null in {missing} of {rows} rows")
        });
    }
    if failed > 0 {
        causes.push(format!("{failed} rows {why}"));
    }
    Err(StageError::Input(format!(
        "score(by = {method}): {unscorable} of {rows} rows cannot be scored, more than max_unscorable = {max} allows: {}",
        causes.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::score::read_scores;
    use crate::data::testutil::small_dataset;
    use crate::stages::Params;
    use crate::stages::testutil::{kind, run_kind};

    fn call(name: &str, args: &[&str]) -> Value {
        Value::Call(CallValue {
            call: name.into(),
            args: args.iter().map(|a| Value::Str(a.to_string())).collect(),
        })
    }

    #[test]
    fn only_model_based_methods_run_libtorch() {
        let with_by = |by: Value| {
            let mut p = Params::default();
            p.0.insert("by".into(), by);
            p
        };
        for plain in [call("column", &["ops"]), call("length", &[])] {
            let p = with_by(plain);
            assert!(!kind("score").needs_torch(&p) && !kind("score").device_sensitive(&p));
        }
        let p = with_by(Value::Str("loss".into()));
        assert!(kind("score").needs_torch(&p) && kind("score").device_sensitive(&p));
    }

    #[test]
    fn scores_by_each_plain_method() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        small_dataset(&data.join("data.parquet"), 50);
        let w = dir.path().join("w");
        // `difficulty` is null in 4 rows of 50 (8 %), `response` in 10 (20 %).
        let allow = ("max_unscorable", Value::Float(0.2));
        for (by, method, nulls) in [
            (call("column", &["difficulty"]), "column(difficulty)", 4),
            (call("length", &[]), "length(chars)", 0),
            (call("cot_length", &["words"]), "cot_length(words)", 10),
        ] {
            let out = dir.path().join(method);
            run_kind(
                kind("score"),
                &[("by", by.clone()), allow.clone()],
                &[("data", &data)],
                &out,
                &w,
            )
            .unwrap();
            let s = read_scores(&out).unwrap();
            assert_eq!((s.ids.len(), s.method.as_str()), (50, method));
            assert_eq!(s.scores.iter().filter(|v| v.is_none()).count(), nulls);
            assert!(out.join("data.parquet").is_file());
            // By default every row must be scorable.
            let e = run_kind(
                kind("score"),
                &[("by", by)],
                &[("data", &data)],
                &dir.path().join("d"),
                &w,
            );
            if nulls > 0 {
                let col = if method.starts_with("column") {
                    "difficulty"
                } else {
                    "response"
                };
                assert!(
                    matches!(&e, Err(StageError::Input(m)) if m.contains(&format!("{nulls} of 50 rows cannot be scored"))
                        && m.contains(&format!("`{col}`")) && m.contains("max_unscorable = 0")),
                    "{e:?}"
                );
            } else {
                assert!(e.is_ok(), "{e:?}");
            }
        }
        let e = run_kind(
            kind("score"),
            &[("by", call("loss", &[]))],
            &[("data", &data)],
            &dir.path().join("l"),
            &w,
        );
        assert!(matches!(e, Err(StageError::Input(m)) if m.contains("needs a model input")));
        let e = run_kind(
            kind("score"),
            &[("by", call("column", &["src"]))],
            &[("data", &data)],
            &dir.path().join("c"),
            &w,
        );
        assert!(matches!(e, Err(StageError::Input(m)) if m.contains("expected a numeric")));
    }

    #[test]
    fn validate_checks_by() {
        let mut p = crate::stages::testutil::params::<ScoreParams>(&[]);
        p.0.insert("by".into(), call("column", &[]));
        assert_eq!(kind("score").validate(&p)[0].0, Some("by"));
        p.0.insert("by".into(), call("length", &["furlongs"]));
        assert!(kind("score").validate(&p)[0].1.contains("furlongs"));
        p.0.insert("by".into(), call("length", &["tokens"]));
        assert!(kind("score").validate(&p).is_empty());
        p.0.insert("by".into(), call("loss", &["x"]));
        assert!(kind("score").validate(&p)[0].1.contains("no arguments"));
        for bad in [Value::Int(0), Value::Int(MAX_K + 1), Value::Str("8".into())] {
            p.0.insert("by".into(), int_call("pass_rate", bad));
            assert!(kind("score").validate(&p)[0].1.contains("int in 1..="));
        }
        p.0.insert("by".into(), int_call("pass_rate", Value::Int(4)));
        assert!(kind("score").validate(&p).is_empty());
        p.0.insert("temperature".into(), Value::Float(0.0));
        assert_eq!(kind("score").validate(&p)[0].0, Some("temperature"));
        p.0.insert("by".into(), int_call("pass_rate", Value::Int(1)));
        assert!(kind("score").validate(&p).is_empty());
        assert_eq!(
            parse_by(&Value::Str("pass_rate".into())),
            Ok(ScoreBy::PassRate(DEFAULT_K))
        );
        p.0.insert("max_unscorable".into(), Value::Float(1.5));
        assert_eq!(kind("score").validate(&p)[0].0, Some("max_unscorable"));
        p.0.insert("max_unscorable".into(), Value::Float(1.0));
        assert!(kind("score").validate(&p).is_empty());
    }

    fn int_call(name: &str, arg: Value) -> Value {
        Value::Call(CallValue {
            call: name.into(),
            args: vec![arg],
        })
    }
}
