//! `<pipeline>.lock`: every stage instance's key, key material and output digest after a
//! run. Sharing a recipe = sharing the pipeline file and its lock; `sieve run --locked`
//! refuses to run anything whose key would differ (saying what differs, by diffing the
//! key material against the locked one: `exec::locked`) and fails if a recomputed
//! output's digest differs. This module owns the file format only.
//!
//! Locks written before the key material was recorded have no `material`; they are still
//! read, and a refusal then can only say that the key differs.
//!
//! The lock sits beside the pipeline file and is named after its stem
//! (`difficulty_budget.sieve` → `difficulty_budget.lock`), so a DSL file and its YAML twin,
//! which lower to the same IR, share one lock.

use super::durable;
use super::key::KeyMaterial;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The lock file's contents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockFile {
    pub pipeline: String,
    /// One record per stage instance, by instance name.
    pub stages: BTreeMap<String, LockedStage>,
}

/// What a stage instance is pinned to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedStage {
    pub kind: String,
    pub key: String,
    pub digest: String,
    /// What the key was computed from (absent in locks from older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<KeyMaterial>,
}

/// The lock path of a pipeline file.
pub fn lock_path(pipeline_file: &Path) -> PathBuf {
    let stem = pipeline_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pipeline".into());
    pipeline_file.with_file_name(format!("{stem}.lock"))
}

impl LockFile {
    /// Reads a lock file; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> io::Result<Option<LockFile>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes atomically and durably (temp file + rename), pretty-printed for readable
    /// diffs: one stage per block, one parameter per line.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        text.push('\n');
        durable::write_atomically(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_share_a_lock_and_round_trip() {
        assert_eq!(
            lock_path(Path::new("p/a.sieve")),
            lock_path(Path::new("p/a.yaml"))
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.lock");
        assert_eq!(LockFile::read(&path).unwrap(), None);
        let mut lf = LockFile {
            pipeline: "a".into(),
            ..Default::default()
        };
        lf.stages.insert(
            "s".into(),
            LockedStage {
                kind: "k".into(),
                key: "1".into(),
                digest: "2".into(),
                material: Some(material(3e-4)),
            },
        );
        lf.write(&path).unwrap();
        assert_eq!(LockFile::read(&path).unwrap(), Some(lf));
    }

    fn material(lr: f64) -> KeyMaterial {
        KeyMaterial {
            kind: "sft".into(),
            version: 1,
            params: [("lr".to_string(), crate::value::Value::Float(lr))].into(),
            inputs: vec![],
            env: Default::default(),
            files: Default::default(),
            input_names: false,
        }
    }
}
