//! Freshness: key material of each stage from its inputs' digests, and the status and
//! reason of every stage before a run (`sieve plan`; with `--verify`, cached entries are
//! also re-digested and damaged ones reported).
//!
//! Invariants: reasons come from the refs of the plan's own pipeline file ([`ref_scope`]),
//! never from another file that happens to declare the same pipeline name; they are
//! [`StaleReason`] values, worded only by their `Display`; a stage whose key cannot be
//! computed makes the whole assessment an error ([`UnkeyedStage`]), never a made-up key.

use super::reason::{StaleReason, join, material_changes};
use crate::cache::{KeyError, KeyInput, KeyMaterial, KeyMember, RefScope, Store};
use crate::confine::Access;
use crate::plan::{NodeId, Plan};
use crate::stages::{file_params, registry};
use crate::value::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A stage's status before running.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Cached {
        key: String,
        digest: String,
    },
    Stale {
        key: String,
        reasons: Vec<StaleReason>,
    },
    /// An input must be computed first; `reasons` are the stage's own changes that are
    /// known already (its parameters).
    Blocked {
        waits_on: Vec<String>,
        reasons: Vec<StaleReason>,
    },
    /// Cached, but the entry's files no longer match its manifest (only found by
    /// [`assess_verified`]). Downstream stages are assessed with the manifest's digest,
    /// which a recompute reproduces.
    Damaged {
        key: String,
        digest: String,
        problem: String,
    },
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Cached { .. } => "cached",
            Status::Stale { .. } => "stale",
            Status::Blocked { .. } => "blocked",
            Status::Damaged { .. } => "damaged",
        }
    }

    pub fn key(&self) -> Option<&str> {
        match self {
            Status::Cached { key, .. } | Status::Stale { key, .. } | Status::Damaged { key, .. } => Some(key),
            Status::Blocked { .. } => None,
        }
    }

    /// Every reason, in the order they are shown (a blocked stage's inputs first); none
    /// for a cached stage.
    pub fn reasons(&self) -> Vec<StaleReason> {
        match self {
            Status::Cached { .. } => Vec::new(),
            Status::Stale { reasons, .. } => reasons.clone(),
            Status::Damaged { problem, .. } => vec![StaleReason::Damaged {
                problem: problem.clone(),
            }],
            Status::Blocked { waits_on, reasons } => {
                let waits = (!waits_on.is_empty()).then(|| StaleReason::WaitsOn {
                    stages: waits_on.clone(),
                });
                waits.into_iter().chain(reasons.iter().cloned()).collect()
            }
        }
    }

    /// One-line reason.
    pub fn reason(&self) -> String {
        match self {
            Status::Cached { .. } => "up to date".into(),
            _ => join(&self.reasons()),
        }
    }
}

/// A stage whose cache key cannot be computed: its key material holds something a key
/// cannot represent (see [`KeyError`]).
#[derive(Debug, thiserror::Error)]
#[error("cannot compute the cache key of stage `{instance}`")]
pub struct UnkeyedStage {
    pub instance: String,
    #[source]
    pub source: KeyError,
}

/// The key of `km`, the key material of stage `instance`.
pub(crate) fn key_of(instance: &str, km: &KeyMaterial) -> Result<String, UnkeyedStage> {
    km.key().map_err(|source| UnkeyedStage {
        instance: instance.to_string(),
        source,
    })
}

/// The status of one plan node.
#[derive(Debug, Clone)]
pub struct StageStatus {
    pub node: NodeId,
    pub instance: String,
    pub kind: String,
    pub status: Status,
}

/// Whose refs a plan reads and writes: its pipeline file's.
pub fn ref_scope(plan: &Plan) -> RefScope {
    RefScope::new(&plan.pipeline, plan.file.as_deref())
}

/// Key material for a node, given the digests of its producers' outputs (`store`
/// memoises the digests of input files).
pub fn key_material(
    plan: &Plan,
    store: &Store,
    node: NodeId,
    digests: &HashMap<String, String>,
) -> Option<KeyMaterial> {
    let st = &plan.node(node).stage;
    let kind = registry().get(&st.kind)?;
    let mut inputs = Vec::with_capacity(st.inputs.len());
    for inp in &st.inputs {
        let mut members = Vec::with_capacity(inp.sources.len());
        for src in &inp.sources {
            // Every source is a node of the plan (`Plan::build` checks it).
            let producer = &plan.node(plan.find(src)?).stage;
            members.push(KeyMember {
                instance: src.clone(),
                coords: producer.coords.clone(),
                digest: digests.get(src)?.clone(),
            });
        }
        inputs.push(KeyInput {
            slot: inp.slot.clone(),
            members,
        });
    }
    let mut env = BTreeMap::new();
    if kind.device_sensitive(&st.params) {
        env.insert(
            "libtorch".to_string(),
            crate::device::LIBTORCH_VERSION.to_string(),
        );
        let dev = kind.device(&st.params).unwrap_or_else(|| "auto".into());
        let class = crate::device::class(&dev);
        if class == "cpu" {
            env.insert(
                "cpu_numerics".to_string(),
                crate::device::cpu_numerics().to_string(),
            );
        }
        env.insert("device".to_string(), class);
    }
    let mut files = BTreeMap::new();
    for f in file_params(kind, &st.params) {
        if f.access != Access::Read {
            continue;
        }
        // Checked again here (not only at lowering): a link swapped since is never read.
        let digest = match plan.files.stage_file(f.written, Access::Read) {
            // A tokenizer folder counts by its tokenizer files: a model folder's weights
            // are large and do not change how text is tokenized.
            Ok(path) => file_digest(store, &path, f.spec.ty.digested_files()),
            // The stage then fails with the refusal when it is about to run.
            Err(_) => "refused: outside the folders stages may read".to_string(),
        };
        files.insert(f.spec.name.to_string(), digest);
    }
    Some(KeyMaterial {
        kind: st.kind.clone(),
        version: kind.version(),
        params: st.params.0.clone(),
        inputs,
        env,
        files,
        input_names: kind.reads_input_names(&st.params),
    })
}

/// Content digest of an input file (or folder, e.g. a model; with `only`, of just those
/// top-level files of a folder), memoised by the store, or a marker when it cannot be
/// read (the stage then fails at run time with the real error; the key changes once the
/// file appears).
fn file_digest(store: &Store, path: &std::path::Path, only: Option<&[&str]>) -> String {
    let d = if path.is_dir() {
        store.input_dir_digest(path, only)
    } else {
        store.input_file_digest(path)
    };
    d.unwrap_or_else(|e| format!("unreadable: {}", e.kind()))
}

/// Why a stage with this key material is not cached.
pub(crate) fn stale_reasons(
    store: &Store,
    scope: &RefScope,
    instance: &str,
    km: &KeyMaterial,
    key: &str,
) -> Vec<StaleReason> {
    if store.has_entry_folder(key) {
        return vec![StaleReason::ManifestUnreadable];
    }
    let Some(old_key) = store.read_ref(scope, instance) else {
        return vec![StaleReason::NeverRun];
    };
    if old_key == key {
        return vec![StaleReason::EntryMissing];
    }
    match store.get(&old_key) {
        Some(old) => material_changes(km, &old.manifest.material),
        None => vec![StaleReason::PreviousResultGone],
    }
}

/// Own parameter changes of a blocked stage (its inputs are not known yet).
fn param_reasons(
    store: &Store,
    scope: &RefScope,
    instance: &str,
    km_params: &BTreeMap<String, Value>,
) -> Vec<StaleReason> {
    let Some(old) = store.read_ref(scope, instance).and_then(|k| store.get(&k)) else {
        return Vec::new();
    };
    let partial = KeyMaterial {
        params: km_params.clone(),
        ..old.manifest.material.clone()
    };
    partial
        .changes_since(&old.manifest.material)
        .into_iter()
        .map(StaleReason::Changed)
        .collect()
}

/// Statuses of every node, in plan order. `force` nodes are stale regardless.
pub fn assess(plan: &Plan, store: &Store, force: &HashSet<NodeId>) -> Result<Vec<StageStatus>, UnkeyedStage> {
    let scope = ref_scope(plan);
    let mut digests: HashMap<String, String> = HashMap::new();
    let mut not_ready: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(plan.len());
    for &id in plan.order() {
        let st = &plan.node(id).stage;
        let waits_on: Vec<String> = st
            .inputs
            .iter()
            .flat_map(|i| i.sources.iter())
            .filter(|s| not_ready.contains(*s))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let status = if !waits_on.is_empty() {
            Status::Blocked {
                waits_on,
                reasons: param_reasons(store, &scope, &st.instance, &st.params.0),
            }
        } else {
            match key_material(plan, store, id, &digests) {
                None => Status::Blocked {
                    waits_on: vec![],
                    reasons: vec![StaleReason::UnknownKind {
                        stage_kind: st.kind.clone(),
                    }],
                },
                Some(km) => {
                    let key = key_of(&st.instance, &km)?;
                    match (force.contains(&id), store.get(&key)) {
                        (false, Some(entry)) => Status::Cached {
                            key,
                            digest: entry.manifest.digest,
                        },
                        (true, _) => Status::Stale {
                            key,
                            reasons: vec![StaleReason::Forced],
                        },
                        (false, None) => {
                            let reasons = stale_reasons(store, &scope, &st.instance, &km, &key);
                            Status::Stale { key, reasons }
                        }
                    }
                }
            }
        };
        match &status {
            Status::Cached { digest, .. } => {
                digests.insert(st.instance.clone(), digest.clone());
            }
            _ => {
                not_ready.insert(st.instance.clone());
            }
        }
        out.push(StageStatus {
            node: id,
            instance: st.instance.clone(),
            kind: st.kind.clone(),
            status,
        });
    }
    Ok(out)
}

/// [`assess`], and every entry the plan would use (each cached stage's) re-digested
/// against its manifest: a damaged one turns its stage's status into `damaged`.
pub fn assess_verified(plan: &Plan, store: &Store) -> Result<Vec<StageStatus>, UnkeyedStage> {
    let mut statuses = assess(plan, store, &HashSet::new())?;
    for s in &mut statuses {
        verify_cached(&mut s.status, store);
    }
    Ok(statuses)
}

/// Re-digests the entry of a `cached` status against its manifest and turns the status
/// into `damaged` (with the problem) when its files no longer match; other statuses are
/// left as they are.
pub fn verify_cached(status: &mut Status, store: &Store) {
    let Status::Cached { key, digest } = status else {
        return;
    };
    if let Err(damage) = store.verified(key) {
        *status = Status::Damaged {
            key: key.clone(),
            digest: digest.clone(),
            problem: damage.problem,
        };
    }
}
