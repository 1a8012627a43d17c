//! Token batches for teacher-forced passes and the per-token statistics computed on
//! them: log-probabilities of the given tokens and entropies of the model's
//! next-token distributions (SFT, DFT, GRPO/DAPO and SRFT losses all consume these).
//!
//! Invariants: statistics are aligned with *targets*: column `j` describes predicting
//! token `j + 1` from tokens `0..=j`, so a `[b, t]` batch yields `[b, t - 1]` tensors;
//! `mask[b, j] = 1` exactly when token `j + 1` is a response (completion) token of a
//! real example — prompts, padding and packing boundaries are never counted. Right
//! padding needs no attention mask (causality already hides it); packed rows carry a
//! block-diagonal mask and per-segment positions.

use super::transformer::{Transformer, segment_causal_mask};
use tch::{Device, Kind, Tensor};

/// One example for a teacher-forced pass: its tokens and how many of them are prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub tokens: Vec<i64>,
    /// Tokens `0..prompt_len` are prompt (no loss); the rest are response.
    pub prompt_len: usize,
}

impl Example {
    /// How many response targets the example contributes to a batch: every token after
    /// the prompt (the first token is never a target, even with an empty prompt).
    pub fn n_targets(&self) -> usize {
        self.tokens.len().saturating_sub(self.prompt_len.max(1))
    }
}

/// A device batch of token rows with target masks.
#[derive(Debug)]
pub struct SeqBatch {
    /// `[b, t]` int64.
    pub input_ids: Tensor,
    /// `[b, t - 1]` f32, 1 on response targets.
    pub mask: Tensor,
    /// `[b, t]` RoPE positions for packed rows (None: `0..t`).
    pub positions: Option<Tensor>,
    /// `[b, 1, t, t]` boolean attention mask for packed rows (None: causal).
    pub attn_mask: Option<Tensor>,
    /// Number of response targets in the batch.
    pub n_targets: usize,
    /// `[n_targets]` int64: flat index `row · t + j` of every position whose next token
    /// is a response target (the positions where `mask` is 1, in order).
    pub target_pos: Tensor,
    /// `[n_targets]` int64: the target token at each of those positions.
    pub target_ids: Tensor,
}

/// Copies int64 host vectors to `device` in one transfer (a blocking host-to-device copy
/// waits for the device, so a batch costs one such wait, not five) and returns a view
/// of each.
fn upload(parts: &[&[i64]], device: Device) -> Vec<Tensor> {
    let all: Vec<i64> = parts.concat();
    let dev = Tensor::from_slice(&all).to_device(device);
    let mut off = 0;
    parts
        .iter()
        .map(|p| {
            let v = dev.narrow(0, off, p.len() as i64);
            off += p.len() as i64;
            v
        })
        .collect()
}

/// The `[b, t - 1]` f32 target mask, 1 at the flat positions `target_pos` (`r · t + j`).
fn mask_from(b: i64, t: i64, target_pos: &Tensor) -> Tensor {
    let m = Tensor::zeros([b * t], (Kind::Float, target_pos.device()));
    m.index_fill(0, target_pos, 1.0)
        .view([b, t])
        .narrow(1, 0, t - 1)
        .contiguous()
}

impl SeqBatch {
    /// One example per row, right-padded with `pad` to the longest.
    pub fn padded(examples: &[&Example], pad: i64, device: Device) -> SeqBatch {
        let t = examples.iter().map(|e| e.tokens.len()).max().unwrap_or(1).max(2);
        let b = examples.len();
        let mut ids = vec![pad; b * t];
        let (mut tpos, mut tids) = (Vec::new(), Vec::new());
        for (r, e) in examples.iter().enumerate() {
            ids[r * t..r * t + e.tokens.len()].copy_from_slice(&e.tokens);
            for j in e.prompt_len.max(1) - 1..e.tokens.len().saturating_sub(1) {
                tpos.push((r * t + j) as i64);
                tids.push(e.tokens[j + 1]);
            }
        }
        let (bi, ti) = (b as i64, t as i64);
        let mut v = upload(&[&ids, &tpos, &tids], device).into_iter();
        let (ids, target_pos, target_ids) = (v.next().unwrap(), v.next().unwrap(), v.next().unwrap());
        SeqBatch {
            input_ids: ids.view([bi, ti]),
            mask: mask_from(bi, ti, &target_pos),
            positions: None,
            attn_mask: None,
            n_targets: tpos.len(),
            target_pos,
            target_ids,
        }
    }

    /// Several examples per row (`rows[r]` lists the examples of row `r`), each row
    /// right-padded to the longest; attention never crosses an example boundary and
    /// positions restart at 0 for every example.
    pub fn packed(rows: &[Vec<&Example>], pad: i64, device: Device) -> SeqBatch {
        let lens: Vec<usize> = rows
            .iter()
            .map(|r| r.iter().map(|e| e.tokens.len()).sum())
            .collect();
        let t = lens.iter().copied().max().unwrap_or(1).max(2);
        let b = rows.len();
        let mut ids = vec![pad; b * t];
        let mut pos = vec![0i64; b * t];
        let mut seg = vec![-1i64; b * t];
        let (mut tpos, mut tids) = (Vec::new(), Vec::new());
        for (r, row) in rows.iter().enumerate() {
            let mut off = 0;
            for (s, e) in row.iter().enumerate() {
                let len = e.tokens.len();
                ids[r * t + off..r * t + off + len].copy_from_slice(&e.tokens);
                for i in 0..len {
                    pos[r * t + off + i] = i as i64;
                    seg[r * t + off + i] = s as i64;
                }
                for j in e.prompt_len.max(1) - 1..len.saturating_sub(1) {
                    tpos.push((r * t + off + j) as i64);
                    tids.push(e.tokens[j + 1]);
                }
                off += len;
            }
            for (i, p) in pos[r * t + off..(r + 1) * t].iter_mut().enumerate() {
                *p = i as i64;
            }
        }
        let (bi, ti) = (b as i64, t as i64);
        let mut v = upload(&[&ids, &pos, &seg, &tpos, &tids], device).into_iter();
        let mut next = || v.next().unwrap();
        let (ids, pos, seg, target_pos, target_ids) = (next(), next(), next(), next(), next());
        SeqBatch {
            input_ids: ids.view([bi, ti]),
            mask: mask_from(bi, ti, &target_pos),
            positions: Some(pos.view([bi, ti])),
            attn_mask: Some(segment_causal_mask(&seg.view([bi, ti]))),
            n_targets: tpos.len(),
            target_pos,
            target_ids,
        }
    }

    /// `(batch, seq_len)` for error messages.
    pub fn shape(&self) -> (i64, i64) {
        self.input_ids.size2().unwrap_or((0, 0))
    }
}

/// Per-target statistics of one teacher-forced pass, all `[b, t - 1]` f32.
#[derive(Debug)]
pub struct TokenStats {
    /// `log π(x_{j+1} | x_{≤j})`.
    pub logp: Tensor,
    /// `H_j = −Σ_v π(v | x_{≤j}) log π(v | x_{≤j})`.
    pub entropy: Tensor,
    /// The batch's target mask.
    pub mask: Tensor,
}

/// Log-probabilities of `targets` (`[b, t]` int64) and entropies under `logits`
/// (`[b, t, V]`, any float dtype; computed in f32).
pub fn stats_from_logits(logits: &Tensor, targets: &Tensor) -> (Tensor, Tensor) {
    let lp = logits.log_softmax(-1, Kind::Float);
    let logp = lp.gather(-1, &targets.unsqueeze(-1), false).squeeze_dim(-1);
    let entropy = -(lp.exp() * &lp).sum_dim_intlist(-1, false, Kind::Float);
    (logp, entropy)
}

/// Runs the model on a batch and returns per-target log-probs and entropies (with
/// gradients when grad mode is on).
pub fn token_stats(model: &Transformer, batch: &SeqBatch) -> TokenStats {
    let (_, t) = batch.shape();
    let logits = model
        .forward(
            &batch.input_ids,
            batch.positions.as_ref(),
            batch.attn_mask.as_ref(),
            None,
        )
        .narrow(1, 0, t - 1);
    let targets = batch.input_ids.narrow(1, 1, t - 1);
    let (logp, entropy) = stats_from_logits(&logits, &targets);
    TokenStats {
        logp,
        entropy,
        mask: batch.mask.shallow_clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::{Family, ModelConfig, Sizes};

    #[test]
    fn masks_cover_responses_only() {
        let a = Example {
            tokens: vec![1, 5, 6, 7, 2],
            prompt_len: 3,
        };
        let b = Example {
            tokens: vec![1, 8, 9],
            prompt_len: 2,
        };
        let p = SeqBatch::padded(&[&a, &b], 0, Device::Cpu);
        let m: Vec<f32> = Vec::try_from(p.mask.view([-1])).unwrap();
        assert_eq!(m, vec![0., 0., 1., 1., 0., 1., 0., 0.]);
        assert_eq!(p.n_targets, 3);
        assert_eq!((a.n_targets(), b.n_targets()), (2, 1));
        let tp: Vec<i64> = Vec::try_from(&p.target_pos).unwrap();
        let ti: Vec<i64> = Vec::try_from(&p.target_ids).unwrap();
        assert_eq!((tp, ti), (vec![2, 3, 6], vec![7, 2, 9]));
        let k = SeqBatch::packed(&[vec![&a, &b]], 0, Device::Cpu);
        let m: Vec<f32> = Vec::try_from(k.mask.view([-1])).unwrap();
        assert_eq!(m, vec![0., 0., 1., 1., 0., 0., 1.]);
        let tp: Vec<i64> = Vec::try_from(&k.target_pos).unwrap();
        assert_eq!(tp, vec![2, 3, 6]);
        let pos: Vec<i64> = Vec::try_from(k.positions.unwrap().view([-1])).unwrap();
        assert_eq!(pos, vec![0, 1, 2, 3, 4, 0, 1, 2]);
    }

    #[test]
    fn packed_stats_equal_padded_stats() {
        let cfg = ModelConfig::new(
            Family::Qwen2,
            &Sizes::preset("nano").unwrap(),
            20,
            Some(1),
            Some(2),
            Some(0),
        );
        let m = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
        m.init_weights(5);
        let a = Example {
            tokens: vec![1, 5, 6, 7, 2],
            prompt_len: 3,
        };
        let b = Example {
            tokens: vec![1, 8, 9, 2],
            prompt_len: 2,
        };
        tch::no_grad(|| {
            let p = token_stats(&m, &SeqBatch::padded(&[&a, &b], 0, Device::Cpu));
            let k = token_stats(&m, &SeqBatch::packed(&[vec![&a, &b]], 0, Device::Cpu));
            let sp = (&p.logp * &p.mask).sum(Kind::Float).double_value(&[]);
            let sk = (&k.logp * &k.mask).sum(Kind::Float).double_value(&[]);
            assert!((sp - sk).abs() < 1e-4, "{sp} vs {sk}");
            let ep = (&p.entropy * &p.mask).sum(Kind::Float).double_value(&[]);
            let ek = (&k.entropy * &k.mask).sum(Kind::Float).double_value(&[]);
            assert!((ep - ek).abs() < 1e-4 && ep > 0.0);
            // Near-uniform at init: entropy ≈ ln V.
            let h = p.entropy.mean(Kind::Float).double_value(&[]);
            assert!((h - (20f64).ln()).abs() < 0.05, "{h}");
        });
    }
}
