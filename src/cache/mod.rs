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
