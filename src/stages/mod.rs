//! The registry of stage kinds, behind one trait: typed parameters, declared input and
//! output artifact kinds, `validate`, `run`.
//!
//! Invariants: a kind's parameter schema is the single source of truth for lowering
//! (typing, defaults, "did you mean"), for the JSON Schema of the YAML form and for the
//! stage catalogue; `VERSION` is bumped whenever a kind's output semantics change, which
//! invalidates its cache entries. Stage bodies call plain libraries (`data`, `model`,
//! `train`, `eval`, `report`); libraries never know about stages.

pub mod artifact;
pub mod catalogue;
pub mod context;
pub mod declare;
pub mod params;

pub use artifact::ArtifactKind;
pub use catalogue::describe_kind;
pub use context::{InputArtifact, InputSlot, Progress, StageContext};
pub use params::{FileParam, INSTANCE_AXIS, ParamSpec, ParamType, Params, file_params};

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// How many inputs a slot takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Exactly one artifact.
    One,
    /// Zero or one artifact.
    Optional,
    /// One or more artifacts: a whole sweep family and/or several references.
    Many,
}

/// A declared input slot of a stage kind (filled by positional arguments, in order).
#[derive(Debug, Clone)]
pub struct InputSpec {
    pub name: &'static str,
    pub kind: ArtifactKind,
    pub arity: Arity,
    pub doc: &'static str,
}

impl InputSpec {
    pub const fn one(name: &'static str, kind: ArtifactKind, doc: &'static str) -> Self {
        InputSpec {
            name,
            kind,
            arity: Arity::One,
            doc,
        }
    }
    pub const fn optional(name: &'static str, kind: ArtifactKind, doc: &'static str) -> Self {
        InputSpec {
            name,
            kind,
            arity: Arity::Optional,
            doc,
        }
    }
    pub const fn many(name: &'static str, kind: ArtifactKind, doc: &'static str) -> Self {
        InputSpec {
            name,
            kind,
            arity: Arity::Many,
            doc,
        }
    }
}

/// Error raised by a stage at run time. Stage bodies convert library errors into it;
/// the executor records it in the stage's log and reports it (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The stage's input data or parameters are unusable (wrong schema, empty, …).
    #[error("invalid input: {0}")]
    Input(String),
    /// Anything else that went wrong while computing.
    #[error("{0}")]
    Failed(String),
    /// The run was interrupted (Ctrl-C); nothing is committed.
    #[error("cancelled")]
    Cancelled,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("Arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("Parquet error: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

impl StageError {
    /// A failure with its message (for errors of libraries the engine does not know,
    /// such as libtorch's).
    pub fn failed(e: impl std::fmt::Display) -> Self {
        StageError::Failed(e.to_string())
    }
}

/// Model-library errors: configuration, tokenizer, device and weight problems are the
/// user's input; libtorch and I/O failures are run failures.
impl From<crate::model::ModelError> for StageError {
    fn from(e: crate::model::ModelError) -> Self {
        use crate::model::ModelError as M;
        match e {
            M::Config(_) | M::Tokenizer(_) | M::Device(_) | M::Weights(_) | M::Invalid(_) => {
                StageError::Input(e.to_string())
            }
            _ => StageError::Failed(e.to_string()),
        }
    }
}

pub type StageResult = Result<(), StageError>;

/// One kind of stage (`synth.arith`, `load`, `sft`, …).
pub trait StageKind: Send + Sync {
    /// The dotted name used in pipelines.
    fn name(&self) -> &'static str;
    /// Bumped whenever the output for the same inputs and parameters changes.
    fn version(&self) -> u32;
    /// One-line description for the catalogue and `--help`.
    fn doc(&self) -> &'static str;
    /// Input slots, filled in order by positional arguments.
    fn inputs(&self) -> Vec<InputSpec>;
    /// Parameter schema (named arguments).
    fn params(&self) -> Vec<ParamSpec>;
    /// The artifact kind this stage produces.
    fn output(&self) -> ArtifactKind;
    /// Whether the kind runs libtorch code never, always or for some parameters.
    fn torch(&self) -> declare::Torch {
        declare::Torch::Never
    }
    /// Whether this instance runs libtorch code. Such kinds implement [`StageKind::run`]
    /// through [`torch::run`]; `sieve run` hands a run to `sieve-torch` when one of them
    /// is not cached.
    fn needs_torch(&self, _params: &Params) -> bool {
        false
    }
    /// Whether this instance folds the libtorch version and the device class into its
    /// key (numerics differ across them): every instance that runs libtorch code.
    fn device_sensitive(&self, params: &Params) -> bool {
        self.needs_torch(params)
    }
    /// Variables the output artifact carries besides its sweep coordinates, which a
    /// consumer's [`ParamType::Axis`] parameter may name (evaluate's metrics are sliced by
    /// their `slice_by` column, also called `slice`). Lowering checks axes against them.
    fn output_variables(&self, _params: &Params) -> Vec<String> {
        Vec::new()
    }
    /// Whether this instance's output shows its inputs' instance names (a label column,
    /// a report's row names). Names then enter the key, so renaming a producer reruns the
    /// stage; for every other kind a rename keeps it cached.
    fn reads_input_names(&self, _params: &Params) -> bool {
        false
    }
    /// The device this instance asks for (`auto`, `cuda:1`, …), if it has a device parameter.
    fn device(&self, params: &Params) -> Option<String> {
        params
            .get("device")
            .and_then(crate::value::Value::as_str)
            .map(str::to_string)
    }
    /// Semantic checks beyond types, run at lowering time. Each error names the
    /// offending parameter (if one) and says what is wrong.
    fn validate(&self, _params: &Params) -> Vec<(Option<&'static str>, String)> {
        Vec::new()
    }
    /// Checks of the parameters against which input slots are bound (`bound`: the names
    /// of the slots that received at least one artifact), run at lowering time; each error
    /// names the offending parameter.
    fn validate_inputs(&self, _params: &Params, _bound: &[&str]) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// Computes the output into `ctx.out_dir()`.
    fn run(&self, ctx: &StageContext) -> StageResult;
}

/// All stage kinds, by name.
pub struct Registry {
    kinds: BTreeMap<&'static str, Box<dyn StageKind>>,
}

impl Registry {
    fn build() -> Self {
        let mut kinds: BTreeMap<&'static str, Box<dyn StageKind>> = BTreeMap::new();
        for k in all_kinds() {
            let name = k.name();
            assert!(
                kinds.insert(name, k).is_none(),
                "stage kind `{name}` registered twice"
            );
        }
        Registry { kinds }
    }

    pub fn get(&self, name: &str) -> Option<&dyn StageKind> {
        self.kinds.get(name).map(|b| b.as_ref())
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn StageKind> + '_ {
        self.kinds.values().map(|b| b.as_ref())
    }
}

/// The process-wide registry.
pub fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(Registry::build)
}

/// Every built-in kind: one line per kind declared with [`declare::Stage`].
fn all_kinds() -> Vec<Box<dyn StageKind>> {
    use declare::Kind;
    let kinds: Vec<Box<dyn StageKind>> = vec![
        Kind::<concat::Concat>::boxed(),
        Kind::<evaluate::Evaluate>::boxed(),
        Kind::<export::Export>::boxed(),
        Kind::<grpo::Grpo>::boxed(),
        Kind::<load::Load>::boxed(),
        Kind::<model_init::ModelInit>::boxed(),
        Kind::<model_load::ModelLoad>::boxed(),
        Kind::<report::Report>::boxed(),
        Kind::<rollout::Rollout>::boxed(),
        Kind::<score::Score>::boxed(),
        Kind::<select::Select>::boxed(),
        Kind::<sft::Sft>::boxed(),
        Kind::<split::Split>::boxed(),
        Kind::<synth::Arith>::boxed(),
        Kind::<synth::HaystackQa>::boxed(),
        Kind::<synth::Igsm>::boxed(),
        Kind::<synth::Ruler>::boxed(),
    ];
    // The engine's own tests add kinds that fail, sleep or count their runs on purpose.
    #[cfg(test)]
    let kinds = kinds.into_iter().chain(testing::kinds()).collect();
    kinds
}

pub mod columns;
pub mod concat;
pub mod data;
pub mod evaluate;
pub mod export;
pub mod grpo;
pub mod load;
pub mod model_init;
pub mod model_load;
pub mod report;
pub mod rollout;
pub mod score;
pub mod select;
pub mod sft;
pub mod split;
pub mod synth;
#[cfg(test)]
mod testing;
#[doc(hidden)]
pub mod testutil;
pub mod torch;
