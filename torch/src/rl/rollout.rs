//! Rollouts from the model: `G` sampled responses for each of `P` prompts, all `P·G`
//! rows of a generation batch in one [`generate_with_seeds`] call, each scored by
//! [`super::reward`].
//!
//! Invariants:
//! - sample `j` of the prompt with id `id` in generation batch `index` of RL step `s`
//!   draws with seed `sample_seed(seed ⊕ key(s, index), id, j)` (`key(s, 0) = s`, the
//!   `evaluate` stage's derivation with the step mixed into the run seed); since a row's
//!   output depends only on its prompt, options and seed, a rollout is a pure function
//!   of (model, prompt, seed, step, index, j) — a resumed run replays the uninterrupted
//!   one, and batching never changes a sample;
//! - prompts arrive already tokenised (chat template or plain text is the caller's
//!   choice, as in `evaluate`), and responses are kept as the sampled ids, never
//!   re-encoded from their text;
//! - groups come back in the order of the prompts, samples in the order `j = 0..G`.
//!
//! Not done here (noted in the design as speed work): prompt-prefix KV sharing across a
//! group's `G` rows, compaction of finished rows during decoding, and the sampled
//! tokens' log-probs (the generation engine does not return them; the update recomputes
//! the log-probs it needs).

use super::RlError;
use super::reward::RewardConfig;
use super::sampling::{Group, Sample};
use crate::eval::model_scores::sample_seed;
use crate::model::generate::{GenerateOptions, generate_with_seeds};
use crate::model::{Tok, Transformer};

/// A prompt of an RL run: its row id (seeds, groups, logs), its tokens and its gold.
#[derive(Debug, Clone, PartialEq)]
pub struct RlPrompt {
    pub id: i64,
    pub tokens: Vec<i64>,
    /// The gold answer (a JSON array of strings means "any of").
    pub gold: String,
}

/// The run seed of generation batch `index` of step `step` (`seed ⊕ step` for the first
/// batch; later batches of a dynamic-sampling step get their own streams).
pub fn step_seed(seed: u64, step: usize, index: usize) -> u64 {
    seed ^ (step as u64) ^ ((index as u64) << 32)
}

/// Samples and scores groups of responses.
pub struct Rollout<'a> {
    pub model: &'a Transformer,
    pub tok: &'a Tok,
    /// Decoding controls (`seed` is unused: every row carries its own).
    pub opts: &'a GenerateOptions,
    pub reward: &'a RewardConfig,
    /// Samples per prompt (`G`).
    pub group_size: usize,
    /// The run seed.
    pub seed: u64,
}

impl Rollout<'_> {
    /// The groups of `prompts` for generation batch `index` of step `step`: one
    /// generation call for all `P·G` rows.
    pub fn groups(&self, prompts: &[&RlPrompt], step: usize, index: usize) -> Result<Vec<Group>, RlError> {
        if self.group_size == 0 {
            return Err(RlError::Invalid("group_size must be ≥ 1".into()));
        }
        let g = self.group_size;
        let run_seed = step_seed(self.seed, step, index);
        let mut rows: Vec<Vec<i64>> = Vec::with_capacity(prompts.len() * g);
        let mut seeds: Vec<u64> = Vec::with_capacity(prompts.len() * g);
        for p in prompts {
            for j in 0..g {
                rows.push(p.tokens.clone());
                seeds.push(sample_seed(run_seed, p.id, j));
            }
        }
        let mut gens = generate_with_seeds(self.model, self.tok, &rows, &seeds, self.opts)?.into_iter();
        Ok(prompts
            .iter()
            .map(|p| Group {
                prompt_id: p.id as u64,
                prompt: p.tokens.clone(),
                samples: gens
                    .by_ref()
                    .take(g)
                    .map(|out| Sample {
                        score: self.reward.score(&out.text, &p.gold, out.tokens.len()),
                        tokens: out.tokens,
                        text: out.text,
                        finish: out.finish,
                    })
                    .collect(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::{Family, ModelConfig, Sizes};
    use crate::model::generate::Finish;
    use crate::model::tokenizer::default_alphabet;
    use sieve::eval::Metric;
    use tch::{Device, Kind};

    /// A nano model with a peaked random distribution (so samples vary but not wildly).
    pub(crate) fn nano(tok: &Tok, seed: u64) -> Transformer {
        let mut cfg = ModelConfig::for_tokenizer(Family::Qwen2, &Sizes::preset("nano").unwrap(), tok);
        cfg.initializer_range = 0.3;
        let m = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
        m.init_weights(seed);
        m
    }

    fn prompts(tok: &Tok) -> Vec<RlPrompt> {
        [
            (3, "1+2=", "3"),
            (8, "a longer prompt 4+4=", "8"),
            (5, "2+3=", "5"),
        ]
        .iter()
        .map(|&(id, p, g)| RlPrompt {
            id,
            tokens: tok.encode(p, true).unwrap(),
            gold: g.into(),
        })
        .collect()
    }

    #[test]
    fn rollouts_have_the_shape_and_finish_reasons_asked_for() {
        let tok = Tok::chars(&default_alphabet()).unwrap();
        let model = nano(&tok, 3);
        let reward = RewardConfig::accuracy(Metric::ExactMatch);
        let mut opts = GenerateOptions {
            max_new_tokens: 6,
            temperature: 1.0,
            ..Default::default()
        };
        let ps = prompts(&tok);
        let refs: Vec<&RlPrompt> = ps.iter().collect();
        let rollout = |opts: &GenerateOptions| {
            Rollout {
                model: &model,
                tok: &tok,
                opts,
                reward: &reward,
                group_size: 4,
                seed: 9,
            }
            .groups(&refs, 0, 0)
            .unwrap()
        };
        // A stop id the first sample is known to produce (its third token): that sample
        // then ends early on it, with the same first tokens.
        let free = rollout(&opts);
        let stop = free[0].samples[0].tokens[2];
        opts.stop_ids = vec![stop];
        let groups = rollout(&opts);
        assert_eq!(groups[0].samples[0].tokens[..], free[0].samples[0].tokens[..3]);
        assert_eq!(groups.len(), 3);
        for (g, p) in groups.iter().zip(&ps) {
            assert_eq!((g.prompt_id, &g.prompt), (p.id as u64, &p.tokens));
            assert_eq!(g.samples.len(), 4);
            for s in &g.samples {
                assert!(!s.tokens.is_empty() && s.tokens.len() <= 6);
                match s.finish {
                    Finish::StopToken => assert_eq!(s.tokens.last(), Some(&stop)),
                    Finish::Length => assert_eq!(s.tokens.len(), 6),
                    Finish::StopString => panic!("no stop strings were given"),
                }
                assert_eq!(s.score, reward.score(&s.text, &p.gold, s.tokens.len()));
            }
        }
        let finishes: Vec<Finish> = groups
            .iter()
            .flat_map(|g| g.samples.iter().map(|s| s.finish))
            .collect();
        assert!(
            finishes.contains(&Finish::Length) && finishes.contains(&Finish::StopToken),
            "both finish reasons should occur with this stop id: {finishes:?}"
        );
        // The samples of a group differ (each has its own seed).
        assert!(
            groups
                .iter()
                .any(|g| g.samples.iter().any(|s| s.tokens != g.samples[0].tokens))
        );
    }

    #[test]
    fn rollouts_are_a_pure_function_of_seed_step_batch_and_prompt() {
        let tok = Tok::chars(&default_alphabet()).unwrap();
        let model = nano(&tok, 4);
        let reward = RewardConfig::accuracy(Metric::ExactMatch);
        let opts = GenerateOptions {
            max_new_tokens: 5,
            temperature: 1.0,
            ..Default::default()
        };
        let ro = |seed| Rollout {
            model: &model,
            tok: &tok,
            opts: &opts,
            reward: &reward,
            group_size: 3,
            seed,
        };
        let ps = prompts(&tok);
        let all: Vec<&RlPrompt> = ps.iter().collect();
        let a = ro(1).groups(&all, 2, 0).unwrap();
        assert_eq!(a, ro(1).groups(&all, 2, 0).unwrap());
        // A prompt's group does not depend on the other prompts of the batch.
        let alone = ro(1).groups(&[&ps[1]], 2, 0).unwrap();
        assert_eq!(alone[0], a[1]);
        // Another step, batch or seed draws other samples.
        for other in [
            ro(1).groups(&all, 3, 0).unwrap(),
            ro(1).groups(&all, 2, 1).unwrap(),
            ro(2).groups(&all, 2, 0).unwrap(),
        ] {
            assert_ne!(other, a);
        }
        assert_eq!(step_seed(7, 5, 0), 7 ^ 5);
    }
}
