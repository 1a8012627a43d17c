//! The boundary between the engine and libtorch: stage bodies that need libtorch run
//! through a [`TorchRuntime`] installed by the process that has libtorch loaded.
//!
//! Why: loading libtorch and the CUDA libraries costs 0.3–0.6 s at process start, while
//! parsing, planning and checking 1,000 cached stages costs ~20 ms. So the `sieve`
//! binary never links libtorch: a stage kind that needs it ([`super::StageKind::needs_torch`])
//! implements `run` by calling [`run`] here, and the only code that references the real
//! bodies is [`crate::torch_runtime`], which the `sieve-torch` binary installs at start
//! (and the library's unit tests always use). The linker (lld with `--gc-sections --as-needed`, Rust's
//! default on x86-64 Linux) drops the unreachable bodies from `sieve`, and with them its
//! `DT_NEEDED` on libtorch. When `sieve run` finds a stage that needs libtorch and is not
//! cached, it hands the whole run to `sieve-torch` (see `cli::commands`).
//!
//! Invariant: nothing reachable from `sieve`'s `main` may name a `tch` item except
//! through this runtime; `cargo test --test integration torch_split` checks, with the
//! loader's trace, that `sieve` loads no libtorch.

use super::{StageContext, StageResult};
use std::sync::OnceLock;

/// The body of a stage kind that needs libtorch.
pub type Body = fn(&StageContext) -> StageResult;

/// What a libtorch-enabled process provides.
pub struct TorchRuntime {
    /// The body of a stage kind, by kind name (`None`: not a libtorch kind).
    pub body: fn(&str) -> Option<Body>,
    /// Number of CUDA devices libtorch sees.
    pub cuda_devices: fn() -> i64,
    /// Runs a `sieve bench …` command; returns the exit code.
    pub bench: fn(crate::bench::BenchCommand) -> i32,
}

static RUNTIME: OnceLock<TorchRuntime> = OnceLock::new();

/// Installs the runtime (first call wins; later calls are ignored).
pub fn install(rt: TorchRuntime) {
    let _ = RUNTIME.set(rt);
}

/// The installed runtime, if this process has libtorch.
#[cfg(not(test))]
pub fn runtime() -> Option<&'static TorchRuntime> {
    RUNTIME.get()
}

/// Unit tests always run with libtorch (the test binary links it).
#[cfg(test)]
pub fn runtime() -> Option<&'static TorchRuntime> {
    Some(RUNTIME.get_or_init(crate::torch_runtime::builtin))
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
    let body = (rt.body)(kind).ok_or_else(|| {
        super::StageError::Failed(format!("internal: no libtorch body for stage kind `{kind}`"))
    })?;
    body(ctx)
}
