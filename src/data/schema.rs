//! The canonical dataset columns (see the table in `data`'s module docs) and a row-wise
//! table builder that generators use to emit record batches of that schema.
//!
//! Invariant: [`TableBuilder`] always produces batches whose schema is exactly the one it
//! was created with (canonical columns first), so a stream of its batches can be written
//! to one Parquet file.

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, ListBuilder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::sync::Arc;

/// `id` column: int64, never null, unique.
pub const ID: &str = "id";
/// `prompt` column: utf8, never null.
pub const PROMPT: &str = "prompt";
/// `response` column: utf8, nullable.
pub const RESPONSE: &str = "response";
/// `answer` column: utf8, nullable.
pub const ANSWER: &str = "answer";
/// `difficulty` column: int64 or float64, nullable; higher = harder.
pub const DIFFICULTY: &str = "difficulty";
/// The canonical column names, in order.
pub const CANONICAL: [&str; 5] = [ID, PROMPT, RESPONSE, ANSWER, DIFFICULTY];

/// Rows per record batch when streaming (bounded memory on large files).
pub const BATCH_ROWS: usize = 8192;

/// The canonical fields with `difficulty` of the given type (int64 or float64).
pub fn canonical_fields(difficulty: DataType) -> Vec<Field> {
    vec![
        Field::new(ID, DataType::Int64, false),
        Field::new(PROMPT, DataType::Utf8, false),
        Field::new(RESPONSE, DataType::Utf8, true),
        Field::new(ANSWER, DataType::Utf8, true),
        Field::new(DIFFICULTY, difficulty, true),
    ]
}

/// The type of an extra column a generator emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Int,
    Float,
    Str,
    /// A list of strings (e.g. RULER's several gold answers).
    StrList,
}

impl ColType {
    fn data_type(self) -> DataType {
        match self {
            ColType::Int => DataType::Int64,
            ColType::Float => DataType::Float64,
            ColType::Str => DataType::Utf8,
            ColType::StrList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        }
    }
}

/// One cell of a generated row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Int(Option<i64>),
    Float(Option<f64>),
    Str(Option<String>),
    StrList(Vec<String>),
}

enum ColBuilder {
    Int(Int64Builder),
    Float(Float64Builder),
    Str(StringBuilder),
    StrList(ListBuilder<StringBuilder>),
}

impl ColBuilder {
    fn new(t: &DataType) -> Self {
        match t {
            DataType::Int64 => ColBuilder::Int(Int64Builder::new()),
            DataType::Float64 => ColBuilder::Float(Float64Builder::new()),
            DataType::List(_) => ColBuilder::StrList(ListBuilder::new(StringBuilder::new())),
            _ => ColBuilder::Str(StringBuilder::new()),
        }
    }

    fn push(&mut self, c: Cell) -> Result<(), String> {
        match (self, c) {
            (ColBuilder::Int(b), Cell::Int(v)) => b.append_option(v),
            (ColBuilder::Float(b), Cell::Float(v)) => b.append_option(v),
            (ColBuilder::Float(b), Cell::Int(v)) => b.append_option(v.map(|v| v as f64)),
            (ColBuilder::Str(b), Cell::Str(v)) => b.append_option(v),
            (ColBuilder::StrList(b), Cell::StrList(v)) => {
                for s in v {
                    b.values().append_value(s);
                }
                b.append(true);
            }
            (_, c) => return Err(format!("internal: cell {c:?} does not fit its column")),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Int(b) => Arc::new(b.finish()),
            ColBuilder::Float(b) => Arc::new(b.finish()),
            ColBuilder::Str(b) => Arc::new(b.finish()),
            ColBuilder::StrList(b) => Arc::new(b.finish()),
        }
    }
}

/// Builds canonical-schema record batches row by row.
pub struct TableBuilder {
    schema: SchemaRef,
    cols: Vec<ColBuilder>,
    rows: usize,
}

impl TableBuilder {
    /// A builder for the canonical columns (with `difficulty` of type `difficulty`)
    /// followed by `extras`.
    pub fn new(difficulty: ColType, extras: &[(&str, ColType)]) -> Self {
        let mut fields = canonical_fields(difficulty.data_type());
        fields.extend(extras.iter().map(|(n, t)| Field::new(*n, t.data_type(), true)));
        let schema = Arc::new(Schema::new(fields));
        let cols = schema
            .fields()
            .iter()
            .map(|f| ColBuilder::new(f.data_type()))
            .collect();
        TableBuilder {
            schema,
            cols,
            rows: 0,
        }
    }

    /// The schema of the batches this builder produces.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows buffered since the last [`TableBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row is buffered.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one row: the canonical cells then the extras, in schema order.
    pub fn push(&mut self, row: Vec<Cell>) -> Result<(), String> {
        if row.len() != self.cols.len() {
            return Err(format!(
                "internal: row has {} cells, schema has {}",
                row.len(),
                self.cols.len()
            ));
        }
        for (b, c) in self.cols.iter_mut().zip(row) {
            b.push(c)?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Emits the buffered rows as one batch and starts a new one.
    pub fn finish(&mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let arrays = self.cols.iter_mut().map(|b| b.finish()).collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}

/// Generates `n` rows with `row(i)` and streams them to a Parquet file at `path` in
/// batches of [`BATCH_ROWS`]; returns the row count.
pub fn write_generated(
    path: &std::path::Path,
    mut b: TableBuilder,
    n: usize,
    mut row: impl FnMut(usize) -> super::Result<Vec<Cell>>,
) -> super::Result<usize> {
    let mut sink = super::io::ParquetSink::create(path, b.schema())?;
    for i in 0..n {
        let cells = row(i)?;
        b.push(cells).map_err(|m| super::DataError::invalid(path, m))?;
        if b.len() == BATCH_ROWS {
            sink.write(&b.finish().map_err(|e| super::DataError::arrow(path, e))?)?;
        }
    }
    if !b.is_empty() || sink.rows() == 0 {
        sink.write(&b.finish().map_err(|e| super::DataError::arrow(path, e))?)?;
    }
    sink.finish()
}

/// Convenience constructors for cells.
pub fn int(v: i64) -> Cell {
    Cell::Int(Some(v))
}

/// A float cell.
pub fn float(v: f64) -> Cell {
    Cell::Float(Some(v))
}

/// A non-null string cell.
pub fn text(v: impl Into<String>) -> Cell {
    Cell::Str(Some(v.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_produces_canonical_schema() {
        let mut b = TableBuilder::new(
            ColType::Int,
            &[("ops", ColType::Int), ("answers", ColType::StrList)],
        );
        b.push(vec![
            int(0),
            text("p"),
            text("r"),
            text("a"),
            int(3),
            int(3),
            Cell::StrList(vec!["x".into()]),
        ])
        .unwrap();
        assert!(b.push(vec![int(0)]).is_err());
        let batch = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 1);
        let names: Vec<_> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(
            names,
            [
                "id",
                "prompt",
                "response",
                "answer",
                "difficulty",
                "ops",
                "answers"
            ]
        );
        assert!(b.is_empty());
    }
}
