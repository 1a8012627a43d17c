//! Training library: the AdamW optimiser with f32 master weights ([`optim`]), chunked
//! LM-head losses ([`loss`]), learning-rate
//! schedules ([`schedule`]), checkpoints that make an interrupted run resume exactly
//! ([`checkpoint`]), metric logs ([`metrics`]) and the supervised fine-tuning loop
//! ([`sft`]).
//!
//! Invariants: nothing here knows about stages; all randomness is derived from the
//! run's seed and the step / epoch index (no hidden RNG state), so a run resumed from a
//! checkpoint at step `s` replays exactly the batches an uninterrupted run would have
//! seen after `s`; a non-finite loss or gradient stops training with the step it
//! happened at.

pub mod checkpoint;
mod fused;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod schedule;
pub mod sft;

#[cfg(test)]
mod addition_tests;

pub use optim::{AdamW, AdamWConfig};
pub use schedule::{LrSchedule, ScheduleKind};
pub use sft::{LossKind, SftConfig, SftOutcome, TrainHooks, train_sft};

use crate::model::ModelError;

/// Errors of the training library.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The loss or the gradient norm became NaN / ±inf.
    #[error("non-finite {what} ({value}) at step {step}: {}", non_finite_hint(*.step, *.max_grad_norm))]
    NonFinite {
        what: &'static str,
        value: f64,
        step: usize,
        /// The run's gradient clipping (0 = off), which decides what the message suggests.
        max_grad_norm: f64,
    },
    /// Unusable configuration or data.
    #[error("{0}")]
    Invalid(String),
    /// The caller asked to stop (Ctrl-C); the last periodic checkpoint is kept.
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("I/O error on {path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error("metrics: {0}")]
    Metrics(String),
}

/// What to try after a non-finite loss or gradient norm at optimiser step `step`
/// (1-based). Step 1 measures the model as it came in, before any update, so the
/// learning rate cannot be the cause there; later, suggest clipping only when it is off.
fn non_finite_hint(step: usize, max_grad_norm: f64) -> String {
    if step <= 1 {
        "this is before the first update, so the input model's weights (or the data in this dtype) are not finite; the learning rate is not the cause".into()
    } else if max_grad_norm > 0.0 {
        format!("lower the learning rate (gradient clipping is already on, max_grad_norm = {max_grad_norm})")
    } else {
        "lower the learning rate or enable gradient clipping (max_grad_norm > 0)".into()
    }
}

impl TrainError {
    pub(crate) fn io(path: &std::path::Path, err: std::io::Error) -> Self {
        TrainError::Io {
            path: path.display().to_string(),
            err,
        }
    }
}
