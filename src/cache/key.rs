//! Cache keys: blake3 over a canonical JSON serialisation of a stage's key material, and
//! what differs between two key materials ([`KeyChange`]: "parameter lr changed 3e-4 →
//! 1e-4", rendered by its `Display` and nowhere else).
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
//! Computing it fails instead of hashing something ambiguous: JSON writes NaN and ±inf
//! all as `null`, so a key material holding a non-finite number has no key.
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

/// Why a key material cannot be turned into a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// JSON has no spelling for NaN or ±infinity (serde_json writes `null` for all three),
    /// so a key over one would not tell it from the others.
    #[error(
        "{field} is not a finite number ({value}); a cache key cannot tell it from other non-finite values"
    )]
    NotFinite { field: String, value: f64 },
    #[error("cannot serialise the key material: {0}")]
    Serialise(#[from] serde_json::Error),
}

impl KeyMaterial {
    /// The cache key: hex blake3 of the canonical serialisation (instance names removed
    /// unless `input_names`). Fails rather than hash something ambiguous: a non-finite
    /// number anywhere in the parameters or coordinates, or a failed serialisation.
    pub fn key(&self) -> Result<String, KeyError> {
        let mut canon = self.clone();
        if !canon.input_names {
            for inp in &mut canon.inputs {
                for m in &mut inp.members {
                    m.instance.clear();
                }
            }
        }
        canon.check_finite()?;
        // Struct fields serialise in declaration order and maps are BTreeMaps, so the
        // JSON text is canonical.
        let bytes = serde_json::to_vec(&canon)?;
        Ok(blake3::hash(&bytes).to_hex().to_string())
    }

    /// Every float of the key material is finite (see [`KeyError::NotFinite`]).
    fn check_finite(&self) -> Result<(), KeyError> {
        for (name, v) in &self.params {
            finite(v, &|| format!("parameter `{name}`"))?;
        }
        for inp in &self.inputs {
            for m in &inp.members {
                for (axis, v) in &m.coords {
                    finite(v, &|| format!("input `{}` coordinate `{axis}`", inp.slot))?;
                }
            }
        }
        Ok(())
    }

    /// What differs in `self` (new) from `old`, most specific first; empty when nothing
    /// this can name differs (the caller, who knows whether the keys differ, then says
    /// only that the key material changed).
    pub fn changes_since(&self, old: &KeyMaterial) -> Vec<KeyChange> {
        let mut out = Vec::new();
        if self.kind != old.kind {
            out.push(KeyChange::KindChanged {
                from: old.kind.clone(),
                to: self.kind.clone(),
            });
            return out;
        }
        if self.version != old.version {
            out.push(KeyChange::VersionBumped {
                from: old.version,
                to: self.version,
            });
        }
        let keys: std::collections::BTreeSet<&String> = self.params.keys().chain(old.params.keys()).collect();
        for k in keys {
            let param = k.clone();
            match (old.params.get(k), self.params.get(k)) {
                (Some(a), Some(b)) if a != b => out.push(KeyChange::ParamChanged {
                    param,
                    from: a.clone(),
                    to: b.clone(),
                }),
                (None, Some(b)) => out.push(KeyChange::ParamAdded {
                    param,
                    value: b.clone(),
                }),
                (Some(a), None) => out.push(KeyChange::ParamRemoved {
                    param,
                    value: a.clone(),
                }),
                _ => {}
            }
        }
        for inp in &self.inputs {
            let slot = inp.slot.clone();
            match old.inputs.iter().find(|o| o.slot == inp.slot) {
                None => out.push(KeyChange::InputAdded { slot }),
                Some(o) if o.members.len() != inp.members.len() => out.push(KeyChange::InputCountChanged {
                    slot,
                    from: o.members.len(),
                    to: inp.members.len(),
                }),
                Some(o)
                    if self.input_names
                        && inp
                            .members
                            .iter()
                            .zip(&o.members)
                            .any(|(a, b)| a.instance != b.instance) =>
                {
                    let renames = inp
                        .members
                        .iter()
                        .zip(&o.members)
                        .filter(|(a, b)| a.instance != b.instance)
                        .map(|(a, b)| Rename {
                            from: b.instance.clone(),
                            to: a.instance.clone(),
                        })
                        .collect();
                    out.push(KeyChange::InputRenamed { slot, renames });
                }
                Some(o) => {
                    let producers: Vec<String> = inp
                        .members
                        .iter()
                        .zip(&o.members)
                        .filter(|(a, b)| a.digest != b.digest || a.coords != b.coords)
                        .map(|(a, _)| a.instance.clone())
                        .collect();
                    if !producers.is_empty() {
                        out.push(KeyChange::InputChanged { slot, producers });
                    }
                }
            }
        }
        for o in &old.inputs {
            if !self.inputs.iter().any(|i| i.slot == o.slot) {
                out.push(KeyChange::InputRemoved { slot: o.slot.clone() });
            }
        }
        for (param, digest) in &self.files {
            if old.files.get(param).is_some_and(|d| d != digest) {
                let path = self
                    .params
                    .get(param)
                    .map(|v| v.coord_string())
                    .unwrap_or_default();
                out.push(KeyChange::FileChanged {
                    param: param.clone(),
                    path,
                });
            }
        }
        let env_keys: std::collections::BTreeSet<&String> = self.env.keys().chain(old.env.keys()).collect();
        for k in env_keys {
            let (a, b) = (old.env.get(k), self.env.get(k));
            if a != b {
                out.push(KeyChange::EnvChanged {
                    name: k.clone(),
                    from: a.cloned(),
                    to: b.cloned(),
                });
            }
        }
        out
    }
}

/// `v` and everything inside it is finite; `field` names it for the error.
fn finite(v: &Value, field: &dyn Fn() -> String) -> Result<(), KeyError> {
    match v {
        Value::Float(x) if !x.is_finite() => Err(KeyError::NotFinite {
            field: field(),
            value: *x,
        }),
        Value::List(items) => items.iter().try_for_each(|i| finite(i, field)),
        Value::Call(c) => c.args.iter().try_for_each(|a| finite(a, field)),
        _ => Ok(()),
    }
}

/// One difference between two key materials (new against old), as
/// [`KeyMaterial::changes_since`] finds it. `Display` is its wording in `sieve plan` and
/// `--locked` refusals; the serialised form (tagged by `kind`) is its `--json` form.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeyChange {
    /// Another stage kind (nothing else is compared then).
    KindChanged {
        from: String,
        to: String,
    },
    /// The kind's `VERSION` changed.
    VersionBumped {
        from: u32,
        to: u32,
    },
    ParamChanged {
        param: String,
        from: Value,
        to: Value,
    },
    ParamAdded {
        param: String,
        value: Value,
    },
    ParamRemoved {
        param: String,
        value: Value,
    },
    InputAdded {
        slot: String,
    },
    InputRemoved {
        slot: String,
    },
    /// The slot binds another number of artifacts.
    InputCountChanged {
        slot: String,
        from: usize,
        to: usize,
    },
    /// The digest or coordinates of these producers' outputs changed.
    InputChanged {
        slot: String,
        producers: Vec<String>,
    },
    /// Producers were renamed, and the stage's output shows their names.
    InputRenamed {
        slot: String,
        renames: Vec<Rename>,
    },
    /// The contents of the input file the parameter names changed.
    FileChanged {
        param: String,
        path: String,
    },
    /// An environment entry (libtorch version, device class, CPU numerics) changed;
    /// `None` where it was or is absent.
    EnvChanged {
        name: String,
        from: Option<String>,
        to: Option<String>,
    },
}

/// A producer renamed from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rename {
    pub from: String,
    pub to: String,
}

impl std::fmt::Display for KeyChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyChange::KindChanged { from, to } => write!(f, "stage kind changed {from} → {to}"),
            KeyChange::VersionBumped { from, to } => write!(f, "kind version bumped {from} → {to}"),
            KeyChange::ParamChanged { param, from, to } => {
                write!(f, "parameter {param} changed {from} → {to}")
            }
            KeyChange::ParamAdded { param, value } => write!(f, "parameter {param} added ({value})"),
            KeyChange::ParamRemoved { param, value } => write!(f, "parameter {param} removed (was {value})"),
            KeyChange::InputAdded { slot } => write!(f, "input `{slot}` added"),
            KeyChange::InputRemoved { slot } => write!(f, "input `{slot}` removed"),
            KeyChange::InputCountChanged { slot, from, to } => {
                write!(f, "input `{slot}` now has {to} artifacts (was {from})")
            }
            KeyChange::InputChanged { slot, producers } => {
                write!(f, "input `{slot}` changed (")?;
                if producers.len() > 3 {
                    write!(
                        f,
                        "{} and {} more",
                        producers[..3].join(", "),
                        producers.len() - 3
                    )?;
                } else {
                    write!(f, "{}", producers.join(", "))?;
                }
                write!(f, ")")
            }
            KeyChange::InputRenamed { slot, renames } => {
                let renames: Vec<String> = renames.iter().map(|r| format!("{} → {}", r.from, r.to)).collect();
                write!(
                    f,
                    "input `{slot}` renamed ({}): the output shows its names",
                    renames.join(", ")
                )
            }
            KeyChange::FileChanged { param, path } => {
                write!(f, "contents of file `{path}` ({param}) changed")
            }
            KeyChange::EnvChanged { name, from, to } => write!(
                f,
                "{name} changed {} → {}",
                from.as_deref().unwrap_or("none"),
                to.as_deref().unwrap_or("none")
            ),
        }
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
        assert_eq!(km.key().unwrap(), PINNED_KEY);
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

    fn key(km: &KeyMaterial) -> String {
        km.key().unwrap()
    }

    #[test]
    fn key_ignores_producer_names_but_not_digests() {
        assert_eq!(key(&km(1e-4, "d1", "a")), key(&km(1e-4, "d1", "b")));
        assert_ne!(key(&km(1e-4, "d1", "a")), key(&km(1e-4, "d2", "a")));
        assert_ne!(key(&km(1e-4, "d1", "a")), key(&km(3e-4, "d1", "a")));
    }

    /// NaN, inf and -inf all serialise as `null`: keying them would make three different
    /// parameters one cache entry, so there is no key, and the error names the field.
    #[test]
    fn non_finite_numbers_have_no_key() {
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = km(x, "d1", "a").key().unwrap_err();
            assert!(
                matches!(&err, KeyError::NotFinite { field, .. } if field == "parameter `lr`"),
                "{err:?}"
            );
        }
        let mut nested = km(1e-4, "d1", "a");
        nested.params.insert(
            "budgets".into(),
            Value::List(vec![Value::Int(1), Value::Float(f64::INFINITY)]),
        );
        assert!(
            matches!(nested.key(), Err(KeyError::NotFinite { field, .. }) if field == "parameter `budgets`")
        );
        let mut coord = km(1e-4, "d1", "a");
        coord.inputs[0].members[0].coords = vec![("lr".into(), Value::Float(f64::NAN))];
        let err = coord.key().unwrap_err();
        assert!(
            matches!(&err, KeyError::NotFinite { field, .. } if field == "input `data` coordinate `lr`"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "input `data` coordinate `lr` is not a finite number (NaN); a cache key cannot tell it \
             from other non-finite values"
        );
    }

    #[test]
    fn names_count_only_for_kinds_that_show_them() {
        let named = |instance: &str| KeyMaterial {
            input_names: true,
            ..km(1e-4, "d1", instance)
        };
        assert_ne!(key(&named("a")), key(&named("b")));
        assert_ne!(key(&named("a")), key(&km(1e-4, "d1", "a")));
        assert_eq!(
            named("b").changes_since(&named("a")),
            vec![KeyChange::InputRenamed {
                slot: "data".into(),
                renames: vec![Rename {
                    from: "a".into(),
                    to: "b".into()
                }]
            }]
        );
        // Without the flag a rename is no change at all.
        assert_eq!(km(1e-4, "d1", "b").changes_since(&km(1e-4, "d1", "a")), vec![]);
        // Keys of every other kind serialise exactly as before the flag existed.
        let json = serde_json::to_string(&km(1e-4, "d1", "a")).unwrap();
        assert!(!json.contains("input_names"), "{json}");
    }

    #[test]
    fn finds_parameter_and_input_changes() {
        let why = km(1e-4, "d2", "subset").changes_since(&km(3e-4, "d1", "subset"));
        assert_eq!(
            why,
            vec![
                KeyChange::ParamChanged {
                    param: "lr".into(),
                    from: Value::Float(3e-4),
                    to: Value::Float(1e-4)
                },
                KeyChange::InputChanged {
                    slot: "data".into(),
                    producers: vec!["subset".into()]
                },
            ]
        );
    }

    /// Each change's wording (what `sieve plan` prints) and its `--json` form.
    #[test]
    fn changes_render_as_text_and_as_tagged_json() {
        let text = |c: &KeyChange| c.to_string();
        let producers = |n: usize| (0..n).map(|i| format!("p{i}")).collect::<Vec<_>>();
        let cases = [
            (
                KeyChange::KindChanged {
                    from: "sft".into(),
                    to: "select".into(),
                },
                "stage kind changed sft → select",
            ),
            (
                KeyChange::VersionBumped { from: 1, to: 2 },
                "kind version bumped 1 → 2",
            ),
            (
                KeyChange::ParamAdded {
                    param: "n".into(),
                    value: Value::Int(3),
                },
                "parameter n added (3)",
            ),
            (
                KeyChange::ParamRemoved {
                    param: "note".into(),
                    value: Value::Str("a".into()),
                },
                "parameter note removed (was \"a\")",
            ),
            (
                KeyChange::InputAdded { slot: "data".into() },
                "input `data` added",
            ),
            (
                KeyChange::InputRemoved { slot: "data".into() },
                "input `data` removed",
            ),
            (
                KeyChange::InputCountChanged {
                    slot: "parts".into(),
                    from: 2,
                    to: 3,
                },
                "input `parts` now has 3 artifacts (was 2)",
            ),
            (
                KeyChange::InputChanged {
                    slot: "parts".into(),
                    producers: producers(3),
                },
                "input `parts` changed (p0, p1, p2)",
            ),
            (
                KeyChange::InputChanged {
                    slot: "parts".into(),
                    producers: producers(5),
                },
                "input `parts` changed (p0, p1, p2 and 2 more)",
            ),
            (
                KeyChange::FileChanged {
                    param: "path".into(),
                    path: "d.parquet".into(),
                },
                "contents of file `d.parquet` (path) changed",
            ),
            (
                KeyChange::EnvChanged {
                    name: "device".into(),
                    from: None,
                    to: Some("cpu".into()),
                },
                "device changed none → cpu",
            ),
        ];
        for (change, want) in &cases {
            assert_eq!(text(change), *want);
        }
        let json = serde_json::to_value(KeyChange::ParamChanged {
            param: "lr".into(),
            from: Value::Float(3e-4),
            to: Value::Float(1e-4),
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "param_changed", "param": "lr", "from": 3e-4, "to": 1e-4})
        );
        // The JSON form names every producer, where the text stops at three.
        let json = serde_json::to_value(&cases[8].0).unwrap();
        assert_eq!(json["producers"].as_array().unwrap().len(), 5);
        let json = serde_json::to_value(&cases[10].0).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "env_changed", "name": "device", "from": null, "to": "cpu"})
        );
    }
}
