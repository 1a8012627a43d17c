//! Execution: freshness decided up front (cargo style) and a scheduler that runs dirty
//! stages on a bounded worker pool in topological order.
//!
//! - [`freshness`] computes, before anything runs, each stage's status: `cached` (its key
//!   is known and committed), `stale` (key known, not committed — with the reasons, from
//!   diffing the key material against the last run of that instance) or `blocked` (an
//!   input must be recomputed first; thanks to early cutoff it may still turn out cached).
//! - [`reason`]: the typed reasons ([`StaleReason`]) and their one wording.
//! - [`run`] executes: independent stages in parallel (`jobs`), GPU stages limited per
//!   device, a failure stops only its dependents (with `keep_going`; otherwise nothing new
//!   starts), commits are atomic, Ctrl-C cancels cooperatively; every input entry is
//!   verified before it is read, and a damaged one is quarantined and recomputed.
//! - [`lock_differences`] compares a plan with a lock file for `--locked`.

pub mod events;
mod freshness;
mod locked;
pub mod reason;
mod scheduler;
#[cfg(test)]
mod tests;

pub use events::{BarsReporter, Event, JsonReporter, NullReporter, PlainReporter, Reporter};
pub use freshness::{
    StageStatus, Status, UnkeyedStage, assess, assess_verified, key_material, ref_scope, verify_cached,
};
pub use locked::{LockDifference, lock_differences};
pub use reason::StaleReason;
pub use scheduler::{RunOptions, RunSummary, StageResult, run};
