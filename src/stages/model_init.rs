//! The `model.init` stage kind: a seeded, randomly initialised Llama/Qwen2-family decoder
//! (a named size preset or explicit sizes) with the built-in character tokenizer or a
//! given one, saved as a Hugging Face folder. Declared here; drawing the weights needs
//! libtorch, so its body is `sieve-torch`'s.
//!
//! Invariants: the sizes are bounded at lowering — each by a config's own bounds and the
//! whole model by [`MAX_INIT_PARAMETERS`] — so `sieve check` refuses a typo such as
//! `layers = 1e9` before anything is allocated; weights are drawn on the CPU from the
//! seed, so the output does not depend on the device (the kind is not device-sensitive).

use super::declare::{ParamValue, Problems, Seed, Stage, Torch, positive};
use super::{ArtifactKind, InputSpec, ParamType, StageError};
use crate::model::config::{Family, ModelConfig, PRESETS, Sizes, limits};
use crate::value::Value;
use std::num::NonZeroU64;

crate::param_enum! {
    /// Which member of the decoder family to build.
    pub enum ModelFamily {
        /// no biases
        Llama = "llama",
        /// q/k/v biases
        Qwen2 = "qwen2",
    }
}

crate::stage_params! {
    /// Parameters of [`ModelInit`].
    pub struct ModelInitParams {
        /// size preset: nano (≈0.1M), tiny (≈1.2M), small (≈12M), base (≈40M); explicit sizes below override it
        arch: Preset = Preset("tiny".into()),
        /// llama (no biases) or qwen2 (q/k/v biases); transformers ≥ 5 forces its byte-level tokenizer on qwen2 folders, so use llama with the chars tokenizer
        family: ModelFamily = ModelFamily::Llama,
        /// `chars` (built-in character tokenizer) or a folder holding a tokenizer.json, relative to the pipeline file (its contents are part of the cache key)
        tokenizer: InitTokenizer = InitTokenizer("chars".into()),
        /// characters of the chars tokenizer (default: printable ASCII, newline, tab)
        alphabet: Option<String>,
        /// hidden size (default: the preset's)
        hidden_size: Option<NonZeroU64>,
        /// MLP width (default: the preset's)
        intermediate_size: Option<NonZeroU64>,
        /// number of layers (default: the preset's)
        layers: Option<NonZeroU64>,
        /// attention heads (default: the preset's)
        heads: Option<NonZeroU64>,
        /// key/value heads, for grouped-query attention (default: the preset's)
        kv_heads: Option<NonZeroU64>,
        /// RoPE base θ
        rope_theta: f64 = 10_000.0,
        /// max_position_embeddings
        max_positions: NonZeroU64 = positive(2048),
        /// share the embedding and LM-head weights
        tie_embeddings: bool = true,
        seed: Seed,
    }
}

/// A size preset name (`nano`, `tiny`, `small`, `base`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset(pub String);

impl ParamValue for Preset {
    fn param_type() -> ParamType {
        ParamType::Enum(PRESETS)
    }
    fn from_value(v: &Value) -> Result<Self, String> {
        String::from_value(v).map(Preset)
    }
    fn to_value(&self) -> Option<Value> {
        Some(Value::Str(self.0.clone()))
    }
}

/// `model.init`'s tokenizer: the built-in `chars`, or the path of a folder holding a
/// `tokenizer.json` (an input file: its tokenizer files enter the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitTokenizer(pub String);

impl InitTokenizer {
    /// Whether this is the built-in character tokenizer.
    pub fn is_chars(&self) -> bool {
        self.0 == "chars"
    }
}

impl ParamValue for InitTokenizer {
    fn param_type() -> ParamType {
        ParamType::TokenizerFile(&["chars"])
    }
    fn from_value(v: &Value) -> Result<Self, String> {
        String::from_value(v).map(InitTokenizer)
    }
    fn to_value(&self) -> Option<Value> {
        Some(Value::Str(self.0.clone()))
    }
}

/// `model.init`.
pub struct ModelInit;

/// Most parameters `model.init` draws: its weights are allocated in f32 on the CPU
/// (8 GB here, plus the optimiser's state when trained), and it makes models to train
/// from scratch, not to stand in for pretrained ones.
pub const MAX_INIT_PARAMETERS: usize = 2_000_000_000;

/// The vocabulary `validate` assumes (the real tokenizer is read when the stage runs):
/// the built-in character tokenizer's order of magnitude.
const TYPICAL_VOCAB: usize = 128;

impl ModelInitParams {
    /// The family and sizes the parameters describe (the preset, then the overrides).
    pub fn sizes(&self) -> Result<(Family, Sizes), StageError> {
        let mut sizes = Sizes::preset(&self.arch.0)
            .ok_or_else(|| StageError::Input(format!("unknown arch `{}`", self.arch.0)))?;
        let over = |v: Option<NonZeroU64>, into: &mut usize| {
            if let Some(v) = v {
                *into = v.get() as usize;
            }
        };
        over(self.hidden_size, &mut sizes.hidden_size);
        over(self.intermediate_size, &mut sizes.intermediate_size);
        over(self.layers, &mut sizes.num_hidden_layers);
        over(self.heads, &mut sizes.num_attention_heads);
        over(self.kv_heads, &mut sizes.num_key_value_heads);
        sizes.max_position_embeddings = self.max_positions.get() as usize;
        sizes.rope_theta = self.rope_theta;
        sizes.tie_word_embeddings = self.tie_embeddings;
        let family = match self.family {
            ModelFamily::Qwen2 => Family::Qwen2,
            ModelFamily::Llama => Family::Llama,
        };
        Ok((family, sizes))
    }
}

/// A from-scratch config is checked like a loaded one, and its size against
/// [`MAX_INIT_PARAMETERS`].
pub fn check_init_config(cfg: &ModelConfig) -> Result<(), String> {
    cfg.validate().map_err(|e| e.to_string())?;
    let n = cfg.num_parameters();
    if n > MAX_INIT_PARAMETERS {
        return Err(format!(
            "these sizes describe {n} parameters; model.init draws at most {MAX_INIT_PARAMETERS}"
        ));
    }
    Ok(())
}

impl Stage for ModelInit {
    const NAME: &'static str = "model.init";
    const VERSION: u32 = 1;
    const DOC: &'static str = "A randomly initialised Llama/Qwen2-family decoder (named size preset or explicit sizes), seeded, saved as a Hugging Face folder";
    const INPUTS: &'static [InputSpec] = &[];
    const OUTPUT: ArtifactKind = ArtifactKind::Model;
    /// Drawing the weights needs libtorch; they are drawn on the CPU from the seed, so
    /// the output does not depend on the device class.
    const TORCH: Torch = Torch::Always;
    type Params = ModelInitParams;

    fn device_sensitive(_p: &ModelInitParams) -> bool {
        false
    }

    fn validate(p: &ModelInitParams, problems: &mut Problems) {
        let bounded = [
            (ModelInitParams::hidden_size, p.hidden_size, limits::HIDDEN_SIZE),
            (
                ModelInitParams::intermediate_size,
                p.intermediate_size,
                limits::INTERMEDIATE_SIZE,
            ),
            (ModelInitParams::layers, p.layers, limits::LAYERS),
            (ModelInitParams::heads, p.heads, limits::HEADS),
            (ModelInitParams::kv_heads, p.kv_heads, limits::HEADS),
            (
                ModelInitParams::max_positions,
                Some(p.max_positions),
                limits::POSITIONS,
            ),
        ];
        let mut ok = true;
        for (field, value, max) in bounded {
            if let Some(v) = value
                && v.get() > max as u64
            {
                problems.at(field, format!("at most {max}, got {v}"));
                ok = false;
            }
        }
        if p.rope_theta <= 0.0 {
            problems.at(ModelInitParams::rope_theta, "must be > 0");
            ok = false;
        }
        if ok && let Ok((family, sizes)) = p.sizes() {
            let cfg = ModelConfig::new(family, &sizes, TYPICAL_VOCAB, None, None, None);
            if let Err(e) = check_init_config(&cfg) {
                problems.general(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::declare::ParamStruct;
    use crate::stages::testutil::params;

    fn problems(over: &[(&str, Value)]) -> Vec<(Option<&'static str>, String)> {
        crate::stages::registry()
            .get(ModelInit::NAME)
            .unwrap()
            .validate(&params::<ModelInitParams>(over))
    }

    #[test]
    fn init_sizes_are_bounded_at_lowering() {
        assert!(problems(&[]).is_empty());
        assert_eq!(
            problems(&[("layers", Value::Int(1_000_000_000))]),
            vec![(Some("layers"), "at most 1024, got 1000000000".to_string())]
        );
        assert_eq!(
            problems(&[("hidden_size", Value::Int(-1))])[0].0,
            Some("hidden_size")
        );
        // Each size within bounds, the model too big to draw.
        let e = problems(&[
            ("hidden_size", Value::Int(4_096)),
            ("intermediate_size", Value::Int(16_384)),
            ("layers", Value::Int(32)),
            ("heads", Value::Int(32)),
            ("kv_heads", Value::Int(8)),
        ]);
        assert!(
            e.len() == 1 && e[0].1.contains("model.init draws at most"),
            "{e:?}"
        );
        // Shapes the transformer cannot build are refused at lowering too.
        let e = problems(&[("hidden_size", Value::Int(100)), ("heads", Value::Int(3))]);
        assert!(e.len() == 1 && e[0].1.contains("not divisible"), "{e:?}");
    }

    #[test]
    fn explicit_sizes_override_the_preset() {
        let p = ModelInitParams::from_params(&params::<ModelInitParams>(&[
            ("arch", Value::Str("nano".into())),
            ("layers", Value::Int(1)),
        ]))
        .unwrap();
        let (family, sizes) = p.sizes().unwrap();
        assert_eq!(family, Family::Llama);
        assert_eq!(sizes.num_hidden_layers, 1);
        assert_eq!(sizes.hidden_size, Sizes::preset("nano").unwrap().hidden_size);
    }
}
