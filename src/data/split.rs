//! `split`, `concat` and `export`: reshaping datasets without changing rows.
//!
//! - **split** keeps one part of a dataset: `train` or `test`. Modes: `random` (exactly
//!   `round(fraction · n)` rows, chosen by a seeded permutation, are train), `values`
//!   (rows whose `column` value — compared as text — is one of `values` are test) and
//!   `holdout` (rows whose difficulty lies in `[lo, hi]` are test: hold out a difficulty
//!   range for extrapolation). Two `split`s with the same parameters and opposite parts
//!   partition the dataset. Rows with a null key are train.
//! - **concat** appends datasets: columns are unified by name (canonical first, then the
//!   others in order of first appearance; absent columns are null; an int64 and a float64
//!   `difficulty` unify to float64; any other type clash is an error naming both); ids are
//!   renumbered 0…N−1 unless kept (then they must be unique); a `part` column records the
//!   label of each row's input.
//! - **export** writes a dataset to a user path as Parquet or JSONL, refusing to replace
//!   an existing file unless asked; the file appears atomically (temp file + rename).
//!
//! Invariants: row order is preserved (inputs in order for concat); outputs go through the
//! fixed-property Parquet writer, so identical inputs give identical bytes.

use super::io::{self, Format, ParquetSink, Sink};
use super::schema::{CANONICAL, DIFFICULTY, ID};
use super::{DataError, Result, unknown_choice};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray, new_null_array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How `split` decides which rows are test rows.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitMode {
    /// A train fraction in (0, 1).
    Random { fraction: f64 },
    /// Rows whose `column` is one of `values` are test.
    Values { column: String, values: Vec<String> },
    /// Rows whose difficulty lies in `[lo, hi]` are test.
    Holdout { lo: f64, hi: f64 },
}

/// Which side of a split to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Train,
    Test,
}

impl Part {
    /// The names accepted by [`Part::parse`].
    pub const NAMES: &'static [&'static str] = &["train", "test"];

    /// The part's name.
    pub fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Test => "test",
        }
    }

    /// Parses `train` / `test`.
    pub fn parse(s: &str) -> Result<Part> {
        match s {
            "train" => Ok(Part::Train),
            "test" => Ok(Part::Test),
            o => Err(unknown_choice("part", o, "train | test")),
        }
    }
}

/// Rows kept and rows in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitReport {
    pub rows: usize,
    pub of: usize,
}

/// Writes the `part` side of `src` to `dst`.
pub fn split(
    src: &Path,
    dst: &Path,
    mode: &SplitMode,
    part: Part,
    seed: u64,
    mut check: impl FnMut() -> Result<()>,
) -> Result<SplitReport> {
    let n = io::parquet_num_rows(src)?;
    if n == 0 {
        return Err(DataError::Empty {
            path: src.to_path_buf(),
        });
    }
    let random_train: Option<Vec<bool>> = match mode {
        SplitMode::Random { fraction } => {
            if !(*fraction > 0.0 && *fraction < 1.0) {
                return Err(DataError::Param(format!(
                    "`fraction` must be in (0, 1), got {fraction}"
                )));
            }
            let k = (fraction * n as f64).round() as usize;
            let mut idx: Vec<usize> = (0..n).collect();
            idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
            let mut train = vec![false; n];
            for &i in &idx[..k] {
                train[i] = true;
            }
            Some(train)
        }
        _ => None,
    };
    let reader = io::open_parquet(src, None)?;
    let schema = reader.schema();
    let key_col = match mode {
        SplitMode::Values { column, .. } => Some(column.as_str()),
        SplitMode::Holdout { .. } => Some(DIFFICULTY),
        SplitMode::Random { .. } => None,
    };
    if let Some(c) = key_col {
        let f = schema
            .field_with_name(c)
            .map_err(|_| io::missing_column(src, c, &schema))?;
        if matches!(mode, SplitMode::Holdout { .. }) && !f.data_type().is_numeric() {
            return Err(DataError::ColumnType {
                path: src.to_path_buf(),
                column: c.into(),
                expected: "a numeric difficulty".into(),
                found: format!("{}", f.data_type()),
            });
        }
    }
    let values: HashSet<&str> = match mode {
        SplitMode::Values { values, .. } => values.iter().map(String::as_str).collect(),
        _ => HashSet::new(),
    };
    let mut sink = ParquetSink::create(dst, schema.clone())?;
    let mut pos = 0usize;
    let err = |e: arrow::error::ArrowError| DataError::arrow(src, e);
    for batch in reader {
        check()?;
        let batch = batch?;
        let len = batch.num_rows();
        let is_test: Vec<bool> = match mode {
            SplitMode::Random { .. } => {
                let t = random_train.as_deref().unwrap_or(&[]);
                (pos..pos + len)
                    .map(|i| !t.get(i).copied().unwrap_or(true))
                    .collect()
            }
            SplitMode::Values { column, .. } => {
                let c = batch
                    .column_by_name(column)
                    .ok_or_else(|| io::missing_column(src, column, &schema))?;
                let c = arrow::compute::cast(c, &DataType::Utf8).map_err(err)?;
                c.as_string::<i32>()
                    .iter()
                    .map(|v| v.is_some_and(|v| values.contains(v)))
                    .collect()
            }
            SplitMode::Holdout { lo, hi } => {
                let c = batch
                    .column_by_name(DIFFICULTY)
                    .ok_or_else(|| io::missing_column(src, DIFFICULTY, &schema))?;
                let c = arrow::compute::cast(c, &DataType::Float64).map_err(err)?;
                c.as_primitive::<arrow::datatypes::Float64Type>()
                    .iter()
                    .map(|v| v.is_some_and(|v| v >= *lo && v <= *hi))
                    .collect()
            }
        };
        let keep: BooleanArray = is_test.iter().map(|&t| Some(t == (part == Part::Test))).collect();
        let out = arrow::compute::filter_record_batch(&batch, &keep).map_err(err)?;
        if out.num_rows() > 0 {
            sink.write(&out)?;
        }
        pos += len;
    }
    if sink.rows() == 0 {
        drop(sink);
        let _ = std::fs::remove_file(dst);
        return Err(DataError::Selection(format!(
            "split of {}: the `{}` part is empty ({mode:?})",
            src.display(),
            if part == Part::Test { "test" } else { "train" }
        )));
    }
    let rows = sink.finish()?;
    Ok(SplitReport { rows, of: n })
}

/// Options of [`concat`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConcatOptions {
    /// Renumber ids 0…N−1 (else keep them; duplicates are an error).
    pub renumber: bool,
    /// Labels written to the `part` column, one per input (`None` = no `part` column).
    pub labels: Option<Vec<String>>,
}

fn unify(paths: &[PathBuf], with_part: bool) -> Result<SchemaRef> {
    let mut fields: Vec<Field> = Vec::new();
    let mut first: Vec<PathBuf> = Vec::new();
    let schemas = paths
        .iter()
        .map(|p| io::parquet_schema(p))
        .collect::<Result<Vec<_>>>()?;
    for (p, s) in paths.iter().zip(&schemas) {
        for f in s.fields() {
            match fields.iter_mut().position(|g| g.name() == f.name()) {
                None => {
                    fields.push(f.as_ref().clone());
                    first.push(p.clone());
                }
                Some(i) => {
                    let g = &mut fields[i];
                    if g.data_type() == f.data_type() {
                        continue;
                    }
                    let numeric = |t: &DataType| matches!(t, DataType::Int64 | DataType::Float64);
                    if f.name() == DIFFICULTY && numeric(g.data_type()) && numeric(f.data_type()) {
                        *g = g.clone().with_data_type(DataType::Float64);
                        continue;
                    }
                    return Err(DataError::ColumnType {
                        path: p.clone(),
                        column: f.name().clone(),
                        expected: format!("{} (as in {})", g.data_type(), first[i].display()),
                        found: format!("{}", f.data_type()),
                    });
                }
            }
        }
    }
    // Columns absent from some input become nullable.
    for f in fields.iter_mut() {
        let everywhere = schemas.iter().all(|s| s.index_of(f.name()).is_ok());
        if !everywhere {
            *f = f.clone().with_nullable(true);
        }
    }
    // Canonical columns first, in canonical order.
    fields.sort_by_key(|f| {
        CANONICAL
            .iter()
            .position(|c| c == f.name())
            .unwrap_or(CANONICAL.len())
    });
    if with_part {
        if fields.iter().any(|f| f.name() == "part") {
            return Err(DataError::Param(
                "an input already has a `part` column: concat with `label = false`".into(),
            ));
        }
        fields.push(Field::new("part", DataType::Utf8, true));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Appends the datasets `inputs` into `dst`; returns the row count.
pub fn concat(
    inputs: &[PathBuf],
    dst: &Path,
    opts: &ConcatOptions,
    mut check: impl FnMut() -> Result<()>,
) -> Result<usize> {
    if inputs.is_empty() {
        return Err(DataError::Param("concat needs at least one input".into()));
    }
    if let Some(l) = &opts.labels
        && l.len() != inputs.len()
    {
        return Err(DataError::Param(format!(
            "{} labels for {} inputs",
            l.len(),
            inputs.len()
        )));
    }
    let schema = unify(inputs, opts.labels.is_some())?;
    let mut sink = ParquetSink::create(dst, schema.clone())?;
    let mut next_id = 0i64;
    let mut seen = HashSet::new();
    for (k, p) in inputs.iter().enumerate() {
        let err = |e: arrow::error::ArrowError| DataError::arrow(p, e);
        for batch in io::open_parquet(p, None)? {
            check()?;
            let batch = batch?;
            let n = batch.num_rows();
            let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
            for f in schema.fields() {
                let col: ArrayRef = if f.name() == "part" && opts.labels.is_some() {
                    let label = opts.labels.as_ref().map(|l| l[k].as_str()).unwrap_or("");
                    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(label, n)))
                } else if f.name() == ID && opts.renumber {
                    let a = Int64Array::from_iter_values(next_id..next_id + n as i64);
                    next_id += n as i64;
                    Arc::new(a)
                } else {
                    match batch.column_by_name(f.name()) {
                        Some(c) if c.data_type() == f.data_type() => c.clone(),
                        Some(c) => arrow::compute::cast(c, f.data_type()).map_err(err)?,
                        None => new_null_array(f.data_type(), n),
                    }
                };
                if f.name() == ID && !opts.renumber {
                    let ids = arrow::compute::cast(&col, &DataType::Int64).map_err(err)?;
                    for v in ids.as_primitive::<arrow::datatypes::Int64Type>().iter().flatten() {
                        if !seen.insert(v) {
                            return Err(DataError::invalid(
                                p,
                                format!("duplicate id {v} across inputs (concat with `ids = \"renumber\"`)"),
                            ));
                        }
                    }
                }
                cols.push(col);
            }
            let out = RecordBatch::try_new(schema.clone(), cols).map_err(err)?;
            sink.write(&out)?;
        }
    }
    sink.finish()
}

/// Writes dataset `src` to the user path `dst` (format explicit or from the extension);
/// fails with [`DataError::Exists`] if `dst` exists and `overwrite` is false.
pub fn export(src: &Path, dst: &Path, format: Option<Format>, overwrite: bool) -> Result<usize> {
    if dst.exists() && !overwrite {
        return Err(DataError::Exists {
            path: dst.to_path_buf(),
        });
    }
    if dst.is_dir() {
        return Err(DataError::invalid(dst, "is a directory; give a file path"));
    }
    if let Some(parent) = dst.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    let format = Format::resolve(dst, format);
    let file_name = dst
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    // A fresh temp file of our own (created exclusively, so a link planted under a
    // predictable name cannot redirect the bytes), renamed over `dst` when complete.
    let folder = dst
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".sieve-tmp")
        // The usual mode of a new file (0666 less the umask), not a temp file's 0600.
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(folder)
        .map_err(|e| DataError::io(folder, e))?
        .into_temp_path();
    let reader = io::open_parquet(src, None)?;
    let mut sink = Sink::create(&tmp, format, reader.schema())?;
    let rows = (|| {
        for batch in reader {
            sink.write(&batch?)?;
        }
        sink.finish()
    })()?;
    // On any error above, dropping `tmp` removes the temp file.
    tmp.persist(dst).map_err(|e| DataError::io(dst, e.error))?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::{col_i64, col_str, read_all, small_dataset, small_dataset_in_temp_dir};

    #[test]
    fn random_split_partitions_exactly() {
        let (dir, src) = small_dataset_in_temp_dir(1001);
        let (tr, te) = (dir.path().join("tr.parquet"), dir.path().join("te.parquet"));
        let m = SplitMode::Random { fraction: 0.8 };
        assert_eq!(split(&src, &tr, &m, Part::Train, 3, || Ok(())).unwrap().rows, 801);
        assert_eq!(split(&src, &te, &m, Part::Test, 3, || Ok(())).unwrap().rows, 200);
        let a: HashSet<i64> = col_i64(&read_all(&tr), "id").into_iter().flatten().collect();
        let b: HashSet<i64> = col_i64(&read_all(&te), "id").into_iter().flatten().collect();
        assert!(a.is_disjoint(&b));
        assert_eq!(a.len() + b.len(), 1001);
        let other = dir.path().join("o.parquet");
        split(&src, &other, &m, Part::Test, 4, || Ok(())).unwrap();
        let c: HashSet<i64> = col_i64(&read_all(&other), "id").into_iter().flatten().collect();
        assert_ne!(b, c);
        assert!(
            split(
                &src,
                &tr,
                &SplitMode::Random { fraction: 1.0 },
                Part::Train,
                3,
                || Ok(())
            )
            .is_err()
        );
    }

    #[test]
    fn values_and_holdout() {
        let (dir, src) = small_dataset_in_temp_dir(300);
        let dst = dir.path().join("o.parquet");
        let m = SplitMode::Values {
            column: "src".into(),
            values: vec!["b".into()],
        };
        split(&src, &dst, &m, Part::Test, 0, || Ok(())).unwrap();
        assert!(
            col_str(&read_all(&dst), "src")
                .iter()
                .all(|v| v.as_deref() == Some("b"))
        );
        let m = SplitMode::Holdout { lo: 6.0, hi: 8.0 };
        split(&src, &dst, &m, Part::Train, 0, || Ok(())).unwrap();
        assert!(
            col_i64(&read_all(&dst), "difficulty")
                .iter()
                .all(|v| v.is_none_or(|v| v < 6))
        );
        split(&src, &dst, &m, Part::Test, 0, || Ok(())).unwrap();
        assert!(
            col_i64(&read_all(&dst), "difficulty")
                .iter()
                .all(|v| v.is_some_and(|v| (6..=8).contains(&v)))
        );
        let e = split(
            &src,
            &dst,
            &SplitMode::Holdout { lo: 50.0, hi: 60.0 },
            Part::Test,
            0,
            || Ok(()),
        )
        .unwrap_err();
        assert!(e.to_string().contains("`test` part is empty"), "{e}");
        let m = SplitMode::Values {
            column: "nope".into(),
            values: vec![],
        };
        assert!(matches!(
            split(&src, &dst, &m, Part::Test, 0, || Ok(())),
            Err(DataError::MissingColumn { .. })
        ));
    }

    #[test]
    fn concat_unifies_and_export_refuses_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        small_dataset(&a, 10);
        // b: float difficulty and no `src` column.
        let mut tb = crate::data::schema::TableBuilder::new(crate::data::schema::ColType::Float, &[]);
        use crate::data::schema::{float, int, text};
        for i in 0..5 {
            tb.push(vec![int(i), text("p"), text("r"), text("a"), float(0.5)])
                .unwrap();
        }
        let batch = tb.finish().unwrap();
        let mut s = ParquetSink::create(&b, batch.schema()).unwrap();
        s.write(&batch).unwrap();
        s.finish().unwrap();
        let out = dir.path().join("c.parquet");
        let opts = ConcatOptions {
            renumber: true,
            labels: Some(vec!["x".into(), "y".into()]),
        };
        assert_eq!(
            concat(&[a.clone(), b.clone()], &out, &opts, || Ok(())).unwrap(),
            15
        );
        let c = read_all(&out);
        assert_eq!(col_i64(&c, "id"), (0..15).map(Some).collect::<Vec<_>>());
        assert_eq!(
            c.schema().field_with_name("difficulty").unwrap().data_type(),
            &DataType::Float64
        );
        assert_eq!(col_str(&c, "src")[12], None);
        assert_eq!(col_str(&c, "part")[12].as_deref(), Some("y"));
        let keep = ConcatOptions {
            renumber: false,
            labels: None,
        };
        let e = concat(
            &[a.clone(), a.clone()],
            &dir.path().join("dup.parquet"),
            &keep,
            || Ok(()),
        )
        .unwrap_err();
        assert!(e.to_string().contains("duplicate id 0"), "{e}");

        let dst = dir.path().join("sub/export.jsonl");
        assert_eq!(export(&out, &dst, None, false).unwrap(), 15);
        assert!(matches!(
            export(&out, &dst, None, false),
            Err(DataError::Exists { .. })
        ));
        assert_eq!(export(&out, &dst, None, true).unwrap(), 15);
        // The file gets the mode any new file would, and no temp file is left behind.
        use std::os::unix::fs::PermissionsExt;
        let plain = dir.path().join("sub/plain");
        std::fs::write(&plain, "").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&dst), mode(&plain));
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 2);
        let first = std::fs::read_to_string(&dst).unwrap();
        assert!(
            first.lines().next().unwrap().contains("\"part\":\"x\""),
            "{first}"
        );
        let pq = dir.path().join("export.parquet");
        export(&out, &pq, None, false).unwrap();
        assert_eq!(read_all(&pq).num_rows(), 15);
    }
}
