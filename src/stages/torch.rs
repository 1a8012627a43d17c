//! The boundary between the engine and libtorch: stage bodies that need libtorch run
//! through a [`TorchRuntime`] installed by the process that has libtorch loaded.
//!
//! Why: loading libtorch and the CUDA libraries costs 0.3–0.6 s at process start, while
//! parsing, planning and checking 1,000 cached stages costs ~20 ms. So the engine crate
//! (this one, and the `sieve` binary) does not depend on libtorch at all: a stage kind
//! that needs it ([`super::StageKind::needs_torch`]) is declared here, with its
//! parameters, inputs and checks, and its body lives in the `sieve-torch` crate, which
//! registers it by kind name when its binary starts. When `sieve run` finds a stage that
//! needs libtorch and is not cached, it hands the whole run to `sieve-torch` (see
//! `cli::commands`).
//!
//! Invariant: the crate graph keeps the boundary — `cargo tree -p sieve` lists no tch —
//! and `tests/torch_split.rs` checks, with the loader's trace, that `sieve` loads no
//! libtorch; the `sieve-torch` crate's tests check that every kind that can need libtorch
//! has a registered body.

use super::{StageContext, StageResult};
use std::sync::OnceLock;

/// The body of a stage kind that needs libtorch.
pub type Body = fn(&StageContext) -> StageResult;

/// What a libtorch-enabled process provides.
pub struct TorchRuntime {
    /// The bodies of the stage kinds that need libtorch, by kind name.
    pub bodies: Vec<(&'static str, Body)>,
    /// Runs `sieve bench ARGS…` (its arguments after `bench`); returns the exit code.
    pub bench: fn(Vec<String>) -> i32,
}

static RUNTIME: OnceLock<TorchRuntime> = OnceLock::new();

/// Installs the runtime (first call wins; later calls are ignored).
pub fn install(rt: TorchRuntime) {
    let _ = RUNTIME.set(rt);
}

/// The installed runtime, if this process has libtorch.
pub fn runtime() -> Option<&'static TorchRuntime> {
    RUNTIME.get()
}

/// Runs the libtorch body of stage kind `kind`.
pub fn run(kind: &str, ctx: &StageContext) -> StageResult {
    let rt = runtime().ok_or_else(|| {
        super::StageError::Failed(format!(
            "stage kind `{kind}` needs libtorch, but this process has not loaded it: its cache \
             entry was there when `sieve` decided the run needs no libtorch and has gone since \
             (removed by `sieve cache gc` or by hand?); run again"
        ))
    })?;
    let body = rt
        .bodies
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, body)| *body)
        .ok_or_else(|| {
            super::StageError::Failed(format!("internal: no libtorch body for stage kind `{kind}`"))
        })?;
    body(ctx)
}
