//! End-to-end learning check on the CPU: a tiny decoder trained from scratch with
//! [`train_sft`] on 2-digit addition must reach ≥ 95 % exact match on held-out pairs
//! under greedy decoding.

use super::sft::{NoHooks, SftConfig, train_sft};
use crate::eval::Metric;
use crate::model::config::{Family, ModelConfig, Sizes};
use crate::model::generate::{GenerateOptions, generate};
use crate::model::logprobs::Example;
use crate::model::tokenizer::Tok;
use crate::model::transformer::Transformer;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::time::Instant;
use tch::{Device, Kind};

/// Knobs of one training run.
#[derive(Clone, Copy, Debug)]
struct Run {
    seed: u64,
    steps: usize,
    lr: f64,
    batch: usize,
    wd: f64,
    hidden: i64,
    layers: i64,
}

/// Trains one model on 9 600 pairs and returns its exact match on the 400 held out.
fn train_and_score(r: Run) -> f64 {
    let t0 = Instant::now();
    let tok = Tok::chars("0123456789+=").unwrap();
    let mut pairs: Vec<(u32, u32)> = (0..100).flat_map(|a| (0..100).map(move |b| (a, b))).collect();
    pairs.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
    let (test, train) = pairs.split_at(400);
    let example = |&(a, b): &(u32, u32)| {
        let p = tok.encode(&format!("{a}+{b}="), true).unwrap();
        let mut t = p.clone();
        t.extend(tok.encode(&(a + b).to_string(), false).unwrap());
        t.push(tok.eos_id().unwrap());
        Example {
            tokens: t,
            prompt_len: p.len(),
        }
    };
    let train: Vec<Example> = train.iter().map(example).collect();
    let sizes = Sizes {
        hidden_size: r.hidden as usize,
        intermediate_size: (r.hidden * 8 / 3) as usize,
        num_hidden_layers: r.layers as usize,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        ..Sizes::preset("nano").unwrap()
    };
    let cfg = ModelConfig::for_tokenizer(Family::Llama, &sizes, &tok);
    let model = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
    model.init_weights(r.seed);
    let sft = SftConfig {
        lr: r.lr,
        steps: Some(r.steps),
        batch_size: r.batch,
        warmup_ratio: 0.05,
        optim: crate::train::AdamWConfig { weight_decay: r.wd, ..Default::default() },
        seed: r.seed,
        ..Default::default()
    };
    let out = train_sft(&model, &train, &[], tok.pad_id(), &sft, None, &mut NoHooks).unwrap();
    let t_train = t0.elapsed().as_secs_f64();
    let prompts: Vec<Vec<i64>> = test
        .iter()
        .map(|(a, b)| tok.encode(&format!("{a}+{b}="), true).unwrap())
        .collect();
    let opts = GenerateOptions {
        max_new_tokens: 4,
        stop_ids: vec![tok.eos_id().unwrap()],
        ..Default::default()
    };
    let mut correct = 0;
    for (chunk, pairs) in prompts.chunks(200).zip(test.chunks(200)) {
        for (g, (a, b)) in generate(&model, &tok, chunk, &opts).unwrap().iter().zip(pairs) {
            correct += Metric::ExactMatch.is_correct(&g.text, &(a + b).to_string()) as usize;
        }
    }
    let acc = correct as f64 / test.len() as f64;
    eprintln!(
        "addition {r:?}: final loss {:.4}, exact match {:.1}%; train {t_train:.1}s, total {:.1}s",
        out.final_loss,
        100.0 * acc,
        t0.elapsed().as_secs_f64()
    );
    acc
}

#[test]
#[ignore]
fn experiment() {
    tch::set_num_threads(1);
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or(d.to_string());
    let seeds: Vec<u64> = env("ADD_SEEDS", "1,2,3,4,5").split(',').map(|s| s.parse().unwrap()).collect();
    for seed in seeds {
        train_and_score(Run {
            seed,
            steps: env("ADD_STEPS", "1800").parse().unwrap(),
            lr: env("ADD_LR", "3e-3").parse().unwrap(),
            batch: env("ADD_BATCH", "64").parse().unwrap(),
            wd: env("ADD_WD", "0").parse().unwrap(),
            hidden: env("ADD_HIDDEN", "96").parse().unwrap(),
            layers: env("ADD_LAYERS", "2").parse().unwrap(),
        });
    }
}
