//! The hidden `sieve bench …` commands: measurements of the model and training
//! libraries that the performance documentation quotes (`docs/performance.md`) and that
//! `scripts/gpu-check.sh` runs on a lent GPU machine next to the same workloads in
//! PyTorch / `transformers` (`scripts/bench/*.py`).
//!
//! - `bench model`: training and generation throughput of a random-init model of a
//!   named shape, through the real training step ([`crate::train::sft::Stepper`]) and
//!   the real [`crate::model::generate`]; one JSON object per mode ([`model`]).
//! - `bench parity`: logits (and greedy continuations) of a Hugging Face folder on given
//!   ids, as JSON, for comparing against `transformers` on the same device ([`parity`]).
//!
//! Invariants: nothing here is used by pipelines; every result line is a
//! self-describing JSON object (shape, device, dtype, batch, timings, memory and how it
//! was measured), so a ratio can always be recomputed from two lines.

pub mod memory;
pub mod model;
pub mod parity;

/// The `bench` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Training and generation throughput of a random-init model of a named shape.
    Model(model::ModelArgs),
    /// Logits and greedy continuations of a model folder on given ids, as JSON.
    Parity(parity::ParityArgs),
}

/// `sieve bench …` as `sieve-torch` parses it (the engine's command line passes the
/// arguments through).
#[derive(clap::Parser, Debug)]
#[command(name = "sieve bench")]
struct BenchCli {
    #[command(subcommand)]
    what: BenchCommand,
}

/// Runs `sieve bench ARGS…`; returns the process exit code (0 ok, 1 failed, 2 bad
/// arguments).
pub fn run(args: Vec<String>) -> i32 {
    use clap::Parser;
    let cmd = match BenchCli::try_parse_from(std::iter::once("sieve bench".to_string()).chain(args)) {
        Ok(cli) => cli.what,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let res = match cmd {
        BenchCommand::Model(a) => model::run(&a),
        BenchCommand::Parity(a) => parity::run(&a),
    };
    match res {
        Ok(()) => 0,
        Err(BenchError::Usage(m)) => {
            eprintln!("error: {m}");
            2
        }
        Err(BenchError::Failed(m)) => {
            eprintln!("error: {m}");
            1
        }
    }
}

/// Why a benchmark did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Invalid arguments (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The measurement itself failed (exit code 1).
    #[error("{0}")]
    Failed(String),
}

impl From<crate::model::ModelError> for BenchError {
    fn from(e: crate::model::ModelError) -> Self {
        BenchError::Failed(e.to_string())
    }
}

impl From<crate::train::TrainError> for BenchError {
    fn from(e: crate::train::TrainError) -> Self {
        BenchError::Failed(e.to_string())
    }
}

/// Parses a `--device` value (`auto | cpu | cuda | cuda:N`).
pub(crate) fn device(s: &str) -> Result<tch::Device, BenchError> {
    crate::model::parse_device(s).map_err(|e| BenchError::Usage(e.to_string()))
}

/// Applies a `--fused` value (`auto | on | off`, see `Transformer::set_fused_kernels`).
pub(crate) fn set_fused(model: &mut crate::model::Transformer, fused: &str) -> Result<(), BenchError> {
    match fused {
        "auto" => {}
        "on" => model.set_fused_kernels(true),
        "off" => model.set_fused_kernels(false),
        f => {
            return Err(BenchError::Usage(format!(
                "--fused {f}: expected auto, on or off"
            )));
        }
    }
    Ok(())
}

/// Parses a `--dtype` value (`auto | f32 | bf16 | f16`); `auto` is the device's default.
pub(crate) fn dtype(s: &str, dev: tch::Device) -> Result<tch::Kind, BenchError> {
    Ok(match s {
        "auto" => crate::model::default_kind(dev),
        "f32" | "float32" => tch::Kind::Float,
        "bf16" | "bfloat16" => tch::Kind::BFloat16,
        "f16" | "float16" => tch::Kind::Half,
        other => {
            return Err(BenchError::Usage(format!(
                "unknown dtype `{other}` (auto, f32, bf16, f16)"
            )));
        }
    })
}

/// Short dtype name for JSON output.
pub(crate) fn dtype_name(k: tch::Kind) -> &'static str {
    match k {
        tch::Kind::Float => "f32",
        tch::Kind::BFloat16 => "bf16",
        tch::Kind::Half => "f16",
        _ => "other",
    }
}

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

unsafe extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// CPU time consumed by the whole process so far, in seconds (all threads;
/// `CLOCK_PROCESS_CPUTIME_ID`). On a busy machine it is a steadier measure of CPU work
/// than wall time.
pub fn process_cpu_seconds() -> f64 {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer; clock id 2 is
    // CLOCK_PROCESS_CPUTIME_ID on Linux.
    let rc = unsafe { clock_gettime(2, &mut ts) };
    if rc == 0 {
        ts.sec as f64 + ts.nsec as f64 * 1e-9
    } else {
        f64::NAN
    }
}

/// Waits for the device's queued work (no-op on the CPU).
pub(crate) fn sync(dev: tch::Device) {
    if let tch::Device::Cuda(i) = dev {
        tch::Cuda::synchronize(i as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices_and_dtypes() {
        assert_eq!(device("cpu").unwrap(), tch::Device::Cpu);
        assert!(matches!(device("tpu"), Err(BenchError::Usage(_))));
        assert_eq!(dtype("auto", tch::Device::Cpu).unwrap(), tch::Kind::Float);
        assert_eq!(dtype("bf16", tch::Device::Cpu).unwrap(), tch::Kind::BFloat16);
        assert!(dtype("f8", tch::Device::Cpu).is_err());
        assert_eq!(dtype_name(tch::Kind::BFloat16), "bf16");
        let a = process_cpu_seconds();
        let mut x = 0u64;
        for i in 0..3_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu_seconds() > a);
    }
}
