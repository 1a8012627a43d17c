//! The `load` stage kind: a Parquet or JSONL file read into the canonical dataset schema
//! (the mapping rules are `data::load`'s), written as a dataset artifact.
//!
//! Invariants: the file is an input file, so its content digest is part of the key and
//! editing it reruns the stage; a column mapping is `auto` (detected), `none` (the
//! canonical column stays null; never for `prompt`, which every row needs) or a column
//! name, and enters the key as that word.

use super::data::{FileFormat, checker, data_err, dataset_output};
use super::declare::{InputFile, ParamValue, Problems, Stage};
use super::{ArtifactKind, InputSpec, ParamType, StageContext, StageResult};
use crate::data::load::{Keep, LoadOptions, load};
use crate::value::Value;

/// Where one canonical column comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// `auto`: the first candidate column present (see `data::load`).
    Auto,
    /// `none`: no source column; the canonical column is null.
    None,
    /// A column name or a dotted path into struct columns.
    Column(String),
}

impl Mapping {
    /// The mapping as `data::load` takes it: `None` detects, `Some("")` leaves it null.
    fn option(&self) -> Option<String> {
        match self {
            Mapping::Auto => None,
            Mapping::None => Some(String::new()),
            Mapping::Column(c) => Some(c.clone()),
        }
    }
}

impl ParamValue for Mapping {
    fn param_type() -> ParamType {
        ParamType::Str
    }
    fn from_value(v: &Value) -> Result<Self, String> {
        Ok(match String::from_value(v)?.as_str() {
            "auto" => Mapping::Auto,
            "none" => Mapping::None,
            col => Mapping::Column(col.to_string()),
        })
    }
    fn to_value(&self) -> Option<Value> {
        Some(Value::Str(
            match self {
                Mapping::Auto => "auto",
                Mapping::None => "none",
                Mapping::Column(c) => c,
            }
            .to_string(),
        ))
    }
}

crate::stage_params! {
    /// Parameters of [`Load`].
    pub struct LoadParams {
        /// the file to read (.parquet, .jsonl), relative to the pipeline file; its contents are part of the cache key
        path: InputFile,
        /// file format (auto = from the extension)
        format: FileFormat = FileFormat::Auto,
        /// integer id column (auto: `id`, `index`, else the row number; none = row number)
        id: Mapping = Mapping::Auto,
        /// prompt column or struct path; text or a list of {role, content} messages (auto: prompt, question, problem, input, instruction, query, messages)
        prompt: Mapping = Mapping::Auto,
        /// response column: text or messages (auto: response, solution, completion, output, target, generated_solution, messages; none = null)
        response: Mapping = Mapping::Auto,
        /// final answer column; text, number or list (auto: answer, reward_model.ground_truth, ground_truth, final_answer, expected_answer; none = null)
        answer: Mapping = Mapping::Auto,
        /// difficulty column: numeric, or text whose first number is used (auto: difficulty, level; none = null)
        difficulty: Mapping = Mapping::Auto,
        /// extra source columns to keep (["*"] = all, [] = none)
        keep: Vec<String> = vec!["*".to_string()],
        /// read at most this many rows (0 = all)
        limit: u64 = 0,
    }
}

/// `load(path = …)`.
pub struct Load;

impl Stage for Load {
    const NAME: &'static str = "load";
    /// 2: the difficulty's source column is kept (`difficulty = "steps"` dropped `steps`).
    const VERSION: u32 = 2;
    const DOC: &'static str = "Read a Parquet or JSONL file (verl/HF RL, SFT messages, prompt/completion, plain QA) into the canonical dataset schema, streaming by record batch";
    const INPUTS: &'static [InputSpec] = &[];
    const OUTPUT: ArtifactKind = ArtifactKind::Dataset;
    type Params = LoadParams;

    fn validate(p: &LoadParams, problems: &mut Problems) {
        if p.path.0.as_os_str().is_empty() {
            problems.at(LoadParams::path, "must not be empty");
        }
        if p.prompt == Mapping::None {
            problems.at(
                LoadParams::prompt,
                "every row needs a prompt; `none` is not allowed here",
            );
        }
    }

    fn run(p: &LoadParams, ctx: &StageContext) -> StageResult {
        let keep = if p.keep.iter().any(|c| c == "*") {
            Keep::All
        } else {
            Keep::Only(p.keep.clone())
        };
        let opts = LoadOptions {
            format: p.format.format(),
            id: p.id.option(),
            prompt: p.prompt.option(),
            response: p.response.option(),
            answer: p.answer.option(),
            difficulty: p.difficulty.option(),
            keep,
            limit: (p.limit > 0).then_some(p.limit as usize),
        };
        let src = &p.path.0;
        let rep = load(src, &dataset_output(ctx), &opts, checker(ctx)).map_err(data_err)?;
        ctx.log(&format!("load: {} rows from {}", rep.rows, src.display()));
        for m in &rep.mapping {
            ctx.log(&format!("  {m}"));
        }
        ctx.log(&format!("  kept: {}", rep.kept.join(", ")));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::StageError;
    use crate::stages::testutil::{kind, params, run_kind};

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn validate_refuses_an_empty_path_and_no_prompt() {
        let e = kind("load").validate(&params::<LoadParams>(&[("path", s("")), ("prompt", s("none"))]));
        assert_eq!(
            e,
            vec![
                (Some("path"), "must not be empty".to_string()),
                (
                    Some("prompt"),
                    "every row needs a prompt; `none` is not allowed here".to_string()
                ),
            ]
        );
        assert!(
            kind("load")
                .validate(&params::<LoadParams>(&[("path", s("a.jsonl"))]))
                .is_empty()
        );
    }

    #[test]
    fn mappings_read_as_the_library_takes_them() {
        for (word, mapping, option) in [
            ("auto", Mapping::Auto, None),
            ("none", Mapping::None, Some(String::new())),
            (
                "question",
                Mapping::Column("question".into()),
                Some("question".into()),
            ),
        ] {
            let m = Mapping::from_value(&s(word)).unwrap();
            assert_eq!((&m, m.option()), (&mapping, option));
            assert_eq!(m.to_value(), Some(s(word)));
        }
    }

    #[test]
    fn a_missing_file_is_the_users_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = run_kind(
            kind("load"),
            &[("path", s("/no/such/file.parquet"))],
            &[],
            &dir.path().join("x"),
            &dir.path().join("w"),
        )
        .unwrap_err();
        assert!(
            matches!(&e, StageError::Input(m) if m.contains("file not found")),
            "{e}"
        );
    }
}
