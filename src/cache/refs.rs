//! Refs: per pipeline file, the key each stage instance last ran with (and the key of its
//! last failed attempt). They explain why a stage is stale (`plan` diffs the new key
//! material against the referenced entry's) and they are the roots `cache gc` keeps.
//!
//! Layout: `refs/<name>.<file hash>/<instance hash>.json`, where `<name>` is the pipeline
//! name made path-safe and `<file hash>` is 16 hex digits of blake3 over the canonical
//! path of the top-level pipeline file. Two files that declare the same pipeline name on
//! one store therefore keep separate refs, and neither file's runs move the other's roots.
//!
//! Stores written before refs were keyed by file hold `refs/<name>/<instance hash>.json`
//! (no `.` in the folder name: sanitised names never contain one). Such legacy refs are
//! never rewritten or deleted here: they stay gc roots (so an upgrade cannot delete an
//! entry another file still uses) and are read as a fallback for explanations until the
//! instance has run once under the new layout.
//!
//! Invariants: a ref file is replaced atomically and durably ([`durable::write_atomically`]);
//! a missing or unreadable ref means "no previous run", never an error.

use super::durable;
use super::store::Store;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Whose refs: one top-level pipeline file (its canonical path) and its pipeline name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefScope {
    pipeline: String,
    /// Canonical path of the pipeline file; empty for pipelines built in memory.
    file: String,
}

impl RefScope {
    pub fn new(pipeline: &str, file: Option<&Path>) -> RefScope {
        RefScope {
            pipeline: pipeline.to_string(),
            file: file.map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        }
    }

    /// The folder under `refs/` of this scope.
    fn dir_name(&self) -> String {
        let h = blake3::hash(self.file.as_bytes()).to_hex();
        format!("{}.{}", sanitize(&self.pipeline), &h[..16])
    }
}

/// One ref file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct StageRef {
    pipeline: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    file: String,
    instance: String,
    /// The key of the instance's latest result (none if it has only failed so far).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    /// The key of the instance's last failed attempt, when that came after `key`; its
    /// log in `failed/` is kept while this points at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failed: Option<String>,
}

/// Every key the refs of a store point at.
#[derive(Debug, Default)]
pub struct Roots {
    /// Latest results: entries `gc` keeps.
    pub keys: HashSet<String>,
    /// Last failed attempts: logs in `failed/` that `gc` keeps.
    pub failed: HashSet<String>,
}

fn instance_file(instance: &str) -> String {
    let h = blake3::hash(instance.as_bytes()).to_hex();
    format!("{}.json", &h[..20])
}

fn read(path: &Path) -> Option<StageRef> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

impl Store {
    fn refs_root(&self) -> PathBuf {
        self.root().join("refs")
    }

    fn ref_path(&self, scope: &RefScope, instance: &str) -> PathBuf {
        self.refs_root()
            .join(scope.dir_name())
            .join(instance_file(instance))
    }

    /// Where a store from before file-keyed refs kept this instance's ref.
    fn legacy_ref_path(&self, scope: &RefScope, instance: &str) -> PathBuf {
        self.refs_root()
            .join(sanitize(&scope.pipeline))
            .join(instance_file(instance))
    }

    /// The key this stage instance last ran (or was found cached) with.
    pub fn read_ref(&self, scope: &RefScope, instance: &str) -> Option<String> {
        match read(&self.ref_path(scope, instance)) {
            Some(r) => r.key,
            None => read(&self.legacy_ref_path(scope, instance)).and_then(|r| r.key),
        }
    }

    /// Records the latest result of a stage instance (a no-op when already recorded).
    pub fn record_result(&self, scope: &RefScope, instance: &str, key: &str) -> io::Result<()> {
        let path = self.ref_path(scope, instance);
        let old = read(&path);
        if old
            .as_ref()
            .is_some_and(|r| r.key.as_deref() == Some(key) && r.failed.is_none())
        {
            return Ok(());
        }
        self.write_ref(&path, scope, instance, Some(key.to_string()), None)
    }

    /// Records a failed attempt (keeping the latest result, so its entry stays a root).
    pub fn record_failure(&self, scope: &RefScope, instance: &str, key: &str) -> io::Result<()> {
        let path = self.ref_path(scope, instance);
        let previous = read(&path)
            .and_then(|r| r.key)
            .or_else(|| read(&self.legacy_ref_path(scope, instance)).and_then(|r| r.key));
        self.write_ref(&path, scope, instance, previous, Some(key.to_string()))
    }

    fn write_ref(
        &self,
        path: &Path,
        scope: &RefScope,
        instance: &str,
        key: Option<String>,
        failed: Option<String>,
    ) -> io::Result<()> {
        let body = StageRef {
            pipeline: scope.pipeline.clone(),
            file: scope.file.clone(),
            instance: instance.to_string(),
            key,
            failed,
        };
        durable::write_atomically(path, &serde_json::to_vec(&body).map_err(io::Error::other)?)
    }

    /// Every key any ref points at, legacy refs included.
    pub fn roots(&self) -> io::Result<Roots> {
        let mut roots = Roots::default();
        for dir in fs::read_dir(self.refs_root())? {
            let dir = dir?.path();
            if !dir.is_dir() {
                continue;
            }
            for f in fs::read_dir(&dir)? {
                let f = f?.path();
                if f.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                if let Some(r) = read(&f) {
                    roots.keys.extend(r.key);
                    roots.failed.extend(r.failed);
                }
            }
        }
        Ok(roots)
    }
}

/// A pipeline name made safe as one path component (no `.`, which separates the hash).
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::store::tests::temp_store;

    #[test]
    fn files_sharing_a_pipeline_name_keep_their_own_refs() {
        let (_dir, store) = temp_store();
        let a = RefScope::new("p", Some(Path::new("/x/a.sieve")));
        let b = RefScope::new("p", Some(Path::new("/y/a.sieve")));
        store.record_result(&a, "s", "ka").unwrap();
        store.record_result(&b, "s", "kb").unwrap();
        assert_eq!(store.read_ref(&a, "s").as_deref(), Some("ka"));
        assert_eq!(store.read_ref(&b, "s").as_deref(), Some("kb"));
        let roots = store.roots().unwrap();
        assert!(roots.keys.contains("ka") && roots.keys.contains("kb"));
    }

    #[test]
    fn failures_keep_the_last_result_and_are_cleared_by_the_next_one() {
        let (_dir, store) = temp_store();
        let s = RefScope::new("p", None);
        store.record_failure(&s, "x", "bad").unwrap();
        assert_eq!(store.read_ref(&s, "x"), None);
        store.record_result(&s, "x", "good").unwrap();
        store.record_failure(&s, "x", "bad2").unwrap();
        assert_eq!(store.read_ref(&s, "x").as_deref(), Some("good"));
        let roots = store.roots().unwrap();
        assert!(roots.keys.contains("good") && roots.failed.contains("bad2"));
        assert!(!roots.failed.contains("bad"));
        store.record_result(&s, "x", "good").unwrap();
        assert!(store.roots().unwrap().failed.is_empty());
    }

    #[test]
    fn legacy_refs_are_roots_and_explain_until_replaced() {
        let (dir, store) = temp_store();
        // The layout before refs were keyed by file: refs/<name>/<instance hash>.json.
        let legacy = dir.path().join("refs/p").join(instance_file("s"));
        fs::create_dir_all(legacy.parent().unwrap()).unwrap();
        fs::write(&legacy, r#"{"pipeline":"p","instance":"s","key":"old"}"#).unwrap();
        let scope = RefScope::new("p", Some(Path::new("/x/p.sieve")));
        assert_eq!(store.read_ref(&scope, "s").as_deref(), Some("old"));
        store.record_result(&scope, "s", "new").unwrap();
        assert_eq!(store.read_ref(&scope, "s").as_deref(), Some("new"));
        // The legacy ref is kept: another file of the same name may still rely on it.
        let roots = store.roots().unwrap();
        assert!(roots.keys.contains("old") && roots.keys.contains("new"));
    }
}
