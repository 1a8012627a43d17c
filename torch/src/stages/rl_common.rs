//! What the RL bodies (`grpo`, `rollout`) share: reading `prompt` / `answer` rows into
//! tokenised [`RlPrompt`]s and mapping the RL library's errors.
//!
//! Invariant: a row without a prompt or an answer is refused with its id (an RL reward
//! needs a gold answer; a silent zero reward would train on noise).

use super::common::{encode_prompt, train_err};
use crate::model::Tok;
use crate::rl::RlError;
use crate::rl::rollout::RlPrompt;
use sieve::stages::StageError;
use sieve::stages::artifact::DATASET_FILE;
use sieve::stages::columns::read_columns;
use std::path::Path;

/// The prompts of the dataset folder `dir` (`what` names it in errors).
pub fn read_prompts(dir: &Path, tok: &Tok, chat: bool, what: &str) -> Result<Vec<RlPrompt>, StageError> {
    let cols = read_columns(&dir.join(DATASET_FILE), &["prompt", "answer"], &[])?;
    let (prompts, answers) = (cols.get("prompt"), cols.get("answer"));
    (0..cols.len())
        .map(|i| {
            let id = cols.ids[i];
            let (Some(p), Some(a)) = (&prompts[i], &answers[i]) else {
                return Err(StageError::Input(format!(
                    "{what}: row id {id} has no {} (RL rewards need a prompt and a gold answer)",
                    if prompts[i].is_none() { "prompt" } else { "answer" }
                )));
            };
            Ok(RlPrompt {
                id,
                tokens: encode_prompt(tok, p, chat)?,
                gold: a.clone(),
            })
        })
        .collect()
}

/// Maps an RL-library error.
pub fn rl_err(e: RlError) -> StageError {
    match e {
        RlError::Invalid(m) => StageError::Input(m),
        RlError::Model(m) => m.into(),
        RlError::Train(t) => train_err(t),
        other => StageError::Failed(other.to_string()),
    }
}
