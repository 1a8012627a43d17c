//! Training metric logs: one JSON object per logged step, appended to a JSONL file as
//! training goes (so an interrupted run keeps them) and converted to a Parquet table at
//! the end.
//!
//! Invariants: every row has an integer `step`; rows are in increasing `step` order;
//! after a resume the log is cut back to the checkpoint's step before appending, so the
//! final log has no duplicated or orphaned steps; values read back from the JSONL are the
//! exact floats that were written (serde_json's `float_roundtrip`), so a resumed run
//! writes the same bytes as an uninterrupted one. Parquet columns: `step` (int64) and
//! one nullable float64 column per metric name, in first-seen order.

use super::TrainError;
use arrow::array::{ArrayRef, Float64Array, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value as Json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An append-only metric log backed by a JSONL file (or memory only).
#[derive(Debug, Default)]
pub struct MetricsLog {
    path: Option<PathBuf>,
    rows: Vec<Map<String, Json>>,
}

impl MetricsLog {
    /// A log kept only in memory.
    pub fn in_memory() -> Self {
        MetricsLog::default()
    }

    /// Opens `path`, keeping the rows with `step ≤ keep_until` (all rows when None is
    /// given, none when the file does not exist) and rewriting the file with them.
    pub fn open(path: &Path, keep_until: Option<usize>) -> Result<Self, TrainError> {
        let mut rows = Vec::new();
        if let (Ok(text), Some(limit)) = (std::fs::read_to_string(path), keep_until) {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                // A torn last line (killed mid-write) is dropped.
                let Ok(Json::Object(row)) = serde_json::from_str::<Json>(line) else {
                    continue;
                };
                if row
                    .get("step")
                    .and_then(Json::as_u64)
                    .is_some_and(|s| s as usize <= limit)
                {
                    rows.push(row);
                }
            }
        }
        let mut text = String::new();
        for r in &rows {
            text.push_str(&Json::Object(r.clone()).to_string());
            text.push('\n');
        }
        std::fs::write(path, text).map_err(|e| TrainError::io(path, e))?;
        Ok(MetricsLog {
            path: Some(path.to_path_buf()),
            rows,
        })
    }

    /// Appends one row (`step` first).
    pub fn log(&mut self, step: usize, metrics: &[(&str, f64)]) -> Result<(), TrainError> {
        let mut row = Map::new();
        row.insert("step".into(), Json::from(step));
        for (k, v) in metrics {
            row.insert(
                (*k).to_string(),
                serde_json::Number::from_f64(*v)
                    .map(Json::Number)
                    .unwrap_or(Json::Null),
            );
        }
        if let Some(p) = &self.path {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(p)
                .map_err(|e| TrainError::io(p, e))?;
            writeln!(f, "{}", Json::Object(row.clone())).map_err(|e| TrainError::io(p, e))?;
        }
        self.rows.push(row);
        Ok(())
    }

    pub fn rows(&self) -> &[Map<String, Json>] {
        &self.rows
    }

    /// The last logged value of `name`.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.rows
            .iter()
            .rev()
            .find_map(|r| r.get(name).and_then(Json::as_f64))
    }

    /// Writes the JSONL text of all rows to `path`.
    pub fn write_jsonl(&self, path: &Path) -> Result<(), TrainError> {
        let mut text = String::new();
        for r in &self.rows {
            text.push_str(&Json::Object(r.clone()).to_string());
            text.push('\n');
        }
        std::fs::write(path, text).map_err(|e| TrainError::io(path, e))
    }

    /// Writes the rows as a Parquet table.
    pub fn write_parquet(&self, path: &Path) -> Result<(), TrainError> {
        let mut names: Vec<String> = Vec::new();
        for r in &self.rows {
            for k in r.keys() {
                if k != "step" && !names.contains(k) {
                    names.push(k.clone());
                }
            }
        }
        let mut fields = vec![Field::new("step", DataType::Int64, false)];
        let steps: Vec<i64> = self
            .rows
            .iter()
            .map(|r| r.get("step").and_then(Json::as_i64).unwrap_or(0))
            .collect();
        let mut cols: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(steps))];
        for n in &names {
            fields.push(Field::new(n, DataType::Float64, true));
            let vals: Vec<Option<f64>> = self
                .rows
                .iter()
                .map(|r| r.get(n).and_then(Json::as_f64))
                .collect();
            cols.push(Arc::new(Float64Array::from(vals)));
        }
        let m = |e: &dyn std::fmt::Display| TrainError::Metrics(e.to_string());
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| m(&e))?;
        let file = std::fs::File::create(path).map_err(|e| TrainError::io(path, e))?;
        let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).map_err(|e| m(&e))?;
        w.write(&batch).map_err(|e| m(&e))?;
        w.close().map_err(|e| m(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_truncates_and_parquet_writes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.jsonl");
        let mut log = MetricsLog::open(&p, None).unwrap();
        for s in 1..=5 {
            log.log(s, &[("loss", 1.0 / s as f64)]).unwrap();
        }
        log.log(6, &[("loss", 0.1), ("eval_loss", 0.2)]).unwrap();
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("{\"step\": 7, \"lo"); // torn write
        std::fs::write(&p, text).unwrap();
        let again = MetricsLog::open(&p, Some(3)).unwrap();
        assert_eq!(again.rows().len(), 3);
        assert_eq!(std::fs::read_to_string(&p).unwrap().lines().count(), 3);
        assert_eq!(log.last("eval_loss"), Some(0.2));
        log.write_parquet(&dir.path().join("m.parquet")).unwrap();
        assert!(dir.path().join("m.parquet").metadata().unwrap().len() > 100);
    }

    #[test]
    fn values_read_back_are_the_values_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.jsonl");
        let mut log = MetricsLog::open(&p, None).unwrap();
        // Values with long shortest representations, where a best-effort float parser
        // can be off by one unit in the last place.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for s in 1..=2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits((x >> 12) | 0x3FF0_0000_0000_0000) - 1.0;
            log.log(s, &[("loss", v * 10.0), ("lr", (v as f32) as f64 * 1e-3)])
                .unwrap();
        }
        let again = MetricsLog::open(&p, Some(2000)).unwrap();
        assert_eq!(again.rows(), log.rows());
    }
}
