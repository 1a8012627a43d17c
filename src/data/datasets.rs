//! The small datasets shipped in `datasets/` (used by pipelines/ and tests), generated
//! by the data library itself.
//!
//! `scripts/make_datasets.sh` (= `cargo test --lib data::datasets::regenerate -- --ignored`)
//! rewrites them; the `shipped_datasets_are_reproducible` test regenerates them into a
//! temp folder and checks the committed bytes are identical, so the files can never
//! drift from the generators (a generator change must come with regenerated files).

use super::arith::{ArithDifficulty, ArithOp, ArithParams};
use super::igsm::{IgsmParams, Style};
use super::io::ParquetSink;
use super::ruler::{Haystack, RulerParams, Task};
use super::schema::{ColType, TableBuilder, int, text, write_generated};
use super::text::TokenCounter;
use super::{DataError, Result, words};
use arrow::array::{ArrayRef, Int64Builder, ListBuilder, RecordBatch, StringBuilder, StructBuilder};
use arrow::datatypes::{DataType, Field, Fields};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Every shipped dataset file, relative to `datasets/`.
pub const FILES: &[&str] = &[
    "igsm_small.parquet",
    "arith_small.parquet",
    "ruler_small.parquet",
    "qa_small.parquet",
    "verl_sample.parquet",
    "sft_sample.jsonl",
];

fn no_check() -> Result<()> {
    Ok(())
}

/// A synthetic QA set: one fictional fact paragraph per row.
fn qa(path: &Path, n: usize, seed: u64) -> Result<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (a, no) = (words::adjectives(), words::nouns());
    let b = TableBuilder::new(ColType::Int, &[("context", ColType::Str)]);
    let mut used = std::collections::HashSet::new();
    write_generated(path, b, n, |i| {
        let place = loop {
            let p = format!(
                "{}{}",
                a[rng.random_range(0..a.len())],
                no[rng.random_range(0..no.len())]
            );
            if used.insert(p.clone()) {
                break p;
            }
        };
        let cap = words::word(rng.random_range(words::plain_count()..words::word_count()));
        let river = no[rng.random_range(0..no.len())];
        let year = rng.random_range(1200..2000);
        let (question, answer) = match i % 3 {
            0 => (format!("What is the capital of {place}?"), cap.clone()),
            1 => (format!("In which year was {place} founded?"), year.to_string()),
            _ => (
                format!("Which river runs through {cap}?"),
                format!("the {river} river"),
            ),
        };
        let mut ctx = format!(
            "{place} is a small country founded in {year}. Its capital is {cap}, through which runs the {river} river. "
        );
        for _ in 0..3 {
            ctx.push_str(&words::essay_sentence(&mut rng));
            ctx.push(' ');
        }
        Ok(vec![
            int(i as i64),
            text(question),
            super::schema::Cell::Str(None),
            text(answer),
            super::schema::Cell::Int(None),
            text(ctx.trim_end()),
        ])
    })
}

/// A verl/HF RL-style file (chat `prompt`, `reward_model.ground_truth`, `data_source`,
/// `extra_info`) built from iGSM and arithmetic rows.
fn verl(dir: &Path, path: &Path) -> Result<usize> {
    let igsm = super::io::read_parquet(
        &dir.join("igsm_small.parquet"),
        Some(&["prompt", "answer", "difficulty"]),
    )?;
    let arith = super::io::read_parquet(
        &dir.join("arith_small.parquet"),
        Some(&["prompt", "answer", "difficulty"]),
    )?;
    let take =
        |b: &(arrow::datatypes::SchemaRef, Vec<RecordBatch>), k: usize| -> Vec<(String, String, i64)> {
            let batch = &b.1[0];
            let p = super::testutil::col_str(batch, "prompt");
            let a = super::testutil::col_str(batch, "answer");
            let d = super::testutil::col_i64(batch, "difficulty");
            (0..k)
                .map(|i| {
                    (
                        p[i].clone().unwrap_or_default(),
                        a[i].clone().unwrap_or_default(),
                        d[i].unwrap_or(0),
                    )
                })
                .collect()
        };
    let mut rows: Vec<(&str, (String, String, i64))> = Vec::new();
    for (x, y) in take(&igsm, 100).into_iter().zip(take(&arith, 100)) {
        rows.push(("igsm", x));
        rows.push(("arith", y));
    }
    let msg = Fields::from(vec![
        Field::new("role", DataType::Utf8, true),
        Field::new("content", DataType::Utf8, true),
    ]);
    let mut prompt = ListBuilder::new(StructBuilder::from_fields(msg, rows.len()));
    let rm_fields = Fields::from(vec![
        Field::new("ground_truth", DataType::Utf8, true),
        Field::new("style", DataType::Utf8, true),
    ]);
    let mut rm = StructBuilder::from_fields(rm_fields, rows.len());
    let ei_fields = Fields::from(vec![
        Field::new("index", DataType::Int64, true),
        Field::new("ops", DataType::Int64, true),
    ]);
    let mut ei = StructBuilder::from_fields(ei_fields, rows.len());
    let mut src = StringBuilder::new();
    let mut ability = StringBuilder::new();
    for (i, (ds, (p, a, d))) in rows.iter().enumerate() {
        let messages = prompt.values();
        append_text_pair(messages, "system", "Solve the problem. End with 'Answer: <n>'.");
        append_text_pair(messages, "user", p);
        prompt.append(true);
        append_text_pair(&mut rm, a, "rule");
        ei.field_builder::<Int64Builder>(0)
            .expect("index")
            .append_value(i as i64);
        ei.field_builder::<Int64Builder>(1).expect("ops").append_value(*d);
        ei.append(true);
        src.append_value(ds);
        ability.append_value("math");
    }
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("data_source", Arc::new(src.finish())),
        ("prompt", Arc::new(prompt.finish())),
        ("ability", Arc::new(ability.finish())),
        ("reward_model", Arc::new(rm.finish())),
        ("extra_info", Arc::new(ei.finish())),
    ];
    let batch = RecordBatch::try_from_iter(cols).map_err(|e| DataError::arrow(path, e))?;
    let mut sink = ParquetSink::create(path, batch.schema())?;
    sink.write(&batch)?;
    sink.finish()
}

/// Appends a struct of two text fields (a message's role and content, a reward model's
/// ground truth and style) to `s`.
fn append_text_pair(s: &mut StructBuilder, first: &str, second: &str) {
    for (i, value) in [first, second].into_iter().enumerate() {
        s.field_builder::<StringBuilder>(i)
            .expect("a text field")
            .append_value(value);
    }
    s.append(true);
}

/// An SFT JSONL file in the `messages` schema, from arithmetic rows.
fn sft_jsonl(dir: &Path, path: &Path) -> Result<usize> {
    let (_, b) = super::io::read_parquet(&dir.join("arith_small.parquet"), Some(&["prompt", "response"]))?;
    let (p, r) = (
        super::testutil::col_str(&b[0], "prompt"),
        super::testutil::col_str(&b[0], "response"),
    );
    let mut out = String::new();
    for i in 0..100 {
        let line = serde_json::json!({
            "messages": [
                {"role": "user", "content": p[i]},
                {"role": "assistant", "content": r[i]},
            ],
            "source": "arith",
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    std::fs::write(path, out).map_err(|e| DataError::io(path, e))?;
    Ok(100)
}

/// Writes every shipped dataset into `dir`.
pub fn generate_all(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let igsm = IgsmParams {
        n: 2000,
        ops: (2..=12).collect(),
        distractors: vec![0, 1, 2, 3],
        vocab: 120,
        modulus: 23,
        style: Style::Text,
        seed: 1,
    };
    super::igsm::generate(&igsm, &dir.join("igsm_small.parquet"), no_check)?;
    let arith = ArithParams {
        n: 2000,
        digits: (1..=6).collect(),
        ops: vec![ArithOp::Add, ArithOp::Sub, ArithOp::Mul],
        difficulty: ArithDifficulty::Digits,
        seed: 2,
    };
    super::arith::generate(&arith, &dir.join("arith_small.parquet"), no_check)?;
    // RULER: 10 samples per task at 1k / 2k / 4k chars, concatenated.
    let tmp = tempfile::tempdir().map_err(|e| DataError::io(dir, e))?;
    let mut parts = Vec::new();
    for (i, t) in Task::NAMES.iter().enumerate() {
        let mut p = RulerParams::new(Task::parse(t)?, 1024, 10, 10 + i as u64);
        p.lengths = vec![1024, 2048, 4096];
        p.haystack = if t.starts_with("niah_multikey") {
            Haystack::Needles
        } else {
            Haystack::Essay
        };
        let f = tmp.path().join(format!("{t}.parquet"));
        super::ruler::generate(&p, &TokenCounter::Chars, &f, no_check)?;
        parts.push(f);
    }
    let opts = super::split::ConcatOptions {
        renumber: true,
        labels: None,
    };
    super::split::concat(&parts, &dir.join("ruler_small.parquet"), &opts, no_check)?;
    qa(&dir.join("qa_small.parquet"), 300, 4)?;
    verl(dir, &dir.join("verl_sample.parquet"))?;
    sft_jsonl(dir, &dir.join("sft_sample.jsonl"))?;
    Ok(FILES.iter().map(|f| dir.join(f)).collect())
}

/// The repository's `datasets/` folder.
pub fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rewrites `datasets/` (run through `scripts/make_datasets.sh`).
    #[test]
    #[ignore]
    fn regenerate() {
        for f in generate_all(&shipped_dir()).unwrap() {
            println!(
                "wrote {} ({} bytes)",
                f.display(),
                std::fs::metadata(&f).unwrap().len()
            );
        }
    }

    #[test]
    fn shipped_datasets_are_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        generate_all(dir.path()).unwrap();
        for f in FILES {
            let fresh = std::fs::read(dir.path().join(f)).unwrap();
            let shipped = std::fs::read(shipped_dir().join(f))
                .unwrap_or_else(|e| panic!("datasets/{f}: {e} (run scripts/make_datasets.sh)"));
            assert!(
                fresh == shipped,
                "datasets/{f} differs from its generator: run scripts/make_datasets.sh"
            );
        }
    }

    #[test]
    fn shipped_files_load() {
        for f in ["verl_sample.parquet", "sft_sample.jsonl", "qa_small.parquet"] {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("d.parquet");
            let rep = super::super::load::load(&shipped_dir().join(f), &out, &Default::default(), no_check)
                .unwrap();
            assert!(rep.rows >= 100, "{f}");
        }
    }
}
