//! What the engine knows about models without libtorch: the Hugging Face `config.json`
//! ([`config`], with the size limits `sieve check` enforces), model folders read by
//! their headers only ([`folder`]) and tokenizers ([`tokenizer`]). The decoder itself,
//! loading, training and generation live in the `sieve-torch` crate, which builds on
//! these.
//!
//! Invariants: nothing here links libtorch or knows about stages or the cache.

pub mod config;
pub mod folder;
pub mod tokenizer;

pub use config::{Family, ModelConfig, Sizes};
pub use tokenizer::Tok;

/// Errors of the model library.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A `config.json` that cannot be used.
    #[error("model config: {0}")]
    Config(String),
    /// Missing, extra or mis-shaped weights.
    #[error("model weights: {0}")]
    Weights(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A device string that is not `auto | cpu | cuda | cuda:N`, or an absent GPU.
    #[error("device: {0}")]
    Device(String),
    /// A libtorch failure (shape error, out of memory, …) with what was being done.
    #[error("libtorch: {0}")]
    Torch(String),
    #[error("{0}")]
    Invalid(String),
    #[error("I/O error on {path}: {err}")]
    Io { path: String, err: std::io::Error },
}

impl ModelError {
    pub fn io(path: &std::path::Path, err: std::io::Error) -> Self {
        ModelError::Io {
            path: path.display().to_string(),
            err,
        }
    }

    /// A libtorch error (any error type: this crate does not link libtorch).
    pub fn torch(e: impl std::fmt::Display) -> Self {
        ModelError::Torch(e.to_string())
    }
}
