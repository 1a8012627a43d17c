//! The `export` stage kind: a dataset written to a user path as Parquet or JSONL
//! (`data::split::export`), passed through as the stage's own output.
//!
//! Invariants: the path is an output file, so lowering confines it to the project folder
//! or an allowed one and never lets it name a pipeline, lock or `sieve.toml` file; an
//! existing file is replaced only with `overwrite = true`; the artifact is the input
//! dataset itself (linked or copied), so downstream stages see the same bytes.

use super::data::{FileFormat, data_err, dataset_input, dataset_output};
use super::declare::{OutputFile, Problems, Stage};
use super::{ArtifactKind, InputSpec, StageContext, StageResult};
use crate::data::{io, split};

crate::stage_params! {
    /// Parameters of [`Export`].
    pub struct ExportParams {
        /// destination file (.parquet or .jsonl), relative to the pipeline file; inside the project folder or an allowed one, never in the store
        path: OutputFile,
        /// file format (auto = from the extension; Parquet when unknown)
        format: FileFormat = FileFormat::Auto,
        /// replace an existing file (never a pipeline file, a lock file or sieve.toml)
        overwrite: bool = false,
    }
}

/// `export(data, path = …)`.
pub struct Export;

impl Stage for Export {
    const NAME: &'static str = "export";
    const VERSION: u32 = 1;
    const DOC: &'static str = "Write a dataset to a user path as Parquet or JSONL (refuses to overwrite unless asked); passes the dataset through";
    const INPUTS: &'static [InputSpec] = &[InputSpec::one(
        "data",
        ArtifactKind::Dataset,
        "the dataset to write",
    )];
    const OUTPUT: ArtifactKind = ArtifactKind::Dataset;
    type Params = ExportParams;

    fn validate(p: &ExportParams, problems: &mut Problems) {
        if p.path.0.as_os_str().is_empty() {
            problems.at(ExportParams::path, "must not be empty");
        }
    }

    fn run(p: &ExportParams, ctx: &StageContext) -> StageResult {
        let src = dataset_input(ctx, "data")?;
        let dst = &p.path.0;
        let rows = split::export(&src, dst, p.format.format(), p.overwrite).map_err(data_err)?;
        io::link_or_copy(&src, &dataset_output(ctx)).map_err(data_err)?;
        ctx.log(&format!("export: {rows} rows to {}", dst.display()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::data::testutil::{col_str, read_all};
    use crate::stages::StageError;
    use crate::stages::artifact::DATASET_FILE;
    use crate::stages::testutil::{kind, run_kind};
    use crate::value::Value as V;

    fn s(v: &str) -> V {
        V::Str(v.into())
    }

    #[test]
    fn validate_refuses_an_empty_path() {
        let p = crate::stages::testutil::params::<super::ExportParams>(&[("path", s(""))]);
        assert_eq!(
            kind("export").validate(&p),
            vec![(Some("path"), "must not be empty".to_string())]
        );
    }

    /// `load` → `split` (both parts) → `concat` → `export`, as a pipeline chains them.
    #[test]
    fn load_split_concat_export_chain() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("w");
        let src = dir.path().join("in.jsonl");
        let lines: String = (0..40)
            .map(|i| {
                format!(
                    "{{\"question\": \"q{i}\", \"answer\": \"{i}\", \"level\": \"Level {}\"}}\n",
                    i % 5
                )
            })
            .collect();
        std::fs::write(&src, lines).unwrap();
        let loaded = dir.path().join("loaded");
        run_kind(
            kind("load"),
            &[("path", s(src.to_str().unwrap()))],
            &[],
            &loaded,
            &w,
        )
        .unwrap();

        let train = dir.path().join("train");
        let hold = [
            ("mode", s("holdout")),
            ("holdout", V::List(vec![V::Float(3.0), V::Float(4.0)])),
        ];
        run_kind(kind("split"), &hold, &[("data", &loaded)], &train, &w).unwrap();
        let test = dir.path().join("test");
        let mut hold_test = hold.to_vec();
        hold_test.push(("part", s("test")));
        run_kind(kind("split"), &hold_test, &[("data", &loaded)], &test, &w).unwrap();
        let (a, b) = (
            read_all(&train.join(DATASET_FILE)),
            read_all(&test.join(DATASET_FILE)),
        );
        assert_eq!((a.num_rows(), b.num_rows()), (24, 16));

        let both = dir.path().join("both");
        run_kind(
            kind("concat"),
            &[],
            &[("parts", &train), ("parts", &test)],
            &both,
            &w,
        )
        .unwrap();
        let c = read_all(&both.join(DATASET_FILE));
        assert_eq!(c.num_rows(), 40);
        assert_eq!(col_str(&c, "part")[0].as_deref(), Some("parts"));

        let target = dir.path().join("user/out.jsonl");
        let ex = [("path", s(target.to_str().unwrap()))];
        run_kind(
            kind("export"),
            &ex,
            &[("data", &both)],
            &dir.path().join("e1"),
            &w,
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap().lines().count(), 40);
        let e = run_kind(
            kind("export"),
            &ex,
            &[("data", &both)],
            &dir.path().join("e2"),
            &w,
        )
        .unwrap_err();
        assert!(
            matches!(&e, StageError::Input(m) if m.contains("already exists")),
            "{e}"
        );
    }
}
