//! What this crate's tests need from the machine beyond the engine's
//! (`sieve::testenv`, re-exported): a CUDA device. Tests that need one carry
//! `#[cfg_attr(not(sieve_cuda_device), ignore = "…")]` (set by `build.rs`), so they are
//! reported as skipped where the driver shows no device.
//!
//! Invariant: a test that reaches a helper here has its requirement, or fails.

pub use sieve::testenv::python;

/// The first CUDA device; panics when libtorch sees none (the test was built for a
/// machine whose driver shows one, so that is a failure, not a skip).
pub fn cuda() -> tch::Device {
    assert!(
        tch::Cuda::is_available(),
        "the NVIDIA driver shows a device (/dev/nvidiaN) but libtorch sees no CUDA device"
    );
    tch::Device::Cuda(0)
}
