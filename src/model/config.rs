//! Hugging Face `config.json` of the Llama / Qwen2 decoder family, and sieve's named
//! size presets.
//!
//! Invariants: a [`ModelConfig`] read from a `config.json` and written back keeps every
//! key it does not model (`extra`), so a loaded model re-exports with the same config;
//! [`ModelConfig::validate`] is the single place that rejects shapes or features the
//! transformer in [`super::transformer`] does not implement (sliding windows, rope
//! scaling, non-SiLU activations, head counts that do not divide).

use super::ModelError;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// Which member of the decoder family a config describes. The two differ only in
/// which linear layers carry a bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `Qwen2ForCausalLM`: q/k/v projections always have a bias, o_proj never.
    Qwen2,
    /// `LlamaForCausalLM`: `attention_bias` puts a bias on q/k/v/o, `mlp_bias` on the MLP.
    Llama,
}

/// `eos_token_id` is either one id or a list of ids (Llama 3, Qwen2.5 generation configs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    One(i64),
    Many(Vec<i64>),
}

impl TokenIds {
    /// All ids as a vector.
    pub fn to_vec(&self) -> Vec<i64> {
        match self {
            TokenIds::One(i) => vec![*i],
            TokenIds::Many(v) => v.clone(),
        }
    }
}

fn default_act() -> String {
    "silu".into()
}
fn default_max_pos() -> usize {
    2048
}
fn default_eps() -> f64 {
    1e-6
}
fn default_init_range() -> f64 {
    0.02
}

/// An HF-style decoder configuration (the fields sieve reads; the rest is kept in `extra`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    #[serde(default)]
    pub architectures: Vec<String>,
    pub model_type: String,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// transformers ≤ 4.x keeps the RoPE base here; 5.x moves it into `rope_parameters`
    /// (kept in `extra`). Read through [`ModelConfig::rope_theta`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    pub vocab_size: usize,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp_bias: Option<bool>,
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
    #[serde(default)]
    pub bos_token_id: Option<i64>,
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    #[serde(default)]
    pub pad_token_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<Json>,
    /// Every other key of the file, written back unchanged.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Json>,
}

/// Explicit sizes for a from-scratch model (`model.init` with explicit parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct Sizes {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub max_position_embeddings: usize,
    pub rope_theta: f64,
    pub tie_word_embeddings: bool,
}

/// Upper bounds on a config's sizes, checked by [`ModelConfig::validate`] before anything
/// is allocated (whether the sizes come from `model.init` parameters or a `config.json`):
/// far above any model sieve trains or loads, low enough that a typo such as
/// `num_hidden_layers: 1000000000` is an error instead of an unbounded allocation.
pub mod limits {
    pub const HIDDEN_SIZE: usize = 65_536;
    pub const INTERMEDIATE_SIZE: usize = 262_144;
    pub const LAYERS: usize = 1_024;
    pub const HEADS: usize = 1_024;
    pub const HEAD_DIM: usize = 1_024;
    pub const VOCAB_SIZE: usize = 4_194_304;
    pub const POSITIONS: usize = 16_777_216;
    /// Parameters of a model described by a `config.json` (a 100B model's weights would
    /// not fit on one device anyway).
    pub const PARAMETERS: usize = 100_000_000_000;
}

/// Names of the built-in size presets, smallest first.
pub const PRESETS: &[&str] = &["nano", "tiny", "small", "base"];

impl Sizes {
    /// A named preset: `nano` (≈0.1M parameters, unit tests), `tiny` (≈1.2M, CPU
    /// recipes), `small` (≈12M, the GPU headline recipe), `base` (≈40M).
    pub fn preset(name: &str) -> Option<Sizes> {
        let (h, i, l, nh, nkv) = match name {
            "nano" => (64, 192, 2, 4, 2),
            "tiny" => (128, 384, 6, 4, 2),
            "small" => (384, 1024, 8, 6, 2),
            "base" => (512, 1536, 12, 8, 4),
            _ => return None,
        };
        Some(Sizes {
            hidden_size: h,
            intermediate_size: i,
            num_hidden_layers: l,
            num_attention_heads: nh,
            num_key_value_heads: nkv,
            max_position_embeddings: 2048,
            rope_theta: 10_000.0,
            tie_word_embeddings: true,
        })
    }
}

impl ModelConfig {
    /// [`ModelConfig::new`] with the vocabulary and special tokens of `tok`.
    pub fn for_tokenizer(family: Family, sizes: &Sizes, tok: &super::tokenizer::Tok) -> Self {
        Self::new(
            family,
            sizes,
            tok.vocab_size(),
            tok.bos_id(),
            tok.eos_id(),
            Some(tok.pad_id()),
        )
    }

    /// A from-scratch config of the given family and sizes, with the token ids of the
    /// tokenizer it will be paired with.
    pub fn new(
        family: Family,
        sizes: &Sizes,
        vocab_size: usize,
        bos: Option<i64>,
        eos: Option<i64>,
        pad: Option<i64>,
    ) -> Self {
        let (arch, model_type) = match family {
            Family::Qwen2 => ("Qwen2ForCausalLM", "qwen2"),
            Family::Llama => ("LlamaForCausalLM", "llama"),
        };
        let mut extra = serde_json::Map::new();
        extra.insert("use_cache".into(), Json::Bool(true));
        extra.insert("attention_dropout".into(), Json::from(0.0));
        // transformers 5.x reads the RoPE base from here; 4.x from `rope_theta`.
        extra.insert(
            "rope_parameters".into(),
            serde_json::json!({"rope_type": "default", "rope_theta": sizes.rope_theta}),
        );
        if family == Family::Qwen2 {
            extra.insert("use_sliding_window".into(), Json::Bool(false));
            extra.insert("sliding_window".into(), Json::Null);
            extra.insert("max_window_layers".into(), Json::from(sizes.num_hidden_layers));
        }
        ModelConfig {
            architectures: vec![arch.into()],
            model_type: model_type.into(),
            hidden_size: sizes.hidden_size,
            intermediate_size: sizes.intermediate_size,
            num_hidden_layers: sizes.num_hidden_layers,
            num_attention_heads: sizes.num_attention_heads,
            num_key_value_heads: Some(sizes.num_key_value_heads),
            head_dim: None,
            hidden_act: "silu".into(),
            max_position_embeddings: sizes.max_position_embeddings,
            rms_norm_eps: 1e-6,
            rope_theta: Some(sizes.rope_theta),
            vocab_size,
            tie_word_embeddings: sizes.tie_word_embeddings,
            attention_bias: if family == Family::Llama {
                Some(false)
            } else {
                None
            },
            mlp_bias: if family == Family::Llama {
                Some(false)
            } else {
                None
            },
            initializer_range: 0.02,
            torch_dtype: Some("float32".into()),
            bos_token_id: bos,
            eos_token_id: eos.map(TokenIds::One),
            pad_token_id: pad,
            rope_scaling: None,
            extra,
        }
    }

    /// Parses a `config.json` text and validates it.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let c: ModelConfig = serde_json::from_str(text)
            .map_err(|e| ModelError::Config(format!("cannot parse config.json: {e}")))?;
        c.validate()?;
        Ok(c)
    }

    /// Pretty JSON for `config.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// The family, from `model_type`.
    pub fn family(&self) -> Result<Family, ModelError> {
        match self.model_type.as_str() {
            "qwen2" => Ok(Family::Qwen2),
            "llama" => Ok(Family::Llama),
            other => Err(ModelError::Config(format!(
                "unsupported model_type `{other}`: sieve implements the Llama / Qwen2 decoder family (model_type llama | qwen2)"
            ))),
        }
    }

    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// RoPE base θ: `rope_theta`, else `rope_parameters.rope_theta`, else 10 000.
    pub fn rope_theta(&self) -> f64 {
        self.rope_theta
            .or_else(|| {
                self.extra
                    .get("rope_parameters")
                    .and_then(|p| p.get("rope_theta"))
                    .and_then(Json::as_f64)
            })
            .unwrap_or(10_000.0)
    }

    /// Bias on q/k/v projections.
    pub fn qkv_bias(&self) -> bool {
        match self.model_type.as_str() {
            "qwen2" => true,
            _ => self.attention_bias.unwrap_or(false),
        }
    }

    /// Bias on o_proj.
    pub fn o_bias(&self) -> bool {
        self.model_type != "qwen2" && self.attention_bias.unwrap_or(false)
    }

    /// Bias on the MLP projections.
    pub fn mlp_bias(&self) -> bool {
        self.model_type != "qwen2" && self.mlp_bias.unwrap_or(false)
    }

    /// The declared storage dtype (`torch_dtype`, or `dtype` in transformers 5.x).
    pub fn dtype(&self) -> Option<&str> {
        self.torch_dtype
            .as_deref()
            .or_else(|| self.extra.get("dtype").and_then(Json::as_str))
    }

    /// Sets the declared storage dtype under both spellings.
    pub fn set_dtype(&mut self, dtype: &str) {
        self.torch_dtype = Some(dtype.into());
        self.extra.insert("dtype".into(), Json::String(dtype.into()));
    }

    /// End-of-sequence ids declared by the config.
    pub fn eos_ids(&self) -> Vec<i64> {
        self.eos_token_id
            .as_ref()
            .map(TokenIds::to_vec)
            .unwrap_or_default()
    }

    /// Each size against its bound in [`limits`], then the parameter count.
    fn check_limits(&self) -> Result<(), ModelError> {
        let sizes = [
            ("hidden_size", self.hidden_size, limits::HIDDEN_SIZE),
            (
                "intermediate_size",
                self.intermediate_size,
                limits::INTERMEDIATE_SIZE,
            ),
            ("num_hidden_layers", self.num_hidden_layers, limits::LAYERS),
            ("num_attention_heads", self.num_attention_heads, limits::HEADS),
            ("num_key_value_heads", self.kv_heads(), limits::HEADS),
            ("head_dim", self.head_dim.unwrap_or(0), limits::HEAD_DIM),
            ("vocab_size", self.vocab_size, limits::VOCAB_SIZE),
            (
                "max_position_embeddings",
                self.max_position_embeddings,
                limits::POSITIONS,
            ),
        ];
        for (key, value, max) in sizes {
            if value > max {
                return Err(ModelError::Config(format!(
                    "{key} = {value} is above the largest sieve accepts ({max})"
                )));
            }
        }
        // Bounded sizes keep this product far from overflowing.
        let n = self.num_parameters();
        if n > limits::PARAMETERS {
            return Err(ModelError::Config(format!(
                "these sizes describe {n} parameters, above the largest sieve accepts ({})",
                limits::PARAMETERS
            )));
        }
        Ok(())
    }

    /// Number of parameters of the model this config describes.
    pub fn num_parameters(&self) -> usize {
        let (h, i, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let (nh, nkv, hd) = (self.num_attention_heads, self.kv_heads(), self.head_dim());
        let attn = h * nh * hd * 2 + h * nkv * hd * 2;
        let attn_b = if self.qkv_bias() {
            nh * hd + 2 * nkv * hd
        } else {
            0
        } + if self.o_bias() { h } else { 0 };
        let mlp = 3 * h * i + if self.mlp_bias() { 2 * i + h } else { 0 };
        let layer = attn + attn_b + mlp + 2 * h;
        let head = if self.tie_word_embeddings { 0 } else { v * h };
        v * h + self.num_hidden_layers * layer + h + head
    }

    /// Rejects sizes above [`limits`] (before anything derived from them is computed),
    /// then what the transformer does not implement, with a message naming the key.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        self.check_limits()?;
        self.family()?;
        if self.hidden_size == 0
            || self.num_hidden_layers == 0
            || self.num_attention_heads == 0
            || self.vocab_size == 0
        {
            return bad(
                "hidden_size, num_hidden_layers, num_attention_heads and vocab_size must be > 0".into(),
            );
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(format!(
                "head_dim {} must be even for rotary embeddings",
                self.head_dim()
            ));
        }
        let kv = self.kv_heads();
        if kv == 0 || !self.num_attention_heads.is_multiple_of(kv) {
            return bad(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {kv}",
                self.num_attention_heads
            ));
        }
        if self.hidden_act != "silu" {
            return bad(format!(
                "hidden_act `{}` is not supported (only silu)",
                self.hidden_act
            ));
        }
        if let Some(s) = &self.rope_scaling
            && !s.is_null()
        {
            let ty = s
                .get("rope_type")
                .or_else(|| s.get("type"))
                .and_then(Json::as_str)
                .unwrap_or("?");
            if ty != "default" {
                return bad(format!("rope_scaling of type `{ty}` is not supported"));
            }
        }
        if let Some(ty) = self
            .extra
            .get("rope_parameters")
            .and_then(|p| p.get("rope_type"))
            .and_then(Json::as_str)
            && ty != "default"
        {
            return bad(format!("rope_parameters.rope_type `{ty}` is not supported"));
        }
        if self.extra.get("use_sliding_window").and_then(Json::as_bool) == Some(true) {
            return bad("use_sliding_window = true is not supported".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_expected_sizes() {
        let p = |n| {
            ModelConfig::new(
                Family::Qwen2,
                &Sizes::preset(n).unwrap(),
                128,
                Some(1),
                Some(2),
                Some(0),
            )
        };
        let tiny = p("tiny").num_parameters();
        assert!((1_000_000..2_000_000).contains(&tiny), "tiny has {tiny}");
        let small = p("small").num_parameters();
        assert!((10_000_000..20_000_000).contains(&small), "small has {small}");
        assert!(p("nano").num_parameters() < 200_000);
    }

    #[test]
    fn parses_transformers_v5_config() {
        let text = r#"{"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","hidden_size":64,
          "intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
          "rope_parameters":{"rope_theta":1000000.0,"rope_type":"default"},"vocab_size":100,
          "eos_token_id":[3,4],"layer_types":["full_attention","full_attention"]}"#;
        let c = ModelConfig::from_json(text).unwrap();
        assert_eq!(c.rope_theta(), 1e6);
        assert_eq!(c.eos_ids(), vec![3, 4]);
        assert!(c.qkv_bias() && !c.o_bias());
        assert_eq!(c.head_dim(), 16);
        // Unknown keys survive a round trip.
        let back: Json = serde_json::from_str(&c.to_json()).unwrap();
        assert_eq!(back["layer_types"][1], "full_attention");
    }

    #[test]
    fn rejects_unsupported() {
        let base = r#""hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"vocab_size":10"#;
        let e = ModelConfig::from_json(&format!(
            r#"{{"model_type":"gpt2",{base},"num_attention_heads":4}}"#
        ));
        assert!(e.unwrap_err().to_string().contains("gpt2"));
        let e = ModelConfig::from_json(&format!(
            r#"{{"model_type":"llama",{base},"num_attention_heads":4,"num_key_value_heads":3}}"#
        ));
        assert!(e.unwrap_err().to_string().contains("multiple"));
    }

    #[test]
    fn rejects_sizes_above_the_limits_before_using_them() {
        let cfg = |extra: &str| {
            format!(
                r#"{{"model_type":"llama","hidden_size":64,"intermediate_size":128,"num_attention_heads":4,"vocab_size":10,{extra}}}"#
            )
        };
        let e = ModelConfig::from_json(&cfg(r#""num_hidden_layers":1000000000"#)).unwrap_err();
        assert!(
            e.to_string()
                .contains("num_hidden_layers = 1000000000 is above the largest sieve accepts (1024)"),
            "{e}"
        );
        let e = ModelConfig::from_json(&cfg(r#""num_hidden_layers":2,"head_dim":4000000"#)).unwrap_err();
        assert!(e.to_string().contains("head_dim = 4000000"), "{e}");
        // Every size within its bound, the product not.
        let big = r#"{"model_type":"llama","hidden_size":65536,"intermediate_size":262144,
            "num_hidden_layers":1024,"num_attention_heads":64,"vocab_size":10}"#;
        let e = ModelConfig::from_json(big).unwrap_err();
        assert!(e.to_string().contains("parameters, above the largest"), "{e}");
        assert!(ModelConfig::from_json(&cfg(r#""num_hidden_layers":2"#)).is_ok());
    }
}
