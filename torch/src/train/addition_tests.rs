//! End-to-end learning check on the CPU: a tiny decoder trained from scratch with
//! [`train_sft`] on 2-digit addition must reach ≥ 95 % exact match on held-out pairs
//! under greedy decoding, on average over three seeds.

use super::sft::{NoHooks, SftConfig, train_sft};
use crate::model::config::{Family, ModelConfig, Sizes};
use crate::model::generate::{GenerateOptions, generate};
use crate::model::logprobs::Example;
use crate::model::tokenizer::Tok;
use crate::model::transformer::Transformer;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use sieve::eval::Metric;
use std::time::Instant;
use tch::{Device, Kind};

/// One run's accuracy moves between about 92 % and 100 % with the seed (data order and
/// initialisation) and with rounding-level changes of the training numerics (the chunked
/// LM-head loss, a change of BLAS kernels): seeds 1–5 gave 99.5 / 97.0 / 100 / 100 / 100 %
/// here (CPU, 2026-11-29). So the test asserts the mean over three seeds, not one run.
const SEEDS: [u64; 3] = [1, 2, 3];

/// Trains one model on 9 600 pairs and returns its exact match on the 400 held out.
fn train_and_score(seed: u64) -> f64 {
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
        hidden_size: 96,
        intermediate_size: 256,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        ..Sizes::preset("nano").unwrap()
    };
    let cfg = ModelConfig::for_tokenizer(Family::Llama, &sizes, &tok);
    let model = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
    model.init_weights(seed);
    let sft = SftConfig {
        lr: 3e-3,
        steps: Some(1800),
        batch_size: 64,
        warmup_ratio: 0.05,
        seed,
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
        "addition, seed {seed}: final loss {:.4}, exact match {:.1}% on {} held-out pairs; train {t_train:.1}s, total {:.1}s",
        out.final_loss,
        100.0 * acc,
        test.len(),
        t0.elapsed().as_secs_f64()
    );
    acc
}

#[test]
fn tiny_model_learns_two_digit_addition() {
    // Tiny tensors: one intra-op thread per run is several times faster than two on a
    // busy 2-core machine; the three runs go in parallel threads instead.
    tch::set_num_threads(1);
    let t0 = Instant::now();
    let accs: Vec<f64> = std::thread::scope(|s| {
        let runs: Vec<_> = SEEDS
            .iter()
            .map(|&seed| s.spawn(move || train_and_score(seed)))
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("training run panicked"))
            .collect()
    });
    let mean = accs.iter().sum::<f64>() / accs.len() as f64;
    eprintln!(
        "addition: mean exact match {:.1}% over seeds {SEEDS:?} ({accs:?}) in {:.1}s",
        100.0 * mean,
        t0.elapsed().as_secs_f64()
    );
    assert!(
        mean >= 0.95,
        "mean exact match {mean} over seeds {SEEDS:?}: {accs:?}"
    );
}
