//! AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", Algorithm 2)
//! over a model's parameters, with f32 master weights for low-precision models and
//! global-norm gradient clipping.
//!
//! Invariants: the optimiser's whole state (moments, master weights, step count) is a
//! list of named tensors ([`AdamW::state_tensors`]) that checkpoints save and restore
//! bit-exactly; when a parameter is stored in bf16/f16 the update is applied to its f32
//! master copy and then cast into the parameter, so precision is never lost across steps.
//! The moments are always f32.

use crate::model::Transformer;
use std::collections::HashMap;
use tch::{Kind, Tensor};

/// Hyper-parameters of AdamW.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay λ (applied as `θ ← θ − lr·λ·θ`); not applied to biases
    /// and norm weights (1-d parameters).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

struct ParamState {
    name: String,
    param: Tensor,
    master: Option<Tensor>,
    m: Tensor,
    v: Tensor,
    decay: bool,
}

/// The optimiser.
pub struct AdamW {
    cfg: AdamWConfig,
    params: Vec<ParamState>,
    /// Number of updates applied so far (t in the bias corrections).
    step: i64,
}

impl AdamW {
    /// State for every parameter of `model` (zero moments; masters copied from bf16/f16
    /// parameters).
    pub fn new(model: &Transformer, cfg: AdamWConfig) -> Self {
        let params = model
            .named_parameters()
            .into_iter()
            .map(|(name, param)| {
                tch::no_grad(|| {
                    let master = (param.kind() != Kind::Float).then(|| param.to_kind(Kind::Float).detach());
                    let m = param.zeros_like().to_kind(Kind::Float);
                    let v = param.zeros_like().to_kind(Kind::Float);
                    let decay = param.dim() >= 2;
                    ParamState {
                        name,
                        param,
                        master,
                        m,
                        v,
                        decay,
                    }
                })
            })
            .collect();
        AdamW { cfg, params, step: 0 }
    }

    /// Updates applied so far.
    pub fn steps_done(&self) -> i64 {
        self.step
    }

    /// Clears every parameter's gradient.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            let mut g = p.param.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// Global L2 norm of all gradients (f32 scalar tensor on the model's device).
    pub fn grad_norm(&self) -> Tensor {
        let sq: Vec<Tensor> = self
            .params
            .iter()
            .filter_map(|p| {
                let g = p.param.grad();
                g.defined()
                    .then(|| g.to_kind(Kind::Float).pow_tensor_scalar(2).sum(Kind::Float))
            })
            .collect();
        if sq.is_empty() {
            return Tensor::from(0f32);
        }
        Tensor::stack(&sq, 0).sum(Kind::Float).sqrt()
    }

    /// Scales gradients so their global norm is at most `max_norm` (no-op when
    /// `max_norm ≤ 0`), then applies one AdamW update with learning rate `lr`.
    /// `norm` is the value of [`AdamW::grad_norm`] for these gradients.
    pub fn step(&mut self, lr: f64, max_norm: f64, norm: f64) {
        let clip = if max_norm > 0.0 && norm > max_norm {
            max_norm / (norm + 1e-6)
        } else {
            1.0
        };
        self.step += 1;
        let t = self.step as f64;
        let AdamWConfig {
            beta1: b1,
            beta2: b2,
            eps,
            weight_decay,
        } = self.cfg;
        let bc1 = 1.0 - b1.powf(t);
        let bc2 = 1.0 - b2.powf(t);
        tch::no_grad(|| {
            for p in &mut self.params {
                let g = p.param.grad();
                if !g.defined() {
                    continue;
                }
                let g = g.to_kind(Kind::Float) * clip;
                // m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
                p.m *= b1;
                p.m += &g * (1.0 - b1);
                p.v *= b2;
                p.v += g.square() * (1.0 - b2);
                let mut target = match &p.master {
                    Some(m) => m.shallow_clone(),
                    None => p.param.shallow_clone(),
                };
                if p.decay && weight_decay > 0.0 {
                    target *= 1.0 - lr * weight_decay;
                }
                // θ ← θ − lr · m̂ / (√v̂ + ε), with m̂ = m / (1−β1ᵗ), v̂ = v / (1−β2ᵗ).
                let denom = (&p.v / bc2).sqrt() + eps;
                target -= (&p.m / bc1) / denom * lr;
                if p.master.is_some() {
                    p.param.copy_(&target);
                }
            }
        });
    }

    /// The optimiser state as named tensors: `m.<param>`, `v.<param>`,
    /// `master.<param>` (when present) and `step`.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for p in &self.params {
            out.push((format!("m.{}", p.name), p.m.shallow_clone()));
            out.push((format!("v.{}", p.name), p.v.shallow_clone()));
            if let Some(m) = &p.master {
                out.push((format!("master.{}", p.name), m.shallow_clone()));
            }
        }
        out.push(("step".into(), Tensor::from_slice(&[self.step])));
        out
    }

    /// Restores a state written by [`AdamW::state_tensors`]; parameters with a master
    /// copy are re-cast from it. Errors name the first missing or mis-shaped entry.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<(), String> {
        let get = |k: &str, like: &Tensor| -> Result<Tensor, String> {
            let t = state
                .get(k)
                .ok_or_else(|| format!("optimizer state lacks `{k}`"))?;
            if t.size() != like.size() {
                return Err(format!(
                    "optimizer state `{k}` has shape {:?}, expected {:?}",
                    t.size(),
                    like.size()
                ));
            }
            Ok(t.to_device(like.device()).to_kind(like.kind()))
        };
        for p in &mut self.params {
            let (m, v) = (
                get(&format!("m.{}", p.name), &p.m)?,
                get(&format!("v.{}", p.name), &p.v)?,
            );
            tch::no_grad(|| {
                p.m.copy_(&m);
                p.v.copy_(&v);
            });
            if let Some(master) = &mut p.master {
                let src = get(&format!("master.{}", p.name), master)?;
                tch::no_grad(|| {
                    master.copy_(&src);
                    p.param.copy_(&src);
                });
            }
        }
        self.step = state
            .get("step")
            .map(|t| t.int64_value(&[0]))
            .ok_or("optimizer state lacks `step`")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::{Family, ModelConfig, Sizes};
    use tch::Device;

    #[test]
    fn matches_closed_form_first_step_and_clips() {
        let cfg = ModelConfig::new(
            Family::Qwen2,
            &Sizes::preset("nano").unwrap(),
            10,
            None,
            None,
            None,
        );
        let m = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
        m.init_weights(0);
        let before = m.named_parameters()[0].1.copy();
        let mut opt = AdamW::new(&m, AdamWConfig::default());
        let x = Tensor::from_slice(&[1i64, 2, 3]).view([1, 3]);
        m.forward(&x, None, None, None).sum(Kind::Float).backward();
        let norm = opt.grad_norm().double_value(&[]);
        assert!(norm > 0.0);
        opt.step(0.01, 0.0, norm);
        // First Adam step moves every coordinate with a non-zero gradient by ≈ lr.
        let after = &m.named_parameters()[0].1;
        let d = (after - &before).abs().max().double_value(&[]);
        assert!((d - 0.01).abs() < 1e-4, "{d}");
        // Round trip of the state.
        let st: HashMap<String, Tensor> = opt.state_tensors().into_iter().collect();
        let mut o2 = AdamW::new(&m, AdamWConfig::default());
        o2.load_state(&st).unwrap();
        assert_eq!(o2.steps_done(), 1);
    }
}
