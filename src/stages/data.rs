//! What the kinds that call the `data` library share: the mapping of its errors to
//! stage errors, the cancellation check its loops take, the token counter of kinds that
//! measure text, the optional `model` input that supplies it, the dataset file of an
//! input or output artifact and the `format` word of `load` and `export`. The kinds
//! themselves live in `load`, `synth`, `split`, `concat`, `export`, `score` and `select`.
//!
//! Invariant: a data-library error that is the user's (bad data, bad parameters) becomes
//! [`StageError::Input`], every other one a run failure, and cancellation stays
//! cancellation, whichever kind calls the library.

use super::artifact::DATASET_FILE;
use super::declare::TokenizerSpec;
use super::{ArtifactKind, InputSpec, StageContext, StageError};
use crate::data::DataError;
use crate::data::io::Format;
use crate::data::text::TokenCounter;
use std::path::PathBuf;

/// Maps a data-library error: data and parameter problems are the user's input;
/// IO failures are run failures; cancellation stays cancellation.
pub fn data_err(e: DataError) -> StageError {
    match e {
        DataError::Cancelled => StageError::Cancelled,
        e if e.is_input() => StageError::Input(e.to_string()),
        e => StageError::Failed(e.to_string()),
    }
}

/// A cancellation check for library loops.
pub fn checker<'c>(ctx: &'c StageContext<'_>) -> impl FnMut() -> Result<(), DataError> + 'c {
    move || {
        if ctx.is_cancelled() {
            Err(DataError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// The token counter of a stage: the tokenizer of its optional `model` input when one
/// is bound, else its `tokenizer` parameter.
pub fn token_counter(ctx: &StageContext, tokenizer: &TokenizerSpec) -> Result<TokenCounter, StageError> {
    if let Some(m) = ctx.slot("model").first() {
        return TokenCounter::from_path(&m.dir).map_err(data_err);
    }
    TokenCounter::from_spec(&tokenizer.0).map_err(data_err)
}

/// The optional `model` input of kinds that count tokens with its tokenizer.
pub const fn model_input(doc: &'static str) -> InputSpec {
    InputSpec::optional("model", ArtifactKind::Model, doc)
}

/// The dataset file of the artifact bound to input slot `slot`.
pub fn dataset_input(ctx: &StageContext, slot: &str) -> Result<PathBuf, StageError> {
    Ok(ctx.input(slot)?.file(DATASET_FILE))
}

/// The dataset file a kind producing a dataset writes.
pub fn dataset_output(ctx: &StageContext) -> PathBuf {
    ctx.out_dir().join(DATASET_FILE)
}

crate::param_enum! {
    /// The file format of `load` and `export`.
    pub enum FileFormat {
        /// from the file's extension
        Auto = "auto",
        Parquet = "parquet",
        Jsonl = "jsonl",
    }
}

impl FileFormat {
    /// The format as the library takes it (`None`: from the extension).
    pub fn format(self) -> Option<Format> {
        match self {
            FileFormat::Auto => None,
            FileFormat::Parquet => Some(Format::Parquet),
            FileFormat::Jsonl => Some(Format::Jsonl),
        }
    }
}
