//! The reporting library: whole reports over metrics documents ([`spec`] says what to
//! show, [`pivot`] arranges the inputs as a grid, [`render`] makes the page, table,
//! `metrics.json` and chart), and the pieces they are made of — pivoting labelled
//! numbers into grids, tables (Markdown, CSV), charts (line, heatmap, bar; PNG and SVG
//! through plotters with an embedded font) — plus the self-contained HTML overview of a
//! run.
//!
//! Invariants: this is a leaf library — it knows nothing about stages, the cache or the
//! DSL (the `report` stage in `stages::report` and the CLI fill its plain structs and
//! write what it renders);
//! every output is a pure function of its inputs (no timestamps, no absolute paths, no
//! system fonts, no hash-map iteration order), so identical inputs give identical bytes
//! and the cache's early cutoff works on reports too.

pub mod chart;
pub mod font;
pub mod grid;
pub mod lookup;
pub mod overview;
pub mod pivot;
pub mod render;
pub mod spec;
pub mod table;
#[cfg(test)]
pub(crate) mod testutil;

pub use chart::{BarChart, Heatmap, LineChart, Scale};
pub use grid::{Aggregate, Best, Grid, Observation, PivotSpec};
pub use pivot::MetricsInput;
pub use render::{Rendered, render};
pub use spec::{ReportKind, ReportSpec};
pub use table::Table;

use std::fmt;

/// Error of the reporting library.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The data cannot be arranged as asked (two values for one cell, nothing to plot…).
    #[error("{0}")]
    Data(String),
    /// A JSON path did not resolve to a number.
    #[error("{0}")]
    Lookup(#[from] lookup::LookupError),
    /// plotters failed to draw or encode a chart.
    #[error("chart: {0}")]
    Chart(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// A word outside one of the library's closed sets (a report kind, an aggregate, a
/// best-cell rule), with the words that would do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{word}` (expected {})", .expected.join(" | "))]
pub struct UnknownWord {
    pub what: &'static str,
    pub word: String,
    pub expected: &'static [&'static str],
}

/// A value on an axis or in a row key: a sweep coordinate or a slice key.
///
/// Numbers compare numerically (so `ops` 2, 3, …, 10 sort as numbers, not as text);
/// text keeps the order in which it first appears (`easy`, `medium`, `hard` stay in
/// sweep order).
#[derive(Debug, Clone, PartialEq)]
pub enum Label {
    Num(f64),
    Text(String),
}

impl Label {
    /// Reads a label from text: numbers (`"7"`, `"0.5"`) become [`Label::Num`].
    pub fn parse(s: &str) -> Label {
        match s.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && !s.trim().is_empty() => Label::Num(x),
            _ => Label::Text(s.to_string()),
        }
    }

    /// The number, for numeric labels.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Label::Num(x) => Some(*x),
            Label::Text(_) => None,
        }
    }

    /// The label as JSON: integral numbers as integers, other numbers as floats, text as
    /// strings.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Label::Num(x) if x.fract() == 0.0 && x.abs() < 9e15 => serde_json::Value::from(*x as i64),
            Label::Num(x) => serde_json::Value::from(*x),
            Label::Text(s) => serde_json::Value::from(s.as_str()),
        }
    }

    /// Orders distinct labels: all numeric → ascending; otherwise first appearance.
    pub fn ordered<'a>(labels: impl IntoIterator<Item = &'a Label>) -> Vec<Label> {
        let mut out: Vec<Label> = Vec::new();
        for l in labels {
            if !out.contains(l) {
                out.push(l.clone());
            }
        }
        if out.iter().all(|l| matches!(l, Label::Num(_))) {
            out.sort_by(|a, b| a.as_f64().unwrap_or(0.0).total_cmp(&b.as_f64().unwrap_or(0.0)));
        }
        out
    }
}

impl fmt::Display for Label {
    /// Integral numbers without a fraction (`256`), others in Rust's shortest
    /// round-tripping form (`0.0003`), text as is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Num(x) if x.fract() == 0.0 && x.abs() < 9e15 => write!(f, "{}", *x as i64),
            Label::Num(x) => write!(f, "{x}"),
            Label::Text(s) => f.write_str(s),
        }
    }
}

/// Formats a number for tables and chart annotations: `precision` digits after the
/// point, a sign when `signed` (gains), and never `-0.000`.
pub fn format_value(v: f64, precision: usize, signed: bool) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let half_ulp = 0.5 * 10f64.powi(-(precision.min(15) as i32));
    let v = if v.abs() < half_ulp { 0.0 } else { v };
    if signed {
        format!("{v:+.precision$}")
    } else {
        format!("{v:.precision$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_order_and_print() {
        assert_eq!(Label::parse("7"), Label::Num(7.0));
        assert_eq!(Label::parse("hard"), Label::Text("hard".into()));
        assert_eq!(Label::parse(""), Label::Text(String::new()));
        let nums = [
            Label::Num(10.0),
            Label::Num(2.0),
            Label::Num(10.0),
            Label::Num(3.5),
        ];
        assert_eq!(
            Label::ordered(&nums),
            vec![Label::Num(2.0), Label::Num(3.5), Label::Num(10.0)]
        );
        let words = [
            Label::parse("easy"),
            Label::parse("medium"),
            Label::parse("hard"),
            Label::parse("easy"),
        ];
        assert_eq!(
            Label::ordered(&words)
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>(),
            ["easy", "medium", "hard"]
        );
        assert_eq!(Label::Num(256.0).to_string(), "256");
        assert_eq!(Label::Num(3e-4).to_string(), "0.0003");
        assert_eq!(Label::Num(256.0).to_json(), serde_json::json!(256));
    }

    #[test]
    fn values_format_without_negative_zero() {
        assert_eq!(format_value(0.68341, 3, false), "0.683");
        assert_eq!(format_value(0.05, 3, true), "+0.050");
        assert_eq!(format_value(-0.0001, 3, true), "+0.000");
        assert_eq!(format_value(-0.0001, 3, false), "0.000");
        assert_eq!(format_value(-0.25, 2, true), "-0.25");
    }
}
