//! Which sampled groups a step trains on: DAPO's dynamic sampling (drop the groups
//! whose samples all scored the same, generate more until the step's batch is full) over
//! any [`RolloutSource`], and the masking of truncated responses.
//!
//! Invariants:
//! - a group is kept when its samples' filter values (0/1 accuracy or shaped reward) are
//!   not all equal, or when it has one sample — `dapo_ray_trainer.py`'s
//!   `np.std(…) > 0 or len(…) == 1`; an all-equal group has advantage 0 everywhere, so
//!   it would only dilute the step;
//! - generation batches are requested with indices `0, 1, 2, …` within the step, so a
//!   source that derives its prompts and seeds from (step, index) makes the kept batch a
//!   pure function of the run; the first `needed` kept groups are used, in generation
//!   order (verl's `batch[:traj_bsz]`), the rest are dropped;
//! - the number of generation batches is always bounded: after `max_gen_batches` the
//!   step fails with the numbers that explain why (verl's `max_num_gen_batches ≤ 0`,
//!   "endless trials", is not offered: a pipeline must end);
//! - without dynamic sampling one generation batch is used as it is, all-equal groups
//!   included (they are counted, for the metrics);
//! - a truncated response (`Finish::Length`) under `mask_truncated` is not counted in
//!   the loss but stays in its group, so it still shapes the group's baseline (TRL's
//!   `mask_truncated_completions`).

use super::RlError;
use super::reward::Scored;
use crate::model::generate::Finish;
use crate::model::logprobs::Example;

/// One sampled response and its score.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The generated ids, a final stop id included: trained on as sampled, never
    /// re-encoded from the text.
    pub tokens: Vec<i64>,
    pub text: String,
    pub finish: Finish,
    pub score: Scored,
}

impl Sample {
    /// Whether the sample enters the loss.
    pub fn counted(&self, mask_truncated: bool) -> bool {
        !(mask_truncated && self.finish == Finish::Length)
    }
}

/// The samples drawn for one prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The prompt's id (it names the group for advantages and logs).
    pub prompt_id: u64,
    /// The prompt's tokens, as the model saw them.
    pub prompt: Vec<i64>,
    pub samples: Vec<Sample>,
}

impl Group {
    /// Sample `i` as a teacher-forced example: prompt then response, loss on the response.
    pub fn example(&self, i: usize) -> Example {
        let mut tokens = self.prompt.clone();
        tokens.extend_from_slice(&self.samples[i].tokens);
        Example {
            tokens,
            prompt_len: self.prompt.len(),
        }
    }

    /// Whether the samples' `metric` values are not all equal.
    fn has_spread(&self, metric: FilterMetric) -> bool {
        let v = |s: &Sample| match metric {
            FilterMetric::Acc => s.score.acc,
            FilterMetric::Reward => s.score.reward,
        };
        self.samples
            .first()
            .is_some_and(|first| self.samples.iter().any(|s| v(s) != v(first)))
    }
}

/// The value whose spread decides whether a group is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterMetric {
    /// 0/1 correctness (DAPO's `metric = acc`).
    Acc,
    /// The shaped reward (verl's `seq_final_reward`): overlong penalties count.
    Reward,
}

/// Names accepted by [`FilterMetric::parse`].
pub const FILTER_METRICS: &[&str] = &["acc", "reward"];

impl FilterMetric {
    pub fn name(self) -> &'static str {
        match self {
            FilterMetric::Acc => "acc",
            FilterMetric::Reward => "reward",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "acc" => FilterMetric::Acc,
            "reward" => FilterMetric::Reward,
            _ => return None,
        })
    }
}

/// Dynamic sampling and masking settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingConfig {
    /// Drop all-equal groups and refill (DAPO).
    pub dynamic: bool,
    /// Generation batches a step may use before it fails (≥ 1).
    pub max_gen_batches: usize,
    pub filter_metric: FilterMetric,
    /// Truncated responses do not enter the loss.
    pub mask_truncated: bool,
}

impl Default for SamplingConfig {
    /// verl's defaults (dynamic sampling off; DAPO's 10 batches and `acc` when on).
    fn default() -> Self {
        SamplingConfig {
            dynamic: false,
            max_gen_batches: 10,
            filter_metric: FilterMetric::Acc,
            mask_truncated: false,
        }
    }
}

impl SamplingConfig {
    pub fn validate(&self) -> Result<(), RlError> {
        if self.max_gen_batches == 0 {
            return Err(RlError::Invalid(
                "max_gen_batches must be ≥ 1 (a step that may generate forever could never end)".into(),
            ));
        }
        Ok(())
    }
}

/// Where a step's groups come from (the rollout engine, or a script in tests).
pub trait RolloutSource {
    /// The groups of generation batch `index` (0, 1, … within the step).
    fn generate(&mut self, index: usize) -> Result<Vec<Group>, RlError>;
}

/// The groups a step trains on and how they were obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct Filled {
    pub groups: Vec<Group>,
    /// Generation batches used.
    pub gen_batches: usize,
    /// Groups generated over all those batches.
    pub generated: usize,
    /// Generated groups whose filter values were all equal (one-sample groups excluded).
    pub equal: usize,
}

impl Filled {
    /// The fraction of generated groups whose values were all equal.
    pub fn equal_frac(&self) -> f64 {
        self.equal as f64 / self.generated.max(1) as f64
    }

    /// The fraction of generated groups the step trains on.
    pub fn kept_frac(&self) -> f64 {
        self.groups.len() as f64 / self.generated.max(1) as f64
    }
}

/// Draws generation batches from `source` until `needed` groups are kept (dynamic
/// sampling), or takes one batch as it is; `step` only names the step in errors.
pub fn fill(
    source: &mut dyn RolloutSource,
    needed: usize,
    cfg: &SamplingConfig,
    step: usize,
) -> Result<Filled, RlError> {
    cfg.validate()?;
    let mut filled = Filled {
        groups: Vec::new(),
        gen_batches: 0,
        generated: 0,
        equal: 0,
    };
    loop {
        let batch = source.generate(filled.gen_batches)?;
        filled.gen_batches += 1;
        filled.generated += batch.len();
        for g in batch {
            let keep = g.samples.len() == 1 || g.has_spread(cfg.filter_metric);
            if !keep && !g.samples.is_empty() {
                filled.equal += 1;
            }
            if keep || !cfg.dynamic {
                filled.groups.push(g);
            }
        }
        if !cfg.dynamic {
            return Ok(filled);
        }
        if filled.groups.len() >= needed {
            filled.groups.truncate(needed);
            return Ok(filled);
        }
        if filled.gen_batches >= cfg.max_gen_batches {
            return Err(RlError::GenBatchesExhausted {
                step,
                gen_batches: filled.gen_batches,
                max_gen_batches: cfg.max_gen_batches,
                kept: filled.groups.len(),
                needed,
                generated: filled.generated,
                equal: filled.equal,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that replays scripted batches; each group is a list of (acc, reward).
    struct Script {
        batches: Vec<Vec<Vec<(f64, f64)>>>,
        calls: Vec<usize>,
    }

    impl Script {
        fn new(batches: Vec<Vec<Vec<(f64, f64)>>>) -> Self {
            Script {
                batches,
                calls: Vec::new(),
            }
        }
    }

    fn sample(acc: f64, reward: f64) -> Sample {
        Sample {
            tokens: vec![7, 2],
            text: "7".into(),
            finish: Finish::StopToken,
            score: Scored {
                acc,
                format_ok: None,
                overlong: reward - acc,
                reward,
            },
        }
    }

    impl RolloutSource for Script {
        fn generate(&mut self, index: usize) -> Result<Vec<Group>, RlError> {
            self.calls.push(index);
            let batch = self
                .batches
                .get(index)
                .ok_or_else(|| RlError::Invalid(format!("the script has no batch {index}")))?;
            Ok(batch
                .iter()
                .enumerate()
                .map(|(j, g)| Group {
                    prompt_id: (100 * index + j) as u64,
                    prompt: vec![1, 5],
                    samples: g.iter().map(|&(a, r)| sample(a, r)).collect(),
                })
                .collect())
        }
    }

    fn acc(v: &[f64]) -> Vec<(f64, f64)> {
        v.iter().map(|&a| (a, a)).collect()
    }

    fn dynamic(max_gen_batches: usize) -> SamplingConfig {
        SamplingConfig {
            dynamic: true,
            max_gen_batches,
            ..Default::default()
        }
    }

    fn ids(f: &Filled) -> Vec<u64> {
        f.groups.iter().map(|g| g.prompt_id).collect()
    }

    #[test]
    fn equal_groups_are_dropped_and_refilled_up_to_the_batch() {
        let mut src = Script::new(vec![
            vec![
                acc(&[1.0, 1.0]),
                acc(&[1.0, 0.0]),
                acc(&[0.0, 0.0]),
                acc(&[0.0, 1.0]),
            ],
            vec![acc(&[0.0, 1.0]), acc(&[1.0, 0.0]), acc(&[1.0, 1.0])],
            vec![acc(&[0.0, 1.0])],
        ]);
        let f = fill(&mut src, 3, &dynamic(5), 1).unwrap();
        // Two kept from batch 0, then the first of batch 1 completes the step; the
        // second kept group of batch 1 is dropped.
        assert_eq!(ids(&f), vec![1, 3, 100]);
        assert_eq!(src.calls, vec![0, 1]);
        assert_eq!((f.gen_batches, f.generated, f.equal), (2, 7, 3));
        assert!((f.equal_frac() - 3.0 / 7.0).abs() < 1e-12);
        assert!((f.kept_frac() - 3.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn running_out_of_generation_batches_is_a_clear_error() {
        let mut src = Script::new(vec![
            vec![acc(&[1.0, 1.0]), acc(&[1.0, 0.0]), acc(&[0.0, 0.0])],
            vec![acc(&[0.0, 0.0]), acc(&[1.0, 1.0]), acc(&[1.0, 1.0])],
            vec![acc(&[0.0, 1.0]); 3],
        ]);
        let e = fill(&mut src, 3, &dynamic(2), 4).unwrap_err();
        assert_eq!(src.calls, vec![0, 1], "no third batch is generated");
        assert!(
            matches!(
                e,
                RlError::GenBatchesExhausted {
                    step: 4,
                    gen_batches: 2,
                    max_gen_batches: 2,
                    kept: 1,
                    needed: 3,
                    generated: 6,
                    equal: 5
                }
            ),
            "{e:?}"
        );
        let msg = e.to_string();
        for needle in [
            "step 4",
            "after 2 generation batches (max_gen_batches = 2)",
            "only 1 of the 3 groups",
            "6 groups generated, 5 of them with all rewards equal",
            "raise max_gen_batches",
        ] {
            assert!(msg.contains(needle), "{needle:?} not in {msg}");
        }
    }

    #[test]
    fn the_filter_metric_decides_what_equal_means() {
        // All wrong, but the overlong penalty makes the rewards differ.
        let shaped = vec![vec![vec![(0.0, 0.0), (0.0, -0.4)], acc(&[1.0, 0.0])]];
        let by_acc = fill(&mut Script::new(shaped.clone()), 1, &dynamic(1), 1).unwrap();
        assert_eq!(ids(&by_acc), vec![1]);
        let cfg = SamplingConfig {
            filter_metric: FilterMetric::Reward,
            ..dynamic(1)
        };
        let by_reward = fill(&mut Script::new(shaped), 1, &cfg, 1).unwrap();
        assert_eq!(ids(&by_reward), vec![0]);
    }

    #[test]
    fn a_group_of_one_sample_is_kept() {
        let mut src = Script::new(vec![vec![acc(&[1.0]), acc(&[0.0, 0.0])]]);
        let f = fill(&mut src, 1, &dynamic(1), 1).unwrap();
        // The one-sample group is kept and is not counted as equal; the other group is.
        assert_eq!((ids(&f), f.equal), (vec![0], 1));
    }

    #[test]
    fn without_dynamic_sampling_one_batch_is_used_as_it_is() {
        let mut src = Script::new(vec![
            vec![acc(&[1.0, 1.0]), acc(&[1.0, 0.0]), acc(&[0.0, 0.0])],
            vec![acc(&[0.0, 1.0])],
        ]);
        let f = fill(&mut src, 3, &SamplingConfig::default(), 1).unwrap();
        assert_eq!(ids(&f), vec![0, 1, 2]);
        assert_eq!((src.calls.len(), f.equal), (1, 2));
    }

    #[test]
    fn source_errors_and_bad_settings_are_reported() {
        let mut src = Script::new(vec![vec![acc(&[1.0, 1.0])]]);
        let e = fill(&mut src, 1, &dynamic(3), 1).unwrap_err().to_string();
        assert!(e.contains("no batch 1"), "{e}");
        let e = fill(&mut src, 1, &dynamic(0), 1).unwrap_err().to_string();
        assert!(e.contains("max_gen_batches must be ≥ 1"), "{e}");
        for name in FILTER_METRICS {
            assert_eq!(FilterMetric::parse(name).unwrap().name(), *name);
        }
    }

    #[test]
    fn truncated_responses_are_masked_only_when_asked_and_stay_in_their_group() {
        let mut truncated = sample(0.0, 0.0);
        truncated.finish = Finish::Length;
        assert!(truncated.counted(false));
        assert!(!truncated.counted(true));
        assert!(sample(1.0, 1.0).counted(true));
        // The group's spread (and so its advantages) still sees the masked sample.
        let g = Group {
            prompt_id: 0,
            prompt: vec![1, 5],
            samples: vec![truncated, sample(1.0, 1.0)],
        };
        assert!(g.has_spread(FilterMetric::Acc));
        assert_eq!(
            g.example(1),
            Example {
                tokens: vec![1, 5, 7, 2],
                prompt_len: 2
            }
        );
    }
}
