//! Test helpers: read a whole Parquet file into one batch and pull typed columns out.

use crate::data::schema::{Cell, ColType, TableBuilder, int, text, write_generated};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use std::path::Path;

/// The whole file as one batch.
pub fn read_all(path: &Path) -> RecordBatch {
    let (schema, batches) = super::io::read_parquet(path, None).unwrap();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

/// A utf8 column as owned strings.
pub fn col_str(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    let c = arrow::compute::cast(c, &DataType::Utf8).unwrap();
    let a = c.as_string::<i32>();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect()
}

/// An integer column.
pub fn col_i64(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    let c = arrow::compute::cast(c, &DataType::Int64).unwrap();
    let a = c.as_primitive::<Int64Type>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

/// A numeric column as f64.
pub fn col_f64(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    let c = arrow::compute::cast(c, &DataType::Float64).unwrap();
    let a = c.as_primitive::<Float64Type>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
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

/// Writes a word-level Hugging Face `tokenizer.json` (whitespace + punctuation
/// pre-tokenizer) into `dir` and returns its path.
pub fn word_tokenizer(dir: &Path) -> std::path::PathBuf {
    let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
        "normalizer":null,"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
        "model":{"type":"WordLevel","vocab":{"[UNK]":0,"a":1},"unk_token":"[UNK]"}}"#;
    let p = dir.join("tokenizer.json");
    std::fs::write(&p, json).unwrap();
    p
}
