//! The per-token policy objective of GRPO / DAPO / Dr.GRPO and its gradient on the
//! chunked LM head.
//!
//! Per response token `t` with log-probability `ℓ` (of the logits divided by the
//! sampling temperature), old-policy log-probability `o`, reference log-probability
//! `r`, entropy `H`, advantage `Â` and aggregation weight `w` ([`super::aggregate`]):
//!
//! ```text
//! ρ   = exp(clamp(ℓ − o, −20, 20))
//! pg  = max(−Â ρ, −Â clip(ρ, 1 − ε_low, 1 + ε_high));  if Â < 0: pg = min(pg, −Â c)   (dual clip)
//! kl  = k1: ℓ − r  |  k2: ½ (ℓ − r)²  |  k3: clamp(e^δ − δ − 1, −10, 10), δ = clamp(r − ℓ, −20, 20)
//!       k3+: k3's value with k2's gradient (straight-through)
//! L   = Σ_t w_t · (pg_t + β kl_t − β_H H_t)
//! ```
//!
//! as verl's `compute_policy_loss_vanilla`, `kl_penalty` and `entropy_coeff`. Every term
//! depends on the logits only through `ℓ` and `H`, so the objective is handed to the
//! chunked head ([`crate::train::loss::TokenObjective`]) as `c_t = −∂L/∂ℓ_t` and
//! `e_t = −∂L/∂H_t = w_t β_H`; in closed form
//!
//! | term | `c_t / w_t` | where the gradient is not 0 |
//! |---|---|---|
//! | surrogate, `Â ≥ 0` | `Â ρ` | `ρ ≤ 1 + ε_high` |
//! | surrogate, `Â < 0` | `Â ρ` | `1 − ε_low ≤ ρ ≤ c` (no upper bound without dual clip) |
//! | k1 / k2 / k3 / k3+ | `−β` / `−β (ℓ − r)` / `β (e^δ − 1)` / `−β (ℓ − r)` | k3: inside both clamps |
//!
//! and the surrogate's gradient is also 0 where `|ℓ − o| > 20` (the ratio clamp).
//!
//! Invariants: values and coefficients are computed in f32 on the device from the
//! chunk's own `ℓ`; everything reported ([`RlValues`]) is accumulated there and read
//! once per step; clip fractions follow TRL's split of verl's `pg_clipfrac` (low: `Â < 0`
//! and `ρ < 1 − ε_low`; high: `Â > 0` and `ρ > 1 + ε_high`; dual: `Â < 0` and the dual
//! clip binds), all as fractions of the response tokens.

use super::RlError;
use crate::model::Transformer;
use crate::model::logprobs::SeqBatch;
use crate::train::loss::{Coefficients, TokenObjective, backward_objective};
use tch::{Device, Kind, Tensor};

/// The KL estimator against the reference policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KlKind {
    /// `ℓ − r` (verl `kl`).
    K1,
    /// `½ (ℓ − r)²` (verl `mse`).
    K2,
    /// `e^δ − δ − 1` with `δ = r − ℓ`, clamped (verl `low_var_kl`, TRL's `β` term).
    K3,
    /// k3's value with k2's gradient (verl `k3+`).
    K3Plus,
}

/// Names accepted by [`KlKind::parse`].
pub const KL_KINDS: &[&str] = &["k1", "k2", "k3", "k3+"];

impl KlKind {
    pub fn name(self) -> &'static str {
        match self {
            KlKind::K1 => "k1",
            KlKind::K2 => "k2",
            KlKind::K3 => "k3",
            KlKind::K3Plus => "k3+",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "k1" => KlKind::K1,
            "k2" => KlKind::K2,
            "k3" => KlKind::K3,
            "k3+" => KlKind::K3Plus,
            _ => return None,
        })
    }
}

/// The objective's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectiveConfig {
    /// `ε_low`: ratios below `1 − ε_low` stop pushing a negative advantage down.
    pub clip_low: f64,
    /// `ε_high`: ratios above `1 + ε_high` stop pushing a positive advantage up.
    pub clip_high: f64,
    /// `c`: the loss of a negative-advantage token is capped at `−Â c` (None: no cap).
    pub dual_clip: Option<f64>,
    /// `β`; 0 turns the KL term (and the need for reference log-probs) off.
    pub kl_coef: f64,
    pub kl_kind: KlKind,
    /// `β_H`: the entropy bonus (0: off).
    pub entropy_coef: f64,
    /// The sampling temperature; the training forward divides the logits by it too.
    pub temperature: f64,
}

impl Default for ObjectiveConfig {
    /// verl's actor defaults.
    fn default() -> Self {
        ObjectiveConfig {
            clip_low: 0.2,
            clip_high: 0.2,
            dual_clip: Some(3.0),
            kl_coef: 0.0,
            kl_kind: KlKind::K3,
            entropy_coef: 0.0,
            temperature: 1.0,
        }
    }
}

impl ObjectiveConfig {
    /// Checks the ranges verl asserts (and the ones that make the maths defined).
    pub fn validate(&self) -> Result<(), RlError> {
        let bad = |m: String| Err(RlError::Invalid(m));
        if !(self.clip_low > 0.0 && self.clip_low < 1.0) {
            return bad(format!("clip_low must be in (0, 1), got {}", self.clip_low));
        }
        if !(self.clip_high > 0.0 && self.clip_high.is_finite()) {
            return bad(format!(
                "clip_high must be a finite number > 0, got {}",
                self.clip_high
            ));
        }
        if let Some(c) = self.dual_clip
            && !(c > 1.0 && c.is_finite())
        {
            return bad(format!("dual_clip must be a finite number > 1 (or off), got {c}"));
        }
        if !(self.kl_coef >= 0.0 && self.kl_coef.is_finite()) {
            return bad(format!(
                "kl_coef must be a finite number ≥ 0, got {}",
                self.kl_coef
            ));
        }
        if !self.entropy_coef.is_finite() {
            return bad(format!("entropy_coef must be finite, got {}", self.entropy_coef));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return bad(format!(
                "temperature must be a finite number > 0, got {}",
                self.temperature
            ));
        }
        Ok(())
    }
}

/// The clipped surrogate, per token (`[n]` f32).
#[derive(Debug)]
pub struct PolicyTokens {
    /// `pg_t`.
    pub loss: Tensor,
    /// `−∂pg_t/∂ℓ_t`.
    pub c: Tensor,
    /// 1 where `Â < 0` and `ρ < 1 − ε_low`.
    pub clipped_low: Tensor,
    /// 1 where `Â > 0` and `ρ > 1 + ε_high`.
    pub clipped_high: Tensor,
    /// 1 where the dual clip binds.
    pub clipped_dual: Tensor,
    /// `o − ℓ` after the ±20 clamp (verl's `ppo_kl` per token).
    pub approx_kl: Tensor,
}

/// The clipped surrogate of tokens with log-probs `logp`, old log-probs `old` and
/// advantages `adv` (all `[n]` f32).
pub fn policy_tokens(cfg: &ObjectiveConfig, logp: &Tensor, old: &Tensor, adv: &Tensor) -> PolicyTokens {
    let diff = logp - old;
    let log_ratio = diff.clamp(-20.0, 20.0);
    let in_range = diff.abs().le(20.0);
    let ratio = log_ratio.exp();
    let (lo, hi) = (1.0 - cfg.clip_low, 1.0 + cfg.clip_high);
    let pg1 = -adv * &ratio;
    let pg2 = -adv * ratio.clamp(lo, hi);
    let clipped = pg1.maximum(&pg2);
    let negative = adv.lt(0.0);
    let positive = adv.gt(0.0);
    let below = ratio.lt(lo);
    let above = ratio.gt(hi);
    // Where −Â ρ is the active branch (before the dual clip).
    let mut active =
        (adv.ge(0.0).logical_and(&ratio.le(hi))).logical_or(&negative.logical_and(&ratio.ge(lo)));
    let (loss, dual) = match cfg.dual_clip {
        Some(c) => {
            let cap = -adv * c;
            let binds = negative.logical_and(&clipped.gt_tensor(&cap));
            active = active.logical_and(&binds.logical_not());
            (clipped.where_self(&binds.logical_not(), &cap), binds)
        }
        None => (clipped, negative.zeros_like()),
    };
    let active = active.logical_and(&in_range).to_kind(Kind::Float);
    PolicyTokens {
        loss,
        c: adv * ratio * active,
        clipped_low: negative.logical_and(&below).to_kind(Kind::Float),
        clipped_high: positive.logical_and(&above).to_kind(Kind::Float),
        clipped_dual: dual.to_kind(Kind::Float),
        approx_kl: -log_ratio,
    }
}

/// A KL estimate per token and its derivative with respect to `ℓ` (`[n]` f32).
#[derive(Debug)]
pub struct KlTokens {
    pub value: Tensor,
    /// `∂value/∂ℓ` (the straight-through k2 gradient for k3+).
    pub grad: Tensor,
}

/// The KL estimate of `kind` between the policy (`logp`) and the reference (`ref_logp`).
pub fn kl_tokens(kind: KlKind, logp: &Tensor, ref_logp: &Tensor) -> KlTokens {
    let d = logp - ref_logp;
    let k3 = || {
        let raw_delta = ref_logp - logp;
        let delta = raw_delta.clamp(-20.0, 20.0);
        let e = delta.exp();
        let raw = &e - &delta - 1.0;
        let value = raw.clamp(-10.0, 10.0);
        let inside = raw_delta.abs().le(20.0).logical_and(&raw.abs().le(10.0));
        (value, (1.0 - e) * inside.to_kind(Kind::Float))
    };
    match kind {
        KlKind::K1 => KlTokens {
            grad: d.ones_like(),
            value: d,
        },
        KlKind::K2 => KlTokens {
            value: d.square() * 0.5,
            grad: d,
        },
        KlKind::K3 => {
            let (value, grad) = k3();
            KlTokens { value, grad }
        }
        KlKind::K3Plus => KlTokens {
            value: k3().0,
            grad: d,
        },
    }
}

/// What one sequence of a micro-batch brings to the objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SequenceInputs {
    /// Its response targets in the batch ([`crate::model::logprobs::Example::n_targets`]).
    pub targets: usize,
    pub advantage: f64,
    /// The aggregation weight of each of its tokens.
    pub weight: f64,
}

/// The per-target inputs of one micro-batch, `[n_targets]` f32 in the batch's target
/// order.
#[derive(Debug)]
pub struct RlTokens {
    pub adv: Tensor,
    pub weight: Tensor,
    /// Old-policy log-probs; None: on-policy (`o = sg(ℓ)`, ratio 1), verl's shortcut when
    /// a rollout batch feeds one optimiser step.
    pub old_logp: Option<Tensor>,
    /// Reference log-probs (needed when `kl_coef > 0`).
    pub ref_logp: Option<Tensor>,
}

impl RlTokens {
    /// Advantages and weights of `seqs` (in the batch's example order) broadcast to
    /// their tokens; no old or reference log-probs yet.
    pub fn new(seqs: &[SequenceInputs], device: Device) -> RlTokens {
        let spread = |f: fn(&SequenceInputs) -> f64| -> Tensor {
            let v: Vec<f32> = seqs
                .iter()
                .flat_map(|s| std::iter::repeat_n(f(s) as f32, s.targets))
                .collect();
            Tensor::from_slice(&v).to_device(device)
        };
        RlTokens {
            adv: spread(|s| s.advantage),
            weight: spread(|s| s.weight),
            old_logp: None,
            ref_logp: None,
        }
    }

    fn len(&self) -> i64 {
        self.adv.size()[0]
    }
}

/// The loss terms and statistics of one or more micro-batches, summed on the device.
#[derive(Debug)]
pub struct RlTerms {
    /// `[SUMS]` f32: `Σ w·L`, `Σ w·pg`, `Σ w·kl`, `Σ w·H`, tokens, low / high / dual
    /// clipped tokens, `Σ (o − ℓ)`, `Σ H`, `Σ ℓ`.
    sums: Tensor,
    /// Whether the entropies were computed (else their sums are 0, not measured).
    entropy: bool,
}

/// Number of sums [`RlTerms`] carries.
const SUMS: usize = 11;

impl RlTerms {
    /// Adds another micro-batch's terms (the aggregation weights already make the sum
    /// the mini-batch's objective).
    pub fn add(&mut self, other: &RlTerms) {
        self.sums += &other.sums;
        self.entropy &= other.entropy;
    }

    /// Copies the terms to the host (waits for the device).
    pub fn read(&self) -> Result<RlValues, RlError> {
        let v: Vec<f32> = Vec::try_from(self.sums.to_device(Device::Cpu))
            .map_err(|e| RlError::Invalid(format!("reading the RL loss terms: {e}")))?;
        let v: Vec<f64> = v.into_iter().map(f64::from).collect();
        let tokens = v[4];
        let mean = |x: f64| if tokens > 0.0 { x / tokens } else { f64::NAN };
        let measured = self.entropy;
        Ok(RlValues {
            loss: v[0],
            pg_loss: v[1],
            kl_loss: v[2],
            entropy_loss: measured.then_some(v[3]),
            tokens: tokens as usize,
            clip_low_frac: mean(v[5]),
            clip_high_frac: mean(v[6]),
            clip_dual_frac: mean(v[7]),
            ppo_kl: mean(v[8]),
            entropy: measured.then(|| mean(v[9])),
            logp: mean(v[10]),
        })
    }
}

/// The host values of [`RlTerms`]: aggregated losses (weighted by `w`) and token means.
#[derive(Debug, Clone, PartialEq)]
pub struct RlValues {
    /// `Σ w (pg + β kl − β_H H)`: the objective.
    pub loss: f64,
    /// `Σ w pg`.
    pub pg_loss: f64,
    /// `Σ w kl` (before `β`; 0 without a KL term).
    pub kl_loss: f64,
    /// `Σ w H` (before `β_H`), when entropies were computed.
    pub entropy_loss: Option<f64>,
    /// Response tokens.
    pub tokens: usize,
    pub clip_low_frac: f64,
    pub clip_high_frac: f64,
    pub clip_dual_frac: f64,
    /// Token mean of `o − ℓ`.
    pub ppo_kl: f64,
    /// Token mean of `H`, when entropies were computed.
    pub entropy: Option<f64>,
    /// Token mean of `ℓ`.
    pub logp: f64,
}

impl RlValues {
    /// verl's `pg_clipfrac`: tokens clipped on either side.
    pub fn clip_frac(&self) -> f64 {
        self.clip_low_frac + self.clip_high_frac
    }
}

/// The RL objective of one micro-batch as the head's [`TokenObjective`].
struct RlObjective<'a> {
    cfg: &'a ObjectiveConfig,
    tokens: &'a RlTokens,
    entropy: bool,
    sums: Tensor,
}

impl TokenObjective for RlObjective<'_> {
    fn temperature(&self) -> f64 {
        self.cfg.temperature
    }

    fn needs_entropy(&self) -> bool {
        self.entropy
    }

    fn coefficients(&mut self, start: i64, logp: &Tensor, entropy: Option<&Tensor>) -> Coefficients {
        let len = logp.size()[0];
        let part = |t: &Tensor| t.narrow(0, start, len);
        let adv = part(&self.tokens.adv);
        let w = part(&self.tokens.weight);
        let old = self
            .tokens
            .old_logp
            .as_ref()
            .map_or_else(|| logp.shallow_clone(), part);
        let pg = policy_tokens(self.cfg, logp, &old, &adv);
        // Copies (of `[len]` vectors): the in-place updates below must not change `pg`.
        let mut c = pg.c.copy();
        let mut loss = pg.loss.copy();
        let zero = || Tensor::zeros([], (Kind::Float, logp.device()));
        let mut kl_sum = zero();
        if self.cfg.kl_coef != 0.0 {
            let r = part(self.tokens.ref_logp.as_ref().expect("checked by backward_rl"));
            let kl = kl_tokens(self.cfg.kl_kind, logp, &r);
            c -= kl.grad * self.cfg.kl_coef;
            loss += &kl.value * self.cfg.kl_coef;
            kl_sum = (&w * &kl.value).sum(Kind::Float);
        }
        let (mut h_weighted, mut h_sum) = (zero(), zero());
        if let Some(h) = entropy {
            if self.cfg.entropy_coef != 0.0 {
                loss -= h * self.cfg.entropy_coef;
            }
            h_weighted = (&w * h).sum(Kind::Float);
            h_sum = h.sum(Kind::Float);
        }
        let sums = Tensor::stack(
            &[
                (&w * &loss).sum(Kind::Float),
                (&w * &pg.loss).sum(Kind::Float),
                kl_sum,
                h_weighted,
                Tensor::full([], len as f64, (Kind::Float, logp.device())),
                pg.clipped_low.sum(Kind::Float),
                pg.clipped_high.sum(Kind::Float),
                pg.clipped_dual.sum(Kind::Float),
                pg.approx_kl.sum(Kind::Float),
                h_sum,
                logp.sum(Kind::Float),
            ],
            0,
        );
        self.sums += sums;
        Coefficients::PerToken {
            c: &w * c,
            entropy: (self.cfg.entropy_coef != 0.0).then(|| &w * self.cfg.entropy_coef),
        }
    }
}

/// Runs the model on `batch`, back-propagates the RL objective of `tokens` into the
/// parameters' gradients (accumulating) and returns its terms; `measure_entropy` also
/// computes the entropies when the objective has no entropy bonus (for the metrics).
/// `rows` overrides the head's chunk length (tests).
pub fn backward_rl(
    model: &Transformer,
    batch: &SeqBatch,
    tokens: &RlTokens,
    cfg: &ObjectiveConfig,
    measure_entropy: bool,
    rows: Option<i64>,
) -> Result<RlTerms, RlError> {
    let n = batch.n_targets as i64;
    let sizes = [
        Some(&tokens.adv),
        Some(&tokens.weight),
        tokens.old_logp.as_ref(),
        tokens.ref_logp.as_ref(),
    ];
    if sizes.iter().flatten().any(|t| t.size() != [n]) || tokens.len() != n {
        return Err(RlError::Invalid(format!(
            "the RL inputs do not match the micro-batch: it has {n} response targets, the inputs {:?}",
            sizes.iter().flatten().map(|t| t.size()).collect::<Vec<_>>()
        )));
    }
    if cfg.kl_coef != 0.0 && tokens.ref_logp.is_none() {
        return Err(RlError::Invalid(
            "kl_coef > 0 needs the reference model's log-probs".into(),
        ));
    }
    let mut objective = RlObjective {
        cfg,
        tokens,
        entropy: measure_entropy || cfg.entropy_coef != 0.0,
        sums: Tensor::zeros([SUMS as i64], (Kind::Float, model.device())),
    };
    backward_objective(model, batch, &mut objective, rows);
    Ok(RlTerms {
        sums: objective.sums,
        entropy: objective.entropy,
    })
}

#[cfg(test)]
#[path = "objective_tests.rs"]
mod tests;
