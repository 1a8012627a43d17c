//! The `sft` stage kind: supervised fine-tuning of a model artifact on a dataset's
//! `prompt` → `response` pairs (completion-only loss). Declared here; the training loop
//! is `sieve-torch`'s.
//!
//! Invariants: the output is the fine-tuned model as a Hugging Face folder (f32 on the
//! CPU, bf16 on CUDA) plus `training_metrics.jsonl` / `training_metrics.parquet`; every
//! output file is a pure function of the key material (throughput and times go to the
//! stage log only); checkpoints live in the work folder, so a killed run resumes, while
//! the entry is committed only when training completes.

use super::declare::{DeviceSpec, Problems, Seed, Stage, Torch, positive};
use super::{ArtifactKind, InputSpec};
use std::num::NonZeroU64;

crate::param_enum! {
    /// How the learning rate decays after warmup.
    pub enum Schedule {
        Cosine = "cosine",
        Constant = "constant",
    }
}

crate::param_enum! {
    /// The training loss.
    pub enum SftLoss {
        /// cross-entropy
        Ce = "ce",
        /// Dynamic Fine-Tuning: each token's cross-entropy weighted by sg(p)
        Dft = "dft",
    }
}

crate::stage_params! {
    /// Parameters of [`Sft`].
    pub struct SftParams {
        /// peak learning rate
        lr: f64 = 1e-4,
        /// decay after warmup
        schedule: Schedule = Schedule::Cosine,
        /// fraction of steps in linear warmup
        warmup_ratio: f64 = 0.03,
        /// final cosine learning rate / peak
        min_lr_ratio: f64 = 0.0,
        /// passes over the data (when `steps` is not given)
        epochs: u64 = 1,
        /// optimiser steps (default: derived from `epochs`)
        steps: Option<NonZeroU64>,
        /// examples (or packed rows) per micro-batch
        batch_size: NonZeroU64 = positive(16),
        /// micro-batches per optimiser step
        grad_accum: NonZeroU64 = positive(1),
        /// gradient clipping by global norm; 0 = off
        max_grad_norm: f64 = 1.0,
        /// AdamW decoupled weight decay (matrices only)
        weight_decay: f64 = 0.0,
        /// AdamW β1
        beta1: f64 = 0.9,
        /// AdamW β2
        beta2: f64 = 0.999,
        /// ce = cross-entropy; dft = Dynamic Fine-Tuning (CE × sg(p))
        loss: SftLoss = SftLoss::Ce,
        /// pack short examples into max_seq_len rows
        packing: bool = false,
        /// truncate examples to this many tokens
        max_seq_len: NonZeroU64 = positive(1024),
        /// eval loss every N steps (default: at the end only)
        eval_every: Option<NonZeroU64>,
        /// checkpoint every N steps (default: about ten checkpoints per run)
        save_every: Option<NonZeroU64>,
        /// wrap each prompt in the model's chat template (one user turn)
        chat: bool = false,
        seed: Seed,
        device: DeviceSpec,
    }
}

/// `sft(model, data[, eval], …)`.
pub struct Sft;

impl Stage for Sft {
    const NAME: &'static str = "sft";
    /// 2: `training_metrics.*` no longer hold the wall-clock `tok/s` column, which made
    /// two runs of one key write different bytes (it is in the stage log instead).
    const VERSION: u32 = 2;
    const DOC: &'static str = "Supervised fine-tuning on prompt → response (completion-only loss, optional packing and DFT weighting), AdamW, warmup + cosine/constant, checkpoints + resume";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("model", ArtifactKind::Model, "the model to fine-tune"),
        InputSpec::one(
            "data",
            ArtifactKind::Dataset,
            "training rows (`prompt`, `response`)",
        ),
        InputSpec::optional(
            "eval",
            ArtifactKind::Dataset,
            "held-out rows for the periodic eval loss",
        ),
    ];
    const OUTPUT: ArtifactKind = ArtifactKind::Model;
    const TORCH: Torch = Torch::Always;
    type Params = SftParams;

    fn validate(p: &SftParams, problems: &mut Problems) {
        if p.lr <= 0.0 {
            problems.at(SftParams::lr, "must be > 0");
        }
        if !(0.0..1.0).contains(&p.warmup_ratio) {
            problems.at(SftParams::warmup_ratio, "must be in [0, 1)");
        }
        if p.max_grad_norm < 0.0 {
            problems.at(SftParams::max_grad_norm, "must be ≥ 0 (0 = no clipping)");
        }
        if p.steps.is_none() && p.epochs == 0 {
            problems.at(SftParams::epochs, "give epochs ≥ 1 or steps ≥ 1");
        }
    }
}
