//! Tokenizers: any Hugging Face `tokenizer.json` through the `tokenizers` crate, plus
//! sieve's built-in character-level tokenizer for synthetic tasks.
//!
//! Invariants: a [`Tok`] always round-trips as files `transformers` loads with
//! `AutoTokenizer` — files read from a model folder are written back byte for byte, the
//! built-in tokenizer is a real `tokenizer.json` (BPE without merges over a fixed
//! alphabet, a `<s>` template post-processor and a `Fuse` decoder) with a
//! `tokenizer_config.json` naming its special tokens. Encoding with special tokens adds
//! exactly what the tokenizer's post-processor adds (HF semantics).

use super::ModelError;
use serde_json::{Value as Json, json};
use std::path::Path;
use std::str::FromStr;

/// Files that belong to a tokenizer and travel with it between model folders.
pub const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
];

/// Special tokens of the built-in tokenizers, in id order.
pub const CHAR_SPECIALS: [&str; 4] = ["<pad>", "<s>", "</s>", "<unk>"];

/// The default alphabet of the built-in character tokenizer: printable ASCII, newline, tab.
pub fn default_alphabet() -> String {
    let mut s: String = (32u8..127).map(char::from).collect();
    s.push('\n');
    s.push('\t');
    s
}

/// A tokenizer with its special-token ids and (optional) chat template.
pub struct Tok {
    inner: tokenizers::Tokenizer,
    bos: Option<u32>,
    eos: Option<u32>,
    pad: Option<u32>,
    chat_template: Option<String>,
    /// The tokenizer's files, written back unchanged by [`Tok::save`].
    files: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tok")
            .field("vocab", &self.vocab_size())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("pad", &self.pad)
            .finish()
    }
}

fn tok_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer(e.to_string())
}

/// A special-token entry of `tokenizer_config.json`: a string or `{"content": …}`.
fn token_str(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::String(s) => Some(s.clone()),
        Json::Object(o) => o.get("content").and_then(Json::as_str).map(str::to_string),
        _ => None,
    }
}

impl Tok {
    /// The built-in character tokenizer over `alphabet` (duplicates ignored): ids 0–3 are
    /// `<pad> <s> </s> <unk>`, then one id per character in order.
    pub fn chars(alphabet: &str) -> Result<Tok, ModelError> {
        let mut vocab = serde_json::Map::new();
        for (i, s) in CHAR_SPECIALS.iter().enumerate() {
            vocab.insert((*s).into(), json!(i));
        }
        for c in alphabet.chars() {
            let k = c.to_string();
            if !vocab.contains_key(&k) {
                let id = vocab.len();
                vocab.insert(k, json!(id));
            }
        }
        let added: Vec<Json> = CHAR_SPECIALS
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({"id": i, "content": s, "single_word": false, "lstrip": false, "rstrip": false,
                       "normalized": false, "special": true})
            })
            .collect();
        let tokenizer = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": null,
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}
            },
            "decoder": {"type": "Fuse"},
            "model": {
                "type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
                "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab, "merges": []
            }
        });
        let config = json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
            "model_max_length": 1_000_000, "clean_up_tokenization_spaces": false,
            "add_bos_token": true, "add_eos_token": false
        });
        let specials =
            json!({"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"});
        let pretty = |j: &Json| serde_json::to_vec_pretty(j).unwrap_or_default();
        let files = vec![
            ("tokenizer.json".to_string(), pretty(&tokenizer)),
            ("tokenizer_config.json".to_string(), pretty(&config)),
            ("special_tokens_map.json".to_string(), pretty(&specials)),
        ];
        Self::from_files(files)
    }

    /// Reads the tokenizer files of a Hugging Face model folder (`tokenizer.json` required).
    pub fn from_dir(dir: &Path) -> Result<Tok, ModelError> {
        let mut files = Vec::new();
        for name in TOKENIZER_FILES {
            let p = dir.join(name);
            if p.is_file() {
                files.push((
                    name.to_string(),
                    std::fs::read(&p).map_err(|e| ModelError::io(&p, e))?,
                ));
            }
        }
        if !files.iter().any(|(n, _)| n == "tokenizer.json") {
            return Err(ModelError::Tokenizer(format!(
                "{} has no tokenizer.json (only fast tokenizers are supported)",
                dir.display()
            )));
        }
        Self::from_files(files)
    }

    fn from_files(files: Vec<(String, Vec<u8>)>) -> Result<Tok, ModelError> {
        let get = |n: &str| files.iter().find(|(f, _)| f == n).map(|(_, b)| b.as_slice());
        let text = std::str::from_utf8(get("tokenizer.json").unwrap_or_default()).map_err(tok_err)?;
        let inner =
            tokenizers::Tokenizer::from_str(text).map_err(|e| tok_err(format!("tokenizer.json: {e}")))?;
        let cfg: Json = match get("tokenizer_config.json") {
            Some(b) => {
                serde_json::from_slice(b).map_err(|e| tok_err(format!("tokenizer_config.json: {e}")))?
            }
            None => Json::Null,
        };
        let id = |key: &str| token_str(cfg.get(key)).and_then(|t| inner.token_to_id(&t));
        let mut chat_template = match cfg.get("chat_template") {
            Some(Json::String(s)) => Some(s.clone()),
            Some(Json::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(Json::as_str) == Some("default"))
                .or_else(|| list.first())
                .and_then(|t| t.get("template"))
                .and_then(Json::as_str)
                .map(str::to_string),
            _ => None,
        };
        if let Some(b) = get("chat_template.jinja") {
            chat_template = Some(String::from_utf8_lossy(b).into_owned());
        } else if let Some(b) = get("chat_template.json")
            && let Ok(j) = serde_json::from_slice::<Json>(b)
            && let Some(t) = j.get("chat_template").and_then(Json::as_str)
        {
            chat_template = Some(t.to_string());
        }
        let (bos, eos, pad) = (id("bos_token"), id("eos_token"), id("pad_token"));
        Ok(Tok {
            inner,
            bos,
            eos,
            pad,
            chat_template,
            files,
        })
    }

    /// Writes the tokenizer's files into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), ModelError> {
        for (name, bytes) in &self.files {
            let p = dir.join(name);
            std::fs::write(&p, bytes).map_err(|e| ModelError::io(&p, e))?;
        }
        Ok(())
    }

    /// Token ids of `text`; `add_special` applies the post-processor (e.g. a BOS).
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<i64>, ModelError> {
        let enc = self.inner.encode(text, add_special).map_err(tok_err)?;
        Ok(enc.get_ids().iter().map(|&i| i as i64).collect())
    }

    /// Text of `ids`, skipping special tokens when asked.
    pub fn decode(&self, ids: &[i64], skip_special: bool) -> Result<String, ModelError> {
        let ids: Vec<u32> = ids.iter().filter(|&&i| i >= 0).map(|&i| i as u32).collect();
        self.inner.decode(&ids, skip_special).map_err(tok_err)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_to_id(&self, token: &str) -> Option<i64> {
        self.inner.token_to_id(token).map(i64::from)
    }

    pub fn bos_id(&self) -> Option<i64> {
        self.bos.map(i64::from)
    }

    pub fn eos_id(&self) -> Option<i64> {
        self.eos.map(i64::from)
    }

    /// The padding id: `pad_token`, else `eos_token`, else 0.
    pub fn pad_id(&self) -> i64 {
        self.pad.or(self.eos).map(i64::from).unwrap_or(0)
    }

    /// The chat template (Jinja source), when the tokenizer has one.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Renders the chat template over `(role, content)` messages like `transformers`'
    /// `apply_chat_template(…, tokenize=False)`: Jinja with `trim_blocks` and
    /// `lstrip_blocks`, Python string methods, `raise_exception`, and `bos_token` /
    /// `eos_token` in the context.
    pub fn apply_chat_template(
        &self,
        messages: &[(&str, &str)],
        add_generation_prompt: bool,
    ) -> Result<String, ModelError> {
        let src = self
            .chat_template
            .as_deref()
            .ok_or_else(|| ModelError::Tokenizer("the tokenizer has no chat template".into()))?;
        let mut env = minijinja::Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| tok_err(format!("chat template syntax: {e}")))?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_template("chat", src)
            .map_err(|e| tok_err(format!("chat template: {e}")))?;
        let tmpl = env.get_template("chat").map_err(tok_err)?;
        let msgs: Vec<minijinja::Value> = messages
            .iter()
            .map(|(role, content)| minijinja::context! { role => *role, content => *content })
            .collect();
        let token = |id: Option<u32>| id.and_then(|i| self.inner.id_to_token(i)).unwrap_or_default();
        tmpl.render(minijinja::context! {
            messages => msgs,
            add_generation_prompt => add_generation_prompt,
            bos_token => token(self.bos),
            eos_token => token(self.eos),
        })
        .map_err(|e| tok_err(format!("chat template: {e}")))
    }

    /// Sets (or replaces) the chat template used by [`Tok::apply_chat_template`]; it is
    /// not written by [`Tok::save`].
    pub fn set_chat_template(&mut self, template: &str) {
        self.chat_template = Some(template.to_string());
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_tokenizer_round_trips() {
        let t = Tok::chars(&default_alphabet()).unwrap();
        assert_eq!(t.vocab_size(), 4 + 97);
        let ids = t.encode("12+34=46\n", true).unwrap();
        assert_eq!(ids[0], 1, "BOS first");
        assert_eq!(ids.len(), 10);
        assert_eq!(t.decode(&ids, true).unwrap(), "12+34=46\n");
        assert_eq!(t.encode("a b", false).unwrap().len(), 3);
        // Special tokens in text are recognised; unknown characters map to <unk>.
        assert_eq!(t.encode("1</s>", false).unwrap()[1], 2);
        assert_eq!(t.encode("é", false).unwrap(), vec![3]);
        assert_eq!((t.bos_id(), t.eos_id(), t.pad_id()), (Some(1), Some(2), 0));
        // Saved files load back to the same tokenizer.
        let dir = tempfile::tempdir().unwrap();
        t.save(dir.path()).unwrap();
        let u = Tok::from_dir(dir.path()).unwrap();
        assert_eq!(u.encode("x=1", true).unwrap(), t.encode("x=1", true).unwrap());
        assert_eq!(u.eos_id(), Some(2));
    }

    #[test]
    fn chat_templates_render_like_transformers() {
        let mut t = Tok::chars(&default_alphabet()).unwrap();
        assert!(t.apply_chat_template(&[("user", "hi")], true).is_err());
        // Qwen2.5's ChatML shape, with a Python string method and a loop variable.
        t.set_chat_template(
            "{% for message in messages %}\n{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are helpful.<|im_end|>\n{% endif %}\n{{ '<|im_start|>' + message['role'] + '\\n' + message['content'].strip() + '<|im_end|>\\n' }}{% endfor %}\n{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
        );
        let out = t.apply_chat_template(&[("user", " 2+2? ")], true).unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
        );
        t.set_chat_template(
            "{{ bos_token }}{% if messages|length > 1 %}{{ raise_exception('one message only') }}{% endif %}",
        );
        assert_eq!(t.apply_chat_template(&[("user", "x")], false).unwrap(), "<s>");
        let e = t
            .apply_chat_template(&[("user", "x"), ("user", "y")], false)
            .unwrap_err();
        assert!(e.to_string().contains("one message only"), "{e}");
    }
}
