//! Hugging Face model folders: `config.json`, `model.safetensors` (or a sharded
//! `model.safetensors.index.json` set), tokenizer files and `generation_config.json`.
//!
//! Invariants: parameter names in the files equal the `VarStore` names of
//! [`Transformer`] — loading is a name-by-name copy with shape checks (dtype converted
//! to the model's), every model parameter must be present (`lm_head.weight` may be
//! absent when embeddings are tied) and no unknown weight is silently dropped; saving
//! writes one safetensors file with the `{"format": "pt"}` metadata `transformers`
//! requires, omitting `lm_head.weight` when tied, exactly as `save_pretrained` does.

use super::config::ModelConfig;
use super::tokenizer::Tok;
use super::transformer::Transformer;
use super::{ModelError, catch_torch};
use safetensors::{Dtype, SafeTensors};
use serde_json::{Value as Json, json};
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

fn read_json(path: &Path) -> Result<Json, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| ModelError::Invalid(format!("{}: {e}", path.display())))
}

/// Reads `config.json` of a model folder.
pub fn read_config(dir: &Path) -> Result<ModelConfig, ModelError> {
    let p = dir.join("config.json");
    let text = std::fs::read_to_string(&p).map_err(|e| ModelError::io(&p, e))?;
    ModelConfig::from_json(&text)
}

/// The safetensors files holding a folder's weights.
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let j = read_json(&index)?;
        let map = j
            .get("weight_map")
            .and_then(Json::as_object)
            .ok_or_else(|| ModelError::Weights(format!("{} has no weight_map", index.display())))?;
        let files: BTreeSet<&str> = map.values().filter_map(Json::as_str).collect();
        // Shards are files of the folder itself (as `save_pretrained` writes them): an
        // index naming `../x` or `/x` would make loading read outside the folder.
        if let Some(f) = files.iter().find(|f| !is_plain_file_name(f)) {
            return Err(ModelError::Weights(format!(
                "{} names the shard `{f}`, which is not a file name in the folder",
                index.display()
            )));
        }
        return Ok(files.into_iter().map(|f| dir.join(f)).collect());
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    Err(ModelError::Weights(format!(
        "{} has neither model.safetensors nor model.safetensors.index.json (PyTorch .bin checkpoints are not supported)",
        dir.display()
    )))
}

/// Whether `name` is one plain file name (no folder, `..` or root).
fn is_plain_file_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(_)), None)
    )
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
            let src = Tensor::f_from_data_size(view.data(), &shape, kind)?;
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

/// The parameter names and shapes a config implies (HF names), without allocating.
pub fn expected_shapes(config: &ModelConfig) -> BTreeMap<String, Vec<i64>> {
    let (h, i, v) = (
        config.hidden_size as i64,
        config.intermediate_size as i64,
        config.vocab_size as i64,
    );
    let (nh, nkv, hd) = (
        config.num_attention_heads as i64,
        config.kv_heads() as i64,
        config.head_dim() as i64,
    );
    let mut m = BTreeMap::new();
    m.insert("model.embed_tokens.weight".to_string(), vec![v, h]);
    m.insert("model.norm.weight".to_string(), vec![h]);
    if !config.tie_word_embeddings {
        m.insert("lm_head.weight".to_string(), vec![v, h]);
    }
    for l in 0..config.num_hidden_layers {
        let p = format!("model.layers.{l}");
        let mut lin = |name: &str, d_in: i64, d_out: i64, bias: bool| {
            m.insert(format!("{p}.{name}.weight"), vec![d_out, d_in]);
            if bias {
                m.insert(format!("{p}.{name}.bias"), vec![d_out]);
            }
        };
        lin("self_attn.q_proj", h, nh * hd, config.qkv_bias());
        lin("self_attn.k_proj", h, nkv * hd, config.qkv_bias());
        lin("self_attn.v_proj", h, nkv * hd, config.qkv_bias());
        lin("self_attn.o_proj", nh * hd, h, config.o_bias());
        lin("mlp.gate_proj", h, i, config.mlp_bias());
        lin("mlp.up_proj", h, i, config.mlp_bias());
        lin("mlp.down_proj", i, h, config.mlp_bias());
        m.insert(format!("{p}.input_layernorm.weight"), vec![h]);
        m.insert(format!("{p}.post_attention_layernorm.weight"), vec![h]);
    }
    m
}

/// One tensor of a safetensors header.
#[derive(Debug, Clone, PartialEq)]
struct HeaderEntry {
    name: String,
    shape: Vec<i64>,
    /// Bytes of tensor data it says it holds.
    bytes: u64,
}

/// Bytes per element of a safetensors dtype name.
fn dtype_bytes(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" => 1,
        "U16" | "I16" | "F16" | "BF16" => 2,
        "U32" | "I32" | "F32" => 4,
        "U64" | "I64" | "F64" => 8,
        _ => return None,
    })
}

/// Largest safetensors header sieve reads (real ones are kilobytes to a few megabytes).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Reads the header of a safetensors file — never its tensor data — and checks it against
/// the file's size: every tensor's byte range lies in the data section and holds exactly
/// its shape's elements, and the data section ends where the last range ends. A truncated
/// (or padded) file is an error naming it, before anything is allocated for its tensors.
fn read_header(file: &Path) -> Result<Vec<HeaderEntry>, ModelError> {
    use std::io::Read;
    let bad = |m: String| ModelError::Weights(format!("{}: {m}", file.display()));
    let mut f = std::fs::File::open(file).map_err(|e| ModelError::io(file, e))?;
    let file_len = f.metadata().map_err(|e| ModelError::io(file, e))?.len();
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|_| bad(format!("{file_len} bytes, too short for a safetensors file")))?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER_BYTES {
        return Err(bad(format!("implausible safetensors header size {n}")));
    }
    let Some(data_len) = file_len.checked_sub(8 + n) else {
        return Err(bad(format!(
            "truncated: {file_len} bytes cannot hold its {n}-byte header"
        )));
    };
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(|e| ModelError::io(file, e))?;
    let j: Json = serde_json::from_slice(&header).map_err(|e| bad(format!("bad safetensors header: {e}")))?;
    let obj = j
        .as_object()
        .ok_or_else(|| bad("bad safetensors header".into()))?;
    let mut entries = Vec::with_capacity(obj.len());
    let mut data_end = 0u64;
    for (name, v) in obj.iter().filter(|(k, _)| k.as_str() != "__metadata__") {
        let entry = |what: &str| bad(format!("tensor {name}: {what}"));
        let dtype = v.get("dtype").and_then(Json::as_str).unwrap_or("?");
        let size = dtype_bytes(dtype).ok_or_else(|| entry(&format!("unknown dtype `{dtype}`")))?;
        let dims: Vec<u64> = v
            .get("shape")
            .and_then(Json::as_array)
            .and_then(|a| a.iter().map(Json::as_u64).collect())
            .ok_or_else(|| entry("no shape"))?;
        let bytes = dims
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d))
            .filter(|b| *b <= file_len)
            .ok_or_else(|| entry(&format!("shape {dims:?} is larger than the file")))?;
        let range: Vec<u64> = v
            .get("data_offsets")
            .and_then(Json::as_array)
            .and_then(|a| a.iter().map(Json::as_u64).collect())
            .filter(|r: &Vec<u64>| r.len() == 2 && r[0] <= r[1])
            .ok_or_else(|| entry("no valid data_offsets"))?;
        if range[1] - range[0] != bytes {
            return Err(entry(&format!(
                "data_offsets {range:?} span {} bytes, but {dtype} {dims:?} needs {bytes}",
                range[1] - range[0]
            )));
        }
        data_end = data_end.max(range[1]);
        entries.push(HeaderEntry {
            name: name.clone(),
            shape: dims.iter().map(|&d| d as i64).collect(),
            bytes,
        });
    }
    if data_end > data_len {
        return Err(bad(format!(
            "truncated: its header describes {data_end} bytes of tensor data, but the file holds {data_len}"
        )));
    }
    if data_end < data_len {
        return Err(bad(format!(
            "{} bytes after the last tensor (the header describes {data_end} bytes of tensor data)",
            data_len - data_end
        )));
    }
    Ok(entries)
}

/// Checks a folder's safetensors files against `config` by their headers only (no tensor
/// data is read or allocated): every weight the config implies is present with its shape,
/// no weight outside the architecture, every file's byte ranges consistent with its size.
pub fn check_weights(dir: &Path, config: &ModelConfig) -> Result<(), ModelError> {
    let expected = expected_shapes(config);
    let mut found = BTreeMap::new();
    for f in weight_files(dir)? {
        for e in read_header(&f)? {
            found.insert(e.name.clone(), e);
        }
    }
    let missing: Vec<&str> = expected
        .keys()
        .filter(|n| !found.contains_key(*n))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let shown = missing.iter().take(5).copied().collect::<Vec<_>>().join(", ");
        return Err(ModelError::Weights(format!(
            "missing weights: {shown}{} (the config implies {} tensors)",
            if missing.len() > 5 {
                format!(" and {} more", missing.len() - 5)
            } else {
                String::new()
            },
            expected.len()
        )));
    }
    for (name, shape) in &expected {
        let e = &found[name];
        if &e.shape != shape {
            return Err(ModelError::Weights(format!(
                "{name}: shape {:?}, but the config implies {shape:?}",
                e.shape
            )));
        }
    }
    let unexpected: Vec<&String> = found
        .keys()
        .filter(|k| {
            !expected.contains_key(*k) && !k.ends_with("rotary_emb.inv_freq") && *k != "lm_head.weight"
        })
        .collect();
    if let Some(u) = unexpected.first() {
        return Err(ModelError::Weights(format!(
            "weight {u} (and {} more) does not belong to the Llama/Qwen2 architecture",
            unexpected.len() - 1
        )));
    }
    Ok(())
}

/// Checks a model folder without loading its weights: config supported and within
/// bounds, weights consistent with it and with the files' sizes ([`check_weights`]),
/// tokenizer readable.
pub fn check_folder(dir: &Path) -> Result<(ModelConfig, Tok), ModelError> {
    let config = read_config(dir)?;
    check_weights(dir, &config)?;
    let tok = Tok::from_dir(dir)?;
    Ok((config, tok))
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
    use crate::model::config::{Family, Sizes};
    use crate::model::tokenizer::default_alphabet;

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

    #[test]
    fn shards_must_be_files_of_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let index = |shard: &str| {
            let j = json!({"weight_map": {"model.embed_tokens.weight": shard}});
            std::fs::write(dir.path().join("model.safetensors.index.json"), j.to_string()).unwrap();
        };
        index("model-00001-of-00001.safetensors");
        assert_eq!(
            weight_files(dir.path()).unwrap(),
            [dir.path().join("model-00001-of-00001.safetensors")]
        );
        for bad in [
            "../outside.safetensors",
            "/etc/passwd",
            "sub/../../x.safetensors",
            "..",
            "",
        ] {
            index(bad);
            let e = weight_files(dir.path()).unwrap_err().to_string();
            assert!(e.contains("not a file name in the folder"), "{bad}: {e}");
        }
    }
}
