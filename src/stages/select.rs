//! The `select` stage kind: a budgeted, banded, seeded subset of a scored dataset
//! (`select(scored, budget = 256, band = "hard", bands = 3, nested = true)`), written as a
//! dataset artifact. Semantics (bands, strategies, nesting) are documented in
//! `data::select`.
//!
//! Invariant: the scores input carries the rows it scored (`data.parquet` beside
//! `scores.parquet`), so `select` needs no second input; the output keeps the dataset's
//! schema and row order.

use super::data::{checker, data_err, dataset_output};
use super::declare::{ParamValue, Problems, Seed, Stage, TokenizerSpec};
use super::{ArtifactKind, InputSpec, ParamType, StageContext, StageResult};
use crate::data::select::{Banding, Budget, SelectOptions, Strategy, parse_band, select};
use crate::data::text::TokenCounter;
use crate::value::Value;

crate::word_param!(Strategy);

/// A band: a name (`easy`, `hard`, `all`, …) or a 0-based index, kept as its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band(pub String);

impl ParamValue for Band {
    fn param_type() -> ParamType {
        ParamType::Any
    }
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Str(s) => Ok(Band(s.clone())),
            Value::Int(i) if *i >= 0 => Ok(Band(i.to_string())),
            _ => Err(format!("expected a band name or index, found `{v}`")),
        }
    }
    fn to_value(&self) -> Option<Value> {
        Some(match self.0.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Str(self.0.clone()),
        })
    }
}

crate::stage_params! {
    /// Parameters of [`Select`].
    pub struct SelectParams {
        /// rows to select (set this or token_budget)
        budget: u64 = 0,
        /// select rows while their prompt + response tokens fit this total (counted with `tokenizer`)
        token_budget: u64 = 0,
        /// number of quantile bands of the scores (0 = the `bucket` column stored by score(bands = …))
        bands: u64 = 3,
        /// explicit increasing band edges [e0, …, ek] → k bands [e_j, e_j+1), last closed; overrides `bands`
        edges: Vec<f64> = Vec::new(),
        /// band to select from: easy | medium | hard | all, or a 0-based index (0 = easiest)
        band: Band = Band("all".into()),
        /// order in which rows fill the budget: random, easiest / hardest first, stratified (balanced round-robin)
        strategy: Strategy = Strategy::Random,
        /// stratified: balance over this column's values (e.g. data_source) instead of the bands
        stratify_by: String = String::new(),
        /// each smaller budget's rows are a subset of each larger one's (same seed and band)
        nested: bool = true,
        /// take every row when the band holds fewer than the budget, instead of failing
        allow_short: bool = false,
        /// how `token_budget` counts tokens: chars (= the built-in char tokenizer), words, bytes, or a path to a tokenizer.json / model folder (its contents are part of the cache key)
        tokenizer: TokenizerSpec = TokenizerSpec::default(),
        seed: Seed,
    }
}

impl SelectParams {
    /// The number of bands, when it is known before the scores are read: `edges`
    /// makes one fewer than it has, stored buckets (`bands = 0`) are counted at run time.
    fn band_count(&self) -> Option<usize> {
        if self.edges.len() >= 2 {
            Some(self.edges.len() - 1)
        } else {
            (self.bands > 0).then_some(self.bands as usize)
        }
    }
}

/// `select(scored, …)`.
pub struct Select;

impl Stage for Select {
    const NAME: &'static str = "select";
    const VERSION: u32 = 1;
    const DOC: &'static str = "A budgeted subset of scored rows: band by quantiles or edges, order by random / easiest / hardest / stratified, nested budgets under one seed";
    const INPUTS: &'static [InputSpec] = &[InputSpec::one(
        "scored",
        ArtifactKind::Scores,
        "a scores artifact (it carries the scored rows)",
    )];
    const OUTPUT: ArtifactKind = ArtifactKind::Dataset;
    type Params = SelectParams;

    fn validate(p: &SelectParams, problems: &mut Problems) {
        match (p.budget > 0, p.token_budget > 0) {
            (false, false) => problems.at(
                SelectParams::budget,
                "set `budget` (rows) or `token_budget` (tokens)",
            ),
            (true, true) => problems.at(
                SelectParams::token_budget,
                "set either `budget` or `token_budget`, not both",
            ),
            _ => {}
        }
        let e = &p.edges;
        if !e.is_empty() && (e.len() < 2 || e.windows(2).any(|w| w[0] >= w[1])) {
            problems.at(
                SelectParams::edges,
                format!("must be ≥ 2 strictly increasing numbers, got {e:?}"),
            );
        }
        if let Some(n) = p.band_count()
            && let Err(m) = parse_band(&p.band.0, n)
        {
            problems.at(SelectParams::band, m.to_string());
        }
        if !p.stratify_by.is_empty() && p.strategy != Strategy::Stratified {
            problems.at(
                SelectParams::stratify_by,
                format!(
                    "only used with strategy = stratified (strategy is {})",
                    p.strategy.name()
                ),
            );
        }
    }

    fn run(p: &SelectParams, ctx: &StageContext) -> StageResult {
        let by_tokens = p.token_budget > 0;
        let opts = SelectOptions {
            budget: if by_tokens {
                Budget::Tokens(p.token_budget as usize)
            } else {
                Budget::Rows(p.budget as usize)
            },
            banding: if !p.edges.is_empty() {
                Banding::Edges(p.edges.clone())
            } else if p.bands == 0 {
                Banding::Buckets
            } else {
                Banding::Quantiles(p.bands as usize)
            },
            band: p.band.0.clone(),
            strategy: p.strategy,
            stratify_by: Some(p.stratify_by.clone()).filter(|s| !s.is_empty()),
            nested: p.nested,
            allow_short: p.allow_short,
            seed: p.seed.0,
        };
        let counter = if by_tokens {
            TokenCounter::from_spec(&p.tokenizer.0).map_err(data_err)?
        } else {
            TokenCounter::Chars
        };
        let scored = ctx.input("scored")?;
        let rep =
            select(&scored.dir, &dataset_output(ctx), &opts, &counter, checker(ctx)).map_err(data_err)?;
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
    use crate::stages::artifact::DATASET_FILE;
    use crate::stages::testutil::{kind, params, run_kind};
    use crate::value::CallValue;
    use std::collections::HashSet;

    fn problems(over: &[(&str, Value)]) -> Vec<(Option<&'static str>, String)> {
        kind("select").validate(&params::<SelectParams>(over))
    }

    #[test]
    fn validate_rules() {
        let e = problems(&[]);
        assert_eq!(e[0].0, Some("budget"));
        let e = problems(&[("budget", Value::Int(5)), ("token_budget", Value::Int(5))]);
        assert_eq!(e[0].0, Some("token_budget"));
        let e = problems(&[
            ("budget", Value::Int(5)),
            ("band", Value::Str("medium".into())),
            ("bands", Value::Int(4)),
        ]);
        assert_eq!(e[0].0, Some("band"), "{e:?}");
        let e = problems(&[("budget", Value::Int(5)), ("band", Value::Int(-1))]);
        assert_eq!(
            e,
            vec![(
                Some("band"),
                "expected a band name or index, found `-1`".to_string()
            )]
        );
        let e = problems(&[
            ("budget", Value::Int(5)),
            ("edges", Value::List(vec![Value::Float(2.0), Value::Float(1.0)])),
        ]);
        assert_eq!(e[0].0, Some("edges"));
        let e = problems(&[("budget", Value::Int(5)), ("stratify_by", Value::Str("x".into()))]);
        assert_eq!(
            e,
            vec![(
                Some("stratify_by"),
                "only used with strategy = stratified (strategy is random)".to_string()
            )]
        );
        assert!(problems(&[("budget", Value::Int(5)), ("band", Value::Int(2))]).is_empty());
        // With stored buckets the band count is only known at run time.
        let buckets = [
            ("budget", Value::Int(5)),
            ("bands", Value::Int(0)),
            ("band", Value::Int(7)),
        ];
        assert!(problems(&buckets).is_empty());
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
        run_kind(kind("score"), &[("by", by)], &[("data", &data)], &scored, &w).unwrap();
        let mut prev: Option<HashSet<i64>> = None;
        for budget in [16, 64, 128] {
            let out = dir.path().join(format!("sel{budget}"));
            let params = [
                ("budget", Value::Int(budget)),
                ("band", Value::Str("hard".into())),
                ("seed", Value::Int(7)),
            ];
            run_kind(kind("select"), &params, &[("scored", &scored)], &out, &w).unwrap();
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
            kind("select"),
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
