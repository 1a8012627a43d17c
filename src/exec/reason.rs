//! Why a stage is not cached — or, under `--locked`, why it differs from the lock: the
//! [`StaleReason`] values that freshness, the scheduler and the `--locked` comparison
//! produce. Their `Display` is the one place that words them (`sieve plan`, `run` events,
//! `--locked` refusals); serde gives their `--json` form, one object tagged by `kind`
//! (`{"kind": "param_changed", "param": "lr", "from": 0.003, "to": 0.001}`).
//!
//! Invariants: a list of reasons reads as their texts joined by "; " ([`join`]); a
//! difference of key material is the cache's [`KeyChange`], wrapped and serialised
//! unchanged, so diffs are worded once (in `cache::key`); when two key materials whose
//! keys differ show no difference the diff can name, the reason is
//! [`StaleReason::KeyMaterialChanged`] ([`material_changes`]), never an empty list.

use crate::cache::digest::short;
use crate::cache::{KeyChange, KeyMaterial, UNREADABLE_MANIFEST};
use serde::Serialize;
use std::fmt;

/// One reason why a stage must be computed (or is refused by `--locked`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StaleReason {
    /// This pipeline file's refs hold no key for the instance.
    NeverRun,
    /// The instance last ran with this very key, but its entry is gone.
    EntryMissing,
    /// `--force` named it.
    Forced,
    /// The cached entry's files no longer match its manifest (`plan --verify`).
    Damaged { problem: String },
    /// `entries/` holds a folder for this very key without a readable manifest: a damaged
    /// entry (not an absent one), which the run quarantines before recomputing.
    ManifestUnreadable,
    /// The instance last ran with another key whose entry is gone: nothing to diff against.
    PreviousResultGone,
    /// The key differs, and the diff of the key materials names no difference.
    KeyMaterialChanged,
    /// No registered stage kind has this name.
    UnknownKind { stage_kind: String },
    /// Blocked: these inputs must be computed first (the key depends on their digests).
    WaitsOn { stages: Vec<String> },
    /// `--locked`: the lock has no record of the instance.
    NotInLock,
    /// `--locked`: the key differs from a lock that records only keys (older versions).
    LockHasKeyOnly { key: String, locked_key: String },
    /// `--locked`: the store's entry for the locked key has another output digest.
    CachedOutputDiffers { digest: String, locked_digest: String },
    /// `--locked`: the lock records an instance the pipeline does not have.
    NotInPipeline,
    /// The key material differs from the last run's (or the lock's) in this way.
    #[serde(untagged)]
    Changed(KeyChange),
}

impl fmt::Display for StaleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StaleReason::NeverRun => f.write_str("never run"),
            StaleReason::EntryMissing => f.write_str("cache entry missing (removed by `sieve cache gc`?)"),
            StaleReason::Forced => f.write_str("forced with --force"),
            StaleReason::Damaged { problem } => write!(
                f,
                "entry damaged: {problem}; the next run that reads it moves it to quarantine and \
                 recomputes it first (`--force` recomputes it now)"
            ),
            StaleReason::ManifestUnreadable => write!(
                f,
                "entry damaged: {UNREADABLE_MANIFEST}; the run moves it to quarantine and recomputes it"
            ),
            StaleReason::PreviousResultGone => {
                f.write_str("changed since the last run (its previous result is no longer in the store)")
            }
            StaleReason::KeyMaterialChanged => f.write_str("key material changed"),
            StaleReason::UnknownKind { .. } => f.write_str("unknown stage kind"),
            StaleReason::WaitsOn { stages } => {
                let shown: Vec<String> = stages.iter().take(3).map(|n| format!("`{n}`")).collect();
                write!(f, "waits on {}", shown.join(", "))?;
                if stages.len() > 3 {
                    write!(f, " and {} more", stages.len() - 3)?;
                }
                Ok(())
            }
            StaleReason::NotInLock => f.write_str("not in the lock file"),
            StaleReason::LockHasKeyOnly { key, locked_key } => write!(
                f,
                "key {} differs from the lock's {} (the lock does not record what it was computed from)",
                short(key),
                short(locked_key)
            ),
            StaleReason::CachedOutputDiffers {
                digest,
                locked_digest,
            } => write!(
                f,
                "its cached output {} differs from the lock's {}",
                short(digest),
                short(locked_digest)
            ),
            StaleReason::NotInPipeline => f.write_str("in the lock file but not in the pipeline"),
            StaleReason::Changed(change) => change.fmt(f),
        }
    }
}

/// The one-line text of several reasons.
pub fn join(reasons: &[StaleReason]) -> String {
    let texts: Vec<String> = reasons.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

/// The `--json` form of several reasons: an array of tagged objects.
pub fn to_json(reasons: &[StaleReason]) -> serde_json::Value {
    let item = |r: &StaleReason| {
        // Reasons are plain data (strings, numbers, `Value`s), which serialise without
        // error; were one ever to fail, it shows as such with its text instead of vanishing.
        serde_json::to_value(r).unwrap_or_else(
            |e| serde_json::json!({"kind": "unserialisable", "error": e.to_string(), "text": r.to_string()}),
        )
    };
    serde_json::Value::Array(reasons.iter().map(item).collect())
}

/// Why `new` differs from `old`, given that their keys differ: each difference the diff
/// can name, or [`StaleReason::KeyMaterialChanged`].
pub(crate) fn material_changes(new: &KeyMaterial, old: &KeyMaterial) -> Vec<StaleReason> {
    let changes: Vec<StaleReason> = new
        .changes_since(old)
        .into_iter()
        .map(StaleReason::Changed)
        .collect();
    if changes.is_empty() {
        vec![StaleReason::KeyMaterialChanged]
    } else {
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    /// The texts `sieve plan` has always printed (scripts and docs quote them).
    #[test]
    fn reasons_keep_their_wording() {
        let stages = |n: usize| (0..n).map(|i| format!("s{i}")).collect::<Vec<_>>();
        let cases = [
            (StaleReason::NeverRun, "never run"),
            (
                StaleReason::EntryMissing,
                "cache entry missing (removed by `sieve cache gc`?)",
            ),
            (StaleReason::Forced, "forced with --force"),
            (
                StaleReason::ManifestUnreadable,
                "entry damaged: its manifest is missing or unreadable; the run moves it to \
                 quarantine and recomputes it",
            ),
            (
                StaleReason::PreviousResultGone,
                "changed since the last run (its previous result is no longer in the store)",
            ),
            (StaleReason::KeyMaterialChanged, "key material changed"),
            (
                StaleReason::UnknownKind {
                    stage_kind: "x.y".into(),
                },
                "unknown stage kind",
            ),
            (StaleReason::WaitsOn { stages: stages(2) }, "waits on `s0`, `s1`"),
            (
                StaleReason::WaitsOn { stages: stages(5) },
                "waits on `s0`, `s1`, `s2` and 2 more",
            ),
            (StaleReason::NotInLock, "not in the lock file"),
            (
                StaleReason::LockHasKeyOnly {
                    key: "a".repeat(64),
                    locked_key: "b".repeat(64),
                },
                "key aaaaaaaaaaaa differs from the lock's bbbbbbbbbbbb (the lock does not record what it was computed from)",
            ),
            (
                StaleReason::CachedOutputDiffers {
                    digest: "c".repeat(64),
                    locked_digest: "0".repeat(64),
                },
                "its cached output cccccccccccc differs from the lock's 000000000000",
            ),
            (
                StaleReason::NotInPipeline,
                "in the lock file but not in the pipeline",
            ),
        ];
        for (reason, want) in &cases {
            assert_eq!(reason.to_string(), *want);
        }
        let damaged = StaleReason::Damaged {
            problem: "file out.txt differs from the manifest".into(),
        };
        assert!(
            damaged
                .to_string()
                .starts_with("entry damaged: file out.txt differs from the manifest; the next run"),
            "{damaged}"
        );
    }

    #[test]
    fn key_changes_render_and_serialise_unwrapped() {
        let reasons = vec![
            StaleReason::Changed(KeyChange::ParamChanged {
                param: "lr".into(),
                from: Value::Float(3e-3),
                to: Value::Float(1e-3),
            }),
            StaleReason::WaitsOn {
                stages: vec!["tuned".into()],
            },
        ];
        assert_eq!(
            join(&reasons),
            "parameter lr changed 3e-3 → 1e-3; waits on `tuned`"
        );
        assert_eq!(
            to_json(&reasons),
            serde_json::json!([
                {"kind": "param_changed", "param": "lr", "from": 3e-3, "to": 1e-3},
                {"kind": "waits_on", "stages": ["tuned"]},
            ])
        );
        assert_eq!(
            to_json(&[StaleReason::NeverRun]),
            serde_json::json!([{"kind": "never_run"}])
        );
    }

    #[test]
    fn key_material_that_differs_namelessly_still_has_a_reason() {
        let km = |input_names: bool| KeyMaterial {
            kind: "concat".into(),
            version: 1,
            params: Default::default(),
            inputs: vec![],
            env: Default::default(),
            files: Default::default(),
            input_names,
        };
        assert_eq!(
            material_changes(&km(true), &km(false)),
            vec![StaleReason::KeyMaterialChanged]
        );
    }
}
