//! The decoder-only transformer of the Llama / Qwen2 family in tch: token embedding,
//! `L` pre-norm blocks (RMSNorm → grouped-query attention with RoPE → residual, RMSNorm
//! → SwiGLU MLP → residual), a final RMSNorm and the LM head (tied or untied).
//!
//! Invariants:
//! - every parameter lives in the model's `VarStore` under its Hugging Face name
//!   (`model.embed_tokens.weight`, `model.layers.{i}.self_attn.q_proj.weight`, …,
//!   `lm_head.weight`), so safetensors load/save is a direct name mapping;
//! - numerics follow `transformers`' `modeling_qwen2.py` / `modeling_llama.py`: RMSNorm in
//!   f32 then cast back, RoPE tables computed in f32 from the positions (half-split
//!   `rotate_half` layout), attention through `scaled_dot_product_attention` with scale
//!   `head_dim^-1/2`, grouped-query (`enable_gqa`) without a mask and k/v heads repeated
//!   with one, exactly as `transformers`' SDPA attention chooses;
//! - attention masks are boolean `[b, 1, q, k]` tensors, `true` = may attend; a query
//!   always attends to itself, so left-padding rows never produce NaN.

use super::config::ModelConfig;
use super::{KvCache, ModelError};
use rand::{RngExt, SeedableRng};
use tch::{Device, Kind, Tensor, nn};

/// A linear layer `y = x Wᵀ + b` with HF-named parameters `weight` / `bias`.
#[derive(Debug)]
struct Linear {
    w: Tensor,
    b: Option<Tensor>,
}

impl Linear {
    fn new(p: &nn::Path, name: &str, d_in: usize, d_out: usize, bias: bool) -> Self {
        let p = p / name;
        let w = p.zeros("weight", &[d_out as i64, d_in as i64]);
        let b = bias.then(|| p.zeros("bias", &[d_out as i64]));
        Linear { w, b }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.w, self.b.as_ref())
    }
}

/// One decoder block.
#[derive(Debug)]
struct Block {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    gate: Linear,
    up: Linear,
    down: Linear,
    ln_attn: Tensor,
    ln_mlp: Tensor,
}

/// The model: configuration, parameters and forward pass.
#[derive(Debug)]
pub struct Transformer {
    config: ModelConfig,
    vs: nn::VarStore,
    embed: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
    lm_head: Option<Tensor>,
    /// RoPE inverse frequencies, `[head_dim / 2]`, always f32.
    inv_freq: Tensor,
    n_heads: i64,
    n_kv: i64,
    head_dim: i64,
    /// Fused kernels in the forward pass (see [`Transformer::set_fused_kernels`]).
    fused: bool,
}

/// `RMSNorm(x) = w ⊙ x / sqrt(mean(x²) + ε)`, computed in f32 and cast back as HF does.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Tensor {
    let kind = x.kind();
    let xf = x.to_kind(Kind::Float);
    let var = xf.pow_tensor_scalar(2).mean_dim(-1, true, Kind::Float);
    let y = xf * (var + eps).rsqrt();
    w * y.to_kind(kind)
}

fn rotate_half(x: &Tensor) -> Tensor {
    let half = x.size()[x.dim() - 1] / 2;
    let x1 = x.narrow(-1, 0, half);
    let x2 = x.narrow(-1, half, half);
    Tensor::cat(&[&x2.neg(), &x1], -1)
}

/// Repeats each k/v head `rep` times: `[b, n_kv, t, d] → [b, n_kv·rep, t, d]`.
fn repeat_kv(x: &Tensor, rep: i64) -> Tensor {
    if rep == 1 {
        return x.shallow_clone();
    }
    let (b, n, t, d) = x.size4().expect("k/v are 4-d");
    x.unsqueeze(2)
        .expand([b, n, rep, t, d], false)
        .reshape([b, n * rep, t, d])
}

/// Attention of one query per row over cached keys, without repeating k/v heads:
/// `q` `[b, n_heads, 1, d]`, `k`/`v` `[b, n_kv, len, d]` (views of the cache),
/// `bias` `[b, 1, 1, len]` f32 (0 or −∞); scores and softmax in f32.
fn decode_attention(q: &Tensor, k: &Tensor, v: &Tensor, bias: &Tensor, scale: f64) -> Tensor {
    let (b, nh, _, d) = q.size4().expect("q is 4-d");
    let nkv = k.size()[1];
    let qg = (q * scale).reshape([b, nkv, nh / nkv, d]);
    let scores = qg.matmul(&k.transpose(-1, -2)) + bias; // [b, n_kv, rep, len] f32
    let p = scores.softmax(-1, Kind::Float).to_kind(q.kind());
    p.matmul(v).reshape([b, nh, 1, d])
}

/// Boolean attention mask `[b, 1, q, k]` for a causal model over keys `0..k` where only
/// `valid[b, j]` keys exist (left/right padding); queries sit at key positions
/// `k - q .. k`. A query always attends to itself.
pub fn padding_causal_mask(valid: &Tensor, q_len: i64) -> Tensor {
    let k_len = valid.size()[1];
    let dev = valid.device();
    let qi = Tensor::arange_start(k_len - q_len, k_len, (Kind::Int64, dev)).unsqueeze(1);
    let kj = Tensor::arange(k_len, (Kind::Int64, dev)).unsqueeze(0);
    let causal = kj.le_tensor(&qi); // [q, k]
    let diag = kj.eq_tensor(&qi);
    let keys = valid.to_kind(Kind::Bool).unsqueeze(1).unsqueeze(1); // [b,1,1,k]
    causal
        .unsqueeze(0)
        .unsqueeze(0)
        .logical_and(&keys)
        .logical_or(&diag.unsqueeze(0).unsqueeze(0))
}

/// Block-diagonal causal mask `[b, 1, t, t]` for packed sequences: a token attends to
/// earlier tokens of the same segment (`segments[b, i]`, any integer id).
pub fn segment_causal_mask(segments: &Tensor) -> Tensor {
    let t = segments.size()[1];
    let dev = segments.device();
    let i = Tensor::arange(t, (Kind::Int64, dev));
    let causal = i.unsqueeze(0).le_tensor(&i.unsqueeze(1)); // [t(q), t(k)]
    let same = segments.unsqueeze(2).eq_tensor(&segments.unsqueeze(1)); // [b, q, k]
    same.logical_and(&causal.unsqueeze(0)).unsqueeze(1)
}

impl Transformer {
    /// Builds a model with all-zero parameters (biases 0, norms 1) on `device`, stored in
    /// `kind`. Call [`Transformer::init_weights`] or load weights afterwards.
    pub fn new(config: ModelConfig, device: Device, kind: Kind) -> Result<Self, ModelError> {
        config.validate()?;
        let mut vs = nn::VarStore::new(device);
        let h = config.hidden_size;
        let (nh, nkv, hd) = (config.num_attention_heads, config.kv_heads(), config.head_dim());
        let root = vs.root();
        let m = &root / "model";
        let embed = (&m / "embed_tokens").zeros("weight", &[config.vocab_size as i64, h as i64]);
        let mut blocks = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = &m / "layers" / i;
            let a = &l / "self_attn";
            let mlp = &l / "mlp";
            let (qkv_b, o_b, mlp_b) = (config.qkv_bias(), config.o_bias(), config.mlp_bias());
            blocks.push(Block {
                q: Linear::new(&a, "q_proj", h, nh * hd, qkv_b),
                k: Linear::new(&a, "k_proj", h, nkv * hd, qkv_b),
                v: Linear::new(&a, "v_proj", h, nkv * hd, qkv_b),
                o: Linear::new(&a, "o_proj", nh * hd, h, o_b),
                gate: Linear::new(&mlp, "gate_proj", h, config.intermediate_size, mlp_b),
                up: Linear::new(&mlp, "up_proj", h, config.intermediate_size, mlp_b),
                down: Linear::new(&mlp, "down_proj", config.intermediate_size, h, mlp_b),
                ln_attn: (&l / "input_layernorm").ones("weight", &[h as i64]),
                ln_mlp: (&l / "post_attention_layernorm").ones("weight", &[h as i64]),
            });
        }
        let norm = (&m / "norm").ones("weight", &[h as i64]);
        let lm_head = (!config.tie_word_embeddings)
            .then(|| (&root / "lm_head").zeros("weight", &[config.vocab_size as i64, h as i64]));
        // inv_freq_i = 1 / θ^(2i/d), computed in f32 exactly as `_compute_default_rope_parameters`.
        let exps = Tensor::arange_start_step(0, hd as i64, 2, (Kind::Int64, device)).to_kind(Kind::Float)
            / hd as f64;
        let inv_freq = Tensor::pow_scalar(config.rope_theta(), &exps).reciprocal();
        if kind != Kind::Float {
            vs.set_kind(kind);
        }
        Ok(Transformer {
            n_heads: nh as i64,
            n_kv: nkv as i64,
            head_dim: hd as i64,
            fused: device.is_cuda(),
            config,
            vs,
            embed,
            blocks,
            norm,
            lm_head,
            inv_freq,
        })
    }

    /// Initialises parameters like `transformers`' `_init_weights`: N(0, initializer_range)
    /// for embeddings and projections, zeros for biases, ones for norms. Deterministic in
    /// `seed` on every device (values drawn on the CPU from a ChaCha stream, in name order).
    pub fn init_weights(&self, seed: u64) {
        let std = self.config.initializer_range;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for (name, mut t) in self.named_parameters() {
            tch::no_grad(|| {
                if name.ends_with("norm.weight") {
                    let _ = t.fill_(1.0);
                } else if name.ends_with(".bias") {
                    let _ = t.zero_();
                } else {
                    let n = t.numel();
                    let mut vals = Vec::with_capacity(n);
                    while vals.len() < n {
                        // Box–Muller: two independent N(0,1) draws from two uniforms.
                        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
                        let u2: f64 = rng.random::<f64>();
                        let r = (-2.0 * u1.ln()).sqrt();
                        let th = 2.0 * std::f64::consts::PI * u2;
                        vals.push((r * th.cos() * std) as f32);
                        vals.push((r * th.sin() * std) as f32);
                    }
                    vals.truncate(n);
                    let src = Tensor::from_slice(&vals)
                        .view(t.size().as_slice())
                        .to_device(t.device())
                        .to_kind(t.kind());
                    t.copy_(&src);
                }
            });
        }
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Whether the forward pass uses fused kernels: libtorch's fused RMSNorm (one kernel
    /// forward and backward instead of eight element-wise passes with f32 copies) and a
    /// direct single-query attention over the KV cache when decoding padded rows (no
    /// repeated k/v copies of the whole cache). On by default on CUDA; off (the CPU
    /// default), the numerics follow `transformers`' modules op for op, which the parity
    /// tests pin. Either way the maths is the same; results differ by rounding only.
    pub fn fused_kernels(&self) -> bool {
        self.fused
    }

    /// Turns the fused kernels of [`Transformer::fused_kernels`] on or off.
    pub fn set_fused_kernels(&mut self, on: bool) {
        self.fused = on;
    }

    /// Storage dtype of the parameters.
    pub fn kind(&self) -> Kind {
        self.embed.kind()
    }

    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    pub fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    /// All parameters with their HF names, sorted by name.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<_> = self.vs.variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Total number of parameter elements.
    pub fn num_parameters(&self) -> usize {
        self.named_parameters().iter().map(|(_, t)| t.numel()).sum()
    }

    /// The weight the LM head multiplies by, `[vocab, hidden]` (the embedding when tied).
    pub fn lm_head_weight(&self) -> &Tensor {
        self.lm_head.as_ref().unwrap_or(&self.embed)
    }

    /// Runs the decoder and returns the final normed hidden states `[b, t, hidden]`.
    ///
    /// - `input_ids`: `[b, t]` int64.
    /// - `positions`: `[b, t]` RoPE positions; default `past .. past + t` for every row.
    /// - `mask`: boolean `[b, 1, t, past + t]` (`true` = attend); default causal.
    /// - `cache`: appended to (and read from) when given.
    // `x = x + …` (not `+=`): the residual stream is saved by autograd for RMSNorm's
    // backward, so it must not be modified in place.
    #[allow(clippy::assign_op_pattern)]
    pub fn forward_hidden(
        &self,
        input_ids: &Tensor,
        positions: Option<&Tensor>,
        mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
    ) -> Tensor {
        let (b, t) = input_ids.size2().expect("input_ids must be [batch, seq]");
        let past = cache.as_ref().map(|c| c.len()).unwrap_or(0);
        let dev = input_ids.device();
        let pos = match positions {
            Some(p) => p.shallow_clone(),
            None => Tensor::arange_start(past, past + t, (Kind::Int64, dev))
                .unsqueeze(0)
                .expand([b, t], false),
        };
        let kind = self.kind();
        // RoPE tables [b, 1, t, d]: freqs = pos ⊗ inv_freq in f32, duplicated (half-split layout).
        let freqs = pos.to_kind(Kind::Float).unsqueeze(-1) * &self.inv_freq;
        let emb = Tensor::cat(&[&freqs, &freqs], -1);
        let cos = emb.cos().to_kind(kind).unsqueeze(1);
        let sin = emb.sin().to_kind(kind).unsqueeze(1);
        // Without an explicit mask: causal via the flash-eligible flag when there is no
        // past, no mask at all for one query over a cache, an explicit one otherwise.
        let built;
        let (mask, is_causal) = match mask {
            Some(m) => (Some(m), false),
            None if past == 0 => (None, t > 1),
            None if t == 1 => (None, false),
            None => {
                built = padding_causal_mask(&Tensor::ones([b, past + t], (Kind::Bool, dev)), t);
                (Some(&built), false)
            }
        };
        let mut x = Tensor::embedding(&self.embed, input_ids, -1, false, false);
        let eps = self.config.rms_norm_eps;
        let rep = self.n_heads / self.n_kv;
        let fused = self.fused;
        let norm = |x: &Tensor, w: &Tensor| {
            if fused {
                x.internal_fused_rms_norm([x.size()[x.dim() - 1]], Some(w), eps).0
            } else {
                rms_norm(x, w, eps)
            }
        };
        // One query over a cache with a padding mask: the mask as an additive f32 bias,
        // shared by every layer's direct attention.
        let decode_bias = match mask {
            Some(m) if fused && t == 1 => Some(
                Tensor::zeros(m.size().as_slice(), (Kind::Float, dev))
                    .masked_fill(&m.logical_not(), f64::NEG_INFINITY),
            ),
            _ => None,
        };
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        for (li, blk) in self.blocks.iter().enumerate() {
            let h = norm(&x, &blk.ln_attn);
            let (q, k, v) = (blk.q.forward(&h), blk.k.forward(&h), blk.v.forward(&h));
            let q = q.view([b, t, self.n_heads, self.head_dim]).transpose(1, 2);
            let k = k.view([b, t, self.n_kv, self.head_dim]).transpose(1, 2);
            let v = v.view([b, t, self.n_kv, self.head_dim]).transpose(1, 2);
            let q = &q * &cos + rotate_half(&q) * &sin;
            let k = &k * &cos + rotate_half(&k) * &sin;
            let (k, v) = match cache.as_deref_mut() {
                Some(c) => c.append(li, &k, &v),
                None => (k, v),
            };
            let y = if mask.is_none() {
                // Grouped-query SDPA: k/v heads are not repeated (flash on CUDA), as
                // transformers' SDPA attention does without a mask.
                Tensor::scaled_dot_product_attention(&q, &k, &v, None::<Tensor>, 0.0, is_causal, None, true)
            } else if let Some(bias) = &decode_bias {
                decode_attention(&q, &k, &v, bias, scale)
            } else {
                let (k, v) = (repeat_kv(&k, rep), repeat_kv(&v, rep));
                Tensor::scaled_dot_product_attention(&q, &k, &v, mask, 0.0, is_causal, None, false)
            };
            let y = y.transpose(1, 2).reshape([b, t, self.n_heads * self.head_dim]);
            x = x + blk.o.forward(&y);
            let h = norm(&x, &blk.ln_mlp);
            // SwiGLU: down(silu(gate(h)) ⊙ up(h)).
            let m = blk
                .down
                .forward(&(blk.gate.forward(&h).silu() * blk.up.forward(&h)));
            x = x + m;
        }
        if let Some(c) = cache {
            c.advance(t);
        }
        norm(&x, &self.norm)
    }

    /// LM-head projection of hidden states: `[…, hidden] → […, vocab]`.
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        hidden.linear::<Tensor>(self.lm_head_weight(), None)
    }

    /// Convenience: `logits(forward_hidden(…))`, `[b, t, vocab]` in the storage dtype.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        positions: Option<&Tensor>,
        mask: Option<&Tensor>,
        cache: Option<&mut KvCache>,
    ) -> Tensor {
        self.logits(&self.forward_hidden(input_ids, positions, mask, cache))
    }

    /// An empty KV cache for `batch` rows and up to `capacity` positions.
    pub fn new_cache(&self, batch: i64, capacity: i64) -> KvCache {
        KvCache::new(
            self.blocks.len(),
            batch,
            self.n_kv,
            capacity,
            self.head_dim,
            self.kind(),
            self.device(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::{Family, Sizes};

    fn nano(family: Family) -> Transformer {
        let cfg = ModelConfig::new(
            family,
            &Sizes::preset("nano").unwrap(),
            50,
            Some(1),
            Some(2),
            Some(0),
        );
        let m = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
        m.init_weights(3);
        m
    }

    #[test]
    fn hf_parameter_names() {
        let m = nano(Family::Qwen2);
        let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"model.embed_tokens.weight".to_string()));
        assert!(names.contains(&"model.layers.1.self_attn.q_proj.bias".to_string()));
        assert!(!names.contains(&"model.layers.1.self_attn.o_proj.bias".to_string()));
        assert!(names.contains(&"model.layers.0.mlp.gate_proj.weight".to_string()));
        assert!(names.contains(&"model.norm.weight".to_string()));
        assert!(
            !names.iter().any(|n| n.starts_with("lm_head")),
            "tied preset has no lm_head"
        );
        assert_eq!(m.num_parameters(), m.config().num_parameters());
        let l = nano(Family::Llama);
        assert_eq!(l.num_parameters(), l.config().num_parameters());
    }

    #[test]
    fn init_is_seeded() {
        let a = nano(Family::Qwen2);
        let b = nano(Family::Qwen2);
        for ((_, x), (_, y)) in a.named_parameters().iter().zip(b.named_parameters().iter()) {
            assert!(x.equal(y));
        }
        let w = &a.named_parameters()[0].1;
        let std = w.std(true).double_value(&[]);
        assert!((std - 0.02).abs() < 0.003, "std {std}");
    }

    #[test]
    fn cache_matches_full_forward_and_padding_is_transparent() {
        let m = nano(Family::Qwen2);
        tch::no_grad(|| {
            let ids = Tensor::from_slice(&[5i64, 7, 9, 11, 13, 4]).view([1, 6]);
            let full = m.forward(&ids, None, None, None);
            // Prefill 4, then two single steps through the cache.
            let mut c = m.new_cache(1, 8);
            let a = m.forward(&ids.narrow(1, 0, 4), None, None, Some(&mut c));
            let b = m.forward(&ids.narrow(1, 4, 1), None, None, Some(&mut c));
            let d = m.forward(&ids.narrow(1, 5, 1), None, None, Some(&mut c));
            let inc = Tensor::cat(&[a, b, d], 1);
            assert!(full.allclose(&inc, 1e-5, 1e-5, false));
            // Left padding with a mask and shifted positions gives the same logits.
            let padded = Tensor::from_slice(&[0i64, 0, 5, 7, 9, 11, 13, 4]).view([1, 8]);
            let valid = padded.ne(0);
            let pos = (valid.to_kind(Kind::Int64).cumsum(1, Kind::Int64) - 1).clamp_min(0);
            let mask = padding_causal_mask(&valid, 8);
            let out = m.forward(&padded, Some(&pos), Some(&mask), None).narrow(1, 2, 6);
            assert!(full.allclose(&out, 1e-5, 1e-5, false));
            // Packing two segments equals running them separately.
            let seg = Tensor::from_slice(&[0i64, 0, 0, 1, 1, 1]).view([1, 6]);
            let pos2 = Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2]).view([1, 6]);
            let packed = m.forward(&ids, Some(&pos2), Some(&segment_causal_mask(&seg)), None);
            let second = m.forward(&ids.narrow(1, 3, 3), None, None, None);
            assert!(packed.narrow(1, 3, 3).allclose(&second, 1e-5, 1e-5, false));
        });
    }

    #[test]
    fn fused_kernels_match_the_reference_path() {
        let mut m = nano(Family::Qwen2);
        assert!(!m.fused_kernels(), "off on the CPU by default");
        let ids = Tensor::from_slice(&[0i64, 0, 5, 7, 9, 11, 13, 4, 3, 8, 6, 1, 2, 9, 4, 7]).view([2, 8]);
        let valid = ids.ne(0);
        let pos = (valid.to_kind(Kind::Int64).cumsum(1, Kind::Int64) - 1).clamp_min(0);
        let run = |m: &Transformer| {
            tch::no_grad(|| {
                let full = m.forward(&ids, None, None, None);
                // Padded prefill of 6, then two decode steps with the padding mask.
                let mut c = m.new_cache(2, 8);
                let mask6 = padding_causal_mask(&valid.narrow(1, 0, 6), 6);
                let a = m.forward(
                    &ids.narrow(1, 0, 6),
                    Some(&pos.narrow(1, 0, 6)),
                    Some(&mask6),
                    Some(&mut c),
                );
                let mut steps = vec![a];
                for j in 6..8 {
                    let mk = padding_causal_mask(&valid.narrow(1, 0, j + 1), 1);
                    let x = m.forward(
                        &ids.narrow(1, j, 1),
                        Some(&pos.narrow(1, j, 1)),
                        Some(&mk),
                        Some(&mut c),
                    );
                    steps.push(x);
                }
                // Unpadded decode (no mask) over a cache.
                let mut c2 = m.new_cache(2, 8);
                let _ = m.forward(&ids.narrow(1, 2, 4), None, None, Some(&mut c2));
                let u = m.forward(&ids.narrow(1, 6, 1), None, None, Some(&mut c2));
                (full, Tensor::cat(&steps, 1), u)
            })
        };
        let reference = run(&m);
        m.set_fused_kernels(true);
        let fused = run(&m);
        for (a, b) in [
            (&reference.0, &fused.0),
            (&reference.1, &fused.1),
            (&reference.2, &fused.2),
        ] {
            let d = (a - b).abs().max().double_value(&[]);
            assert!(d < 1e-4, "{d}");
        }
        // Gradients through the fused path equal the reference path's.
        let grads = |m: &Transformer| {
            for (_, p) in m.named_parameters() {
                let mut g = p.grad();
                if g.defined() {
                    let _ = g.zero_();
                }
            }
            m.forward(&ids, None, None, None)
                .square()
                .sum(Kind::Float)
                .backward();
            m.named_parameters()
                .iter()
                .map(|(_, p)| p.grad().copy())
                .collect::<Vec<_>>()
        };
        let gf = grads(&m);
        m.set_fused_kernels(false);
        let gr = grads(&m);
        for (a, b) in gf.iter().zip(&gr) {
            let d = (a - b).abs().max().double_value(&[]);
            assert!(d < 1e-4 * (1.0 + b.abs().max().double_value(&[])), "{d}");
        }
    }
}
