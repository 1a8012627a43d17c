//! The GRPO step loop: draw prompts, roll out `G` samples each ([`super::rollout`]),
//! keep the step's groups ([`super::sampling`], dynamic sampling included), compute
//! group advantages, update the policy ([`super::update`]), log metrics and rollouts,
//! checkpoint and resume.
//!
//! Invariants:
//! - prompts are drawn from a cursor over the data: the order within epoch `e` is a
//!   ChaCha shuffle seeded by (seed, e), and the cursor counts prompts drawn so far, so
//!   the prompts of any generation batch are a pure function of (seed, cursor); the
//!   cursor is saved in every checkpoint (dynamic sampling draws a varying number of
//!   prompts per step, so it is not a function of the step);
//! - rollout seeds are a pure function of (seed, step, generation batch, prompt id,
//!   sample index) ([`super::rollout::step_seed`]); with the checkpointed model and
//!   optimiser this makes a resumed run replay the uninterrupted one bit for bit;
//! - the learning rate is linear warmup then constant, a function of the RL step;
//! - the metrics log and the rollout log hold only values that are a pure function of
//!   the run; timings go to the hooks (progress, stage log) only.

use super::RlError;
use super::preset::RlConfig;
use super::rollout::{RlPrompt, Rollout};
use super::rollout_log::{RolloutLog, RolloutRow};
use super::sampling::{Group, RolloutSource, fill};
use super::update::{StepReport, UpdateConfig, Updater, group_advantages};
use crate::model::generate::{GenerateOptions, generate_with_seeds};
use crate::model::{Tok, Transformer};
use crate::train::checkpoint::{self, TrainState};
use crate::train::metrics::MetricsLog;
use crate::train::schedule::{LrSchedule, ScheduleKind};
use crate::train::{TrainError, TrainHooks};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::path::Path;
use std::time::Instant;

/// Everything an RL run needs besides the model and the data.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerConfig {
    pub rl: RlConfig,
    pub update: UpdateConfig,
    /// Sampling controls; `max_new_tokens` and `temperature` must equal the RL config's
    /// (the objective divides the logits by the sampling temperature).
    pub generate: GenerateOptions,
    /// RL steps (rollout batches).
    pub steps: usize,
    /// Groups per step (`P`).
    pub prompts_per_step: usize,
    /// Samples per prompt (`G`).
    pub group_size: usize,
    /// Prompts drawn per generation batch under dynamic sampling (0: `P`); without
    /// dynamic sampling a batch is always `P` prompts.
    pub gen_batch_prompts: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warmup steps, then constant.
    pub warmup_steps: usize,
    /// Checkpoint every this many RL steps (0: every tenth of the run).
    pub save_every: usize,
    /// Greedy accuracy on the eval prompts every this many steps (0: only at the end).
    pub eval_every: usize,
    pub seed: u64,
}

impl TrainerConfig {
    pub fn validate(&self) -> Result<(), RlError> {
        self.rl.validate()?;
        if self.steps == 0 || self.prompts_per_step == 0 {
            return Err(RlError::Invalid("steps and prompts_per_step must be ≥ 1".into()));
        }
        if self.group_size < 2 {
            return Err(RlError::Invalid(format!(
                "group_size must be ≥ 2 (a group of one has no baseline), got {}",
                self.group_size
            )));
        }
        if self.generate.max_new_tokens != self.rl.max_new_tokens {
            return Err(RlError::Invalid(format!(
                "generation limit {} differs from the RL config's max_new_tokens {}",
                self.generate.max_new_tokens, self.rl.max_new_tokens
            )));
        }
        if self.generate.temperature != self.rl.objective.temperature {
            return Err(RlError::Invalid(format!(
                "sampling temperature {} differs from the objective's {}",
                self.generate.temperature, self.rl.objective.temperature
            )));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(RlError::Invalid(format!("lr must be > 0, got {}", self.lr)));
        }
        Ok(())
    }

    /// Prompts per generation batch.
    fn batch_prompts(&self) -> usize {
        if self.rl.sampling.dynamic && self.gen_batch_prompts > 0 {
            self.gen_batch_prompts
        } else {
            self.prompts_per_step
        }
    }
}

/// The position in the data: prompt `k` of the run is `order(seed, k / n)[k % n]`.
#[derive(Debug)]
pub struct Cursor {
    seed: u64,
    n: usize,
    /// Prompts drawn so far.
    pub drawn: u64,
    epoch: Option<(u64, Vec<usize>)>,
}

impl Cursor {
    pub fn new(seed: u64, n: usize, drawn: u64) -> Self {
        Cursor {
            seed,
            n,
            drawn,
            epoch: None,
        }
    }

    /// The order of the `n` prompts in epoch `epoch`.
    pub fn order(seed: u64, epoch: u64, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        let mut rng =
            rand_chacha::ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(epoch));
        order.shuffle(&mut rng);
        order
    }

    /// The indices of the next `k` prompts.
    pub fn next(&mut self, k: usize) -> Vec<usize> {
        let n = self.n as u64;
        (0..k)
            .map(|_| {
                let (epoch, at) = (self.drawn / n, (self.drawn % n) as usize);
                if self.epoch.as_ref().is_none_or(|(e, _)| *e != epoch) {
                    self.epoch = Some((epoch, Cursor::order(self.seed, epoch, self.n)));
                }
                self.drawn += 1;
                self.epoch.as_ref().map_or(0, |(_, o)| o[at])
            })
            .collect()
    }
}

/// The generation batches of one step: the next prompts from the cursor, rolled out.
struct StepSource<'a, 'r> {
    rollout: &'a Rollout<'r>,
    prompts: &'a [RlPrompt],
    cursor: &'a mut Cursor,
    per_batch: usize,
    step: usize,
}

impl RolloutSource for StepSource<'_, '_> {
    fn generate(&mut self, index: usize) -> Result<Vec<Group>, RlError> {
        let picked: Vec<&RlPrompt> = self
            .cursor
            .next(self.per_batch)
            .into_iter()
            .map(|i| &self.prompts[i])
            .collect();
        self.rollout.groups(&picked, self.step, index)
    }
}

/// What a finished run reports.
#[derive(Debug)]
pub struct RlOutcome {
    pub steps: usize,
    /// The step a checkpoint was resumed from.
    pub resumed_from: Option<usize>,
    /// Greedy accuracy on the eval prompts at the end (when there are any).
    pub eval_acc: Option<f64>,
    pub log: MetricsLog,
    pub rollouts: RolloutLog,
}

/// A digest of everything that determines the run, for checkpoint matching.
fn fingerprint(model: &Transformer, prompts: &[RlPrompt], eval: &[RlPrompt], cfg: &TrainerConfig) -> String {
    let mut h = blake3::Hasher::new();
    h.update(format!("{cfg:?}").as_bytes());
    h.update(model.config().to_json().as_bytes());
    for p in prompts.iter().chain(eval) {
        h.update(&p.id.to_le_bytes());
        h.update(&(p.tokens.len() as u64).to_le_bytes());
        for t in &p.tokens {
            h.update(&t.to_le_bytes());
        }
        h.update(&(p.gold.len() as u64).to_le_bytes());
        h.update(p.gold.as_bytes());
    }
    h.finalize().to_hex()[..16].to_string()
}

/// Greedy accuracy of `model` on `prompts` under the run's verifier.
pub fn greedy_accuracy(
    model: &Transformer,
    tok: &Tok,
    prompts: &[RlPrompt],
    cfg: &TrainerConfig,
) -> Result<f64, RlError> {
    if prompts.is_empty() {
        return Ok(f64::NAN);
    }
    let opts = GenerateOptions {
        temperature: 0.0,
        ..cfg.generate.clone()
    };
    let rows: Vec<Vec<i64>> = prompts.iter().map(|p| p.tokens.clone()).collect();
    let gens = generate_with_seeds(model, tok, &rows, &vec![0; rows.len()], &opts)?;
    let correct: f64 = gens
        .iter()
        .zip(prompts)
        .map(|(g, p)| cfg.rl.reward.score(&g.text, &p.gold, g.tokens.len()).acc)
        .sum();
    Ok(correct / prompts.len() as f64)
}

/// The logged values of a step's optimiser reports: their means.
fn update_metrics(reports: &[StepReport]) -> Vec<(&'static str, f64)> {
    if reports.is_empty() {
        return Vec::new();
    }
    let n = reports.len() as f64;
    let mean = |f: &dyn Fn(&StepReport) -> f64| reports.iter().map(f).sum::<f64>() / n;
    let mut m = vec![
        ("loss", mean(&|r| r.values.loss)),
        ("pg_loss", mean(&|r| r.values.pg_loss)),
        ("kl_loss", mean(&|r| r.values.kl_loss)),
        ("pg_clipfrac", mean(&|r| r.values.clip_frac())),
        ("clip_low_frac", mean(&|r| r.values.clip_low_frac)),
        ("clip_high_frac", mean(&|r| r.values.clip_high_frac)),
        ("pg_clipfrac_lower", mean(&|r| r.values.clip_dual_frac)),
        ("ppo_kl", mean(&|r| r.values.ppo_kl)),
        ("grad_norm", mean(&|r| r.grad_norm)),
        ("opt_steps", n),
    ];
    if reports.iter().all(|r| r.values.entropy.is_some()) {
        m.push(("entropy", mean(&|r| r.values.entropy.unwrap_or(f64::NAN))));
    }
    m
}

/// The logged values of a step's rollouts.
fn rollout_metrics(groups: &[Group], advantages: &[f64]) -> Vec<(&'static str, f64)> {
    let samples: Vec<_> = groups.iter().flat_map(|g| &g.samples).collect();
    let n = samples.len().max(1) as f64;
    let lens: Vec<f64> = samples.iter().map(|s| s.tokens.len() as f64).collect();
    let truncated = samples
        .iter()
        .filter(|s| s.finish == crate::model::generate::Finish::Length)
        .count();
    let group_pass = groups
        .iter()
        .filter(|g| g.samples.iter().any(|s| s.score.acc > 0.0))
        .count();
    vec![
        (
            "reward_mean",
            samples.iter().map(|s| s.score.reward).sum::<f64>() / n,
        ),
        ("acc", samples.iter().map(|s| s.score.acc).sum::<f64>() / n),
        (
            "acc_pass_at_group",
            group_pass as f64 / groups.len().max(1) as f64,
        ),
        (
            "adv_abs_mean",
            advantages.iter().map(|a| a.abs()).sum::<f64>() / n,
        ),
        ("response_len_mean", lens.iter().sum::<f64>() / n),
        ("response_len_max", lens.iter().copied().fold(0.0, f64::max)),
        ("truncated_frac", truncated as f64 / n),
    ]
}

/// Trains `model` with GRPO on `prompts` in place (`reference`: the frozen model of a
/// KL term). With `work_dir`, checkpoints are written there and a matching checkpoint
/// found there is resumed; metrics and rollouts are appended to `metrics.jsonl` and
/// `rollouts.jsonl` there.
#[allow(clippy::too_many_arguments)]
pub fn train_rl(
    model: &Transformer,
    reference: Option<&Transformer>,
    tok: &Tok,
    prompts: &[RlPrompt],
    eval: &[RlPrompt],
    cfg: &TrainerConfig,
    work_dir: Option<&Path>,
    hooks: &mut dyn TrainHooks,
) -> Result<RlOutcome, RlError> {
    cfg.validate()?;
    if prompts.is_empty() {
        return Err(RlError::Invalid("no training prompts".into()));
    }
    let total = cfg.steps;
    let sched = LrSchedule {
        peak: cfg.lr,
        warmup: cfg.warmup_steps,
        total,
        kind: ScheduleKind::Constant,
        min_ratio: 1.0,
    };
    let save_every = if cfg.save_every > 0 {
        cfg.save_every
    } else {
        total.div_ceil(10).max(1)
    };
    let fp = fingerprint(model, prompts, eval, cfg);
    let mut updater = Updater::new(model, reference, &cfg.rl, cfg.update.clone(), tok.pad_id())?;
    let mut state = TrainState {
        step: 0,
        tokens: 0,
        fingerprint: fp.clone(),
        cursor: Some(0),
    };
    let mut resumed_from = None;
    if let Some(dir) = work_dir
        && let Some((ck, st)) = checkpoint::latest(dir, &fp)
    {
        checkpoint::restore(&ck, model, updater.optimizer_mut())?;
        hooks.message(&format!(
            "resuming from the checkpoint at step {}/{total}",
            st.step
        ));
        resumed_from = Some(st.step);
        state = st;
    }
    let (mut log, mut rollouts) = match work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
            (
                MetricsLog::open(&dir.join("metrics.jsonl"), Some(state.step))?,
                RolloutLog::open(&dir.join("rollouts.jsonl"), state.step)?,
            )
        }
        None => (MetricsLog::in_memory(), RolloutLog::in_memory()),
    };
    let mut cursor = Cursor::new(cfg.seed, prompts.len(), state.cursor.unwrap_or(0));
    let rollout = Rollout {
        model,
        tok,
        opts: &cfg.generate,
        reward: &cfg.rl.reward,
        group_size: cfg.group_size,
        seed: cfg.seed,
    };
    while state.step < total {
        if hooks.should_stop() {
            return Err(TrainError::Cancelled.into());
        }
        let step = state.step + 1;
        let t0 = Instant::now();
        let filled = {
            let mut source = StepSource {
                rollout: &rollout,
                prompts,
                cursor: &mut cursor,
                per_batch: cfg.batch_prompts(),
                step: state.step,
            };
            fill(&mut source, cfg.prompts_per_step, &cfg.rl.sampling, step)?
        };
        let gen_s = t0.elapsed().as_secs_f64();
        let adv = group_advantages(&filled.groups, &cfg.rl.advantage);
        let lr = sched.lr(state.step);
        let t1 = Instant::now();
        let reports = updater.update(&filled.groups, &adv.values, lr)?;
        let update_s = t1.elapsed().as_secs_f64();

        let mut metrics = rollout_metrics(&filled.groups, &adv.values);
        metrics.extend([
            ("groups_zero_std_frac", filled.equal_frac()),
            ("kept_groups_frac", filled.kept_frac()),
            ("gen_batches", filled.gen_batches as f64),
            ("lr", lr),
        ]);
        metrics.extend(update_metrics(&reports));
        if !eval.is_empty() && cfg.eval_every > 0 && step.is_multiple_of(cfg.eval_every) && step < total {
            let acc = greedy_accuracy(model, tok, eval, cfg)?;
            hooks.message(&format!("step {step}: eval_acc {acc:.4}"));
            metrics.push(("eval_acc", acc));
        }
        log.log(step, &metrics)?;
        rollouts.append(RolloutRow::of_step(step, &filled.groups, &adv.values))?;
        state.step = step;
        state.cursor = Some(cursor.drawn);
        state.tokens += filled
            .groups
            .iter()
            .flat_map(|g| &g.samples)
            .map(|s| s.tokens.len() as u64)
            .sum::<u64>();
        metrics.extend([("gen_s", gen_s), ("update_s", update_s)]);
        hooks.on_step(step, total, &metrics);
        if let Some(dir) = work_dir
            && step.is_multiple_of(save_every)
            && step < total
        {
            checkpoint::save(dir, model, updater.optimizer(), &state)?;
        }
    }
    let eval_acc = if eval.is_empty() {
        None
    } else {
        let acc = greedy_accuracy(model, tok, eval, cfg)?;
        log.log(total, &[("eval_acc", acc)])?;
        Some(acc)
    };
    Ok(RlOutcome {
        steps: total,
        resumed_from,
        eval_acc,
        log,
        rollouts,
    })
}

#[cfg(test)]
#[path = "trainer_tests.rs"]
mod tests;
