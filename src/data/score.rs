//! Difficulty scores and the scores artifact.
//!
//! # Scores artifact layout
//!
//! A scores artifact is a folder holding two files:
//!
//! - `scores.parquet` (`stages::artifact::SCORES_FILE`): `id` int64 (never null),
//!   `score` float64 (null = unscorable row, never selected), `method` utf8 (the same on
//!   every row, e.g. `column(ops)`, `length(chars)`, `loss(model)`), `bucket` int64
//!   (nullable; a precomputed band, 0 = easiest, filled when scoring asks for `bands`).
//! - `data.parquet` (`stages::artifact::DATASET_FILE`): the dataset that was scored,
//!   unchanged (a hard link to the input artifact's file when possible).
//!
//! Invariants: row *i* of `scores.parquet` scores row *i* of `data.parquet` (same count,
//! same ids in the same order); **higher score = harder** for every method (a method
//! whose natural measure runs the other way, like pass rate, stores its complement).
//! Embedding the rows lets `select(scored, …)` take the single scores input of the
//! DESIGN example, and model-based methods (`loss`, `pass_rate`, `ifd`) only have to
//! produce per-row scores and call [`write_scores`].

use super::io::{self, ParquetSink};
use super::schema::{BATCH_ROWS, ID, PROMPT, RESPONSE};
use super::text::{TokenCounter, count_chars};
use super::{DataError, Result};
use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use std::path::Path;
use std::sync::Arc;

/// Scores file name inside a scores artifact.
pub const SCORES_FILE: &str = "scores.parquet";
/// Dataset file name inside a scores (or dataset) artifact.
pub const DATA_FILE: &str = "data.parquet";

/// A plain-data scoring method (model-based ones live with the model stages).
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// A numeric column of the dataset, as is.
    Column(String),
    /// Length of prompt + response.
    Length,
    /// Length of the response (the reference chain of thought + answer).
    CotLength,
}

/// The schema of `scores.parquet`.
pub fn scores_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("score", DataType::Float64, true),
        Field::new("method", DataType::Utf8, false),
        Field::new("bucket", DataType::Int64, true),
    ]))
}

/// Scores of a dataset held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub ids: Vec<i64>,
    pub scores: Vec<Option<f64>>,
    pub method: String,
    pub buckets: Vec<Option<i64>>,
}

/// Computes the score of every row of `data` (a canonical dataset file).
pub fn compute(
    data: &Path,
    method: &Method,
    counter: &TokenCounter,
    mut check: impl FnMut() -> Result<()>,
) -> Result<(Vec<i64>, Vec<Option<f64>>)> {
    let schema = io::parquet_schema(data)?;
    let cols: Vec<&str> = match method {
        Method::Column(c) => vec![ID, c.as_str()],
        Method::Length => vec![ID, PROMPT, RESPONSE],
        Method::CotLength => vec![ID, RESPONSE],
    };
    for c in &cols {
        if schema.index_of(c).is_err() {
            return Err(io::missing_column(data, c, &schema));
        }
    }
    if let Method::Column(c) = method {
        let t = schema
            .field_with_name(c)
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Null);
        if !(t.is_numeric() || t == DataType::Boolean) {
            return Err(DataError::ColumnType {
                path: data.to_path_buf(),
                column: c.clone(),
                expected: "a numeric or boolean column to score by".into(),
                found: format!("{t}"),
            });
        }
    }
    let rows = io::parquet_num_rows(data)?;
    let mut ids = Vec::with_capacity(rows);
    let mut scores = Vec::with_capacity(rows);
    let err = |e: arrow::error::ArrowError| DataError::arrow(data, e);
    for batch in io::open_parquet(data, Some(&cols))? {
        check()?;
        let batch = batch?;
        let id = batch
            .column_by_name(ID)
            .ok_or_else(|| io::missing_column(data, ID, &schema))?;
        let id = arrow::compute::cast(id, &DataType::Int64).map_err(err)?;
        ids.extend(id.as_primitive::<Int64Type>().iter().map(|v| v.unwrap_or(-1)));
        match method {
            Method::Column(c) => {
                let a = batch
                    .column_by_name(c)
                    .ok_or_else(|| io::missing_column(data, c, &schema))?;
                let a = arrow::compute::cast(a, &DataType::Float64).map_err(err)?;
                scores.extend(a.as_primitive::<Float64Type>().iter());
            }
            Method::Length => {
                let p = text_lengths(batch.column_by_name(PROMPT), counter, data)?;
                let r = text_lengths(batch.column_by_name(RESPONSE), counter, data)?;
                scores.extend(
                    p.iter()
                        .zip(&r)
                        .map(|(p, r)| Some((p.unwrap_or(0) + r.unwrap_or(0)) as f64)),
                );
            }
            Method::CotLength => {
                let r = text_lengths(batch.column_by_name(RESPONSE), counter, data)?;
                scores.extend(r.iter().map(|r| r.map(|r| r as f64)));
            }
        }
    }
    if ids.is_empty() {
        return Err(DataError::Empty {
            path: data.to_path_buf(),
        });
    }
    Ok((ids, scores))
}

/// Lengths of a text column (null stays null).
fn text_lengths(col: Option<&ArrayRef>, counter: &TokenCounter, path: &Path) -> Result<Vec<Option<usize>>> {
    let Some(col) = col else { return Ok(Vec::new()) };
    let col = arrow::compute::cast(col, &DataType::Utf8).map_err(|e| DataError::arrow(path, e))?;
    let s = col.as_string::<i32>();
    let mut out = Vec::with_capacity(s.len());
    match counter {
        TokenCounter::Chars => {
            let offsets = s.value_offsets();
            let bytes = s.value_data();
            for i in 0..s.len() {
                out.push(s.is_valid(i).then(|| {
                    let (lo, hi) = (offsets[i] as usize, offsets[i + 1] as usize);
                    // SAFETY-free: count non-continuation bytes of valid UTF-8.
                    bytes[lo..hi].iter().filter(|&&b| (b as i8) >= -0x40).count()
                }));
            }
            debug_assert!(s.iter().zip(&out).all(|(v, n)| v.map(count_chars) == *n));
        }
        _ => {
            for v in s.iter() {
                out.push(match v {
                    Some(t) => Some(counter.count(t)?),
                    None => None,
                });
            }
        }
    }
    Ok(out)
}

/// Writes a scores artifact into `out_dir`: `scores.parquet` from `ids`/`scores` and a
/// link to (or copy of) the scored dataset `data`. With `bands > 0` the `bucket` column
/// holds quantile bands of the scores (0 = easiest, see `select::quantile_edges`).
pub fn write_scores(
    out_dir: &Path,
    data: &Path,
    ids: &[i64],
    scores: &[Option<f64>],
    method: &str,
    bands: usize,
) -> Result<()> {
    if ids.len() != scores.len() {
        return Err(DataError::Param(format!(
            "internal: {} ids but {} scores",
            ids.len(),
            scores.len()
        )));
    }
    let rows = io::parquet_num_rows(data)?;
    if rows != ids.len() {
        return Err(DataError::invalid(
            data,
            format!("has {rows} rows but {} scores were computed", ids.len()),
        ));
    }
    let buckets: Vec<Option<i64>> = if bands > 0 {
        let present: Vec<f64> = scores.iter().flatten().copied().collect();
        let edges = super::select::quantile_edges(&present, bands);
        scores
            .iter()
            .map(|s| s.map(|v| super::select::band_of(v, &edges) as i64))
            .collect()
    } else {
        vec![None; ids.len()]
    };
    let path = out_dir.join(SCORES_FILE);
    let schema = scores_schema();
    let mut sink = ParquetSink::create(&path, schema.clone())?;
    for start in (0..ids.len()).step_by(BATCH_ROWS * 8) {
        let end = (start + BATCH_ROWS * 8).min(ids.len());
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids[start..end].to_vec())),
            Arc::new(Float64Array::from(scores[start..end].to_vec())),
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                method,
                end - start,
            ))),
            Arc::new(Int64Array::from(buckets[start..end].to_vec())),
        ];
        sink.write(&RecordBatch::try_new(schema.clone(), cols).map_err(|e| DataError::arrow(&path, e))?)?;
    }
    if ids.is_empty() {
        sink.write(&RecordBatch::new_empty(schema))?;
    }
    sink.finish()?;
    io::link_or_copy(data, &out_dir.join(DATA_FILE))
}

/// Reads `scores.parquet` of a scores artifact folder, checking its schema.
pub fn read_scores(dir: &Path) -> Result<Scores> {
    let path = dir.join(SCORES_FILE);
    let schema = io::parquet_schema(&path)?;
    for (c, ok) in [
        (
            "id",
            &(|t: &DataType| t.is_integer()) as &dyn Fn(&DataType) -> bool,
        ),
        ("score", &|t: &DataType| t.is_numeric()),
        ("method", &|t: &DataType| {
            matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
        }),
        ("bucket", &|t: &DataType| t.is_integer() || *t == DataType::Null),
    ] {
        let f = schema
            .field_with_name(c)
            .map_err(|_| io::missing_column(&path, c, &schema))?;
        if !ok(f.data_type()) {
            return Err(DataError::ColumnType {
                path: path.clone(),
                column: c.into(),
                expected: match c {
                    "method" => "string".into(),
                    "score" => "float64".into(),
                    _ => "int64".into(),
                },
                found: format!("{}", f.data_type()),
            });
        }
    }
    let mut s = Scores {
        ids: Vec::new(),
        scores: Vec::new(),
        method: String::new(),
        buckets: Vec::new(),
    };
    let err = |e: arrow::error::ArrowError| DataError::arrow(&path, e);
    for batch in io::open_parquet(&path, None)? {
        let batch = batch?;
        let col = |n: &str, t: &DataType| -> Result<ArrayRef> {
            let c = batch
                .column_by_name(n)
                .ok_or_else(|| io::missing_column(&path, n, &schema))?;
            arrow::compute::cast(c, t).map_err(err)
        };
        let ids = col("id", &DataType::Int64)?;
        let ids = ids.as_primitive::<Int64Type>();
        if ids.null_count() > 0 {
            return Err(DataError::invalid(&path, "column `id` has nulls"));
        }
        s.ids.extend(ids.values().iter().copied());
        s.scores.extend(
            col("score", &DataType::Float64)?
                .as_primitive::<Float64Type>()
                .iter(),
        );
        s.buckets.extend(
            col("bucket", &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .iter(),
        );
        if s.method.is_empty() {
            let m = col("method", &DataType::Utf8)?;
            let m = m.as_string::<i32>();
            if !m.is_empty() && m.is_valid(0) {
                s.method = m.value(0).to_string();
            }
        }
    }
    Ok(s)
}

/// Scores `data` with a plain-data method and writes the scores artifact into `out_dir`;
/// returns the method string.
pub fn score_dataset(
    data: &Path,
    out_dir: &Path,
    method: &Method,
    counter: &TokenCounter,
    bands: usize,
    check: impl FnMut() -> Result<()>,
) -> Result<String> {
    let (ids, scores) = compute(data, method, counter, check)?;
    let name = method_name(method, counter);
    write_scores(out_dir, data, &ids, &scores, &name, bands)?;
    Ok(name)
}

/// The `method` string a plain method stores in `scores.parquet`: `column(ops)`,
/// `length(chars)`, `cot_length(tokens:…)`.
pub fn method_name(method: &Method, counter: &TokenCounter) -> String {
    match method {
        Method::Column(c) => format!("column({c})"),
        Method::Length => format!("length({})", counter.name()),
        Method::CotLength => format!("cot_length({})", counter.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::small_dataset_in_temp_dir;

    /// Scores `data` into `out` and reads the scores back (which name the method as
    /// scoring returned it).
    fn score_and_read(
        data: &Path,
        out: &Path,
        method: Method,
        counter: TokenCounter,
        bands: usize,
    ) -> Scores {
        let name = score_dataset(data, out, &method, &counter, bands, || Ok(())).unwrap();
        let scores = read_scores(out).unwrap();
        assert_eq!(scores.method, name);
        scores
    }

    /// The error of computing the scores of `data` by its column `column`.
    fn column_error(data: &Path, column: &str) -> DataError {
        compute(data, &Method::Column(column.into()), &TokenCounter::Chars, || {
            Ok(())
        })
        .unwrap_err()
    }

    #[test]
    fn scores_align_with_rows() {
        let (dir, data) = small_dataset_in_temp_dir(100);
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let s = score_and_read(&data, &out, Method::Length, TokenCounter::Chars, 0);
        assert_eq!(s.method, "length(chars)");
        assert_eq!(s.ids.len(), 100);
        assert_eq!(s.ids[3], 30);
        assert_eq!(s.scores[3], Some((3 + 3) as f64));
        assert_eq!(s.scores[5], Some(5.0)); // null response counts 0
        assert!(out.join(DATA_FILE).is_file());

        let s = score_and_read(&data, &out, Method::CotLength, TokenCounter::Words, 3);
        assert_eq!(s.scores[5], None);
        assert_eq!(s.scores[6], Some(1.0));
        assert!(s.buckets.iter().flatten().all(|b| (0..3).contains(b)));

        let s = score_and_read(
            &data,
            &out,
            Method::Column("difficulty".into()),
            TokenCounter::Chars,
            0,
        );
        assert_eq!(s.scores[0], None);
        assert_eq!(s.scores[1], Some(1.0));
        assert_eq!(s.method, "column(difficulty)");

        let e = column_error(&data, "src");
        assert!(e.to_string().contains("column `src`: expected a numeric"), "{e}");
        let e = column_error(&data, "nope");
        assert!(matches!(e, DataError::MissingColumn { .. }));
    }
}
