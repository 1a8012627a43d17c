//! Helpers for tests that run or check one stage kind outside a pipeline (used by this
//! crate's tests and by the `sieve-torch` crate's, hence public but hidden).
//!
//! Invariant: the parameters they build are what lowering would resolve — the kind's
//! declared defaults, overridden by the given values — so a kind behaves as in a run.

use super::context::NoProgress;
use super::declare::ParamStruct;
use super::{InputArtifact, InputSlot, Params, StageContext, StageKind, StageResult, registry};
use crate::value::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// The registered kind of this name (panics on an unknown name: a test's typo).
pub fn kind(name: &str) -> &'static dyn StageKind {
    registry()
        .get(name)
        .unwrap_or_else(|| panic!("no stage kind `{name}`"))
}

/// Parameters of a kind: its declared defaults with `over` applied.
pub fn params_of(kind: &dyn StageKind, over: &[(&str, Value)]) -> Params {
    let mut p = Params::default();
    for spec in kind.params() {
        if let Some(d) = spec.default {
            p.0.insert(spec.name.to_string(), d);
        }
    }
    for (k, v) in over {
        p.0.insert(k.to_string(), v.clone());
    }
    p
}

/// Parameters of a typed parameter struct: its declared defaults with `over` applied.
pub fn params<P: ParamStruct>(over: &[(&str, Value)]) -> Params {
    let mut p = Params::default();
    for spec in P::specs() {
        if let Some(d) = spec.default {
            p.0.insert(spec.name.to_string(), d);
        }
    }
    for (k, v) in over {
        p.0.insert(k.to_string(), v.clone());
    }
    p
}

/// Runs `kind` with its defaults overridden by `params`, inputs bound by slot name, into
/// `out` (created) with `work` as its work folder.
pub fn run_kind(
    kind: &dyn StageKind,
    params: &[(&str, Value)],
    inputs: &[(&str, &Path)],
    out: &Path,
    work: &Path,
) -> StageResult {
    let slots = kind
        .inputs()
        .iter()
        .map(|s| InputSlot {
            name: s.name.to_string(),
            members: inputs
                .iter()
                .filter(|(n, _)| *n == s.name)
                .map(|(_, d)| InputArtifact {
                    instance: s.name.to_string(),
                    coords: Vec::new(),
                    kind: s.kind,
                    dir: PathBuf::from(d),
                })
                .collect(),
        })
        .collect();
    std::fs::create_dir_all(out)?;
    let cancel = AtomicBool::new(false);
    let ctx = StageContext::new(
        "test".into(),
        params_of(kind, params),
        slots,
        out.into(),
        work.into(),
        None,
        &NoProgress,
        &cancel,
    )?;
    kind.run(&ctx)
}
