//! The `concat` stage kind: datasets appended in order (columns unified by name, missing
//! ones null; `data::split::concat`), ids renumbered or kept, each row labelled with its
//! input's instance name.
//!
//! Invariant: with `label = true` the output shows the inputs' instance names, so they
//! enter the key (renaming a producer reruns the stage); without it a rename keeps the
//! entry cached.

use super::artifact::DATASET_FILE;
use super::data::{checker, data_err, dataset_output};
use super::declare::Stage;
use super::{ArtifactKind, InputSpec, StageContext, StageResult};
use crate::data::split::{ConcatOptions, concat};
use std::path::PathBuf;

crate::param_enum! {
    /// What `concat` does with the inputs' ids.
    pub enum Ids {
        /// number the rows 0…N−1
        Renumber = "renumber",
        /// keep them (they must be unique across the inputs)
        Keep = "keep",
    }
}

crate::stage_params! {
    /// Parameters of [`Concat`].
    pub struct ConcatParams {
        /// renumber ids 0…N−1, or keep them (they must then be unique across inputs)
        ids: Ids = Ids::Renumber,
        /// add a `part` column holding each row's input instance name
        label: bool = true,
    }
}

/// `concat(a, b, …)`.
pub struct Concat;

impl Stage for Concat {
    const NAME: &'static str = "concat";
    const VERSION: u32 = 1;
    const DOC: &'static str = "Append datasets (columns unified by name, missing ones null), renumbering ids and labelling each row's source in `part`";
    const INPUTS: &'static [InputSpec] = &[InputSpec::many(
        "parts",
        ArtifactKind::Dataset,
        "the datasets, in order (a sweep family counts as its members)",
    )];
    const OUTPUT: ArtifactKind = ArtifactKind::Dataset;
    type Params = ConcatParams;

    /// `label = true` writes each input's instance name into `part`.
    fn reads_input_names(p: &ConcatParams) -> bool {
        p.label
    }

    fn run(p: &ConcatParams, ctx: &StageContext) -> StageResult {
        let members = ctx.slot("parts");
        let paths: Vec<PathBuf> = members.iter().map(|m| m.file(DATASET_FILE)).collect();
        let opts = ConcatOptions {
            renumber: p.ids == Ids::Renumber,
            labels: p
                .label
                .then(|| members.iter().map(|m| m.instance.clone()).collect()),
        };
        let rows = concat(&paths, &dataset_output(ctx), &opts, checker(ctx)).map_err(data_err)?;
        ctx.log(&format!("concat: {rows} rows from {} inputs", paths.len()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::testutil::{kind, params};
    use crate::value::Value;

    #[test]
    fn input_names_enter_the_key_only_when_labelled() {
        assert!(kind("concat").reads_input_names(&params::<ConcatParams>(&[])));
        let unlabelled = params::<ConcatParams>(&[("label", Value::Bool(false))]);
        assert!(!kind("concat").reads_input_names(&unlabelled));
    }
}
