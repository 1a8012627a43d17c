//! The content-addressed artifact store (DESIGN.md §4).
//!
//! Layout under the store root (default `.sieve/` beside the pipeline):
//! ```text
//! entries/<key>/manifest.json   committed entries: manifest + out/ (+ log.txt)
//! tmp/<key>.<pid>.<n>/          entries being computed (never look valid)
//! work/<key>/                   per-key scratch kept across interrupted runs (checkpoints)
//! locks/<key>.lock              one lock per key: concurrent runs compute each key once
//! refs/<pipeline>/<hash>.json   the last key each stage instance ran with (for "why stale")
//! failed/<key>/                 log of the last failed attempt of a key
//! digests/<hash>.json           memoised digests of input files (see `memo`)
//! ```
//! Invariants: an entry appears only by an atomic `rename` of a complete temp folder, so a
//! crash, Ctrl-C or `kill -9` never leaves a half-written entry that looks valid; an
//! entry's manifest records the digest of every output file, checked by `verify`.

pub mod digest;
pub mod key;
pub mod lockfile;
pub mod memo;
pub mod store;

pub use key::{KeyInput, KeyMaterial, KeyMember};
pub use store::{Entry, Manifest, Store};

use std::io;
use std::path::Path;

/// Writes a file whole: the bytes go to a fresh temp file beside it (created exclusively),
/// which is then renamed over `path`. A reader never sees half a file, and a link that
/// sits at `path` is replaced, never written through — so a recipe cannot plant one to
/// make sieve write elsewhere. The file gets the usual mode of a new file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".sieve-write.")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)?;
    io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
