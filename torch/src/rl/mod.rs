//! Reinforcement learning with verifiable rewards (GRPO and its DAPO / Dr.GRPO
//! variants), as a library: rewards of sampled responses ([`reward`]), group-relative
//! advantages ([`advantage`]), the per-token policy objective and its loss aggregation
//! ([`objective`], [`aggregate`]), dynamic sampling over a rollout source ([`sampling`])
//! and the named bundles of all these settings ([`preset`]).
//!
//! Invariants: nothing here knows about stages or the store (like [`crate::train`]);
//! every value is a pure function of its inputs (no hidden RNG state, host arithmetic
//! in f64, device arithmetic in f32), so a run replays bit for bit; the objective's
//! gradients go through the chunked LM head of [`crate::train::loss`], so RL keeps
//! SFT's memory bound on large vocabularies.

pub mod advantage;
pub mod aggregate;
pub mod objective;
pub mod reward;

use crate::model::ModelError;

/// Errors of the RL library.
#[derive(Debug, thiserror::Error)]
pub enum RlError {
    /// An unusable setting; the message names it and the accepted values.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Model(#[from] ModelError),
}
