//! Token losses over the LM head without materialising the `[tokens, vocab]` logits:
//! the head is applied to a chunk of response positions at a time, each chunk's
//! gradient with respect to its logits is formed at once (`w · (softmax − onehot)`, in
//! place in the chunk's f32 log-probabilities: three passes over it in all),
//! turned into gradients of the hidden states and of the head weight, and dropped; the
//! trunk is then back-propagated once from those hidden-state gradients.
//!
//! Invariants:
//! - only response positions ([`SeqBatch::target_pos`]) go through the head — prompt
//!   and padding positions cost no LM-head FLOPs;
//! - the objective is `Σ_j w_j · nll_j / denom` with `w_j = 1` (cross-entropy) or
//!   `w_j = sg(p_j)` (DFT), exactly the maths of the logits-based formulation: logits
//!   are computed in the model's dtype and the softmax / log-sum-exp in f32, as
//!   `transformers` does;
//! - at most about [`CHUNK_ELEMENTS`] f32 logits exist at any time.

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
    let flat = flat_hidden(model, batch);
    let w = model.lm_head_weight();
    let rows = rows.unwrap_or_else(|| chunk_rows(w.size()[0])).max(1);
    let (grad_h, grad_w, terms) =
        tch::no_grad(|| head_gradients(&flat.detach(), w, batch, weighting, denom, rows));
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
    terms
}

/// `(∂L/∂hidden [b·t, h] in the model dtype, ∂L/∂W [V, h] in f32, loss terms)`.
fn head_gradients(
    hd: &Tensor,
    w: &Tensor,
    batch: &SeqBatch,
    weighting: Weighting,
    denom: f64,
    rows: i64,
) -> (Tensor, Tensor, LossTerms) {
    let dev = hd.device();
    let kind = hd.kind();
    let w = w.detach();
    let mut grad_h = hd.zeros_like();
    let mut grad_w = Tensor::zeros(w.size(), (Kind::Float, dev));
    let mut loss = Tensor::zeros([], (Kind::Float, dev));
    let mut ce = Tensor::zeros([], (Kind::Float, dev));
    let n = batch.n_targets as i64;
    let mut start = 0;
    while start < n {
        let len = rows.min(n - start);
        let pos = batch.target_pos.narrow(0, start, len);
        let y = batch.target_ids.narrow(0, start, len).unsqueeze(1);
        let hc = hd.index_select(0, &pos);
        // f32 log-probabilities; the model-dtype logits are dropped at once.
        let mut lp = hc.linear::<Tensor>(&w, None).log_softmax(-1, Kind::Float);
        let nll = -lp.gather(1, &y, false);
        ce += nll.sum(Kind::Float);
        // ∂(w · nll)/∂z = w · (softmax(z) − onehot(y)), formed in place in lp. With
        // uniform weights the common factor 1/denom is applied to the (much smaller)
        // products below instead of to every logit.
        let _ = lp.exp_();
        match weighting {
            Weighting::Uniform => {
                loss += nll.sum(Kind::Float);
                let _ = lp.scatter_add_(1, &y, &Tensor::full([len, 1], -1.0, (Kind::Float, dev)));
            }
            Weighting::Probability => {
                let wt = (-&nll).exp() / denom;
                loss += (&nll * &wt).sum(Kind::Float);
                let _ = lp.g_mul_(&wt);
                let _ = lp.scatter_add_(1, &y, &(-&wt));
            }
        }
        let dz = lp.to_kind(kind);
        drop(lp);
        let _ = grad_h.index_add_(0, &pos, &dz.mm(&w));
        if kind == Kind::Float {
            let _ = grad_w.addmm_(&dz.tr(), &hc);
        } else {
            let _ = grad_w.g_add_(&dz.tr().mm(&hc));
        }
        start += len;
    }
    let _ = ce.g_div_scalar_(denom);
    if weighting == Weighting::Uniform {
        let _ = loss.g_div_scalar_(denom);
        let _ = grad_h.g_div_scalar_(denom);
        let _ = grad_w.g_div_scalar_(denom);
    }
    (grad_h, grad_w, LossTerms { loss, ce })
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
