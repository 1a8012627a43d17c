//! Entry integrity: re-digesting an entry's files against its manifest, once per process
//! for entries about to be read (verify on use), for every entry (`cache verify`), and
//! moving damaged entries to `quarantine/` so they are recomputed, never consumed.
//!
//! Invariants: an entry whose files differ from its manifest (a flipped byte, a truncated,
//! missing or extra file) is reported, never returned as good; a verdict is memoised per
//! store handle only for an entry that exists, and [`Store::mark_verified`] (after a
//! commit or a fresh check) replaces any earlier verdict of that key; quarantining needs
//! the key's exclusive lock, like every other change to `entries/`.

use super::digest;
use super::store::{Entry, Store, VerifyProblem, unique_suffix};
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The problem of a folder in `entries/` without a readable manifest (not an entry).
pub const UNREADABLE_MANIFEST: &str = "its manifest is missing or unreadable";

/// An entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub key: String,
    /// What is wrong, e.g. `file data.parquet differs from the manifest`.
    pub problem: String,
}

impl Store {
    /// Re-digests an entry's output files and compares them with its manifest; `Err`
    /// describes the first difference. Reads every output byte once.
    pub fn check(&self, entry: &Entry) -> Result<(), String> {
        let files =
            digest::dir_files(&entry.out_dir()).map_err(|e| format!("cannot read its outputs: {e}"))?;
        let m = &entry.manifest;
        if files == m.files && digest::combine(&files) == m.digest {
            return Ok(());
        }
        let problem = m
            .files
            .iter()
            .find(|f| !files.iter().any(|g| g.path == f.path))
            .map(|f| format!("file {} is missing", f.path))
            .or_else(|| {
                files.iter().find(|f| !m.files.contains(f)).map(|f| {
                    match m.files.iter().find(|g| g.path == f.path) {
                        Some(g) if g.size != f.size => {
                            format!(
                                "file {} has {} bytes, the manifest says {}",
                                f.path, f.size, g.size
                            )
                        }
                        Some(_) => format!("file {} differs from the manifest", f.path),
                        None => format!("file {} is not in the manifest", f.path),
                    }
                })
            })
            .unwrap_or_else(|| "output digest differs from the manifest".into());
        Err(problem)
    }

    /// The entry of `key` if it exists and its files match its manifest. The check runs
    /// at most once per store handle and key, however many stages read the entry (threads
    /// asking at the same time wait for the first one's answer).
    pub fn verified(&self, key: &str) -> Result<Entry, Damage> {
        let damage = |problem: String| Damage {
            key: key.to_string(),
            problem,
        };
        let Some(entry) = self.get(key) else {
            let problem = if self.has_entry_folder(key) {
                UNREADABLE_MANIFEST
            } else {
                "the entry is missing (removed after the run started?)"
            };
            return Err(damage(problem.into()));
        };
        let verdict = {
            let mut all = self.verdicts.lock().unwrap_or_else(|p| p.into_inner());
            all.entry(key.to_string()).or_default().clone()
        };
        match verdict.get_or_init(|| self.check(&entry)) {
            Ok(()) => Ok(entry),
            Err(problem) => Err(damage(problem.clone())),
        }
    }

    /// Records that the entry of `key` was just found (or written) intact.
    pub fn mark_verified(&self, key: &str) {
        let cell = OnceLock::new();
        let _ = cell.set(Ok(()));
        let mut all = self.verdicts.lock().unwrap_or_else(|p| p.into_inner());
        all.insert(key.to_string(), Arc::new(cell));
    }

    /// Moves the folder `entries/<key>` to `quarantine/<key>.<pid>.<n>` (kept for
    /// inspection until `cache gc`), so the key reads as absent and is recomputed. The
    /// caller holds the key's exclusive lock. Returns the new location.
    pub fn quarantine(&self, key: &str) -> io::Result<PathBuf> {
        let dir = self.root().join("quarantine");
        fs::create_dir_all(&dir)?;
        let dest = dir.join(format!("{key}.{}", unique_suffix()));
        fs::rename(self.entry_dir(key), &dest)?;
        super::durable::sync_dir(&self.root().join("entries"))?;
        self.verdicts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        Ok(dest)
    }

    /// Re-digests every entry's outputs against its manifest (`sieve cache verify`);
    /// returns how many entry folders there are and the damaged ones.
    pub fn verify(&self) -> io::Result<(usize, Vec<VerifyProblem>)> {
        let mut problems = Vec::new();
        let mut n = 0;
        for e in fs::read_dir(self.root().join("entries"))? {
            let key = e?.file_name().to_string_lossy().into_owned();
            n += 1;
            let problem = match self.get(&key) {
                None => {
                    Some("manifest missing or unreadable (not an entry: `sieve cache gc` removes it)".into())
                }
                Some(entry) => self.check(&entry).err(),
            };
            if let Some(problem) = problem {
                problems.push(VerifyProblem { key, problem });
            }
        }
        problems.sort_by(|a, b| a.key.cmp(&b.key));
        Ok((n, problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::store::tests::{committed, temp_store};

    #[test]
    fn every_kind_of_damage_is_named() {
        let (_dir, store) = temp_store();
        let e = committed(&store, "k", &[("a.bin", b"hello"), ("b.bin", b"world")]);
        assert_eq!(store.check(&e), Ok(()));
        let a = e.out_dir().join("a.bin");
        fs::write(&a, b"hellO").unwrap();
        assert_eq!(
            store.check(&e),
            Err("file a.bin differs from the manifest".into())
        );
        fs::write(&a, b"hel").unwrap();
        assert_eq!(
            store.check(&e),
            Err("file a.bin has 3 bytes, the manifest says 5".into())
        );
        fs::remove_file(&a).unwrap();
        assert_eq!(store.check(&e), Err("file a.bin is missing".into()));
        fs::write(&a, b"hello").unwrap();
        fs::write(e.out_dir().join("c.bin"), b"!").unwrap();
        assert_eq!(store.check(&e), Err("file c.bin is not in the manifest".into()));
    }

    #[test]
    fn verdicts_are_memoised_until_replaced_and_quarantine_hides_the_entry() {
        let (dir, store) = temp_store();
        let e = committed(&store, "k", &[("a.bin", b"hello")]);
        fs::write(e.out_dir().join("a.bin"), b"HELLO").unwrap();
        // The commit vouched for the bytes it wrote; a new handle (a new process) checks.
        assert!(store.verified("k").is_ok());
        let fresh = Store::open(dir.path()).unwrap();
        let damage = fresh.verified("k").unwrap_err();
        assert_eq!(damage.problem, "file a.bin differs from the manifest");
        // Repaired on disk: the memo still says damaged until someone vouches again.
        fs::write(e.out_dir().join("a.bin"), b"hello").unwrap();
        assert!(fresh.verified("k").is_err());
        fresh.mark_verified("k");
        assert!(fresh.verified("k").is_ok());

        let _lock = fresh.lock("k").unwrap();
        let moved = fresh.quarantine("k").unwrap();
        assert!(moved.join("out/a.bin").is_file());
        assert!(fresh.get("k").is_none());
        assert!(
            fresh
                .verified("k")
                .unwrap_err()
                .problem
                .contains("entry is missing")
        );
    }

    #[test]
    fn verify_reports_folders_without_a_manifest() {
        let (dir, store) = temp_store();
        committed(&store, "good", &[("a", b"1")]);
        fs::create_dir_all(dir.path().join("entries/broken/out")).unwrap();
        let (n, problems) = store.verify().unwrap();
        assert_eq!(n, 2);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].key, "broken");
        assert!(problems[0].problem.contains("manifest missing"), "{problems:?}");
    }
}
