//! The model library: a Llama / Qwen2-family decoder in tch ([`transformer`]), Hugging
//! Face folder load/save ([`hf`]), batched generation ([`generate`]) and per-token
//! log-probabilities / entropies ([`logprobs`]). The HF `config.json`, header-only
//! folder checks and tokenizers are the engine's (`sieve::model`), re-exported here.
//!
//! Invariants: this module knows nothing about stages or the cache; every model it
//! writes is a folder `transformers` loads unchanged; tch panics (shape errors, CUDA
//! OOM) are turned into [`ModelError`]s by [`catch_torch`] at library entry points that
//! run user-sized computations.

pub mod generate;
pub mod hf;
pub mod logprobs;
pub mod transformer;

pub use sieve::model::{ModelError, config, folder, tokenizer};

#[cfg(test)]
mod parity_tests;

#[cfg(test)]
mod cuda_tests;

pub use config::{Family, ModelConfig, Sizes};
pub use folder::check_folder;
pub use generate::{Finish, GenerateOptions, Generation, generate, generate_with_seeds};
pub use hf::{LoadedModel, load_model, load_pretrained, save_pretrained};
pub use logprobs::{Example, SeqBatch, TokenStats, token_stats};
pub use tokenizer::Tok;
pub use transformer::Transformer;

use tch::{Device, Kind, Tensor};

/// Parses `auto | cpu | cuda | cuda:N` (see [`sieve::device::resolve`]): `auto` is CUDA
/// device 0 when available, else CPU; an absent CUDA device is an error.
pub fn parse_device(s: &str) -> Result<Device, ModelError> {
    crate::device::resolve_tch(s).map_err(ModelError::Device)
}

/// The compute dtype sieve uses on a device: bf16 on CUDA, f32 on CPU.
pub fn default_kind(device: Device) -> Kind {
    if device.is_cuda() {
        Kind::BFloat16
    } else {
        Kind::Float
    }
}

/// Device class for cache keys: `cpu` or `cuda-smXY`.
pub fn device_class(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        _ => "cuda".into(),
    }
}

/// Runs `f`, turning a tch panic into [`ModelError::Torch`] with `what` as context.
/// CUDA out-of-memory panics are reported as such.
pub fn catch_torch<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, ModelError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            let first = torch_message(&msg);
            if msg.contains("out of memory") {
                Err(ModelError::Torch(format!(
                    "CUDA out of memory while {what}: {first}"
                )))
            } else {
                Err(ModelError::Torch(format!("{what}: {first}")))
            }
        }
    }
}

/// The useful part of a tch panic message: the libtorch error text without the
/// `called Result::unwrap()` wrapper and without the C++ backtrace that follows it
/// (which arrives either as real or as escaped newlines).
pub(crate) fn torch_message(msg: &str) -> String {
    let inner = match msg.find("Torch(\"") {
        Some(i) => &msg[i + 7..],
        None => msg,
    };
    let cut = ["\\nException raised from", "\nException raised from", "\\n", "\n"]
        .iter()
        .filter_map(|m| inner.find(m))
        .min()
        .unwrap_or(inner.len());
    inner[..cut].trim_end_matches(['"', ')']).trim().to_string()
}

/// A preallocated key/value cache: per layer `[b, n_kv, capacity, head_dim]` buffers
/// filled up to `len` positions.
#[derive(Debug)]
pub struct KvCache {
    k: Vec<Tensor>,
    v: Vec<Tensor>,
    len: i64,
    capacity: i64,
}

impl KvCache {
    /// Allocates buffers for `layers` layers.
    pub fn new(
        layers: usize,
        batch: i64,
        n_kv: i64,
        capacity: i64,
        head_dim: i64,
        kind: Kind,
        device: Device,
    ) -> Self {
        let mk = || Tensor::zeros([batch, n_kv, capacity, head_dim], (kind, device));
        KvCache {
            k: (0..layers).map(|_| mk()).collect(),
            v: (0..layers).map(|_| mk()).collect(),
            len: 0,
            capacity,
        }
    }

    /// Positions already cached.
    pub fn len(&self) -> i64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> i64 {
        self.capacity
    }

    /// Writes `k`, `v` (`[b, n_kv, t, d]`) for `layer` after the cached positions and
    /// returns the layer's keys and values so far. The length advances in [`Self::advance`].
    pub(crate) fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> (Tensor, Tensor) {
        let t = k.size()[2];
        assert!(
            self.len + t <= self.capacity,
            "KV cache overflow: {} + {t} > capacity {}",
            self.len,
            self.capacity
        );
        tch::no_grad(|| {
            self.k[layer].narrow(2, self.len, t).copy_(k);
            self.v[layer].narrow(2, self.len, t).copy_(v);
        });
        (
            self.k[layer].narrow(2, 0, self.len + t),
            self.v[layer].narrow(2, 0, self.len + t),
        )
    }

    pub(crate) fn advance(&mut self, t: i64) {
        self.len += t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert!(parse_device("auto").is_ok());
        assert!(parse_device("tpu").unwrap_err().to_string().contains("tpu"));
        if !tch::Cuda::is_available() {
            assert!(parse_device("cuda:0").is_err());
            assert_eq!(parse_device("auto").unwrap(), Device::Cpu);
        }
    }

    #[test]
    fn torch_messages_lose_backtraces() {
        let m = "called `Result::unwrap()` on an `Err` value: Torch(\"CUDA out of memory. Tried to allocate 12.00 GiB.\\nException raised from malloc\\nframe #0\")";
        assert_eq!(
            torch_message(m),
            "CUDA out of memory. Tried to allocate 12.00 GiB."
        );
        assert_eq!(torch_message("shape mismatch\nmore"), "shape mismatch");
    }

    #[test]
    fn panics_become_errors() {
        let e = catch_torch("multiplying", || {
            Tensor::zeros([2, 3], (Kind::Float, Device::Cpu))
                .matmul(&Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)))
        });
        let e = e.unwrap_err().to_string();
        assert!(
            e.contains("multiplying") && !e.contains("frame #") && !e.contains("unwrap"),
            "{e}"
        );
    }
}
