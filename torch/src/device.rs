//! The engine's devices (`sieve::device`) as libtorch devices.
//!
//! Invariant: device *selection* (what `auto` means, which CUDA devices exist, errors for
//! absent ones) is the engine's alone; this module only translates its answer.

use sieve::device::Device;

/// The libtorch device of a resolved engine device.
pub fn to_tch(d: Device) -> tch::Device {
    match d {
        Device::Cpu => tch::Device::Cpu,
        Device::Cuda(i) => tch::Device::Cuda(i),
    }
}

/// [`sieve::device::resolve`] as a libtorch device (for stage bodies).
pub fn resolve_tch(spec: &str) -> Result<tch::Device, String> {
    sieve::device::resolve(spec).map(to_tch)
}

/// CUDA devices libtorch sees (installed as the engine's device counter).
pub fn cuda_devices() -> i64 {
    if tch::Cuda::is_available() {
        tch::Cuda::device_count()
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_resolve_to_libtorch_devices() {
        assert_eq!(resolve_tch("cpu"), Ok(tch::Device::Cpu));
        assert_eq!(to_tch(Device::Cuda(1)), tch::Device::Cuda(1));
    }

    #[test]
    fn driver_probe_agrees_with_libtorch_here() {
        // Both count zero on a machine without NVIDIA devices; on a GPU machine both see
        // the same devices (unless libtorch is a CPU-only build).
        let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
        assert_eq!(sieve::device::driver_devices(visible.as_deref()), cuda_devices());
    }
}
