//! Tests of [`super`]: the old-policy and reference passes, the mini-batch split,
//! masking, and the errors.

use super::*;
use crate::model::config::{Family, ModelConfig, Sizes};
use crate::model::generate::Finish;
use crate::rl::preset::Preset;
use crate::rl::reward::Scored;
use crate::rl::sampling::Sample;
use sieve::eval::Metric;
use tch::{Device, Kind};

fn model(seed: u64) -> Transformer {
    let cfg = ModelConfig::new(
        Family::Qwen2,
        &Sizes::preset("nano").unwrap(),
        23,
        Some(1),
        Some(2),
        Some(0),
    );
    let m = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
    m.init_weights(seed);
    m
}

fn sample(tokens: Vec<i64>, reward: f64, finish: Finish) -> Sample {
    Sample {
        tokens,
        text: String::new(),
        finish,
        score: Scored {
            acc: reward.max(0.0),
            format_ok: None,
            overlong: 0.0,
            reward,
        },
    }
}

/// Four groups of two samples with rewards 1 / 0, so every advantage is ±0.707.
fn groups() -> Vec<Group> {
    (0..4)
        .map(|g| Group {
            prompt_id: g,
            prompt: vec![1, 4 + g as i64],
            samples: vec![
                sample(vec![10, 11 + g as i64, 2], 1.0, Finish::StopToken),
                sample(vec![12, 13, 14, 2], 0.0, Finish::StopToken),
            ],
        })
        .collect()
}

fn rl() -> RlConfig {
    RlConfig::preset(Preset::Grpo, Metric::ExactMatch, 8)
}

fn update_cfg(mini_batches: usize, epochs: usize) -> UpdateConfig {
    UpdateConfig {
        mini_batches,
        epochs,
        micro_batch_tokens: 12,
        ..Default::default()
    }
}

#[test]
fn micro_batches_keep_to_the_padded_token_budget() {
    let ex = |n: usize| {
        (
            Example {
                tokens: vec![1; n],
                prompt_len: 1,
            },
            0.0,
        )
    };
    let members = [ex(3), ex(4), ex(2), ex(9), ex(5), ex(5)];
    // 2 × 4 = 8 ≤ 10, 3 × 4 = 12 > 10; 9 goes alone; 2 × 5 = 10.
    assert_eq!(
        micro_batches(&members, 10),
        vec![vec![0, 1], vec![2], vec![3], vec![4, 5]]
    );
    assert_eq!(
        micro_batches(&members, 1),
        (0..6).map(|i| vec![i]).collect::<Vec<_>>()
    );
}

#[test]
fn one_step_per_batch_is_on_policy() {
    let m = model(3);
    let g = groups();
    let adv = group_advantages(&g, &rl().advantage);
    assert!(
        adv.values.iter().all(|a| (a.abs() - 0.5f64.sqrt()).abs() < 1e-5),
        "{adv:?}"
    );
    let mut up = Updater::new(&m, None, &rl(), update_cfg(1, 1), 0).unwrap();
    let reports = up.update(&g, &adv.values, 1e-2).unwrap();
    assert_eq!(reports.len(), 1);
    let v = &reports[0].values;
    // o = sg(ℓ): ratio exactly 1, nothing clipped; after a 2-token prompt, 3 targets
    // per `10, x, 2` sample and 4 per `12, 13, 14, 2` one.
    assert_eq!((v.ppo_kl, v.clip_frac(), v.clip_dual_frac), (0.0, 0.0, 0.0));
    assert_eq!(v.tokens, 4 * (3 + 4));
    assert!(v.entropy.is_some() && reports[0].grad_norm > 0.0);
}

#[test]
fn later_mini_batches_and_epochs_see_the_old_policy() {
    let m = model(3);
    let g = groups();
    let adv = group_advantages(&g, &rl().advantage).values;
    let mut up = Updater::new(&m, None, &rl(), update_cfg(2, 2), 0).unwrap();
    let reports = up.update(&g, &adv, 3e-2).unwrap();
    assert_eq!(reports.len(), 4, "two mini-batches, two epochs");
    // The first step runs on the model that sampled: its log-probs equal the old ones
    // (the same arithmetic, a different chunking at most).
    let first = &reports[0].values;
    assert!(first.ppo_kl.abs() < 1e-6 && first.clip_frac() == 0.0, "{first:?}");
    // Every later step trains a moved policy against the old log-probs.
    for r in &reports[1..] {
        assert!(r.values.ppo_kl.abs() > 1e-4, "{:?}", r.values);
    }
    assert!(
        reports.iter().any(|r| r.values.clip_frac() > 0.0),
        "the large steps clip"
    );
    // Each mini-batch holds two whole groups.
    assert!(reports.iter().all(|r| r.values.tokens == 2 * 7));
}

#[test]
fn the_kl_term_compares_with_the_reference_model() {
    let (m, reference) = (model(3), model(3));
    let mut cfg = rl();
    cfg.objective.kl_coef = 0.1;
    let g = groups();
    let adv = group_advantages(&g, &cfg.advantage).values;
    let e = Updater::new(&m, None, &cfg, update_cfg(1, 1), 0)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("reference model"), "{e}");
    let mut up = Updater::new(&m, Some(&reference), &cfg, update_cfg(1, 2), 0).unwrap();
    let reports = up.update(&g, &adv, 3e-2).unwrap();
    // Equal weights at first: no divergence; after one step the policy has moved.
    assert!(reports[0].values.kl_loss.abs() < 1e-6, "{:?}", reports[0].values);
    assert!(reports[1].values.kl_loss > 1e-5, "{:?}", reports[1].values);
}

#[test]
fn masked_truncations_leave_the_loss_but_not_the_group() {
    let mut g = groups();
    g[0].samples[1].finish = Finish::Length;
    let adv = group_advantages(&g, &rl().advantage).values;
    // The truncated sample has 4 of the 28 targets.
    for (mask, tokens) in [(false, 28), (true, 24)] {
        let m = model(3);
        let mut cfg = rl();
        cfg.sampling.mask_truncated = mask;
        let mut up = Updater::new(&m, None, &cfg, update_cfg(1, 1), 0).unwrap();
        let v = &up.update(&g, &adv, 1e-3).unwrap()[0].values;
        assert_eq!(v.tokens, tokens, "mask_truncated = {mask}");
    }
    // A mini-batch left empty makes no step.
    let mut all_cut = groups();
    for s in all_cut.iter_mut().flat_map(|g| g.samples.iter_mut()) {
        s.finish = Finish::Length;
    }
    let m = model(3);
    let mut cfg = rl();
    cfg.sampling.mask_truncated = true;
    let mut up = Updater::new(&m, None, &cfg, update_cfg(2, 1), 0).unwrap();
    assert!(up.update(&all_cut, &adv, 1e-3).unwrap().is_empty());
    assert_eq!(up.optimizer().steps_done(), 0);
}

#[test]
fn bad_batches_are_refused_and_a_blow_up_names_its_step() {
    let m = model(3);
    let g = groups();
    let adv = group_advantages(&g, &rl().advantage).values;
    let mut up = Updater::new(&m, None, &rl(), update_cfg(5, 1), 0).unwrap();
    let e = up.update(&g, &adv, 1e-3).unwrap_err().to_string();
    assert!(e.contains("4 groups cannot make 5 mini-batches"), "{e}");
    let mut up = Updater::new(&m, None, &rl(), update_cfg(1, 1), 0).unwrap();
    let e = up.update(&g, &adv[..3], 1e-3).unwrap_err().to_string();
    assert!(e.contains("3 advantages for 8 samples"), "{e}");
    let e = Updater::new(&m, None, &rl(), update_cfg(0, 1), 0)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("mini_batches must be ≥ 1"), "{e}");
    // A learning rate that blows the weights up: the failing step is named.
    let cfg = UpdateConfig {
        max_grad_norm: 0.0,
        ..update_cfg(1, 3)
    };
    let mut up = Updater::new(&m, None, &rl(), cfg, 0).unwrap();
    let e = up.update(&g, &adv, 1e30).unwrap_err();
    assert!(
        matches!(e, RlError::Train(TrainError::NonFinite { step: 2..=3, .. })),
        "{e:?}"
    );
}
