//! The `grpo` stage kind: reinforcement learning with verifiable rewards (GRPO, with the
//! DAPO and Dr.GRPO variants as presets) of a model on a dataset's `prompt` → `answer`
//! rows. Declared here; rollouts, rewards and updates are `sieve-torch`'s `rl` library.
//!
//! Invariants: the output is the trained model as a Hugging Face folder plus
//! `training_metrics.jsonl` / `training_metrics.parquet` (one row per RL step) and
//! `rollouts.parquet` (one row per sampled response trained on); every output file is a
//! pure function of the key material (times go to the stage log only); checkpoints, the
//! data cursor included, live in the work folder, so a killed run resumes and ends as
//! the uninterrupted one would. A preset only fills the settings left out: an explicit
//! parameter always wins.

use super::declare::{DeviceSpec, Problems, Seed, Stage, Torch, positive};
use super::{ArtifactKind, InputSpec};
use crate::eval::Metric;
use std::num::NonZeroU64;

crate::param_enum! {
    /// A named bundle of RL settings.
    pub enum RlPreset {
        /// verl's defaults: rewards 1/0, group-std advantages, ε 0.2/0.2, dual clip 3, token mean
        Grpo = "grpo",
        /// rewards ±1, overlong shaping, ε 0.2/0.28, dual clip 10, dynamic sampling
        Dapo = "dapo",
        /// mean-centred advantages, constant-length loss normaliser
        DrGrpo = "dr_grpo",
    }
}

crate::param_enum! {
    /// How rewards become advantages.
    pub enum AdvNorm {
        /// (r − group mean) / (group std + ε)
        Group = "group",
        /// r − group mean
        None = "none",
        /// (r − group mean) / (batch std + ε)
        Batch = "batch",
    }
}

crate::param_enum! {
    /// How per-token losses are averaged.
    pub enum LossAggParam {
        /// over all response tokens of the mini-batch
        TokenMean = "token_mean",
        /// per sequence, then over sequences
        SeqMeanTokenMean = "seq_mean_token_mean",
        /// summed per sequence, averaged over sequences
        SeqMeanTokenSum = "seq_mean_token_sum",
        /// summed, divided by sequences × max_new_tokens
        DrGrpo = "dr_grpo",
    }
}

crate::param_enum! {
    /// The KL estimator against the input model.
    pub enum KlKindParam {
        K1 = "k1",
        K2 = "k2",
        K3 = "k3",
        /// k3's value with k2's gradient
        K3Plus = "k3+",
    }
}

crate::param_enum! {
    /// The value whose spread decides whether dynamic sampling keeps a group.
    pub enum FilterMetricParam {
        /// 0/1 correctness
        Acc = "acc",
        /// the shaped reward
        Reward = "reward",
    }
}

crate::stage_params! {
    /// Parameters of [`Grpo`].
    pub struct GrpoParams {
        /// settings bundle; the parameters below that are given override it
        preset: RlPreset = RlPreset::Grpo,
        /// how a response is judged against `answer` (as in `evaluate`)
        metric: Metric = Metric::ExactMatch,
        /// characters at the end of a response the verifier reads (0 = all)
        tail_chars: u64 = 300,
        /// RL steps (rollout batches)
        steps: NonZeroU64 = positive(100),
        /// prompts (groups) per step
        prompts_per_step: NonZeroU64 = positive(32),
        /// samples per prompt
        group_size: u64 = 8,
        /// response length limit in tokens
        max_new_tokens: NonZeroU64 = positive(512),
        /// sampling temperature (the training forward divides the logits by it too)
        temperature: f64 = 1.0,
        /// nucleus sampling mass (1 = off)
        top_p: f64 = 1.0,
        /// top-k sampling (0 = off)
        top_k: u64 = 0,
        /// stop strings (besides EOS)
        stop: Vec<String> = Vec::new(),
        /// peak learning rate
        lr: f64 = 1e-6,
        /// linear warmup steps, then constant
        warmup_steps: u64 = 0,
        /// AdamW decoupled weight decay (matrices only)
        weight_decay: f64 = 0.01,
        /// gradient clipping by global norm; 0 = off
        max_grad_norm: f64 = 1.0,
        /// optimiser steps per rollout batch (whole groups each)
        mini_batches: NonZeroU64 = positive(1),
        /// passes over each rollout batch
        epochs: NonZeroU64 = positive(1),
        /// padded tokens per micro-batch (memory only)
        micro_batch_tokens: NonZeroU64 = positive(16384),
        /// lower clip ε (default: the preset's)
        clip_low: Option<f64>,
        /// upper clip ε (default: the preset's)
        clip_high: Option<f64>,
        /// dual-clip bound c for negative advantages; 0 = off (default: the preset's)
        dual_clip: Option<f64>,
        /// advantage normalisation (default: the preset's)
        adv_norm: Option<AdvNorm>,
        /// ε added to the standard deviation (default 1e-6)
        adv_eps: Option<f64>,
        /// loss aggregation (default: the preset's)
        loss_agg: Option<LossAggParam>,
        /// KL coefficient against the input model (default 0 = no reference pass)
        kl_coef: Option<f64>,
        /// KL estimator (default k3)
        kl_kind: Option<KlKindParam>,
        /// entropy bonus coefficient (default 0)
        entropy_coef: Option<f64>,
        /// reward of a correct response (default: the preset's)
        reward_correct: Option<f64>,
        /// reward of an incorrect response (default: the preset's)
        reward_incorrect: Option<f64>,
        /// overlong shaping buffer in tokens; 0 = off (default: the preset's)
        overlong_buffer: Option<u64>,
        /// overlong penalty at the limit (default 1)
        overlong_factor: Option<f64>,
        /// drop all-equal groups and generate more (default: the preset's)
        dynamic_sampling: Option<bool>,
        /// what "all equal" is measured on (default acc)
        filter_metric: Option<FilterMetricParam>,
        /// prompts per generation batch under dynamic sampling (default: prompts_per_step)
        gen_batch_prompts: Option<NonZeroU64>,
        /// generation batches a step may use under dynamic sampling
        max_gen_batches: NonZeroU64 = positive(10),
        /// leave truncated responses out of the loss (they still shape their group's baseline)
        mask_truncated: bool = false,
        /// greedy accuracy on `eval` every N steps (default: at the end only)
        eval_every: Option<NonZeroU64>,
        /// checkpoint every N steps (default: about ten checkpoints per run)
        save_every: Option<NonZeroU64>,
        /// wrap each prompt in the model's chat template (one user turn)
        chat: bool = false,
        seed: Seed,
        device: DeviceSpec,
    }
}

/// `grpo(model, data[, eval], …)`.
pub struct Grpo;

impl Stage for Grpo {
    const NAME: &'static str = "grpo";
    const VERSION: u32 = 1;
    const DOC: &'static str = "RL with verifiable rewards: GRPO with DAPO / Dr.GRPO presets (group advantages, clipped surrogate, dynamic sampling, overlong shaping), rollouts + metrics logged, checkpoints + exact resume";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("model", ArtifactKind::Model, "the policy to train"),
        InputSpec::one(
            "data",
            ArtifactKind::Dataset,
            "training prompts (`prompt`, `answer`)",
        ),
        InputSpec::optional(
            "eval",
            ArtifactKind::Dataset,
            "held-out rows (`prompt`, `answer`) for greedy accuracy",
        ),
    ];
    const OUTPUT: ArtifactKind = ArtifactKind::Model;
    const TORCH: Torch = Torch::Always;
    type Params = GrpoParams;

    fn validate(p: &GrpoParams, problems: &mut Problems) {
        if p.group_size < 2 {
            problems.at(
                GrpoParams::group_size,
                "must be ≥ 2 (a group of one has no baseline)",
            );
        }
        if p.lr <= 0.0 {
            problems.at(GrpoParams::lr, "must be > 0");
        }
        if p.temperature <= 0.0 {
            problems.at(GrpoParams::temperature, "must be > 0 (RL samples its rollouts)");
        }
        if !(0.0..=1.0).contains(&p.top_p) || p.top_p == 0.0 {
            problems.at(GrpoParams::top_p, "must be in (0, 1]");
        }
        if p.max_grad_norm < 0.0 {
            problems.at(GrpoParams::max_grad_norm, "must be ≥ 0 (0 = no clipping)");
        }
        if p.mini_batches > p.prompts_per_step {
            problems.at(
                GrpoParams::mini_batches,
                format!(
                    "{} mini-batches of whole groups need at least as many prompts per step (prompts_per_step = {})",
                    p.mini_batches, p.prompts_per_step
                ),
            );
        }
        if let Some(c) = p.clip_low
            && !(c > 0.0 && c < 1.0)
        {
            problems.at(GrpoParams::clip_low, "must be in (0, 1)");
        }
        if let Some(c) = p.clip_high
            && c <= 0.0
        {
            problems.at(GrpoParams::clip_high, "must be > 0");
        }
        if let Some(c) = p.dual_clip
            && c != 0.0
            && c <= 1.0
        {
            problems.at(GrpoParams::dual_clip, "must be 0 (off) or > 1");
        }
        if let Some(b) = p.overlong_buffer
            && b >= p.max_new_tokens.get()
        {
            problems.at(
                GrpoParams::overlong_buffer,
                format!("must be below max_new_tokens ({})", p.max_new_tokens),
            );
        }
        for (field, v) in [
            (GrpoParams::kl_coef, p.kl_coef),
            (GrpoParams::entropy_coef, p.entropy_coef),
            (GrpoParams::adv_eps, p.adv_eps),
            (GrpoParams::overlong_factor, p.overlong_factor),
        ] {
            if v.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                problems.at(field, "must be a finite number ≥ 0");
            }
        }
    }
}
