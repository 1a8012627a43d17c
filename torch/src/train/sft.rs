//! Supervised fine-tuning on prompt/response examples: completion-only (prompt-masked)
//! cross-entropy or the DFT token weighting, optional packing, AdamW with warmup +
//! cosine/constant schedule, gradient clipping and accumulation, periodic evaluation,
//! checkpoints and resume.
//!
//! Invariants:
//! - the objective of one optimiser step is the token mean over *all* response targets
//!   of its `grad_accum` micro-batches (each micro-batch's summed loss is divided by the
//!   group's total target count before `backward`), so accumulation does not change the
//!   maths, only the memory;
//! - micro-batch `k` of the run (counting across epochs) is a pure function of
//!   (seed, k): examples are shuffled per epoch with a ChaCha stream seeded by
//!   (seed, epoch), so a resumed run sees exactly the batches the uninterrupted one saw;
//! - a NaN/inf loss or gradient norm fails with the optimiser step it happened at; a
//!   libtorch failure (e.g. CUDA out of memory) names the micro-batch shape;
//! - the metrics log holds only values that are a pure function of the run (loss, lr,
//!   gradient norm, eval loss): throughput and times go to the hooks, never to the log,
//!   so a resumed or a slower run writes the same log as an uninterrupted one.

use super::TrainError;
use super::checkpoint::{self, TrainState};
use super::loss::{Weighting, backward_loss, nll_sum};
use super::metrics::MetricsLog;
use super::optim::{AdamW, AdamWConfig};
use super::schedule::{LrSchedule, ScheduleKind};
use crate::model::logprobs::{Example, SeqBatch};
use crate::model::{Transformer, catch_torch};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::path::Path;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// The per-token loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossKind {
    /// Cross-entropy `−log π(y_t)`.
    CrossEntropy,
    /// Dynamic Fine-Tuning (PAPERS.md §1): `−sg(π(y_t)) · log π(y_t)`, i.e. each
    /// token's cross-entropy weighted by its own stop-gradient probability.
    Dft,
}

/// Hyper-parameters of an SFT run.
#[derive(Debug, Clone, PartialEq)]
pub struct SftConfig {
    pub lr: f64,
    pub optim: AdamWConfig,
    pub schedule: ScheduleKind,
    /// Fraction of the optimiser steps spent in linear warmup.
    pub warmup_ratio: f64,
    /// Final learning rate of the cosine schedule, as a fraction of `lr`.
    pub min_lr_ratio: f64,
    /// Examples (or packed rows) per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimiser step.
    pub grad_accum: usize,
    /// Global gradient-norm clip; 0 disables.
    pub max_grad_norm: f64,
    /// Passes over the data (used when `steps` is None).
    pub epochs: usize,
    /// Optimiser steps, overriding `epochs`.
    pub steps: Option<usize>,
    /// Pack several short examples per row (attention stays within each example).
    pub packing: bool,
    /// Examples are truncated to this many tokens; also the packed row length.
    pub max_seq_len: usize,
    pub loss: LossKind,
    /// Evaluate on the eval examples every this many steps (0: only at the end).
    pub eval_every: usize,
    /// Checkpoint every this many steps (0: about ten checkpoints per run).
    pub save_every: usize,
    /// Log metrics every this many steps.
    pub log_every: usize,
    pub seed: u64,
}

impl Default for SftConfig {
    fn default() -> Self {
        SftConfig {
            lr: 3e-4,
            optim: AdamWConfig::default(),
            schedule: ScheduleKind::Cosine,
            warmup_ratio: 0.03,
            min_lr_ratio: 0.0,
            batch_size: 16,
            grad_accum: 1,
            max_grad_norm: 1.0,
            epochs: 1,
            steps: None,
            packing: false,
            max_seq_len: 1024,
            loss: LossKind::CrossEntropy,
            eval_every: 0,
            save_every: 0,
            log_every: 1,
            seed: 0,
        }
    }
}

/// The throughput metric handed to [`TrainHooks::on_step`] (input tokens per second of
/// wall time since the previous step). It is never written to the metrics log: the log
/// is part of the trained artifact, which must not depend on the machine's speed.
pub const TOKENS_PER_SECOND: &str = "tok/s";

/// Callbacks from the training loop (progress bars, cancellation).
pub trait TrainHooks {
    /// Called after each optimiser step with its metrics: the logged ones plus
    /// [`TOKENS_PER_SECOND`] (when measurable).
    fn on_step(&mut self, _step: usize, _total: usize, _metrics: &[(&str, f64)]) {}
    /// A free-form status line (resume notices, evaluation results).
    fn message(&mut self, _msg: &str) {}
    /// Polled before every step; `true` stops with [`TrainError::Cancelled`].
    fn should_stop(&mut self) -> bool {
        false
    }
}

/// Hooks that do nothing.
pub struct NoHooks;
impl TrainHooks for NoHooks {}

/// What a finished run reports.
#[derive(Debug)]
pub struct SftOutcome {
    pub steps: usize,
    /// Loss of the last optimiser step.
    pub final_loss: f64,
    /// Mean cross-entropy on the eval examples at the end (when there are any).
    pub eval_loss: Option<f64>,
    /// The step a checkpoint was resumed from.
    pub resumed_from: Option<usize>,
    pub log: MetricsLog,
}

/// The results of one optimiser step, still on the model's device: the objective,
/// the gradient norm before clipping and the plain cross-entropy (equal to the
/// objective unless the loss is DFT). Reading them waits for the device.
#[derive(Debug)]
pub struct StepValues {
    /// `[loss, grad_norm, ce]`, f32.
    values: Tensor,
}

impl StepValues {
    /// Copies `(loss, grad_norm, ce)` to the host.
    pub fn read(&self) -> Result<(f64, f64, f64), TrainError> {
        let v: Vec<f32> = Vec::try_from(self.values.to_device(Device::Cpu).to_kind(Kind::Float))
            .map_err(|e| TrainError::Invalid(format!("reading step values: {e}")))?;
        Ok((v[0] as f64, v[1] as f64, v[2] as f64))
    }
}

/// The per-step machinery of [`train_sft`] (also driven directly by `sieve bench`):
/// loss and backward over a step's micro-batches, the global gradient norm, clipping
/// and one AdamW update.
pub struct Stepper<'m> {
    model: &'m Transformer,
    opt: AdamW,
    loss: LossKind,
    max_grad_norm: f64,
}

impl<'m> Stepper<'m> {
    /// An optimiser for `model` with the configuration's AdamW, loss and clipping.
    pub fn new(model: &'m Transformer, cfg: &SftConfig) -> Self {
        Stepper {
            model,
            opt: AdamW::new(model, cfg.optim.clone()),
            loss: cfg.loss,
            max_grad_norm: cfg.max_grad_norm,
        }
    }

    /// The optimiser (for checkpoints).
    pub fn optimizer(&self) -> &AdamW {
        &self.opt
    }

    /// The optimiser, mutably (for restoring checkpoints).
    pub fn optimizer_mut(&mut self) -> &mut AdamW {
        &mut self.opt
    }

    /// One optimiser step over `micro` with learning rate `lr`: the objective is the
    /// token mean over all response targets of the micro-batches (chunked LM-head loss,
    /// [`super::loss`]), then the gradient norm, clipping and the update — all queued on
    /// the device, nothing read back. `step` (1-based) only names the step in errors.
    pub fn step(&mut self, micro: &[SeqBatch], lr: f64, step: usize) -> Result<StepValues, TrainError> {
        let model = self.model;
        let n_targets: usize = micro.iter().map(|b| b.n_targets).sum();
        let denom = n_targets.max(1) as f64;
        let weighting = match self.loss {
            LossKind::CrossEntropy => Weighting::Uniform,
            LossKind::Dft => Weighting::Probability,
        };
        self.opt.zero_grad();
        let mut sums: Option<(Tensor, Tensor)> = None;
        for b in micro {
            let what = format!("training step {step} on a micro-batch of shape {:?}", b.shape());
            let t = catch_torch(&what, || backward_loss(model, b, weighting, denom))?;
            sums = Some(match sums {
                None => (t.loss, t.ce),
                Some((l, c)) => (l + t.loss, c + t.ce),
            });
        }
        let (loss, ce) = sums.ok_or_else(|| TrainError::Invalid("a step needs a micro-batch".into()))?;
        let what = format!("optimizer step {step}");
        let opt = &mut self.opt;
        let max_norm = self.max_grad_norm;
        let values = catch_torch(&what, || {
            let norm = opt.grad_norm();
            opt.step(lr, max_norm, &norm);
            Tensor::stack(&[loss, norm, ce], 0)
        })?;
        Ok(StepValues { values })
    }
}

/// The micro-batches of one epoch: indices into the example list.
fn epoch_batches(examples: &[Example], cfg: &SftConfig, epoch: usize) -> Vec<Vec<Vec<usize>>> {
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng =
        rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
    order.shuffle(&mut rng);
    if !cfg.packing {
        return order
            .chunks(cfg.batch_size)
            .map(|c| c.iter().map(|&i| vec![i]).collect())
            .collect();
    }
    // Greedy sequential packing: fill a row until the next example does not fit.
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let mut len = 0;
    for i in order {
        let l = examples[i].tokens.len();
        if !cur.is_empty() && len + l > cfg.max_seq_len {
            rows.push(std::mem::take(&mut cur));
            len = 0;
        }
        cur.push(i);
        len += l;
    }
    if !cur.is_empty() {
        rows.push(cur);
    }
    rows.chunks(cfg.batch_size).map(<[Vec<usize>]>::to_vec).collect()
}

/// A digest of everything that determines the run, for checkpoint matching.
fn fingerprint(model: &Transformer, examples: &[Example], cfg: &SftConfig) -> String {
    let mut h = blake3::Hasher::new();
    h.update(format!("{cfg:?}").as_bytes());
    h.update(model.config().to_json().as_bytes());
    for e in examples {
        h.update(&(e.prompt_len as u64).to_le_bytes());
        for t in &e.tokens {
            h.update(&t.to_le_bytes());
        }
    }
    h.finalize().to_hex()[..16].to_string()
}

/// Truncates examples to `max_len` tokens and drops those left without a response token.
pub fn prepare_examples(examples: Vec<Example>, max_len: usize) -> Vec<Example> {
    examples
        .into_iter()
        .map(|mut e| {
            e.tokens.truncate(max_len);
            e
        })
        .filter(|e| e.tokens.len() > e.prompt_len.max(1))
        .collect()
}

/// Mean cross-entropy of the response tokens of `examples` (no gradients).
pub fn eval_loss(
    model: &Transformer,
    examples: &[Example],
    batch_size: usize,
    pad: i64,
) -> Result<f64, TrainError> {
    let mut sum = Tensor::zeros([], (Kind::Float, model.device()));
    let mut n = 0usize;
    for chunk in examples.chunks(batch_size.max(1)) {
        let refs: Vec<&Example> = chunk.iter().collect();
        let batch = SeqBatch::padded(&refs, pad, model.device());
        let what = format!("evaluating a batch of shape {:?}", batch.shape());
        let s = catch_torch(&what, || nll_sum(model, &batch))?;
        sum += s;
        n += batch.n_targets;
    }
    let sum = catch_torch("reading the evaluation loss", || sum.double_value(&[]))?;
    Ok(if n == 0 { f64::NAN } else { sum / n as f64 })
}

/// Trains `model` in place. With `work_dir`, checkpoints are written there and a matching
/// checkpoint found there is resumed; metrics are appended to `work_dir/metrics.jsonl`.
pub fn train_sft(
    model: &Transformer,
    train: &[Example],
    eval: &[Example],
    pad: i64,
    cfg: &SftConfig,
    work_dir: Option<&Path>,
    hooks: &mut dyn TrainHooks,
) -> Result<SftOutcome, TrainError> {
    if train.is_empty() {
        return Err(TrainError::Invalid(
            "no training examples with a response token".into(),
        ));
    }
    if cfg.batch_size == 0 || cfg.grad_accum == 0 {
        return Err(TrainError::Invalid(
            "batch_size and grad_accum must be ≥ 1".into(),
        ));
    }
    let epoch0 = epoch_batches(train, cfg, 0);
    let per_epoch = epoch0.len();
    let total = cfg
        .steps
        .unwrap_or_else(|| (cfg.epochs * per_epoch).div_ceil(cfg.grad_accum))
        .max(1);
    let sched = LrSchedule {
        peak: cfg.lr,
        warmup: (cfg.warmup_ratio * total as f64).round() as usize,
        total,
        kind: cfg.schedule,
        min_ratio: cfg.min_lr_ratio,
    };
    let save_every = if cfg.save_every > 0 {
        cfg.save_every
    } else {
        total.div_ceil(10).max(1)
    };
    let fp = fingerprint(model, train, cfg);
    let mut stepper = Stepper::new(model, cfg);
    let mut state = TrainState {
        step: 0,
        tokens: 0,
        fingerprint: fp.clone(),
        cursor: None,
    };
    let mut resumed_from = None;
    if let Some(dir) = work_dir
        && let Some((ck, st)) = checkpoint::latest(dir, &fp)
    {
        checkpoint::restore(&ck, model, stepper.optimizer_mut())?;
        hooks.message(&format!(
            "resuming from the checkpoint at step {}/{total}",
            st.step
        ));
        resumed_from = Some(st.step);
        state = st;
    }
    let mut log = match work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
            MetricsLog::open(&dir.join("metrics.jsonl"), Some(state.step))?
        }
        None => MetricsLog::in_memory(),
    };

    let mut cached_epoch = (0usize, epoch0);
    let mut last_loss = f64::NAN;
    let started = Instant::now();
    let mut tokens_since = 0u64;
    let mut tokens_run = 0u64;
    let mut last_tick = Instant::now();
    while state.step < total {
        if hooks.should_stop() {
            return Err(TrainError::Cancelled);
        }
        let step = state.step;
        // The micro-batches of this step, by global index (they may straddle epochs).
        let mut micro: Vec<SeqBatch> = Vec::with_capacity(cfg.grad_accum);
        for k in step * cfg.grad_accum..(step + 1) * cfg.grad_accum {
            let (epoch, idx) = (k / per_epoch, k % per_epoch);
            if cached_epoch.0 != epoch {
                cached_epoch = (epoch, epoch_batches(train, cfg, epoch));
            }
            let rows: Vec<Vec<&Example>> = cached_epoch.1[idx]
                .iter()
                .map(|r| r.iter().map(|&i| &train[i]).collect())
                .collect();
            micro.push(if cfg.packing {
                SeqBatch::packed(&rows, pad, model.device())
            } else {
                let flat: Vec<&Example> = rows.into_iter().flatten().collect();
                SeqBatch::padded(&flat, pad, model.device())
            });
        }
        let n_targets: usize = micro.iter().map(|b| b.n_targets).sum();
        let lr = sched.lr(step);
        let values = stepper.step(&micro, lr, step + 1)?;
        let (loss_sum, norm, ce_sum) = values.read()?;
        if !loss_sum.is_finite() {
            return Err(TrainError::NonFinite {
                what: "loss",
                value: loss_sum,
                step: step + 1,
                max_grad_norm: cfg.max_grad_norm,
            });
        }
        if !norm.is_finite() {
            return Err(TrainError::NonFinite {
                what: "gradient norm",
                value: norm,
                step: step + 1,
                max_grad_norm: cfg.max_grad_norm,
            });
        }
        state.step += 1;
        state.tokens += n_targets as u64;
        let step_tokens = micro.iter().map(|b| b.input_ids.numel() as u64).sum::<u64>();
        tokens_since += step_tokens;
        tokens_run += step_tokens;
        last_loss = loss_sum;

        // The logged metrics are a pure function of the run (they end up in the digested
        // `training_metrics.*`); throughput is a wall-clock measurement, so it only goes
        // to the hooks (progress bars and the stage log).
        let mut metrics: Vec<(&str, f64)> = vec![("loss", loss_sum), ("lr", lr), ("grad_norm", norm)];
        if cfg.loss == LossKind::Dft {
            metrics.push(("ce", ce_sum));
        }
        let dt = last_tick.elapsed().as_secs_f64();
        let throughput = (dt > 0.0).then(|| tokens_since as f64 / dt);
        tokens_since = 0;
        last_tick = Instant::now();
        let eval_now = !eval.is_empty()
            && cfg.eval_every > 0
            && state.step.is_multiple_of(cfg.eval_every)
            && state.step < total;
        let ev;
        if eval_now {
            ev = eval_loss(model, eval, cfg.batch_size, pad)?;
            metrics.push(("eval_loss", ev));
            hooks.message(&format!("step {}: eval_loss {ev:.4}", state.step));
        }
        if state.step.is_multiple_of(cfg.log_every.max(1)) || state.step == total || eval_now {
            log.log(state.step, &metrics)?;
        }
        metrics.extend(throughput.map(|t| (TOKENS_PER_SECOND, t)));
        hooks.on_step(state.step, total, &metrics);
        if let Some(dir) = work_dir
            && state.step.is_multiple_of(save_every)
            && state.step < total
        {
            checkpoint::save(dir, model, stepper.optimizer(), &state)?;
        }
    }
    let final_eval = if eval.is_empty() {
        None
    } else {
        Some(eval_loss(model, eval, cfg.batch_size, pad)?)
    };
    if let Some(e) = final_eval {
        log.log(total, &[("eval_loss", e)])?;
    }
    if last_loss.is_nan() {
        last_loss = log.last("loss").unwrap_or(f64::NAN);
    }
    let seconds = started.elapsed().as_secs_f64();
    let trained_steps = total - resumed_from.unwrap_or(0);
    hooks.message(&format!(
        "trained {total} steps in {seconds:.1}s ({} of them in this run, {:.0} tok/s)",
        trained_steps,
        tokens_run as f64 / seconds.max(1e-9)
    ));
    Ok(SftOutcome {
        steps: total,
        final_loss: last_loss,
        eval_loss: final_eval,
        resumed_from,
        log,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::{Family, ModelConfig, Sizes};
    use crate::model::tokenizer::Tok;
    use tch::Device;

    fn toy() -> (Tok, Vec<Example>) {
        let tok = Tok::chars("0123456789+=").unwrap();
        let mut ex = Vec::new();
        for a in 0..12 {
            for b in 0..12 {
                let p = tok.encode(&format!("{a}+{b}="), true).unwrap();
                let mut t = p.clone();
                t.extend(tok.encode(&format!("{}", a + b), false).unwrap());
                t.push(2);
                ex.push(Example {
                    tokens: t,
                    prompt_len: p.len(),
                });
            }
        }
        (tok, ex)
    }

    fn model(tok: &Tok) -> Transformer {
        let cfg = ModelConfig::new(
            Family::Qwen2,
            &Sizes::preset("nano").unwrap(),
            tok.vocab_size(),
            Some(1),
            Some(2),
            Some(0),
        );
        let m = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
        m.init_weights(7);
        m
    }

    struct StopAt(usize, usize);
    impl TrainHooks for StopAt {
        fn on_step(&mut self, step: usize, _: usize, _: &[(&str, f64)]) {
            self.1 = step;
        }
        fn should_stop(&mut self) -> bool {
            self.1 >= self.0
        }
    }

    #[test]
    fn resume_reproduces_uninterrupted_run() {
        let (tok, ex) = toy();
        let cfg = SftConfig {
            steps: Some(14),
            batch_size: 16,
            grad_accum: 2,
            save_every: 4,
            lr: 3e-3,
            ..Default::default()
        };
        let a = model(&tok);
        let full = train_sft(&a, &ex, &[], 0, &cfg, None, &mut NoHooks).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let b = model(&tok);
        let e = train_sft(&b, &ex, &[], 0, &cfg, Some(dir.path()), &mut StopAt(10, 0)).unwrap_err();
        assert!(matches!(e, TrainError::Cancelled));
        // A fresh process: new model object, same seed; resumes from the step-8 checkpoint.
        let c = model(&tok);
        let resumed = train_sft(&c, &ex, &[], 0, &cfg, Some(dir.path()), &mut NoHooks).unwrap();
        assert_eq!(resumed.resumed_from, Some(8));
        assert_eq!(resumed.final_loss, full.final_loss, "bit-identical final loss");
        for ((_, x), (_, y)) in a.named_parameters().iter().zip(c.named_parameters().iter()) {
            assert!(x.equal(y));
        }
        let steps: Vec<u64> = resumed
            .log
            .rows()
            .iter()
            .map(|r| r["step"].as_u64().unwrap())
            .collect();
        assert_eq!(steps, (1..=14).collect::<Vec<_>>());
    }

    #[test]
    fn loss_decreases_with_packing_and_dft() {
        let (tok, ex) = toy();
        for (packing, loss) in [(true, LossKind::CrossEntropy), (false, LossKind::Dft)] {
            let cfg = SftConfig {
                steps: Some(30),
                batch_size: 8,
                packing,
                max_seq_len: 32,
                loss,
                lr: 3e-3,
                ..Default::default()
            };
            let m = model(&tok);
            let before = eval_loss(&m, &ex, 64, 0).unwrap();
            let out = train_sft(&m, &ex, &ex[..20], 0, &cfg, None, &mut NoHooks).unwrap();
            let after = eval_loss(&m, &ex, 64, 0).unwrap();
            assert!(after < before * 0.7, "{packing} {loss:?}: {before} → {after}");
            assert!(out.eval_loss.is_some());
        }
    }

    #[test]
    fn nan_loss_is_reported_with_its_step_and_a_hint_that_fits() {
        let (tok, ex) = toy();
        // A learning rate that blows up; with and without clipping.
        for max_grad_norm in [0.0, 1.0] {
            let cfg = SftConfig {
                steps: Some(5),
                lr: 1e30,
                max_grad_norm,
                schedule: ScheduleKind::Constant,
                warmup_ratio: 0.0,
                ..Default::default()
            };
            let m = model(&tok);
            let e = train_sft(&m, &ex, &[], 0, &cfg, None, &mut NoHooks).unwrap_err();
            let TrainError::NonFinite { step, .. } = &e else {
                panic!("unexpected {e}")
            };
            assert!((2..=5).contains(step), "{e}");
            let msg = e.to_string();
            if max_grad_norm > 0.0 {
                assert!(
                    msg.contains("gradient clipping is already on, max_grad_norm = 1")
                        && !msg.contains("enable gradient clipping"),
                    "{msg}"
                );
            } else {
                assert!(
                    msg.contains("enable gradient clipping (max_grad_norm > 0)"),
                    "{msg}"
                );
            }
        }
        // A model that is broken before training: step 1, and the learning rate is not
        // blamed.
        let m = model(&tok);
        tch::no_grad(|| {
            let _ = m.named_parameters()[0].1.shallow_clone().fill_(f64::NAN);
        });
        let cfg = SftConfig {
            steps: Some(3),
            ..Default::default()
        };
        let e = train_sft(&m, &ex, &[], 0, &cfg, None, &mut NoHooks).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, TrainError::NonFinite { step: 1, .. })
                && msg.contains("before the first update")
                && msg.contains("not the cause"),
            "{msg}"
        );
    }
}
