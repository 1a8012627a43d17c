//! The `score` stage kind: per-row difficulty scores of a dataset, written as a scores
//! artifact (`scores.parquet` + the scored `data.parquet`; layout in `data::score`).
//!
//! `by` selects the method: `column("ops")` (a numeric column as is), `length()` /
//! `length("chars" | "words" | "bytes" | "tokens")` (prompt + response) and
//! `cot_length(…)` (the response, i.e. the reference chain of thought). `tokens` counts
//! with the bound `model` input's tokenizer, else the `tokenizer` parameter. The
//! model-based methods `loss`, `pass_rate` and `ifd` take the same artifact layout
//! (higher = harder) and need a `model` input; they are provided by the model stages.
//!
//! Invariant: the scores artifact is a pure function of the dataset bytes, the method and
//! the tokenizer, so one scoring is cached and reused by every `select` over it.

use super::data::{checker, data_err, model_input, tokenizer_param};
use super::{
    ArtifactKind, InputSpec, ParamSpec, ParamType, Params, StageContext, StageError, StageKind, StageResult,
};
use crate::data::score::Method;
use crate::data::text::TokenCounter;
use crate::value::{CallValue, Value};

/// The score stage kinds.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![Box::new(Score)]
}

/// Constructors accepted by `by`.
pub const METHODS: &[&str] = &["column", "length", "cot_length", "loss", "pass_rate", "ifd"];
/// Units of `length(…)` / `cot_length(…)`.
const UNITS: &[&str] = &["chars", "words", "bytes", "tokens"];

/// `score(data, [model], by = …)`.
struct Score;

/// The `by` call, checked: `Ok((name, unit-or-column))`.
fn parse_by(by: &Value) -> Result<(String, Option<String>), String> {
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
    let arg = match c.args.as_slice() {
        [] => None,
        [Value::Str(s)] => Some(s.clone()),
        [other] => return Err(format!("`{}(…)` takes a string, found `{other}`", c.call)),
        _ => return Err(format!("`{}(…)` takes at most one argument", c.call)),
    };
    match c.call.as_str() {
        "column" if arg.is_none() => Err("`column(…)` needs the column name, e.g. column(\"ops\")".into()),
        "length" | "cot_length" => match &arg {
            Some(u) if !UNITS.contains(&u.as_str()) => Err(format!(
                "unit `{u}` of `{}(…)`: expected {}",
                c.call,
                UNITS.join(" | ")
            )),
            _ => Ok((c.call, arg)),
        },
        "column" | "loss" | "pass_rate" | "ifd" => Ok((c.call, arg)),
        other => Err(format!(
            "unknown method `{other}` (expected {})",
            METHODS.join(" | ")
        )),
    }
}

impl StageKind for Score {
    fn name(&self) -> &'static str {
        "score"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Per-row difficulty scores (higher = harder) by a column, the example length or the CoT length; a scores artifact reused by every selection"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        vec![
            InputSpec::one("data", ArtifactKind::Dataset, "the dataset to score"),
            model_input(
                "reference model: its tokenizer for token lengths; required by loss / pass_rate / ifd",
            ),
        ]
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::optional(
                "by",
                ParamType::Call(METHODS),
                Value::Call(CallValue {
                    call: "cot_length".into(),
                    args: Vec::new(),
                }),
                "column(\"name\") | length(unit) | cot_length(unit) with unit chars | words | bytes | tokens (default tokens) | loss | pass_rate | ifd (model-based)",
            ),
            tokenizer_param(),
            ParamSpec::optional(
                "bands",
                ParamType::Int,
                Value::Int(0),
                "also store quantile bands in the `bucket` column (0 = none); select(bands = 0) uses them",
            ),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Scores
    }
    fn validate(&self, params: &Params) -> Vec<(Option<&'static str>, String)> {
        let mut errs = Vec::new();
        if let Some(by) = params.get("by")
            && let Err(m) = parse_by(by)
        {
            errs.push((Some("by"), m));
        }
        if let Some(b) = params.get("bands").and_then(Value::as_i64)
            && b < 0
        {
            errs.push((Some("bands"), format!("must be ≥ 0, got {b}")));
        }
        errs
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        let p = ctx.params();
        let by = p
            .get("by")
            .ok_or_else(|| StageError::Failed("internal: `by` unresolved".into()))?;
        let (method, arg) = parse_by(by).map_err(StageError::Input)?;
        let model_bound = !ctx.slot("model").is_empty();
        let counter = |unit: Option<&str>| -> Result<TokenCounter, StageError> {
            match unit.unwrap_or("tokens") {
                "tokens" => super::data::counter(ctx),
                u => TokenCounter::from_spec(u).map_err(data_err),
            }
        };
        let (m, c) = match method.as_str() {
            "column" => (Method::Column(arg.unwrap_or_default()), TokenCounter::Chars),
            "length" => (Method::Length, counter(arg.as_deref())?),
            "cot_length" => (Method::CotLength, counter(arg.as_deref())?),
            other if !model_bound => {
                return Err(StageError::Input(format!(
                    "score(by = {other}) needs a model input: score(data, model, by = {other})"
                )));
            }
            other => {
                return Err(StageError::Input(format!(
                    "score(by = {other}) is a model-based method not provided by this build"
                )));
            }
        };
        let data = ctx.input("data")?.file(super::artifact::DATASET_FILE);
        let bands = p.usize("bands")?;
        let name = crate::data::score::score_dataset(&data, ctx.out_dir(), &m, &c, bands, checker(ctx))
            .map_err(data_err)?;
        ctx.log(&format!("score: {name} over {}", data.display()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::testutil::run_kind;
    use super::*;
    use crate::data::score::read_scores;
    use crate::data::testutil::small_dataset;

    fn call(name: &str, args: &[&str]) -> Value {
        Value::Call(CallValue {
            call: name.into(),
            args: args.iter().map(|a| Value::Str(a.to_string())).collect(),
        })
    }

    #[test]
    fn scores_by_each_plain_method() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        small_dataset(&data.join("data.parquet"), 50);
        let w = dir.path().join("w");
        for (by, method) in [
            (call("column", &["difficulty"]), "column(difficulty)"),
            (call("length", &[]), "length(chars)"),
            (call("cot_length", &["words"]), "cot_length(words)"),
        ] {
            let out = dir.path().join(method);
            run_kind(&Score, &[("by", by)], &[("data", &data)], &out, &w).unwrap();
            let s = read_scores(&out).unwrap();
            assert_eq!((s.ids.len(), s.method.as_str()), (50, method));
            assert!(out.join("data.parquet").is_file());
        }
        let e = run_kind(
            &Score,
            &[("by", call("loss", &[]))],
            &[("data", &data)],
            &dir.path().join("l"),
            &w,
        );
        assert!(matches!(e, Err(StageError::Input(m)) if m.contains("needs a model input")));
        let e = run_kind(
            &Score,
            &[("by", call("column", &["src"]))],
            &[("data", &data)],
            &dir.path().join("c"),
            &w,
        );
        assert!(matches!(e, Err(StageError::Input(m)) if m.contains("expected a numeric")));
    }

    #[test]
    fn validate_checks_by() {
        let mut p = Params::default();
        p.0.insert("by".into(), call("column", &[]));
        assert_eq!(Score.validate(&p)[0].0, Some("by"));
        p.0.insert("by".into(), call("length", &["furlongs"]));
        assert!(Score.validate(&p)[0].1.contains("furlongs"));
        p.0.insert("by".into(), call("length", &["tokens"]));
        assert!(Score.validate(&p).is_empty());
    }
}
