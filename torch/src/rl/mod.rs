//! Reinforcement learning with verifiable rewards (GRPO and its DAPO / Dr.GRPO
//! variants), as a library: rewards of sampled responses ([`reward`]), group-relative
//! advantages ([`advantage`]), the per-token policy objective and its loss aggregation
//! ([`objective`], [`aggregate`]), dynamic sampling over a rollout source ([`sampling`]),
//! the named bundles of all these settings ([`preset`]), the optimiser steps one
//! rollout batch makes ([`update`]), the model's own rollouts ([`rollout`]) and the
//! step loop with checkpoints, metrics and rollout logs ([`trainer`], [`rollout_log`]).
//!
//! Invariants: nothing here knows about stages or the store (like [`crate::train`]);
//! every value is a pure function of its inputs (no hidden RNG state, host arithmetic
//! in f64, device arithmetic in f32), so a run replays bit for bit; the objective's
//! gradients go through the chunked LM head of [`crate::train::loss`], so RL keeps
//! SFT's memory bound on large vocabularies.

pub mod advantage;
pub mod aggregate;
pub mod objective;
pub mod preset;
pub mod reward;
pub mod rollout;
pub mod rollout_log;
pub mod sampling;
pub mod trainer;
pub mod update;

#[cfg(test)]
mod bandit_tests;

use crate::model::ModelError;
use crate::train::TrainError;

/// Errors of the RL library.
#[derive(Debug, thiserror::Error)]
pub enum RlError {
    /// An unusable setting; the message names it and the accepted values.
    #[error("{0}")]
    Invalid(String),
    /// Dynamic sampling ran out of generation batches before the step's batch was full.
    #[error(
        "dynamic sampling at step {step}: after {gen_batches} generation batches (max_gen_batches = \
         {max_gen_batches}) only {kept} of the {needed} groups the step needs have unequal rewards \
         ({generated} groups generated, {equal} of them with all rewards equal); raise max_gen_batches, \
         keep the prompts whose pass rate is strictly between 0 and 1, or turn dynamic sampling off"
    )]
    GenBatchesExhausted {
        step: usize,
        gen_batches: usize,
        max_gen_batches: usize,
        kept: usize,
        needed: usize,
        generated: usize,
        equal: usize,
    },
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A training failure (a non-finite loss or gradient norm names its step).
    #[error(transparent)]
    Train(#[from] TrainError),
}
