//! The JSON Schema of the YAML pipeline form, generated from the stage registry.
//!
//! Invariants: the schema is derived only from [`crate::stages::registry()`] (kind names,
//! docs, input slots, parameter specs) and the YAML mapping constants in [`super::yaml`],
//! so it cannot drift from what the loader accepts; the committed copy
//! `docs/sieve.schema.json` is checked against it by a unit test, and
//! `SIEVE_UPDATE_SCHEMA=1 cargo test --lib dsl::schema` rewrites it.
//!
//! Every value position also accepts a `${EXPR}` string (a DSL expression), so the schema
//! types values loosely where expressions are allowed and strictly where they are not
//! (keys, `kind`).

use super::yaml::STAGE_RESERVED_KEYS;
use crate::stages::{Arity, InputSpec, ParamSpec, ParamType, StageKind, registry};
use crate::value::Value;
use serde_json::{Map, Value as Json, json};

/// Path of the committed schema, relative to the crate root.
pub const SCHEMA_PATH: &str = "docs/sieve.schema.json";

/// Pattern of a DSL name (variables, stages, parameters, sweep variables).
const NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// Kinds compiled only into the library's unit tests (`src/stages/testing.rs`, all named
/// `t.*`): never part of the schema, so the unit test that compares the committed file
/// sees the same kinds as `sieve schema`.
fn is_test_only(name: &str) -> bool {
    cfg!(test) && name.starts_with("t.")
}

/// The JSON Schema (draft 2020-12) of a YAML pipeline file.
pub fn yaml_json_schema() -> Json {
    let kinds: Vec<&dyn StageKind> = registry().iter().filter(|k| !is_test_only(k.name())).collect();
    let kind_names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();

    let mut defs = Map::new();
    defs.insert(
        "name".into(),
        json!({
            "type": "string",
            "pattern": NAME_PATTERN,
            "not": {"enum": super::parser::KEYWORDS},
            "description": "A name: letters, digits and `_`, not starting with a digit, not a keyword."
        }),
    );
    defs.insert(
        "expr".into(),
        json!({
            "type": "string",
            "pattern": "^\\$\\{.*\\}$",
            "description": "A DSL expression, e.g. '${seed + 1}', '${2..12}', '${column(\"ops\")}'. Quote it inside `{…}` / `[…]`."
        }),
    );
    // YAML 1.2 readers (editors) see `100_000` as a string; sieve reads it as a number.
    defs.insert(
        "int_literal".into(),
        json!({
            "type": "string",
            "pattern": "^[-+]?[0-9](_?[0-9])*$",
            "description": "An integer with `_` separators, e.g. 100_000."
        }),
    );
    defs.insert(
        "number_literal".into(),
        json!({
            "type": "string",
            "pattern": "^[-+]?[0-9](_?[0-9])*((\\.[0-9](_?[0-9])*)([eE][-+]?[0-9](_?[0-9])*)?|[eE][-+]?[0-9](_?[0-9])*)?$",
            "description": "A number in sieve syntax, e.g. 100_000, 1.5, 3e-4."
        }),
    );
    defs.insert(
        "value".into(),
        json!({
            "description": "A value: number, bool, string (plain words are strings), list, or a '${EXPR}' expression.",
            "anyOf": [
                {"type": ["integer", "number", "boolean", "string"]},
                {"type": "array", "items": {"$ref": "#/$defs/value"}}
            ]
        }),
    );
    defs.insert(
        "reference".into(),
        json!({
            "type": "string",
            "description": "A stage reference in DSL syntax: `pool`, or instances of a swept stage such as 'acc[budget=1024, band=hard]' (quote it inside `[…]`)."
        }),
    );
    defs.insert(
        "lets".into(),
        json!({
            "type": "object",
            "description": "Variables (`let NAME = EXPR`), evaluated in order.",
            "propertyNames": {"$ref": "#/$defs/name"},
            "additionalProperties": {"$ref": "#/$defs/value"}
        }),
    );
    defs.insert(
        "stages".into(),
        json!({
            "type": "object",
            "description": "Stages (`stage NAME = KIND(inputs…, params…)`), by name.",
            "propertyNames": {"$ref": "#/$defs/name"},
            "additionalProperties": {"$ref": "#/$defs/stage"}
        }),
    );
    defs.insert(
        "sweeps".into(),
        json!({
            "type": "array",
            "description": "Sweeps (`sweep VAR in LIST, … { … }`).",
            "items": {"$ref": "#/$defs/sweep"}
        }),
    );
    defs.insert(
        "sweep".into(),
        json!({
            "type": "object",
            "description": "Expands its lets, stages and nested sweeps over the cartesian product of the `over` lists; instances are named like `subset[budget=1024,band=hard]`.",
            "required": ["over"],
            "additionalProperties": false,
            "properties": {
                "over": {
                    "type": "object",
                    "description": "The sweep variables and their values (a list, or an expression such as '${2..12}').",
                    "minProperties": 1,
                    "propertyNames": {"$ref": "#/$defs/name"},
                    "additionalProperties": {"$ref": "#/$defs/value"}
                },
                "let": {"$ref": "#/$defs/lets"},
                "stages": {"$ref": "#/$defs/stages"},
                "sweeps": {"$ref": "#/$defs/sweeps"}
            }
        }),
    );
    let dispatch: Vec<Json> = kinds
        .iter()
        .map(|k| {
            json!({
                "if": {"properties": {"kind": {"const": k.name()}}, "required": ["kind"]},
                "then": {"$ref": format!("#/$defs/kind.{}", k.name())}
            })
        })
        .collect();
    defs.insert(
        "stage".into(),
        json!({
            "type": "object",
            "description": "A stage: `kind`, optional `inputs` (positional, in slot order) and named parameters (inline, or under `params:` for parameters named `kind`, `inputs` or `params`).",
            "required": ["kind"],
            "properties": {
                "kind": {"description": "The stage kind.", "enum": kind_names},
                "inputs": {"$ref": "#/$defs/inputs"},
                "params": {"type": "object", "propertyNames": {"$ref": "#/$defs/name"}}
            },
            "allOf": dispatch
        }),
    );
    defs.insert(
        "inputs".into(),
        json!({
            "description": "Inputs: references to other stages' outputs, in slot order.",
            "anyOf": [
                {"$ref": "#/$defs/reference"},
                {"type": "array", "items": {"$ref": "#/$defs/reference"}}
            ]
        }),
    );
    for k in &kinds {
        defs.insert(format!("kind.{}", k.name()), kind_schema(*k));
        defs.insert(format!("params.{}", k.name()), params_schema(*k));
    }

    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "sieve pipeline (YAML form)",
        "description": "A sieve pipeline written in YAML; the same constructs as the `.sieve` DSL (see docs/language.md). Generated from the stage registry by `sieve::dsl::schema::yaml_json_schema`.",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "pipeline": {"$ref": "#/$defs/name", "description": "The pipeline's name (`pipeline NAME { … }`); optional in imported files."},
            "imports": {
                "description": "Files whose items are merged in (`import \"FILE\"`), relative to this file; `.sieve`, `.yaml` or `.yml`.",
                "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
            },
            "let": {"$ref": "#/$defs/lets"},
            "stages": {"$ref": "#/$defs/stages"},
            "sweeps": {"$ref": "#/$defs/sweeps"}
        },
        "$defs": defs
    })
}

/// An input slot as the schema's descriptions and the lowering's notes name it: its name,
/// then what it takes and how many, as in `data (dataset, optional)`.
pub(crate) fn input_slot(spec: &InputSpec) -> String {
    let arity = match spec.arity {
        Arity::One => "",
        Arity::Optional => ", optional",
        Arity::Many => ", one or more",
    };
    format!("{} ({}{arity})", spec.name, spec.kind)
}

/// The schema of a stage of one kind: its inputs and its parameters (inline or under
/// `params:`), nothing else.
fn kind_schema(k: &dyn StageKind) -> Json {
    let specs = k.inputs();
    let slots: Vec<String> = specs
        .iter()
        .map(|s| format!("{}: {}", input_slot(s), s.doc))
        .collect();
    let required_inputs = specs.iter().filter(|s| s.arity != Arity::Optional).count();
    let mut inputs = json!({
        "description": if slots.is_empty() {
            "This kind takes no inputs.".to_string()
        } else {
            format!("Inputs, in order: {}", slots.join("; "))
        },
        "anyOf": [
            {"$ref": "#/$defs/reference"},
            {"type": "array", "items": {"$ref": "#/$defs/reference"}}
        ]
    });
    let list_form = &mut inputs["anyOf"][1];
    list_form["minItems"] = json!(required_inputs);
    if specs.last().is_none_or(|s| s.arity != Arity::Many) {
        list_form["maxItems"] = json!(specs.len());
    }
    if specs.is_empty() {
        inputs = json!({"description": "This kind takes no inputs.", "type": "array", "maxItems": 0});
    }

    let params = k.params();
    let params_def = format!("params.{}", k.name());
    let mut props = Map::new();
    props.insert("kind".into(), json!({"const": k.name(), "description": k.doc()}));
    props.insert("inputs".into(), inputs);
    props.insert("params".into(), json!({"$ref": format!("#/$defs/{params_def}")}));
    for p in &params {
        if !STAGE_RESERVED_KEYS.contains(&p.name) {
            props.insert(
                p.name.to_string(),
                json!({"$ref": format!("#/$defs/{params_def}/properties/{}", p.name)}),
            );
        }
    }
    // A required parameter may be given inline or under `params:` (and must be under
    // `params:` when its name is a reserved key).
    let required: Vec<Json> = params
        .iter()
        .filter(|p| p.is_required())
        .map(|p| {
            let under_params =
                json!({"required": ["params"], "properties": {"params": {"required": [p.name]}}});
            if STAGE_RESERVED_KEYS.contains(&p.name) {
                under_params
            } else {
                json!({"anyOf": [{"required": [p.name]}, under_params]})
            }
        })
        .collect();
    let mut schema = json!({
        "description": format!("`{}` → {}: {}", k.name(), k.output(), k.doc()),
        "type": "object",
        "properties": props,
        "additionalProperties": false
    });
    if !required.is_empty() {
        schema["allOf"] = Json::Array(required);
    }
    schema
}

/// Every parameter of a kind (the `params:` form; inline parameters refer to these).
fn params_schema(k: &dyn StageKind) -> Json {
    let mut all = Map::new();
    for p in k.params() {
        all.insert(p.name.to_string(), param_schema(&p));
    }
    json!({
        "description": format!("Parameters of `{}`.", k.name()),
        "type": "object",
        "properties": all,
        "additionalProperties": false
    })
}

/// One parameter: its type (or an expression), doc and default.
fn param_schema(p: &ParamSpec) -> Json {
    let typed = type_schema(&p.ty);
    let mut s = match typed {
        Some(t) => json!({"anyOf": [t, {"$ref": "#/$defs/expr"}]}),
        None => json!({}),
    };
    let mut doc = format!("{} ({})", p.doc, p.ty.describe());
    if p.is_required() {
        doc.push_str("; required");
    } else if p.optional {
        doc.push_str("; optional");
    }
    s["description"] = json!(doc);
    if let Some(d) = &p.default {
        s["default"] = value_json(d);
    }
    s
}

/// The JSON Schema of a parameter type's literal YAML forms; `None` when any value goes.
fn type_schema(t: &ParamType) -> Option<Json> {
    Some(match t {
        ParamType::Int => json!({"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/int_literal"}]}),
        ParamType::Count => {
            json!({"anyOf": [{"type": "integer", "minimum": 0}, {"$ref": "#/$defs/int_literal"}]})
        }
        ParamType::PositiveCount => {
            json!({"anyOf": [{"type": "integer", "minimum": 1}, {"$ref": "#/$defs/int_literal"}]})
        }
        ParamType::Float => json!({"anyOf": [{"type": "number"}, {"$ref": "#/$defs/number_literal"}]}),
        ParamType::Str
        | ParamType::InputFile
        | ParamType::TokenizerFile(_)
        | ParamType::OutputFile
        | ParamType::Axis
        | ParamType::Metric => json!({"type": "string"}),
        ParamType::Device => json!({"type": "string", "pattern": "^(auto|cpu|cuda(:[0-9]+)?)$"}),
        ParamType::Bool => json!({"type": "boolean"}),
        ParamType::Enum(words) => json!({"enum": words}),
        ParamType::IntSet => json!({"anyOf": [
            {"type": "integer"},
            {"$ref": "#/$defs/int_literal"},
            {"type": "array", "items": {"anyOf": [
                {"type": "integer"}, {"$ref": "#/$defs/int_literal"}, {"$ref": "#/$defs/expr"}
            ]}}
        ]}),
        ParamType::List(inner) => match type_schema(inner) {
            Some(i) => json!({"type": "array", "items": {"anyOf": [i, {"$ref": "#/$defs/expr"}]}}),
            None => json!({"type": "array"}),
        },
        // A constructor without arguments may be named bare; with arguments it needs `${…}`.
        ParamType::Call(names) => json!({"enum": names}),
        ParamType::Any => return None,
    })
}

/// A default value as YAML would spell it: ranges and calls as `${…}` expressions.
fn value_json(v: &Value) -> Json {
    match v {
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Float(f) => json!(f),
        Value::Str(s) => json!(s),
        Value::List(items) => Json::Array(items.iter().map(value_json).collect()),
        Value::Range(_) | Value::Call(_) => json!(format!("${{{v}}}")),
    }
}

/// The schema as committed: pretty-printed with a trailing newline.
pub fn yaml_json_schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&yaml_json_schema()).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The committed `docs/sieve.schema.json` must equal the generated schema.
    #[test]
    fn committed_schema_is_current() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_PATH);
        let generated = yaml_json_schema_text();
        if std::env::var_os("SIEVE_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).expect("write docs/sieve.schema.json");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{SCHEMA_PATH} is stale (a stage kind or parameter changed).\n\
             Regenerate it with:  SIEVE_UPDATE_SCHEMA=1 cargo test --lib dsl::schema"
        );
    }

    #[test]
    fn schema_lists_every_kind() {
        let schema = yaml_json_schema();
        let kinds = schema["$defs"]["stage"]["properties"]["kind"]["enum"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            kinds.len(),
            registry().names().filter(|n| !is_test_only(n)).count()
        );
        for name in registry().names().filter(|n| !is_test_only(n)) {
            assert!(
                schema["$defs"].get(format!("kind.{name}")).is_some(),
                "no schema for `{name}`"
            );
        }
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    }
}
