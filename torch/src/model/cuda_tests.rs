//! CUDA checks of the model and training libraries. They run where the NVIDIA driver
//! shows a device when the tests are built (a lent GPU machine: `cargo nextest run
//! cuda_`) and are reported as skipped elsewhere (`crate::testenv`); where a device is
//! shown, libtorch not seeing it is a failure.
//!
//! Covered: CUDA f32 logits equal the CPU's (≤ 1e-4) and bf16 stays close; greedy
//! left-padded generation on CUDA equals the CPU's; bf16 SFT with f32 master weights
//! (flash SDPA path) learns; CUDA out-of-memory surfaces as an error naming the batch
//! shape; and a throughput figure for the `small` preset (printed, not asserted).

use super::config::{Family, ModelConfig, Sizes};
use super::generate::{GenerateOptions, generate};
use super::logprobs::Example;
use super::tokenizer::{Tok, default_alphabet};
use super::transformer::Transformer;
use crate::train::TrainError;
use crate::train::sft::{NoHooks, SftConfig, train_sft};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

use crate::testenv::cuda;

fn pair(preset: &str, dev: Device, kind: Kind) -> (Tok, Transformer, Transformer) {
    pair_with(preset, dev, kind, 0.02)
}

fn pair_with(preset: &str, dev: Device, kind: Kind, init_range: f64) -> (Tok, Transformer, Transformer) {
    let tok = Tok::chars(&default_alphabet()).unwrap();
    let mut cfg = ModelConfig::new(
        Family::Qwen2,
        &Sizes::preset(preset).unwrap(),
        tok.vocab_size(),
        tok.bos_id(),
        tok.eos_id(),
        Some(0),
    );
    cfg.initializer_range = init_range;
    let cpu = Transformer::new(cfg.clone(), Device::Cpu, Kind::Float).unwrap();
    cpu.init_weights(5);
    let gpu = Transformer::new(cfg, dev, kind).unwrap();
    gpu.init_weights(5);
    (tok, cpu, gpu)
}

#[test]
#[cfg_attr(
    not(sieve_cuda_device),
    ignore = "no CUDA device (no /dev/nvidiaN when the tests were built)"
)]
fn cuda_logits_match_cpu() {
    let dev = cuda();
    let ids = Tensor::randint_low(3, 100, [4, 64], (Kind::Int64, Device::Cpu));
    let (_, cpu, gpu) = pair("tiny", dev, Kind::Float);
    let (a, b) = tch::no_grad(|| {
        (
            cpu.forward(&ids, None, None, None),
            gpu.forward(&ids.to_device(dev), None, None, None)
                .to_device(Device::Cpu),
        )
    });
    let d32 = (&a - &b).abs().max().double_value(&[]);
    let (_, _, g16) = pair("tiny", dev, Kind::BFloat16);
    let c = tch::no_grad(|| {
        g16.forward(&ids.to_device(dev), None, None, None)
            .to_kind(Kind::Float)
            .to_device(Device::Cpu)
    });
    let d16 = (&a - &c).abs().max().double_value(&[]);
    let scale = a.abs().max().double_value(&[]);
    eprintln!("cuda parity: f32 max |Δ| {d32:.2e}; bf16 max |Δ| {d16:.2e} (max |logit| {scale:.2})");
    assert!(d32 <= 1e-4, "{d32}");
    assert!(d16 <= 0.05 * scale.max(1.0), "{d16}");
}

#[test]
#[cfg_attr(
    not(sieve_cuda_device),
    ignore = "no CUDA device (no /dev/nvidiaN when the tests were built)"
)]
fn cuda_greedy_generation_matches_cpu() {
    let dev = cuda();
    // A sharper random model so greedy paths are not decided by float noise.
    let (tok, cpu, gpu) = pair_with("tiny", dev, Kind::Float, 0.2);
    let prompts: Vec<Vec<i64>> = ["12+7=", "what is 3+4?", "a much longer prompt than the others"]
        .iter()
        .map(|s| tok.encode(s, true).unwrap())
        .collect();
    let opts = GenerateOptions {
        max_new_tokens: 16,
        ..Default::default()
    };
    let a = generate(&cpu, &tok, &prompts, &opts).unwrap();
    let b = generate(&gpu, &tok, &prompts, &opts).unwrap();
    let same = a.iter().zip(&b).filter(|(x, y)| x.tokens == y.tokens).count();
    eprintln!("cuda greedy: {same}/{} rows identical to the CPU", a.len());
    assert_eq!(same, a.len());
}

fn addition(tok: &Tok, n: usize) -> Vec<Example> {
    (0..n)
        .map(|i| {
            let (a, b) = (i % 100, (i * 37) % 100);
            let p = tok.encode(&format!("{a}+{b}="), true).unwrap();
            let mut t = p.clone();
            t.extend(tok.encode(&(a + b).to_string(), false).unwrap());
            t.push(2);
            Example {
                tokens: t,
                prompt_len: p.len(),
            }
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(sieve_cuda_device),
    ignore = "no CUDA device (no /dev/nvidiaN when the tests were built)"
)]
fn cuda_bf16_sft_learns() {
    let dev = cuda();
    let (tok, _, gpu) = pair("nano", dev, Kind::BFloat16);
    let ex = addition(&tok, 2000);
    let cfg = SftConfig {
        steps: Some(300),
        batch_size: 64,
        lr: 3e-3,
        ..Default::default()
    };
    let t = Instant::now();
    let out = train_sft(&gpu, &ex, &ex[..200], 0, &cfg, None, &mut NoHooks).unwrap();
    let first = out.log.rows()[0]["loss"].as_f64().unwrap();
    eprintln!(
        "cuda bf16 sft: loss {first:.3} → {:.3}, eval {:?}, {:.1}s",
        out.final_loss,
        out.eval_loss,
        t.elapsed().as_secs_f64()
    );
    assert!(out.final_loss < first * 0.5);
    assert_eq!(gpu.kind(), Kind::BFloat16);
}

#[test]
#[cfg_attr(
    not(sieve_cuda_device),
    ignore = "no CUDA device (no /dev/nvidiaN when the tests were built)"
)]
fn cuda_oom_names_the_batch_shape() {
    let dev = cuda();
    let (tok, _, gpu) = pair("small", dev, Kind::BFloat16);
    let long: Vec<i64> = (0..4096).map(|i| 4 + (i % 90)).collect();
    let ex: Vec<Example> = (0..4096)
        .map(|_| Example {
            tokens: long.clone(),
            prompt_len: 1,
        })
        .collect();
    let cfg = SftConfig {
        steps: Some(1),
        batch_size: 4096,
        max_seq_len: 4096,
        ..Default::default()
    };
    let e = train_sft(&gpu, &ex, &[], tok.pad_id(), &cfg, None, &mut NoHooks).unwrap_err();
    eprintln!("cuda oom: {e}");
    let msg = e.to_string();
    assert!(matches!(e, TrainError::Model(_)));
    assert!(
        msg.contains("out of memory") && msg.contains("(4096, 4096)"),
        "{msg}"
    );
    // The device is usable afterwards.
    let ok = train_sft(
        &gpu,
        &ex[..4],
        &[],
        0,
        &SftConfig {
            steps: Some(1),
            batch_size: 4,
            ..Default::default()
        },
        None,
        &mut NoHooks,
    );
    assert!(ok.is_ok());
}

#[test]
#[cfg_attr(
    not(sieve_cuda_device),
    ignore = "no CUDA device (no /dev/nvidiaN when the tests were built)"
)]
fn cuda_throughput_small_preset() {
    let dev = cuda();
    let tok = Tok::chars(&default_alphabet()).unwrap();
    let cfg = ModelConfig::new(
        Family::Llama,
        &Sizes::preset("small").unwrap(),
        tok.vocab_size(),
        Some(1),
        Some(2),
        Some(0),
    );
    let m = Transformer::new(cfg, dev, Kind::BFloat16).unwrap();
    m.init_weights(0);
    let row: Vec<i64> = (0..512).map(|i| 4 + (i * 7 % 90)).collect();
    let ex: Vec<Example> = (0..64 * 40)
        .map(|_| Example {
            tokens: row.clone(),
            prompt_len: 1,
        })
        .collect();
    let sft = SftConfig {
        steps: Some(40),
        batch_size: 64,
        max_seq_len: 512,
        ..Default::default()
    };
    // Warm-up (kernel selection), then the timed run.
    train_sft(
        &m,
        &ex[..64 * 5],
        &[],
        0,
        &SftConfig {
            steps: Some(5),
            ..sft.clone()
        },
        None,
        &mut NoHooks,
    )
    .unwrap();
    tch::Cuda::synchronize(0);
    let t = Instant::now();
    train_sft(&m, &ex, &[], 0, &sft, None, &mut NoHooks).unwrap();
    tch::Cuda::synchronize(0);
    let train_tps = (40 * 64 * 512) as f64 / t.elapsed().as_secs_f64();
    let prompts: Vec<Vec<i64>> = (0..64).map(|i| row[..64 + i].to_vec()).collect();
    let opts = GenerateOptions {
        max_new_tokens: 128,
        ..Default::default()
    };
    generate(
        &m,
        &tok,
        &prompts[..4],
        &GenerateOptions {
            max_new_tokens: 8,
            ..Default::default()
        },
    )
    .unwrap();
    let t = Instant::now();
    let g = generate(&m, &tok, &prompts, &opts).unwrap();
    let gen_tps = g.iter().map(|x| x.tokens.len()).sum::<usize>() as f64 / t.elapsed().as_secs_f64();
    eprintln!(
        "BENCH sieve small ({} params) bf16: train {train_tps:.0} tok/s (64×512), generate {gen_tps:.0} tok/s (64 prompts, 128 new)",
        m.num_parameters()
    );
}
