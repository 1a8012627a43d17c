//! Dataset columns as text, for stages that feed rows to a model (`sft`, `evaluate`,
//! model-based `score`): the named columns of a Parquet dataset artifact cast to strings,
//! with the row ids.
//!
//! Invariants: a missing required column is an input error naming the file and the
//! columns it has; rows keep the file's order; ids come from the `id` column, else the
//! row number.

use super::StageError;
use std::collections::BTreeMap;
use std::path::Path;

/// Columns of a dataset artifact as text (`None` = null), plus the `id` column.
pub struct Columns {
    pub ids: Vec<i64>,
    pub cols: BTreeMap<String, Vec<Option<String>>>,
}

impl Columns {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// A column read by [`read_columns`] (empty when it was optional and absent).
    pub fn get(&self, name: &str) -> &[Option<String>] {
        self.cols.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Reads `required` and (when present) `optional` columns of a Parquet dataset as text;
/// ids come from the `id` column (row numbers when absent).
pub fn read_columns(path: &Path, required: &[&str], optional: &[&str]) -> Result<Columns, StageError> {
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::DataType;
    let (schema, batches) =
        crate::data::io::read_parquet(path, None).map_err(|e| StageError::Input(e.to_string()))?;
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    for r in required {
        if !names.iter().any(|n| n == r) {
            return Err(StageError::Input(format!(
                "{}: column `{r}` is missing (columns: {})",
                path.display(),
                names.join(", ")
            )));
        }
    }
    let mut out = Columns {
        ids: Vec::new(),
        cols: BTreeMap::new(),
    };
    let wanted: Vec<&str> = required
        .iter()
        .chain(optional)
        .copied()
        .filter(|c| names.iter().any(|n| n == c))
        .collect();
    for b in &batches {
        let start = out.ids.len() as i64;
        match b
            .column_by_name("id")
            .and_then(|c| arrow::compute::cast(c, &DataType::Int64).ok())
        {
            Some(ids) => {
                let ids = ids
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .cloned()
                    .unwrap_or_else(|| Int64Array::from(vec![0; 0]));
                for i in 0..b.num_rows() {
                    out.ids.push(if ids.len() > i && ids.is_valid(i) {
                        ids.value(i)
                    } else {
                        start + i as i64
                    });
                }
            }
            None => out.ids.extend((0..b.num_rows() as i64).map(|i| start + i)),
        }
        for c in &wanted {
            let col = b
                .column_by_name(c)
                .ok_or_else(|| StageError::Input(format!("column `{c}` vanished")))?;
            let text = arrow::compute::cast(col, &DataType::Utf8).map_err(|e| {
                StageError::Input(format!("{}: column `{c}` is not text-like: {e}", path.display()))
            })?;
            let text = text
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| StageError::Input(format!("column `{c}` could not be read as text")))?;
            let v = out.cols.entry(c.to_string()).or_default();
            v.extend((0..text.len()).map(|i| text.is_valid(i).then(|| text.value(i).to_string())));
        }
    }
    Ok(out)
}
