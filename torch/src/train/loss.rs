//! Token losses over the LM head without materialising the `[tokens, vocab]` logits:
//! the head is applied to a chunk of response positions at a time, each chunk's
//! gradient with respect to its logits is formed at once and in place in the chunk's
//! f32 log-probabilities (`c · (softmax − onehot)`: three passes over it),
//! turned into gradients of the hidden states and of the head weight, and dropped; the
//! trunk is then back-propagated once from those hidden-state gradients.
//!
//! The objective is any [`TokenObjective`]: a function of each target's log-probability
//! (and entropy) whose per-target coefficients `c_t = −∂L/∂ℓ_t` the head applies —
//! supervised cross-entropy and DFT here, the RL policy objective in `rl::objective`.
//!
//! Invariants:
//! - only response positions ([`SeqBatch::target_pos`]) go through the head — prompt
//!   and padding positions cost no LM-head FLOPs;
//! - the supervised objective is `Σ_j w_j · nll_j / denom` with `w_j = 1`
//!   (cross-entropy) or `w_j = sg(p_j)` (DFT), exactly the maths of the logits-based
//!   formulation: logits are computed in the model's dtype and the softmax /
//!   log-sum-exp in f32, as `transformers` does;
//! - at most about [`CHUNK_ELEMENTS`] f32 logits exist at any time (an objective that
//!   needs entropies holds two buffers per chunk, so its chunks are half as long).

use crate::model::Transformer;
use crate::model::logprobs::SeqBatch;
use tch::{Kind, Tensor};

/// Budget of logits per chunk (2²⁸ f32 values: 1 GiB).
pub const CHUNK_ELEMENTS: i64 = 1 << 28;

/// Rows of the LM head computed at once for a vocabulary of `vocab` (a multiple of 64
/// when chunking, at least 64).
pub fn chunk_rows(vocab: i64) -> i64 {
    let r = CHUNK_ELEMENTS / vocab.max(1);
    if r >= 64 { r / 64 * 64 } else { 64 }
}

/// How each target's negative log-likelihood is weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weighting {
    /// Plain cross-entropy.
    Uniform,
    /// Dynamic Fine-Tuning: each token's cross-entropy times its stop-gradient probability.
    Probability,
}

/// The loss of one micro-batch: device scalars (f32, detached, not synchronised).
#[derive(Debug)]
pub struct LossTerms {
    /// The weighted objective divided by `denom`.
    pub loss: Tensor,
    /// The plain cross-entropy divided by `denom`.
    pub ce: Tensor,
}

/// An objective whose value depends on each response target only through its
/// log-probability `ℓ_t = log softmax(z_t / T)[y_t]` and the entropy `H_t` of
/// `softmax(z_t / T)`. With `c_t = −∂L/∂ℓ_t` and `e_t = −∂L/∂H_t`, the gradient with
/// respect to the logits is
///
/// `∂L/∂z_t = [c_t · (p_t − onehot(y_t)) + e_t · p_t ⊙ (log p_t + H_t)] / T`,
///
/// which the head forms in place, chunk by chunk, without materialising the
/// `[targets, vocab]` logits. The objective sees each chunk's `ℓ` (and `H` when it asks
/// for them), returns the coefficients and accumulates its own values.
pub trait TokenObjective {
    /// `T`: logits are divided by it before the softmax (the sampling temperature of RL;
    /// 1 for supervised losses).
    fn temperature(&self) -> f64 {
        1.0
    }
    /// Whether [`TokenObjective::coefficients`] needs the entropies (computing them costs
    /// one more `[rows, vocab]` buffer, so chunks are halved to keep the memory bound).
    fn needs_entropy(&self) -> bool {
        false
    }
    /// The coefficients of targets `start .. start + len` (in [`SeqBatch::target_pos`]
    /// order), given their log-probabilities `logp` (`[len]` f32, no gradient) and, when
    /// asked for, their entropies.
    fn coefficients(&mut self, start: i64, logp: &Tensor, entropy: Option<&Tensor>) -> Coefficients;
    /// A common divisor of every target's coefficients, applied once to the finished
    /// gradients instead of once per logit (the token mean's `denom`).
    fn divisor(&self) -> f64 {
        1.0
    }
}

/// The per-target coefficients of one chunk (`[len]` f32 tensors).
#[derive(Debug)]
pub enum Coefficients {
    /// `c_t = 1` and `e_t = 0` for every target of the chunk.
    Unit,
    /// `c_t` per target, and `e_t` per target when the objective has an entropy term.
    PerToken { c: Tensor, entropy: Option<Tensor> },
}

/// Runs the model on `batch`, computes `Σ_targets w · nll / denom` and back-propagates
/// it into the parameters' gradients (accumulating, like `backward`).
pub fn backward_loss(model: &Transformer, batch: &SeqBatch, weighting: Weighting, denom: f64) -> LossTerms {
    backward_loss_rows(model, batch, weighting, denom, None)
}

/// [`backward_loss`] with an explicit number of head rows per chunk (default
/// [`chunk_rows`]).
pub fn backward_loss_rows(
    model: &Transformer,
    batch: &SeqBatch,
    weighting: Weighting,
    denom: f64,
    rows: Option<i64>,
) -> LossTerms {
    let mut nll = NllObjective::new(weighting, denom, model.device());
    backward_objective(model, batch, &mut nll, rows);
    nll.terms()
}

/// The supervised objective `Σ w · nll / denom` as a [`TokenObjective`]: `c = 1` with
/// the common `denom` divided out at the end (cross-entropy), or `c = sg(p) / denom` (DFT).
struct NllObjective {
    weighting: Weighting,
    denom: f64,
    loss: Tensor,
    ce: Tensor,
}

impl NllObjective {
    fn new(weighting: Weighting, denom: f64, dev: tch::Device) -> Self {
        NllObjective {
            weighting,
            denom,
            loss: Tensor::zeros([], (Kind::Float, dev)),
            ce: Tensor::zeros([], (Kind::Float, dev)),
        }
    }

    fn terms(mut self) -> LossTerms {
        let _ = self.ce.g_div_scalar_(self.denom);
        if self.weighting == Weighting::Uniform {
            let _ = self.loss.g_div_scalar_(self.denom);
        }
        LossTerms {
            loss: self.loss,
            ce: self.ce,
        }
    }
}

impl TokenObjective for NllObjective {
    fn coefficients(&mut self, _start: i64, logp: &Tensor, _entropy: Option<&Tensor>) -> Coefficients {
        let nll = -logp;
        self.ce += nll.sum(Kind::Float);
        match self.weighting {
            Weighting::Uniform => {
                self.loss += nll.sum(Kind::Float);
                Coefficients::Unit
            }
            Weighting::Probability => {
                let wt = logp.exp() / self.denom;
                self.loss += (&nll * &wt).sum(Kind::Float);
                Coefficients::PerToken { c: wt, entropy: None }
            }
        }
    }

    fn divisor(&self) -> f64 {
        match self.weighting {
            Weighting::Uniform => self.denom,
            Weighting::Probability => 1.0,
        }
    }
}

/// Runs the model on `batch` and back-propagates `objective` into the parameters'
/// gradients (accumulating, like `backward`), `rows` head rows per chunk (default
/// [`chunk_rows`], halved when the objective needs entropies).
pub fn backward_objective(
    model: &Transformer,
    batch: &SeqBatch,
    objective: &mut dyn TokenObjective,
    rows: Option<i64>,
) {
    let flat = flat_hidden(model, batch);
    let w = model.lm_head_weight();
    let rows = rows
        .unwrap_or_else(|| {
            let r = chunk_rows(w.size()[0]);
            if objective.needs_entropy() {
                (r / 2).max(64)
            } else {
                r
            }
        })
        .max(1);
    let (grad_h, grad_w) = tch::no_grad(|| head_gradients(&flat.detach(), w, batch, objective, rows));
    // One backward pass through the trunk: the surrogate Σ hidden ⊙ ∂L/∂hidden has the
    // same gradients. The head weight's own gradient is added directly when it exists
    // (a tied embedding also receives the embedding's gradient in the pass).
    let mut surrogate = (&flat * &grad_h).sum(Kind::Float);
    let existing = w.grad();
    let add_after = existing.defined();
    if !add_after && w.requires_grad() {
        surrogate += (w * grad_w.to_kind(w.kind())).sum(Kind::Float);
    }
    surrogate.backward();
    if add_after {
        tch::no_grad(|| {
            let mut g = w.grad();
            let _ = g.g_add_(&grad_w);
        });
    }
}

/// `(∂L/∂hidden [b·t, h] in the model dtype, ∂L/∂W [V, h] in f32)`.
fn head_gradients(
    hd: &Tensor,
    w: &Tensor,
    batch: &SeqBatch,
    objective: &mut dyn TokenObjective,
    rows: i64,
) -> (Tensor, Tensor) {
    let dev = hd.device();
    let kind = hd.kind();
    let w = w.detach();
    let temperature = objective.temperature();
    let mut grad_h = hd.zeros_like();
    let mut grad_w = Tensor::zeros(w.size(), (Kind::Float, dev));
    let n = batch.n_targets as i64;
    let mut start = 0;
    while start < n {
        let len = rows.min(n - start);
        let pos = batch.target_pos.narrow(0, start, len);
        let y = batch.target_ids.narrow(0, start, len).unsqueeze(1);
        let hc = hd.index_select(0, &pos);
        let mut z = hc.linear::<Tensor>(&w, None);
        if temperature != 1.0 {
            // In the model dtype and in place, as verl's `logits.div_(temperature)`.
            let _ = z.g_div_scalar_(temperature);
        }
        // f32 log-probabilities; the model-dtype logits are dropped at once.
        let mut lp = z.log_softmax(-1, Kind::Float);
        drop(z);
        let logp = lp.gather(1, &y, false).squeeze_dim(1);
        let mut probs_entropy = objective.needs_entropy().then(|| probs_and_entropy(&lp));
        let coefficients = objective.coefficients(start, &logp, probs_entropy.as_ref().map(|(_, h)| h));
        // The chunk's ∂L/∂z (up to the final divisor and T), formed in place.
        let dz = match coefficients {
            Coefficients::PerToken { c, entropy: Some(e) } => {
                // p ⊙ (c + e · (log p + H)) − c · onehot, in lp's buffer.
                let (p, h) = probs_entropy.take().unwrap_or_else(|| probs_and_entropy(&lp));
                let c = c.unsqueeze(1);
                let _ = lp.g_add_(&h.unsqueeze(1));
                let _ = lp.g_mul_(&e.unsqueeze(1));
                let _ = lp.g_add_(&c);
                let _ = lp.g_mul_(&p);
                drop(p);
                let _ = lp.scatter_add_(1, &y, &(-&c));
                lp
            }
            other => {
                // c · (p − onehot), in the probabilities' buffer.
                let mut p = match probs_entropy.take() {
                    Some((p, _)) => p,
                    None => lp.exp_(),
                };
                match other {
                    Coefficients::Unit => {
                        let _ = p.scatter_add_(1, &y, &Tensor::full([len, 1], -1.0, (Kind::Float, dev)));
                    }
                    Coefficients::PerToken { c, .. } => {
                        let c = c.unsqueeze(1);
                        let _ = p.g_mul_(&c);
                        let _ = p.scatter_add_(1, &y, &(-&c));
                    }
                }
                p
            }
        };
        let dz = dz.to_kind(kind);
        let _ = grad_h.index_add_(0, &pos, &dz.mm(&w));
        if kind == Kind::Float {
            let _ = grad_w.addmm_(&dz.tr(), &hc);
        } else {
            let _ = grad_w.g_add_(&dz.tr().mm(&hc));
        }
        start += len;
    }
    let divisor = objective.divisor() * temperature;
    if divisor != 1.0 {
        let _ = grad_h.g_div_scalar_(divisor);
        let _ = grad_w.g_div_scalar_(divisor);
    }
    (grad_h, grad_w)
}

/// `(p [len, V], H [len])` of a chunk's f32 log-probabilities; `H = −Σ p · log p` as a
/// batched dot product, so no third `[len, V]` buffer is made.
fn probs_and_entropy(lp: &Tensor) -> (Tensor, Tensor) {
    let p = lp.exp();
    let len = lp.size()[0];
    let h = -p.unsqueeze(1).bmm(&lp.unsqueeze(2)).view([len]);
    (p, h)
}

/// The final hidden states of a batch, one row per position: `[b * t, h]`.
fn flat_hidden(model: &Transformer, batch: &SeqBatch) -> Tensor {
    let hidden = model.forward_hidden(
        &batch.input_ids,
        batch.positions.as_ref(),
        batch.attn_mask.as_ref(),
        None,
    );
    let (b, t, h) = hidden.size3().expect("hidden states are [b, t, h]");
    hidden.view([b * t, h])
}

/// Sum of the response tokens' negative log-likelihoods (device f32 scalar, no
/// gradients), chunked like [`backward_loss`].
pub fn nll_sum(model: &Transformer, batch: &SeqBatch) -> Tensor {
    tch::no_grad(|| {
        let hd = flat_hidden(model, batch);
        let w = model.lm_head_weight();
        let dev = hd.device();
        let mut sum = Tensor::zeros([], (Kind::Float, dev));
        let n = batch.n_targets as i64;
        let rows = chunk_rows(w.size()[0]);
        let mut start = 0;
        while start < n {
            let len = rows.min(n - start);
            let pos = batch.target_pos.narrow(0, start, len);
            let y = batch.target_ids.narrow(0, start, len).unsqueeze(1);
            let z = hd
                .index_select(0, &pos)
                .linear::<Tensor>(w, None)
                .to_kind(Kind::Float);
            sum += (z.logsumexp([-1], true) - z.gather(1, &y, false)).sum(Kind::Float);
            start += len;
        }
        sum
    })
}

/// The response targets' log-probabilities `log softmax(z / T)[y]` (`[n_targets]` f32,
/// in [`SeqBatch::target_pos`] order, no gradient), chunked and computed with the
/// arithmetic of [`backward_objective`] (model-dtype logits divided by `T` in place, f32
/// log-softmax): RL's old-policy and reference passes.
pub fn target_logprobs(model: &Transformer, batch: &SeqBatch, temperature: f64) -> Tensor {
    tch::no_grad(|| {
        let hd = flat_hidden(model, batch);
        let w = model.lm_head_weight();
        let n = batch.n_targets as i64;
        let rows = chunk_rows(w.size()[0]);
        let mut parts = vec![Tensor::zeros([0], (Kind::Float, hd.device()))];
        let mut start = 0;
        while start < n {
            let len = rows.min(n - start);
            let pos = batch.target_pos.narrow(0, start, len);
            let y = batch.target_ids.narrow(0, start, len).unsqueeze(1);
            let mut z = hd.index_select(0, &pos).linear::<Tensor>(w, None);
            if temperature != 1.0 {
                let _ = z.g_div_scalar_(temperature);
            }
            parts.push(z.log_softmax(-1, Kind::Float).gather(1, &y, false).squeeze_dim(1));
            start += len;
        }
        Tensor::cat(&parts, 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::{Family, ModelConfig, Sizes};
    use crate::model::logprobs::{Example, token_stats};
    use tch::Device;

    fn model(tied: bool) -> Transformer {
        let mut sizes = Sizes::preset("nano").unwrap();
        sizes.tie_word_embeddings = tied;
        let cfg = ModelConfig::new(Family::Qwen2, &sizes, 23, Some(1), Some(2), Some(0));
        let m = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
        m.init_weights(9);
        m
    }

    fn examples() -> Vec<Example> {
        vec![
            Example {
                tokens: vec![1, 5, 6, 7, 8, 2],
                prompt_len: 3,
            },
            Example {
                tokens: vec![1, 9, 10, 2],
                prompt_len: 1,
            },
        ]
    }

    /// Gradients of every parameter after `f` ran a backward pass from zero.
    fn grads(m: &Transformer, f: impl FnOnce()) -> Vec<Tensor> {
        for (_, p) in m.named_parameters() {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        f();
        m.named_parameters()
            .iter()
            .map(|(_, p)| p.grad().copy())
            .collect()
    }

    #[test]
    fn chunked_loss_and_gradients_equal_the_logits_formulation() {
        for tied in [true, false] {
            for packed in [false, true] {
                for weighting in [Weighting::Uniform, Weighting::Probability] {
                    let m = model(tied);
                    let ex = examples();
                    let refs: Vec<&Example> = ex.iter().collect();
                    let batch = if packed {
                        SeqBatch::packed(std::slice::from_ref(&refs), 0, Device::Cpu)
                    } else {
                        SeqBatch::padded(&refs, 0, Device::Cpu)
                    };
                    let denom = 7.0;
                    let mut reference = Tensor::zeros([], (Kind::Float, Device::Cpu));
                    let g_ref = grads(&m, || {
                        let st = token_stats(&m, &batch);
                        let nll = -&st.logp;
                        let per = match weighting {
                            Weighting::Uniform => nll,
                            Weighting::Probability => &nll * st.logp.detach().exp(),
                        };
                        let l = (per * &st.mask).sum(Kind::Float) / denom;
                        l.backward();
                        reference = l.detach();
                    });
                    // A fresh model (no gradients yet: the surrogate path), then again
                    // with gradients defined (added after the pass), then in 2-row chunks.
                    let fresh = model(tied);
                    for (round, rows) in [(0, None), (1, None), (2, Some(2))] {
                        let mut terms = None;
                        let g = grads(&fresh, || {
                            terms = Some(backward_loss_rows(&fresh, &batch, weighting, denom, rows))
                        });
                        let terms = terms.unwrap();
                        let d = (&terms.loss - &reference).abs().double_value(&[]);
                        assert!(d < 1e-5, "loss {d} ({tied} {packed} {weighting:?})");
                        for (a, b) in g.iter().zip(&g_ref) {
                            let d = (a - b).abs().max().double_value(&[]);
                            assert!(d < 1e-5, "grad {d} ({tied} {packed} {weighting:?} round {round})");
                        }
                    }
                    let s = nll_sum(&m, &batch).double_value(&[]);
                    let st = tch::no_grad(|| token_stats(&m, &batch));
                    let r = (-(&st.logp * &st.mask)).sum(Kind::Float).double_value(&[]);
                    assert!((s - r).abs() < 1e-4, "{s} vs {r}");
                }
            }
        }
    }

    #[test]
    fn target_logprobs_are_the_statistics_at_the_targets() {
        let m = model(false);
        let ex = examples();
        let refs: Vec<&Example> = ex.iter().collect();
        let batch = SeqBatch::packed(std::slice::from_ref(&refs), 0, Device::Cpu);
        let (_, t) = batch.shape();
        for temperature in [1.0, 0.6] {
            let got = target_logprobs(&m, &batch, temperature);
            let want = tch::no_grad(|| {
                let logits = m
                    .forward(
                        &batch.input_ids,
                        batch.positions.as_ref(),
                        batch.attn_mask.as_ref(),
                        None,
                    )
                    .narrow(1, 0, t - 1)
                    / temperature;
                let (logp, _) =
                    crate::model::logprobs::stats_from_logits(&logits, &batch.input_ids.narrow(1, 1, t - 1));
                Tensor::cat(&[logp, Tensor::zeros([1, 1], (Kind::Float, Device::Cpu))], 1)
                    .view([-1])
                    .index_select(0, &batch.target_pos)
            });
            assert_eq!(got.size(), [batch.n_targets as i64]);
            let d = (&got - &want).abs().max().double_value(&[]);
            assert!(d < 1e-5, "T = {temperature}: {d}");
        }
    }

    #[test]
    fn bf16_gradients_are_close_to_f32() {
        // The bf16 path (model-dtype logits and gradients, f32 softmax and head-weight
        // accumulation) against the f32 one.
        let m32 = model(true);
        let mut m16 = model(true);
        m16.var_store_mut().set_kind(Kind::BFloat16);
        let ex = examples();
        let refs: Vec<&Example> = ex.iter().collect();
        let batch = SeqBatch::padded(&refs, 0, Device::Cpu);
        let g32 = grads(&m32, || {
            backward_loss(&m32, &batch, Weighting::Uniform, 5.0);
        });
        for round in 0..2 {
            let mut terms = None;
            let g16 = grads(&m16, || {
                terms = Some(backward_loss(&m16, &batch, Weighting::Uniform, 5.0))
            });
            assert!(terms.unwrap().loss.double_value(&[]).is_finite());
            for (a, b) in g16.iter().zip(&g32) {
                assert_eq!(a.kind(), Kind::BFloat16);
                let d = (a.to_kind(Kind::Float) - b).abs().max().double_value(&[]);
                let s = b.abs().max().double_value(&[]);
                assert!(d <= 0.05 * s + 1e-3, "round {round}: {d} vs scale {s}");
            }
        }
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_rows(151_936), 1728);
        assert_eq!(chunk_rows(1 << 30), 64);
        assert_eq!(chunk_rows(101), (CHUNK_ELEMENTS / 101) / 64 * 64);
    }
}
