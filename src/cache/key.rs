//! Cache keys: blake3 over a canonical JSON serialisation of a stage's key material, and
//! the explanation of why two key materials differ ("parameter lr changed 3e-4 → 1e-4").
//!
//! What is hashed (the same table as `docs/cache.md`; `key_is_pinned` below fixes the
//! exact bytes, so a change of the serialisation fails loudly — such a change invalidates
//! every store and must be deliberate):
//!
//! | field     | what                                                                  | serialised as |
//! |-----------|-----------------------------------------------------------------------|---------------|
//! | `kind`    | the stage kind (`sft`, `select`, …)                                   | string |
//! | `version` | the kind's `VERSION`                                                  | integer |
//! | `params`  | every resolved parameter, defaults and `seed` included               | object sorted by name; values untagged (`7`, `0.0003`, `"s"`, `[…]`, `{"start","end"}`, `{"call","args"}`) |
//! | `inputs`  | per input slot in slot order: each artifact's producer coordinates and output digest | `[{"slot", "members": [{"coords"?, "digest"}]}]`; the producer's instance name is cleared before hashing |
//! | `env`     | libtorch stages: libtorch version, device class, `mkl_vendor_check` when set | object sorted by name; omitted when empty |
//! | `files`   | content digest of each input file a parameter names                  | object by parameter; omitted when empty |
//!
//! The key is the hex blake3 of that JSON text (fields in this order, no whitespace).
//!
//! Invariant: the key depends on the *content digests* of the inputs' outputs and on the
//! producers' sweep coordinates, never on the producers' keys — an upstream rerun that
//! reproduces identical bytes leaves everything downstream cached (early cutoff). The
//! producers' instance names are left out too, except for kinds whose output shows them
//! (`input_names`: a `concat` labelling rows by part, a `report` naming its inputs), so
//! that an entry's output stays a pure function of its key.

use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything a stage's output may depend on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyMaterial {
    pub kind: String,
    /// The kind's `VERSION`.
    pub version: u32,
    /// Resolved parameters (seed included).
    pub params: BTreeMap<String, Value>,
    /// Bound inputs, in slot order.
    pub inputs: Vec<KeyInput>,
    /// Environment that changes numerics (libtorch version, device class) for
    /// instances that run libtorch code (`StageKind::device_sensitive`); empty otherwise.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Content digests of input files named by `InputFile` and `TokenizerFile` parameters (by parameter).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    /// Whether the stage's output shows its inputs' instance names, which then count in
    /// the key (`StageKind::reads_input_names`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub input_names: bool,
}

/// One input slot in the key material.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyInput {
    pub slot: String,
    pub members: Vec<KeyMember>,
}

/// One input artifact: its producer's coordinates and its output digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyMember {
    /// Producer's instance name: for explanations, and in the key only when the
    /// material's `input_names` is set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub instance: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coords: Vec<(String, Value)>,
    pub digest: String,
}

impl KeyMaterial {
    /// The cache key: hex blake3 of the canonical serialisation (instance names removed
    /// unless `input_names`).
    pub fn key(&self) -> String {
        let mut canon = self.clone();
        if !canon.input_names {
            for inp in &mut canon.inputs {
                for m in &mut inp.members {
                    m.instance.clear();
                }
            }
        }
        // Struct fields serialise in declaration order and maps are BTreeMaps, so the
        // JSON text is canonical.
        let bytes = serde_json::to_vec(&canon).unwrap_or_default();
        blake3::hash(&bytes).to_hex().to_string()
    }

    /// Reasons why `self` (new) differs from `old`, most specific first.
    pub fn explain_change(&self, old: &KeyMaterial) -> Vec<String> {
        let mut out = Vec::new();
        if self.kind != old.kind {
            out.push(format!("stage kind changed {} → {}", old.kind, self.kind));
            return out;
        }
        if self.version != old.version {
            out.push(format!("kind version bumped {} → {}", old.version, self.version));
        }
        let keys: std::collections::BTreeSet<&String> = self.params.keys().chain(old.params.keys()).collect();
        for k in keys {
            match (old.params.get(k), self.params.get(k)) {
                (Some(a), Some(b)) if a != b => out.push(format!("parameter {k} changed {a} → {b}")),
                (None, Some(b)) => out.push(format!("parameter {k} added ({b})")),
                (Some(a), None) => out.push(format!("parameter {k} removed (was {a})")),
                _ => {}
            }
        }
        for inp in &self.inputs {
            match old.inputs.iter().find(|o| o.slot == inp.slot) {
                None => out.push(format!("input `{}` added", inp.slot)),
                Some(o) if o.members.len() != inp.members.len() => out.push(format!(
                    "input `{}` now has {} artifacts (was {})",
                    inp.slot,
                    inp.members.len(),
                    o.members.len()
                )),
                Some(o)
                    if self.input_names
                        && inp
                            .members
                            .iter()
                            .zip(&o.members)
                            .any(|(a, b)| a.instance != b.instance) =>
                {
                    let renamed: Vec<String> = inp
                        .members
                        .iter()
                        .zip(&o.members)
                        .filter(|(a, b)| a.instance != b.instance)
                        .map(|(a, b)| format!("{} → {}", b.instance, a.instance))
                        .collect();
                    out.push(format!(
                        "input `{}` renamed ({}): the output shows its names",
                        inp.slot,
                        renamed.join(", ")
                    ));
                }
                Some(o) => {
                    let changed: Vec<&str> = inp
                        .members
                        .iter()
                        .zip(&o.members)
                        .filter(|(a, b)| a.digest != b.digest || a.coords != b.coords)
                        .map(|(a, _)| a.instance.as_str())
                        .collect();
                    if !changed.is_empty() {
                        let names = if changed.len() > 3 {
                            format!("{} and {} more", changed[..3].join(", "), changed.len() - 3)
                        } else {
                            changed.join(", ")
                        };
                        out.push(format!("input `{}` changed ({names})", inp.slot));
                    }
                }
            }
        }
        for o in &old.inputs {
            if !self.inputs.iter().any(|i| i.slot == o.slot) {
                out.push(format!("input `{}` removed", o.slot));
            }
        }
        for (param, digest) in &self.files {
            if old.files.get(param).is_some_and(|d| d != digest) {
                let path = self
                    .params
                    .get(param)
                    .map(|v| v.coord_string())
                    .unwrap_or_default();
                out.push(format!("contents of file `{path}` ({param}) changed"));
            }
        }
        let env_keys: std::collections::BTreeSet<&String> = self.env.keys().chain(old.env.keys()).collect();
        for k in env_keys {
            let (a, b) = (old.env.get(k), self.env.get(k));
            if a != b {
                out.push(format!(
                    "{k} changed {} → {}",
                    a.map(String::as_str).unwrap_or("none"),
                    b.map(String::as_str).unwrap_or("none")
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn km(lr: f64, digest: &str, instance: &str) -> KeyMaterial {
        KeyMaterial {
            kind: "sft".into(),
            version: 1,
            params: [("lr".to_string(), Value::Float(lr))].into(),
            inputs: vec![KeyInput {
                slot: "data".into(),
                members: vec![KeyMember {
                    instance: instance.into(),
                    coords: vec![],
                    digest: digest.into(),
                }],
            }],
            env: BTreeMap::new(),
            files: BTreeMap::new(),
            input_names: false,
        }
    }

    /// A key material with every field and every kind of value, its canonical text and
    /// its key. If this fails, key serialisation changed: every existing cache entry and
    /// lock file would be invalidated. Only update the constants for a deliberate change.
    #[test]
    fn key_is_pinned() {
        use crate::value::{CallValue, RangeValue};
        let km = KeyMaterial {
            kind: "sft".into(),
            version: 3,
            params: [
                ("lr".to_string(), Value::Float(3e-4)),
                ("epochs".to_string(), Value::Int(2)),
                ("packing".to_string(), Value::Bool(false)),
                ("loss".to_string(), Value::Str("ce".into())),
                (
                    "budgets".to_string(),
                    Value::List(vec![Value::Int(256), Value::Float(0.5)]),
                ),
                ("ops".to_string(), Value::Range(RangeValue { start: 2, end: 12 })),
                (
                    "by".to_string(),
                    Value::Call(CallValue {
                        call: "column".into(),
                        args: vec![Value::Str("ops".into())],
                    }),
                ),
            ]
            .into(),
            inputs: vec![
                KeyInput {
                    slot: "model".into(),
                    members: vec![KeyMember {
                        instance: "base".into(),
                        coords: vec![],
                        digest: "aa".repeat(32),
                    }],
                },
                KeyInput {
                    slot: "data".into(),
                    members: vec![KeyMember {
                        instance: "subset[budget=256]".into(),
                        coords: vec![("budget".into(), Value::Int(256))],
                        digest: "bb".repeat(32),
                    }],
                },
            ],
            env: [
                ("libtorch".to_string(), "2.11.0".to_string()),
                ("device".to_string(), "cpu".to_string()),
            ]
            .into(),
            files: [("tokenizer".to_string(), "cc".repeat(32))].into(),
            input_names: false,
        };
        let mut canon = km.clone();
        for m in canon.inputs.iter_mut().flat_map(|i| &mut i.members) {
            m.instance.clear();
        }
        assert_eq!(serde_json::to_string(&canon).unwrap(), PINNED_TEXT);
        assert_eq!(km.key(), PINNED_KEY);
    }

    const PINNED_TEXT: &str = concat!(
        r#"{"kind":"sft","version":3,"#,
        r#""params":{"budgets":[256,0.5],"by":{"call":"column","args":["ops"]},"epochs":2,"loss":"ce","lr":0.0003,"ops":{"start":2,"end":12},"packing":false},"#,
        r#""inputs":[{"slot":"model","members":[{"digest":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}]},"#,
        r#"{"slot":"data","members":[{"coords":[["budget",256]],"digest":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}]}],"#,
        r#""env":{"device":"cpu","libtorch":"2.11.0"},"#,
        r#""files":{"tokenizer":"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"}}"#,
    );
    /// Hex blake3 of `PINNED_TEXT` (the same as Python's `blake3` package computes).
    const PINNED_KEY: &str = "46ff2577ebb1a88460c11532056345e81d606f4e13d01f5cb037b0ca150697ba";

    #[test]
    fn key_ignores_producer_names_but_not_digests() {
        assert_eq!(km(1e-4, "d1", "a").key(), km(1e-4, "d1", "b").key());
        assert_ne!(km(1e-4, "d1", "a").key(), km(1e-4, "d2", "a").key());
        assert_ne!(km(1e-4, "d1", "a").key(), km(3e-4, "d1", "a").key());
    }

    #[test]
    fn names_count_only_for_kinds_that_show_them() {
        let named = |instance: &str| KeyMaterial {
            input_names: true,
            ..km(1e-4, "d1", instance)
        };
        assert_ne!(named("a").key(), named("b").key());
        assert_ne!(named("a").key(), km(1e-4, "d1", "a").key());
        assert_eq!(
            named("b").explain_change(&named("a")),
            vec!["input `data` renamed (a → b): the output shows its names"]
        );
        // Keys of every other kind serialise exactly as before the flag existed.
        let json = serde_json::to_string(&km(1e-4, "d1", "a")).unwrap();
        assert!(!json.contains("input_names"), "{json}");
    }

    #[test]
    fn explains_parameter_and_input_changes() {
        let why = km(1e-4, "d2", "subset").explain_change(&km(3e-4, "d1", "subset"));
        assert_eq!(
            why,
            vec![
                "parameter lr changed 3e-4 → 1e-4",
                "input `data` changed (subset)"
            ]
        );
    }
}
