//! `sieve bench parity`: the logits of a Hugging Face model folder on given token ids
//! (and, optionally, greedy continuations of left-padded prompts) on a chosen device
//! and dtype, written as JSON so that a Python script can compare them with
//! `transformers` on the same card (`scripts/bench/cuda_parity.py`).
//!
//! Output object: `shape` (`[b, t, vocab]`), `logits` (flat, row-major, f32),
//! `device`, `dtype`, `max_abs_logit`, and `greedy` (one id list per prompt) when
//! prompts were given.

use super::{BenchError, dtype, dtype_name};
use crate::model::hf::load_model;
use crate::model::tokenizer::{Tok, default_alphabet};
use crate::model::{GenerateOptions, generate};
use serde_json::json;
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

/// Arguments of `sieve bench parity`.
#[derive(clap::Args, Debug, Clone)]
pub struct ParityArgs {
    /// A Hugging Face model folder (config.json + safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Input rows: comma-separated ids, rows separated by `;` (equal lengths).
    #[arg(long)]
    pub ids: String,
    /// Prompts for greedy decoding, same syntax (lengths may differ: left-padded).
    #[arg(long)]
    pub prompts: Option<String>,
    /// New tokens per prompt for greedy decoding.
    #[arg(long, default_value_t = 12)]
    pub greedy: usize,
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// `auto` (bf16 on CUDA, f32 on CPU), `f32`, `bf16`.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Fused kernels: `auto` (the device default), `on`, `off`.
    #[arg(long, default_value = "auto")]
    pub fused: String,
    /// Write the JSON here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Parses `1,2,3;4,5` into rows of ids.
pub fn parse_rows(s: &str) -> Result<Vec<Vec<i64>>, BenchError> {
    s.split(';')
        .filter(|r| !r.trim().is_empty())
        .map(|r| {
            r.split(',')
                .map(|x| {
                    x.trim()
                        .parse::<i64>()
                        .map_err(|_| BenchError::Usage(format!("`{x}` is not a token id")))
                })
                .collect()
        })
        .collect()
}

/// Runs `sieve bench parity`.
pub fn run(args: &ParityArgs) -> Result<(), BenchError> {
    let dev = super::device(&args.device)?;
    let kind = dtype(&args.dtype, dev)?;
    let rows = parse_rows(&args.ids)?;
    let t = rows.first().map(Vec::len).unwrap_or(0);
    if t == 0 || rows.iter().any(|r| r.len() != t) {
        return Err(BenchError::Usage(
            "--ids needs non-empty rows of equal length".into(),
        ));
    }
    let mut model = load_model(&args.model, dev, kind)?;
    super::set_fused(&mut model, &args.fused)?;
    let flat: Vec<i64> = rows.concat();
    let x = Tensor::from_slice(&flat)
        .view([rows.len() as i64, t as i64])
        .to_device(dev);
    let logits = tch::no_grad(|| model.forward(&x, None, None, None))
        .to_kind(Kind::Float)
        .to_device(Device::Cpu);
    let shape = logits.size();
    let max_abs = logits.abs().max().double_value(&[]);
    let values: Vec<f32> = Vec::<f32>::try_from(logits.view([-1]))
        .map_err(|e: tch::TchError| BenchError::Failed(e.to_string()))?;
    let mut out = json!({
        "shape": shape,
        "device": format!("{dev:?}").to_lowercase(),
        "dtype": dtype_name(kind),
        "fused_kernels": model.fused_kernels(),
        "max_abs_logit": max_abs,
        "logits": values,
    });
    if let Some(p) = &args.prompts {
        let prompts = parse_rows(p)?;
        let tok = Tok::chars(&default_alphabet())?;
        let gens = generate(
            &model,
            &tok,
            &prompts,
            &GenerateOptions {
                max_new_tokens: args.greedy,
                ..Default::default()
            },
        )?;
        out["greedy"] = json!(gens.into_iter().map(|g| g.tokens).collect::<Vec<_>>());
    }
    let text = serde_json::to_string(&out).unwrap_or_default();
    match &args.out {
        Some(p) => {
            std::fs::write(p, text).map_err(|e| BenchError::Failed(format!("{}: {e}", p.display())))?
        }
        None => println!("{text}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::{Family, ModelConfig, Sizes};
    use crate::model::{Transformer, save_pretrained};

    #[test]
    fn rows_parse() {
        assert_eq!(parse_rows("1,2;3, 4").unwrap(), vec![vec![1, 2], vec![3, 4]]);
        assert!(parse_rows("1,x").is_err());
    }

    #[test]
    fn writes_logits_of_a_saved_model() {
        let tok = Tok::chars(&default_alphabet()).unwrap();
        let cfg = ModelConfig::new(
            Family::Qwen2,
            &Sizes::preset("nano").unwrap(),
            tok.vocab_size(),
            tok.bos_id(),
            tok.eos_id(),
            Some(0),
        );
        let m = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
        m.init_weights(1);
        let dir = tempfile::tempdir().unwrap();
        save_pretrained(&m, &tok, None, dir.path(), Kind::Float).unwrap();
        let out = dir.path().join("out.json");
        run(&ParityArgs {
            model: dir.path().to_path_buf(),
            ids: "1,5,6,7;1,8,9,10".into(),
            prompts: Some("1,5,6;1,9".into()),
            greedy: 3,
            device: "cpu".into(),
            dtype: "f32".into(),
            fused: "on".into(),
            out: Some(out.clone()),
        })
        .unwrap();
        let j: serde_json::Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
        assert_eq!(j["shape"], json!([2, 4, tok.vocab_size()]));
        assert_eq!(j["logits"].as_array().unwrap().len(), 8 * tok.vocab_size());
        assert_eq!(j["greedy"][1].as_array().unwrap().len(), 3);
    }
}
