//! Parity with the reference implementation (`transformers`), both directions:
//! a random model saved by `transformers` loads in sieve with the same logits and
//! greedy continuations, and a sieve-trained model loads in `transformers` with the same
//! logits and tokenizer ids.
//!
//! The tests need the Python of the torch virtual environment; they run
//! `scripts/parity/qwen2_parity.py` with `$SIEVE_PYTHON` and are reported as skipped
//! when that variable was unset at build time (a failure under CI; `crate::testenv`).

use super::config::{Family, ModelConfig, Sizes};
use super::generate::{GenerateOptions, generate};
use super::hf::{load_model, save_pretrained};
use super::logprobs::Example;
use super::tokenizer::{Tok, default_alphabet};
use super::transformer::Transformer;
use crate::train::sft::{NoHooks, SftConfig, train_sft};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Device, Kind, Tensor};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/parity/qwen2_parity.py")
}

fn run(py: &str, args: &[&str]) {
    let out = Command::new(py)
        .arg(script())
        .args(args)
        .output()
        .expect("cannot start $SIEVE_PYTHON");
    assert!(
        out.status.success(),
        "parity script failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn floats(v: &Json) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn ids(v: &Json) -> Vec<Vec<i64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect()
        })
        .collect()
}

fn max_abs_diff(a: &Tensor, b: &[f32]) -> f64 {
    let b = Tensor::from_slice(b).view(a.size().as_slice());
    (a - b).abs().max().double_value(&[])
}

#[test]
#[cfg_attr(
    sieve_skip_python,
    ignore = "SIEVE_PYTHON is not set (the torch virtual environment's Python)"
)]
fn transformers_model_loads_with_same_logits_and_greedy_output() {
    let py = crate::testenv::python();
    for family in ["qwen2", "llama"] {
        let dir = tempfile::tempdir().unwrap();
        run(&py, &["make", dir.path().to_str().unwrap(), "--family", family]);
        let exp: Json =
            serde_json::from_slice(&std::fs::read(dir.path().join("expected.json")).unwrap()).unwrap();
        let model = load_model(dir.path(), Device::Cpu, Kind::Float).unwrap();
        let input = ids(&exp["input_ids"]);
        let flat: Vec<i64> = input.concat();
        let x = Tensor::from_slice(&flat).view([input.len() as i64, -1]);
        let logits = tch::no_grad(|| model.forward(&x, None, None, None));
        let diff = max_abs_diff(&logits, &floats(&exp["logits"]));
        eprintln!("parity {family}: max |Δlogits| = {diff:.3e}");
        assert!(diff <= 1e-4, "{family}: max abs logit difference {diff}");
        // Greedy continuation of a left-padded batch, as `generate(do_sample=False)`.
        let tok = Tok::chars(&default_alphabet()).unwrap();
        let prompts = ids(&exp["prompts"]);
        let opts = GenerateOptions {
            max_new_tokens: 12,
            ..Default::default()
        };
        let gens = generate(&model, &tok, &prompts, &opts).unwrap();
        let got: Vec<Vec<i64>> = gens.into_iter().map(|g| g.tokens).collect();
        assert_eq!(got, ids(&exp["greedy"]), "{family}: greedy continuation");
    }
}

#[test]
#[cfg_attr(
    sieve_skip_python,
    ignore = "SIEVE_PYTHON is not set (the torch virtual environment's Python)"
)]
fn sieve_trained_model_loads_in_transformers() {
    let py = crate::testenv::python();
    let tok = Tok::chars(&default_alphabet()).unwrap();
    for (family, tied) in [(Family::Qwen2, true), (Family::Llama, false)] {
        let mut sizes = Sizes::preset("nano").unwrap();
        sizes.tie_word_embeddings = tied;
        let cfg = ModelConfig::for_tokenizer(family, &sizes, &tok);
        let model = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
        model.init_weights(3);
        let examples: Vec<Example> = (0..32)
            .map(|i| {
                let p = tok.encode(&format!("{i}+{i}="), true).unwrap();
                let mut t = p.clone();
                t.extend(tok.encode(&format!("{}", 2 * i), false).unwrap());
                t.push(2);
                Example {
                    tokens: t,
                    prompt_len: p.len(),
                }
            })
            .collect();
        let sft = SftConfig {
            steps: Some(5),
            batch_size: 8,
            lr: 1e-2,
            ..Default::default()
        };
        train_sft(&model, &examples, &[], tok.pad_id(), &sft, None, &mut NoHooks).unwrap();
        let dir = tempfile::tempdir().unwrap();
        save_pretrained(&model, &tok, None, dir.path(), Kind::Float).unwrap();
        let text = "12+34=46\nThe quick brown fox.";
        let probe = tok.encode(text, true).unwrap();
        let input: Vec<i64> = [probe.clone(), probe.iter().rev().copied().collect()].concat();
        let json = serde_json::json!({"input_ids": [probe, input[probe.len()..].to_vec()], "text": text});
        std::fs::write(dir.path().join("probe.json"), json.to_string()).unwrap();
        run(&py, &["check", dir.path().to_str().unwrap()]);
        let r: Json =
            serde_json::from_slice(&std::fs::read(dir.path().join("reference.json")).unwrap()).unwrap();
        let x = Tensor::from_slice(&input).view([2, -1]);
        let logits = tch::no_grad(|| model.forward(&x, None, None, None));
        let diff = max_abs_diff(&logits, &floats(&r["logits"]));
        eprintln!("reverse parity {family:?}: max |Δlogits| = {diff:.3e}");
        assert!(diff <= 1e-4, "{family:?}: max abs logit difference {diff}");
        // transformers 5.x forces its own byte-level `Qwen2Tokenizer` on every
        // model_type "qwen2" folder, whatever tokenizer.json says; the built-in character
        // tokenizer therefore round-trips through `AutoTokenizer` only with the Llama family.
        if family == Family::Llama {
            let hf_ids: Vec<i64> = r["text_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            assert_eq!(hf_ids, tok.encode(text, true).unwrap(), "tokenizer ids");
            assert_eq!(r["decoded"], text);
        }
    }
}
