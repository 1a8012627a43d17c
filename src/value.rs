//! Resolved parameter values: what a pipeline expression evaluates to after lowering.
//!
//! Invariants: a `Value` is plain data (no spans, no references to stages), so it can be
//! compared, hashed into cache keys through its canonical JSON form, and handed to stages;
//! a value built from a pipeline stays within [`MAX_LIST_LEN`] and [`MAX_STR_BYTES`]
//! (lowering refuses larger ones), and a range is never expanded to be measured.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Most elements a list in a pipeline may hold, elements of nested lists included (a
/// range used as a list, e.g. swept over, counts its integers).
pub const MAX_LIST_LEN: usize = 1_000_000;
/// Longest string a pipeline may build, in bytes (1 MiB).
pub const MAX_STR_BYTES: usize = 1 << 20;

/// A fully evaluated parameter value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    /// An inclusive integer range `a..b` (both ends included: `ops = 2..12` means 2 to 12).
    Range(RangeValue),
    /// A call such as `column("ops")`: a small constructor understood by one parameter.
    Call(CallValue),
}

/// Inclusive integer range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeValue {
    pub start: i64,
    pub end: i64,
}

impl RangeValue {
    /// How many integers the range holds (`2..5` holds 4; `5..2` none), without
    /// expanding it; saturates at `u64::MAX` (the whole of `i64` holds one more).
    pub fn count(&self) -> u64 {
        if self.end < self.start {
            0
        } else {
            u64::try_from(self.end as i128 - self.start as i128 + 1).unwrap_or(u64::MAX)
        }
    }
}

/// A constructor call like `column("ops")` or `quantiles(3)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallValue {
    pub call: String,
    pub args: Vec<Value>,
}

impl Value {
    /// Short name of the value's type, for diagnostics ("expected int, found string").
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Range(_) => "range",
            Value::Call(_) => "call",
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Ints widen to floats; nothing else converts.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// How many values this is made of: 1 for a scalar (and for a range, which is not
    /// expanded), 1 plus its items' sizes for a list or a call.
    pub fn size(&self) -> usize {
        match self {
            Value::List(items) => 1 + items.iter().map(Value::size).sum::<usize>(),
            Value::Call(c) => 1 + c.args.iter().map(Value::size).sum::<usize>(),
            _ => 1,
        }
    }

    /// Bytes this value occupies beyond its own slot (strings' text, lists' items), an
    /// estimate used to bound the memory of a lowered pipeline.
    pub fn heap_bytes(&self) -> usize {
        let slot = std::mem::size_of::<Value>();
        match self {
            Value::Str(s) => s.len(),
            Value::List(items) => items.iter().map(|v| slot + v.heap_bytes()).sum(),
            Value::Call(c) => c.call.len() + c.args.iter().map(|v| slot + v.heap_bytes()).sum::<usize>(),
            _ => 0,
        }
    }

    /// The smallest and largest integer of an int, a range or a list of ints, without
    /// listing a range's members (`1..1e12` is two numbers here, not a trillion); `None`
    /// for an empty set or another value.
    pub fn int_bounds(&self) -> Option<(i64, i64)> {
        match self {
            Value::Range(r) => (r.start <= r.end).then_some((r.start, r.end)),
            Value::List(items) => {
                let ints: Option<Vec<i64>> = items.iter().map(Value::as_i64).collect();
                let ints = ints?;
                Some((*ints.iter().min()?, *ints.iter().max()?))
            }
            Value::Int(i) => Some((*i, *i)),
            _ => None,
        }
    }

    /// A range or a list of ints as the list of its integers (check a range's size with
    /// [`Value::int_bounds`] first: this lists every member).
    pub fn as_int_list(&self) -> Option<Vec<i64>> {
        match self {
            Value::Range(r) => Some((r.start..=r.end).collect()),
            Value::List(items) => items.iter().map(|v| v.as_i64()).collect(),
            Value::Int(i) => Some(vec![*i]),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    /// The DSL spelling of the value (used in instance names and explanations).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&float_repr(*x)),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(items) => {
                write!(f, "[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
            Value::Range(r) => write!(f, "{}..{}", r.start, r.end),
            Value::Call(c) => {
                write!(f, "{}(", c.call)?;
                for (i, v) in c.args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, ")")
            }
        }
    }
}

impl Value {
    /// Spelling used inside instance names: strings unquoted (`band=hard`).
    pub fn coord_string(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// The shortest round-tripping spelling of a float that still reads as a float:
/// `3e-4` rather than `0.0003`, `2.0` rather than `2`.
fn float_repr(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let plain = format!("{x}");
    let plain = if plain.contains(['.', 'e']) {
        plain
    } else {
        format!("{plain}.0")
    };
    let sci = format!("{x:e}");
    if sci.len() < plain.len() { sci } else { plain }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_short_and_as_floats() {
        assert_eq!(Value::Float(3e-4).to_string(), "3e-4");
        assert_eq!(Value::Float(2.0).to_string(), "2.0");
        assert_eq!(Value::Float(1.5).to_string(), "1.5");
        assert_eq!(Value::Float(100000.0).to_string(), "1e5");
        assert_eq!(Value::Str("a".into()).coord_string(), "a");
    }

    #[test]
    fn sizes_are_measured_without_expanding_ranges() {
        let r = RangeValue {
            start: i64::MIN,
            end: i64::MAX,
        };
        assert_eq!(r.count(), u64::MAX);
        assert_eq!(RangeValue { start: 2, end: 5 }.count(), 4);
        assert_eq!(RangeValue { start: 5, end: 2 }.count(), 0);
        assert_eq!(Value::Range(r).size(), 1);
        let nested = Value::List(vec![
            Value::Int(1),
            Value::List(vec![Value::Int(2), Value::Int(3)]),
        ]);
        assert_eq!(nested.size(), 5);
        assert_eq!(Value::Str("abc".into()).heap_bytes(), 3);
        assert!(nested.heap_bytes() >= 4 * std::mem::size_of::<Value>());
    }
}
