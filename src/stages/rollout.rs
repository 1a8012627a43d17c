//! The `rollout` stage kind: samples `samples` responses per prompt from a model, judges
//! each against `answer`, and writes them as a dataset with the group's pass rate — for
//! difficulty filters before RL (`select` on `pass_rate`), rejection-sampling SFT data
//! (`select` on `correct`), or inspection. Declared here; sampling is `sieve-torch`'s.
//!
//! Invariants: one output row per (prompt, sample), in input order then sample order,
//! with a fresh `id` and the prompt row's id as `source_id`; sample `j` of the row with
//! id `i` is drawn from a seed that depends only on (seed, i, j) — the same seeds as
//! `evaluate`'s samples — so the dataset does not depend on batching.

use super::declare::{DeviceSpec, Problems, Seed, Stage, Torch, positive};
use super::{ArtifactKind, InputSpec};
use crate::eval::Metric;
use std::num::NonZeroU64;

crate::stage_params! {
    /// Parameters of [`Rollout`].
    pub struct RolloutParams {
        /// samples per prompt
        samples: NonZeroU64 = positive(8),
        /// how a response is judged against `answer` (as in `evaluate`)
        metric: Metric = Metric::ExactMatch,
        /// characters at the end of a response the verifier reads (0 = all)
        tail_chars: u64 = 0,
        /// reward of a correct response
        reward_correct: f64 = 1.0,
        /// reward of an incorrect response
        reward_incorrect: f64 = 0.0,
        /// response length limit in tokens
        max_new_tokens: NonZeroU64 = positive(256),
        /// sampling temperature
        temperature: f64 = 1.0,
        /// nucleus sampling mass (1 = off)
        top_p: f64 = 1.0,
        /// top-k sampling (0 = off)
        top_k: u64 = 0,
        /// stop strings (besides EOS)
        stop: Vec<String> = Vec::new(),
        /// sequences generated together (whole groups)
        batch_size: NonZeroU64 = positive(256),
        /// wrap each prompt in the model's chat template (one user turn)
        chat: bool = false,
        seed: Seed,
        device: DeviceSpec,
    }
}

/// `rollout(model, data, …)`.
pub struct Rollout;

impl Stage for Rollout {
    const NAME: &'static str = "rollout";
    const VERSION: u32 = 1;
    const DOC: &'static str = "Samples responses per prompt, judges them against `answer`, and writes one row per sample with its reward, finish reason and the prompt's pass rate";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("model", ArtifactKind::Model, "the model to sample from"),
        InputSpec::one("data", ArtifactKind::Dataset, "prompts (`prompt`, `answer`)"),
    ];
    const OUTPUT: ArtifactKind = ArtifactKind::Dataset;
    const TORCH: Torch = Torch::Always;
    type Params = RolloutParams;

    fn validate(p: &RolloutParams, problems: &mut Problems) {
        if p.temperature < 0.0 {
            problems.at(RolloutParams::temperature, "must be ≥ 0");
        } else if p.samples.get() > 1 && p.temperature == 0.0 {
            problems.at(
                RolloutParams::temperature,
                "several samples per prompt need temperature > 0 (greedy samples are identical)",
            );
        }
        if !(0.0..=1.0).contains(&p.top_p) || p.top_p == 0.0 {
            problems.at(RolloutParams::top_p, "must be in (0, 1]");
        }
        for (field, v) in [
            (RolloutParams::reward_correct, p.reward_correct),
            (RolloutParams::reward_incorrect, p.reward_incorrect),
        ] {
            if !v.is_finite() {
                problems.at(field, "must be finite");
            }
        }
    }
}
