//! The `select` stage kind: a budgeted, banded, seeded subset of a scored dataset
//! (`select(scored, budget = 256, band = "hard", bands = 3, nested = true)`), written as a
//! dataset artifact. Semantics (bands, strategies, nesting) are documented in
//! `data::select`.
//!
//! Invariant: the scores input carries the rows it scored (`data.parquet` beside
//! `scores.parquet`), so `select` needs no second input; the output keeps the dataset's
//! schema and row order.

use super::artifact::DATASET_FILE;
use super::data::{checker, data_err, seed, tokenizer_param};
use super::{ArtifactKind, InputSpec, ParamSpec, ParamType, Params, StageContext, StageKind, StageResult};
use crate::data::select::{Banding, Budget, SelectOptions, Strategy, parse_band};
use crate::data::text::TokenCounter;
use crate::value::Value;

/// The select stage kinds.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![Box::new(Select)]
}

/// `select(scored, …)`.
struct Select;

fn band_text(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) if *i >= 0 => Some(i.to_string()),
        _ => None,
    }
}

fn edges(params: &Params) -> Vec<f64> {
    match params.get("edges") {
        Some(Value::List(items)) => items.iter().filter_map(Value::as_f64).collect(),
        _ => Vec::new(),
    }
}

impl StageKind for Select {
    fn name(&self) -> &'static str {
        "select"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "A budgeted subset of scored rows: band by quantiles or edges, order by random / easiest / hardest / stratified, nested budgets under one seed"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        vec![InputSpec::one(
            "scored",
            ArtifactKind::Scores,
            "a scores artifact (it carries the scored rows)",
        )]
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::optional(
                "budget",
                ParamType::Int,
                Value::Int(0),
                "rows to select (set this or token_budget)",
            ),
            ParamSpec::optional(
                "token_budget",
                ParamType::Int,
                Value::Int(0),
                "select rows while their prompt + response tokens fit this total (counted with `tokenizer`)",
            ),
            ParamSpec::optional(
                "bands",
                ParamType::Int,
                Value::Int(3),
                "number of quantile bands of the scores (0 = the `bucket` column stored by score(bands = …))",
            ),
            ParamSpec::optional(
                "edges",
                ParamType::List(Box::new(ParamType::Float)),
                Value::List(Vec::new()),
                "explicit increasing band edges [e0, …, ek] → k bands [e_j, e_j+1), last closed; overrides `bands`",
            ),
            ParamSpec::optional(
                "band",
                ParamType::Any,
                Value::Str("all".into()),
                "band to select from: easy | medium | hard | all, or a 0-based index (0 = easiest)",
            ),
            ParamSpec::optional(
                "strategy",
                ParamType::Enum(Strategy::NAMES),
                Value::Str("random".into()),
                "order in which rows fill the budget: random, easiest / hardest first, stratified (balanced round-robin)",
            ),
            ParamSpec::optional(
                "stratify_by",
                ParamType::Str,
                Value::Str(String::new()),
                "stratified: balance over this column's values (e.g. data_source) instead of the bands",
            ),
            ParamSpec::optional(
                "nested",
                ParamType::Bool,
                Value::Bool(true),
                "each smaller budget's rows are a subset of each larger one's (same seed and band)",
            ),
            ParamSpec::optional(
                "allow_short",
                ParamType::Bool,
                Value::Bool(false),
                "take every row when the band holds fewer than the budget, instead of failing",
            ),
            tokenizer_param(),
            ParamSpec::seed(),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Dataset
    }
    fn validate(&self, params: &Params) -> Vec<(Option<&'static str>, String)> {
        let mut errs = Vec::new();
        let int = |n: &str| params.get(n).and_then(Value::as_i64).unwrap_or(0);
        let (budget, tokens, bands) = (int("budget"), int("token_budget"), int("bands"));
        if budget < 0 {
            errs.push((Some("budget"), format!("must be ≥ 0, got {budget}")));
        }
        if tokens < 0 {
            errs.push((Some("token_budget"), format!("must be ≥ 0, got {tokens}")));
        }
        match (budget > 0, tokens > 0) {
            (false, false) => errs.push((
                Some("budget"),
                "set `budget` (rows) or `token_budget` (tokens)".into(),
            )),
            (true, true) => errs.push((
                Some("token_budget"),
                "set either `budget` or `token_budget`, not both".into(),
            )),
            _ => {}
        }
        if bands < 0 {
            errs.push((Some("bands"), format!("must be ≥ 0, got {bands}")));
        }
        let e = edges(params);
        if !e.is_empty() && (e.len() < 2 || e.windows(2).any(|w| w[0] >= w[1])) {
            errs.push((
                Some("edges"),
                format!("must be ≥ 2 strictly increasing numbers, got {e:?}"),
            ));
        }
        match params.get("band").map(|b| (b, band_text(b))) {
            Some((b, None)) => errs.push((
                Some("band"),
                format!("expected a band name or index, found `{b}`"),
            )),
            Some((_, Some(name))) => {
                let n = if e.len() >= 2 {
                    Some(e.len() - 1)
                } else {
                    (bands > 0).then_some(bands as usize)
                };
                // With stored buckets the band count is only known at run time.
                if let Some(n) = n
                    && let Err(m) = parse_band(&name, n)
                {
                    errs.push((Some("band"), m.to_string()));
                }
            }
            None => {}
        }
        let strategy = params.get("strategy").and_then(Value::as_str).unwrap_or("random");
        if params
            .get("stratify_by")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
            && strategy != "stratified"
        {
            errs.push((
                Some("stratify_by"),
                format!("only used with strategy = stratified (strategy is {strategy})"),
            ));
        }
        errs
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        let p = ctx.params();
        let (budget, tokens) = (p.usize("budget")?, p.usize("token_budget")?);
        let e = edges(p);
        let bands = p.usize("bands")?;
        let opts = SelectOptions {
            budget: if tokens > 0 {
                Budget::Tokens(tokens)
            } else {
                Budget::Rows(budget)
            },
            banding: if !e.is_empty() {
                Banding::Edges(e)
            } else if bands == 0 {
                Banding::Buckets
            } else {
                Banding::Quantiles(bands)
            },
            band: p.get("band").and_then(band_text).unwrap_or_else(|| "all".into()),
            strategy: Strategy::parse(p.str("strategy")?).map_err(data_err)?,
            stratify_by: Some(p.str("stratify_by")?.to_string()).filter(|s| !s.is_empty()),
            nested: p.bool("nested")?,
            allow_short: p.bool("allow_short")?,
            seed: seed(ctx)?,
        };
        let counter = if tokens > 0 {
            TokenCounter::from_spec(p.str("tokenizer")?).map_err(data_err)?
        } else {
            TokenCounter::Chars
        };
        let scored = ctx.input("scored")?;
        let out = ctx.out_dir().join(DATASET_FILE);
        let rep = crate::data::select::select(&scored.dir, &out, &opts, &counter, checker(ctx))
            .map_err(data_err)?;
        ctx.log(&format!(
            "select: {} rows{} from {} candidates (band {:?} of sizes {:?}, edges {:?}){}",
            rep.rows,
            rep.tokens.map(|t| format!(" ({t} tokens)")).unwrap_or_default(),
            rep.candidates,
            rep.band,
            rep.band_sizes,
            rep.edges,
            if rep.short {
                " — short of the budget (allow_short)"
            } else {
                ""
            }
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::{col_i64, read_all, small_dataset};
    use crate::stages::testutil::run_kind;
    use crate::value::CallValue;
    use std::collections::HashSet;

    fn defaults(over: &[(&str, Value)]) -> Params {
        let mut p = Params::default();
        for s in Select.params() {
            if let Some(d) = s.default {
                p.0.insert(s.name.into(), d);
            }
        }
        for (k, v) in over {
            p.0.insert(k.to_string(), v.clone());
        }
        p
    }

    #[test]
    fn validate_rules() {
        let e = Select.validate(&defaults(&[]));
        assert_eq!(e[0].0, Some("budget"));
        let e = Select.validate(&defaults(&[
            ("budget", Value::Int(5)),
            ("band", Value::Str("medium".into())),
            ("bands", Value::Int(4)),
        ]));
        assert_eq!(e[0].0, Some("band"), "{e:?}");
        let e = Select.validate(&defaults(&[
            ("budget", Value::Int(5)),
            ("stratify_by", Value::Str("x".into())),
        ]));
        assert_eq!(e[0].0, Some("stratify_by"));
        let ok = defaults(&[("budget", Value::Int(5)), ("band", Value::Int(2))]);
        assert!(Select.validate(&ok).is_empty());
    }

    #[test]
    fn score_then_select_nested() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("w");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        small_dataset(&data.join("data.parquet"), 600);
        let scored = dir.path().join("scored");
        let by = Value::Call(CallValue {
            call: "length".into(),
            args: vec![],
        });
        run_kind(
            crate::stages::testutil::kind("score"),
            &[("by", by)],
            &[("data", &data)],
            &scored,
            &w,
        )
        .unwrap();
        let mut prev: Option<HashSet<i64>> = None;
        for budget in [16, 64, 128] {
            let out = dir.path().join(format!("sel{budget}"));
            let params = [
                ("budget", Value::Int(budget)),
                ("band", Value::Str("hard".into())),
                ("seed", Value::Int(7)),
            ];
            run_kind(&Select, &params, &[("scored", &scored)], &out, &w).unwrap();
            let ids: HashSet<i64> = col_i64(&read_all(&out.join(DATASET_FILE)), "id")
                .into_iter()
                .flatten()
                .collect();
            assert_eq!(ids.len(), budget as usize);
            if let Some(p) = prev {
                assert!(p.is_subset(&ids));
            }
            prev = Some(ids);
        }
        let e = run_kind(
            &Select,
            &[
                ("budget", Value::Int(100_000)),
                ("band", Value::Str("hard".into())),
            ],
            &[("scored", &scored)],
            &dir.path().join("x"),
            &w,
        )
        .unwrap_err();
        assert!(e.to_string().contains("allow_short"), "{e}");
    }
}
