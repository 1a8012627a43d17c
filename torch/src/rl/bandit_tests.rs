//! The library end to end on a bandit: a nano model whose reward is 1 when its one
//! generated character is `a`. Rollouts come from the real generation engine through a
//! [`RolloutSource`]; a sign error anywhere (advantages, coefficients, the head) makes
//! the reward fall instead of rise.

use super::RlError;
use super::preset::{Preset, RlConfig};
use super::sampling::{Group, RolloutSource, Sample, fill};
use super::update::{UpdateConfig, Updater, group_advantages};
use crate::model::config::{Family, ModelConfig, Sizes};
use crate::model::generate::{GenerateOptions, generate_with_seeds};
use crate::model::{Tok, Transformer};
use sieve::eval::Metric;
use tch::{Device, Kind};

struct Bandit<'a> {
    model: &'a Transformer,
    tok: &'a Tok,
    cfg: &'a RlConfig,
    prompts: Vec<Vec<i64>>,
    group_size: usize,
    step: u64,
}

impl RolloutSource for Bandit<'_> {
    fn generate(&mut self, index: usize) -> Result<Vec<Group>, RlError> {
        let opts = GenerateOptions {
            max_new_tokens: 1,
            temperature: self.cfg.objective.temperature,
            stop_ids: vec![2],
            ..Default::default()
        };
        let rows: Vec<Vec<i64>> = self
            .prompts
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.clone(), self.group_size))
            .collect();
        // Seeds from (step, generation batch, row): a pure function of the run.
        let seeds: Vec<u64> = (0..rows.len() as u64)
            .map(|r| (self.step * 16 + index as u64) * 1000 + r)
            .collect();
        let gens = tch::no_grad(|| generate_with_seeds(self.model, self.tok, &rows, &seeds, &opts))?;
        let mut gens = gens.into_iter();
        Ok(self
            .prompts
            .iter()
            .enumerate()
            .map(|(i, p)| Group {
                prompt_id: i as u64,
                prompt: p.clone(),
                samples: gens
                    .by_ref()
                    .take(self.group_size)
                    .map(|g| Sample {
                        score: self.cfg.reward.score(&g.text, "a", g.tokens.len()),
                        tokens: g.tokens,
                        text: g.text,
                        finish: g.finish,
                    })
                    .collect(),
            })
            .collect())
    }
}

/// The one-layer nano policy of the bandit tests (here and in the trainer's), seed 11.
pub(super) fn bandit_model(tok: &Tok) -> Transformer {
    let mcfg = ModelConfig::new(
        Family::Qwen2,
        &Sizes::preset("nano").unwrap(),
        tok.vocab_size(),
        Some(1),
        Some(2),
        Some(0),
    );
    let model = Transformer::new(mcfg, Device::Cpu, Kind::Float).unwrap();
    model.init_weights(11);
    model
}

#[test]
fn a_bandit_learns_to_answer_a_within_thirty_steps() {
    let tok = Tok::chars("abcdefgh").unwrap();
    let model = bandit_model(&tok);
    let cfg = RlConfig::preset(Preset::Grpo, Metric::ExactMatch, 1);
    let prompts: Vec<Vec<i64>> = ["b", "c", "d", "e"]
        .iter()
        .map(|p| tok.encode(p, true).unwrap())
        .collect();
    let mut updater = Updater::new(&model, None, &cfg, UpdateConfig::default(), tok.pad_id()).unwrap();
    let mut rewards = Vec::new();
    for step in 0..30 {
        let mut source = Bandit {
            model: &model,
            tok: &tok,
            cfg: &cfg,
            prompts: prompts.clone(),
            group_size: 8,
            step,
        };
        let filled = fill(&mut source, prompts.len(), &cfg.sampling, step as usize + 1).unwrap();
        let samples: Vec<f64> = filled
            .groups
            .iter()
            .flat_map(|g| g.samples.iter().map(|s| s.score.reward))
            .collect();
        rewards.push(samples.iter().sum::<f64>() / samples.len() as f64);
        let adv = group_advantages(&filled.groups, &cfg.advantage);
        updater.update(&filled.groups, &adv.values, 1e-2).unwrap();
        if rewards.len() >= 3 && rewards[rewards.len() - 3..].iter().all(|&r| r > 0.9) {
            break;
        }
    }
    let last = rewards[rewards.len() - 1];
    assert!(last > 0.9, "reward by step: {rewards:?}");
    assert!(rewards[0] < 0.5, "the bandit starts unsolved: {rewards:?}");
}
