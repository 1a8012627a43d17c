//! `sieve run --locked`, before anything runs: every stage's key compared with the lock
//! file, and each difference explained in `sieve plan`'s words ([`StaleReason`]s) by
//! diffing the stage's key material against the one the lock recorded.
//!
//! Stages whose inputs are not computed yet (an empty store, say) are compared on the
//! assumption that each input reproduces the digest the lock records for it, which is
//! exactly what the run then checks; so every stage is compared up front, and an
//! upstream difference is reported once, at the stage where it arises.

use super::freshness::{UnkeyedStage, key_material, key_of};
use super::reason::{StaleReason, join, material_changes};
use crate::cache::KeyMaterial;
use crate::cache::Store;
use crate::cache::lockfile::{LockFile, LockedStage};
use crate::plan::Plan;
use std::collections::HashMap;
use std::fmt;

/// A stage that differs from the lock, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct LockDifference {
    pub instance: String,
    /// The stage's key, where it could be computed.
    pub key: Option<String>,
    pub reasons: Vec<StaleReason>,
}

impl fmt::Display for LockDifference {
    /// `instance: reason; reason`, one line of a refusal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.instance, join(&self.reasons))
    }
}

/// Why a stage whose key material is `km` (key `key`) does not match its lock record;
/// `None` when it matches.
pub(crate) fn lock_mismatch(locked: &LockedStage, km: &KeyMaterial, key: &str) -> Option<Vec<StaleReason>> {
    if key == locked.key {
        return None;
    }
    Some(match &locked.material {
        Some(material) => material_changes(km, material),
        None => vec![StaleReason::LockHasKeyOnly {
            key: key.to_string(),
            locked_key: locked.key.clone(),
        }],
    })
}

/// Every stage that differs from the lock, in plan order, then the locked stages the
/// pipeline no longer has. Empty when the plan matches the lock.
pub fn lock_differences(
    plan: &Plan,
    store: &Store,
    lock: &LockFile,
) -> Result<Vec<LockDifference>, UnkeyedStage> {
    let mut problems = Vec::new();
    let mut differs = |instance: &str, key: Option<&str>, reasons: Vec<StaleReason>| {
        problems.push(LockDifference {
            instance: instance.to_string(),
            key: key.map(str::to_string),
            reasons,
        })
    };
    // Output digest of every stage that matches the lock: the lock's (a cached entry has
    // that digest, a recompute must reproduce it).
    let mut digests: HashMap<String, String> = HashMap::new();
    for &id in plan.order() {
        let st = &plan.node(id).stage;
        let locked = lock.stages.get(&st.instance);
        // None: an input's digest is unknown because it differs already (reported there).
        let Some(km) = key_material(plan, store, id, &digests) else {
            if locked.is_none() {
                differs(&st.instance, None, vec![StaleReason::NotInLock]);
            }
            continue;
        };
        let key = key_of(&st.instance, &km)?;
        let Some(locked) = locked else {
            differs(&st.instance, Some(&key), vec![StaleReason::NotInLock]);
            continue;
        };
        if let Some(reasons) = lock_mismatch(locked, &km, &key) {
            differs(&st.instance, Some(&key), reasons);
            continue;
        }
        match store.get(&key) {
            Some(e) if e.manifest.digest != locked.digest => differs(
                &st.instance,
                Some(&key),
                vec![StaleReason::CachedOutputDiffers {
                    digest: e.manifest.digest,
                    locked_digest: locked.digest.clone(),
                }],
            ),
            Some(_) | None => {
                digests.insert(st.instance.clone(), locked.digest.clone());
            }
        }
    }
    for name in lock.stages.keys() {
        if plan.find(name).is_none() {
            differs(name, None, vec![StaleReason::NotInPipeline]);
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::KeyChange;
    use crate::value::Value;

    fn material(lr: f64) -> KeyMaterial {
        KeyMaterial {
            kind: "sft".into(),
            version: 1,
            params: [("lr".to_string(), Value::Float(lr))].into(),
            inputs: vec![],
            env: Default::default(),
            files: Default::default(),
            input_names: false,
        }
    }

    #[test]
    fn mismatches_are_explained_from_the_locked_material() {
        let (old, new) = (material(3e-4), material(1e-3));
        let (old_key, new_key) = (old.key().unwrap(), new.key().unwrap());
        let locked = LockedStage {
            kind: "sft".into(),
            key: old_key.clone(),
            digest: "d".into(),
            material: Some(old.clone()),
        };
        assert_eq!(lock_mismatch(&locked, &old, &old_key), None);
        assert_eq!(
            lock_mismatch(&locked, &new, &new_key),
            Some(vec![StaleReason::Changed(KeyChange::ParamChanged {
                param: "lr".into(),
                from: Value::Float(3e-4),
                to: Value::Float(1e-3),
            })])
        );
        // A lock from before key material was recorded still reads, and still refuses.
        let text = format!(
            r#"{{"pipeline": "p", "stages": {{"s": {{"kind": "sft", "key": "{old_key}", "digest": "d"}}}}}}"#
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.lock"), text).unwrap();
        let lf = LockFile::read(&dir.path().join("p.lock")).unwrap().unwrap();
        assert_eq!(
            lock_mismatch(&lf.stages["s"], &new, &new_key),
            Some(vec![StaleReason::LockHasKeyOnly {
                key: new_key,
                locked_key: old_key,
            }])
        );
    }
}
