//! One RL update: a batch of scored rollout groups becomes `epochs × mini_batches`
//! AdamW steps of the policy objective ([`super::objective`]), following the optimiser
//! pattern of [`crate::train::sft::Stepper`] (flat fused AdamW, global gradient-norm
//! clipping, values read once per step).
//!
//! Invariants:
//! - the batch is split into `mini_batches` mini-batches of consecutive *whole groups*
//!   (sizes differ by at most one group), the same split every epoch — verl's actor
//!   with `shuffle = False`; each mini-batch is one optimiser step;
//! - when a batch makes more than one step, the old policy's log-probs are computed once,
//!   before the first step, with the model that sampled the batch; with exactly one
//!   step `o = sg(ℓ)` (ratio 1) and that pass is skipped — verl's and TRL's on-policy
//!   shortcut, which gives the same gradient without a forward pass;
//! - reference log-probs are computed once per batch, and only when `kl_coef > 0`;
//! - aggregation weights come from the whole mini-batch ([`super::aggregate`]);
//!   micro-batches, cut by a budget of padded tokens, only bound the memory;
//! - samples that are not counted (masked truncations) and samples without response
//!   tokens are left out of the mini-batches (their weight is 0 anyway); a mini-batch
//!   with nothing left makes no optimiser step (it has no gradient, and a step would still
//!   move the weights through weight decay and the moments);
//! - a NaN/inf loss or gradient norm fails with the optimiser step it happened at.

use super::RlError;
use super::advantage::{AdvantageConfig, Advantages, advantages};
use super::objective::{RlTerms, RlTokens, RlValues, SequenceInputs, backward_rl};
use super::preset::RlConfig;
use super::sampling::Group;
use crate::model::logprobs::{Example, SeqBatch};
use crate::model::{Transformer, catch_torch};
use crate::train::loss::target_logprobs;
use crate::train::{AdamW, AdamWConfig, TrainError};
use tch::Tensor;

/// How a rollout batch is turned into optimiser steps.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateConfig {
    pub optim: AdamWConfig,
    /// Global gradient-norm clip; 0 disables.
    pub max_grad_norm: f64,
    /// Optimiser steps per epoch over the batch (verl `train_batch_size /
    /// ppo_mini_batch_size`).
    pub mini_batches: usize,
    /// Passes over the batch (verl `ppo_epochs`).
    pub epochs: usize,
    /// Padded tokens (rows × longest row) per micro-batch; a longer sequence goes alone.
    pub micro_batch_tokens: usize,
    /// Compute entropies for the metrics even without an entropy bonus.
    pub measure_entropy: bool,
}

impl Default for UpdateConfig {
    /// verl's actor defaults (weight decay 0.01, clip 1.0, one mini-batch and epoch, 16384
    /// tokens per micro-batch).
    fn default() -> Self {
        UpdateConfig {
            optim: AdamWConfig {
                weight_decay: 0.01,
                ..AdamWConfig::default()
            },
            max_grad_norm: 1.0,
            mini_batches: 1,
            epochs: 1,
            micro_batch_tokens: 16384,
            measure_entropy: true,
        }
    }
}

/// The result of one optimiser step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    pub values: RlValues,
    /// The gradient norm before clipping.
    pub grad_norm: f64,
}

/// The advantages of every sample of `groups` (in group, then sample order), each group
/// its own baseline, from the samples' shaped rewards.
pub fn group_advantages(groups: &[Group], cfg: &AdvantageConfig) -> Advantages {
    let (mut rewards, mut group_of) = (Vec::new(), Vec::new());
    for (gi, g) in groups.iter().enumerate() {
        for s in &g.samples {
            rewards.push(s.score.reward);
            group_of.push(gi as u64);
        }
    }
    advantages(&rewards, &group_of, cfg)
}

/// One micro-batch and what the objective needs about it.
struct Piece {
    batch: SeqBatch,
    seqs: Vec<SequenceInputs>,
    old_logp: Option<Tensor>,
    ref_logp: Option<Tensor>,
}

/// Applies RL updates to a model.
pub struct Updater<'m> {
    model: &'m Transformer,
    reference: Option<&'m Transformer>,
    opt: AdamW,
    rl: RlConfig,
    cfg: UpdateConfig,
    pad: i64,
}

impl<'m> Updater<'m> {
    /// An updater for `model` (`reference`: the frozen model of the KL term, needed when
    /// `kl_coef > 0`); `pad` pads the batches.
    pub fn new(
        model: &'m Transformer,
        reference: Option<&'m Transformer>,
        rl: &RlConfig,
        cfg: UpdateConfig,
        pad: i64,
    ) -> Result<Self, RlError> {
        rl.validate()?;
        for (name, v) in [
            ("mini_batches", cfg.mini_batches),
            ("epochs", cfg.epochs),
            ("micro_batch_tokens", cfg.micro_batch_tokens),
        ] {
            if v == 0 {
                return Err(RlError::Invalid(format!("{name} must be ≥ 1")));
            }
        }
        if rl.objective.kl_coef != 0.0 && reference.is_none() {
            return Err(RlError::Invalid(
                "kl_coef > 0 needs a reference model to compare the policy with".into(),
            ));
        }
        Ok(Updater {
            model,
            reference,
            opt: AdamW::new(model, cfg.optim.clone()),
            rl: rl.clone(),
            cfg,
            pad,
        })
    }

    /// The optimiser (for checkpoints).
    pub fn optimizer(&self) -> &AdamW {
        &self.opt
    }

    /// The optimiser, mutably (for restoring checkpoints).
    pub fn optimizer_mut(&mut self) -> &mut AdamW {
        &mut self.opt
    }

    /// Trains on `groups` with `advantages` (one per sample, in group then sample order,
    /// e.g. [`group_advantages`]) at learning rate `lr`; one report per optimiser step.
    pub fn update(
        &mut self,
        groups: &[Group],
        advantages: &[f64],
        lr: f64,
    ) -> Result<Vec<StepReport>, RlError> {
        let n_samples: usize = groups.iter().map(|g| g.samples.len()).sum();
        if advantages.len() != n_samples {
            return Err(RlError::Invalid(format!(
                "{} advantages for {n_samples} samples",
                advantages.len()
            )));
        }
        if groups.len() < self.cfg.mini_batches {
            return Err(RlError::Invalid(format!(
                "{} groups cannot make {} mini-batches of whole groups",
                groups.len(),
                self.cfg.mini_batches
            )));
        }
        let mut minis = self.mini_batches(groups, advantages)?;
        let steps = self.cfg.epochs * minis.len();
        let temperature = self.rl.objective.temperature;
        // Both passes see the model that sampled the batch: before any update.
        for piece in minis.iter_mut().flatten() {
            let what = format!(
                "the old-policy pass on a micro-batch of shape {:?}",
                piece.batch.shape()
            );
            if steps > 1 {
                piece.old_logp = Some(catch_torch(&what, || {
                    target_logprobs(self.model, &piece.batch, temperature)
                })?);
            }
            if let Some(r) = self.reference.filter(|_| self.rl.objective.kl_coef != 0.0) {
                let what = format!(
                    "the reference pass on a micro-batch of shape {:?}",
                    piece.batch.shape()
                );
                piece.ref_logp = Some(catch_torch(&what, || {
                    target_logprobs(r, &piece.batch, temperature)
                })?);
            }
        }
        let mut reports = Vec::with_capacity(steps);
        for _ in 0..self.cfg.epochs {
            for mini in minis.iter().filter(|m| !m.is_empty()) {
                reports.push(self.step(mini, lr)?);
            }
        }
        Ok(reports)
    }

    /// The micro-batches of each mini-batch, with their aggregation weights.
    fn mini_batches(&self, groups: &[Group], advantages: &[f64]) -> Result<Vec<Vec<Piece>>, RlError> {
        let k = self.cfg.mini_batches;
        let mut first_sample = Vec::with_capacity(groups.len());
        let mut at = 0;
        for g in groups {
            first_sample.push(at);
            at += g.samples.len();
        }
        let mut minis = Vec::with_capacity(k);
        for m in 0..k {
            let range = m * groups.len() / k..(m + 1) * groups.len() / k;
            // The trained samples of these groups: (example, advantage).
            let mut members: Vec<(Example, f64)> = Vec::new();
            for gi in range {
                let g = &groups[gi];
                for (si, s) in g.samples.iter().enumerate() {
                    let ex = g.example(si);
                    if s.counted(self.rl.sampling.mask_truncated) && ex.n_targets() > 0 {
                        members.push((ex, advantages[first_sample[gi] + si]));
                    }
                }
            }
            let targets: Vec<usize> = members.iter().map(|(e, _)| e.n_targets()).collect();
            let weights = self.rl.loss_agg.sequence_weights(
                &targets,
                &vec![true; targets.len()],
                self.rl.max_new_tokens,
            )?;
            let mut pieces = Vec::new();
            for idx in micro_batches(&members, self.cfg.micro_batch_tokens) {
                let refs: Vec<&Example> = idx.iter().map(|&i| &members[i].0).collect();
                pieces.push(Piece {
                    batch: SeqBatch::padded(&refs, self.pad, self.model.device()),
                    seqs: idx
                        .iter()
                        .map(|&i| SequenceInputs {
                            targets: targets[i],
                            advantage: members[i].1,
                            weight: weights[i],
                        })
                        .collect(),
                    old_logp: None,
                    ref_logp: None,
                });
            }
            minis.push(pieces);
        }
        Ok(minis)
    }

    /// One optimiser step over the micro-batches of a mini-batch.
    fn step(&mut self, mini: &[Piece], lr: f64) -> Result<StepReport, RlError> {
        let step = self.opt.steps_done() as usize + 1;
        self.opt.zero_grad();
        let mut total: Option<RlTerms> = None;
        for piece in mini {
            let mut tokens = RlTokens::new(&piece.seqs, self.model.device());
            tokens.old_logp = piece.old_logp.as_ref().map(Tensor::shallow_clone);
            tokens.ref_logp = piece.ref_logp.as_ref().map(Tensor::shallow_clone);
            let what = format!(
                "RL step {step} on a micro-batch of shape {:?}",
                piece.batch.shape()
            );
            let (model, objective, entropy) = (self.model, &self.rl.objective, self.cfg.measure_entropy);
            let terms = catch_torch(&what, || {
                backward_rl(model, &piece.batch, &tokens, objective, entropy, None)
            })??;
            match &mut total {
                Some(t) => t.add(&terms),
                None => total = Some(terms),
            }
        }
        let total = total.ok_or_else(|| RlError::Invalid("an RL step needs a micro-batch".into()))?;
        let (opt, max_norm) = (&mut self.opt, self.cfg.max_grad_norm);
        let norm = catch_torch(&format!("optimizer step {step}"), || {
            let norm = opt.grad_norm();
            opt.step(lr, max_norm, &norm);
            norm
        })?;
        let values = total.read()?;
        let grad_norm = catch_torch("reading the gradient norm", || norm.double_value(&[]))?;
        for (what, value) in [("loss", values.loss), ("gradient norm", grad_norm)] {
            if !value.is_finite() {
                return Err(TrainError::NonFinite {
                    what,
                    value,
                    step,
                    max_grad_norm: max_norm,
                }
                .into());
            }
        }
        Ok(StepReport { values, grad_norm })
    }
}

/// Consecutive runs of `members` whose padded size (rows × longest) stays within
/// `budget` tokens; a sequence longer than the budget goes alone.
fn micro_batches(members: &[(Example, f64)], budget: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let mut longest = 0;
    for (i, (e, _)) in members.iter().enumerate() {
        let len = e.tokens.len();
        if !cur.is_empty() && (cur.len() + 1) * longest.max(len) > budget {
            out.push(std::mem::take(&mut cur));
            longest = 0;
        }
        cur.push(i);
        longest = longest.max(len);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
#[path = "update_tests.rs"]
mod tests;
