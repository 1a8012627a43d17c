//! `load`: reads a Parquet or JSONL file batch by batch and maps its columns into the
//! canonical dataset schema (see `data`'s module docs).
//!
//! Accepted source shapes, auto-detected when a mapping is not given (first match wins):
//!
//! | canonical    | candidates                                                                |
//! |--------------|---------------------------------------------------------------------------|
//! | `id`         | `id`, `index` (integer columns only; otherwise the row number)            |
//! | `prompt`     | `prompt`, `question`, `problem`, `input`, `instruction`, `query`, `messages` |
//! | `response`   | `response`, `solution`, `completion`, `output`, `target`, `generated_solution`, `messages` |
//! | `answer`     | `answer`, `reward_model.ground_truth`, `ground_truth`, `final_answer`, `expected_answer` |
//! | `difficulty` | `difficulty`, `level`                                                     |
//!
//! A mapping names a top-level column or a path into struct columns (`reward_model.ground_truth`).
//! Text columns may be `string`, `large_string`, `string_view` or dictionary-encoded strings.
//! Chat columns are lists of `{role, content}` structs (the verl / HF schema): as `prompt`, a
//! `messages` column contributes the messages before the last assistant message, any other
//! chat column (verl's `prompt`) all its messages; as `response`, the last assistant
//! message (`messages`) or all assistant messages (`completion`, `target`). Several
//! messages are joined by a blank line. Answers may also be numbers, booleans or lists
//! (rendered as a JSON array). Difficulty may be integer (→ int64), floating (→ float64)
//! or text, whose first number is used (`"Level 5"` → 5.0).
//!
//! Types: auto-detection skips a candidate whose type cannot be read in its role (an
//! `output` column of numbers is not a response), except a column that bears the
//! canonical name itself (`prompt`, `response`, `answer`, `difficulty`): that one is an
//! error naming the file, the column and its type. A non-integer `id` means row numbers.
//!
//! Nulls: a null `prompt` (or a chat list that is null) is an error naming the row; null
//! `response` / `answer` / `difficulty` stay null (a null struct parent makes its field
//! null; null message contents count as empty). Ids: an integer id column must be non-null
//! and unique; without one, `id` is the 0-based row number.
//!
//! Extra columns: every source column not consumed as-is by a mapping is kept under its
//! own name (so `reward_model`, `extra_info`, `data_source` or the original chat list
//! survive), except that a kept column whose name is canonical becomes `source_<name>`.
//! The difficulty's source column always counts as not consumed (`difficulty = "steps"`
//! keeps `steps` too), unless it is named `difficulty`. `keep` restricts which are kept.

use super::io::{self, Format, ParquetSink, missing_column};
use super::schema::{self, ANSWER, CANONICAL, DIFFICULTY, ID, PROMPT, RESPONSE};
use super::{DataError, Result};
use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, GenericListArray, Int64Array, OffsetSizeTrait, RecordBatch,
    StringArray, StringBuilder, make_array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

/// Which extra columns to keep.
#[derive(Debug, Clone, PartialEq)]
pub enum Keep {
    All,
    /// Only these source columns (possibly none).
    Only(Vec<String>),
}

/// Options of [`load`]. A `None` mapping means "auto-detect"; `Some("")` means "do not
/// map" (the canonical column is all null; not allowed for `prompt`).
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub format: Option<Format>,
    pub id: Option<String>,
    pub prompt: Option<String>,
    pub response: Option<String>,
    pub answer: Option<String>,
    pub difficulty: Option<String>,
    pub keep: Keep,
    /// Stop after this many rows.
    pub limit: Option<usize>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            format: None,
            id: None,
            prompt: None,
            response: None,
            answer: None,
            difficulty: None,
            keep: Keep::All,
            limit: None,
        }
    }
}

/// What [`load`] did, for the stage log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    pub rows: usize,
    /// `canonical ← source (how)` lines.
    pub mapping: Vec<String>,
    /// Extra columns kept (output names).
    pub kept: Vec<String>,
}

const PROMPT_CANDIDATES: &[&str] = &[
    "prompt",
    "question",
    "problem",
    "input",
    "instruction",
    "query",
    "messages",
];
const RESPONSE_CANDIDATES: &[&str] = &[
    "response",
    "solution",
    "completion",
    "output",
    "target",
    "generated_solution",
    "messages",
];
const ANSWER_CANDIDATES: &[&str] = &[
    "answer",
    "reward_model.ground_truth",
    "ground_truth",
    "final_answer",
    "expected_answer",
];
const DIFFICULTY_CANDIDATES: &[&str] = &["difficulty", "level"];
const ID_CANDIDATES: &[&str] = &["id", "index"];

/// Which messages of a chat list a text column takes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Msgs {
    All,
    BeforeLastAssistant,
    LastAssistant,
    Assistant,
}

/// How one canonical column is computed from the source.
#[derive(Debug, Clone)]
enum How {
    Null,
    RowNumber,
    /// Text-like source, cast to utf8.
    Text,
    /// Chat list → text.
    Chat {
        msgs: Msgs,
        content: usize,
        role: Option<usize>,
    },
    /// Scalar (number, bool) → text.
    Scalar,
    /// List → JSON array text.
    ListJson,
    /// Integer id column.
    IntId,
    /// Integer difficulty.
    Int,
    /// Float difficulty.
    Float,
    /// First number in a text.
    ParseNumber,
}

#[derive(Debug, Clone)]
struct Resolved {
    /// Path of child indices from the top level.
    path: Vec<usize>,
    name: String,
    how: How,
}

fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

fn is_int(t: &DataType) -> bool {
    t.is_integer()
}

fn is_float(t: &DataType) -> bool {
    t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
}

fn list_item(t: &DataType) -> Option<&DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) => Some(f.data_type()),
        _ => None,
    }
}

/// `(content index, role index)` when `t` is a list of structs with a `content` field.
fn chat_fields(t: &DataType) -> Option<(usize, Option<usize>)> {
    match list_item(t)? {
        DataType::Struct(fields) => {
            let content = fields
                .iter()
                .position(|f| f.name() == "content" && is_text(f.data_type()))?;
            let role = fields
                .iter()
                .position(|f| f.name() == "role" && is_text(f.data_type()));
            Some((content, role))
        }
        _ => None,
    }
}

/// Finds a column or a dotted path into struct columns.
fn resolve_path(schema: &Schema, name: &str) -> Option<(Vec<usize>, DataType)> {
    if let Ok(i) = schema.index_of(name) {
        return Some((vec![i], schema.field(i).data_type().clone()));
    }
    let mut parts = name.split('.');
    let first = parts.next()?;
    let i = schema.index_of(first).ok()?;
    let mut path = vec![i];
    let mut t = schema.field(i).data_type().clone();
    for p in parts {
        let DataType::Struct(fields) = &t else { return None };
        let (j, f) = fields.find(p)?;
        path.push(j);
        t = f.data_type().clone();
    }
    Some((path, t))
}

fn describe(t: &DataType) -> String {
    match t {
        DataType::Utf8 => "string".into(),
        DataType::LargeUtf8 => "large_string".into(),
        other => format!("{other}"),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Id,
    Prompt,
    Response,
    Answer,
    Difficulty,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Id => ID,
            Role::Prompt => PROMPT,
            Role::Response => RESPONSE,
            Role::Answer => ANSWER,
            Role::Difficulty => DIFFICULTY,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Role::Id => "an integer column",
            Role::Prompt => "a string column or a list of {role, content} messages",
            Role::Response => "a string column or a list of {role, content} messages",
            Role::Answer => "a string, number, boolean or list column",
            Role::Difficulty => "a numeric column or text containing a number",
        }
    }
}

/// Decides how `name` (of type `t`) feeds canonical column `role`; `None` when the type
/// does not fit.
fn how_for(role: Role, name: &str, t: &DataType) -> Option<How> {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    match role {
        Role::Id => is_int(t).then_some(How::IntId),
        Role::Prompt | Role::Response => {
            if is_text(t) {
                return Some(How::Text);
            }
            let (content, role_idx) = chat_fields(t)?;
            let msgs = match (role, leaf) {
                (Role::Prompt, "messages") => Msgs::BeforeLastAssistant,
                (Role::Prompt, _) => Msgs::All,
                (_, "messages") => Msgs::LastAssistant,
                _ => Msgs::Assistant,
            };
            Some(How::Chat {
                msgs,
                content,
                role: role_idx,
            })
        }
        Role::Answer => {
            if is_text(t) {
                Some(How::Text)
            } else if is_int(t) || is_float(t) || matches!(t, DataType::Boolean) {
                Some(How::Scalar)
            } else if list_item(t).is_some_and(|i| is_text(i) || is_int(i) || is_float(i)) {
                Some(How::ListJson)
            } else {
                None
            }
        }
        Role::Difficulty => {
            if is_int(t) {
                Some(How::Int)
            } else if is_float(t) {
                Some(How::Float)
            } else if is_text(t) {
                Some(How::ParseNumber)
            } else {
                None
            }
        }
    }
}

fn resolve(path: &Path, schema: &Schema, role: Role, explicit: Option<&str>) -> Result<Resolved> {
    let null = Resolved {
        path: vec![],
        name: String::new(),
        how: How::Null,
    };
    match explicit {
        Some("") => {
            if role == Role::Prompt {
                return Err(DataError::Param(
                    "`prompt` cannot be unmapped: every row needs a prompt".into(),
                ));
            }
            Ok(if role == Role::Id {
                Resolved {
                    how: How::RowNumber,
                    ..null
                }
            } else {
                null
            })
        }
        Some(name) => {
            let (p, t) = resolve_path(schema, name).ok_or_else(|| missing_column(path, name, schema))?;
            let how = how_for(role, name, &t).ok_or_else(|| DataError::ColumnType {
                path: path.to_path_buf(),
                column: name.to_string(),
                expected: format!("{} (for `{}`)", role.expected(), role.name()),
                found: describe(&t),
            })?;
            Ok(Resolved {
                path: p,
                name: name.to_string(),
                how,
            })
        }
        None => {
            let candidates = match role {
                Role::Id => ID_CANDIDATES,
                Role::Prompt => PROMPT_CANDIDATES,
                Role::Response => RESPONSE_CANDIDATES,
                Role::Answer => ANSWER_CANDIDATES,
                Role::Difficulty => DIFFICULTY_CANDIDATES,
            };
            let mut first_mistyped: Option<(String, DataType)> = None;
            for c in candidates {
                if let Some((p, t)) = resolve_path(schema, c) {
                    match how_for(role, c, &t) {
                        Some(how) => {
                            return Ok(Resolved {
                                path: p,
                                name: c.to_string(),
                                how,
                            });
                        }
                        None => {
                            first_mistyped.get_or_insert((c.to_string(), t));
                        }
                    }
                }
            }
            match (role, first_mistyped) {
                (Role::Prompt, Some((c, t))) => Err(DataError::ColumnType {
                    path: path.to_path_buf(),
                    column: c,
                    expected: role.expected().into(),
                    found: describe(&t),
                }),
                (Role::Prompt, None) => Err(DataError::MissingColumn {
                    path: path.to_path_buf(),
                    column: format!("prompt (or one of {})", PROMPT_CANDIDATES[1..].join(", ")),
                    available: schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
                (Role::Id, _) => Ok(Resolved {
                    how: How::RowNumber,
                    ..null
                }),
                // A column that bears the canonical name itself is meant as that column:
                // one whose type cannot be read as it is an error, not a silent null (an
                // alias such as `output` or `level` may well mean something else).
                (_, Some((c, t))) if c == role.name() => Err(DataError::ColumnType {
                    path: path.to_path_buf(),
                    column: c,
                    expected: role.expected().into(),
                    found: describe(&t),
                }),
                _ => Ok(null),
            }
        }
    }
}

/// The column at `path` with the null masks of its struct parents applied.
fn extract(batch: &RecordBatch, path: &[usize]) -> Result<ArrayRef, arrow::error::ArrowError> {
    let mut arr = batch.column(path[0]).clone();
    for &i in &path[1..] {
        let s = arr.as_struct();
        let child = s.column(i).clone();
        let nulls = NullBuffer::union(s.nulls(), child.nulls());
        arr = make_array(child.to_data().into_builder().nulls(nulls).build()?);
    }
    Ok(arr)
}

fn to_utf8(a: &ArrayRef) -> Result<StringArray, arrow::error::ArrowError> {
    let c = arrow::compute::cast(a, &DataType::Utf8)?;
    Ok(c.as_string::<i32>().clone())
}

fn render_chat<O: OffsetSizeTrait>(
    list: &GenericListArray<O>,
    msgs: Msgs,
    content: usize,
    role: Option<usize>,
) -> Result<StringArray, arrow::error::ArrowError> {
    let values = list.values().as_struct();
    let contents = to_utf8(values.column(content))?;
    let roles = match role {
        Some(r) => Some(to_utf8(values.column(r))?),
        None => None,
    };
    let offsets = list.value_offsets();
    let mut out = StringBuilder::new();
    let mut parts: Vec<&str> = Vec::new();
    for i in 0..list.len() {
        if list.is_null(i) {
            out.append_null();
            continue;
        }
        let (lo, hi) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
        let role_of = |j: usize| {
            roles
                .as_ref()
                .filter(|r| r.is_valid(j))
                .map(|r| r.value(j))
                .unwrap_or("")
        };
        let content_of = |j: usize| {
            if contents.is_valid(j) {
                contents.value(j)
            } else {
                ""
            }
        };
        let last_assistant = (lo..hi).rev().find(|&j| role_of(j) == "assistant");
        parts.clear();
        match msgs {
            Msgs::All => parts.extend((lo..hi).map(content_of)),
            Msgs::BeforeLastAssistant => parts.extend((lo..last_assistant.unwrap_or(hi)).map(content_of)),
            Msgs::LastAssistant => match last_assistant {
                Some(j) => parts.push(content_of(j)),
                None => {
                    out.append_null();
                    continue;
                }
            },
            Msgs::Assistant => {
                // Lists without roles (or without any assistant turn) count entirely.
                let any = (lo..hi).any(|j| role_of(j) == "assistant");
                parts.extend(
                    (lo..hi)
                        .filter(|&j| !any || role_of(j) == "assistant")
                        .map(content_of),
                );
            }
        }
        out.append_value(parts.join("\n\n"));
    }
    Ok(out.finish())
}

fn list_json<O: OffsetSizeTrait>(
    list: &GenericListArray<O>,
) -> Result<StringArray, arrow::error::ArrowError> {
    let values = to_utf8(list.values())?;
    let offsets = list.value_offsets();
    let mut out = StringBuilder::new();
    for i in 0..list.len() {
        if list.is_null(i) {
            out.append_null();
            continue;
        }
        let items: Vec<serde_json::Value> = (offsets[i].as_usize()..offsets[i + 1].as_usize())
            .map(|j| {
                if values.is_valid(j) {
                    serde_json::Value::String(values.value(j).to_string())
                } else {
                    serde_json::Value::Null
                }
            })
            .collect();
        out.append_value(serde_json::Value::Array(items).to_string());
    }
    Ok(out.finish())
}

/// The first number (optionally signed, optionally with a fraction) in `s`.
pub fn first_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let start = b.iter().position(|c| c.is_ascii_digit())?;
    let mut lo = start;
    if lo > 0 && b[lo - 1] == b'-' {
        lo -= 1;
    }
    let mut hi = start;
    while hi < b.len() && b[hi].is_ascii_digit() {
        hi += 1;
    }
    if hi + 1 < b.len() && b[hi] == b'.' && b[hi + 1].is_ascii_digit() {
        hi += 1;
        while hi < b.len() && b[hi].is_ascii_digit() {
            hi += 1;
        }
    }
    s[lo..hi].parse().ok()
}

fn text_column(a: &ArrayRef, how: &How) -> Result<ArrayRef, arrow::error::ArrowError> {
    Ok(match how {
        How::Text | How::Scalar => Arc::new(to_utf8(a)?),
        How::Chat { msgs, content, role } => match a.data_type() {
            DataType::LargeList(_) => Arc::new(render_chat(a.as_list::<i64>(), *msgs, *content, *role)?),
            _ => Arc::new(render_chat(a.as_list::<i32>(), *msgs, *content, *role)?),
        },
        How::ListJson => match a.data_type() {
            DataType::LargeList(_) => Arc::new(list_json(a.as_list::<i64>())?),
            _ => Arc::new(list_json(a.as_list::<i32>())?),
        },
        _ => Arc::new(StringArray::new_null(a.len())),
    })
}

/// Loads `src` into a canonical dataset at `dst` (Parquet). `check` is called between
/// batches (cancellation).
pub fn load(
    src: &Path,
    dst: &Path,
    opts: &LoadOptions,
    mut check: impl FnMut() -> Result<()>,
) -> Result<LoadReport> {
    let reader = io::open(src, opts.format)?;
    let schema = reader.schema();
    if reader.num_rows() == Some(0) {
        return Err(DataError::Empty {
            path: src.to_path_buf(),
        });
    }
    let id = resolve(src, &schema, Role::Id, opts.id.as_deref())?;
    let prompt = resolve(src, &schema, Role::Prompt, opts.prompt.as_deref())?;
    let response = resolve(src, &schema, Role::Response, opts.response.as_deref())?;
    let answer = resolve(src, &schema, Role::Answer, opts.answer.as_deref())?;
    let difficulty = resolve(src, &schema, Role::Difficulty, opts.difficulty.as_deref())?;
    let roles = [&id, &prompt, &response, &answer, &difficulty];

    // Source columns consumed as they are (a plain rename) are not kept as extras, except
    // the difficulty's: it is a measurement later stages may still ask for by its own name
    // (`slice_by = "steps"`), unless it already is the `difficulty` column.
    let renamed = [&id, &prompt, &response, &answer]
        .into_iter()
        .chain((difficulty.name == DIFFICULTY).then_some(&difficulty));
    let consumed: HashSet<usize> = renamed
        .filter(|r| r.path.len() == 1 && matches!(r.how, How::Text | How::IntId | How::Int | How::Float))
        .map(|r| r.path[0])
        .collect();
    let mut extras: Vec<(usize, Field)> = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if consumed.contains(&i) {
            continue;
        }
        if let Keep::Only(names) = &opts.keep
            && !names.iter().any(|n| n == f.name())
        {
            continue;
        }
        let name = if CANONICAL.contains(&f.name().as_str()) {
            format!("source_{}", f.name())
        } else {
            f.name().clone()
        };
        // (Only a renamed column is looked up: `index_of` scans the schema.)
        if name != *f.name() && schema.index_of(&name).is_ok() {
            continue; // `source_x` already exists in the source; keep that one.
        }
        extras.push((i, f.as_ref().clone().with_name(name).with_nullable(true)));
    }
    if let Keep::Only(names) = &opts.keep {
        for n in names {
            if schema.index_of(n).is_err() {
                return Err(missing_column(src, n, &schema));
            }
        }
    }
    let diff_type = match difficulty.how {
        How::Int => DataType::Int64,
        _ => DataType::Float64,
    };
    let mut fields = schema::canonical_fields(diff_type.clone());
    fields.extend(extras.iter().map(|(_, f)| f.clone()));
    let out_schema: SchemaRef = Arc::new(Schema::new(fields));

    let mut mapping = Vec::new();
    for (r, role) in roles.iter().zip([
        Role::Id,
        Role::Prompt,
        Role::Response,
        Role::Answer,
        Role::Difficulty,
    ]) {
        let how = match &r.how {
            How::Null => "null".to_string(),
            How::RowNumber => "row number".to_string(),
            How::Chat { msgs, .. } => format!("`{}` (chat messages: {msgs:?})", r.name),
            How::ParseNumber => format!("`{}` (first number in the text)", r.name),
            How::ListJson => format!("`{}` (list as JSON)", r.name),
            _ => format!("`{}`", r.name),
        };
        mapping.push(format!("{} ← {how}", role.name()));
    }

    let mut sink = ParquetSink::create(dst, out_schema.clone())?;
    let mut seen_ids: HashSet<i64> = HashSet::new();
    let mut row0 = 0usize;
    let limit = opts.limit.unwrap_or(usize::MAX);
    let err = |e: arrow::error::ArrowError| DataError::arrow(src, e);
    for batch in reader {
        check()?;
        let mut batch = batch?;
        if row0 >= limit {
            break;
        }
        if batch.num_rows() > limit - row0 {
            batch = batch.slice(0, limit - row0);
        }
        let n = batch.num_rows();
        // id
        let id_arr: ArrayRef = match id.how {
            How::IntId => {
                let a = extract(&batch, &id.path).map_err(err)?;
                let a = arrow::compute::cast(&a, &DataType::Int64).map_err(err)?;
                let a = a.as_primitive::<arrow::datatypes::Int64Type>();
                for i in 0..n {
                    if a.is_null(i) {
                        return Err(DataError::invalid(
                            src,
                            format!("column `{}`: null id in row {}", id.name, row0 + i),
                        ));
                    }
                    if !seen_ids.insert(a.value(i)) {
                        return Err(DataError::invalid(
                            src,
                            format!(
                                "column `{}`: duplicate id {} in row {}",
                                id.name,
                                a.value(i),
                                row0 + i
                            ),
                        ));
                    }
                }
                Arc::new(a.clone())
            }
            _ => Arc::new(Int64Array::from_iter_values((row0..row0 + n).map(|i| i as i64))),
        };
        let text = |r: &Resolved| -> Result<ArrayRef> {
            if r.path.is_empty() {
                return Ok(Arc::new(StringArray::new_null(n)));
            }
            let a = extract(&batch, &r.path).map_err(err)?;
            text_column(&a, &r.how).map_err(|e| DataError::ColumnType {
                path: src.to_path_buf(),
                column: r.name.clone(),
                expected: "text convertible to utf8".into(),
                found: e.to_string(),
            })
        };
        let prompt_arr = text(&prompt)?;
        if prompt_arr.null_count() > 0 {
            let row = (0..n).find(|&i| prompt_arr.is_null(i)).unwrap_or(0) + row0;
            return Err(DataError::invalid(
                src,
                format!(
                    "column `{}`: null prompt in row {row} (every row needs a prompt)",
                    prompt.name
                ),
            ));
        }
        let response_arr = text(&response)?;
        let answer_arr = text(&answer)?;
        let diff_arr: ArrayRef = match difficulty.how {
            How::Null => arrow::array::new_null_array(&diff_type, n),
            How::Int | How::Float => {
                let a = extract(&batch, &difficulty.path).map_err(err)?;
                arrow::compute::cast(&a, &diff_type).map_err(err)?
            }
            _ => {
                let a = extract(&batch, &difficulty.path).map_err(err)?;
                let s = to_utf8(&a).map_err(err)?;
                Arc::new(
                    s.iter()
                        .map(|v| v.and_then(first_number))
                        .collect::<Float64Array>(),
                )
            }
        };
        let mut cols = vec![id_arr, prompt_arr, response_arr, answer_arr, diff_arr];
        cols.extend(extras.iter().map(|(i, _)| batch.column(*i).clone()));
        let out = RecordBatch::try_new(out_schema.clone(), cols).map_err(err)?;
        sink.write(&out)?;
        row0 += n;
    }
    if row0 == 0 {
        drop(sink);
        let _ = std::fs::remove_file(dst);
        return Err(DataError::Empty {
            path: src.to_path_buf(),
        });
    }
    sink.finish()?;
    Ok(LoadReport {
        rows: row0,
        mapping,
        kept: extras.iter().map(|(_, f)| f.name().clone()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::{col_f64, col_i64, col_str, read_all};
    use arrow::array::{ListBuilder, StructBuilder};
    use arrow::datatypes::Fields;

    fn write(path: &Path, batch: &RecordBatch) {
        let mut s = ParquetSink::create(path, batch.schema()).unwrap();
        s.write(batch).unwrap();
        s.finish().unwrap();
    }

    fn msg_fields() -> Fields {
        Fields::from(vec![
            Field::new("role", DataType::Utf8, true),
            Field::new("content", DataType::Utf8, true),
        ])
    }

    fn chat_column(rows: &[Option<&[(&str, &str)]>]) -> ArrayRef {
        let mut b = ListBuilder::new(StructBuilder::from_fields(msg_fields(), 4));
        for r in rows {
            match r {
                None => b.append(false),
                Some(msgs) => {
                    for (role, content) in *msgs {
                        let s = b.values();
                        s.field_builder::<StringBuilder>(0).unwrap().append_value(role);
                        s.field_builder::<StringBuilder>(1).unwrap().append_value(content);
                        s.append(true);
                    }
                    b.append(true);
                }
            }
        }
        Arc::new(b.finish())
    }

    #[test]
    fn verl_schema_maps_without_conversion() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("verl.parquet");
        let prompt = chat_column(&[
            Some(&[("system", "Be brief."), ("user", "1+1?")]),
            Some(&[("user", "2+2?")]),
        ]);
        let gt = Arc::new(StringArray::from(vec![Some("2"), None])) as ArrayRef;
        let style = Arc::new(StringArray::from(vec!["rule", "rule"])) as ArrayRef;
        let rm = arrow::array::StructArray::from(vec![
            (Arc::new(Field::new("ground_truth", DataType::Utf8, true)), gt),
            (Arc::new(Field::new("style", DataType::Utf8, true)), style),
        ]);
        let ds = Arc::new(StringArray::from(vec!["gsm8k", "math"])) as ArrayRef;
        let batch = RecordBatch::try_from_iter(vec![
            ("data_source", ds),
            ("prompt", prompt),
            ("reward_model", Arc::new(rm) as ArrayRef),
        ])
        .unwrap();
        write(&src, &batch);
        let dst = dir.path().join("out.parquet");
        let rep = load(&src, &dst, &LoadOptions::default(), || Ok(())).unwrap();
        assert_eq!(rep.rows, 2);
        assert_eq!(
            rep.kept,
            ["data_source", "source_prompt", "reward_model"],
            "{rep:?}"
        );
        let b = read_all(&dst);
        assert_eq!(
            col_str(&b, "prompt"),
            [Some("Be brief.\n\n1+1?".into()), Some("2+2?".into())]
        );
        assert_eq!(col_str(&b, "answer"), [Some("2".into()), None]);
        assert_eq!(col_i64(&b, "id"), [Some(0), Some(1)]);
        assert_eq!(col_str(&b, "data_source")[1].as_deref(), Some("math"));
        assert_eq!(b.column_by_name("response").unwrap().null_count(), 2);
    }

    #[test]
    fn sft_messages_split_into_prompt_and_response() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("sft.parquet");
        let m = chat_column(&[Some(&[
            ("user", "hi"),
            ("assistant", "hello"),
            ("user", "bye"),
            ("assistant", "ciao"),
        ])]);
        let lvl = Arc::new(StringArray::from(vec!["Level 3"])) as ArrayRef;
        let batch = RecordBatch::try_from_iter(vec![("messages", m), ("level", lvl)]).unwrap();
        write(&src, &batch);
        let dst = dir.path().join("out.parquet");
        load(&src, &dst, &LoadOptions::default(), || Ok(())).unwrap();
        let b = read_all(&dst);
        assert_eq!(col_str(&b, "prompt")[0].as_deref(), Some("hi\n\nhello\n\nbye"));
        assert_eq!(col_str(&b, "response")[0].as_deref(), Some("ciao"));
        assert_eq!(col_f64(&b, "difficulty")[0], Some(3.0));
        assert!(b.column_by_name("messages").is_some());
    }

    #[test]
    fn explicit_mapping_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("x.parquet");
        let q = Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef;
        let sol = Arc::new(StringArray::from(vec![Some("s"), None])) as ArrayRef;
        let ops = Arc::new(Int64Array::from(vec![3, 7])) as ArrayRef;
        let idc = Arc::new(Int64Array::from(vec![10, 10])) as ArrayRef;
        let batch = RecordBatch::try_from_iter(vec![
            ("q", q.clone()),
            ("sol", sol),
            ("ops", ops.clone()),
            ("uid", idc),
        ])
        .unwrap();
        write(&src, &batch);
        let dst = dir.path().join("o.parquet");
        let mut o = LoadOptions {
            prompt: Some("q".into()),
            response: Some("sol".into()),
            difficulty: Some("ops".into()),
            ..Default::default()
        };
        load(&src, &dst, &o, || Ok(())).unwrap();
        let b = read_all(&dst);
        assert_eq!(col_i64(&b, "difficulty"), [Some(3), Some(7)]);
        assert_eq!(
            b.schema().field_with_name("difficulty").unwrap().data_type(),
            &DataType::Int64
        );
        // Renamed columns are not duplicated; the unused `uid` is kept, and so is the
        // difficulty's source column `ops`.
        assert!(b.column_by_name("q").is_none() && b.column_by_name("uid").is_some());
        assert_eq!(col_i64(&b, "ops"), [Some(3), Some(7)]);

        o.id = Some("uid".into());
        let e = load(&src, &dst, &o, || Ok(())).unwrap_err().to_string();
        assert!(e.contains("duplicate id 10") && e.contains("x.parquet"), "{e}");

        o.id = Some("q".into());
        let e = load(&src, &dst, &o, || Ok(())).unwrap_err();
        assert!(
            matches!(&e, DataError::ColumnType { column, found, .. } if column == "q" && found == "string"),
            "{e}"
        );
        o.id = None;
        o.answer = Some("nope".into());
        let e = load(&src, &dst, &o, || Ok(())).unwrap_err();
        assert!(
            matches!(&e, DataError::MissingColumn { column, .. } if column == "nope"),
            "{e}"
        );
        assert!(e.to_string().contains("columns: q, sol, ops, uid"), "{e}");

        // No prompt-like column at all.
        let only = RecordBatch::try_from_iter(vec![("ops", ops)]).unwrap();
        write(&src, &only);
        let e = load(&src, &dst, &LoadOptions::default(), || Ok(())).unwrap_err();
        assert!(matches!(e, DataError::MissingColumn { .. }), "{e}");
        // Mistyped auto-detected prompt.
        let bad =
            RecordBatch::try_from_iter(vec![("prompt", Arc::new(Int64Array::from(vec![1])) as ArrayRef)])
                .unwrap();
        write(&src, &bad);
        let e = load(&src, &dst, &LoadOptions::default(), || Ok(())).unwrap_err();
        assert!(
            e.to_string()
                .contains("expected a string column or a list of {role, content} messages, found Int64"),
            "{e}"
        );
        // Null prompt.
        let nullp = RecordBatch::try_from_iter(vec![(
            "prompt",
            Arc::new(StringArray::from(vec![Some("a"), None])) as ArrayRef,
        )])
        .unwrap();
        write(&src, &nullp);
        let e = load(&src, &dst, &LoadOptions::default(), || Ok(()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("null prompt in row 1"), "{e}");
        // Empty.
        write(&src, &nullp.slice(0, 0));
        assert!(matches!(
            load(&src, &dst, &LoadOptions::default(), || Ok(())),
            Err(DataError::Empty { .. })
        ));
        // Missing and unreadable files.
        let e = load(
            &dir.path().join("none.parquet"),
            &dst,
            &LoadOptions::default(),
            || Ok(()),
        )
        .unwrap_err();
        assert!(matches!(e, DataError::NotFound { .. }));
        std::fs::write(&src, "garbage").unwrap();
        let e = load(&src, &dst, &LoadOptions::default(), || Ok(())).unwrap_err();
        assert!(matches!(e, DataError::Unreadable { .. }), "{e}");
    }

    #[test]
    fn jsonl_with_limit_and_keep() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("x.jsonl");
        std::fs::write(
            &src,
            "{\"question\": \"q1\", \"answer\": 5, \"src\": \"a\", \"other\": 1}\n\
             {\"question\": \"q2\", \"answer\": 6, \"src\": \"b\", \"other\": 2}\n\
             {\"question\": \"q3\", \"answer\": null, \"src\": \"c\", \"other\": 3}\n",
        )
        .unwrap();
        let dst = dir.path().join("o.parquet");
        let o = LoadOptions {
            limit: Some(2),
            keep: Keep::Only(vec!["src".into()]),
            ..Default::default()
        };
        let rep = load(&src, &dst, &o, || Ok(())).unwrap();
        assert_eq!(rep.rows, 2);
        let b = read_all(&dst);
        assert_eq!(col_str(&b, "answer"), [Some("5".into()), Some("6".into())]);
        assert_eq!(b.num_columns(), 6);
    }

    #[test]
    fn a_canonical_column_of_the_wrong_type_is_an_error_an_alias_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("o.parquet");
        let src = dir.path().join("x.jsonl");
        // `difficulty` of lists: meant as the difficulty, and unreadable as one.
        std::fs::write(&src, "{\"prompt\": \"q\", \"difficulty\": [1, 2]}\n").unwrap();
        let e = load(&src, &dst, &LoadOptions::default(), || Ok(())).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("x.jsonl") && text.contains("`difficulty`") && text.contains("a numeric column"),
            "{text}"
        );
        // `answer` as a struct, likewise.
        std::fs::write(&src, "{\"prompt\": \"q\", \"answer\": {\"k\": 1}}\n").unwrap();
        let e = load(&src, &dst, &LoadOptions::default(), || Ok(())).unwrap_err();
        assert!(e.to_string().contains("`answer`"), "{e}");
        // An alias of another type is not the column: `level` of lists leaves the
        // difficulty null and is kept under its name.
        std::fs::write(&src, "{\"prompt\": \"q\", \"level\": [1, 2]}\n").unwrap();
        load(&src, &dst, &LoadOptions::default(), || Ok(())).unwrap();
        let b = read_all(&dst);
        assert!(b.column_by_name("level").is_some());
        assert_eq!(b.column_by_name("difficulty").unwrap().null_count(), 1);
    }

    #[test]
    fn numbers_in_text() {
        assert_eq!(first_number("Level 5"), Some(5.0));
        assert_eq!(first_number("x -2.5 y"), Some(-2.5));
        assert_eq!(first_number("none"), None);
    }
}
