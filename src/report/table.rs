//! Tables rendered as GitHub-flavoured Markdown and as CSV (RFC 4180).
//!
//! Invariants: Markdown shows numbers rounded for people (best cells in bold); CSV keeps
//! every number at full precision (Rust's shortest round-tripping form) so scripts lose
//! nothing; both are pure functions of the table.

use super::format_value;
use super::grid::Grid;

/// One cell of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    /// A number with its display text; `best` cells are emphasised.
    Num {
        value: f64,
        text: String,
        best: bool,
    },
    /// No value.
    Missing,
}

/// A table: a header and rows of cells (rows may be shorter than the header).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// How numbers of a grid are displayed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumberFormat {
    /// Digits after the decimal point.
    pub precision: usize,
    /// Always show a sign (for gains over a baseline).
    pub signed: bool,
}

impl NumberFormat {
    /// Formats one value.
    pub fn format(&self, v: f64) -> String {
        format_value(v, self.precision, self.signed)
    }
}

fn md_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace('\n', " ")
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Table {
    /// An empty table with the given header.
    pub fn new(header: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// A grid as a table: one column per row variable, then one per grid column. With
    /// `best` marks, the best cell of each row is emphasised; `best_column` adds a last
    /// column naming it (the CSV uses it, so scripts need not recompute).
    pub fn from_grid(grid: &Grid, fmt: NumberFormat, best: &[Option<usize>], best_column: bool) -> Table {
        let mut header: Vec<String> = grid.row_vars.clone();
        header.extend(grid.col_labels());
        if best_column {
            header.push("best".into());
        }
        let rows = grid
            .rows
            .iter()
            .enumerate()
            .map(|(r, key)| {
                let mark = best.get(r).copied().flatten();
                let mut row: Vec<Cell> = key.iter().map(|l| Cell::Text(l.to_string())).collect();
                row.extend(grid.cells[r].iter().enumerate().map(|(c, v)| match v {
                    Some(v) => Cell::Num {
                        value: *v,
                        text: fmt.format(*v),
                        best: mark == Some(c),
                    },
                    None => Cell::Missing,
                }));
                if best_column {
                    row.push(match mark {
                        Some(c) => Cell::Text(grid.cols[c].to_string()),
                        None => Cell::Missing,
                    });
                }
                row
            })
            .collect();
        Table { header, rows }
    }

    /// Whether column `c` holds numbers (any numeric cell) — right-aligned in Markdown.
    fn numeric(&self, c: usize) -> bool {
        self.rows
            .iter()
            .any(|r| matches!(r.get(c), Some(Cell::Num { .. })))
    }

    /// GitHub-flavoured Markdown, numbers right-aligned, best cells in bold, `–` for
    /// missing values.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let width = self
            .header
            .len()
            .max(self.rows.iter().map(Vec::len).max().unwrap_or(0));
        let head: Vec<String> = (0..width)
            .map(|c| md_escape(self.header.get(c).map_or("", String::as_str)))
            .collect();
        out.push_str(&format!("| {} |\n", head.join(" | ")));
        let rule: Vec<&str> = (0..width)
            .map(|c| if self.numeric(c) { "---:" } else { "---" })
            .collect();
        out.push_str(&format!("|{}|\n", rule.join("|")));
        for row in &self.rows {
            let cells: Vec<String> = (0..width)
                .map(|c| match row.get(c) {
                    Some(Cell::Text(s)) => md_escape(s),
                    Some(Cell::Num { text, best: true, .. }) => format!("**{}**", md_escape(text)),
                    Some(Cell::Num { text, .. }) => md_escape(text),
                    Some(Cell::Missing) => "–".into(),
                    None => String::new(),
                })
                .collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }

    /// CSV with a header line, `\n` line ends, full-precision numbers, empty fields for
    /// missing values (and for the missing tail of a short row).
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let line = |fields: Vec<String>| fields.join(",") + "\n";
        out.push_str(&line(self.header.iter().map(|h| csv_field(h)).collect()));
        for row in &self.rows {
            let mut fields: Vec<String> = row
                .iter()
                .map(|c| match c {
                    Cell::Text(s) => csv_field(s),
                    Cell::Num { value, .. } => format!("{value}"),
                    Cell::Missing => String::new(),
                })
                .collect();
            // Every record has as many fields as the header.
            fields.resize(fields.len().max(self.header.len()), String::new());
            out.push_str(&line(fields));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::grid::tests::obs;
    use crate::report::grid::{Aggregate, Best, PivotSpec, pivot};

    fn grid() -> Grid {
        let o = vec![
            obs("a", &[("budget", "256"), ("band", "easy")], 0.4),
            obs("b", &[("budget", "256"), ("band", "hard")], 0.45),
            obs("c", &[("budget", "1024"), ("band", "easy")], 0.5),
        ];
        let spec = PivotSpec {
            rows: vec!["budget".into()],
            col: Some("band".into()),
            value_name: "accuracy".into(),
            aggregate: Aggregate::None,
        };
        pivot(&o, &spec).unwrap()
    }

    /// The test grid as a table of numbers written as `fmt` says, the highest of each row
    /// marked (and, with `best_column`, named in a last column).
    fn table(fmt: NumberFormat, best_column: bool) -> Table {
        let g = grid();
        Table::from_grid(&g, fmt, &g.best_per_row(Best::Max), best_column)
    }

    #[test]
    fn markdown_layout_marks_best_and_missing() {
        let fmt = NumberFormat {
            precision: 3,
            signed: false,
        };
        let t = table(fmt, false);
        assert_eq!(
            t.to_markdown(),
            "| budget | easy | hard |\n\
             |---|---:|---:|\n\
             | 256 | 0.400 | **0.450** |\n\
             | 1024 | **0.500** | – |\n"
        );
    }

    #[test]
    fn csv_keeps_precision_quotes_and_names_best() {
        let fmt = NumberFormat {
            precision: 1,
            signed: true,
        };
        let t = table(fmt, true);
        assert_eq!(
            t.to_csv(),
            "budget,easy,hard,best\n256,0.4,0.45,hard\n1024,0.5,,easy\n"
        );
        let mut t = Table::new(["name", "note"]);
        t.rows
            .push(vec![Cell::Text("a,b".into()), Cell::Text("say \"hi\"".into())]);
        t.rows.push(vec![Cell::Text("x|y".into())]);
        assert_eq!(t.to_csv(), "name,note\n\"a,b\",\"say \"\"hi\"\"\"\nx|y,\n");
        assert!(t.to_markdown().contains("| x\\|y |  |"), "{}", t.to_markdown());
        assert_eq!(fmt.format(0.04), "+0.0");
    }
}
