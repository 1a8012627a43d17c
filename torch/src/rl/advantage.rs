//! Group-relative advantages of outcome rewards: each trajectory's reward compared with
//! the other samples of its prompt.
//!
//! With `r_i` in group `g` (mean `m_g`, unbiased standard deviation `s_g`):
//!
//! | norm | `Â_i` | reference |
//! |---|---|---|
//! | [`AdvantageNorm::Group`] | `(r_i − m_g) / (s_g + ε)` | GRPO; verl `compute_grpo_outcome_advantage` (`norm_adv_by_std_in_grpo`, ε = 1e-6) |
//! | [`AdvantageNorm::MeanOnly`] | `r_i − m_g` | Dr.GRPO; verl with `norm_adv_by_std_in_grpo = False` |
//! | [`AdvantageNorm::Batch`] | `(r_i − m_g) / (s + ε)`, `s` over every reward of the batch | TRL `scale_rewards = "batch"` |
//!
//! Invariants:
//! - the standard deviations are unbiased (Bessel-corrected), as `torch.std` in verl
//!   and TRL;
//! - a group whose rewards are all equal has advantage exactly 0 for every member
//!   (verl's `0 / (0 + ε)`; made exact here so that rewards like 0.1 whose mean
//!   differs from them by a rounding error do not turn into ±1e-11 / ε noise);
//! - a group of one has baseline 0 and scale 1 (verl's `id2mean = 0, id2std = 1`), so
//!   its advantage is its reward (over `1 + ε` under `Group`); a batch of fewer than
//!   two rewards has scale 1 under `Batch` for the same reason;
//! - groups are formed by id, in any order of the trajectories; sums run in trajectory
//!   order, so the values are a pure function of the inputs.

use super::RlError;
use std::collections::HashMap;

/// How rewards are turned into advantages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdvantageNorm {
    /// Centred on the group mean and divided by the group's standard deviation.
    Group,
    /// Centred on the group mean only.
    MeanOnly,
    /// Centred on the group mean and divided by the whole batch's standard deviation.
    Batch,
}

/// Names accepted by [`AdvantageNorm::parse`].
pub const ADVANTAGE_NORMS: &[&str] = &["group", "none", "batch"];

impl AdvantageNorm {
    pub fn name(self) -> &'static str {
        match self {
            AdvantageNorm::Group => "group",
            AdvantageNorm::MeanOnly => "none",
            AdvantageNorm::Batch => "batch",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "group" => AdvantageNorm::Group,
            "none" => AdvantageNorm::MeanOnly,
            "batch" => AdvantageNorm::Batch,
            _ => return None,
        })
    }
}

/// The advantage estimator's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdvantageConfig {
    pub norm: AdvantageNorm,
    /// Added to the standard deviation before dividing (verl 1e-6, TRL 1e-4).
    pub eps: f64,
}

impl Default for AdvantageConfig {
    fn default() -> Self {
        AdvantageConfig {
            norm: AdvantageNorm::Group,
            eps: 1e-6,
        }
    }
}

impl AdvantageConfig {
    pub fn validate(&self) -> Result<(), RlError> {
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return Err(RlError::Invalid(format!(
                "adv_eps must be a finite number ≥ 0, got {}",
                self.eps
            )));
        }
        Ok(())
    }
}

/// Advantages of a batch and what its groups looked like.
#[derive(Debug, Clone, PartialEq)]
pub struct Advantages {
    /// One per trajectory, in the input order.
    pub values: Vec<f64>,
    pub groups: usize,
    /// Groups of two or more whose rewards are all equal (they carry no signal).
    pub zero_std_groups: usize,
    /// Groups of one trajectory.
    pub singleton_groups: usize,
}

/// The advantages of trajectories with `rewards`, trajectory `i` belonging to the group
/// `group_of[i]` (a prompt id). `rewards` and `group_of` have the same length.
pub fn advantages(rewards: &[f64], group_of: &[u64], cfg: &AdvantageConfig) -> Advantages {
    assert_eq!(rewards.len(), group_of.len(), "one group id per reward");
    // Members of each group, groups in order of first appearance.
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (i, g) in group_of.iter().enumerate() {
        let k = *index.entry(*g).or_insert_with(|| {
            members.push(Vec::new());
            members.len() - 1
        });
        members[k].push(i);
    }
    let batch_scale = match cfg.norm {
        AdvantageNorm::Batch if rewards.len() >= 2 => unbiased_std(rewards) + cfg.eps,
        _ => 1.0,
    };
    let mut values = vec![0.0; rewards.len()];
    let (mut zero_std_groups, mut singleton_groups) = (0, 0);
    for m in &members {
        let r: Vec<f64> = m.iter().map(|&i| rewards[i]).collect();
        if r.len() == 1 {
            singleton_groups += 1;
            let scale = match cfg.norm {
                AdvantageNorm::Group => 1.0 + cfg.eps,
                AdvantageNorm::MeanOnly => 1.0,
                AdvantageNorm::Batch => batch_scale,
            };
            values[m[0]] = r[0] / scale;
            continue;
        }
        if r.iter().all(|&x| x == r[0]) {
            zero_std_groups += 1;
            continue; // exactly 0, see the module header
        }
        let mean = r.iter().sum::<f64>() / r.len() as f64;
        let scale = match cfg.norm {
            AdvantageNorm::Group => unbiased_std(&r) + cfg.eps,
            AdvantageNorm::MeanOnly => 1.0,
            AdvantageNorm::Batch => batch_scale,
        };
        for (&i, x) in m.iter().zip(&r) {
            values[i] = (x - mean) / scale;
        }
    }
    Advantages {
        values,
        groups: members.len(),
        zero_std_groups,
        singleton_groups,
    }
}

/// Bessel-corrected standard deviation (`xs` has at least two values).
fn unbiased_std(xs: &[f64]) -> f64 {
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
    (ss / (xs.len() - 1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(norm: AdvantageNorm) -> AdvantageConfig {
        AdvantageConfig { norm, eps: 1e-6 }
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn group_normalised_uses_the_unbiased_std_plus_eps() {
        // Mean 0.5, unbiased std √(1/3): ±0.5 / (0.5773502… + 1e-6).
        let a = advantages(&[1.0, 0.0, 0.0, 1.0], &[0; 4], &cfg(AdvantageNorm::Group));
        let v = 0.866_023_903_787_036_8;
        close(&a.values, &[v, -v, -v, v]);
        assert_eq!((a.groups, a.zero_std_groups, a.singleton_groups), (1, 0, 0));
        // DAPO's ±1 rewards: mean −0.5, unbiased variance (2.25 + 3·0.25)/3 = 1.
        let a = advantages(&[1.0, -1.0, -1.0, -1.0], &[0; 4], &cfg(AdvantageNorm::Group));
        close(
            &a.values,
            &[
                1.5 / (1.0 + 1e-6),
                -0.5 / (1.0 + 1e-6),
                -0.5 / (1.0 + 1e-6),
                -0.5 / (1.0 + 1e-6),
            ],
        );
        // TRL's ε.
        let trl = AdvantageConfig {
            norm: AdvantageNorm::Group,
            eps: 1e-4,
        };
        close(
            &advantages(&[1.0, 0.0], &[0, 0], &trl).values,
            &[0.5 / (0.5f64.sqrt() + 1e-4), -0.5 / (0.5f64.sqrt() + 1e-4)],
        );
    }

    #[test]
    fn groups_are_formed_by_id_in_any_order() {
        // Group 7 = [1, 0] (std √0.5), group 3 = [2, 2] (all equal).
        let a = advantages(&[1.0, 2.0, 0.0, 2.0], &[7, 3, 7, 3], &cfg(AdvantageNorm::Group));
        let v = 0.707_105_781_187_961_6;
        close(&a.values, &[v, 0.0, -v, 0.0]);
        assert_eq!((a.groups, a.zero_std_groups), (2, 1));
    }

    #[test]
    fn equal_rewards_give_exactly_zero() {
        for norm in [
            AdvantageNorm::Group,
            AdvantageNorm::MeanOnly,
            AdvantageNorm::Batch,
        ] {
            // 0.1 · 3 / 3 ≠ 0.1 in floating point; the advantage is still exactly 0.
            let a = advantages(&[0.1, 0.1, 0.1, 1.0, 0.0], &[1, 1, 1, 2, 2], &cfg(norm));
            assert_eq!(&a.values[..3], &[0.0, 0.0, 0.0], "{norm:?}");
            assert_eq!(a.zero_std_groups, 1);
        }
    }

    #[test]
    fn mean_only_centres_without_scaling() {
        let a = advantages(&[1.0, 0.0, 0.0, 0.0], &[0; 4], &cfg(AdvantageNorm::MeanOnly));
        close(&a.values, &[0.75, -0.25, -0.25, -0.25]);
    }

    #[test]
    fn batch_normalised_divides_by_the_batch_std() {
        // Rewards [1, 0 | 1, 1]: batch mean 0.75, unbiased variance 0.75 / 3 = 0.25.
        let a = advantages(&[1.0, 0.0, 1.0, 1.0], &[0, 0, 1, 1], &cfg(AdvantageNorm::Batch));
        let v = 0.999_998_000_004;
        close(&a.values, &[v, -v, 0.0, 0.0]);
        // One reward in the whole batch: scale 1.
        close(
            &advantages(&[0.5], &[0], &cfg(AdvantageNorm::Batch)).values,
            &[0.5],
        );
    }

    #[test]
    fn a_group_of_one_has_baseline_zero_and_scale_one() {
        let a = advantages(&[0.7, 1.0, 0.0], &[5, 6, 6], &cfg(AdvantageNorm::Group));
        close(&a.values[..1], &[0.699_999_300_000_7]);
        assert_eq!(a.singleton_groups, 1);
        let a = advantages(&[0.7], &[5], &cfg(AdvantageNorm::MeanOnly));
        close(&a.values, &[0.7]);
    }

    #[test]
    fn names_round_trip_and_eps_is_checked() {
        for name in ADVANTAGE_NORMS {
            assert_eq!(AdvantageNorm::parse(name).unwrap().name(), *name);
        }
        assert_eq!(AdvantageNorm::parse("std"), None);
        let bad = AdvantageConfig {
            eps: -1.0,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("adv_eps"));
        assert!(AdvantageConfig::default().validate().is_ok());
    }
}
