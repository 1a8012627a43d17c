//! Device selection: `auto | cpu | cuda | cuda:N`, shared by the pipeline-level `device`
//! variable and every stage's `device` parameter.
//!
//! Invariants: `auto` means CUDA device 0 when one is visible, else CPU; asking for a
//! CUDA device that does not exist is an error, never a silent fallback.
//!
//! Who counts the devices: a process with libtorch loaded (`sieve-torch`, tests) asks
//! libtorch; the `sieve` binary, which never loads libtorch (see [`crate::stages::torch`]),
//! counts the NVIDIA device nodes (`/dev/nvidiaN`) filtered by `CUDA_VISIBLE_DEVICES`.
//! The two agree wherever libtorch can use the driver. Where they differ:
//! - the driver shows GPUs libtorch cannot use (a CPU-only libtorch, a driver too old for
//!   its CUDA): `sieve` judges CUDA-keyed stages with `device = auto` stale and hands the
//!   run to `sieve-torch`, which decides with libtorch's answer (slower, not wrong);
//! - GPUs without `/dev/nvidiaN` nodes (WSL2's `/dev/dxg`, Tegra): [`count_is_certain`]
//!   is false and `sieve run` hands every run with a libtorch stage to `sieve-torch`,
//!   so a result keyed for the CPU is never reused on a machine whose libtorch sees a GPU.

use std::sync::OnceLock;

/// The libtorch version sieve is built against (tch 0.24.0 ↔ PyTorch 2.11.0); folded into
/// the cache key of device-sensitive stages.
pub const LIBTORCH_VERSION: &str = "2.11.0";

/// The CPU numerics mode of processes that run libtorch, folded into the key of every
/// device-sensitive stage on the CPU (see `model::cpu::pin_numerics`, which applies it).
///
/// `avx2-cnr`, on x86-64 CPUs with AVX2 and FMA: ATen's AVX2 kernels and MKL's AVX2 code
/// branch in strict conditional-numerical-reproducibility mode. Their results are the
/// same bits on every such CPU (Intel or AMD, with or without AVX-512) and for every
/// intra-op thread count, so a lock file made on one machine reproduces on another.
/// Left to choose, libtorch and MKL pick kernels by the CPU's instruction sets and split
/// matrix products by the thread count, and `sft` on the CPU then writes different
/// weights on a 1-thread and a 2-thread run of the same machine.
///
/// `native-<arch>` elsewhere (and with `SIEVE_MKL_VENDOR_CHECK=1`, where MKL's branch
/// follows the CPU vendor): the machine's own kernels, whose results may differ between
/// machines; the key says so, so such entries are never mistaken for portable ones.
pub fn cpu_numerics() -> &'static str {
    static MODE: OnceLock<String> = OnceLock::new();
    MODE.get_or_init(|| {
        if portable_cpu() && !mkl_vendor_check_requested() {
            CPU_NUMERICS_PORTABLE.to_string()
        } else {
            format!("native-{}", std::env::consts::ARCH)
        }
    })
}

/// The portable mode of [`cpu_numerics`].
pub const CPU_NUMERICS_PORTABLE: &str = "avx2-cnr";

#[cfg(target_arch = "x86_64")]
fn portable_cpu() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(not(target_arch = "x86_64"))]
fn portable_cpu() -> bool {
    false
}

/// Whether `SIEVE_MKL_VENDOR_CHECK=1` asks `sieve-torch` to keep MKL's own CPU vendor
/// check (read once per process; both binaries read it, so keys agree across a hand-off).
pub fn mkl_vendor_check_requested() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var("SIEVE_MKL_VENDOR_CHECK").is_ok_and(|v| v == "1"))
}

/// A resolved device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda(usize),
}

impl Device {
    /// The libtorch device.
    pub fn to_tch(self) -> tch::Device {
        match self {
            Device::Cpu => tch::Device::Cpu,
            Device::Cuda(i) => tch::Device::Cuda(i),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// Number of visible CUDA devices (probed once per process); 0 where only libtorch can
/// count them (see [`count_is_certain`]).
pub fn cuda_devices() -> i64 {
    probe().unwrap_or(0)
}

/// False where this process cannot count CUDA devices without libtorch: GPUs reached
/// through WSL2's `/dev/dxg` (or Tegra's `nvhost` nodes) have no `/dev/nvidiaN`. `sieve
/// run` then leaves every decision about libtorch stages to `sieve-torch`.
pub fn count_is_certain() -> bool {
    probe().is_some()
}

fn probe() -> Option<i64> {
    static N: OnceLock<Option<i64>> = OnceLock::new();
    *N.get_or_init(|| match crate::stages::torch::runtime() {
        Some(rt) => Some((rt.cuda_devices)()),
        None => {
            let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
            let n = driver_devices(visible.as_deref());
            let other_gpu_nodes = ["/dev/dxg", "/dev/nvhost-ctrl-gpu"]
                .iter()
                .any(|p| std::path::Path::new(p).exists());
            if n == 0 && other_gpu_nodes { None } else { Some(n) }
        }
    })
}

/// NVIDIA devices the driver exposes, as CUDA would number them under
/// `CUDA_VISIBLE_DEVICES` (`visible`).
fn driver_devices(visible: Option<&str>) -> i64 {
    let nodes = std::fs::read_dir("/dev")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.strip_prefix("nvidia")
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
                .count() as i64
        })
        .unwrap_or(0);
    visible_count(nodes, visible)
}

/// CUDA's reading of `CUDA_VISIBLE_DEVICES`: entries up to the first invalid or repeated
/// one; an index must exist, a `GPU-…`/`MIG-…` UUID is taken as valid.
fn visible_count(nodes: i64, visible: Option<&str>) -> i64 {
    let Some(list) = visible else {
        return nodes;
    };
    if nodes == 0 {
        return 0;
    }
    let mut seen: Vec<&str> = Vec::new();
    for entry in list.split(',').map(str::trim) {
        let valid = match entry.parse::<i64>() {
            Ok(i) => (0..nodes).contains(&i),
            Err(_) => entry.starts_with("GPU-") || entry.starts_with("MIG-"),
        };
        if !valid || seen.contains(&entry) {
            break;
        }
        seen.push(entry);
    }
    seen.len() as i64
}

/// Parses and resolves a device spec.
pub fn resolve(spec: &str) -> Result<Device, String> {
    resolve_among(spec, cuda_devices())
}

/// [`resolve`] as if `n` CUDA devices were visible (the scheduler's tests pass a fake
/// count through `RunOptions::cuda_devices`).
pub fn resolve_among(spec: &str, n: i64) -> Result<Device, String> {
    let spec = spec.trim();
    match spec {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(if n > 0 { Device::Cuda(0) } else { Device::Cpu }),
        "cuda" => cuda(0, n),
        _ => match spec.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => cuda(i, n),
            _ => Err(format!(
                "unknown device `{spec}`: expected auto, cpu, cuda or cuda:N"
            )),
        },
    }
}

/// [`resolve`] as a libtorch device (for stage bodies).
pub fn resolve_tch(spec: &str) -> Result<tch::Device, String> {
    resolve(spec).map(Device::to_tch)
}

fn cuda(i: usize, n: i64) -> Result<Device, String> {
    if (i as i64) < n {
        Ok(Device::Cuda(i))
    } else if n == 0 {
        Err(format!(
            "device cuda:{i} requested but no CUDA device is visible (use device = \"cpu\" or \"auto\")"
        ))
    } else {
        Err(format!(
            "device cuda:{i} requested but only {n} CUDA device(s) are visible"
        ))
    }
}

/// Syntax check only (no CUDA probe): used at lowering time.
pub fn check_syntax(spec: &str) -> Result<(), String> {
    match spec {
        "auto" | "cpu" | "cuda" => Ok(()),
        s if s
            .strip_prefix("cuda:")
            .is_some_and(|n| n.parse::<usize>().is_ok()) =>
        {
            Ok(())
        }
        s => Err(format!(
            "unknown device `{s}`: expected auto, cpu, cuda or cuda:N"
        )),
    }
}

/// The device class folded into cache keys: `cpu` or `cuda`.
pub fn class(spec: &str) -> String {
    match resolve(spec) {
        Ok(Device::Cpu) | Err(_) => "cpu".into(),
        Ok(Device::Cuda(_)) => "cuda".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert!(check_syntax("cuda:1").is_ok());
        assert!(check_syntax("gpu").is_err());
        assert_eq!(resolve("cpu"), Ok(Device::Cpu));
        assert_eq!(resolve_tch("cpu"), Ok(tch::Device::Cpu));
        assert!(resolve("tpu").is_err());
        assert_eq!(Device::Cuda(1).to_string(), "cuda:1");
        assert_eq!(resolve_among("cuda:1", 2), Ok(Device::Cuda(1)));
        assert_eq!(resolve_among("auto", 2), Ok(Device::Cuda(0)));
        assert!(
            resolve_among("cuda:2", 2)
                .unwrap_err()
                .contains("only 2 CUDA device(s)")
        );
    }

    #[test]
    fn visible_devices_follow_cuda_rules() {
        assert_eq!(visible_count(2, None), 2);
        assert_eq!(visible_count(0, Some("0")), 0);
        assert_eq!(visible_count(2, Some("")), 0);
        assert_eq!(visible_count(2, Some("1")), 1);
        assert_eq!(visible_count(2, Some("1,0")), 2);
        // CUDA stops at the first invalid entry.
        assert_eq!(visible_count(2, Some("0,5,1")), 1);
        assert_eq!(visible_count(2, Some("-1")), 0);
        assert_eq!(visible_count(4, Some("GPU-8f2a,MIG-1")), 2);
        assert_eq!(visible_count(2, Some("0,0,1")), 1);
    }

    #[test]
    fn driver_probe_agrees_with_libtorch_here() {
        // Both count zero on a machine without NVIDIA devices; on a GPU machine both see
        // the same devices (unless libtorch is a CPU-only build).
        let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
        let driver = driver_devices(visible.as_deref());
        let torch = if tch::Cuda::is_available() {
            tch::Cuda::device_count()
        } else {
            0
        };
        assert_eq!(driver, torch);
    }
}
