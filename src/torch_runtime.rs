//! The libtorch side of sieve, installed by the `sieve-torch` binary (and used by the
//! library's unit tests): the bodies of the stage kinds that need libtorch, the CUDA device count,
//! and the `bench` commands. See [`crate::stages::torch`] for why this is a separate
//! runtime rather than plain calls.
//!
//! Invariants: this module is the only place that names the libtorch bodies; the `sieve`
//! binary never calls [`install`], so none of it (and no libtorch) is linked into it.
//! Process-wide settings (MKL's vendor check, malloc thresholds) are applied by the
//! `sieve-torch` binary, never here: [`install`] only records what it applied.

use crate::stages::torch::{Body, TorchRuntime};
use std::sync::OnceLock;

/// Process-wide settings for libtorch's CPU kernels that the binary applied before
/// installing the runtime (see `src/bin/sieve-torch.rs`); benchmarks report them. All
/// off where no binary applied any (unit tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessSettings {
    /// MKL's CPU vendor check is answered "Intel" (its AVX2 / AVX-512 kernels run on any
    /// x86-64 CPU that has the instructions).
    pub mkl_vendor_override: bool,
    /// glibc's malloc keeps freed blocks up to 32 MiB for reuse.
    pub malloc_tuned: bool,
    /// CPU kernels pinned to the portable numerics the keys record (`avx2-cnr`).
    pub numerics_pinned: bool,
}

static SETTINGS: OnceLock<ProcessSettings> = OnceLock::new();

/// Installs the libtorch runtime into this process, recording the process settings
/// the caller applied.
pub fn install(settings: ProcessSettings) {
    let _ = SETTINGS.set(settings);
    crate::stages::torch::install(builtin());
}

/// The process settings recorded by [`install`] (all off when it was not called).
pub fn process_settings() -> ProcessSettings {
    SETTINGS.get().copied().unwrap_or_default()
}

/// The runtime value (also used directly by unit tests).
pub fn builtin() -> TorchRuntime {
    link_cuda();
    TorchRuntime {
        body,
        cuda_devices,
        bench: crate::bench::run,
    }
}

fn body(kind: &str) -> Option<Body> {
    use crate::stages::{evaluate, model, score, train};
    Some(match kind {
        "model.init" => model::init_body,
        "sft" => train::sft_body,
        "evaluate" => evaluate::evaluate_body,
        "score" => score::score_with_model_body,
        _ => return None,
    })
}

fn cuda_devices() -> i64 {
    if tch::Cuda::is_available() {
        tch::Cuda::device_count()
    } else {
        0
    }
}

/// Makes the linker record `libtorch_cuda.so` as needed by every binary that installs
/// this runtime. Nothing calls into it directly (CUDA is reached through libtorch's
/// dispatcher), so without a reference `--as-needed` would drop it, libtorch would never
/// register its CUDA backend, and tch would report no GPU. The symbol is a C function of
/// AOTInductor's stable shim; only its address is taken. `build.rs` sets the cfg when
/// the libtorch sieve builds against has CUDA.
#[cfg(sieve_libtorch_cuda)]
fn link_cuda() {
    #[link(name = "torch_cuda", kind = "dylib")]
    unsafe extern "C" {
        fn aoti_torch_create_cuda_guard();
    }
    std::hint::black_box(aoti_torch_create_cuda_guard as *const ());
}

#[cfg(not(sieve_libtorch_cuda))]
fn link_cuda() {}
