//! Hugging Face model folders: `config.json`, `model.safetensors` (or a sharded
//! `model.safetensors.index.json` set), tokenizer files and `generation_config.json`.
//!
//! Invariants: parameter names in the files equal the `VarStore` names of
//! [`Transformer`] — loading is a name-by-name copy with shape checks (dtype converted
//! to the model's), every model parameter must be present (`lm_head.weight` may be
//! absent when embeddings are tied) and no unknown weight is silently dropped; saving
//! writes one safetensors file with the `{"format": "pt"}` metadata `transformers`
//! requires, omitting `lm_head.weight` when tied, exactly as `save_pretrained` does.

use super::transformer::Transformer;
use super::{ModelError, catch_torch};
use safetensors::{Dtype, SafeTensors};
use serde_json::{Value as Json, json};
use sieve::model::folder::{check_weights, read_config, read_json, weight_files};
use sieve::model::tokenizer::Tok;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// A model folder read into memory: weights, tokenizer and generation defaults.
#[derive(Debug)]
pub struct LoadedModel {
    pub model: Transformer,
    pub tok: Tok,
    /// `generation_config.json`, when the folder had one.
    pub generation_config: Option<Json>,
}

impl LoadedModel {
    /// Token ids that end a generation: the config's, the generation config's and the
    /// tokenizer's EOS ids, de-duplicated.
    pub fn stop_ids(&self) -> Vec<i64> {
        let mut ids: BTreeSet<i64> = self.model.config().eos_ids().into_iter().collect();
        if let Some(g) = self
            .generation_config
            .as_ref()
            .and_then(|g| g.get("eos_token_id"))
        {
            match g {
                Json::Number(n) => ids.extend(n.as_i64()),
                Json::Array(a) => ids.extend(a.iter().filter_map(Json::as_i64)),
                _ => {}
            }
        }
        ids.extend(self.tok.eos_id());
        ids.into_iter().collect()
    }
}

/// Copies named tensors from safetensors files into `model`'s parameters.
pub fn load_weights(model: &Transformer, files: &[PathBuf]) -> Result<(), ModelError> {
    let params: HashMap<String, Tensor> = model.named_parameters().into_iter().collect();
    let mut loaded = BTreeSet::new();
    let mut unexpected = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| ModelError::io(f, e))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| ModelError::Weights(format!("{}: {e}", f.display())))?;
        for (name, view) in st.tensors() {
            let Some(var) = params.get(&name) else {
                let tied_head = name == "lm_head.weight" && model.config().tie_word_embeddings;
                if !tied_head && !name.ends_with("rotary_emb.inv_freq") {
                    unexpected.push(name);
                }
                continue;
            };
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            if shape != var.size() {
                return Err(ModelError::Weights(format!(
                    "{name}: shape {shape:?} in {} but the config implies {:?}",
                    f.display(),
                    var.size()
                )));
            }
            let kind = match view.dtype() {
                Dtype::F32 => Kind::Float,
                Dtype::BF16 => Kind::BFloat16,
                Dtype::F16 => Kind::Half,
                Dtype::F64 => Kind::Double,
                d => return Err(ModelError::Weights(format!("{name}: unsupported dtype {d:?}"))),
            };
            let src = Tensor::f_from_data_size(view.data(), &shape, kind).map_err(ModelError::torch)?;
            let mut var = var.shallow_clone();
            catch_torch(&format!("copying weight {name}"), || {
                tch::no_grad(|| var.copy_(&src))
            })?;
            loaded.insert(name);
        }
    }
    if !unexpected.is_empty() {
        unexpected.sort();
        return Err(ModelError::Weights(format!(
            "weights the Llama/Qwen2 architecture does not have: {}",
            unexpected.join(", ")
        )));
    }
    let missing: Vec<&String> = params.keys().filter(|n| !loaded.contains(*n)).collect();
    if !missing.is_empty() {
        let mut m: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        m.sort();
        return Err(ModelError::Weights(format!("missing weights: {}", m.join(", "))));
    }
    Ok(())
}

/// Loads config + weights of a folder onto `device`, stored as `kind`.
pub fn load_model(dir: &Path, device: Device, kind: Kind) -> Result<Transformer, ModelError> {
    let config = read_config(dir)?;
    // Headers first: a config that does not match its files allocates nothing.
    check_weights(dir, &config)?;
    let files = weight_files(dir)?;
    let model = Transformer::new(config, device, kind)?;
    load_weights(&model, &files)?;
    Ok(model)
}

/// Loads a complete folder: model, tokenizer and generation config.
pub fn load_pretrained(dir: &Path, device: Device, kind: Kind) -> Result<LoadedModel, ModelError> {
    let model = load_model(dir, device, kind)?;
    let tok = Tok::from_dir(dir)?;
    let gp = dir.join("generation_config.json");
    let generation_config = if gp.is_file() { Some(read_json(&gp)?) } else { None };
    Ok(LoadedModel {
        model,
        tok,
        generation_config,
    })
}

fn st_dtype(kind: Kind) -> Result<(Dtype, &'static str), ModelError> {
    match kind {
        Kind::Int64 => Ok((Dtype::I64, "int64")),
        Kind::Float => Ok((Dtype::F32, "float32")),
        Kind::BFloat16 => Ok((Dtype::BF16, "bfloat16")),
        Kind::Half => Ok((Dtype::F16, "float16")),
        k => Err(ModelError::Invalid(format!("cannot save weights as {k:?}"))),
    }
}

/// Writes named tensors (f32, bf16, f16 or int64, any device) to one safetensors file
/// with the `{"format": "pt"}` metadata, through a temporary file renamed into place.
pub fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<(), ModelError> {
    let mut blobs: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, t) in tensors {
        let (dtype, _) = st_dtype(t.kind())?;
        let t = catch_torch("moving tensors to the CPU", || {
            tch::no_grad(|| t.to_device(Device::Cpu).contiguous())
        })?;
        let numel = t.numel();
        let mut buf = vec![0u8; numel * t.kind().elt_size_in_bytes()];
        t.copy_data_u8(&mut buf, numel);
        blobs.push((
            name.clone(),
            dtype,
            t.size().iter().map(|&d| d as usize).collect(),
            buf,
        ));
    }
    let views = blobs
        .iter()
        .map(|(n, dtype, shape, buf)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), buf)
                .map(|v| (n.clone(), v))
                .map_err(|e| ModelError::Weights(format!("{n}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let meta: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into_iter().collect();
    let tmp = path.with_extension("safetensors.tmp");
    safetensors::tensor::serialize_to_file(views, Some(meta), &tmp)
        .map_err(|e| ModelError::Weights(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| ModelError::io(path, e))
}

/// Reads every tensor of a safetensors file (on the CPU, in its stored dtype).
pub fn read_tensors(path: &Path) -> Result<Vec<(String, Tensor)>, ModelError> {
    Tensor::read_safetensors(path).map_err(|e| ModelError::Weights(format!("{}: {e}", path.display())))
}

/// Writes `model` (weights in `kind`, e.g. f32 or bf16), its tokenizer and a generation
/// config into `dir` (created if needed) as a `transformers`-loadable folder.
pub fn save_pretrained(
    model: &Transformer,
    tok: &Tok,
    generation_config: Option<&Json>,
    dir: &Path,
    kind: Kind,
) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let (_, dtype_name) = st_dtype(kind)?;
    let params: Vec<(String, Tensor)> = model
        .named_parameters()
        .into_iter()
        .map(|(n, t)| tch::no_grad(|| (n, t.to_kind(kind))))
        .collect();
    write_tensors(&dir.join("model.safetensors"), &params)?;

    let mut config = model.config().clone();
    config.set_dtype(dtype_name);
    let cp = dir.join("config.json");
    std::fs::write(&cp, config.to_json()).map_err(|e| ModelError::io(&cp, e))?;

    let gen_cfg = match generation_config {
        Some(g) => g.clone(),
        None => {
            let mut g = BTreeMap::new();
            g.insert("bos_token_id", json!(config.bos_token_id));
            g.insert("eos_token_id", json!(config.eos_token_id));
            g.insert("pad_token_id", json!(config.pad_token_id));
            json!(g)
        }
    };
    let gp = dir.join("generation_config.json");
    std::fs::write(&gp, serde_json::to_vec_pretty(&gen_cfg).unwrap_or_default())
        .map_err(|e| ModelError::io(&gp, e))?;
    tok.save(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sieve::model::config::{Family, ModelConfig, Sizes};
    use sieve::model::folder::check_folder;
    use sieve::model::tokenizer::default_alphabet;

    #[test]
    fn save_load_round_trip() {
        let tok = Tok::chars(&default_alphabet()).unwrap();
        let mut sizes = Sizes::preset("nano").unwrap();
        for (fam, tied) in [(Family::Qwen2, true), (Family::Llama, false)] {
            sizes.tie_word_embeddings = tied;
            let cfg = ModelConfig::for_tokenizer(fam, &sizes, &tok);
            let m = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
            m.init_weights(1);
            let dir = tempfile::tempdir().unwrap();
            save_pretrained(&m, &tok, None, dir.path(), Kind::Float).unwrap();
            let l = load_pretrained(dir.path(), Device::Cpu, Kind::Float).unwrap();
            check_folder(dir.path()).unwrap();
            for ((a, x), (b, y)) in m.named_parameters().iter().zip(l.model.named_parameters().iter()) {
                assert_eq!(a, b);
                assert!(x.equal(y), "{a} differs");
            }
            assert_eq!(l.stop_ids(), vec![2]);
            // bf16 export loads back within bf16 rounding.
            let dir2 = tempfile::tempdir().unwrap();
            save_pretrained(&m, &tok, None, dir2.path(), Kind::BFloat16).unwrap();
            let b = load_model(dir2.path(), Device::Cpu, Kind::Float).unwrap();
            let (x, y) = (&m.named_parameters()[0].1, &b.named_parameters()[0].1);
            assert!(x.allclose(y, 1e-2, 1e-3, false));
            assert_eq!(read_config(dir2.path()).unwrap().dtype(), Some("bfloat16"));
        }
    }

    /// Length of a safetensors file's 8-byte prefix plus its header.
    fn header_len(bytes: &[u8]) -> usize {
        8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
    }

    #[test]
    fn missing_and_unexpected_weights_are_errors() {
        let tok = Tok::chars("ab").unwrap();
        let sizes = Sizes::preset("nano").unwrap();
        let cfg = ModelConfig::new(Family::Qwen2, &sizes, tok.vocab_size(), None, None, None);
        let m = Transformer::new(cfg.clone(), Device::Cpu, Kind::Float).unwrap();
        let dir = tempfile::tempdir().unwrap();
        save_pretrained(&m, &tok, None, dir.path(), Kind::Float).unwrap();
        let mut bigger = cfg;
        bigger.num_hidden_layers = 3;
        std::fs::write(dir.path().join("config.json"), bigger.to_json()).unwrap();
        let e = load_model(dir.path(), Device::Cpu, Kind::Float)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing weights: model.layers.2."), "{e}");
        // A truncated file is named at the check, before anything is allocated.
        std::fs::write(dir.path().join("config.json"), m.config().to_json()).unwrap();
        let st = dir.path().join("model.safetensors");
        let bytes = std::fs::read(&st).unwrap();
        std::fs::write(&st, &bytes[..bytes.len() - 100]).unwrap();
        for e in [
            check_folder(dir.path()).unwrap_err().to_string(),
            load_model(dir.path(), Device::Cpu, Kind::Float)
                .unwrap_err()
                .to_string(),
        ] {
            assert!(
                e.contains("model.safetensors: truncated: its header describes")
                    && e.contains(&format!(
                        "the file holds {}",
                        bytes.len() - 100 - header_len(&bytes)
                    )),
                "{e}"
            );
        }
        std::fs::write(&st, &bytes[..4]).unwrap();
        let e = check_folder(dir.path()).unwrap_err().to_string();
        assert!(e.contains("4 bytes, too short for a safetensors file"), "{e}");
        let mut padded = bytes.clone();
        padded.extend([0u8; 3]);
        std::fs::write(&st, &padded).unwrap();
        let e = check_folder(dir.path()).unwrap_err().to_string();
        assert!(e.contains("3 bytes after the last tensor"), "{e}");
    }
}
