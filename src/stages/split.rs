//! The `split` stage kind: the train or the test part of a dataset — a seeded random
//! fraction, the rows whose key column holds given values, or a held-out difficulty
//! range (`data::split`) — written as a dataset artifact.
//!
//! Invariants: the two parts of one split (same mode, parameters and seed) partition the
//! input's rows; each mode's own parameters are checked at lowering (`values` needs the
//! key column and a non-empty list, `holdout` a range with lo ≤ hi). A mode's parameters
//! that are not given keep their empty defaults (`""`, `[]`), which are key material
//! like any default.

use super::data::{checker, data_err, dataset_input, dataset_output};
use super::declare::{ParamValue, Problems, Seed, Stage};
use super::{ArtifactKind, InputSpec, ParamType, StageContext, StageError, StageResult};
use crate::data::split::{Part, SplitMode, split};
use crate::value::Value;

crate::word_param!(Part);

crate::param_enum! {
    /// How `split` decides which rows are test rows.
    pub enum Mode {
        /// `fraction` of the rows are train
        Random = "random",
        /// rows whose `column` is in `values` are test
        Values = "values",
        /// rows whose difficulty is in `holdout` are test
        Holdout = "holdout",
    }
}

/// A value of the key column, compared as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue(pub String);

impl ParamValue for KeyValue {
    fn param_type() -> ParamType {
        ParamType::Any
    }
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Str(s) => Ok(KeyValue(s.clone())),
            Value::Int(i) => Ok(KeyValue(i.to_string())),
            Value::Float(f) => Ok(KeyValue(f.to_string())),
            Value::Bool(b) => Ok(KeyValue(b.to_string())),
            other => Err(format!("expected strings or numbers, found `{other}`")),
        }
    }
    fn to_value(&self) -> Option<Value> {
        Some(Value::Str(self.0.clone()))
    }
}

/// The held-out difficulty range `[lo, hi]`, both ends included; `None` when not given
/// (written `[]`, the default).
#[derive(Debug, Clone, PartialEq)]
pub struct Holdout(pub Option<(f64, f64)>);

impl ParamValue for Holdout {
    fn param_type() -> ParamType {
        ParamType::Any
    }
    fn from_value(v: &Value) -> Result<Self, String> {
        let bounds = match v {
            Value::List(items) if items.is_empty() => return Ok(Holdout(None)),
            Value::Range(r) => Some((r.start as f64, r.end as f64)),
            Value::List(items) if items.len() == 2 => items[0].as_f64().zip(items[1].as_f64()),
            _ => None,
        };
        match bounds {
            Some((lo, hi)) if lo <= hi => Ok(Holdout(Some((lo, hi)))),
            _ => Err(format!(
                "expected a difficulty range `a..b` or [lo, hi] with lo ≤ hi, found `{v}`"
            )),
        }
    }
    /// `[]` when not given (the declared default's key material), else `[lo, hi]`.
    fn to_value(&self) -> Option<Value> {
        Some(Value::List(match self.0 {
            None => Vec::new(),
            Some((lo, hi)) => vec![Value::Float(lo), Value::Float(hi)],
        }))
    }
}

crate::stage_params! {
    /// Parameters of [`Split`].
    pub struct SplitParams {
        /// random: `fraction` of rows are train; values: rows whose `column` is in `values` are test; holdout: rows whose difficulty is in `holdout` are test
        mode: Mode = Mode::Random,
        /// which side to keep
        part: Part = Part::Train,
        /// train fraction in (0, 1) (mode random)
        fraction: f64 = 0.9,
        /// key column (mode values)
        column: String = String::new(),
        /// test values of `column`, compared as text (mode values)
        values: Vec<KeyValue> = Vec::new(),
        /// difficulty range held out as test: `a..b` or [lo, hi], both ends included (mode holdout)
        holdout: Holdout = Holdout(None),
        seed: Seed,
    }
}

/// Why mode `holdout` cannot run without its range.
const NEEDS_HOLDOUT: &str = "mode `holdout` needs a difficulty range `a..b` or [lo, hi] with lo ≤ hi";

/// `split(data, mode, part, …)`.
pub struct Split;

impl Stage for Split {
    const NAME: &'static str = "split";
    const VERSION: u32 = 1;
    const DOC: &'static str = "Keep the train or test part of a dataset: a random fraction, rows by a column's values, or a held-out difficulty range";
    const INPUTS: &'static [InputSpec] = &[InputSpec::one(
        "data",
        ArtifactKind::Dataset,
        "the dataset to split",
    )];
    const OUTPUT: ArtifactKind = ArtifactKind::Dataset;
    type Params = SplitParams;

    fn validate(p: &SplitParams, problems: &mut Problems) {
        match p.mode {
            Mode::Random => {
                if !(p.fraction > 0.0 && p.fraction < 1.0) {
                    problems.at(
                        SplitParams::fraction,
                        format!("must be in (0, 1), got {}", p.fraction),
                    );
                }
            }
            Mode::Values => {
                if p.column.is_empty() {
                    problems.at(SplitParams::column, "mode `values` needs the key column");
                }
                if p.values.is_empty() {
                    problems.at(SplitParams::values, "mode `values` needs a non-empty list");
                }
            }
            Mode::Holdout => {
                if p.holdout.0.is_none() {
                    problems.at(SplitParams::holdout, NEEDS_HOLDOUT);
                }
            }
        }
    }

    fn run(p: &SplitParams, ctx: &StageContext) -> StageResult {
        let mode = match p.mode {
            Mode::Random => SplitMode::Random { fraction: p.fraction },
            Mode::Values => SplitMode::Values {
                column: p.column.clone(),
                values: p.values.iter().map(|v| v.0.clone()).collect(),
            },
            Mode::Holdout => {
                let (lo, hi) = p
                    .holdout
                    .0
                    .ok_or_else(|| StageError::Input(NEEDS_HOLDOUT.into()))?;
                SplitMode::Holdout { lo, hi }
            }
        };
        let src = dataset_input(ctx, "data")?;
        let rep =
            split(&src, &dataset_output(ctx), &mode, p.part, p.seed.0, checker(ctx)).map_err(data_err)?;
        ctx.log(&format!(
            "split: kept {} of {} rows ({}, {mode:?})",
            rep.rows,
            rep.of,
            p.part.name()
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::testutil::{kind, params};
    use crate::value::{RangeValue, Value as V};

    fn s(v: &str) -> V {
        V::Str(v.into())
    }

    fn problems(over: &[(&str, V)]) -> Vec<(Option<&'static str>, String)> {
        kind("split").validate(&params::<SplitParams>(over))
    }

    #[test]
    fn validate_checks_each_modes_parameters() {
        assert!(problems(&[]).is_empty());
        let e = problems(&[("fraction", V::Float(1.5))]);
        assert_eq!(
            e,
            vec![(Some("fraction"), "must be in (0, 1), got 1.5".to_string())]
        );
        let e = problems(&[("mode", s("holdout"))]);
        assert_eq!(e[0].0, Some("holdout"));
        let held = V::Range(RangeValue { start: 9, end: 12 });
        assert!(problems(&[("mode", s("holdout")), ("holdout", held)]).is_empty());
        let reversed = V::List(vec![V::Float(4.0), V::Float(3.0)]);
        let e = problems(&[("mode", s("holdout")), ("holdout", reversed)]);
        assert!(e[0].0 == Some("holdout") && e[0].1.contains("lo ≤ hi"), "{e:?}");
        let e = problems(&[("mode", s("values"))]);
        assert_eq!(
            e.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            [Some("column"), Some("values")]
        );
        let e = problems(&[
            ("mode", s("values")),
            ("column", s("src")),
            ("values", V::List(vec![V::List(vec![])])),
        ]);
        assert!(
            e[0].0 == Some("values") && e[0].1.contains("expected strings or numbers"),
            "{e:?}"
        );
        let ok = [
            ("mode", s("values")),
            ("column", s("src")),
            ("values", V::List(vec![s("a"), V::Int(3)])),
        ];
        assert!(problems(&ok).is_empty());
    }

    #[test]
    fn the_default_holdout_keeps_its_key_material() {
        assert_eq!(
            params::<SplitParams>(&[]).get("holdout"),
            Some(&V::List(Vec::new()))
        );
        assert_eq!(params::<SplitParams>(&[]).get("column"), Some(&s("")));
    }
}
