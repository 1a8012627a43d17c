//! `sieve run --locked`, before anything runs: every stage's key compared with the lock
//! file, and each difference explained in `sieve plan`'s words by diffing the stage's key
//! material against the one the lock recorded.
//!
//! Stages whose inputs are not computed yet (an empty store, say) are compared on the
//! assumption that each input reproduces the digest the lock records for it, which is
//! exactly what the run then checks; so every stage is compared up front, and an
//! upstream difference is reported once, at the stage where it arises.

use super::freshness::key_material;
use crate::cache::Store;
use crate::cache::digest::short;
use crate::cache::lockfile::LockFile;
use crate::plan::Plan;
use std::collections::HashMap;

/// One line per stage that differs from the lock (`instance: why`), in plan order, then
/// the locked stages the pipeline no longer has. Empty when the plan matches the lock.
pub fn lock_differences(plan: &Plan, store: &Store, lock: &LockFile) -> Vec<String> {
    let mut problems = Vec::new();
    // Output digest of every stage that matches the lock: the lock's (a cached entry has
    // that digest, a recompute must reproduce it).
    let mut digests: HashMap<String, String> = HashMap::new();
    for &id in plan.order() {
        let st = &plan.node(id).stage;
        let locked = lock.stages.get(&st.instance);
        // None: an input's digest is unknown because it differs already (reported there).
        let Some(km) = key_material(plan, store, id, &digests) else {
            if locked.is_none() {
                problems.push(format!("{}: not in the lock file", st.instance));
            }
            continue;
        };
        let key = km.key();
        let Some(locked) = locked else {
            problems.push(format!("{}: not in the lock file", st.instance));
            continue;
        };
        if let Some(why) = locked.mismatch(&km, &key) {
            problems.push(format!("{}: {why}", st.instance));
            continue;
        }
        match store.get(&key) {
            Some(e) if e.manifest.digest != locked.digest => problems.push(format!(
                "{}: its cached output {} differs from the lock's {}",
                st.instance,
                short(&e.manifest.digest),
                short(&locked.digest)
            )),
            Some(_) | None => {
                digests.insert(st.instance.clone(), locked.digest.clone());
            }
        }
    }
    for name in lock.stages.keys() {
        if plan.find(name).is_none() {
            problems.push(format!("{name}: in the lock file but not in the pipeline"));
        }
    }
    problems
}
