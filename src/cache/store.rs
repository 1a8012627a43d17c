//! The on-disk store: lookup, per-key locks, durable atomic commit, listing. Refs live in
//! `refs`, verification and quarantine in `integrity`, garbage collection in `gc`.
//!
//! Invariants: see the module header of `cache`. In addition: a key's exclusive lock is
//! held while it is computed, and after taking it a writer re-checks for a committed
//! entry, so two concurrent `sieve run`s on one store compute each key exactly once;
//! readers of an entry hold its shared lock, which keeps `gc` from deleting it; a lock is
//! only trusted when its file is still the one at `locks/<key>.lock` (gc deletes free
//! lock files while holding them).

use super::digest::{self, FileDigest};
use super::durable;
use super::key::KeyMaterial;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Everything recorded about one committed entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub key: String,
    pub sieve_version: String,
    pub pipeline: String,
    pub instance: String,
    pub material: KeyMaterial,
    /// Digest of the whole output (what downstream keys include).
    pub digest: String,
    pub files: Vec<FileDigest>,
    pub wall_time_s: f64,
    pub device: String,
    /// Unix seconds.
    pub started_at: f64,
    pub finished_at: f64,
    /// Relative path of the stage log inside the entry.
    pub log: Option<String>,
    /// A copy of the stage's metrics (its `out/metrics.json`), when it wrote one; filled
    /// by the caller, which knows the stages' file names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<serde_json::Value>,
}

/// A committed entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Entry {
    /// The output folder (what consumers read).
    pub fn out_dir(&self) -> PathBuf {
        self.dir.join("out")
    }
}

/// A folder being filled by a running stage; becomes an entry on commit.
#[derive(Debug)]
pub struct Pending {
    pub key: String,
    pub tmp: PathBuf,
}

impl Pending {
    pub fn out_dir(&self) -> PathBuf {
        self.tmp.join("out")
    }
    pub fn log_path(&self) -> PathBuf {
        self.tmp.join("log.txt")
    }
}

/// A per-key file lock (exclusive or shared), released on drop.
pub struct KeyLock {
    file: File,
    path: PathBuf,
}

impl KeyLock {
    /// Deletes the lock file while still holding it (`gc`): anyone who opened the old
    /// file and waits on it notices on waking that the path has moved on and retries.
    pub(super) fn remove_file(self) -> io::Result<()> {
        fs::remove_file(&self.path)
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// How a key's lock is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LockMode {
    /// Computing, replacing or deleting the entry: wait for everyone else.
    Exclusive,
    /// Reading the entry (a running stage's inputs): wait for writers only.
    Shared,
    /// `gc`: exclusive, but only if nobody holds the lock right now.
    TryExclusive,
}

/// The result of `verify` for one entry.
#[derive(Debug, Clone)]
pub struct VerifyProblem {
    pub key: String,
    pub problem: String,
}

/// Outcome of checking one entry, memoised per store handle.
pub(super) type Verdict = Arc<OnceLock<Result<(), String>>>;

/// The artifact store rooted at one folder. Clones share the memo of verified entries.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Entries checked in this process (see `integrity`): each is re-digested at most once.
    pub(super) verdicts: Arc<Mutex<HashMap<String, Verdict>>>,
}

static NONCE: AtomicU64 = AtomicU64::new(0);

/// A name suffix unique within this store: `<pid>.<counter>`.
pub(super) fn unique_suffix() -> String {
    let n = NONCE.fetch_add(1, Ordering::Relaxed);
    format!("{}.{n}", std::process::id())
}

pub fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Store> {
        let root = root.into();
        for sub in ["entries", "tmp", "work", "locks", "refs", "failed"] {
            fs::create_dir_all(root.join(sub))?;
        }
        Ok(Store {
            root,
            verdicts: Arc::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn entry_dir(&self, key: &str) -> PathBuf {
        self.root.join("entries").join(key)
    }

    /// The committed entry for `key`, if any. A folder without a readable manifest is
    /// not an entry (commit moves it aside, `gc` removes it, `verify` reports it).
    pub fn get(&self, key: &str) -> Option<Entry> {
        let dir = self.entry_dir(key);
        let text = fs::read(dir.join("manifest.json")).ok()?;
        let manifest: Manifest = serde_json::from_slice(&text).ok()?;
        (manifest.key == key).then_some(Entry { dir, manifest })
    }

    /// Whether `entries/<key>` exists at all: a committed entry, or a folder without a
    /// readable manifest, which is not one (see [`Store::get`]).
    pub fn has_entry_folder(&self, key: &str) -> bool {
        fs::symlink_metadata(self.entry_dir(key)).is_ok()
    }

    /// Whether an entry exists, without parsing its manifest.
    pub fn contains(&self, key: &str) -> bool {
        self.entry_dir(key).join("manifest.json").is_file()
    }

    pub(super) fn lock_path(&self, key: &str) -> PathBuf {
        self.root.join("locks").join(format!("{key}.lock"))
    }

    /// Opens and locks `locks/<key>.lock`; `None` only for a `TryExclusive` that found
    /// the lock taken.
    fn acquire(&self, key: &str, mode: LockMode) -> io::Result<Option<KeyLock>> {
        let path = self.lock_path(key);
        loop {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            match mode {
                LockMode::Exclusive => file.lock()?,
                LockMode::Shared => file.lock_shared()?,
                LockMode::TryExclusive => match file.try_lock() {
                    Ok(()) => {}
                    Err(fs::TryLockError::WouldBlock) => return Ok(None),
                    Err(fs::TryLockError::Error(e)) => return Err(e),
                },
            }
            // `gc` deletes free lock files while holding them: a lock on a file that is no
            // longer at `path` guards nothing, so take the one that is there now.
            if same_file(&file, &path) {
                return Ok(Some(KeyLock { file, path }));
            }
        }
    }

    /// Waits for a lock that is always granted in the end.
    fn wait_for(&self, key: &str, mode: LockMode) -> io::Result<KeyLock> {
        self.acquire(key, mode)?
            .ok_or_else(|| io::Error::other(format!("lock of {key} not granted")))
    }

    /// Blocks until this process holds the exclusive lock of `key` (to compute, replace
    /// or delete its entry).
    pub fn lock(&self, key: &str) -> io::Result<KeyLock> {
        self.wait_for(key, LockMode::Exclusive)
    }

    /// Blocks until this process holds a shared lock of `key`: the entry is being read,
    /// and `gc` leaves it alone until the lock is dropped.
    pub fn lock_shared(&self, key: &str) -> io::Result<KeyLock> {
        self.wait_for(key, LockMode::Shared)
    }

    /// Takes the exclusive lock of `key` only if nobody holds it (shared or exclusive).
    pub fn try_lock(&self, key: &str) -> io::Result<Option<KeyLock>> {
        self.acquire(key, LockMode::TryExclusive)
    }

    /// A fresh temp folder for computing `key` (caller holds the key's lock).
    pub fn begin(&self, key: &str) -> io::Result<Pending> {
        let tmp = self.root.join("tmp").join(format!("{key}.{}", unique_suffix()));
        fs::create_dir_all(tmp.join("out"))?;
        Ok(Pending {
            key: key.to_string(),
            tmp,
        })
    }

    /// The persistent work folder of `key` (checkpoints survive interrupted runs). Not
    /// created here: most stages never need one (see `StageContext::work_dir`).
    pub fn work_dir(&self, key: &str) -> PathBuf {
        self.root.join("work").join(key)
    }

    /// Digests the outputs, writes the manifest, syncs everything to disk and renames the
    /// folder into place (caller holds the key's exclusive lock). With `replace`, an
    /// existing entry of the same key is swapped out (used by `--force`); a folder there
    /// without a readable manifest is not an entry and is moved to quarantine.
    pub fn commit(&self, pending: Pending, mut manifest: Manifest, replace: bool) -> io::Result<Entry> {
        let files = digest::dir_files(&pending.out_dir())?;
        manifest.digest = digest::combine(&files);
        manifest.files = files;
        manifest.key = pending.key.clone();
        let json = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
        fs::write(pending.tmp.join("manifest.json"), json)?;
        // Outputs, log, manifest and their folders reach the disk before the rename
        // publishes them, or a power loss could leave a valid-looking entry of torn files.
        durable::sync_tree(&pending.tmp)?;
        let dest = self.entry_dir(&pending.key);
        if dest.exists() {
            if self.get(&pending.key).is_none() {
                self.quarantine(&pending.key)?;
            } else if replace {
                // Move the old entry aside first: rename cannot replace a non-empty folder.
                let old = self
                    .root
                    .join("tmp")
                    .join(format!("{}.old.{}", pending.key, unique_suffix()));
                fs::rename(&dest, &old)?;
                let _ = fs::remove_dir_all(&old);
            }
        }
        match fs::rename(&pending.tmp, &dest) {
            Ok(()) => {}
            Err(_) if self.contains(&pending.key) => {
                // Someone committed the same key first (only possible without the lock):
                // theirs is equally valid, drop ours.
                let _ = fs::remove_dir_all(&pending.tmp);
            }
            Err(e) => return Err(e),
        }
        durable::sync_dir(&self.root.join("entries"))?;
        let _ = fs::remove_dir_all(self.root.join("work").join(&pending.key));
        let entry = self
            .get(&pending.key)
            .ok_or_else(|| io::Error::other(format!("entry {} vanished after commit", pending.key)))?;
        // Just digested from the bytes on disk: readers in this process need not redo it.
        self.mark_verified(&pending.key);
        Ok(entry)
    }

    /// Discards a failed attempt, keeping its log under `failed/<key>/log.txt`.
    /// Returns the kept log's path.
    pub fn abandon(&self, pending: Pending) -> Option<PathBuf> {
        let keep = self.root.join("failed").join(&pending.key);
        let _ = fs::remove_dir_all(&keep);
        let kept = fs::create_dir_all(&keep)
            .and_then(|_| fs::rename(pending.log_path(), keep.join("log.txt")))
            .is_ok();
        let _ = fs::remove_dir_all(&pending.tmp);
        kept.then(|| keep.join("log.txt"))
    }

    /// All committed entries.
    pub fn list(&self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for e in fs::read_dir(self.root.join("entries"))? {
            let name = e?.file_name().to_string_lossy().into_owned();
            if let Some(entry) = self.get(&name) {
                out.push(entry);
            }
        }
        out.sort_by(|a, b| a.manifest.finished_at.total_cmp(&b.manifest.finished_at));
        Ok(out)
    }
}

/// Whether an open file is still the one at `path` (same device and inode).
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Total size of the regular files under a path.
pub fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    fs::read_dir(path)
        .map(|rd| rd.filter_map(Result::ok).map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cache::key::KeyMaterial;

    pub(crate) fn manifest() -> Manifest {
        Manifest {
            key: String::new(),
            sieve_version: "test".into(),
            pipeline: "p".into(),
            instance: "a".into(),
            material: KeyMaterial {
                kind: "k".into(),
                version: 1,
                params: Default::default(),
                inputs: vec![],
                env: Default::default(),
                files: Default::default(),
                input_names: false,
            },
            digest: String::new(),
            files: vec![],
            wall_time_s: 0.0,
            device: "cpu".into(),
            started_at: 0.0,
            finished_at: 0.0,
            log: None,
            metrics: None,
        }
    }

    /// Commits an entry of `key` holding `files`.
    /// A store in a fresh temporary folder, which lasts as long as the returned guard.
    pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    pub(crate) fn committed(store: &Store, key: &str, files: &[(&str, &[u8])]) -> Entry {
        let _lock = store.lock(key).unwrap();
        let p = store.begin(key).unwrap();
        for (name, bytes) in files {
            fs::write(p.out_dir().join(name), bytes).unwrap();
        }
        store.commit(p, manifest(), false).unwrap()
    }

    #[test]
    fn commit_is_atomic_and_verifiable() {
        let (_dir, store) = temp_store();
        assert!(store.get("k1").is_none());
        let p = store.begin("k1").unwrap();
        fs::write(p.out_dir().join("data.bin"), b"hello").unwrap();
        // Before commit nothing looks valid.
        assert!(store.get("k1").is_none());
        let e = store.commit(p, manifest(), false).unwrap();
        assert_eq!(e.manifest.files.len(), 1);
        assert!(store.get("k1").is_some());
        assert!(store.verify().unwrap().1.is_empty());
        fs::write(e.out_dir().join("data.bin"), b"HELLO").unwrap();
        let (_, problems) = store.verify().unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn a_folder_without_a_manifest_is_absent_and_moved_aside_by_commit() {
        let (dir, store) = temp_store();
        // What a lost manifest (or a copy gone wrong) leaves behind.
        fs::create_dir_all(dir.path().join("entries/k/out")).unwrap();
        fs::write(dir.path().join("entries/k/out/stale.bin"), b"?").unwrap();
        assert!(store.get("k").is_none() && !store.contains("k"));
        let e = committed(&store, "k", &[("data.bin", b"new")]);
        assert_eq!(e.manifest.files.len(), 1);
        assert!(store.check(&e).is_ok());
        let quarantined: Vec<_> = fs::read_dir(dir.path().join("quarantine"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(quarantined.len(), 1);
        assert!(quarantined[0].join("out/stale.bin").is_file());
    }

    #[test]
    fn a_lock_file_removed_while_held_is_not_trusted_by_the_next_locker() {
        let (_dir, store) = temp_store();
        let held = store.try_lock("k").unwrap().expect("free");
        // A second opener blocks on the old file; gc removes it while holding the lock.
        let store2 = store.clone();
        let waiter = std::thread::spawn(move || {
            let lock = store2.lock("k").unwrap();
            // It holds the lock of the file that is at the path now.
            assert!(same_file(&lock.file, &store2.lock_path("k")));
            drop(lock);
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        held.remove_file().unwrap();
        waiter.join().unwrap();
        // And the new file excludes others as usual.
        let a = store.lock("k").unwrap();
        assert!(store.try_lock("k").unwrap().is_none());
        drop(a);
        let shared = store.lock_shared("k").unwrap();
        let shared2 = store.lock_shared("k").unwrap();
        assert!(store.try_lock("k").unwrap().is_none(), "readers keep writers out");
        drop((shared, shared2));
        assert!(store.try_lock("k").unwrap().is_some());
    }
}
