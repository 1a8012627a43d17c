//! AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", Algorithm 2)
//! over a model's parameters, with f32 master weights for low-precision models and
//! global-norm gradient clipping.
//!
//! Invariants: the optimiser's whole state (moments, master weights, step count) is a
//! list of named tensors ([`AdamW::state_tensors`]) that checkpoints save and restore
//! bit-exactly; when a parameter is stored in bf16/f16 the update is applied to its f32
//! master copy and then cast into the parameter, so precision is never lost across steps.
//! The moments are always f32.

use super::TrainError;
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

/// Where one parameter lives in the flat buffers.
struct Slot {
    name: String,
    offset: i64,
    numel: i64,
    shape: Vec<i64>,
}

/// Largest piece of a flat buffer handed to the fused kernel as one list entry.
const PIECE: i64 = 1 << 28;

/// The optimiser.
///
/// All parameters, gradients, moments (and master weights) live in flat buffers, one of
/// each for the whole model: [`AdamW::new`] re-homes every model parameter and its
/// gradient into views of them (values unchanged), so clearing gradients, their global
/// norm and the update are a handful of whole-model operations instead of a dozen per
/// parameter. The update is libtorch's fused AdamW kernel ([`super::fused`]); the same
/// formula as plain tensor operations is kept for comparison (tests, benchmarks: about
/// 5× slower on the CPU, see `docs/performance.md`). Parameters with weight decay
/// (matrices) come first in the buffers.
pub struct AdamW {
    cfg: AdamWConfig,
    slots: Vec<Slot>,
    /// Parameters in their storage dtype; every model parameter is a view of it.
    param: Tensor,
    /// Gradients in the parameters' dtype; every parameter's `.grad` is a view of it.
    grad: Tensor,
    /// f32 master weights when the parameters are bf16/f16.
    master: Option<Tensor>,
    m: Tensor,
    v: Tensor,
    /// Elements of the parameters that get weight decay (a prefix of the buffers).
    n_decay: i64,
    /// Number of updates applied so far (t in the bias corrections).
    step: i64,
    /// `step` as an f32 scalar on the device, for the fused kernel.
    step_t: Tensor,
    fused: bool,
}

impl AdamW {
    /// State for every parameter of `model` (zero moments; f32 masters of bf16/f16
    /// parameters). Moves the parameters and their gradients into the optimiser's flat
    /// buffers (see [`AdamW`]); gradients become defined (zero).
    pub fn new(model: &Transformer, cfg: AdamWConfig) -> Self {
        Self::with_fused(model, cfg, true)
    }

    /// Like [`AdamW::new`], choosing the update: libtorch's fused kernel (`fused`) or
    /// plain tensor operations (rounding differs: the two are not bit-identical).
    pub fn with_fused(model: &Transformer, cfg: AdamWConfig, fused: bool) -> Self {
        let mut params = model.named_parameters();
        // Decayed parameters (matrices) first, each group in name order.
        params.sort_by(|a, b| (a.1.dim() < 2, &a.0).cmp(&(b.1.dim() < 2, &b.0)));
        let dev = model.device();
        let kind = model.kind();
        let mut slots = Vec::with_capacity(params.len());
        let (mut total, mut n_decay) = (0i64, 0i64);
        for (name, p) in &params {
            let numel = p.numel() as i64;
            if p.dim() >= 2 {
                n_decay += numel;
            }
            slots.push(Slot {
                name: name.clone(),
                offset: total,
                numel,
                shape: p.size(),
            });
            total += numel;
        }
        let param = Tensor::empty([total], (kind, dev));
        let grad = Tensor::zeros([total], (kind, dev));
        // Every gradient must exist before it can be re-homed: a zero-valued backward
        // through one element of each parameter that has none yet creates them.
        tch::with_grad(|| {
            let missing: Vec<Tensor> = params
                .iter()
                .filter(|(_, p)| p.requires_grad() && !p.grad().defined())
                .map(|(_, p)| p.reshape([-1]).narrow(0, 0, 1).sum(Kind::Float))
                .collect();
            if !missing.is_empty() {
                (Tensor::stack(&missing, 0).sum(Kind::Float) * 0.0).backward();
            }
        });
        tch::no_grad(|| {
            for ((_, p), s) in params.iter_mut().zip(&slots) {
                let mut view = param.narrow(0, s.offset, s.numel).view(s.shape.as_slice());
                view.copy_(p);
                p.set_data(&view);
                let mut g = p.grad();
                if g.defined() {
                    g.set_data(&grad.narrow(0, s.offset, s.numel).view(s.shape.as_slice()));
                }
            }
        });
        let master = (kind != Kind::Float).then(|| param.to_kind(Kind::Float));
        AdamW {
            cfg,
            slots,
            m: Tensor::zeros([total], (Kind::Float, dev)),
            v: Tensor::zeros([total], (Kind::Float, dev)),
            param,
            grad,
            master,
            n_decay,
            step: 0,
            step_t: Tensor::zeros([], (Kind::Float, dev)),
            fused,
        }
    }

    /// Updates applied so far.
    pub fn steps_done(&self) -> i64 {
        self.step
    }

    /// Whether updates run libtorch's fused AdamW kernel.
    pub fn is_fused(&self) -> bool {
        self.fused
    }

    /// Chooses the update of later steps (see [`AdamW::with_fused`]); the state is the
    /// same for both, so this may change between steps (benchmarks compare the two).
    pub fn set_fused(&mut self, fused: bool) {
        self.fused = fused;
    }

    /// Clears every parameter's gradient (one fill of the flat buffer).
    pub fn zero_grad(&mut self) {
        tch::no_grad(|| {
            let _ = self.grad.zero_();
        });
    }

    /// Global L2 norm of all gradients (f32 scalar tensor on the model's device; not
    /// copied to the host).
    pub fn grad_norm(&self) -> Tensor {
        tch::no_grad(|| self.grad.norm_scalaropt_dtype(2, Kind::Float))
    }

    /// [`AdamW::try_step`], panicking with its error, as tch's tensor methods do on a
    /// libtorch error; the training loop runs it under [`crate::model::catch_torch`],
    /// which turns the panic into an error naming the step.
    pub fn step(&mut self, lr: f64, max_norm: f64, norm: &Tensor) {
        if let Err(e) = self.try_step(lr, max_norm, norm) {
            panic!("{e}");
        }
    }

    /// Scales gradients so their global norm is at most `max_norm` (no-op when
    /// `max_norm ≤ 0`), then applies one AdamW update with learning rate `lr`. `norm` is
    /// [`AdamW::grad_norm`] for these gradients; the clipping factor is computed on the
    /// device, so nothing waits for it. An error of the fused kernel (e.g. a CUDA launch
    /// error) is returned, never replaced by the plain update: the two round differently.
    pub fn try_step(&mut self, lr: f64, max_norm: f64, norm: &Tensor) -> Result<(), TrainError> {
        self.step += 1;
        let t = self.step as f64;
        let AdamWConfig {
            beta1: b1,
            beta2: b2,
            eps,
            weight_decay,
        } = self.cfg;
        tch::no_grad(|| -> Result<(), TrainError> {
            let g = if self.grad.kind() == Kind::Float {
                self.grad.shallow_clone()
            } else {
                self.grad.to_kind(Kind::Float)
            };
            let mut target = match &self.master {
                Some(m) => m.shallow_clone(),
                None => self.param.shallow_clone(),
            };
            let norm = norm.to_kind(Kind::Float).to_device(g.device());
            if self.fused {
                let _ = self.step_t.fill_(t);
                // The kernel divides gradients by the scale: max(1, ‖g‖ / max_norm).
                let scale = (max_norm > 0.0).then(|| ((&norm + 1e-6) / max_norm).clamp_min(1.0));
                let total = g.numel() as i64;
                let groups = [
                    (0, self.n_decay, weight_decay),
                    (self.n_decay, total - self.n_decay, 0.0),
                ];
                for (start, len, wd) in groups {
                    if len == 0 {
                        continue;
                    }
                    let pieces = |x: &Tensor| -> Vec<Tensor> {
                        (0..len)
                            .step_by(PIECE as usize)
                            .map(|o| x.narrow(0, start + o, PIECE.min(len - o)))
                            .collect()
                    };
                    let p = pieces(&target);
                    let steps: Vec<Tensor> = p.iter().map(|_| self.step_t.shallow_clone()).collect();
                    super::fused::fused_adamw(
                        &p,
                        &pieces(&g),
                        &pieces(&self.m),
                        &pieces(&self.v),
                        &steps,
                        lr,
                        (b1, b2),
                        wd,
                        eps,
                        scale.as_ref(),
                    )?;
                }
            } else {
                let g = if max_norm > 0.0 {
                    g * (max_norm / (norm + 1e-6)).clamp_max(1.0)
                } else {
                    g
                };
                let bc1 = 1.0 - b1.powf(t);
                let bc2 = 1.0 - b2.powf(t);
                // m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
                let _ = self.m.g_mul_scalar_(b1);
                let _ = self.m.g_add_(&(&g * (1.0 - b1)));
                let _ = self.v.g_mul_scalar_(b2);
                let _ = self.v.g_add_(&(g.square() * (1.0 - b2)));
                if weight_decay > 0.0 && self.n_decay > 0 {
                    let _ = target
                        .narrow(0, 0, self.n_decay)
                        .g_mul_scalar_(1.0 - lr * weight_decay);
                }
                // θ ← θ − lr · m̂ / (√v̂ + ε), with m̂ = m / (1−β1ᵗ), v̂ = v / (1−β2ᵗ).
                let mut denom = &self.v / bc2;
                let _ = denom.sqrt_();
                let _ = denom.g_add_scalar_(eps);
                let mut upd = &self.m / bc1;
                let _ = upd.g_div_(&denom);
                let _ = upd.g_mul_scalar_(lr);
                let _ = target.g_sub_(&upd);
            }
            if self.master.is_some() {
                self.param.copy_(&target);
            }
            Ok(())
        })
    }

    fn view(&self, flat: &Tensor, s: &Slot) -> Tensor {
        flat.narrow(0, s.offset, s.numel).view(s.shape.as_slice())
    }

    /// The optimiser state as named tensors: `m.<param>`, `v.<param>`,
    /// `master.<param>` (when present) and `step`.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for s in &self.slots {
            out.push((format!("m.{}", s.name), self.view(&self.m, s)));
            out.push((format!("v.{}", s.name), self.view(&self.v, s)));
            if let Some(m) = &self.master {
                out.push((format!("master.{}", s.name), self.view(m, s)));
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
        for s in &self.slots {
            let (mut m, mut v) = (self.view(&self.m, s), self.view(&self.v, s));
            let (m_src, v_src) = (
                get(&format!("m.{}", s.name), &m)?,
                get(&format!("v.{}", s.name), &v)?,
            );
            tch::no_grad(|| {
                m.copy_(&m_src);
                v.copy_(&v_src);
            });
            if let Some(master) = &self.master {
                let mut mv = self.view(master, s);
                let src = get(&format!("master.{}", s.name), &mv)?;
                tch::no_grad(|| {
                    mv.copy_(&src);
                    self.view(&self.param, s).copy_(&src);
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
        let norm = opt.grad_norm();
        assert!(norm.double_value(&[]) > 0.0);
        opt.step(0.01, 0.0, &norm);
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

    fn nano(kind: Kind) -> Transformer {
        let cfg = ModelConfig::new(
            Family::Qwen2,
            &Sizes::preset("nano").unwrap(),
            12,
            None,
            None,
            None,
        );
        let m = Transformer::new(cfg, Device::Cpu, kind).unwrap();
        m.init_weights(4);
        m
    }

    /// Runs `steps` updates on a fixed batch; returns the parameters.
    fn train(kind: Kind, fused: bool, wd: f64, max_norm: f64, steps: usize) -> (Vec<Tensor>, bool) {
        let m = nano(kind);
        let cfg = AdamWConfig {
            weight_decay: wd,
            ..Default::default()
        };
        let mut opt = AdamW::with_fused(&m, cfg, fused);
        let x = Tensor::from_slice(&[1i64, 2, 3, 7, 5]).view([1, 5]);
        for _ in 0..steps {
            opt.zero_grad();
            m.forward(&x, None, None, None)
                .to_kind(Kind::Float)
                .square()
                .sum(Kind::Float)
                .backward();
            let norm = opt.grad_norm();
            opt.step(0.01, max_norm, &norm);
        }
        let ps = m
            .named_parameters()
            .into_iter()
            .map(|(_, t)| t.to_kind(Kind::Float))
            .collect();
        (ps, opt.is_fused())
    }

    #[test]
    fn fused_and_plain_updates_agree() {
        for kind in [Kind::Float, Kind::BFloat16] {
            for (wd, max_norm) in [(0.0, 0.0), (0.1, 1e-3)] {
                let (a, fused) = train(kind, true, wd, max_norm, 3);
                let (b, plain) = train(kind, false, wd, max_norm, 3);
                assert!(fused && !plain);
                let tol = if kind == Kind::Float { 1e-5 } else { 2e-2 };
                for (x, y) in a.iter().zip(&b) {
                    let d = (x - y).abs().max().double_value(&[]);
                    assert!(d <= tol, "{kind:?} wd {wd} clip {max_norm}: {d}");
                }
            }
        }
    }

    #[test]
    fn gradients_and_parameters_live_in_the_flat_buffers() {
        let m = nano(Kind::Float);
        let mut opt = AdamW::new(&m, AdamWConfig::default());
        let x = Tensor::from_slice(&[1i64, 2, 3]).view([1, 3]);
        m.forward(&x, None, None, None).sum(Kind::Float).backward();
        let total: f64 = m
            .named_parameters()
            .iter()
            .map(|(_, p)| p.grad().square().sum(Kind::Float).double_value(&[]))
            .sum();
        let flat = opt.grad_norm().double_value(&[]);
        assert!(
            total > 0.0 && (flat - total.sqrt()).abs() < 1e-4 * flat,
            "{flat} vs {}",
            total.sqrt()
        );
        opt.zero_grad();
        assert!(
            m.named_parameters()
                .iter()
                .all(|(_, p)| p.grad().abs().max().double_value(&[]) == 0.0)
        );
        // Writing the flat parameter buffer is writing the model's parameters.
        let _ = tch::no_grad(|| opt.param.fill_(0.5));
        assert!(
            m.named_parameters()
                .iter()
                .all(|(_, p)| p.min().double_value(&[]) == 0.5)
        );
    }

    #[test]
    fn decay_applies_to_matrices_only() {
        // With zero gradients the update is pure decay: θ ← θ·(1 − lr·λ).
        let m = nano(Kind::Float);
        let before: Vec<(String, Tensor)> = m
            .named_parameters()
            .into_iter()
            .map(|(n, t)| (n, t.copy()))
            .collect();
        let mut opt = AdamW::new(
            &m,
            AdamWConfig {
                weight_decay: 0.5,
                ..Default::default()
            },
        );
        opt.zero_grad();
        let norm = opt.grad_norm();
        opt.step(0.1, 0.0, &norm);
        for ((name, a), (_, b)) in m.named_parameters().iter().zip(&before) {
            let expect = if a.dim() >= 2 { b * 0.95 } else { b.shallow_clone() };
            let d = (a - expect).abs().max().double_value(&[]);
            assert!(d < 1e-6, "{name}: {d}");
        }
    }
}
