//! JSONL input: one JSON object per line, decoded into Arrow record batches by
//! `arrow::json`, with what that reader lacks: errors that name the file's own line
//! (1-based, blank lines counted) and a schema whose column order does not change from
//! run to run.
//!
//! Invariants:
//! - the schema is inferred in one streaming pass that parses every line by itself, so a
//!   syntax error or a value the inference rejects is reported with its line before any
//!   batch is decoded;
//! - columns (and the fields of nested objects) are ordered by their first appearance in
//!   the file — `arrow::json` collects them in a `HashMap`, whose order differs between
//!   processes, which would make a loaded dataset's bytes differ between runs;
//! - a value that does not fit the inferred schema shows up only while a batch is
//!   decoded, without a position; [`locate_decode_error`] then decodes that batch's lines
//!   one by one to find it (the error path only).

use super::{DataError, Result};
use arrow::datatypes::{DataType, Field, Fields, Schema};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

fn unreadable(path: &Path, msg: String) -> DataError {
    DataError::Unreadable {
        path: path.to_path_buf(),
        format: "JSONL",
        msg,
    }
}

/// serde_json's message without its own position (it counts lines of the one line it
/// was given, so its "line 1" is always wrong here).
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The non-blank lines of a JSONL file with their 1-based line numbers, streamed.
fn numbered_lines(path: &Path) -> Result<impl Iterator<Item = Result<(usize, String)>> + '_> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    Ok(BufReader::new(file)
        .lines()
        .enumerate()
        .filter_map(move |(i, line)| match line {
            Ok(l) if l.trim().is_empty() => None,
            Ok(l) => Some(Ok((i + 1, l))),
            Err(e) => Some(Err(unreadable(path, format!("line {}: {e}", i + 1)))),
        }))
}

/// Parses one line as a JSON object.
fn parse_line(path: &Path, line_no: usize, line: &str) -> Result<Value> {
    match serde_json::from_str::<Value>(line) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(other) => Err(unreadable(
            path,
            format!(
                "line {line_no}: expected a JSON object, found {}",
                match other {
                    Value::Array(_) => "an array",
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    Value::Bool(_) => "a boolean",
                    _ => "null",
                }
            ),
        )),
        Err(e) => Err(unreadable(
            path,
            format!("line {line_no}, column {}: {}", e.column(), without_position(&e)),
        )),
    }
}

/// The order in which keys first appear, per nesting level (an array's items share
/// the array's node, as its inferred list type does).
#[derive(Debug, Default)]
struct KeyOrder {
    names: Vec<String>,
    children: BTreeMap<String, KeyOrder>,
}

impl KeyOrder {
    fn observe(&mut self, v: &Value) {
        match v {
            Value::Object(map) => {
                for (k, x) in map {
                    if !self.children.contains_key(k) {
                        self.names.push(k.clone());
                    }
                    self.children.entry(k.clone()).or_default().observe(x);
                }
            }
            Value::Array(items) => items.iter().for_each(|x| self.observe(x)),
            _ => {}
        }
    }

    fn order_fields(&self, fields: &Fields) -> Fields {
        // Looked up, not searched: a line of 50,000 keys took 13 s in a linear search per
        // comparison of the sort.
        let rank: HashMap<&str, usize> = self
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let position = |name: &str| rank.get(name).copied().unwrap_or(usize::MAX);
        let mut out: Vec<Field> = fields
            .iter()
            .map(|f| {
                let t = match self.children.get(f.name()) {
                    Some(child) => child.order_type(f.data_type()),
                    None => f.data_type().clone(),
                };
                f.as_ref().clone().with_data_type(t)
            })
            .collect();
        out.sort_by_key(|f| (position(f.name()), f.name().clone()));
        Fields::from(out)
    }

    fn order_type(&self, t: &DataType) -> DataType {
        match t {
            DataType::Struct(fields) => DataType::Struct(self.order_fields(fields)),
            DataType::List(item) => DataType::List(Arc::new(
                item.as_ref()
                    .clone()
                    .with_data_type(self.order_type(item.data_type())),
            )),
            DataType::LargeList(item) => DataType::LargeList(Arc::new(
                item.as_ref()
                    .clone()
                    .with_data_type(self.order_type(item.data_type())),
            )),
            other => other.clone(),
        }
    }
}

/// Infers the schema of a JSONL file from all its lines (one streaming pass), columns in
/// order of first appearance. Errors name the offending line.
pub fn infer_schema(path: &Path) -> Result<Schema> {
    let mut order = KeyOrder::default();
    let mut current = 0usize;
    let mut first_error: Option<DataError> = None;
    let values = numbered_lines(path)?.map_while(|line| {
        let parsed = line.and_then(|(no, text)| {
            current = no;
            parse_line(path, no, &text)
        });
        match parsed {
            Ok(v) => {
                order.observe(&v);
                Some(Ok::<Value, arrow::error::ArrowError>(v))
            }
            Err(e) => {
                first_error = Some(e);
                None
            }
        }
    });
    let inferred = arrow::json::reader::infer_json_schema_from_iterator(values);
    if let Some(e) = first_error {
        return Err(e);
    }
    // The inference stops at the value it rejects, which is the last line read.
    let schema = inferred.map_err(|e| unreadable(path, format!("line {current}: {e}")))?;
    Ok(Schema::new(order.order_fields(schema.fields())))
}

/// Finds the line behind a batch decoding error: decodes the lines of the rows from
/// `rows_before` on one at a time against `schema` and returns `line N: <error>` for the
/// first that fails (the batch's own error, with the rows it started at, if none does).
pub fn locate_decode_error(path: &Path, schema: &Arc<Schema>, rows_before: usize, err: &str) -> String {
    let fallback = format!("in the rows after row {rows_before}: {err}");
    let Ok(lines) = numbered_lines(path) else {
        return fallback;
    };
    for line in lines.skip(rows_before) {
        let Ok((no, text)) = line else {
            return fallback;
        };
        let decoded = arrow::json::ReaderBuilder::new(schema.clone())
            .build_decoder()
            .and_then(|mut d| d.decode(text.as_bytes()).and_then(|_| d.flush()));
        if let Err(e) = decoded {
            return format!("line {no}: {e}");
        }
    }
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` as the file `x.jsonl` of a fresh temporary folder; returns the folder's guard
    /// (the folder lasts as long as it) and the file's path.
    fn jsonl_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    /// The error of inferring the schema of the JSONL `text`.
    fn schema_error(text: &str) -> String {
        let (_dir, p) = jsonl_file(text);
        infer_schema(&p).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_files_own_line() {
        let e = schema_error(
            "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n\n{\"prompt\": \"c\"}\n{\"prompt\": \"d\", oops}\n",
        );
        assert!(e.contains("line 5, column 17: key must be a string"), "{e}");
        let e = schema_error("{\"a\": 1}\n[1, 2]\n");
        assert!(
            e.contains("line 2: expected a JSON object, found an array"),
            "{e}"
        );
        // A type the inference cannot reconcile (an object after a number).
        let e = schema_error("{\"a\": 1}\n{\"a\": 2}\n\n{\"a\": {\"b\": 1}}\n{\"a\": 3}\n");
        assert!(e.contains("line 4: "), "{e}");
    }

    #[test]
    fn decode_errors_are_traced_to_their_line() {
        let (_dir, p) = jsonl_file("{\"p\": \"a\"}\n\n{\"p\": \"b\"}\n{\"p\": 5}\n{\"p\": \"c\"}\n");
        let schema = Arc::new(infer_schema(&p).unwrap());
        let msg = locate_decode_error(&p, &schema, 0, "batch failed");
        assert!(
            msg.starts_with("line 4: ") && msg.contains("expected string got 5"),
            "{msg}"
        );
        // Starting after the failing row, nothing fails: the batch's own error is kept.
        let msg = locate_decode_error(&p, &schema, 3, "batch failed");
        assert_eq!(msg, "in the rows after row 3: batch failed");
    }

    #[test]
    fn fifty_thousand_keys_are_ordered_without_a_search_per_comparison() {
        let keys: Vec<String> = (0..50_000).rev().map(|i| format!("\"k{i}\": {i}")).collect();
        let (_dir, p) = jsonl_file(&format!("{{{}}}\n", keys.join(", ")));
        let start = std::time::Instant::now();
        let s = infer_schema(&p).unwrap();
        // Was 13 s in a release build (a linear search inside the sort).
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(s.fields().len(), 50_000);
        assert_eq!(s.field(0).name(), "k49999");
        assert_eq!(s.field(49_999).name(), "k0");
    }

    #[test]
    fn columns_follow_first_appearance() {
        let (_dir, p) = jsonl_file(
            "{\"zeta\": 1, \"prompt\": \"a\", \"meta\": {\"y\": 1, \"b\": 2}}\n\
             {\"alpha\": [{\"k\": 1, \"c\": 2}], \"prompt\": \"b\", \"mid\": true}\n",
        );
        let s = infer_schema(&p).unwrap();
        let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["zeta", "prompt", "meta", "alpha", "mid"]);
        let DataType::Struct(meta) = s.field_with_name("meta").unwrap().data_type() else {
            panic!("meta is a struct")
        };
        assert_eq!(
            meta.iter().map(|f| f.name().as_str()).collect::<Vec<_>>(),
            ["y", "b"]
        );
        let DataType::List(item) = s.field_with_name("alpha").unwrap().data_type() else {
            panic!("alpha is a list")
        };
        let DataType::Struct(inner) = item.data_type() else {
            panic!("of structs")
        };
        assert_eq!(
            inner.iter().map(|f| f.name().as_str()).collect::<Vec<_>>(),
            ["k", "c"]
        );
    }
}
