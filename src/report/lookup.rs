//! Dotted paths into a metrics JSON document: `accuracy`, `pass@4`,
//! `slices.7.accuracy`.
//!
//! Invariant: a key that itself contains dots (a slice key `0.5`) still resolves — at
//! each level the longest run of path segments that names a key wins — and a failed
//! lookup says how far it got and which keys were there, so error messages can list
//! what the user could have asked for.

use serde_json::Value as Json;

/// Why a path did not resolve to a number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LookupError {
    /// A segment names no key of the object reached so far.
    #[error("no `{missing}`{} (available: {})", at_prefix(.at), .available.join(", "))]
    Missing {
        /// The path resolved so far (empty at the top level).
        at: String,
        missing: String,
        /// Keys of the object where the lookup stopped.
        available: Vec<String>,
    },
    /// The path resolved, but not to a number.
    #[error("`{path}` is {found}, not a number")]
    NotANumber { path: String, found: String },
}

fn at_prefix(at: &str) -> String {
    if at.is_empty() {
        String::new()
    } else {
        format!(" in `{at}`")
    }
}

/// What a JSON value is, in words (for messages).
pub fn describe(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("the bool {b}"),
        Json::Number(n) => format!("the number {n}"),
        Json::String(s) => format!("the string {s:?}"),
        Json::Array(a) => format!("a list of {}", a.len()),
        Json::Object(o) => format!(
            "an object with keys {}",
            o.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Resolves `path` (dot-separated; list items by index) to a JSON value.
pub fn lookup<'a>(doc: &'a Json, path: &str) -> Result<&'a Json, LookupError> {
    let segs: Vec<&str> = if path.is_empty() {
        Vec::new()
    } else {
        path.split('.').collect()
    };
    let mut cur = doc;
    let mut i = 0;
    let mut at = String::new();
    while i < segs.len() {
        let found = match cur {
            Json::Object(map) => (i + 1..=segs.len()).rev().find_map(|j| {
                let key = segs[i..j].join(".");
                map.get(&key).map(|v| (v, j, key))
            }),
            Json::Array(items) => segs[i]
                .parse::<usize>()
                .ok()
                .and_then(|k| items.get(k))
                .map(|v| (v, i + 1, segs[i].to_string())),
            _ => None,
        };
        let Some((next, j, key)) = found else {
            let available = match cur {
                Json::Object(map) => map.keys().cloned().collect(),
                Json::Array(items) => vec![format!("0..{}", items.len())],
                other => vec![format!(
                    "nothing: `{}` is {}",
                    if at.is_empty() { "." } else { &at },
                    describe(other)
                )],
            };
            return Err(LookupError::Missing {
                at,
                missing: segs[i].to_string(),
                available,
            });
        };
        if !at.is_empty() {
            at.push('.');
        }
        at.push_str(&key);
        cur = next;
        i = j;
    }
    Ok(cur)
}

/// Resolves `path` to a number (JSON numbers only; `null` and text are errors).
pub fn number(doc: &Json, path: &str) -> Result<f64, LookupError> {
    let v = lookup(doc, path)?;
    v.as_f64().ok_or_else(|| LookupError::NotANumber {
        path: path.to_string(),
        found: describe(v),
    })
}

/// The numeric leaves directly under `doc` (top-level scalar metrics), in document order.
pub fn scalars(doc: &Json) -> Vec<(String, f64)> {
    match doc {
        Json::Object(map) => map
            .iter()
            .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Json {
        json!({
            "accuracy": 0.5, "pass@4": 0.75, "metric": "exact_match",
            "slices": {"2": {"accuracy": 0.9}, "0.5": {"accuracy": 0.1}},
            "list": [1, 2.5]
        })
    }

    #[test]
    fn resolves_plain_nested_dotted_and_indexed_paths() {
        let d = doc();
        assert_eq!(number(&d, "accuracy"), Ok(0.5));
        assert_eq!(number(&d, "pass@4"), Ok(0.75));
        assert_eq!(number(&d, "slices.2.accuracy"), Ok(0.9));
        assert_eq!(number(&d, "slices.0.5.accuracy"), Ok(0.1));
        assert_eq!(number(&d, "list.1"), Ok(2.5));
    }

    #[test]
    fn errors_name_what_is_there() {
        let d = doc();
        let e = number(&d, "acc").unwrap_err();
        assert_eq!(
            e.to_string(),
            "no `acc` (available: accuracy, pass@4, metric, slices, list)"
        );
        let e = number(&d, "slices.7.accuracy").unwrap_err().to_string();
        assert_eq!(e, "no `7` in `slices` (available: 2, 0.5)");
        let e = number(&d, "metric").unwrap_err().to_string();
        assert!(e.contains("the string \"exact_match\", not a number"), "{e}");
        let e = number(&d, "accuracy.x").unwrap_err().to_string();
        assert!(e.contains("the number 0.5"), "{e}");
        assert_eq!(
            scalars(&d),
            vec![("accuracy".into(), 0.5), ("pass@4".into(), 0.75)]
        );
    }
}
