//! Hugging Face model folders read without libtorch: `config.json`, the safetensors
//! files' headers (never their tensor data) and the tokenizer. `sieve check` and the
//! `model.load` stage use it to refuse a folder that cannot load before anything is
//! allocated; the libtorch side loads only folders that pass.
//!
//! Invariants: no tensor data is read here; a header is trusted only after its byte
//! ranges were checked against the file's size; shard indexes may only name files of the
//! folder itself.

use super::ModelError;
use super::config::ModelConfig;
use super::tokenizer::Tok;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub fn read_json(path: &Path) -> Result<Json, ModelError> {
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
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
