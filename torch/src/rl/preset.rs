//! The settings of an RL run in one struct, and the named bundles `grpo`, `dapo` and
//! `dr_grpo` that fill it.
//!
//! | setting | `grpo` (verl's defaults) | `dapo` | `dr_grpo` |
//! |---|---|---|---|
//! | reward values (correct / incorrect) | 1 / 0 | 1 / −1 (`math_dapo`) | 1 / 0 |
//! | judged tail | 300 characters | 300 | 300 |
//! | overlong shaping | off | buffer `max_new_tokens / 5` (the script's 4096 of 20480), factor 1 | off |
//! | advantage | group std, ε 1e-6 | group std, ε 1e-6 | mean only |
//! | ε_low / ε_high | 0.2 / 0.2 | 0.2 / 0.28 (clip-higher) | 0.2 / 0.2 |
//! | dual clip `c` | 3 | 10 (the DAPO script) | 3 |
//! | loss aggregation | token mean | token mean | `dr_grpo` (`1/(S·L_max)`) |
//! | KL (β, estimator) / entropy bonus | 0, k3 / 0 | 0, k3 / 0 | 0, k3 / 0 |
//! | dynamic sampling | off | on, filter `acc`, ≤ 10 generation batches | off |
//! | truncated responses masked | no | no | no |
//! | temperature | 1 | 1 | 1 |
//!
//! Invariants: a preset only chooses values; the caller may change any field afterwards
//! (explicit parameters win over the preset) and [`RlConfig::validate`] checks the
//! result as a whole. With `max_new_tokens < 5` the `dapo` buffer would be 0 tokens, so
//! overlong shaping stays off there.

use super::RlError;
use super::advantage::{AdvantageConfig, AdvantageNorm};
use super::aggregate::LossAgg;
use super::objective::ObjectiveConfig;
use super::reward::{Overlong, RewardConfig, RewardValues};
use super::sampling::SamplingConfig;
use sieve::eval::Metric;

/// A named bundle of settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Grpo,
    Dapo,
    DrGrpo,
}

/// Names accepted by [`Preset::parse`].
pub const PRESETS: &[&str] = &["grpo", "dapo", "dr_grpo"];

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Grpo => "grpo",
            Preset::Dapo => "dapo",
            Preset::DrGrpo => "dr_grpo",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "grpo" => Preset::Grpo,
            "dapo" => Preset::Dapo,
            "dr_grpo" => Preset::DrGrpo,
            _ => return None,
        })
    }
}

/// Characters of a response the verifier reads (`math_dapo.compute_score`'s
/// `solution_str[-300:]`).
pub const TAIL_CHARS: usize = 300;

/// Every setting of the rewards, advantages, objective, aggregation and sampling.
#[derive(Debug, Clone, PartialEq)]
pub struct RlConfig {
    pub reward: RewardConfig,
    pub advantage: AdvantageConfig,
    pub objective: ObjectiveConfig,
    pub loss_agg: LossAgg,
    pub sampling: SamplingConfig,
    /// The generation limit (`L_max` of overlong shaping and of `dr_grpo`).
    pub max_new_tokens: usize,
}

impl RlConfig {
    /// The bundle `preset` for answers judged by `metric` and responses of at most
    /// `max_new_tokens` tokens.
    pub fn preset(preset: Preset, metric: Metric, max_new_tokens: usize) -> RlConfig {
        let mut cfg = RlConfig {
            reward: RewardConfig {
                tail_chars: TAIL_CHARS,
                ..RewardConfig::accuracy(metric)
            },
            advantage: AdvantageConfig::default(),
            objective: ObjectiveConfig::default(),
            loss_agg: LossAgg::TokenMean,
            sampling: SamplingConfig::default(),
            max_new_tokens,
        };
        match preset {
            Preset::Grpo => {}
            Preset::Dapo => {
                cfg.reward.values = RewardValues::PLUS_MINUS_ONE;
                cfg.reward.overlong = Overlong::new(max_new_tokens, max_new_tokens / 5, 1.0).ok();
                cfg.objective.clip_high = 0.28;
                cfg.objective.dual_clip = Some(10.0);
                cfg.sampling.dynamic = true;
            }
            Preset::DrGrpo => {
                cfg.advantage.norm = AdvantageNorm::MeanOnly;
                cfg.loss_agg = LossAgg::DrGrpo;
            }
        }
        cfg
    }

    /// Checks every part and how they fit together.
    pub fn validate(&self) -> Result<(), RlError> {
        self.advantage.validate()?;
        self.objective.validate()?;
        self.sampling.validate()?;
        if self.max_new_tokens == 0 {
            return Err(RlError::Invalid("max_new_tokens must be ≥ 1".into()));
        }
        if let Some(o) = &self.reward.overlong {
            if o.max_tokens != self.max_new_tokens {
                return Err(RlError::Invalid(format!(
                    "overlong shaping was set up for {} new tokens, the run generates up to {}",
                    o.max_tokens, self.max_new_tokens
                )));
            }
            // Re-checked: the fields are public.
            Overlong::new(o.max_tokens, o.buffer, o.factor)?;
        }
        if let Some(f) = &self.reward.format
            && !f.weight.is_finite()
        {
            return Err(RlError::Invalid(format!(
                "format_weight must be finite, got {}",
                f.weight
            )));
        }
        let v = self.reward.values;
        if !(v.correct.is_finite() && v.incorrect.is_finite()) {
            return Err(RlError::Invalid(format!(
                "reward_values must be finite, got [{}, {}]",
                v.correct, v.incorrect
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rl::objective::KlKind;
    use crate::rl::sampling::FilterMetric;

    /// verl's defaults, spelled out: the `grpo` preset and the base of the others.
    fn grpo(metric: Metric, max_new_tokens: usize) -> RlConfig {
        RlConfig {
            reward: RewardConfig {
                metric,
                tail_chars: 300,
                values: RewardValues {
                    correct: 1.0,
                    incorrect: 0.0,
                },
                format: None,
                overlong: None,
            },
            advantage: AdvantageConfig {
                norm: AdvantageNorm::Group,
                eps: 1e-6,
            },
            objective: ObjectiveConfig {
                clip_low: 0.2,
                clip_high: 0.2,
                dual_clip: Some(3.0),
                kl_coef: 0.0,
                kl_kind: KlKind::K3,
                entropy_coef: 0.0,
                temperature: 1.0,
            },
            loss_agg: LossAgg::TokenMean,
            sampling: SamplingConfig {
                dynamic: false,
                max_gen_batches: 10,
                filter_metric: FilterMetric::Acc,
                mask_truncated: false,
            },
            max_new_tokens,
        }
    }

    #[test]
    fn each_preset_is_pinned() {
        let m = Metric::Boxed;
        assert_eq!(RlConfig::preset(Preset::Grpo, m, 512), grpo(m, 512));

        let mut dapo = grpo(m, 512);
        dapo.reward.values = RewardValues {
            correct: 1.0,
            incorrect: -1.0,
        };
        dapo.reward.overlong = Some(Overlong {
            max_tokens: 512,
            buffer: 102,
            factor: 1.0,
        });
        dapo.objective.clip_high = 0.28;
        dapo.objective.dual_clip = Some(10.0);
        dapo.sampling.dynamic = true;
        assert_eq!(RlConfig::preset(Preset::Dapo, m, 512), dapo);
        // The DAPO script's own geometry: 4096 of 20480 tokens.
        let big = RlConfig::preset(Preset::Dapo, m, 20480);
        assert_eq!(big.reward.overlong.map(|o| o.buffer), Some(4096));

        let mut dr = grpo(m, 512);
        dr.advantage.norm = AdvantageNorm::MeanOnly;
        dr.loss_agg = LossAgg::DrGrpo;
        assert_eq!(RlConfig::preset(Preset::DrGrpo, m, 512), dr);

        for p in [Preset::Grpo, Preset::Dapo, Preset::DrGrpo] {
            RlConfig::preset(p, m, 512).validate().unwrap();
        }
    }

    #[test]
    fn a_limit_too_short_for_a_buffer_leaves_shaping_off() {
        let c = RlConfig::preset(Preset::Dapo, Metric::ExactMatch, 4);
        assert_eq!(c.reward.overlong, None);
        c.validate().unwrap();
        let c = RlConfig::preset(Preset::Dapo, Metric::ExactMatch, 5);
        assert_eq!(c.reward.overlong.map(|o| o.buffer), Some(1));
    }

    #[test]
    fn the_whole_is_checked() {
        let mut c = RlConfig::preset(Preset::Dapo, Metric::ExactMatch, 512);
        c.max_new_tokens = 256;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("set up for 512 new tokens, the run generates up to 256"),
            "{e}"
        );
        let mut c = RlConfig::preset(Preset::Grpo, Metric::ExactMatch, 512);
        c.objective.clip_low = 0.0;
        assert!(c.validate().unwrap_err().to_string().contains("clip_low"));
        let mut c = RlConfig::preset(Preset::Grpo, Metric::ExactMatch, 512);
        c.sampling.max_gen_batches = 0;
        assert!(c.validate().unwrap_err().to_string().contains("max_gen_batches"));
        let mut c = RlConfig::preset(Preset::Grpo, Metric::ExactMatch, 512);
        c.reward.values.incorrect = f64::NAN;
        assert!(c.validate().unwrap_err().to_string().contains("reward_values"));
        for name in PRESETS {
            assert_eq!(Preset::parse(name).unwrap().name(), *name);
        }
    }
}
