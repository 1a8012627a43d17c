//! Memoised content digests of a pipeline's *input* files (`load(path)`, model and
//! tokenizer folders), so deciding freshness does not rehash gigabytes on every `plan`
//! or `run`: a digest is reused while the file's size, modification and change times,
//! inode and device are what they were when it was computed (the same test git and DVC
//! use). Records live in `<store>/digests/`, one small JSON file per input path;
//! `cache gc` drops those whose file is gone or changed.
//!
//! Invariants: a record is only a cache — a missing, unreadable or stale one means
//! "hash the file"; records are written atomically and durably (temp file, fsync,
//! rename); a file modified less than [`SETTLE`] ago is hashed but not memoised, so an
//! edit landing within the file system's timestamp granularity of the record cannot go
//! unnoticed. Outputs of
//! stages are never memoised here (the store records their digests in manifests).

use super::digest::{self, FileDigest};
use super::durable;
use super::store::Store;
use serde::{Deserialize, Serialize};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How old a file's last change must be before its digest is memoised.
const SETTLE: Duration = Duration::from_secs(2);

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stat {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    dev: u64,
}

impl Stat {
    fn of(meta: &std::fs::Metadata) -> Stat {
        let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
        Stat {
            size: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }

    /// Changed long enough ago that a later edit gets a different stat.
    fn settled(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        now - self.mtime_ns.max(self.ctime_ns) > SETTLE.as_nanos() as i128
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    path: String,
    stat: Stat,
    blake3: String,
}

impl Store {
    fn memo_path(&self, file: &Path) -> PathBuf {
        let id = blake3::hash(file.as_os_str().as_encoded_bytes()).to_hex();
        self.root().join("digests").join(format!("{}.json", &id[..32]))
    }

    /// The blake3 digest of an input file, memoised by its stat.
    pub fn input_file_digest(&self, path: &Path) -> io::Result<String> {
        let abs = std::path::absolute(path)?;
        let meta = std::fs::metadata(&abs)?;
        // Opening a FIFO or a device would block or read forever: only regular files are
        // inputs (the stage then fails on the real error when it opens the path).
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", abs.display()),
            ));
        }
        let stat = Stat::of(&meta);
        let memo = self.memo_path(&abs);
        if let Ok(text) = std::fs::read(&memo)
            && let Ok(r) = serde_json::from_slice::<Record>(&text)
            && r.stat == stat
            && r.path == abs.to_string_lossy()
        {
            return Ok(r.blake3);
        }
        let blake3 = digest::file_digest(&abs)?;
        // The file may have changed while it was read: memoise only a stable, settled one.
        if stat.settled() && std::fs::metadata(&abs).is_ok_and(|m| Stat::of(&m) == stat) {
            let record = Record {
                path: abs.to_string_lossy().into_owned(),
                stat,
                blake3: blake3.clone(),
            };
            // Best effort: a store we cannot write to just means hashing again next time.
            let _ = durable::write_atomically(&memo, &serde_json::to_vec(&record).unwrap_or_default());
        }
        Ok(blake3)
    }

    /// The combined digest of every regular file under an input folder (as
    /// [`digest::combine`] over [`digest::dir_files`], with memoised file digests); with
    /// `only`, of just those of its top-level files that exist (e.g. a model folder's
    /// tokenizer files, without the weights).
    pub fn input_dir_digest(&self, dir: &Path, only: Option<&[&str]>) -> io::Result<String> {
        let listed = match only {
            None => digest::list_files(dir)?,
            Some(names) => names
                .iter()
                .map(|name| (name.to_string(), dir.join(name)))
                .filter(|(_, path)| path.is_file())
                .map(|(name, path)| Ok((name, path.clone(), std::fs::metadata(&path)?.len())))
                .collect::<io::Result<Vec<_>>>()?,
        };
        let files = listed
            .into_iter()
            .map(|(rel, path, size)| {
                Ok(FileDigest {
                    path: rel,
                    size,
                    blake3: self.input_file_digest(&path)?,
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(digest::combine(&files))
    }
}

impl Store {
    /// Removes memo records whose file is gone or changed (for `cache gc`); returns how
    /// many there were. Unreadable records go too: they would only be rehashed over.
    pub(super) fn gc_digests(&self, dry_run: bool) -> io::Result<usize> {
        let dir = self.root().join("digests");
        let entries = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut n = 0;
        for e in entries {
            let path = e?.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let current = std::fs::read(&path)
                .ok()
                .and_then(|text| serde_json::from_slice::<Record>(&text).ok())
                .is_some_and(|r| {
                    std::fs::metadata(&r.path).is_ok_and(|m| Stat::of(&m) == r.stat)
                        && path == self.memo_path(Path::new(&r.path))
                });
            if !current {
                if !dry_run {
                    std::fs::remove_file(&path)?;
                }
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_being_opened() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let fifo = dir.path().join("in.parquet");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = store.input_file_digest(&fifo).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn digests_are_memoised_until_the_file_changes() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path().join("store")).unwrap();
        let file = root.path().join("data.bin");
        std::fs::write(&file, b"first").unwrap();
        // Fresh files are hashed but not memoised (they may still be changing).
        let d1 = store.input_file_digest(&file).unwrap();
        assert_eq!(d1, digest::file_digest(&file).unwrap());
        assert!(!store.memo_path(&std::path::absolute(&file).unwrap()).exists());

        // A settled file is memoised: a planted record with the right stat is believed.
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(old)
            .unwrap();
        std::thread::sleep(SETTLE + Duration::from_millis(100)); // ctime settles too
        let d2 = store.input_file_digest(&file).unwrap();
        assert_eq!(d2, d1);
        let memo = store.memo_path(&std::path::absolute(&file).unwrap());
        let mut r: Record = serde_json::from_slice(&std::fs::read(&memo).unwrap()).unwrap();
        r.blake3 = "planted".into();
        std::fs::write(&memo, serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(store.input_file_digest(&file).unwrap(), "planted");

        // Any change of the file (same size here) invalidates the record.
        std::fs::write(&file, b"secnd").unwrap();
        let d3 = store.input_file_digest(&file).unwrap();
        assert_eq!(d3, digest::file_digest(&file).unwrap());
        assert_ne!(d3, d1);
    }

    #[test]
    fn gc_drops_records_of_files_that_are_gone_or_changed() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path().join("store")).unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        let mut files = Vec::new();
        for name in ["keep", "gone", "changed"] {
            let file = root.path().join(name);
            std::fs::write(&file, name).unwrap();
            let f = std::fs::File::options().write(true).open(&file).unwrap();
            f.set_modified(old).unwrap();
            files.push(file);
        }
        std::thread::sleep(SETTLE + Duration::from_millis(100)); // ctime settles too
        for f in &files {
            store.input_file_digest(f).unwrap();
        }
        std::fs::write(root.path().join("store/digests/junk.json"), b"{").unwrap();
        std::fs::remove_file(&files[1]).unwrap();
        std::fs::write(&files[2], b"other").unwrap();
        assert_eq!(store.gc_digests(true).unwrap(), 3);
        assert_eq!(store.gc_digests(false).unwrap(), 3);
        assert_eq!(store.gc_digests(false).unwrap(), 0);
        let memo = store.memo_path(&std::path::absolute(&files[0]).unwrap());
        assert!(memo.is_file(), "the record of an unchanged file stays");
    }

    #[test]
    fn folder_digests_match_the_plain_ones() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path().join("store")).unwrap();
        let dir = root.path().join("model");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.json"), b"{}").unwrap();
        std::fs::write(dir.join("sub/w.bin"), b"weights").unwrap();
        let plain = digest::combine(&digest::dir_files(&dir).unwrap());
        assert_eq!(store.input_dir_digest(&dir, None).unwrap(), plain);
        let only_json = digest::combine(&digest::dir_files(&dir).unwrap()[..1]);
        assert_eq!(
            store
                .input_dir_digest(&dir, Some(&["a.json", "missing"]))
                .unwrap(),
            only_json
        );
    }
}
