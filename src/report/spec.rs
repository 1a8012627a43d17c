//! What one report shows, as plain data: the kind of chart, the metric, the axes, how
//! cells combine and are marked, and how the page looks. The `report` stage fills a
//! [`ReportSpec`] from its parameters; [`super::pivot`] and [`super::render`] read it.
//!
//! Invariants: a spec holds no paths and nothing of the machine, so everything rendered
//! from it is a function of the spec and the inputs alone. An axis is either a variable
//! name or absent (`None`), never an empty string.

use super::UnknownWord;
use super::chart::Scale;
use super::grid::{Aggregate, Best};

/// What a report draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// No chart: the page and the CSV only.
    Table,
    /// The value against x, one line per series.
    Line,
    /// Rows `y` × columns `x`, each cell coloured.
    Heatmap,
    /// One group of bars per x value, one bar per series.
    Bar,
}

impl ReportKind {
    /// The kinds' names, as pipelines write them and `metrics.json` records them.
    pub const NAMES: &'static [&'static str] = &["table", "line", "heatmap", "bar"];

    /// Parses one of [`ReportKind::NAMES`].
    pub fn parse(s: &str) -> Result<ReportKind, UnknownWord> {
        Ok(match s {
            "table" => ReportKind::Table,
            "line" => ReportKind::Line,
            "heatmap" => ReportKind::Heatmap,
            "bar" => ReportKind::Bar,
            _ => {
                return Err(UnknownWord {
                    what: "report kind",
                    word: s.to_string(),
                    expected: Self::NAMES,
                });
            }
        })
    }

    /// The kind's name (one of [`ReportKind::NAMES`]).
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::Table => "table",
            ReportKind::Line => "line",
            ReportKind::Heatmap => "heatmap",
            ReportKind::Bar => "bar",
        }
    }
}

/// The parameters of one report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSpec {
    pub kind: ReportKind,
    /// The metric: a dotted path into each input's metrics document (`accuracy`,
    /// `slices.7.accuracy`).
    pub value: String,
    /// The columns / x axis.
    pub x: Option<String>,
    /// The rows of a heatmap or table.
    pub y: Option<String>,
    /// One line or bar per value of this variable.
    pub series: Option<String>,
    /// Report value − the baseline's value (a gain) rather than raw values.
    pub relative: bool,
    pub aggregate: Aggregate,
    pub best: Best,
    /// Line charts' x axis; `None`: linear for numbers, else categorical.
    pub x_scale: Option<Scale>,
    /// Chart and page title; empty: derived from the value and the axes.
    pub title: String,
    /// Digits after the decimal point in tables and on heatmaps.
    pub precision: usize,
    /// Chart size in pixels.
    pub width: u32,
    pub height: u32,
}

impl ReportSpec {
    /// The axis variables in use, with the parameter that names each.
    pub fn axes(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [("x", &self.x), ("y", &self.y), ("series", &self.series)]
            .into_iter()
            .filter_map(|(n, v)| v.as_deref().map(|v| (n, v)))
    }

    /// What the reported number is called.
    pub fn value_name(&self) -> String {
        if self.relative {
            format!("{} gain", self.value)
        } else {
            self.value.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each closed set's `NAMES`, `parse` and `name` agree word for word, so the words a
    /// pipeline may write are exactly the ones the library reads.
    #[test]
    fn every_word_parses_and_names_itself() {
        for &w in ReportKind::NAMES {
            assert_eq!(ReportKind::parse(w).map(ReportKind::name), Ok(w));
        }
        for &w in Aggregate::NAMES {
            assert_eq!(Aggregate::parse(w).map(Aggregate::name), Ok(w));
        }
        for &w in Best::NAMES {
            assert_eq!(Best::parse(w).map(Best::name), Ok(w));
        }
        assert_eq!(
            ReportKind::parse("pie").unwrap_err().to_string(),
            "unknown report kind `pie` (expected table | line | heatmap | bar)"
        );
        assert!(
            Aggregate::parse("median")
                .unwrap_err()
                .to_string()
                .contains("none | mean")
        );
        assert!(
            Best::parse("top")
                .unwrap_err()
                .to_string()
                .contains("max | min | none")
        );
    }
}
