//! Device selection: `auto | cpu | cuda | cuda:N`, shared by the pipeline-level `device`
//! variable and every stage's `device` parameter.
//!
//! Invariant: `auto` means CUDA device 0 when libtorch sees one, else CPU; asking for a
//! CUDA device that does not exist is an error, never a silent fallback.

use std::sync::OnceLock;

/// The libtorch version sieve is built against (tch 0.24.0 ↔ PyTorch 2.11.0); folded into
/// the cache key of device-sensitive stages.
pub const LIBTORCH_VERSION: &str = "2.11.0";

/// Number of CUDA devices libtorch sees (probed once per process).
pub fn cuda_devices() -> i64 {
    static N: OnceLock<i64> = OnceLock::new();
    *N.get_or_init(|| {
        if tch::Cuda::is_available() {
            tch::Cuda::device_count()
        } else {
            0
        }
    })
}

/// Parses and resolves a device spec.
pub fn resolve(spec: &str) -> Result<tch::Device, String> {
    let spec = spec.trim();
    match spec {
        "cpu" => Ok(tch::Device::Cpu),
        "auto" => Ok(if cuda_devices() > 0 {
            tch::Device::Cuda(0)
        } else {
            tch::Device::Cpu
        }),
        "cuda" => cuda(0),
        _ => match spec.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => cuda(i),
            _ => Err(format!(
                "unknown device `{spec}`: expected auto, cpu, cuda or cuda:N"
            )),
        },
    }
}

fn cuda(i: usize) -> Result<tch::Device, String> {
    let n = cuda_devices();
    if (i as i64) < n {
        Ok(tch::Device::Cuda(i))
    } else if n == 0 {
        Err(format!(
            "device cuda:{i} requested but libtorch sees no CUDA device (use device = \"cpu\" or \"auto\")"
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
        Ok(tch::Device::Cpu) | Err(_) => "cpu".into(),
        Ok(_) => "cuda".into(),
    }
}

/// Human name of a resolved device for manifests and logs.
pub fn describe(d: tch::Device) -> String {
    match d {
        tch::Device::Cpu => "cpu".into(),
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert!(check_syntax("cuda:1").is_ok());
        assert!(check_syntax("gpu").is_err());
        assert_eq!(resolve("cpu"), Ok(tch::Device::Cpu));
        assert!(resolve("tpu").is_err());
    }
}
