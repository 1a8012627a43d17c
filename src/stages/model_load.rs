//! The `model.load` stage kind: a local Hugging Face folder, checked by its headers
//! (`model::folder`, no libtorch) and copied into the cache.
//!
//! Invariants: the entry owns its bytes — files are copied, never linked, so rewriting
//! the user's folder in place cannot change a cached entry under its key; a folder whose
//! config, weights or tokenizer would not load is refused before anything is copied.

use super::declare::{InputFile, Stage};
use super::{ArtifactKind, InputSpec, StageContext, StageError, StageResult};
use crate::model::folder::check_folder;

crate::stage_params! {
    /// Parameters of [`ModelLoad`].
    pub struct ModelLoadParams {
        /// folder with config.json, model.safetensors (or shards) and tokenizer.json, relative to the pipeline file; its contents are part of the cache key
        path: InputFile,
    }
}

/// `model.load`.
pub struct ModelLoad;

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

impl Stage for ModelLoad {
    const NAME: &'static str = "model.load";
    const VERSION: u32 = 1;
    const DOC: &'static str = "A local Hugging Face model folder (config.json, safetensors, tokenizer.json), checked and copied into the cache";
    const INPUTS: &'static [InputSpec] = &[];
    const OUTPUT: ArtifactKind = ArtifactKind::Model;
    type Params = ModelLoadParams;

    fn run(p: &ModelLoadParams, ctx: &StageContext) -> StageResult {
        let src = p.path.0.as_path();
        if !src.is_dir() {
            return Err(StageError::Input(format!(
                "model folder {} does not exist",
                src.display()
            )));
        }
        let (cfg, tok) = check_folder(src)?;
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

#[cfg(test)]
mod tests {
    use crate::stages::StageError;
    use crate::stages::testutil::{kind, run_kind};
    use crate::value::Value;

    #[test]
    fn a_missing_folder_is_the_users_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = run_kind(
            kind("model.load"),
            &[("path", Value::Str("/nonexistent".into()))],
            &[],
            &dir.path().join("out"),
            &dir.path().join("w"),
        );
        assert!(matches!(e, Err(StageError::Input(_))), "{e:?}");
    }
}
