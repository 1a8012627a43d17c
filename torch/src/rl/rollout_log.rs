//! The rollouts an RL run trained on, one row per sampled response: appended to a JSONL
//! file as training goes and written as `rollouts.parquet` at the end.
//!
//! Invariants: rows are in (step, group, sample) order; after a resume the file is cut
//! back to the checkpoint's step before appending, so the final table has no duplicated
//! or orphaned steps; floats read back from the JSONL are the exact values written
//! (serde_json's `float_roundtrip`), so a resumed run writes the same table as an
//! uninterrupted one. Nothing here depends on time or the machine.

use super::RlError;
use super::sampling::Group;
use crate::model::generate::Finish;
use crate::train::TrainError;
use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The name a finish reason has in the table (`evaluate`'s words).
pub fn finish_name(f: Finish) -> &'static str {
    match f {
        Finish::StopToken => "stop",
        Finish::StopString => "stop_string",
        Finish::Length => "length",
    }
}

/// One sampled response of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutRow {
    /// The RL step (1-based) that trained on it.
    pub step: u64,
    pub prompt_id: i64,
    /// The sample's index in its group.
    pub sample: u64,
    pub response: String,
    pub reward: f64,
    /// 0/1 correctness.
    pub acc: f64,
    pub advantage: f64,
    /// Generated tokens (a final stop id included).
    pub length: u64,
    pub finish: String,
}

impl RolloutRow {
    /// The rows of `groups` at `step`, with one advantage per sample in group order.
    pub fn of_step(step: usize, groups: &[Group], advantages: &[f64]) -> Vec<RolloutRow> {
        let mut adv = advantages.iter();
        let mut rows = Vec::new();
        for g in groups {
            for (j, s) in g.samples.iter().enumerate() {
                rows.push(RolloutRow {
                    step: step as u64,
                    prompt_id: g.prompt_id as i64,
                    sample: j as u64,
                    response: s.text.clone(),
                    reward: s.score.reward,
                    acc: s.score.acc,
                    advantage: adv.next().copied().unwrap_or(f64::NAN),
                    length: s.tokens.len() as u64,
                    finish: finish_name(s.finish).to_string(),
                });
            }
        }
        rows
    }
}

/// An append-only rollout log backed by a JSONL file (or memory only).
#[derive(Debug, Default)]
pub struct RolloutLog {
    path: Option<PathBuf>,
    rows: Vec<RolloutRow>,
}

impl RolloutLog {
    pub fn in_memory() -> Self {
        RolloutLog::default()
    }

    /// Opens `path`, keeping the rows with `step ≤ keep_until` (none when the file does
    /// not exist) and rewriting the file with them.
    pub fn open(path: &Path, keep_until: usize) -> Result<Self, RlError> {
        let rows: Vec<RolloutRow> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            // A torn last line (killed mid-write) does not parse and is dropped.
            .filter_map(|l| serde_json::from_str::<RolloutRow>(l).ok())
            .filter(|r| r.step as usize <= keep_until)
            .collect();
        let mut log = RolloutLog {
            path: Some(path.to_path_buf()),
            rows: Vec::new(),
        };
        std::fs::write(path, "").map_err(|e| TrainError::io(path, e))?;
        log.append(rows)?;
        Ok(log)
    }

    pub fn append(&mut self, rows: Vec<RolloutRow>) -> Result<(), RlError> {
        if let Some(p) = &self.path {
            let mut text = String::new();
            for r in &rows {
                text.push_str(&serde_json::to_string(r).map_err(|e| RlError::Invalid(e.to_string()))?);
                text.push('\n');
            }
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(p)
                .map_err(|e| TrainError::io(p, e))?;
            f.write_all(text.as_bytes()).map_err(|e| TrainError::io(p, e))?;
        }
        self.rows.extend(rows);
        Ok(())
    }

    pub fn rows(&self) -> &[RolloutRow] {
        &self.rows
    }

    /// Writes the rows as a Parquet table (`step`, `prompt_id`, `sample`, `response`,
    /// `reward`, `acc`, `advantage`, `length`, `finish`).
    pub fn write_parquet(&self, path: &Path) -> Result<(), RlError> {
        let r = &self.rows;
        let int = |f: fn(&RolloutRow) -> i64| {
            Arc::new(Int64Array::from(r.iter().map(f).collect::<Vec<_>>())) as ArrayRef
        };
        let float = |f: fn(&RolloutRow) -> f64| {
            Arc::new(Float64Array::from(r.iter().map(f).collect::<Vec<_>>())) as ArrayRef
        };
        let text = |f: fn(&RolloutRow) -> &str| {
            Arc::new(StringArray::from(r.iter().map(f).collect::<Vec<_>>())) as ArrayRef
        };
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("step", int(|x| x.step as i64)),
            ("prompt_id", int(|x| x.prompt_id)),
            ("sample", int(|x| x.sample as i64)),
            ("response", text(|x| &x.response)),
            ("reward", float(|x| x.reward)),
            ("acc", float(|x| x.acc)),
            ("advantage", float(|x| x.advantage)),
            ("length", int(|x| x.length as i64)),
            ("finish", text(|x| &x.finish)),
        ];
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
                .collect::<Vec<_>>(),
        ));
        let m = |e: &dyn std::fmt::Display| RlError::from(TrainError::Metrics(e.to_string()));
        let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect())
            .map_err(|e| m(&e))?;
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

    fn row(step: u64, reward: f64) -> RolloutRow {
        RolloutRow {
            step,
            prompt_id: 3,
            sample: 0,
            response: "4".into(),
            reward,
            acc: 1.0,
            advantage: 0.1 + 0.2,
            length: 2,
            finish: "stop".into(),
        }
    }

    #[test]
    fn resume_cuts_back_and_floats_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.jsonl");
        let mut log = RolloutLog::open(&p, 0).unwrap();
        log.append(vec![row(1, 1.0 / 3.0), row(2, 0.5), row(3, 0.7)])
            .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"step\": 4, \"pro")
            .unwrap();
        let back = RolloutLog::open(&p, 2).unwrap();
        assert_eq!(back.rows(), &[row(1, 1.0 / 3.0), row(2, 0.5)]);
        let again = RolloutLog::open(&p, 9).unwrap();
        assert_eq!(again.rows(), back.rows());
        let out = dir.path().join("r.parquet");
        again.write_parquet(&out).unwrap();
        let t = sieve::stages::columns::read_columns(&out, &["response", "finish"], &[]).unwrap();
        assert_eq!(t.len(), 2);
    }
}
