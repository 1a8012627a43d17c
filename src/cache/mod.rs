//! The content-addressed artifact store (docs/cache.md).
//!
//! Layout under the store root (default `.sieve/` beside the pipeline):
//! ```text
//! entries/<key>/manifest.json   committed entries: manifest + out/ (+ log.txt)
//! tmp/<key>.<pid>.<n>/          entries being computed (never look valid)
//! work/<key>/                   per-key scratch kept across interrupted runs (checkpoints)
//! locks/<key>.lock              one lock per key: exclusive to compute or delete an entry,
//!                               shared while a running stage reads it
//! refs/<name>.<file hash>/…json the last key each stage instance of one pipeline file ran
//!                               with (for "why stale", and gc roots; see `refs`)
//! failed/<key>/                 log of the last failed attempt of a key
//! quarantine/<key>.<pid>.<n>/   damaged entries moved aside (kept until the next gc)
//! digests/<hash>.json           memoised digests of input files (see `memo`)
//! ```
//! Invariants: an entry appears only by an atomic `rename` of a complete temp folder whose
//! files and folders were synced to disk first, so a crash, Ctrl-C, `kill -9` or power
//! loss never leaves a half-written entry that looks valid; an entry's manifest records
//! the digest of every output file, checked before a stage reads the entry (`integrity`)
//! and by `verify`; a damaged entry is quarantined, never read.

pub mod digest;
pub mod durable;
pub mod gc;
pub mod integrity;
pub mod key;
pub mod lockfile;
pub mod memo;
pub mod refs;
pub mod store;

pub use integrity::{Damage, UNREADABLE_MANIFEST};
pub use key::{KeyChange, KeyError, KeyInput, KeyMaterial, KeyMember, Rename};
pub use refs::RefScope;
pub use store::{Entry, Manifest, Store};

pub use durable::write_atomically;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
