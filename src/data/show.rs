//! Text summaries of datasets and scores for `sieve show`: schema, row count, the first
//! rows, and a histogram of the difficulty (or score) column.
//!
//! Invariant: reading is bounded — the schema and counts come from the Parquet footer,
//! the first rows from the first batch, the histogram from one projected streaming pass.

use super::io;
use super::schema::DIFFICULTY;
use super::{DataError, Result};
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// Rows shown by [`describe`].
pub const HEAD_ROWS: usize = 3;
/// Longest cell text shown.
const CELL_CHARS: usize = 160;
/// Widest histogram bar.
const BAR: usize = 40;

/// Describes a dataset or scores file, or an artifact folder holding `data.parquet`
/// and/or `scores.parquet`.
pub fn describe(path: &Path) -> Result<String> {
    if path.is_dir() {
        let mut out = String::new();
        let mut any = false;
        for f in ["scores.parquet", "data.parquet"] {
            let p = path.join(f);
            if p.is_file() {
                any = true;
                out.push_str(&describe_file(&p, HEAD_ROWS, None)?);
                out.push('\n');
            }
        }
        if !any {
            return Err(DataError::invalid(
                path,
                "holds neither data.parquet nor scores.parquet",
            ));
        }
        return Ok(out.trim_end().to_string() + "\n");
    }
    describe_file(path, HEAD_ROWS, None)
}

fn truncate(s: &str) -> String {
    let flat = s.replace('\n', "⏎");
    if flat.chars().count() <= CELL_CHARS {
        return flat;
    }
    let cut: String = flat.chars().take(CELL_CHARS).collect();
    format!("{cut}… ({} chars)", s.chars().count())
}

/// Describes one file: `rows` first rows, a histogram of `column` (default `difficulty`,
/// else `score`).
pub fn describe_file(path: &Path, rows: usize, column: Option<&str>) -> Result<String> {
    let mut out = String::new();
    let mut reader = io::open(path, None)?;
    let schema = reader.schema();
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let count = match reader.num_rows() {
        Some(n) => n.to_string(),
        None => "?".into(),
    };
    let _ = writeln!(
        out,
        "{}: {count} rows, {} columns, {}",
        path.display(),
        schema.fields().len(),
        human_bytes(size)
    );
    let _ = writeln!(out, "schema:");
    let w = schema.fields().iter().map(|f| f.name().len()).max().unwrap_or(0);
    for f in schema.fields() {
        let _ = writeln!(
            out,
            "  {:w$}  {}{}",
            f.name(),
            f.data_type(),
            if f.is_nullable() { "" } else { " not null" }
        );
    }
    if rows > 0
        && let Some(batch) = reader.next()
    {
        let batch = batch?;
        let n = rows.min(batch.num_rows());
        let _ = writeln!(out, "first {n} rows:");
        let opts = FormatOptions::default().with_null("null");
        for i in 0..n {
            let _ = writeln!(out, "  [{i}]");
            for (f, c) in schema.fields().iter().zip(batch.columns()) {
                let fmt =
                    ArrayFormatter::try_new(c.as_ref(), &opts).map_err(|e| DataError::arrow(path, e))?;
                let _ = writeln!(
                    out,
                    "    {:w$}  {}",
                    f.name(),
                    truncate(&fmt.value(i).to_string())
                );
            }
        }
    }
    drop(reader);
    let col = match column {
        Some(c) => Some(c),
        None if schema.index_of(DIFFICULTY).is_ok() => Some(DIFFICULTY),
        None if schema.index_of("score").is_ok() => Some("score"),
        None => None,
    };
    if let Some(c) = col {
        out.push_str(&histogram(path, c)?);
    }
    Ok(out)
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = n as f64;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < units.len() {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", units[u])
    }
}

/// A text histogram of a numeric column: one bar per value when there are at most 30
/// distinct integers, else 10 equal-width bins.
pub fn histogram(path: &Path, column: &str) -> Result<String> {
    let mut vals: Vec<f64> = Vec::new();
    let mut nulls = 0usize;
    let mut reader = io::open(path, None)?;
    let schema = reader.schema();
    let t = schema
        .field_with_name(column)
        .map_err(|_| io::missing_column(path, column, &schema))?
        .data_type()
        .clone();
    if !t.is_numeric() {
        return Err(DataError::ColumnType {
            path: path.to_path_buf(),
            column: column.into(),
            expected: "a numeric column for a histogram".into(),
            found: format!("{t}"),
        });
    }
    let idx = schema
        .index_of(column)
        .map_err(|_| io::missing_column(path, column, &schema))?;
    for batch in reader.by_ref() {
        let batch = batch?;
        let c = arrow::compute::cast(batch.column(idx), &DataType::Float64)
            .map_err(|e| DataError::arrow(path, e))?;
        let c = c.as_primitive::<Float64Type>();
        nulls += c.null_count();
        vals.extend(c.iter().flatten().filter(|v| v.is_finite()));
    }
    let mut out = format!("{column} ({t}, {} values, {nulls} null):\n", vals.len());
    if vals.is_empty() {
        return Ok(out);
    }
    let integral = vals.iter().all(|v| v.fract() == 0.0);
    let mut distinct: BTreeMap<i64, usize> = BTreeMap::new();
    if integral {
        for v in &vals {
            *distinct.entry(*v as i64).or_default() += 1;
            if distinct.len() > 30 {
                break;
            }
        }
    }
    let bins: Vec<(String, usize)> = if integral && distinct.len() <= 30 {
        distinct.into_iter().map(|(k, c)| (k.to_string(), c)).collect()
    } else {
        let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let k = 10usize;
        let width = ((hi - lo) / k as f64).max(f64::MIN_POSITIVE);
        let mut counts = vec![0usize; k];
        for v in &vals {
            counts[(((v - lo) / width) as usize).min(k - 1)] += 1;
        }
        counts
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    format!(
                        "[{:.4}, {:.4}{}",
                        lo + i as f64 * width,
                        lo + (i + 1) as f64 * width,
                        if i + 1 == k { "]" } else { ")" }
                    ),
                    c,
                )
            })
            .collect()
    };
    let max = bins.iter().map(|b| b.1).max().unwrap_or(1).max(1);
    let lw = bins.iter().map(|b| b.0.len()).max().unwrap_or(0);
    for (label, c) in bins {
        let n = (c * BAR).div_ceil(max);
        let _ = writeln!(out, "  {label:>lw$} │{} {c}", "█".repeat(n));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::small_dataset_in_temp_dir;

    #[test]
    fn describes_schema_rows_and_histogram() {
        let (dir, p) = small_dataset_in_temp_dir(100);
        let s = describe(&p).unwrap();
        assert!(s.contains("100 rows, 6 columns"), "{s}");
        assert!(s.contains("  id          Int64 not null"), "{s}");
        assert!(s.contains("first 3 rows:"), "{s}");
        assert!(s.contains("difficulty (Int64, 92 values, 8 null):"), "{s}");
        assert!(s.contains("\n  8 │"), "{s}");
        let d = describe(dir.path()).unwrap();
        assert!(d.contains("data.parquet"));
        assert!(matches!(
            describe(&dir.path().join("nope.parquet")),
            Err(DataError::NotFound { .. })
        ));
        assert!(histogram(&p, "src").is_err());
    }
}
