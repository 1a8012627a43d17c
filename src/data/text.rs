//! Measuring text: characters, bytes, whitespace words, or tokens of a Hugging Face
//! `tokenizer.json`. Used by `score(by = length / cot_length)`, token budgets in
//! `select`, and length fitting in the RULER / haystack generators.
//!
//! Invariant: a counter is a pure function of the text (no state), so counts are
//! reproducible. `chars` equals the token count of sieve's built-in character tokenizer
//! without special tokens.

use super::{DataError, Result};
use std::path::Path;

/// How to count the length of a text.
pub enum TokenCounter {
    /// Unicode scalar values (= tokens of the built-in char tokenizer).
    Chars,
    /// UTF-8 bytes.
    Bytes,
    /// Whitespace-separated words.
    Words,
    /// Tokens of a Hugging Face tokenizer (no special tokens added).
    Hf {
        /// `tokenizer.json#<first 12 hex digits of its blake3>`.
        name: String,
        tok: Box<tokenizers::Tokenizer>,
    },
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl TokenCounter {
    /// Parses a tokenizer spec: `chars`, `bytes`, `words`, or a path to a
    /// `tokenizer.json` (or to a folder holding one, e.g. a model artifact).
    pub fn from_spec(spec: &str) -> Result<Self> {
        match spec {
            "chars" | "char" => Ok(TokenCounter::Chars),
            "bytes" => Ok(TokenCounter::Bytes),
            "words" | "whitespace" => Ok(TokenCounter::Words),
            path => Self::from_path(Path::new(path)),
        }
    }

    /// Loads `tokenizer.json` from a file or a folder containing one.
    pub fn from_path(path: &Path) -> Result<Self> {
        let file = if path.is_dir() {
            path.join("tokenizer.json")
        } else {
            path.to_path_buf()
        };
        if !file.is_file() {
            return Err(DataError::Tokenizer(format!(
                "`{}` is neither chars | bytes | words nor an existing tokenizer.json (or a folder with one)",
                path.display()
            )));
        }
        let bytes =
            std::fs::read(&file).map_err(|e| DataError::Tokenizer(format!("{}: {e}", file.display())))?;
        let tok = tokenizers::Tokenizer::from_bytes(&bytes)
            .map_err(|e| DataError::Tokenizer(format!("{}: {e}", file.display())))?;
        // Named by content, not path: the name lands in outputs (`scores.parquet`'s
        // method), which must not depend on where the store or the pipeline lives.
        Ok(TokenCounter::Hf {
            name: format!("tokenizer.json#{}", &blake3::hash(&bytes).to_hex()[..12]),
            tok: Box::new(tok),
        })
    }

    /// A short name for logs and score method strings.
    pub fn name(&self) -> String {
        match self {
            TokenCounter::Chars => "chars".into(),
            TokenCounter::Bytes => "bytes".into(),
            TokenCounter::Words => "words".into(),
            TokenCounter::Hf { name, .. } => format!("tokens:{name}"),
        }
    }

    /// The length of `text` in this counter's unit.
    pub fn count(&self, text: &str) -> Result<usize> {
        Ok(match self {
            TokenCounter::Chars => count_chars(text),
            TokenCounter::Bytes => text.len(),
            TokenCounter::Words => text.split_whitespace().count(),
            TokenCounter::Hf { tok, .. } => tok
                .encode_fast(text, false)
                .map_err(|e| DataError::Tokenizer(e.to_string()))?
                .len(),
        })
    }

    /// True when counting is cheap enough to redo on every candidate length.
    pub fn is_cheap(&self) -> bool {
        !matches!(self, TokenCounter::Hf { .. })
    }
}

/// Number of Unicode scalar values in `s`: bytes that are not UTF-8 continuation bytes.
#[inline]
pub fn count_chars(s: &str) -> usize {
    s.as_bytes().iter().filter(|&&b| (b as i8) >= -0x40).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(count_chars("héllo, 世界"), "héllo, 世界".chars().count());
        assert_eq!(
            TokenCounter::from_spec("words")
                .unwrap()
                .count(" a b  c ")
                .unwrap(),
            3
        );
        assert_eq!(TokenCounter::from_spec("bytes").unwrap().count("é").unwrap(), 2);
        let e = TokenCounter::from_spec("/no/such/tokenizer.json").unwrap_err();
        assert!(e.to_string().contains("neither"), "{e}");
    }

    #[test]
    fn hf_tokenizer_json() {
        // A word-level tokenizer.json written by hand: splits on whitespace.
        let dir = tempfile::tempdir().unwrap();
        let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
            "normalizer":null,"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
            "model":{"type":"WordLevel","vocab":{"[UNK]":0,"a":1},"unk_token":"[UNK]"}}"#;
        std::fs::write(dir.path().join("tokenizer.json"), json).unwrap();
        let c = TokenCounter::from_spec(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(c.count("a b c, d").unwrap(), 5);
        assert!(c.name().starts_with("tokens:tokenizer.json#"), "{}", c.name());
        // The name depends on the contents only, not on where the file lives.
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("tokenizer.json"), json).unwrap();
        let moved = TokenCounter::from_spec(other.path().join("tokenizer.json").to_str().unwrap()).unwrap();
        assert_eq!(moved.name(), c.name());
    }
}
