//! Content digests of files and output folders (blake3).
//!
//! Invariant: a folder's digest depends only on the relative paths, sizes and bytes of
//! its regular files (sorted by path), never on timestamps or the folder's location.

use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;

/// One output file as recorded in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Path relative to the output folder, with `/` separators.
    pub path: String,
    pub size: u64,
    pub blake3: String,
}

/// Digest of one file's bytes.
pub fn file_digest(path: &Path) -> io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(path)?)?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// Digests every regular file under `dir`, sorted by relative path.
pub fn dir_files(dir: &Path) -> io::Result<Vec<FileDigest>> {
    list_files(dir)?
        .into_iter()
        .map(|(path, abs, size)| {
            Ok(FileDigest {
                path,
                size,
                blake3: file_digest(&abs)?,
            })
        })
        .collect()
}

/// Every regular file under `dir` as (relative path with `/`, path, size), sorted by
/// relative path.
pub fn list_files(dir: &Path) -> io::Result<Vec<(String, std::path::PathBuf, u64)>> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, std::path::PathBuf, u64)>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let path = entry.path();
        if ty.is_dir() {
            walk(root, &path, out)?;
        } else if ty.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let size = entry.metadata()?.len();
            out.push((rel, path, size));
        }
    }
    Ok(())
}

/// A key or digest as messages show it: its first 12 hex digits.
pub fn short(hex: &str) -> &str {
    &hex[..hex.len().min(12)]
}

/// The digest of a whole output: blake3 over the sorted (path, size, digest) list.
pub fn combine(files: &[FileDigest]) -> String {
    let mut h = blake3::Hasher::new();
    for f in files {
        h.update(f.path.as_bytes());
        h.update(&[0]);
        h.update(&f.size.to_le_bytes());
        h.update(f.blake3.as_bytes());
        h.update(&[0]);
    }
    h.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ignores_location_and_order_of_creation() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir(a.path().join("sub")).unwrap();
        std::fs::write(a.path().join("x"), b"1").unwrap();
        std::fs::write(a.path().join("sub/y"), b"2").unwrap();
        std::fs::create_dir(b.path().join("sub")).unwrap();
        std::fs::write(b.path().join("sub/y"), b"2").unwrap();
        std::fs::write(b.path().join("x"), b"1").unwrap();
        let (da, db) = (dir_files(a.path()).unwrap(), dir_files(b.path()).unwrap());
        assert_eq!(combine(&da), combine(&db));
        std::fs::write(b.path().join("x"), b"3").unwrap();
        assert_ne!(combine(&da), combine(&dir_files(b.path()).unwrap()));
    }
}
