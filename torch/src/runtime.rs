//! Installs the libtorch side into the engine: the bodies of the stage kinds that need
//! libtorch ([`crate::stages::bodies`]), libtorch's CUDA device count, and the `bench`
//! commands. The `sieve-torch` binary calls [`install`] first thing; the crate's tests
//! call [`install_for_tests`]. See `sieve::stages::torch` for why the engine reaches
//! libtorch through a runtime rather than plain calls.
//!
//! Invariants: process-wide settings (CPU kernels, MKL's vendor check, malloc thresholds)
//! are applied by the `sieve-torch` binary, never here: [`install`] only records what it
//! applied.

use sieve::stages::torch::TorchRuntime;
use std::sync::OnceLock;

/// Process-wide settings for libtorch's CPU kernels that the binary applied before
/// installing the runtime (see `src/main.rs`); benchmarks report them. All off where no
/// binary applied any (tests).
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
    link_cuda();
    sieve::device::install_cuda_counter(crate::device::cuda_devices);
    sieve::stages::torch::install(TorchRuntime {
        bodies: crate::stages::bodies(),
        bench: crate::bench::run,
    });
}

/// Installs the runtime with no process settings applied (idempotent), for tests that
/// run stages through the engine.
pub fn install_for_tests() {
    install(ProcessSettings::default());
}

/// The process settings recorded by [`install`] (all off when it was not called).
pub fn process_settings() -> ProcessSettings {
    SETTINGS.get().copied().unwrap_or_default()
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
