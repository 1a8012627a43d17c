//! Streaming Parquet / JSONL IO: readers yield record batches of at most
//! [`BATCH_ROWS`] rows (memory stays bounded on large files), writers take batches.
//!
//! Invariants: every Parquet file sieve writes uses [`writer_properties`] (fixed
//! compression, row-group size and `created_by`, no timestamps or other varying
//! metadata), so identical rows give identical bytes; readers turn every failure into a
//! [`DataError`] naming the file.

use super::schema::BATCH_ROWS;
use super::{DataError, Result, unknown_choice};
use arrow::array::{RecordBatch, RecordBatchReader};
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per Parquet row group in files sieve writes.
pub const ROW_GROUP_ROWS: usize = 65_536;

/// On-disk formats sieve reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// Parses `parquet` / `jsonl` (`json`, `ndjson` accepted); `auto` → `None`.
    pub fn parse(s: &str) -> Result<Option<Format>> {
        match s {
            "auto" | "" => Ok(None),
            "parquet" | "pq" => Ok(Some(Format::Parquet)),
            "jsonl" | "json" | "ndjson" => Ok(Some(Format::Jsonl)),
            other => Err(unknown_choice("format", other, "auto, parquet or jsonl")),
        }
    }

    /// The format named by `explicit`, else guessed from the extension (Parquet when
    /// unknown; a Parquet reader then reports a clear error if it is not Parquet).
    pub fn resolve(path: &Path, explicit: Option<Format>) -> Format {
        if let Some(f) = explicit {
            return f;
        }
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jsonl" | "json" | "ndjson") => Format::Jsonl,
            _ => Format::Parquet,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Parquet => "Parquet",
            Format::Jsonl => "JSONL",
        }
    }
}

/// Fails with [`DataError::NotFound`] unless `path` is an existing file.
pub fn check_file(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(DataError::invalid(path, "is a directory, not a data file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DataError::NotFound {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(DataError::io(path, e)),
    }
}

enum Inner {
    Parquet(ParquetRecordBatchReader),
    Jsonl(arrow::json::reader::Reader<BufReader<File>>),
}

/// A streaming reader of record batches from one Parquet or JSONL file.
pub struct BatchReader {
    path: PathBuf,
    format: Format,
    schema: SchemaRef,
    rows: Option<usize>,
    /// Rows returned so far (locates a JSONL decoding error).
    rows_read: usize,
    inner: Inner,
}

impl BatchReader {
    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The row count when the format records it (Parquet), else `None`.
    pub fn num_rows(&self) -> Option<usize> {
        self.rows
    }
}

impl Iterator for BatchReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = match &mut self.inner {
            Inner::Parquet(r) => r.next(),
            Inner::Jsonl(r) => r.next(),
        };
        next.map(|r| match r {
            Ok(batch) => {
                self.rows_read += batch.num_rows();
                Ok(batch)
            }
            Err(e) => Err(DataError::Unreadable {
                path: self.path.clone(),
                format: self.format.name(),
                msg: match self.format {
                    Format::Jsonl => super::jsonl::locate_decode_error(
                        &self.path,
                        &self.schema,
                        self.rows_read,
                        &e.to_string(),
                    ),
                    Format::Parquet => e.to_string(),
                },
            }),
        })
    }
}

/// Opens a Parquet or JSONL file (format from `format`, else from the extension).
pub fn open(path: &Path, format: Option<Format>) -> Result<BatchReader> {
    match Format::resolve(path, format) {
        Format::Parquet => open_parquet(path, None),
        Format::Jsonl => open_jsonl(path),
    }
}

fn parquet_builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    check_file(path)?;
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| DataError::Unreadable {
        path: path.to_path_buf(),
        format: "Parquet",
        msg: e.to_string(),
    })
}

/// Opens a Parquet file, reading only the named top-level columns when `columns` is
/// given (each must exist).
pub fn open_parquet(path: &Path, columns: Option<&[&str]>) -> Result<BatchReader> {
    let mut builder = parquet_builder(path)?.with_batch_size(BATCH_ROWS);
    let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    if let Some(cols) = columns {
        let schema = builder.schema().clone();
        let mut idx = Vec::with_capacity(cols.len());
        for c in cols {
            idx.push(schema.index_of(c).map_err(|_| missing_column(path, c, &schema))?);
        }
        idx.sort_unstable();
        let mask = ProjectionMask::roots(builder.parquet_schema(), idx);
        builder = builder.with_projection(mask);
    }
    let reader = builder.build().map_err(|e| DataError::Unreadable {
        path: path.to_path_buf(),
        format: "Parquet",
        msg: e.to_string(),
    })?;
    Ok(BatchReader {
        path: path.to_path_buf(),
        format: Format::Parquet,
        schema: reader.schema(),
        rows: Some(rows),
        rows_read: 0,
        inner: Inner::Parquet(reader),
    })
}

/// Builds the "column is missing" error listing what is there.
pub fn missing_column(path: &Path, column: &str, schema: &arrow::datatypes::Schema) -> DataError {
    let available = schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ");
    DataError::MissingColumn {
        path: path.to_path_buf(),
        column: column.to_string(),
        available,
    }
}

/// Opens a JSONL file; the schema is inferred from all lines first (one streaming pass,
/// see [`super::jsonl`] for the column order and the line numbers in errors).
pub fn open_jsonl(path: &Path) -> Result<BatchReader> {
    check_file(path)?;
    let schema = Arc::new(super::jsonl::infer_schema(path)?);
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let reader = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(BATCH_ROWS)
        .build(BufReader::new(file))
        .map_err(|e| DataError::Unreadable {
            path: path.to_path_buf(),
            format: "JSONL",
            msg: e.to_string(),
        })?;
    Ok(BatchReader {
        path: path.to_path_buf(),
        format: Format::Jsonl,
        schema,
        rows: None,
        rows_read: 0,
        inner: Inner::Jsonl(reader),
    })
}

/// The row count recorded in a Parquet file's footer (no data read).
pub fn parquet_num_rows(path: &Path) -> Result<usize> {
    let b = parquet_builder(path)?;
    Ok(usize::try_from(b.metadata().file_metadata().num_rows()).unwrap_or(0))
}

/// The Arrow schema of a Parquet file (no data read).
pub fn parquet_schema(path: &Path) -> Result<SchemaRef> {
    Ok(parquet_builder(path)?.schema().clone())
}

/// Reads a whole Parquet file (optionally only some columns) into memory.
pub fn read_parquet(path: &Path, columns: Option<&[&str]>) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let reader = open_parquet(path, columns)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>>>()?;
    Ok((schema, batches))
}

/// The fixed writer properties of every Parquet file sieve writes.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_created_by(format!("sieve {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A Parquet file being written batch by batch.
pub struct ParquetSink {
    path: PathBuf,
    writer: ArrowWriter<BufWriter<File>>,
    rows: usize,
}

impl ParquetSink {
    /// Creates (truncates) `path` for batches of `schema`.
    pub fn create(path: &Path, schema: SchemaRef) -> Result<Self> {
        let file = File::create(path).map_err(|e| DataError::io(path, e))?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            schema,
            Some(writer_properties()),
        )
        .map_err(|e| DataError::arrow(path, e))?;
        Ok(ParquetSink {
            path: path.to_path_buf(),
            writer,
            rows: 0,
        })
    }

    /// Appends a batch (its schema must be the sink's).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows();
        self.writer
            .write(batch)
            .map_err(|e| DataError::arrow(&self.path, e))
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Writes the footer and flushes; returns the row count.
    pub fn finish(self) -> Result<usize> {
        let path = self.path;
        let mut inner = self.writer.into_inner().map_err(|e| DataError::arrow(&path, e))?;
        std::io::Write::flush(&mut inner).map_err(|e| DataError::io(&path, e))?;
        Ok(self.rows)
    }
}

/// A JSONL file being written batch by batch (nulls written explicitly as `null`).
pub struct JsonlSink {
    path: PathBuf,
    writer: arrow::json::LineDelimitedWriter<BufWriter<File>>,
    rows: usize,
}

impl JsonlSink {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| DataError::io(path, e))?;
        let writer = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::LineDelimited>(BufWriter::new(file));
        Ok(JsonlSink {
            path: path.to_path_buf(),
            writer,
            rows: 0,
        })
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows();
        self.writer
            .write(batch)
            .map_err(|e| DataError::arrow(&self.path, e))
    }

    /// Flushes; returns the row count.
    pub fn finish(mut self) -> Result<usize> {
        self.writer
            .finish()
            .map_err(|e| DataError::arrow(&self.path, e))?;
        let mut inner = self.writer.into_inner();
        std::io::Write::flush(&mut inner).map_err(|e| DataError::io(&self.path, e))?;
        Ok(self.rows)
    }
}

/// A sink in either format.
pub enum Sink {
    Parquet(ParquetSink),
    Jsonl(JsonlSink),
}

impl Sink {
    /// Creates `path` in `format` for batches of `schema`.
    pub fn create(path: &Path, format: Format, schema: SchemaRef) -> Result<Self> {
        Ok(match format {
            Format::Parquet => Sink::Parquet(ParquetSink::create(path, schema)?),
            Format::Jsonl => Sink::Jsonl(JsonlSink::create(path)?),
        })
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Sink::Parquet(s) => s.write(batch),
            Sink::Jsonl(s) => s.write(batch),
        }
    }

    /// Finishes the file; returns the row count.
    pub fn finish(self) -> Result<usize> {
        match self {
            Sink::Parquet(s) => s.finish(),
            Sink::Jsonl(s) => s.finish(),
        }
    }
}

/// Places a copy of the immutable file `src` at `dst`: a hard link when both are on one
/// filesystem (cache entries never change after commit), else a byte copy.
pub fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    check_file(src)?;
    if dst.exists() {
        std::fs::remove_file(dst).map_err(|e| DataError::io(dst, e))?;
    }
    if std::fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    std::fs::copy(src, dst).map_err(|e| DataError::io(dst, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::schema::{ColType, TableBuilder, int, text};

    fn batch(n: i64) -> RecordBatch {
        let mut b = TableBuilder::new(ColType::Int, &[]);
        for i in 0..n {
            b.push(vec![
                int(i),
                text(format!("p{i}")),
                text("r"),
                text("a"),
                int(i % 3),
            ])
            .unwrap();
        }
        b.finish().unwrap()
    }

    #[test]
    fn parquet_round_trip_is_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str| {
            let p = dir.path().join(name);
            let b = batch(100);
            let mut s = ParquetSink::create(&p, b.schema()).unwrap();
            s.write(&b).unwrap();
            assert_eq!(s.finish().unwrap(), 100);
            std::fs::read(p).unwrap()
        };
        assert_eq!(write("a.parquet"), write("b.parquet"));
        let p = dir.path().join("a.parquet");
        assert_eq!(parquet_num_rows(&p).unwrap(), 100);
        let (_, bs) = read_parquet(&p, Some(&["prompt"])).unwrap();
        assert_eq!(bs[0].num_columns(), 1);
        assert!(matches!(
            read_parquet(&p, Some(&["nope"])),
            Err(DataError::MissingColumn { .. })
        ));
    }

    #[test]
    fn jsonl_round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        let mut s = JsonlSink::create(&p).unwrap();
        s.write(&batch(5)).unwrap();
        s.finish().unwrap();
        let rows: usize = open(&p, None).unwrap().map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 5);
        let missing = dir.path().join("missing.parquet");
        assert!(matches!(open(&missing, None), Err(DataError::NotFound { .. })));
        std::fs::write(dir.path().join("bad.parquet"), b"not parquet").unwrap();
        let e = open(&dir.path().join("bad.parquet"), None).err().unwrap();
        assert!(matches!(e, DataError::Unreadable { .. }), "{e}");
        std::fs::write(dir.path().join("bad.jsonl"), b"{\"a\": 1}\n{oops\n").unwrap();
        let e = open(&dir.path().join("bad.jsonl"), None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("bad.jsonl: not a readable JSONL file: line 2, column 2"),
            "{e}"
        );
        // A value that only fails while decoding, in the second batch: still its line.
        let mut text = "{\"a\": \"x\"}\n".repeat(BATCH_ROWS + 10);
        text.push_str("{\"a\": 7}\n");
        std::fs::write(dir.path().join("late.jsonl"), text).unwrap();
        let e = open(&dir.path().join("late.jsonl"), None)
            .unwrap()
            .find_map(|b| b.err())
            .unwrap()
            .to_string();
        assert!(e.contains(&format!("line {}: ", BATCH_ROWS + 11)), "{e}");
    }
}
