//! Pivoting labelled observations into a rows × columns grid — the one shape behind
//! every table and chart: a heatmap's cells, a line chart's series (rows) over x
//! (columns), a bar chart's groups.
//!
//! Invariants: row and column order is deterministic ([`Label::ordered`] per variable,
//! rows sorted by their variables' orders, left to right); a cell never silently merges
//! two observations — that takes an explicit [`Aggregate`], and the error otherwise
//! names the sources and the variables in which they differ.

use super::{Label, ReportError, UnknownWord};
use serde_json::json;

/// One number with the labels that place it: sweep coordinates, a slice key, …
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Where the number came from (an instance name), for messages.
    pub source: String,
    /// Named labels, e.g. `[("budget", 256), ("band", "easy")]`.
    pub vars: Vec<(String, Label)>,
    pub value: f64,
}

impl Observation {
    /// The label of variable `name`, if the observation has it.
    pub fn var(&self, name: &str) -> Option<&Label> {
        self.vars.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// How several observations falling into one cell combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// They may not: it is an error (the default, so a forgotten sweep variable shows).
    None,
    Mean,
    Min,
    Max,
}

impl Aggregate {
    /// The names [`Aggregate::parse`] accepts.
    pub const NAMES: &'static [&'static str] = &["none", "mean", "min", "max"];

    /// Parses one of [`Aggregate::NAMES`].
    pub fn parse(s: &str) -> Result<Aggregate, UnknownWord> {
        Ok(match s {
            "none" => Aggregate::None,
            "mean" => Aggregate::Mean,
            "min" => Aggregate::Min,
            "max" => Aggregate::Max,
            _ => {
                return Err(UnknownWord {
                    what: "aggregate",
                    word: s.to_string(),
                    expected: Self::NAMES,
                });
            }
        })
    }

    /// The aggregate's name (one of [`Aggregate::NAMES`]).
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::None => "none",
            Aggregate::Mean => "mean",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
        }
    }
}

/// Which cell of a row is the best one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Best {
    /// The largest value (accuracy, gain).
    Max,
    /// The smallest value (loss, error rate).
    Min,
    /// No marking.
    None,
}

impl Best {
    /// The names [`Best::parse`] accepts.
    pub const NAMES: &'static [&'static str] = &["max", "min", "none"];

    /// Parses one of [`Best::NAMES`].
    pub fn parse(s: &str) -> Result<Best, UnknownWord> {
        Ok(match s {
            "max" => Best::Max,
            "min" => Best::Min,
            "none" => Best::None,
            _ => {
                return Err(UnknownWord {
                    what: "best-cell rule",
                    word: s.to_string(),
                    expected: Self::NAMES,
                });
            }
        })
    }

    /// The rule's name (one of [`Best::NAMES`]).
    pub fn name(self) -> &'static str {
        match self {
            Best::Max => "max",
            Best::Min => "min",
            Best::None => "none",
        }
    }
}

/// What to pivot on.
#[derive(Debug, Clone, PartialEq)]
pub struct PivotSpec {
    /// Variables whose combination makes a row (empty: a single row).
    pub rows: Vec<String>,
    /// The variable whose values make the columns (`None`: a single column).
    pub col: Option<String>,
    /// Name of the value (header of the single column when `col` is `None`).
    pub value_name: String,
    pub aggregate: Aggregate,
}

/// A rows × columns arrangement of numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Variables making a row key, in order.
    pub row_vars: Vec<String>,
    /// Variable making the columns, if any.
    pub col_var: Option<String>,
    /// One key per row: the labels of `row_vars`.
    pub rows: Vec<Vec<Label>>,
    /// Column labels (the value name alone when there is no column variable).
    pub cols: Vec<Label>,
    /// `cells[row][col]`; `None` where no observation fell.
    pub cells: Vec<Vec<Option<f64>>>,
    /// How many observations each cell combines.
    pub counts: Vec<Vec<usize>>,
}

/// Smallest and largest finite value of a table of cells; `None` when it has none.
pub fn finite_range(cells: &[Vec<Option<f64>>]) -> Option<(f64, f64)> {
    let vals = cells
        .iter()
        .flatten()
        .flatten()
        .copied()
        .filter(|v| v.is_finite());
    vals.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Variables (other than `exclude`) that every observation has and that take more than
/// one value, in order of first appearance.
pub fn varying(obs: &[Observation], exclude: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for o in obs {
        for (k, _) in &o.vars {
            if !names.contains(k) && !exclude.contains(&k.as_str()) {
                names.push(k.clone());
            }
        }
    }
    names
        .into_iter()
        .filter(|n| {
            let labels: Option<Vec<&Label>> = obs.iter().map(|o| o.var(n)).collect();
            labels.is_some_and(|ls| ls.iter().any(|l| *l != ls[0]))
        })
        .collect()
}

fn label_of<'a>(o: &'a Observation, var: &str) -> Result<&'a Label, ReportError> {
    o.var(var).ok_or_else(|| {
        let have: Vec<&str> = o.vars.iter().map(|(k, _)| k.as_str()).collect();
        ReportError::Data(format!(
            "`{}` has no variable `{var}` (it has: {})",
            o.source,
            if have.is_empty() {
                "none".to_string()
            } else {
                have.join(", ")
            }
        ))
    })
}

/// Arranges observations as a grid.
pub fn pivot(obs: &[Observation], spec: &PivotSpec) -> Result<Grid, ReportError> {
    if obs.is_empty() {
        return Err(ReportError::Data("nothing to report: no observations".into()));
    }
    // Per-variable label orders.
    let mut row_orders: Vec<Vec<Label>> = Vec::new();
    for var in &spec.rows {
        let labels = obs
            .iter()
            .map(|o| label_of(o, var))
            .collect::<Result<Vec<_>, _>>()?;
        row_orders.push(Label::ordered(labels));
    }
    let cols = match &spec.col {
        Some(var) => Label::ordered(
            obs.iter()
                .map(|o| label_of(o, var))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => vec![Label::Text(spec.value_name.clone())],
    };
    let index = |order: &[Label], l: &Label| order.iter().position(|x| x == l).unwrap_or(0);
    // Row keys as index tuples, sorted.
    let mut keyed: Vec<(Vec<usize>, usize, &Observation)> = Vec::with_capacity(obs.len());
    for o in obs {
        let mut key = Vec::with_capacity(spec.rows.len());
        for (var, order) in spec.rows.iter().zip(&row_orders) {
            key.push(index(order, label_of(o, var)?));
        }
        let c = match &spec.col {
            Some(var) => index(&cols, label_of(o, var)?),
            None => 0,
        };
        keyed.push((key, c, o));
    }
    let mut row_keys: Vec<Vec<usize>> = keyed.iter().map(|(k, _, _)| k.clone()).collect();
    row_keys.sort();
    row_keys.dedup();
    let mut members: Vec<Vec<Vec<&Observation>>> = vec![vec![Vec::new(); cols.len()]; row_keys.len()];
    for (key, c, o) in &keyed {
        let r = row_keys.binary_search(key).unwrap_or(0);
        members[r][*c].push(o);
    }
    let rows: Vec<Vec<Label>> = row_keys
        .iter()
        .map(|k| {
            k.iter()
                .zip(&row_orders)
                .map(|(&i, order)| order[i].clone())
                .collect()
        })
        .collect();
    let mut cells = vec![vec![None; cols.len()]; rows.len()];
    let mut counts = vec![vec![0; cols.len()]; rows.len()];
    for (r, row) in members.iter().enumerate() {
        for (c, ms) in row.iter().enumerate() {
            counts[r][c] = ms.len();
            if ms.is_empty() {
                continue;
            }
            let values: Vec<f64> = ms.iter().map(|o| o.value).collect();
            cells[r][c] = Some(match spec.aggregate {
                _ if values.len() == 1 => values[0],
                Aggregate::None => return Err(collision(spec, &rows[r], &cols[c], ms)),
                Aggregate::Mean => values.iter().sum::<f64>() / values.len() as f64,
                Aggregate::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
                Aggregate::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            });
        }
    }
    Ok(Grid {
        row_vars: spec.rows.clone(),
        col_var: spec.col.clone(),
        rows,
        cols,
        cells,
        counts,
    })
}

fn collision(spec: &PivotSpec, row: &[Label], col: &Label, ms: &[&Observation]) -> ReportError {
    let mut place: Vec<String> = spec
        .rows
        .iter()
        .zip(row)
        .map(|(v, l)| format!("{v}={l}"))
        .collect();
    if let Some(v) = &spec.col {
        place.push(format!("{v}={col}"));
    }
    let owned: Vec<Observation> = ms.iter().map(|o| (*o).clone()).collect();
    // A variable that merely restates each source's name explains nothing.
    let differ: Vec<String> = varying(&owned, &[])
        .into_iter()
        .filter(|v| {
            !owned
                .iter()
                .all(|o| o.var(v).is_some_and(|l| l.to_string() == o.source))
        })
        .collect();
    let sources: Vec<String> = ms.iter().map(|o| format!("`{}`", o.source)).collect();
    let hint = if differ.is_empty() {
        "they do not differ in any variable".to_string()
    } else {
        format!(
            "they differ in {}: put {} on an axis or in `series`",
            differ
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if differ.len() == 1 { "it" } else { "them" }
        )
    };
    ReportError::Data(format!(
        "{} values fall into one cell ({}), from {}; {hint}, select a sub-family \
         (`name[var=value]`), or set `aggregate = mean` (or min / max)",
        ms.len(),
        if place.is_empty() {
            "the only cell".to_string()
        } else {
            place.join(", ")
        },
        sources.join(", ")
    ))
}

impl Grid {
    /// Row `r`'s label: its variables' labels, joined (`256`, or `easy, 0.001`).
    pub fn row_label(&self, r: usize) -> String {
        self.rows[r]
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Row `r`'s label with variable names (`band=easy, lr=0.001`), for legends; the
    /// value name when there are no row variables.
    pub fn row_label_named(&self, r: usize, value_name: &str) -> String {
        if self.row_vars.is_empty() {
            return value_name.to_string();
        }
        self.row_vars
            .iter()
            .zip(&self.rows[r])
            .map(|(v, l)| format!("{v}={l}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Column labels as text.
    pub fn col_labels(&self) -> Vec<String> {
        self.cols.iter().map(|l| l.to_string()).collect()
    }

    /// The best column of each row (`None` for an empty row or [`Best::None`]); ties go
    /// to the first column.
    pub fn best_per_row(&self, best: Best) -> Vec<Option<usize>> {
        self.cells
            .iter()
            .map(|row| {
                let mut pick: Option<(usize, f64)> = None;
                for (c, v) in row.iter().enumerate() {
                    let Some(v) = *v else { continue };
                    let better = match (best, pick) {
                        (Best::None, _) => return None,
                        (_, None) => true,
                        (Best::Max, Some((_, p))) => v > p,
                        (Best::Min, Some((_, p))) => v < p,
                    };
                    if better {
                        pick = Some((c, v));
                    }
                }
                pick.map(|(c, _)| c)
            })
            .collect()
    }

    /// Smallest and largest present value.
    pub fn range(&self) -> Option<(f64, f64)> {
        finite_range(&self.cells)
    }

    /// The grid as JSON: `rows_by`, `columns_by`, `columns`, and per row its `key`,
    /// `label`, `values` (null where empty), `count` (when a cell combines several
    /// observations) and `best` (`{column, value}` or null).
    pub fn to_json(&self, best: &[Option<usize>]) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .enumerate()
            .map(|(r, key)| {
                let key: serde_json::Map<String, serde_json::Value> = self
                    .row_vars
                    .iter()
                    .zip(key)
                    .map(|(v, l)| (v.clone(), l.to_json()))
                    .collect();
                let mut row = json!({
                    "key": key,
                    "label": self.row_label(r),
                    "values": self.cells[r],
                });
                if self.counts[r].iter().any(|&n| n > 1) {
                    row["count"] = json!(self.counts[r]);
                }
                row["best"] = match best.get(r).copied().flatten() {
                    Some(c) => json!({"column": self.cols[c].to_json(), "value": self.cells[r][c]}),
                    None => serde_json::Value::Null,
                };
                row
            })
            .collect();
        json!({
            "rows_by": self.row_vars,
            "columns_by": self.col_var,
            "columns": self.cols.iter().map(Label::to_json).collect::<Vec<_>>(),
            "rows": rows,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An observation from `(var, label)` pairs; numeric-looking labels become numbers.
    pub(crate) fn obs(source: &str, vars: &[(&str, &str)], value: f64) -> Observation {
        Observation {
            source: source.into(),
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), Label::parse(v)))
                .collect(),
            value,
        }
    }

    fn sweep() -> Vec<Observation> {
        let mut v = Vec::new();
        for (b, vals) in [("1024", [0.5, 0.7, 0.6]), ("256", [0.4, 0.45, 0.3])] {
            for (band, val) in ["easy", "medium", "hard"].iter().zip(vals) {
                v.push(obs(
                    &format!("acc[budget={b},band={band}]"),
                    &[("budget", b), ("band", band)],
                    val,
                ));
            }
        }
        v
    }

    fn spec(rows: &[&str], col: Option<&str>) -> PivotSpec {
        PivotSpec {
            rows: rows.iter().map(|s| s.to_string()).collect(),
            col: col.map(str::to_string),
            value_name: "accuracy".into(),
            aggregate: Aggregate::None,
        }
    }

    #[test]
    fn pivots_in_numeric_and_appearance_order() {
        let g = pivot(&sweep(), &spec(&["budget"], Some("band"))).unwrap();
        assert_eq!(g.col_labels(), ["easy", "medium", "hard"]);
        assert_eq!((g.row_label(0), g.row_label(1)), ("256".into(), "1024".into()));
        assert_eq!(g.cells[0], [Some(0.4), Some(0.45), Some(0.3)]);
        assert_eq!(g.best_per_row(Best::Max), [Some(1), Some(1)]);
        assert_eq!(g.best_per_row(Best::Min), [Some(2), Some(0)]);
        assert_eq!(g.best_per_row(Best::None), [None, None]);
        assert_eq!(g.range(), Some((0.3, 0.7)));
        let j = g.to_json(&g.best_per_row(Best::Max));
        assert_eq!(j["rows"][1]["best"], json!({"column": "medium", "value": 0.7}));
        assert_eq!(j["rows"][0]["key"], json!({"budget": 256}));
    }

    #[test]
    fn missing_cells_and_single_column() {
        let mut o = sweep();
        o.remove(5);
        let g = pivot(&o, &spec(&["band"], None)).unwrap_err();
        assert!(
            g.to_string()
                .contains("from `acc[budget=1024,band=easy]`, `acc[budget=256,band=easy]`"),
            "{g}"
        );
        let g = pivot(&o, &spec(&["budget", "band"], None)).unwrap();
        assert_eq!(g.cols, [Label::Text("accuracy".into())]);
        assert_eq!(g.row_label_named(0, "accuracy"), "budget=256, band=easy");
        assert_eq!(g.rows.len(), 5);
        let g = pivot(&o, &spec(&["budget"], Some("band"))).unwrap();
        assert_eq!(g.cells[0][2], None);
        assert_eq!(g.best_per_row(Best::Max)[0], Some(1));
    }

    #[test]
    fn collisions_name_the_differing_variable_unless_aggregated() {
        let e = pivot(&sweep(), &spec(&[], Some("band"))).unwrap_err().to_string();
        assert!(e.contains("2 values fall into one cell (band=easy)"), "{e}");
        assert!(e.contains("they differ in `budget`"), "{e}");
        let mut s = spec(&[], Some("band"));
        s.aggregate = Aggregate::Mean;
        let g = pivot(&sweep(), &s).unwrap();
        assert!((g.cells[0][0].unwrap() - 0.45).abs() < 1e-12);
        assert_eq!(g.counts[0], [2, 2, 2]);
        s.aggregate = Aggregate::Max;
        assert_eq!(
            pivot(&sweep(), &s).unwrap().cells[0],
            [Some(0.5), Some(0.7), Some(0.6)]
        );
    }

    #[test]
    fn unknown_variables_and_varying() {
        let e = pivot(&sweep(), &spec(&["lr"], None)).unwrap_err().to_string();
        assert_eq!(
            e,
            "`acc[budget=1024,band=easy]` has no variable `lr` (it has: budget, band)"
        );
        assert_eq!(varying(&sweep(), &[]), ["budget", "band"]);
        assert_eq!(varying(&sweep(), &["band"]), ["budget"]);
        assert!(pivot(&[], &spec(&[], None)).is_err());
    }
}
