//! Model stage kinds — `model.init` (a seeded from-scratch decoder with the built-in
//! character tokenizer or a given one) and `model.load` (a local Hugging Face folder) —
//! plus the helpers every model-consuming stage shares: device resolution, error
//! mapping, dataset column reading and progress hooks.
//!
//! Invariants: a model artifact is exactly a Hugging Face folder in `out_dir`
//! (`config.json`, `model.safetensors` or shards, tokenizer files,
//! `generation_config.json`) that `transformers` loads unchanged; the library errors and
//! tch panics of a stage become [`StageError`]s (inputs/parameters → `Input`, the rest →
//! `Failed`), never a crash of the executor.

use super::{
    ArtifactKind, InputSpec, ParamSpec, ParamType, StageContext, StageError, StageKind, StageResult,
};
use crate::model::config::{Family, ModelConfig, PRESETS, Sizes, limits};
use crate::model::tokenizer::{Tok, default_alphabet};
use crate::model::{ModelError, Transformer, check_folder, parse_device};
use crate::train::TrainError;
use crate::value::Value;
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Device, Kind};

/// The model stage kinds.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![Box::new(Init), Box::new(Load)]
}

/// Maps a model-library error: configuration / tokenizer / device / weights problems are
/// the user's input, libtorch and I/O failures are run failures.
pub(crate) fn model_err(e: ModelError) -> StageError {
    match e {
        ModelError::Config(_)
        | ModelError::Tokenizer(_)
        | ModelError::Device(_)
        | ModelError::Weights(_)
        | ModelError::Invalid(_) => StageError::Input(e.to_string()),
        _ => StageError::Failed(e.to_string()),
    }
}

/// Maps a training-library error.
pub(crate) fn train_err(e: TrainError) -> StageError {
    match e {
        TrainError::Cancelled => StageError::Cancelled,
        TrainError::Invalid(m) => StageError::Input(m),
        TrainError::Model(m) => model_err(m),
        other => StageError::Failed(other.to_string()),
    }
}

/// Sampling options from the generation parameters shared by `evaluate` and the
/// sampling scores (`max_new_tokens`, `temperature`, `top_p`, `top_k`, `stop`); the
/// per-row seed is set by the caller.
pub(crate) fn generate_options(
    p: &super::Params,
    loaded: &crate::model::LoadedModel,
) -> Result<crate::model::GenerateOptions, StageError> {
    let stop_strings = match p.get("stop") {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    Ok(crate::model::GenerateOptions {
        max_new_tokens: p.usize("max_new_tokens")?,
        temperature: p.f64("temperature")?,
        top_p: p.f64("top_p")?,
        top_k: p.usize("top_k")?,
        stop_ids: loaded.stop_ids(),
        stop_strings,
        seed: 0,
    })
}

/// The stage's `device` parameter, resolved.
pub(crate) fn device_param(ctx: &StageContext) -> Result<Device, StageError> {
    parse_device(ctx.params().str("device")?).map_err(model_err)
}

/// Columns of a dataset artifact as text (`None` = null), plus the `id` column.
pub(crate) struct Columns {
    pub ids: Vec<i64>,
    pub cols: BTreeMap<String, Vec<Option<String>>>,
}

impl Columns {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// A column read by [`read_columns`] (empty when it was optional and absent).
    pub fn get(&self, name: &str) -> &[Option<String>] {
        self.cols.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Reads `required` and (when present) `optional` columns of a Parquet dataset as text;
/// ids come from the `id` column (row numbers when absent).
pub(crate) fn read_columns(path: &Path, required: &[&str], optional: &[&str]) -> Result<Columns, StageError> {
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::DataType;
    let (schema, batches) =
        crate::data::io::read_parquet(path, None).map_err(|e| StageError::Input(e.to_string()))?;
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    for r in required {
        if !names.iter().any(|n| n == r) {
            return Err(StageError::Input(format!(
                "{}: column `{r}` is missing (columns: {})",
                path.display(),
                names.join(", ")
            )));
        }
    }
    let mut out = Columns {
        ids: Vec::new(),
        cols: BTreeMap::new(),
    };
    let wanted: Vec<&str> = required
        .iter()
        .chain(optional)
        .copied()
        .filter(|c| names.iter().any(|n| n == c))
        .collect();
    for b in &batches {
        let start = out.ids.len() as i64;
        match b
            .column_by_name("id")
            .and_then(|c| arrow::compute::cast(c, &DataType::Int64).ok())
        {
            Some(ids) => {
                let ids = ids
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .cloned()
                    .unwrap_or_else(|| Int64Array::from(vec![0; 0]));
                for i in 0..b.num_rows() {
                    out.ids.push(if ids.len() > i && ids.is_valid(i) {
                        ids.value(i)
                    } else {
                        start + i as i64
                    });
                }
            }
            None => out.ids.extend((0..b.num_rows() as i64).map(|i| start + i)),
        }
        for c in &wanted {
            let col = b
                .column_by_name(c)
                .ok_or_else(|| StageError::Input(format!("column `{c}` vanished")))?;
            let text = arrow::compute::cast(col, &DataType::Utf8).map_err(|e| {
                StageError::Input(format!("{}: column `{c}` is not text-like: {e}", path.display()))
            })?;
            let text = text
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| StageError::Input(format!("column `{c}` could not be read as text")))?;
            let v = out.cols.entry(c.to_string()).or_default();
            v.extend((0..text.len()).map(|i| text.is_valid(i).then(|| text.value(i).to_string())));
        }
    }
    Ok(out)
}

/// Training hooks that feed the stage's progress bar, log and cancellation flag.
pub(crate) struct StageHooks<'c, 'a> {
    pub ctx: &'c StageContext<'a>,
}

impl crate::train::TrainHooks for StageHooks<'_, '_> {
    fn on_step(&mut self, step: usize, total: usize, metrics: &[(&str, f64)]) {
        if step == 1 {
            self.ctx.progress().set_total(total as u64, "step");
        }
        self.ctx.progress().update(step as u64, metrics);
        if step.is_multiple_of(50) || step == total {
            let m: Vec<String> = metrics.iter().map(|(k, v)| format!("{k}={v:.5}")).collect();
            self.ctx.log(&format!("step {step}/{total} {}", m.join(" ")));
        }
    }
    fn message(&mut self, msg: &str) {
        self.ctx.log(msg);
        self.ctx.progress().message(msg);
    }
    fn should_stop(&mut self) -> bool {
        self.ctx.is_cancelled()
    }
}

/// `model.init`: a from-scratch decoder.
struct Init;

const FAMILIES: &[&str] = &["llama", "qwen2"];

impl StageKind for Init {
    fn name(&self) -> &'static str {
        "model.init"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "A randomly initialised Llama/Qwen2-family decoder (named size preset or explicit sizes), seeded, saved as a Hugging Face folder"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        Vec::new()
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::optional(
                "arch",
                ParamType::Enum(PRESETS),
                Value::Str("tiny".into()),
                "size preset: nano (≈0.1M), tiny (≈1.2M), small (≈12M), base (≈40M); explicit sizes below override it",
            ),
            ParamSpec::optional(
                "family",
                ParamType::Enum(FAMILIES),
                Value::Str("llama".into()),
                "llama (no biases) or qwen2 (q/k/v biases); transformers ≥ 5 forces its byte-level tokenizer on qwen2 folders, so use llama with the chars tokenizer",
            ),
            ParamSpec::optional(
                "tokenizer",
                ParamType::TokenizerFile(&["chars"]),
                Value::Str("chars".into()),
                "`chars` (built-in character tokenizer) or a folder holding a tokenizer.json, relative to the pipeline file (its contents are part of the cache key)",
            ),
            ParamSpec::optional(
                "alphabet",
                ParamType::Str,
                Value::Str(String::new()),
                "characters of the chars tokenizer (default: printable ASCII, newline, tab)",
            ),
            ParamSpec::optional(
                "hidden_size",
                ParamType::Int,
                Value::Int(0),
                "0 = from the preset",
            ),
            ParamSpec::optional(
                "intermediate_size",
                ParamType::Int,
                Value::Int(0),
                "MLP width; 0 = from the preset",
            ),
            ParamSpec::optional(
                "layers",
                ParamType::Int,
                Value::Int(0),
                "number of layers; 0 = from the preset",
            ),
            ParamSpec::optional(
                "heads",
                ParamType::Int,
                Value::Int(0),
                "attention heads; 0 = from the preset",
            ),
            ParamSpec::optional(
                "kv_heads",
                ParamType::Int,
                Value::Int(0),
                "key/value heads (GQA); 0 = from the preset",
            ),
            ParamSpec::optional(
                "rope_theta",
                ParamType::Float,
                Value::Float(10_000.0),
                "RoPE base θ",
            ),
            ParamSpec::optional(
                "max_positions",
                ParamType::Int,
                Value::Int(2048),
                "max_position_embeddings",
            ),
            ParamSpec::optional(
                "tie_embeddings",
                ParamType::Bool,
                Value::Bool(true),
                "share the embedding and LM-head weights",
            ),
            ParamSpec::seed(),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Model
    }
    /// Sizes are bounded here, at lowering (so `sieve check` refuses a typo such as
    /// `layers = 1e9`), and the whole shape is checked as a config would be, with the
    /// vocabulary of a typical tokenizer standing in for the real one.
    fn validate(&self, p: &super::Params) -> Vec<(Option<&'static str>, String)> {
        let mut errs = Vec::new();
        for (name, max) in INIT_SIZE_LIMITS {
            match p.get(name).and_then(Value::as_i64) {
                Some(v) if v < 0 => errs.push((Some(name), "must be ≥ 0".to_string())),
                Some(v) if v as u64 > max as u64 => {
                    errs.push((Some(name), format!("at most {max}, got {v}")))
                }
                _ => {}
            }
        }
        if p.get("rope_theta")
            .and_then(Value::as_f64)
            .is_some_and(|v| v <= 0.0)
        {
            errs.push((Some("rope_theta"), "must be > 0".into()));
        }
        if errs.is_empty()
            && let Ok((family, sizes)) = init_sizes(p)
        {
            let cfg = ModelConfig::new(family, &sizes, TYPICAL_VOCAB, None, None, None);
            if let Err(e) = check_init_config(&cfg) {
                errs.push((None, e));
            }
        }
        errs
    }
    /// Weights are drawn on the CPU from the seed, so the output does not depend on the
    /// device class (no `device_sensitive`), but drawing them needs libtorch.
    fn needs_torch(&self, _params: &super::Params) -> bool {
        true
    }
    fn device_sensitive(&self, _params: &super::Params) -> bool {
        false
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        super::torch::run(self.name(), ctx)
    }
}

/// The size parameters of `model.init` with their bounds (a config's own bounds, see
/// [`crate::model::config::limits`]).
const INIT_SIZE_LIMITS: [(&str, usize); 6] = [
    ("hidden_size", limits::HIDDEN_SIZE),
    ("intermediate_size", limits::INTERMEDIATE_SIZE),
    ("layers", limits::LAYERS),
    ("heads", limits::HEADS),
    ("kv_heads", limits::HEADS),
    ("max_positions", limits::POSITIONS),
];

/// Most parameters `model.init` draws: its weights are allocated in f32 on the CPU
/// (8 GB here, plus the optimiser's state when trained), and it makes models to train
/// from scratch, not to stand in for pretrained ones.
const MAX_INIT_PARAMETERS: usize = 2_000_000_000;

/// The vocabulary `validate` assumes (the real tokenizer is read when the stage runs):
/// the built-in character tokenizer's order of magnitude.
const TYPICAL_VOCAB: usize = 128;

/// The family and sizes `model.init`'s parameters describe (preset, then overrides).
fn init_sizes(p: &super::Params) -> Result<(Family, Sizes), StageError> {
    let arch = p.str("arch")?;
    let mut sizes = Sizes::preset(arch).ok_or_else(|| StageError::Input(format!("unknown arch `{arch}`")))?;
    let over = |name: &str, v: &mut usize| -> Result<(), StageError> {
        let x = p.usize(name)?;
        if x > 0 {
            *v = x;
        }
        Ok(())
    };
    over("hidden_size", &mut sizes.hidden_size)?;
    over("intermediate_size", &mut sizes.intermediate_size)?;
    over("layers", &mut sizes.num_hidden_layers)?;
    over("heads", &mut sizes.num_attention_heads)?;
    over("kv_heads", &mut sizes.num_key_value_heads)?;
    over("max_positions", &mut sizes.max_position_embeddings)?;
    sizes.rope_theta = p.f64("rope_theta")?;
    sizes.tie_word_embeddings = p.bool("tie_embeddings")?;
    let family = if p.str("family")? == "qwen2" {
        Family::Qwen2
    } else {
        Family::Llama
    };
    Ok((family, sizes))
}

/// A from-scratch config is checked like a loaded one, and its size against
/// [`MAX_INIT_PARAMETERS`].
fn check_init_config(cfg: &ModelConfig) -> Result<(), String> {
    cfg.validate().map_err(|e| e.to_string())?;
    let n = cfg.num_parameters();
    if n > MAX_INIT_PARAMETERS {
        return Err(format!(
            "these sizes describe {n} parameters; model.init draws at most {MAX_INIT_PARAMETERS}"
        ));
    }
    Ok(())
}

/// The libtorch body of `model.init` (installed by [`crate::torch_runtime`]).
pub(crate) fn init_body(ctx: &StageContext) -> StageResult {
    let p = ctx.params();
    let tok = match p.str("tokenizer")? {
        "chars" => {
            let a = match p.str("alphabet")? {
                "" => default_alphabet(),
                a => a.to_string(),
            };
            Tok::chars(&a).map_err(model_err)?
        }
        dir => Tok::from_dir(Path::new(dir)).map_err(model_err)?,
    };
    let (family, sizes) = init_sizes(p)?;
    let cfg = ModelConfig::for_tokenizer(family, &sizes, &tok);
    check_init_config(&cfg).map_err(StageError::Input)?;
    let model = Transformer::new(cfg, Device::Cpu, Kind::Float).map_err(model_err)?;
    model.init_weights(p.i64("seed")? as u64);
    crate::model::save_pretrained(&model, &tok, None, ctx.out_dir(), Kind::Float).map_err(model_err)?;
    ctx.log(&format!(
        "model.init: {} {family:?}, {} parameters, vocab {}",
        p.str("arch")?,
        model.num_parameters(),
        tok.vocab_size()
    ));
    Ok(())
}

/// `model.load`: a local Hugging Face folder, checked and copied into the cache (the
/// entry owns its bytes, never a link to the user's files).
struct Load;

/// Files of a model folder that belong in the artifact.
fn is_model_file(name: &str) -> bool {
    matches!(
        name,
        "config.json"
            | "generation_config.json"
            | "model.safetensors.index.json"
            | "tokenizer.json"
            | "tokenizer_config.json"
            | "special_tokens_map.json"
            | "chat_template.jinja"
            | "chat_template.json"
            | "added_tokens.json"
            | "vocab.json"
            | "merges.txt"
            | "tokenizer.model"
    ) || name.ends_with(".safetensors")
}

impl StageKind for Load {
    fn name(&self) -> &'static str {
        "model.load"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "A local Hugging Face model folder (config.json, safetensors, tokenizer.json), checked and copied into the cache"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        Vec::new()
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![ParamSpec::required(
            "path",
            ParamType::InputFile,
            "folder with config.json, model.safetensors (or shards) and tokenizer.json, relative to the pipeline file; its contents are part of the cache key",
        )]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Model
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        let src = Path::new(ctx.params().str("path")?);
        if !src.is_dir() {
            return Err(StageError::Input(format!(
                "model folder {} does not exist",
                src.display()
            )));
        }
        // Which folder is broken: the library names the file (`config.json`), and a
        // pipeline may load several models.
        let (cfg, tok) = check_folder(src).map_err(|e| match model_err(e) {
            StageError::Input(m) if !m.contains(&src.display().to_string()) => {
                StageError::Input(format!("model folder {}: {m}", src.display()))
            }
            other => other,
        })?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type()?.is_file() && is_model_file(&name) {
                // A copy, not a hard link: the user's files may later be rewritten in
                // place (truncate + write keeps the inode), which would change the cache
                // entry under its key. `fs::copy` clones the extents where the
                // filesystem can (copy_file_range), so it stays cheap there.
                std::fs::copy(entry.path(), ctx.out_dir().join(&name))?;
            }
        }
        ctx.log(&format!(
            "model.load: {} ({}, {} parameters, vocab {})",
            src.display(),
            cfg.model_type,
            cfg.num_parameters(),
            tok.vocab_size()
        ));
        Ok(())
    }
}

/// Test helpers: run a kind in temporary folders.
#[cfg(test)]
pub(crate) mod testutil {
    use super::super::context::NoProgress;
    use super::super::{InputArtifact, InputSlot, Params, StageContext, StageKind, StageResult};
    use crate::value::Value;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::AtomicBool;

    /// Runs `kind` with its defaults overridden by `params`, inputs bound by slot name.
    pub fn run_kind(
        kind: &dyn StageKind,
        params: &[(&str, Value)],
        inputs: &[(&str, &Path)],
        out: &Path,
        work: &Path,
    ) -> StageResult {
        let mut p = Params::default();
        for spec in kind.params() {
            if let Some(d) = spec.default {
                p.0.insert(spec.name.to_string(), d);
            }
        }
        for (k, v) in params {
            p.0.insert(k.to_string(), v.clone());
        }
        let slots = kind
            .inputs()
            .iter()
            .map(|s| InputSlot {
                name: s.name.to_string(),
                members: inputs
                    .iter()
                    .filter(|(n, _)| *n == s.name)
                    .map(|(_, d)| InputArtifact {
                        instance: s.name.to_string(),
                        coords: Vec::new(),
                        kind: s.kind,
                        dir: PathBuf::from(d),
                    })
                    .collect(),
            })
            .collect();
        std::fs::create_dir_all(out).unwrap();
        let cancel = AtomicBool::new(false);
        let ctx = StageContext::new(
            "test".into(),
            p,
            slots,
            out.into(),
            work.into(),
            None,
            &NoProgress,
            &cancel,
        )
        .unwrap();
        kind.run(&ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::run_kind;
    use super::*;

    #[test]
    fn init_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let params = [
            ("arch", Value::Str("nano".into())),
            ("seed", Value::Int(3)),
            ("layers", Value::Int(1)),
        ];
        run_kind(&Init, &params, &[], &a, &dir.path().join("w")).unwrap();
        let b = dir.path().join("b");
        run_kind(&Init, &params, &[], &b, &dir.path().join("w")).unwrap();
        let bytes = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
        assert_eq!(bytes(&a), bytes(&b), "model.init is deterministic");
        let (cfg, _) = check_folder(&a).unwrap();
        assert_eq!((cfg.num_hidden_layers, cfg.model_type.as_str()), (1, "llama"));
        let c = dir.path().join("c");
        run_kind(
            &Load,
            &[("path", Value::Str(a.display().to_string()))],
            &[],
            &c,
            &dir.path().join("w"),
        )
        .unwrap();
        assert_eq!(bytes(&a), bytes(&c));
        assert!(c.join("tokenizer.json").is_file());
        // The artifact does not share the source's bytes: rewriting the source in place
        // leaves it unchanged.
        let before = bytes(&c);
        std::fs::write(a.join("model.safetensors"), b"rewritten").unwrap();
        assert_eq!(bytes(&c), before);
        let e = run_kind(
            &Load,
            &[("path", Value::Str("/nonexistent".into()))],
            &[],
            &c,
            &dir.path().join("w"),
        );
        assert!(matches!(e, Err(StageError::Input(_))));
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
        run_kind(&Init, &[("arch", Value::Str("nano".into()))], &[], &a, &w).unwrap();
        let load = |src: &Path| {
            run_kind(
                &Load,
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
        // The message names the folder, not only the file inside it.
        assert!(
            matches!(&e, Err(StageError::Input(m)) if m.starts_with(&format!("model folder {}: model config:", huge.display()))),
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

    #[test]
    fn init_sizes_are_bounded_at_lowering() {
        let params = |over: &[(&str, Value)]| {
            let mut p = super::super::Params::default();
            for spec in Init.params() {
                if let Some(d) = spec.default {
                    p.0.insert(spec.name.to_string(), d);
                }
            }
            for (k, v) in over {
                p.0.insert(k.to_string(), v.clone());
            }
            p
        };
        assert!(Init.validate(&params(&[])).is_empty());
        let e = Init.validate(&params(&[("layers", Value::Int(1_000_000_000))]));
        assert_eq!(
            e,
            vec![(Some("layers"), "at most 1024, got 1000000000".to_string())]
        );
        let e = Init.validate(&params(&[("hidden_size", Value::Int(-1))]));
        assert_eq!(e[0].0, Some("hidden_size"));
        // Each size within bounds, the model too big to draw.
        let e = Init.validate(&params(&[
            ("hidden_size", Value::Int(4_096)),
            ("intermediate_size", Value::Int(16_384)),
            ("layers", Value::Int(32)),
            ("heads", Value::Int(32)),
            ("kv_heads", Value::Int(8)),
        ]));
        assert!(
            e.len() == 1 && e[0].1.contains("model.init draws at most"),
            "{e:?}"
        );
        // Shapes the transformer cannot build are refused at lowering too.
        let e = Init.validate(&params(&[
            ("hidden_size", Value::Int(100)),
            ("heads", Value::Int(3)),
        ]));
        assert!(e.len() == 1 && e[0].1.contains("not divisible"), "{e:?}");
    }
}
