//! The GRPO loop on a nano model: exact resume, and the bandit learning through it.

use super::*;
use crate::rl::bandit_tests::bandit_model;
use crate::rl::preset::Preset;
use crate::rl::sampling::FilterMetric;
use sieve::eval::Metric;

fn prompts(tok: &Tok, texts: &[&str], gold: &str) -> Vec<RlPrompt> {
    texts
        .iter()
        .enumerate()
        .map(|(i, p)| RlPrompt {
            id: 10 + i as i64,
            tokens: tok.encode(p, true).unwrap(),
            gold: gold.into(),
        })
        .collect()
}

fn config(rl: RlConfig, steps: usize, p: usize, g: usize, lr: f64) -> TrainerConfig {
    TrainerConfig {
        generate: GenerateOptions {
            max_new_tokens: rl.max_new_tokens,
            temperature: rl.objective.temperature,
            stop_ids: vec![2],
            ..Default::default()
        },
        rl,
        update: UpdateConfig::default(),
        steps,
        prompts_per_step: p,
        group_size: g,
        gen_batch_prompts: 0,
        lr,
        warmup_steps: 0,
        save_every: 0,
        eval_every: 0,
        seed: 5,
    }
}

/// Stops the run after `after` steps.
struct StopAfter {
    after: usize,
    done: usize,
}

impl TrainHooks for StopAfter {
    fn on_step(&mut self, step: usize, _total: usize, _metrics: &[(&str, f64)]) {
        self.done = step;
    }
    fn should_stop(&mut self) -> bool {
        self.done >= self.after
    }
}

fn params(m: &Transformer) -> Vec<(String, Vec<f32>)> {
    m.named_parameters()
        .into_iter()
        .map(|(n, t)| (n, Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()))
        .collect()
}

#[test]
fn a_run_stopped_after_four_of_eight_steps_resumes_to_the_same_result() {
    let tok = Tok::chars("abcdefgh").unwrap();
    // Dynamic sampling with refills, warmup and two mini-batches: the cursor, the
    // schedule and the optimiser state all have to come back.
    let mut rl = RlConfig::preset(Preset::Grpo, Metric::Contains, 2);
    rl.sampling.dynamic = true;
    rl.sampling.filter_metric = FilterMetric::Acc;
    let mut cfg = config(rl, 8, 2, 4, 1e-3);
    cfg.gen_batch_prompts = 3;
    cfg.warmup_steps = 3;
    cfg.save_every = 2;
    cfg.update.mini_batches = 2;
    // `contains` normalises away articles, so the gold is `e`, not `a`.
    let data = prompts(&tok, &["b", "c", "d", "e", "f", "g", "h"], "e");
    let eval = prompts(&tok, &["bc", "de"], "e");

    let whole_dir = tempfile::tempdir().unwrap();
    let whole = bandit_model(&tok);
    let a = train_rl(
        &whole,
        None,
        &tok,
        &data,
        &eval,
        &cfg,
        Some(whole_dir.path()),
        &mut crate::train::sft::NoHooks,
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let first = bandit_model(&tok);
    let e = train_rl(
        &first,
        None,
        &tok,
        &data,
        &eval,
        &cfg,
        Some(dir.path()),
        &mut StopAfter { after: 4, done: 0 },
    )
    .unwrap_err();
    assert!(matches!(e, RlError::Train(TrainError::Cancelled)), "{e}");
    let again = bandit_model(&tok);
    let b = train_rl(
        &again,
        None,
        &tok,
        &data,
        &eval,
        &cfg,
        Some(dir.path()),
        &mut crate::train::sft::NoHooks,
    )
    .unwrap();

    assert_eq!((a.resumed_from, b.resumed_from), (None, Some(4)));
    assert_eq!(params(&whole), params(&again));
    assert_eq!(a.log.rows(), b.log.rows());
    assert_eq!(a.rollouts.rows(), b.rollouts.rows());
    assert_eq!(a.eval_acc, b.eval_acc);
    // The files a stage would digest match too.
    for f in ["metrics.jsonl", "rollouts.jsonl"] {
        assert_eq!(
            std::fs::read(whole_dir.path().join(f)).unwrap(),
            std::fs::read(dir.path().join(f)).unwrap(),
            "{f}"
        );
    }
    // The run did refill at least once, so the cursor is not a function of the step.
    let gen_batches: Vec<f64> = a
        .log
        .rows()
        .iter()
        .filter_map(|r| r.get("gen_batches")?.as_f64())
        .collect();
    assert_eq!(gen_batches.len(), 8);
    assert!(gen_batches.iter().any(|&g| g > 1.0), "{gen_batches:?}");
    assert_eq!(a.rollouts.rows().len(), 8 * 2 * 4);
    // Warmup then constant.
    let lrs: Vec<f64> = a
        .log
        .rows()
        .iter()
        .filter_map(|r| r.get("lr")?.as_f64())
        .collect();
    assert_eq!(&lrs[..4], &[1e-3 / 3.0, 2e-3 / 3.0, 1e-3, 1e-3]);
}

#[test]
fn the_bandit_learns_through_the_trainer() {
    let tok = Tok::chars("abcdefgh").unwrap();
    let model = bandit_model(&tok);
    let cfg = config(
        RlConfig::preset(Preset::Grpo, Metric::ExactMatch, 1),
        25,
        4,
        8,
        1e-2,
    );
    let data = prompts(&tok, &["b", "c", "d", "e"], "a");
    let out = train_rl(
        &model,
        None,
        &tok,
        &data,
        &data,
        &cfg,
        None,
        &mut crate::train::sft::NoHooks,
    )
    .unwrap();
    let reward: Vec<f64> = out
        .log
        .rows()
        .iter()
        .filter_map(|r| r.get("reward_mean")?.as_f64())
        .collect();
    assert_eq!(reward.len(), 25);
    assert!(reward[0] < 0.5, "the bandit starts unsolved: {reward:?}");
    assert!(
        reward[22..].iter().all(|&r| r > 0.9),
        "reward by step: {reward:?}"
    );
    assert_eq!(out.eval_acc, Some(1.0));
    assert_eq!(out.rollouts.rows().len(), 25 * 32);
    let last = out.log.rows().last().unwrap();
    assert!(last.contains_key("eval_acc"));
    let step = &out.log.rows()[0];
    for name in [
        "acc",
        "entropy",
        "pg_clipfrac",
        "ppo_kl",
        "kl_loss",
        "response_len_mean",
        "response_len_max",
        "truncated_frac",
        "groups_zero_std_frac",
        "kept_groups_frac",
        "gen_batches",
        "grad_norm",
    ] {
        assert!(
            step.get(name).and_then(|v| v.as_f64()).is_some(),
            "{name} missing: {step:?}"
        );
    }
    assert!(!step.contains_key("gen_s"), "timings stay out of the log");
}

#[test]
fn bad_settings_are_refused_before_any_work() {
    let tok = Tok::chars("abcdefgh").unwrap();
    let model = bandit_model(&tok);
    let data = prompts(&tok, &["b"], "a");
    let mut cfg = config(
        RlConfig::preset(Preset::Grpo, Metric::ExactMatch, 1),
        2,
        1,
        1,
        1e-2,
    );
    let e = train_rl(
        &model,
        None,
        &tok,
        &data,
        &[],
        &cfg,
        None,
        &mut crate::train::sft::NoHooks,
    )
    .unwrap_err();
    assert!(e.to_string().contains("group_size must be ≥ 2"), "{e}");
    cfg.group_size = 2;
    cfg.generate.temperature = 0.7;
    let e = train_rl(
        &model,
        None,
        &tok,
        &data,
        &[],
        &cfg,
        None,
        &mut crate::train::sft::NoHooks,
    )
    .unwrap_err();
    assert!(e.to_string().contains("sampling temperature"), "{e}");
}

#[test]
fn the_cursor_shuffles_each_epoch_and_covers_every_prompt() {
    let mut c = Cursor::new(3, 5, 0);
    let first: Vec<usize> = c.next(5);
    let second: Vec<usize> = c.next(5);
    let mut s = first.clone();
    s.sort();
    assert_eq!(s, vec![0, 1, 2, 3, 4]);
    assert_eq!(first, Cursor::order(3, 0, 5));
    assert_eq!(second, Cursor::order(3, 1, 5));
    // Resuming at any position continues the same sequence.
    let mut r = Cursor::new(3, 5, 7);
    assert_eq!(r.next(3), second[2..5].to_vec());
}
