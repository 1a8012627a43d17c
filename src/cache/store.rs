//! The on-disk store: lookup, per-key locks, atomic commit, refs, ls / gc / verify.
//!
//! Invariants: see the module header of `cache`. In addition: a key's lock is held while
//! it is computed, and after taking it a writer re-checks for a committed entry, so two
//! concurrent `sieve run`s on one store compute each key exactly once.

use super::digest::{self, FileDigest};
use super::key::KeyMaterial;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Copy of `out/metrics.json`, when the stage wrote one.
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

/// An exclusive per-key lock, released on drop.
pub struct KeyLock {
    file: File,
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// The result of `verify` for one entry.
#[derive(Debug, Clone)]
pub struct VerifyProblem {
    pub key: String,
    pub problem: String,
}

/// The artifact store rooted at one folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

static NONCE: AtomicU64 = AtomicU64::new(0);

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
        Ok(Store { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn entry_dir(&self, key: &str) -> PathBuf {
        self.root.join("entries").join(key)
    }

    /// The committed entry for `key`, if any. A folder without a readable manifest is
    /// not an entry.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let dir = self.entry_dir(key);
        let text = fs::read(dir.join("manifest.json")).ok()?;
        let manifest: Manifest = serde_json::from_slice(&text).ok()?;
        (manifest.key == key).then_some(Entry { dir, manifest })
    }

    /// Whether an entry exists, without parsing its manifest.
    pub fn contains(&self, key: &str) -> bool {
        self.entry_dir(key).join("manifest.json").is_file()
    }

    /// Blocks until this process holds the lock of `key`.
    pub fn lock(&self, key: &str) -> io::Result<KeyLock> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join("locks").join(format!("{key}.lock")))?;
        file.lock()?;
        Ok(KeyLock { file })
    }

    /// Takes the lock of `key` only if it is free.
    pub fn try_lock(&self, key: &str) -> io::Result<Option<KeyLock>> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join("locks").join(format!("{key}.lock")))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(KeyLock { file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// A fresh temp folder for computing `key` (caller holds the key's lock).
    pub fn begin(&self, key: &str) -> io::Result<Pending> {
        let n = NONCE.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{key}.{}.{n}", std::process::id()));
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

    /// Digests the outputs, writes the manifest and renames the folder into place.
    /// With `replace`, an existing entry of the same key is swapped out (used by `--force`).
    pub fn commit(&self, pending: Pending, mut manifest: Manifest, replace: bool) -> io::Result<Entry> {
        let files = digest::dir_files(&pending.out_dir())?;
        manifest.digest = digest::combine(&files);
        manifest.files = files;
        manifest.key = pending.key.clone();
        if manifest.metrics.is_none()
            && let Ok(text) = fs::read(pending.out_dir().join(crate::stages::artifact::METRICS_FILE))
        {
            manifest.metrics = serde_json::from_slice(&text).ok();
        }
        let json = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
        fs::write(pending.tmp.join("manifest.json"), json)?;
        let dest = self.entry_dir(&pending.key);
        if replace && dest.exists() {
            // Move the old entry aside first: rename cannot replace a non-empty folder.
            let n = NONCE.fetch_add(1, Ordering::Relaxed);
            let old = self
                .root
                .join("tmp")
                .join(format!("{}.old.{}.{n}", pending.key, std::process::id()));
            fs::rename(&dest, &old)?;
            let _ = fs::remove_dir_all(&old);
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
        let _ = fs::remove_dir_all(self.root.join("work").join(&pending.key));
        self.get(&pending.key)
            .ok_or_else(|| io::Error::other(format!("entry {} vanished after commit", pending.key)))
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

    fn ref_path(&self, pipeline: &str, instance: &str) -> PathBuf {
        let h = blake3::hash(instance.as_bytes()).to_hex();
        self.root
            .join("refs")
            .join(sanitize(pipeline))
            .join(format!("{}.json", &h[..20]))
    }

    /// The key this stage instance last ran (or was found cached) with.
    pub fn read_ref(&self, pipeline: &str, instance: &str) -> Option<String> {
        let v: serde_json::Value =
            serde_json::from_slice(&fs::read(self.ref_path(pipeline, instance)).ok()?).ok()?;
        v.get("key")?.as_str().map(str::to_string)
    }

    /// Records the key of a stage instance (atomically: temp file + rename).
    pub fn write_ref(&self, pipeline: &str, instance: &str, key: &str) -> io::Result<()> {
        let path = self.ref_path(pipeline, instance);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let body = serde_json::json!({"pipeline": pipeline, "instance": instance, "key": key});
        let n = NONCE.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
        fs::write(&tmp, serde_json::to_vec(&body).map_err(io::Error::other)?)?;
        fs::rename(tmp, path)
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

    /// Re-digests every entry's outputs against its manifest.
    pub fn verify(&self) -> io::Result<(usize, Vec<VerifyProblem>)> {
        let mut problems = Vec::new();
        let mut n = 0;
        for e in fs::read_dir(self.root.join("entries"))? {
            let name = e?.file_name().to_string_lossy().into_owned();
            n += 1;
            let Some(entry) = self.get(&name) else {
                problems.push(VerifyProblem {
                    key: name,
                    problem: "manifest missing or unreadable".into(),
                });
                continue;
            };
            match digest::dir_files(&entry.out_dir()) {
                Ok(files)
                    if files == entry.manifest.files && digest::combine(&files) == entry.manifest.digest => {}
                Ok(files) => {
                    let detail = files
                        .iter()
                        .find(|f| !entry.manifest.files.contains(f))
                        .map(|f| format!("file {} differs from the manifest", f.path))
                        .or_else(|| {
                            entry
                                .manifest
                                .files
                                .iter()
                                .find(|f| !files.contains(f))
                                .map(|f| format!("file {} is missing", f.path))
                        })
                        .unwrap_or_else(|| "output digest mismatch".into());
                    problems.push(VerifyProblem {
                        key: name,
                        problem: detail,
                    });
                }
                Err(err) => problems.push(VerifyProblem {
                    key: name,
                    problem: format!("cannot read outputs: {err}"),
                }),
            }
        }
        Ok((n, problems))
    }

    /// Every key some ref points at (the latest result of each stage instance).
    pub fn referenced_keys(&self) -> io::Result<std::collections::HashSet<String>> {
        let mut keys = std::collections::HashSet::new();
        for p in fs::read_dir(self.root.join("refs"))? {
            let p = p?.path();
            if !p.is_dir() {
                continue;
            }
            for f in fs::read_dir(&p)? {
                let text = fs::read(f?.path()).unwrap_or_default();
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text)
                    && let Some(k) = v.get("key").and_then(|k| k.as_str())
                {
                    keys.insert(k.to_string());
                }
            }
        }
        Ok(keys)
    }

    /// Removes leftovers of interrupted runs (temp and work folders whose key is not
    /// being computed) and, when `keep_unreferenced` is false, entries no ref points at.
    /// Returns (removed folders, bytes freed).
    pub fn gc(&self, keep_unreferenced: bool, dry_run: bool) -> io::Result<(Vec<String>, u64)> {
        let mut removed = Vec::new();
        let mut bytes = 0;
        for sub in ["tmp", "work"] {
            for e in fs::read_dir(self.root.join(sub))? {
                let path = e?.path();
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let key = name.split('.').next().unwrap_or_default().to_string();
                // A free lock means no process is computing this key right now.
                if self.try_lock(&key)?.is_some() {
                    bytes += dir_size(&path);
                    if !dry_run {
                        fs::remove_dir_all(&path)?;
                    }
                    removed.push(format!("{sub}/{name}"));
                }
            }
        }
        if !keep_unreferenced {
            let live = self.referenced_keys()?;
            for e in fs::read_dir(self.root.join("entries"))? {
                let path = e?.path();
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !live.contains(&name) && self.try_lock(&name)?.is_some() {
                    bytes += dir_size(&path);
                    if !dry_run {
                        fs::remove_dir_all(&path)?;
                    }
                    removed.push(format!("entries/{name}"));
                }
            }
        }
        Ok((removed, bytes))
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

/// A pipeline name made safe as one path component.
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
    use crate::cache::key::KeyMaterial;

    fn manifest() -> Manifest {
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

    #[test]
    fn commit_is_atomic_and_verifiable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
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
    fn gc_removes_leftovers_and_unreferenced_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let _left = store.begin("k2").unwrap(); // an interrupted attempt
        let p = store.begin("k3").unwrap();
        store.commit(p, manifest(), false).unwrap();
        let p = store.begin("k4").unwrap();
        store.commit(p, manifest(), false).unwrap();
        store.write_ref("p", "a", "k4").unwrap();
        let (removed, _) = store.gc(false, false).unwrap();
        assert!(removed.iter().any(|r| r.starts_with("tmp/k2")), "{removed:?}");
        assert!(removed.contains(&"entries/k3".to_string()), "{removed:?}");
        assert!(store.get("k4").is_some());
        assert_eq!(store.read_ref("p", "a").as_deref(), Some("k4"));
    }
}
