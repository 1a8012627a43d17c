//! `sieve bench model`: training and generation throughput of a random-init decoder of
//! a named shape, measured through the code pipelines use — the SFT step
//! ([`Stepper`]: forward, chunked loss, backward, clipping, AdamW) and
//! [`generate`] (sampling at temperature 1, no stop ids so every row runs the full
//! `--new-tokens`) — and, as a micro-benchmark, the optimiser update alone
//! (`--mode optim`: gradient norm, clipping and one [`AdamW`] step over the whole model).
//!
//! The workloads are defined so that `scripts/bench/hf_bench.py` (transformers) and
//! `scripts/bench/torch_cpu_sft.py` rebuild them exactly: the shapes of [`shape_config`],
//! training rows of `seq` pseudo-random ids (loss on every next token), and prompts
//! whose lengths and ids follow [`prompt`]. Output: one JSON object per mode (see
//! `docs/performance.md` for the fields).

use super::memory::{Monitor, gib};
use super::{BenchError, dtype, dtype_name, process_cpu_seconds, sync};
use crate::model::config::{Family, ModelConfig, Sizes};
use crate::model::logprobs::{Example, SeqBatch};
use crate::model::tokenizer::{Tok, default_alphabet};
use crate::model::{GenerateOptions, Transformer, generate};
use crate::train::sft::{SftConfig, Stepper};
use crate::train::{AdamW, AdamWConfig};
use serde_json::{Value as Json, json};
use std::time::Instant;
use tch::Device;

/// Arguments of `sieve bench model`.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model shape: `qwen2-0.5b` (Qwen2.5-0.5B dimensions) or a size preset
    /// (`nano`, `tiny`, `small`, `base`, with the character tokenizer's vocabulary).
    #[arg(long, default_value = "tiny")]
    pub shape: String,
    /// What to measure: `train`, `generate` or `both`; or `optim` (the AdamW update
    /// alone, on gradients of one training batch).
    #[arg(long, default_value = "both")]
    pub mode: String,
    /// `auto | cpu | cuda | cuda:N`.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// `auto` (bf16 on CUDA, f32 on CPU), `f32`, `bf16`.
    #[arg(long, default_value = "auto")]
    pub dtype: String,
    /// Rows per step (training) or prompts (generation, when `--mode generate`);
    /// default 8 for training, 64 for generation.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Prompts per generation batch with `--mode both` (default 64).
    #[arg(long)]
    pub gen_batch: Option<usize>,
    /// Training sequence length.
    #[arg(long, default_value_t = 2048)]
    pub seq: usize,
    /// Timed optimiser steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed warm-up steps before them.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Prompt length (prompts are left-padded to it).
    #[arg(long, default_value_t = 128)]
    pub prompt_len: usize,
    /// New tokens per prompt.
    #[arg(long, default_value_t = 256)]
    pub new_tokens: usize,
    /// All prompts exactly `--prompt-len` long (no padding); by default lengths vary
    /// between ¾ of it and all of it.
    #[arg(long)]
    pub uniform_prompts: bool,
    /// Fused kernels in the forward pass: `auto` (the device's default: on for CUDA),
    /// `on`, `off` (see `Transformer::set_fused_kernels`).
    #[arg(long, default_value = "auto")]
    pub fused: String,
    /// The AdamW update in `train` and `optim`: `fused` (libtorch's fused kernel, what
    /// training runs) or `plain` (the same formula as separate tensor operations).
    #[arg(long, default_value = "fused")]
    pub adamw: String,
    /// Intra-op threads on the CPU (default: libtorch's choice).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Peak dense FLOP/s of the device in TFLOP/s, for MFU (default 989 on CUDA:
    /// H100/H200 bf16 dense).
    #[arg(long)]
    pub peak_tflops: Option<f64>,
    /// Override the vocabulary size of the shape.
    #[arg(long)]
    pub vocab: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// JSON lines only (otherwise a readable summary on stderr as well).
    #[arg(long)]
    pub json: bool,
}

/// The model configuration of a named benchmark shape (always the Qwen2 family: q/k/v
/// biases, tied embeddings).
pub fn shape_config(name: &str, vocab: Option<usize>) -> Result<ModelConfig, BenchError> {
    let char_vocab = 4 + default_alphabet().chars().count();
    let (sizes, v) = match name {
        "qwen2-0.5b" => (
            Sizes {
                hidden_size: 896,
                intermediate_size: 4864,
                num_hidden_layers: 24,
                num_attention_heads: 14,
                num_key_value_heads: 2,
                max_position_embeddings: 32768,
                rope_theta: 1_000_000.0,
                tie_word_embeddings: true,
            },
            151_936,
        ),
        other => match Sizes::preset(other) {
            Some(s) => (s, char_vocab),
            None => {
                return Err(BenchError::Usage(format!(
                    "unknown shape `{other}` (qwen2-0.5b, {})",
                    crate::model::config::PRESETS.join(", ")
                )));
            }
        },
    };
    Ok(ModelConfig::new(
        Family::Qwen2,
        &sizes,
        vocab.unwrap_or(v),
        Some(1),
        Some(2),
        Some(0),
    ))
}

/// Token `j` of training row `r` (ids 3‥vocab, so no special token appears).
pub fn train_token(r: usize, j: usize, vocab: usize) -> i64 {
    3 + ((r * 7919 + j * 104_729 + (r * j) % 977) % (vocab - 3)) as i64
}

/// Prompt `i` of a generation batch: its length is `len` (uniform) or between ¾·len
/// and len, its ids follow a fixed formula.
pub fn prompt(i: usize, len: usize, uniform: bool, vocab: usize) -> Vec<i64> {
    let n = if uniform {
        len
    } else {
        len - (i * 37) % (len / 4 + 1)
    };
    (0..n)
        .map(|j| 3 + ((i * 1009 + j * 131) % (vocab - 3)) as i64)
        .collect()
}

fn build_model(args: &ModelArgs, dev: Device) -> Result<(Transformer, tch::Kind), BenchError> {
    let kind = dtype(&args.dtype, dev)?;
    let cfg = shape_config(&args.shape, args.vocab)?;
    let mut model = Transformer::new(cfg, dev, kind)?;
    super::set_fused(&mut model, &args.fused)?;
    model.init_weights(args.seed);
    Ok((model, kind))
}

/// Runs `sieve bench model` and prints its JSON lines.
pub fn run(args: &ModelArgs) -> Result<(), BenchError> {
    let dev = super::device(&args.device)?;
    if let Some(n) = args.threads {
        tch::set_num_threads(n);
    }
    let modes: &[&str] = match args.mode.as_str() {
        "train" => &["train"],
        "generate" => &["generate"],
        "both" => &["train", "generate"],
        "optim" => &["optim"],
        m => {
            return Err(BenchError::Usage(format!(
                "unknown mode `{m}` (train, generate, both, optim)"
            )));
        }
    };
    let fused_adamw = match args.adamw.as_str() {
        "fused" => true,
        "plain" => false,
        a => {
            return Err(BenchError::Usage(format!("--adamw {a}: expected fused or plain")));
        }
    };
    if args.steps == 0 {
        return Err(BenchError::Usage("--steps must be ≥ 1".into()));
    }
    // Initialise CUDA before the memory baseline is read.
    if dev.is_cuda() {
        let _ = tch::Tensor::zeros([1], (tch::Kind::Float, dev));
        sync(dev);
    }
    for mode in modes {
        let monitor = Monitor::start(dev.is_cuda());
        let (model, kind) = build_model(args, dev)?;
        let mut out = match *mode {
            "train" => bench_train(args, &model, dev, fused_adamw)?,
            "optim" => bench_optim(args, &model, dev, fused_adamw)?,
            _ => bench_generate(args, &model, dev, modes.len() > 1)?,
        };
        let peak = monitor.finish();
        let params = model.num_parameters();
        let o = out.as_object_mut().expect("object");
        o.insert("impl".into(), json!("sieve"));
        o.insert("mode".into(), json!(mode));
        o.insert("shape".into(), json!(args.shape));
        o.insert("device".into(), json!(format!("{dev:?}").to_lowercase()));
        o.insert("dtype".into(), json!(dtype_name(kind)));
        o.insert("params".into(), json!(params));
        o.insert("threads".into(), json!(tch::get_num_threads()));
        o.insert("fused_kernels".into(), json!(model.fused_kernels()));
        let settings = crate::torch_runtime::process_settings();
        o.insert("mkl_vendor_override".into(), json!(settings.mkl_vendor_override));
        o.insert("malloc_tuned".into(), json!(settings.malloc_tuned));
        o.insert("numerics_pinned".into(), json!(settings.numerics_pinned));
        if let Some(p) = peak {
            o.insert("peak_mem_gib".into(), json!(round(gib(p.bytes), 3)));
            o.insert("peak_total_gib".into(), json!(round(gib(p.total_bytes), 3)));
            o.insert("peak_mem_method".into(), json!(p.method));
        }
        if *mode == "train" {
            let peak_tflops = args.peak_tflops.or(dev.is_cuda().then_some(989.0));
            let tps = o["tokens_per_s"].as_f64().unwrap_or(0.0);
            o.insert(
                "mfu".into(),
                match peak_tflops {
                    Some(p) => json!(round(6.0 * params as f64 * tps / (p * 1e12), 4)),
                    None => Json::Null,
                },
            );
            o.insert("peak_tflops".into(), json!(peak_tflops));
        }
        println!("{}", serde_json::to_string(&out).unwrap_or_default());
        if !args.json {
            eprintln!("{}", summary(&out));
        }
        drop(model);
    }
    Ok(())
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// One readable line for a result.
fn summary(o: &Json) -> String {
    let mode = o["mode"].as_str().unwrap_or("");
    let mem = o["peak_mem_gib"]
        .as_f64()
        .map(|g| format!(", peak {g:.2} GiB"))
        .unwrap_or_default();
    if mode == "optim" {
        format!(
            "sieve {} AdamW update ({} parameters, {}) on {}: {:.6} s/step",
            o["shape"].as_str().unwrap_or(""),
            o["params"],
            if o["fused_adamw"] == true {
                "fused"
            } else {
                "plain"
            },
            o["device"].as_str().unwrap_or(""),
            o["s_per_step"].as_f64().unwrap_or(0.0),
        )
    } else if mode == "train" {
        format!(
            "sieve {} train {}×{} on {}: {:.0} tokens/s, {:.4} s/step{mem}, MFU {}",
            o["shape"].as_str().unwrap_or(""),
            o["batch"],
            o["seq"],
            o["device"].as_str().unwrap_or(""),
            o["tokens_per_s"].as_f64().unwrap_or(0.0),
            o["s_per_step"].as_f64().unwrap_or(0.0),
            o["mfu"]
        )
    } else {
        format!(
            "sieve {} generate {} prompts × {} new on {}: {:.0} new tokens/s, {:.2} s{mem}",
            o["shape"].as_str().unwrap_or(""),
            o["batch"],
            o["new_tokens"],
            o["device"].as_str().unwrap_or(""),
            o["tokens_per_s"].as_f64().unwrap_or(0.0),
            o["seconds"].as_f64().unwrap_or(0.0),
        )
    }
}

/// The training rows of a benchmark: `--batch` (default 8) rows of `--seq` ids.
fn train_rows(args: &ModelArgs, vocab: usize) -> Result<Vec<Example>, BenchError> {
    let b = args.batch.unwrap_or(8);
    let s = args.seq;
    if b == 0 || s < 2 {
        return Err(BenchError::Usage(
            "training needs --batch ≥ 1 and --seq ≥ 2".into(),
        ));
    }
    Ok((0..b)
        .map(|r| Example {
            tokens: (0..s).map(|j| train_token(r, j, vocab)).collect(),
            prompt_len: 1,
        })
        .collect())
}

/// Times `steps` optimiser steps (after `warmup`) of full-length rows through the SFT
/// step, reading the step values once at the end.
fn bench_train(
    args: &ModelArgs,
    model: &Transformer,
    dev: Device,
    fused_adamw: bool,
) -> Result<Json, BenchError> {
    let rows = train_rows(args, model.config().vocab_size)?;
    let (b, s) = (rows.len(), args.seq);
    let refs: Vec<&Example> = rows.iter().collect();
    let cfg = SftConfig {
        lr: 1e-4,
        batch_size: b,
        max_seq_len: s,
        ..Default::default()
    };
    let mut stepper = Stepper::new(model, &cfg);
    stepper.optimizer_mut().set_fused(fused_adamw);
    let mut run_steps = |n: usize, first: usize| -> Result<Vec<crate::train::sft::StepValues>, BenchError> {
        let mut vals = Vec::with_capacity(n);
        for i in 0..n {
            // Built every step, as the training loop does.
            let batch = SeqBatch::padded(&refs, 0, dev);
            vals.push(stepper.step(std::slice::from_ref(&batch), cfg.lr, first + i + 1)?);
        }
        Ok(vals)
    };
    let t0 = Instant::now();
    let warm = run_steps(args.warmup, 0)?;
    if let Some(v) = warm.last() {
        v.read()?;
    }
    sync(dev);
    let warm_s = t0.elapsed().as_secs_f64();
    let (t, c) = (Instant::now(), process_cpu_seconds());
    let vals = run_steps(args.steps, args.warmup)?;
    let last = vals.last().expect("steps ≥ 1").read()?;
    sync(dev);
    let secs = t.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - c;
    let first = vals[0].read()?;
    let tokens = (args.steps * b * s) as f64;
    Ok(json!({
        "batch": b,
        "seq": s,
        "steps": args.steps,
        "warmup": args.warmup,
        "warmup_s": round(warm_s, 3),
        "seconds": round(secs, 4),
        "s_per_step": round(secs / args.steps as f64, 5),
        "cpu_s_per_step": round(cpu / args.steps as f64, 5),
        "tokens_per_s": round(tokens / secs, 1),
        "loss_first": round(first.0, 4),
        "loss_last": round(last.0, 4),
        "grad_norm_last": round(last.1, 4),
        "fused_adamw": stepper.optimizer().is_fused(),
    }))
}

/// Times `steps` AdamW updates (after `warmup`) alone: the global gradient norm,
/// clipping at 1.0 and the update of every parameter, on the gradients of one training
/// batch (computed once, untimed; weight decay 0.1 so both parameter groups update).
fn bench_optim(
    args: &ModelArgs,
    model: &Transformer,
    dev: Device,
    fused_adamw: bool,
) -> Result<Json, BenchError> {
    let rows = train_rows(args, model.config().vocab_size)?;
    let refs: Vec<&Example> = rows.iter().collect();
    let cfg = AdamWConfig {
        weight_decay: 0.1,
        ..Default::default()
    };
    let mut opt = AdamW::with_fused(model, cfg, fused_adamw);
    let batch = SeqBatch::padded(&refs, 0, dev);
    crate::model::catch_torch("computing the benchmark's gradients", || {
        let loss = model
            .forward(&batch.input_ids, None, None, None)
            .to_kind(tch::Kind::Float)
            .square()
            .mean(tch::Kind::Float);
        loss.backward();
    })?;
    let mut run_steps = |n: usize| {
        for _ in 0..n {
            let norm = opt.grad_norm();
            opt.step(1e-4, 1.0, &norm);
        }
        sync(dev);
    };
    let t0 = Instant::now();
    run_steps(args.warmup);
    let warm_s = t0.elapsed().as_secs_f64();
    let (t, c) = (Instant::now(), process_cpu_seconds());
    run_steps(args.steps);
    let secs = t.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - c;
    Ok(json!({
        "steps": args.steps,
        "warmup": args.warmup,
        "warmup_s": round(warm_s, 3),
        "seconds": round(secs, 4),
        "s_per_step": round(secs / args.steps as f64, 6),
        "cpu_s_per_step": round(cpu / args.steps as f64, 6),
        "fused_adamw": opt.is_fused(),
    }))
}

/// Times one generation of `batch` prompts × `new_tokens` sampled tokens (after a short
/// warm-up generation over the same prompts).
fn bench_generate(
    args: &ModelArgs,
    model: &Transformer,
    dev: Device,
    both: bool,
) -> Result<Json, BenchError> {
    let b = if both {
        args.gen_batch.unwrap_or(64)
    } else {
        args.batch.unwrap_or(64)
    };
    let (p, n) = (args.prompt_len, args.new_tokens);
    if b == 0 || p < 4 || n == 0 {
        return Err(BenchError::Usage(
            "generation needs a batch ≥ 1, --prompt-len ≥ 4 and --new-tokens ≥ 1".into(),
        ));
    }
    let vocab = model.config().vocab_size;
    let tok = Tok::chars(&default_alphabet())?;
    let prompts: Vec<Vec<i64>> = (0..b)
        .map(|i| prompt(i, p, args.uniform_prompts, vocab))
        .collect();
    let opts = GenerateOptions {
        max_new_tokens: n,
        temperature: 1.0,
        top_p: 1.0,
        top_k: 0,
        stop_ids: Vec::new(),
        stop_strings: Vec::new(),
        seed: args.seed,
    };
    let t0 = Instant::now();
    generate(
        model,
        &tok,
        &prompts,
        &GenerateOptions {
            max_new_tokens: n.min(8),
            ..opts.clone()
        },
    )?;
    sync(dev);
    let warm_s = t0.elapsed().as_secs_f64();
    let (t, c) = (Instant::now(), process_cpu_seconds());
    let gens = generate(model, &tok, &prompts, &opts)?;
    sync(dev);
    let secs = t.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - c;
    let new: usize = gens.iter().map(|g| g.tokens.len()).sum();
    if new != b * n {
        return Err(BenchError::Failed(format!(
            "generated {new} tokens, expected {} (a row stopped early)",
            b * n
        )));
    }
    Ok(json!({
        "batch": b,
        "prompt_len": p,
        "uniform_prompts": args.uniform_prompts,
        "new_tokens": n,
        "warmup_s": round(warm_s, 3),
        "seconds": round(secs, 4),
        "s_per_token_step": round(secs / n as f64, 6),
        "cpu_seconds": round(cpu, 4),
        "tokens_per_s": round(new as f64 / secs, 1),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(mode: &str) -> ModelArgs {
        ModelArgs {
            shape: "nano".into(),
            mode: mode.into(),
            device: "cpu".into(),
            dtype: "auto".into(),
            batch: Some(2),
            gen_batch: Some(3),
            seq: 16,
            steps: 2,
            warmup: 1,
            prompt_len: 8,
            new_tokens: 5,
            uniform_prompts: false,
            fused: "auto".into(),
            adamw: "fused".into(),
            threads: None,
            peak_tflops: Some(1.0),
            vocab: None,
            seed: 0,
            json: true,
        }
    }

    #[test]
    fn shapes_have_the_documented_sizes() {
        let c = shape_config("qwen2-0.5b", None).unwrap();
        assert_eq!(
            (c.hidden_size, c.num_hidden_layers, c.vocab_size),
            (896, 24, 151_936)
        );
        // Qwen2.5-0.5B: 494,032,768 parameters with tied embeddings.
        assert_eq!(c.num_parameters(), 494_032_768);
        assert_eq!(shape_config("tiny", None).unwrap().vocab_size, 101);
        assert!(matches!(shape_config("huge", None), Err(BenchError::Usage(_))));
    }

    #[test]
    fn prompts_are_ragged_and_in_vocabulary() {
        let ps: Vec<Vec<i64>> = (0..64).map(|i| prompt(i, 128, false, 101)).collect();
        assert!(ps.iter().all(|p| (96..=128).contains(&p.len())));
        assert!(ps.iter().any(|p| p.len() < 128) && ps.iter().any(|p| p.len() == 128));
        assert!(ps.iter().flatten().all(|&t| (3..101).contains(&t)));
        assert_eq!(prompt(5, 16, true, 50).len(), 16);
        assert!((0..100).all(|j| (3..101).contains(&train_token(7, j, 101))));
    }

    #[test]
    fn train_and_generate_run_on_the_cpu() {
        let a = args("train");
        let dev = Device::Cpu;
        let (m, _) = build_model(&a, dev).unwrap();
        let t = bench_train(&a, &m, dev, true).unwrap();
        assert!(t["tokens_per_s"].as_f64().unwrap() > 0.0);
        assert!(t["loss_first"].as_f64().unwrap() > 0.0);
        assert_eq!(t["fused_adamw"], true);
        for fused in [true, false] {
            let o = bench_optim(&a, &m, dev, fused).unwrap();
            assert_eq!(o["fused_adamw"], fused);
            assert!(o["s_per_step"].as_f64().unwrap() > 0.0);
        }
        let g = bench_generate(&args("generate"), &m, dev, true).unwrap();
        assert_eq!(g["batch"], 3);
        assert!(g["tokens_per_s"].as_f64().unwrap() > 0.0);
        assert!(run(&a).is_ok());
    }
}
