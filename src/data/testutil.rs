//! Test helpers: read a whole Parquet file into one batch and pull typed columns out.

use crate::data::schema::{Cell, ColType, TableBuilder, int, text, write_generated};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Float64Type, Int64Type};
use std::path::{Path, PathBuf};

/// The whole file as one batch.
pub fn read_all(path: &Path) -> RecordBatch {
    let (schema, batches) = super::io::read_parquet(path, None).unwrap();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

/// Column `name` of `b` cast to `to` (panics when there is no such column).
fn column_as(b: &RecordBatch, name: &str, to: &DataType) -> ArrayRef {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    arrow::compute::cast(c, to).unwrap()
}

/// A utf8 column as owned strings.
pub fn col_str(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let c = column_as(b, name, &DataType::Utf8);
    let a = c.as_string::<i32>();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect()
}

/// A numeric column as values of the primitive type `T`.
fn col_primitive<T: ArrowPrimitiveType>(b: &RecordBatch, name: &str) -> Vec<Option<T::Native>> {
    let c = column_as(b, name, &T::DATA_TYPE);
    let a = c.as_primitive::<T>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

/// An integer column.
pub fn col_i64(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    col_primitive::<Int64Type>(b, name)
}

/// A numeric column as f64.
pub fn col_f64(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    col_primitive::<Float64Type>(b, name)
}

/// A canonical dataset of `n` rows: ids 0, 10, 20…; prompts of `i % 7` chars `é`;
/// responses `x` × `i % 11` (null when `i % 5 == 0`); difficulty `i % 9` (null when
/// `i % 13 == 0`); `src` cycling a, b, c.
pub fn small_dataset(path: &Path, n: usize) {
    let b = TableBuilder::new(ColType::Int, &[("src", ColType::Str)]);
    write_generated(path, b, n, |i| {
        Ok(vec![
            int(i as i64 * 10),
            text("é".repeat(i % 7)),
            if i % 5 == 0 {
                Cell::Str(None)
            } else {
                text("x".repeat(i % 11))
            },
            text("a"),
            if i % 13 == 0 {
                Cell::Int(None)
            } else {
                int((i % 9) as i64)
            },
            text(["a", "b", "c"][i % 3]),
        ])
    })
    .unwrap();
}

/// A fresh temporary folder holding a [`small_dataset`] of `n` rows as `data.parquet`;
/// returns the folder's guard (the folder lasts as long as it) and the file's path.
pub fn small_dataset_in_temp_dir(n: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.parquet");
    small_dataset(&path, n);
    (dir, path)
}

/// Writes a word-level Hugging Face `tokenizer.json` (whitespace + punctuation
/// pre-tokenizer) into `dir` and returns its path.
pub fn word_tokenizer(dir: &Path) -> PathBuf {
    let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
        "normalizer":null,"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
        "model":{"type":"WordLevel","vocab":{"[UNK]":0,"a":1},"unk_token":"[UNK]"}}"#;
    let p = dir.join("tokenizer.json");
    std::fs::write(&p, json).unwrap();
    p
}
