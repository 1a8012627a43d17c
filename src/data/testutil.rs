//! Test helpers: read a whole Parquet file into one batch and pull typed columns out.

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
