//! `synth.haystack_qa`: long-context QA from any QA dataset (RULER's `qa`, PAPERS.md §5):
//! each question's gold paragraph(s) among distractor paragraphs taken from other rows,
//! rendered as `Document i:` blocks followed by the question.
//!
//! Input columns (names configurable): a question (default `prompt`, which is where
//! `load` puts a `question` column), an answer (default `answer`; a JSON array text, as
//! `load` renders answer lists, gives several golds) and a context (default `context`:
//! a string, or a list of strings = several gold paragraphs).
//!
//! Size: a fixed number of distractors, or — when `length` is given — as many as bring
//! the prompt closest to `length` tokens (within 1% when the material allows).
//!
//! Invariants: gold paragraphs are never used as distractors for their own question
//! (distractors are other rows' paragraphs that differ from every gold one); golds sit at
//! random positions; every sample is a deterministic function of the input and the seed.
//! The whole question/context/answer columns are held in memory (QA sets are small).
//!
//! Output columns: canonical (`prompt` = documents + question, `response` = `answer` =
//! the first gold answer, `difficulty` = number of documents) + `question`, `documents`,
//! `tokens`, `source_id` (the input row's id), `answers` (list).

use super::io;
use super::ruler::fit;
use super::schema::{Cell, ColType, TableBuilder, int, text, write_generated};
use super::text::TokenCounter;
use super::{DataError, Result};
use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;
use std::path::Path;

/// Parameters of the generator.
#[derive(Debug, Clone)]
pub struct HaystackParams {
    /// Samples to make (0 = one per input row); rows are drawn in a seeded random order.
    pub n: usize,
    pub question: String,
    pub answer: String,
    pub context: String,
    /// Distractor paragraphs per sample (ignored when `length` is set).
    pub distractors: usize,
    /// Target length in tokens.
    pub length: Option<usize>,
    pub seed: u64,
}

struct Row {
    id: i64,
    question: String,
    answers: Vec<String>,
    golds: Vec<String>,
}

fn read_rows(src: &Path, p: &HaystackParams) -> Result<Vec<Row>> {
    let schema = io::parquet_schema(src)?;
    let has_id = schema.index_of("id").is_ok();
    let mut cols = vec![p.question.as_str(), p.answer.as_str(), p.context.as_str()];
    if has_id {
        cols.push("id");
    }
    for c in &cols {
        if schema.index_of(c).is_err() {
            return Err(io::missing_column(src, c, &schema));
        }
    }
    let ctx_type = schema
        .field_with_name(&p.context)
        .map(|f| f.data_type().clone())
        .unwrap_or(DataType::Null);
    let is_list = match &ctx_type {
        DataType::List(f) | DataType::LargeList(f) => {
            matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => false,
        other => {
            return Err(DataError::ColumnType {
                path: src.to_path_buf(),
                column: p.context.clone(),
                expected: "a string or a list of strings (the gold paragraphs)".into(),
                found: format!("{other}"),
            });
        }
    };
    let mut rows = Vec::new();
    let mut row_no = 0i64;
    let err = |c: &str, e: arrow::error::ArrowError| DataError::ColumnType {
        path: src.to_path_buf(),
        column: c.to_string(),
        expected: "text".into(),
        found: e.to_string(),
    };
    for batch in io::open_parquet(src, Some(&cols))? {
        let batch = batch?;
        let get = |c: &str| {
            batch
                .column_by_name(c)
                .cloned()
                .ok_or_else(|| io::missing_column(src, c, &schema))
        };
        let q = arrow::compute::cast(&get(&p.question)?, &DataType::Utf8).map_err(|e| err(&p.question, e))?;
        let a = arrow::compute::cast(&get(&p.answer)?, &DataType::Utf8).map_err(|e| err(&p.answer, e))?;
        let ids = if has_id {
            Some(arrow::compute::cast(&get("id")?, &DataType::Int64).map_err(|e| err("id", e))?)
        } else {
            None
        };
        let ctx = get(&p.context)?;
        let target = if is_list {
            DataType::List(std::sync::Arc::new(arrow::datatypes::Field::new(
                "item",
                DataType::Utf8,
                true,
            )))
        } else {
            DataType::Utf8
        };
        let ctx = arrow::compute::cast(&ctx, &target).map_err(|e| err(&p.context, e))?;
        let (q, a) = (q.as_string::<i32>(), a.as_string::<i32>());
        for i in 0..batch.num_rows() {
            let id = ids
                .as_ref()
                .map(|c| c.as_primitive::<arrow::datatypes::Int64Type>().value(i))
                .unwrap_or(row_no);
            row_no += 1;
            let golds: Vec<String> = if is_list {
                let l = ctx.as_list::<i32>();
                if l.is_null(i) {
                    Vec::new()
                } else {
                    let v = l.value(i);
                    let s = v.as_string::<i32>();
                    s.iter().flatten().map(str::to_string).collect()
                }
            } else {
                let s = ctx.as_string::<i32>();
                if s.is_null(i) {
                    Vec::new()
                } else {
                    vec![s.value(i).to_string()]
                }
            };
            let golds: Vec<String> = golds.into_iter().filter(|g| !g.trim().is_empty()).collect();
            if q.is_null(i) || a.is_null(i) || golds.is_empty() {
                continue; // Rows without a question, an answer or a context cannot be used.
            }
            let ans = a.value(i);
            let answers = match serde_json::from_str::<Vec<serde_json::Value>>(ans) {
                Ok(list) if ans.trim_start().starts_with('[') => list
                    .into_iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect(),
                _ => vec![ans.to_string()],
            };
            if answers.is_empty() {
                continue;
            }
            rows.push(Row {
                id,
                question: q.value(i).to_string(),
                answers,
                golds,
            });
        }
    }
    Ok(rows)
}

/// Writes long-context QA samples built from the QA dataset `src` to `dst`.
pub fn generate(
    src: &Path,
    p: &HaystackParams,
    counter: &TokenCounter,
    dst: &Path,
    mut check: impl FnMut() -> Result<()>,
) -> Result<usize> {
    let rows = read_rows(src, p)?;
    if rows.len() < 2 {
        return Err(DataError::invalid(
            src,
            format!(
                "{} usable rows (with question `{}`, answer `{}` and context `{}`); at least 2 are needed",
                rows.len(),
                p.question,
                p.answer,
                p.context
            ),
        ));
    }
    // The distractor pool: every distinct paragraph, with the row it came from.
    let mut seen = HashSet::new();
    let mut pool: Vec<(usize, &str)> = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        for g in &row.golds {
            if seen.insert(g.as_str()) {
                pool.push((r, g.as_str()));
            }
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.shuffle(&mut rng);
    let n = if p.n == 0 { rows.len() } else { p.n.min(rows.len()) };
    let b = TableBuilder::new(
        ColType::Int,
        &[
            ("question", ColType::Str),
            ("documents", ColType::Int),
            ("tokens", ColType::Int),
            ("source_id", ColType::Int),
            ("answers", ColType::StrList),
        ],
    );
    let instruction = "Answer the question based on the given documents. \
                       Only give me the answer and do not output any other words.";
    write_generated(dst, b, n, |i| {
        check()?;
        let row = &rows[order[i]];
        let golds: HashSet<&str> = row.golds.iter().map(String::as_str).collect();
        let stream_seed: u64 = rng.random();
        let depths: Vec<f64> = row.golds.iter().map(|_| rng.random_range(0.0..1.0)).collect();
        // Every gold text is in the pool exactly once; all other entries are usable.
        let usable = pool.len() - golds.len();
        // The first k distractors of a per-sample random stream over the pool.
        let distractors = |k: usize| -> Vec<&str> {
            let mut r = ChaCha8Rng::seed_from_u64(stream_seed);
            let mut taken = HashSet::new();
            let mut out = Vec::with_capacity(k);
            let k = k.min(usable);
            while out.len() < k {
                let j = r.random_range(0..pool.len());
                let (src_row, t) = pool[j];
                if src_row != order[i] && !golds.contains(t) && taken.insert(j) {
                    out.push(t);
                }
            }
            out
        };
        let build = |k: usize| -> String {
            let mut docs = distractors(k);
            let mut at: Vec<(usize, usize)> = depths
                .iter()
                .enumerate()
                .map(|(g, d)| (((d * docs.len() as f64).round() as usize).min(docs.len()), g))
                .collect();
            at.sort();
            for (pos, g) in at.into_iter().rev() {
                docs.insert(pos, row.golds[g].as_str());
            }
            let mut s = String::new();
            for (j, d) in docs.iter().enumerate() {
                s.push_str(&format!("Document {}:\n{d}\n\n", j + 1));
            }
            s.push_str(instruction);
            s.push_str("\n\nQuestion: ");
            s.push_str(&row.question);
            s
        };
        let (prompt, tokens, k) = match p.length {
            Some(target) => fit(&build, target, counter, usable)?,
            None => {
                let k = p.distractors.min(usable);
                let s = build(k);
                let t = counter.count(&s)?;
                (s, t, k)
            }
        };
        let docs = (k + golds.len()) as i64;
        Ok(vec![
            int(i as i64),
            text(prompt),
            text(row.answers[0].clone()),
            text(row.answers[0].clone()),
            int(docs),
            text(row.question.clone()),
            int(docs),
            int(tokens as i64),
            int(row.id),
            Cell::StrList(row.answers.clone()),
        ])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::schema::{ColType, TableBuilder, int, text, write_generated};
    use crate::data::testutil::{col_i64, col_str, read_all};

    fn qa(path: &Path, n: usize) {
        let b = TableBuilder::new(ColType::Int, &[("context", ColType::Str)]);
        write_generated(path, b, n, |i| {
            Ok(vec![
                int(i as i64 + 100),
                text(format!("What is the capital of land {i}?")),
                Cell::Str(None),
                text(format!("city{i}")),
                Cell::Int(None),
                text(format!(
                    "Land {i} is a quiet place. Its capital is city{i}, known for its bridges."
                )),
            ])
        })
        .unwrap();
    }

    #[test]
    fn gold_is_present_and_length_fits() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("qa.parquet");
        qa(&src, 200);
        let dst = dir.path().join("out.parquet");
        let mut p = HaystackParams {
            n: 30,
            question: "prompt".into(),
            answer: "answer".into(),
            context: "context".into(),
            distractors: 5,
            length: None,
            seed: 1,
        };
        assert_eq!(
            generate(&src, &p, &TokenCounter::Chars, &dst, || Ok(())).unwrap(),
            30
        );
        let b = read_all(&dst);
        for (pr, (a, d)) in col_str(&b, "prompt")
            .iter()
            .zip(col_str(&b, "answer").iter().zip(col_i64(&b, "documents")))
        {
            let pr = pr.as_deref().unwrap();
            let a = a.as_deref().unwrap();
            assert!(pr.contains(&format!("capital is {a},")), "{pr}");
            assert_eq!(d, Some(6));
            assert!(pr.contains("Document 6:\n") && !pr.contains("Document 7:"));
            // Exactly one paragraph names the answer city.
            assert_eq!(pr.matches(&format!("is {a},")).count(), 1);
        }
        p.length = Some(3000);
        generate(&src, &p, &TokenCounter::Chars, &dst, || Ok(())).unwrap();
        let b = read_all(&dst);
        for (pr, t) in col_str(&b, "prompt").iter().zip(col_i64(&b, "tokens")) {
            let n = pr.as_deref().unwrap().chars().count() as f64;
            assert_eq!(n, t.unwrap() as f64);
            assert!((n - 3000.0).abs() <= 150.0, "{n}");
        }
        // Not enough material.
        p.length = Some(1_000_000);
        assert!(
            generate(&src, &p, &TokenCounter::Chars, &dst, || Ok(()))
                .unwrap_err()
                .to_string()
                .contains("cannot reach")
        );
        p.context = "nope".into();
        assert!(matches!(
            generate(&src, &p, &TokenCounter::Chars, &dst, || Ok(())),
            Err(DataError::MissingColumn { .. })
        ));
        p.context = "id".into();
        assert!(matches!(
            generate(&src, &p, &TokenCounter::Chars, &dst, || Ok(())),
            Err(DataError::ColumnType { .. })
        ));
    }
}
