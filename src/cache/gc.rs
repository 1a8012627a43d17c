//! `sieve cache gc`: removes what no run needs any more.
//!
//! | folder | removed when |
//! |---|---|
//! | `tmp/<key>.…`, `work/<key>` | the key's lock is free (no process is computing it) |
//! | `entries/<key>` | no ref points at it (unless `keep_unreferenced`), or it has no readable manifest |
//! | `quarantine/…` | always (damaged entries kept for inspection until the next gc) |
//! | `failed/<key>` | the key now has an entry, or no ref records it as a last failed attempt |
//! | `locks/<key>.lock` | the key's lock is free and it has no `tmp/` or `work/` folder |
//! | `digests/…` | the input file it describes is gone or changed |
//!
//! Invariants: gc deletes an entry, temp/work folder, failed log or lock file only while
//! holding the key's exclusive lock, taken with try-lock; a key whose lock is held (a run
//! computing it, or a running stage reading it under a shared lock) is skipped, never
//! waited for or deleted. Whether an entry or failure log is referenced is decided from
//! refs read after its lock is taken, since runs write those refs under the lock.

use super::store::{KeyLock, Store, dir_size};
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;

/// What a gc removed (or, dry, would remove).
#[derive(Debug, Default)]
pub struct GcReport {
    /// Folders, as `entries/<key>`, `tmp/<name>`, … relative to the store.
    pub removed: Vec<String>,
    /// Bytes in the removed folders.
    pub bytes: u64,
    /// Lock files of free keys.
    pub lock_files: usize,
    /// Memoised digests of input files that are gone or changed.
    pub digest_records: usize,
    /// Unreferenced entries left alone because a process holds their lock.
    pub busy: Vec<String>,
}

/// How many keys gc locks at a time (each lock is an open file).
const LOCKS_AT_ONCE: usize = 256;

/// Keys whose lock gc took, with the locks (held until dropped).
type Held = Vec<(String, KeyLock)>;

fn names(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    match fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                out.push(e?.file_name().to_string_lossy().into_owned());
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    out.sort();
    Ok(out)
}

impl Store {
    /// Try-locks each key: (the locks taken, the keys found busy). Refs are read again
    /// after this, because a run writes the ref of a key it commits (or fails) while it
    /// still holds the key's lock: with the lock in hand, every such ref is on disk.
    fn lock_all(&self, keys: &[String]) -> io::Result<(Held, Vec<String>)> {
        let (mut held, mut busy) = (Vec::new(), Vec::new());
        for key in keys {
            match self.try_lock(key)? {
                Some(lock) => held.push((key.clone(), lock)),
                None => busy.push(key.clone()),
            }
        }
        Ok((held, busy))
    }

    /// Removes leftovers of interrupted runs, damaged and (unless `keep_unreferenced`)
    /// unreferenced entries, stale failure logs, free lock files and stale digest records.
    pub fn gc(&self, keep_unreferenced: bool, dry_run: bool) -> io::Result<GcReport> {
        let mut report = GcReport::default();
        let root = self.root().to_path_buf();
        let remove = |report: &mut GcReport, rel: String, _lock: Option<KeyLock>| -> io::Result<()> {
            let path = root.join(&rel);
            report.bytes += dir_size(&path);
            if !dry_run {
                fs::remove_dir_all(&path)?;
            }
            report.removed.push(rel);
            Ok(())
        };
        let key_of = |name: &str| name.split('.').next().unwrap_or_default().to_string();

        for sub in ["tmp", "work"] {
            for name in names(&root.join(sub))? {
                // A free lock means no process is computing this key right now.
                if let Some(lock) = self.try_lock(&key_of(&name))? {
                    remove(&mut report, format!("{sub}/{name}"), Some(lock))?;
                }
            }
        }

        let roots = self.roots()?;
        let mut unreferenced = Vec::new();
        for key in names(&root.join("entries"))? {
            if self.get(&key).is_none() {
                // Not an entry (no readable manifest): nothing can refer to it.
                match self.try_lock(&key)? {
                    Some(lock) => remove(&mut report, format!("entries/{key}"), Some(lock))?,
                    None => report.busy.push(format!("entries/{key}")),
                }
            } else if !keep_unreferenced && !roots.keys.contains(&key) {
                unreferenced.push(key);
            }
        }
        for chunk in unreferenced.chunks(LOCKS_AT_ONCE) {
            let (held, busy) = self.lock_all(chunk)?;
            report
                .busy
                .extend(busy.into_iter().map(|k| format!("entries/{k}")));
            let roots = self.roots()?;
            for (key, lock) in held {
                if !roots.keys.contains(&key) {
                    remove(&mut report, format!("entries/{key}"), Some(lock))?;
                }
            }
        }

        for name in names(&root.join("quarantine"))? {
            remove(&mut report, format!("quarantine/{name}"), None)?;
        }

        let stale_logs: Vec<String> = names(&root.join("failed"))?
            .into_iter()
            .filter(|key| self.contains(key) || !roots.failed.contains(key))
            .collect();
        for chunk in stale_logs.chunks(LOCKS_AT_ONCE) {
            let (held, _busy) = self.lock_all(chunk)?;
            let roots = self.roots()?;
            for (key, lock) in held {
                if self.contains(&key) || !roots.failed.contains(&key) {
                    remove(&mut report, format!("failed/{key}"), Some(lock))?;
                }
            }
        }

        let mut in_progress: HashSet<String> = HashSet::new();
        for sub in ["tmp", "work"] {
            in_progress.extend(names(&root.join(sub))?.iter().map(|n| key_of(n)));
        }
        for name in names(&root.join("locks"))? {
            let Some(key) = name.strip_suffix(".lock") else {
                continue;
            };
            if in_progress.contains(key) {
                continue;
            }
            if let Some(lock) = self.try_lock(key)? {
                if !dry_run {
                    // Removed while held: see `Store::acquire` for why that is safe.
                    lock.remove_file()?;
                }
                report.lock_files += 1;
            }
        }

        report.digest_records = self.gc_digests(dry_run)?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::refs::RefScope;
    use crate::cache::store::tests::{committed, temp_store};

    #[test]
    fn removes_leftovers_and_unreferenced_entries_and_keeps_referenced_ones() {
        let (_dir, store) = temp_store();
        let _left = store.begin("k2").unwrap(); // an interrupted attempt
        committed(&store, "k3", &[]);
        committed(&store, "k4", &[("a", b"1")]);
        let scope = RefScope::new("p", None);
        store.record_result(&scope, "a", "k4").unwrap();
        let dry = store.gc(false, true).unwrap();
        assert!(store.get("k3").is_some(), "a dry run removes nothing");
        let report = store.gc(false, false).unwrap();
        assert_eq!(dry.removed, report.removed);
        assert!(
            report.removed.iter().any(|r| r.starts_with("tmp/k2")),
            "{report:?}"
        );
        assert!(report.removed.contains(&"entries/k3".to_string()), "{report:?}");
        assert!(store.get("k4").is_some());
        assert_eq!(store.read_ref(&scope, "a").as_deref(), Some("k4"));
    }

    #[test]
    fn an_entry_being_read_is_skipped() {
        let (_dir, store) = temp_store();
        committed(&store, "k", &[("a", b"1")]);
        let reader = store.lock_shared("k").unwrap();
        let report = store.gc(false, false).unwrap();
        assert_eq!(report.busy, vec!["entries/k"]);
        assert!(store.get("k").is_some());
        drop(reader);
        let report = store.gc(false, false).unwrap();
        assert_eq!(report.removed, vec!["entries/k"]);
    }

    #[test]
    fn sweeps_folders_without_a_manifest_and_quarantine_even_when_keeping_entries() {
        let (dir, store) = temp_store();
        committed(&store, "good", &[("a", b"1")]);
        fs::create_dir_all(dir.path().join("entries/broken/out")).unwrap();
        fs::create_dir_all(dir.path().join("quarantine/old.1.0/out")).unwrap();
        let report = store.gc(true, false).unwrap();
        assert_eq!(report.removed, vec!["entries/broken", "quarantine/old.1.0"]);
        assert!(store.get("good").is_some());
    }

    #[test]
    fn cleans_lock_files_of_free_keys_only() {
        let (_dir, store) = temp_store();
        committed(&store, "done", &[("a", b"1")]);
        store
            .record_result(&RefScope::new("p", None), "a", "done")
            .unwrap();
        let busy = store.lock("busy").unwrap();
        drop(store.lock("resumable").unwrap());
        fs::create_dir_all(store.work_dir("resumable")).unwrap();
        // A dry run keeps the lock file of a key with a work folder (it would go with
        // the folder); the real run removes the folder first, then its lock file.
        assert_eq!(store.gc(false, true).unwrap().lock_files, 1);
        let report = store.gc(false, false).unwrap();
        assert_eq!(report.removed, vec!["work/resumable"]);
        assert_eq!(report.lock_files, 2, "{report:?}");
        // A held lock is never removed.
        assert!(store.lock_path("busy").exists());
        assert!(!store.lock_path("done").exists() && !store.lock_path("resumable").exists());
        drop(busy);
        let report = store.gc(false, false).unwrap();
        assert_eq!(report.lock_files, 1, "{report:?}");
        assert!(!store.lock_path("busy").exists());
        // Locking again recreates the file.
        drop(store.lock("done").unwrap());
        assert!(store.lock_path("done").exists());
    }

    #[test]
    fn keeps_failure_logs_only_while_a_ref_records_them_and_no_entry_replaced_them() {
        let (dir, store) = temp_store();
        let scope = RefScope::new("p", None);
        for key in ["current", "superseded", "fixed"] {
            let p = store.begin(key).unwrap();
            fs::write(p.log_path(), "boom").unwrap();
            store.abandon(p).unwrap();
        }
        store.record_failure(&scope, "a", "superseded").unwrap();
        store.record_failure(&scope, "a", "current").unwrap();
        store.record_failure(&scope, "b", "fixed").unwrap();
        committed(&store, "fixed", &[]);
        store.record_result(&scope, "b", "fixed").unwrap();
        let report = store.gc(false, false).unwrap();
        assert!(
            report.removed.contains(&"failed/superseded".to_string()),
            "{report:?}"
        );
        assert!(report.removed.contains(&"failed/fixed".to_string()), "{report:?}");
        assert!(dir.path().join("failed/current/log.txt").is_file());
    }
}
