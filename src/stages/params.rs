//! Parameter schemas of stage kinds and the resolved parameter map handed to a stage.
//!
//! Invariant: after lowering, a [`Params`] holds exactly the kind's declared parameters
//! (defaults filled in), each already checked against its [`ParamType`]; the getters by
//! name therefore only fail on a programming error, reported as a stage error. Kinds
//! declared with `declare::Stage` read a typed struct instead; the getters serve the
//! `report` kind, not yet declared that way.

use super::StageKind;
use crate::confine::Access;
use crate::value::{MAX_LIST_LEN, Value};
use std::collections::BTreeMap;

/// The type of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamType {
    Int,
    /// A non-negative int.
    Count,
    /// A positive int: a count for which 0 makes no sense (`batch_size`, `samples`).
    PositiveCount,
    /// A device: `auto | cpu | cuda | cuda:N`.
    Device,
    Float,
    Str,
    Bool,
    /// One of a fixed set of words (`metric = exact_match`); bare names and strings both work.
    Enum(&'static [&'static str]),
    /// An int, an inclusive range `a..b`, or a list of ints.
    IntSet,
    /// A list whose items have the given type.
    List(Box<ParamType>),
    /// A call such as `column("ops")` / `length()` out of the given constructor names, or
    /// a bare name / string naming one of them without arguments.
    Call(&'static [&'static str]),
    /// A file the stage reads. Written relative to the pipeline file; it must lead inside
    /// the project folder, the store or an allowed folder ([`crate::confine`]); the stage
    /// receives the resolved path, and the file's *content digest* is part of the cache
    /// key, so editing the file reruns the stage (and moving the project does not).
    InputFile,
    /// A tokenizer: one of the given words, or else the path of a `tokenizer.json` or of a
    /// folder holding one, treated like [`ParamType::InputFile`] (resolved against the
    /// pipeline's folder, content-digested into the key; of a folder only its tokenizer
    /// files count, so a model folder's weights are not hashed):
    /// `tokenizer = chars` or `tokenizer = "tok/tokenizer.json"`.
    TokenizerFile(&'static [&'static str]),
    /// A file the stage writes outside the store (e.g. `export`), relative to the
    /// pipeline file; it must lead inside the project folder or an allowed folder and
    /// never be a pipeline, lock or `sieve.toml` file ([`crate::confine`]); the stage
    /// receives the resolved path.
    OutputFile,
    /// A variable of the artifacts in the kind's first input slot: a sweep variable of
    /// theirs (`x = band`), a variable their kind adds (evaluate's `slice_by` column), or
    /// [`INSTANCE_AXIS`]; bare words and strings both work, and lowering checks that the
    /// inputs have it (the empty string means none).
    Axis,
    /// The name of a metric (`accuracy`, `pass@4`, dotted for nested values); bare words
    /// and strings both work.
    Metric,
    /// Any value (the stage validates it).
    Any,
}

/// The pseudo-variable an [`ParamType::Axis`] may always name: the instance name of each
/// input artifact (the report library's own name for it, so lowering checks exactly what
/// a report resolves).
pub const INSTANCE_AXIS: &str = crate::report::pivot::INSTANCE;

impl ParamType {
    /// Whether a bare word that is not a variable may stand for the string it spells
    /// (`metric = exact_match`): where the type is a closed set of words (enum words,
    /// constructors, a tokenizer's built-in names), names something the pipeline itself
    /// defines (an axis, a metric), or is left to the stage (`Any`). Elsewhere, such as a
    /// plain string, a bare word must be a variable, so a typo is an error, not a string.
    pub fn takes_words(&self) -> bool {
        matches!(
            self,
            ParamType::Enum(_)
                | ParamType::Device
                | ParamType::Call(_)
                | ParamType::TokenizerFile(_)
                | ParamType::Axis
                | ParamType::Metric
                | ParamType::Any
        )
    }

    /// The file a value of this type names, if any (as written, relative to the
    /// pipeline), and whether the stage reads or writes it: every string of an
    /// `InputFile` or an `OutputFile`, a non-word string of a `TokenizerFile`.
    pub fn file_access<'v>(&self, v: &'v Value) -> Option<(&'v str, Access)> {
        match (self, v) {
            (ParamType::InputFile, Value::Str(s)) => Some((s, Access::Read)),
            (ParamType::TokenizerFile(words), Value::Str(s)) if !words.contains(&s.as_str()) => {
                Some((s, Access::Read))
            }
            (ParamType::OutputFile, Value::Str(s)) => Some((s, Access::Write)),
            _ => None,
        }
    }

    /// Human description for diagnostics and docs.
    pub fn describe(&self) -> String {
        match self {
            ParamType::Int => "int".into(),
            ParamType::Count => "int ≥ 0".into(),
            ParamType::PositiveCount => "int ≥ 1".into(),
            ParamType::Device => "auto | cpu | cuda | cuda:N".into(),
            ParamType::Float => "float".into(),
            ParamType::Str => "string".into(),
            ParamType::Bool => "bool".into(),
            ParamType::Enum(words) => format!("one of {}", words.join(" | ")),
            ParamType::IntSet => "int, range a..b or list of ints".into(),
            ParamType::List(t) => format!("list of {}", t.describe()),
            ParamType::Call(c) => format!(
                "one of {}",
                c.iter()
                    .map(|c| format!("{c}(…)"))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
            ParamType::InputFile => "path of an input file (relative to the pipeline)".into(),
            ParamType::TokenizerFile(words) => format!(
                "{} or the path of an input file (relative to the pipeline)",
                words.join(" | ")
            ),
            ParamType::OutputFile => "path of an output file (relative to the pipeline)".into(),
            ParamType::Axis => "variable name".into(),
            ParamType::Metric => "metric name".into(),
            ParamType::Any => "any value".into(),
        }
    }

    /// The files of a folder named by this parameter that its content digest covers
    /// (`None`: every file). A tokenizer folder counts by its tokenizer files: a model
    /// folder's weights are large and do not change how text is tokenized.
    pub fn digested_files(&self) -> Option<&'static [&'static str]> {
        match self {
            ParamType::TokenizerFile(_) => Some(crate::model::tokenizer::TOKENIZER_FILES),
            _ => None,
        }
    }

    /// Checks and normalises a value: ints widen to floats, words become strings,
    /// a bare constructor name becomes a call without arguments.
    pub fn coerce(&self, v: Value) -> Result<Value, CoerceError> {
        use CoerceError::Invalid;
        let mismatch = |v: &Value| {
            CoerceError::WrongType(format!(
                "expected {}, found {} `{}`",
                self.describe(),
                v.type_name(),
                v
            ))
        };
        match (self, v) {
            (ParamType::Int, Value::Int(i)) => Ok(Value::Int(i)),
            (ParamType::Count, Value::Int(i)) if i >= 0 => Ok(Value::Int(i)),
            (ParamType::Count, Value::Int(i)) => Err(Invalid(format!("must be ≥ 0, got {i}"))),
            (ParamType::Count, Value::Float(f)) if f.fract() == 0.0 && (0.0..9e15).contains(&f) => {
                Ok(Value::Int(f as i64))
            }
            (ParamType::PositiveCount, Value::Int(i)) if i >= 1 => Ok(Value::Int(i)),
            (ParamType::PositiveCount, Value::Int(i)) => Err(Invalid(format!("must be ≥ 1, got {i}"))),
            // An integral float reads as the int it spells, then is judged as one.
            (ParamType::PositiveCount, Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9e15 => {
                ParamType::PositiveCount.coerce(Value::Int(f as i64))
            }
            (ParamType::Device, Value::Str(s)) => crate::device::check_syntax(&s)
                .map(|()| Value::Str(s))
                .map_err(Invalid),
            (ParamType::Int, Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9e15 => {
                Ok(Value::Int(f as i64))
            }
            (ParamType::Float, Value::Int(i)) => Ok(Value::Float(i as f64)),
            (ParamType::Float, Value::Float(f)) => Ok(Value::Float(f)),
            (
                ParamType::Str
                | ParamType::InputFile
                | ParamType::TokenizerFile(_)
                | ParamType::OutputFile
                | ParamType::Axis
                | ParamType::Metric,
                Value::Str(s),
            ) => Ok(Value::Str(s)),
            (ParamType::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
            (ParamType::Enum(words), Value::Str(s)) => {
                if words.contains(&s.as_str()) {
                    Ok(Value::Str(s))
                } else {
                    let hint = crate::diag::did_you_mean(&s, words.iter().copied())
                        .map(|b| format!(" (did you mean `{b}`?)"))
                        .unwrap_or_default();
                    Err(Invalid(format!(
                        "expected one of {}, found `{s}`{hint}",
                        words.join(" | ")
                    )))
                }
            }
            (ParamType::IntSet, v @ (Value::Int(_) | Value::Range(_))) => {
                if let Value::Range(r) = &v {
                    if r.start > r.end {
                        return Err(Invalid(format!(
                            "empty range {}..{} (ranges include both ends)",
                            r.start, r.end
                        )));
                    }
                    // Stages expand the set into a list of its integers.
                    if r.count() > MAX_LIST_LEN as u64 {
                        return Err(Invalid(format!(
                            "range {}..{} holds {} integers; a set of ints holds at most {MAX_LIST_LEN}",
                            r.start,
                            r.end,
                            r.count()
                        )));
                    }
                }
                Ok(v)
            }
            (ParamType::IntSet, Value::List(items)) if items.iter().all(|i| matches!(i, Value::Int(_))) => {
                Ok(Value::List(items))
            }
            (ParamType::List(inner), Value::List(items)) => {
                let items = items
                    .into_iter()
                    .map(|i| inner.coerce(i))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Value::List(items))
            }
            (ParamType::Call(names), Value::Call(c)) => {
                if names.contains(&c.call.as_str()) {
                    Ok(Value::Call(c))
                } else {
                    Err(Invalid(format!(
                        "expected one of {}, found `{}(…)`",
                        names.join(" | "),
                        c.call
                    )))
                }
            }
            (ParamType::Call(names), Value::Str(s)) if names.contains(&s.as_str()) => {
                Ok(Value::Call(crate::value::CallValue {
                    call: s,
                    args: Vec::new(),
                }))
            }
            (ParamType::Any, v) => Ok(v),
            (_, v) => Err(mismatch(&v)),
        }
    }
}

/// Declaration of one parameter of a stage kind.
#[derive(Debug, Clone)]
pub struct ParamSpec {
    pub name: &'static str,
    pub ty: ParamType,
    /// The declared default (`None`: required, unless `optional`).
    pub default: Option<Value>,
    /// Whether the parameter may be absent (no default, not part of the key when absent).
    pub optional: bool,
    /// The pipeline variable that supplies the default when defined (`seed`, `device`).
    pub inherits: Option<&'static str>,
    pub doc: &'static str,
}

/// Why a value does not fit a parameter type ([`ParamType::coerce`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoerceError {
    /// A value of another type: `expected int, found string "x"`.
    WrongType(String),
    /// A value of the right type that is out of range or not one of the allowed words.
    Invalid(String),
}

impl std::fmt::Display for CoerceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CoerceError::WrongType(m) | CoerceError::Invalid(m) => f.write_str(m),
        }
    }
}

impl ParamSpec {
    /// Whether a stage must give this parameter: no default, not optional, not inherited.
    pub fn is_required(&self) -> bool {
        self.default.is_none() && !self.optional && self.inherits.is_none()
    }

    pub fn required(name: &'static str, ty: ParamType, doc: &'static str) -> Self {
        ParamSpec {
            name,
            ty,
            default: None,
            optional: false,
            inherits: None,
            doc,
        }
    }

    pub fn optional(name: &'static str, ty: ParamType, default: Value, doc: &'static str) -> Self {
        ParamSpec {
            name,
            ty,
            default: Some(default),
            optional: false,
            inherits: None,
            doc,
        }
    }

    /// The spec of a conventional parameter whose type is `T` ([`Seed`](super::declare::Seed),
    /// [`DeviceSpec`](super::declare::DeviceSpec)): type, default, inherited variable and
    /// doc come from the type, exactly as in a declared kind.
    fn conventional<T: super::declare::ParamValue>(name: &'static str) -> Self {
        ParamSpec {
            name,
            ty: T::param_type(),
            default: T::implicit().and_then(|d| d.to_value()),
            optional: false,
            inherits: T::inherits(),
            doc: T::standard_doc(),
        }
    }

    /// The conventional `seed` parameter: the pipeline's `seed` variable when defined, else 0.
    pub fn seed() -> Self {
        Self::conventional::<super::declare::Seed>("seed")
    }

    /// The conventional `device` parameter: the pipeline's `device` variable when defined,
    /// else `auto`.
    pub fn device() -> Self {
        Self::conventional::<super::declare::DeviceSpec>("device")
    }
}

/// A file (or folder) one parameter of a stage instance names.
#[derive(Debug, Clone)]
pub struct FileParam<'p> {
    pub spec: ParamSpec,
    /// As written in the pipeline: relative to the pipeline file's folder.
    pub written: &'p str,
    pub access: Access,
}

/// Every file a stage instance's parameters name, in parameter order. The one list that
/// lowering (confinement), freshness (content digests) and the scheduler (the paths a
/// stage receives) go by.
pub fn file_params<'p>(kind: &dyn StageKind, params: &'p Params) -> Vec<FileParam<'p>> {
    kind.params()
        .into_iter()
        .filter_map(|spec| {
            let (written, access) = spec.ty.file_access(params.get(spec.name)?)?;
            Some(FileParam {
                spec,
                written,
                access,
            })
        })
        .collect()
}

/// Resolved, type-checked parameters of one stage instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(pub BTreeMap<String, Value>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coerce_widens_and_checks() {
        assert_eq!(ParamType::Float.coerce(Value::Int(3)), Ok(Value::Float(3.0)));
        assert!(
            ParamType::Int.coerce(Value::Str("x".into())).unwrap_err()
                == CoerceError::WrongType("expected int, found string `\"x\"`".into())
        );
        let e = ParamType::Enum(&["exact_match", "boxed"])
            .coerce(Value::Str("exact_mach".into()))
            .unwrap_err();
        // A word of the right type that is not one of the choices is an invalid value.
        assert!(
            matches!(&e, CoerceError::Invalid(m) if m.contains("did you mean `exact_match`")),
            "{e:?}"
        );
        assert!(
            ParamType::IntSet
                .coerce(Value::Range(crate::value::RangeValue { start: 5, end: 2 }))
                .is_err()
        );
        let huge = crate::value::RangeValue {
            start: 1,
            end: 1_000_000_000,
        };
        let e = ParamType::IntSet.coerce(Value::Range(huge)).unwrap_err();
        assert!(e.to_string().contains("holds 1000000000 integers"), "{e}");
    }

    #[test]
    fn positive_counts_refuse_zero_and_negatives() {
        let t = ParamType::PositiveCount;
        assert_eq!(t.describe(), "int ≥ 1");
        let invalid = |m: &str| Err(CoerceError::Invalid(m.to_string()));
        assert_eq!(t.coerce(Value::Int(0)), invalid("must be ≥ 1, got 0"));
        assert_eq!(t.coerce(Value::Int(-1)), invalid("must be ≥ 1, got -1"));
        assert_eq!(t.coerce(Value::Int(1)), Ok(Value::Int(1)));
        // Integral floats are ints (YAML `2.0`, `1e3`), judged as such.
        assert_eq!(t.coerce(Value::Float(2.0)), Ok(Value::Int(2)));
        assert_eq!(t.coerce(Value::Float(0.0)), invalid("must be ≥ 1, got 0"));
        assert_eq!(
            t.coerce(Value::Float(2.5)),
            Err(CoerceError::WrongType(
                "expected int ≥ 1, found float `2.5`".into()
            ))
        );
        let e = t.coerce(Value::Str("x".into())).unwrap_err();
        assert!(
            matches!(&e, CoerceError::WrongType(m) if m.contains("int ≥ 1")),
            "{e:?}"
        );
    }
}
