//! The body of `model.init`: draws the weights of a from-scratch decoder on the CPU
//! from the seed and saves the model as a Hugging Face folder (f32).
//!
//! Invariant: the bytes depend only on the parameters and the tokenizer (weights are
//! drawn on the CPU whatever the device), so the kind's key has no device class.

use crate::model::tokenizer::default_alphabet;
use crate::model::{ModelConfig, Tok, Transformer, save_pretrained};
use sieve::stages::model_init::{ModelInitParams, check_init_config};
use sieve::stages::{StageContext, StageError, StageResult};
use std::path::Path;
use tch::{Device, Kind};

/// `model.init`'s body.
pub fn run(p: &ModelInitParams, ctx: &StageContext) -> StageResult {
    let tok = if p.tokenizer.is_chars() {
        let alphabet = p.alphabet.clone().unwrap_or_else(default_alphabet);
        Tok::chars(&alphabet)?
    } else {
        Tok::from_dir(Path::new(&p.tokenizer.0))?
    };
    let (family, sizes) = p.sizes()?;
    let cfg = ModelConfig::for_tokenizer(family, &sizes, &tok);
    check_init_config(&cfg).map_err(StageError::Input)?;
    let model = Transformer::new(cfg, Device::Cpu, Kind::Float)?;
    model.init_weights(p.seed.0);
    save_pretrained(&model, &tok, None, ctx.out_dir(), Kind::Float)?;
    ctx.log(&format!(
        "model.init: {} {family:?}, {} parameters, vocab {}",
        p.arch.0,
        model.num_parameters(),
        tok.vocab_size()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::stages::testutil::{kind, run_kind};
    use sieve::model::folder::check_folder;
    use sieve::stages::StageError;
    use sieve::value::Value;
    use std::path::Path;

    #[test]
    fn init_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let params = [
            ("arch", Value::Str("nano".into())),
            ("seed", Value::Int(3)),
            ("layers", Value::Int(1)),
        ];
        let w = dir.path().join("w");
        run_kind(kind("model.init"), &params, &[], &a, &w).unwrap();
        let b = dir.path().join("b");
        run_kind(kind("model.init"), &params, &[], &b, &w).unwrap();
        let bytes = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
        assert_eq!(bytes(&a), bytes(&b), "model.init is deterministic");
        let (cfg, _) = check_folder(&a).unwrap();
        assert_eq!((cfg.num_hidden_layers, cfg.model_type.as_str()), (1, "llama"));
        let c = dir.path().join("c");
        let load = [("path", Value::Str(a.display().to_string()))];
        run_kind(kind("model.load"), &load, &[], &c, &w).unwrap();
        assert_eq!(bytes(&a), bytes(&c));
        assert!(c.join("tokenizer.json").is_file());
        // The artifact does not share the source's bytes: rewriting the source in place
        // leaves it unchanged.
        let before = bytes(&c);
        std::fs::write(a.join("model.safetensors"), b"rewritten").unwrap();
        assert_eq!(bytes(&c), before);
    }

    /// A copy of model folder `src` at `dst` with `edit` applied.
    fn edited_copy(src: &Path, dst: &Path, edit: impl FnOnce(&Path)) {
        std::fs::create_dir_all(dst).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
        edit(dst);
    }

    #[test]
    fn load_checks_the_folder_before_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("w");
        let a = dir.path().join("a");
        run_kind(
            kind("model.init"),
            &[("arch", Value::Str("nano".into()))],
            &[],
            &a,
            &w,
        )
        .unwrap();
        let load = |src: &Path| {
            run_kind(
                kind("model.load"),
                &[("path", Value::Str(src.display().to_string()))],
                &[],
                &dir.path().join("out").join(src.file_name().unwrap()),
                &w,
            )
        };
        // A config with a billion layers: refused by its bounds, nothing allocated.
        let huge = dir.path().join("huge");
        edited_copy(&a, &huge, |d| {
            let p = d.join("config.json");
            let mut j: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            j["num_hidden_layers"] = serde_json::json!(1_000_000_000u64);
            std::fs::write(&p, j.to_string()).unwrap();
        });
        let e = load(&huge);
        assert!(
            matches!(&e, Err(StageError::Input(m)) if m.contains("num_hidden_layers = 1000000000 is above")),
            "{e:?}"
        );
        // A truncated weights file: an error at model.load naming the file.
        let cut = dir.path().join("cut");
        edited_copy(&a, &cut, |d| {
            let p = d.join("model.safetensors");
            let bytes = std::fs::read(&p).unwrap();
            std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        });
        let e = load(&cut);
        assert!(
            matches!(&e, Err(StageError::Input(m)) if m.contains(&format!("{}: truncated", cut.join("model.safetensors").display()))),
            "{e:?}"
        );
    }
}
