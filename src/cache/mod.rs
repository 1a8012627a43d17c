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
