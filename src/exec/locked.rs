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
use crate::cache::lockfile::LockFile;
use crate::plan::Plan;
use std::collections::HashMap;

/// One line per stage that differs from the lock (`instance: why`), in plan order, then
/// the locked stages the pipeline no longer has. Empty when the plan matches the lock.
pub fn lock_differences(plan: &Plan, store: &Store, lock: &LockFile) -> Vec<String> {
    let mut problems = Vec::new();
    // Output digest of every stage as the run will see it: the committed entry's when its
    // key is cached, else the lock's (what the recompute must reproduce).
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
        let digest = store
            .get(&key)
            .map(|e| e.manifest.digest)
            .unwrap_or_else(|| locked.digest.clone());
        digests.insert(st.instance.clone(), digest);
    }
    for name in lock.stages.keys() {
        if plan.find(name).is_none() {
            problems.push(format!("{name}: in the lock file but not in the pipeline"));
        }
    }
    problems
}
