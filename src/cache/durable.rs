//! Durable writes: data reaches the disk before the rename that publishes it.
//!
//! A rename is atomic, but without `fsync` a power loss can persist the rename and not
//! the bytes it points at (ext4, xfs and btrfs all allow it): the store would then hold a
//! committed entry, ref or lock file whose contents are empty or torn. So every publisher
//! syncs the new files and folders first, renames, then syncs the parent folder so the
//! rename itself survives.
//!
//! Invariant: after [`write_atomically`] (or a commit built from these helpers) returns,
//! the new contents are on disk under the final name, or the old ones are.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Flushes one file's data and metadata to disk.
pub fn sync_file(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Flushes a folder's entries (names created, renamed or removed in it) to disk.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Flushes every regular file and folder under `dir`, and `dir` itself (children first,
/// so a folder is synced after everything in it).
pub fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        if ty.is_dir() {
            sync_tree(&entry.path())?;
        } else if ty.is_file() {
            sync_file(&entry.path())?;
        }
    }
    sync_dir(dir)
}

/// Replaces `path` by `bytes` atomically and durably: a fresh temp file in the same folder
/// (created exclusively) is written and synced, renamed over `path`, then the folder is
/// synced. A reader never sees half a file, and a link that sits at `path` is replaced,
/// never written through — so a recipe cannot plant one to make sieve write elsewhere.
/// The file gets the usual mode of a new file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".sieve-write.")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/a.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
        // Syncing a tree visits nested folders without error.
        std::fs::create_dir_all(dir.path().join("t/x/y")).unwrap();
        std::fs::write(dir.path().join("t/x/y/f"), b"1").unwrap();
        sync_tree(&dir.path().join("t")).unwrap();
        assert!(sync_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn atomic_writes_replace_a_planted_link_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let at = dir.path().join("store/runs/p.html");
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&victim, &at).unwrap();
        write_atomically(&at, b"<html>").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!at.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&at).unwrap(), "<html>");
        // Only the file itself is left (no temp file), with the usual mode of a new file.
        use std::os::unix::fs::PermissionsExt;
        let plain = dir.path().join("store/runs/plain");
        std::fs::write(&plain, "").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&at), mode(&plain));
        assert_eq!(std::fs::read_dir(at.parent().unwrap()).unwrap().count(), 2);
    }
}
