//! The command-line interface (DESIGN.md §5): argument parsing, compiling a pipeline file
//! to a plan, and the `run` / `plan` / `check` / `graph` / `show` / `path` / `cache` commands.
//!
//! Exit codes: 0 success; 1 a stage failed (or `cache verify` / `plan --verify` found
//! damage, `path` found no usable entry, or sieve itself failed); 2 the pipeline or the
//! command line is invalid; 130 interrupted. Commands return them inside a [`CliError`],
//! printed once by [`main`].

mod commands;
mod compile;
mod error;
mod overview;

pub use error::CliError;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Exit code: the pipeline or command line is invalid.
pub const EXIT_INVALID: i32 = 2;
/// Exit code: a stage failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: interrupted by Ctrl-C.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Parser, Debug)]
#[command(
    name = "sieve",
    version,
    about = "Declarative, cached pipelines for data selection and LLM fine-tuning"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by commands that compile a pipeline.
#[derive(clap::Args, Debug, Clone)]
pub struct PipelineArgs {
    /// Pipeline file (`.sieve` DSL or `.yaml`).
    pub file: PathBuf,
    /// Override a variable (`seed=3`) or a stage parameter (`tuned.lr=1e-4`); repeatable.
    #[arg(long = "set", value_name = "K=V")]
    pub set: Vec<String>,
    /// Artifact store (default: `$SIEVE_CACHE`, else `.sieve/` beside the pipeline).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Let stages also read and write inside this folder (besides the pipeline's folder
    /// and the store); repeatable.
    #[arg(long = "allow-path", value_name = "DIR")]
    pub allow_path: Vec<PathBuf>,
    /// Most stage instances the pipeline may expand to (sweeps multiply them); a pipeline
    /// over it is refused before anything is built.
    #[arg(long, value_name = "N", default_value_t = crate::ir::DEFAULT_MAX_INSTANCES)]
    pub max_instances: usize,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the pipeline: recompute stale stages, reuse cached ones.
    Run {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Stages to run at once (default: number of cores).
        #[arg(short = 'j', long)]
        jobs: Option<usize>,
        /// Recompute this stage (an instance or a whole family) even if cached; repeatable.
        #[arg(long, value_name = "STAGE")]
        force: Vec<String>,
        /// Stages allowed on one CUDA device at once (default 1; small models can share a GPU).
        #[arg(long, value_name = "N", default_value_t = 1)]
        gpu_jobs: usize,
        /// After a failure, keep running stages that do not depend on it.
        #[arg(long)]
        keep_going: bool,
        /// Refuse to run anything that differs from the lock file.
        #[arg(long)]
        locked: bool,
        /// One JSON event per line on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Show every stage's status (cached / stale / blocked) and why, without running.
    Plan {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// One JSON object per stage on stdout.
        #[arg(long)]
        json: bool,
        /// Also re-digest every entry the plan would use and report damaged ones (exit 1).
        #[arg(long)]
        verify: bool,
    },
    /// Parse, lower and plan the pipeline; report every problem; run nothing.
    Check {
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Print the stage graph.
    Graph {
        #[command(flatten)]
        pipeline: PipelineArgs,
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Show a stage's manifest, outputs, metrics and (for datasets) the first rows.
    Show {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Instance name (`acc[budget=256,band=hard]`) or family name.
        stage: String,
        /// Rows of a dataset to print.
        #[arg(long, default_value_t = 5)]
        rows: usize,
    },
    /// Print the folder of a stage's artifact, for scripts (a model's is the folder
    /// `transformers` loads); exit 1 when the stage is not cached or its entry is damaged.
    Path {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Instance name (`tuned[budget=256,band=hard]`).
        stage: String,
    },
    /// Inspect or clean the artifact store.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// List stage kinds with their inputs and parameters.
    Stages {
        /// Show only this kind.
        kind: Option<String>,
        /// Markdown (the stage catalogue in docs/).
        #[arg(long)]
        markdown: bool,
    },
    /// Write the run overview page (stages, cache hits, times, metrics, charts) as HTML.
    Report {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Where to write the page (default: `runs/<pipeline>.html` in the store).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print the JSON Schema of the YAML pipeline form.
    Schema,
    /// Performance and parity measurements of the model library (see `docs/performance.md`).
    /// Its arguments are parsed by `sieve-torch`, which owns the model library.
    #[command(hide = true)]
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum CacheAction {
    /// List committed entries.
    Ls {
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// Remove leftovers of interrupted runs, damaged entries, entries no stage refers to any
    /// more, stale failure logs, free lock files and stale input-digest records.
    Gc {
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
        /// Only remove temp/work leftovers; keep every committed entry.
        #[arg(long)]
        keep_unreferenced: bool,
        /// Say what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Re-digest every entry and report damage (exit 1 if any).
    Verify {
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
    },
}

/// A reader that stops early (`sieve stages | head -1`) ends the process quietly, the Unix
/// way: killed by SIGPIPE at the next write, as `cat` or `ls` are. The Rust runtime
/// ignores SIGPIPE instead, which turns that write into an error and every `println!`
/// into a panic (exit 101); restoring the default here, once, covers every command of
/// both binaries. Child processes read by sieve are only ever read from, so no write of
/// sieve's own to a pipe can end it by surprise.
fn end_quietly_on_closed_output() {
    // SAFETY: `signal` only changes how this process reacts to SIGPIPE; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    Text,
    Dot,
    Mermaid,
}

/// Entry point; returns the process exit code.
pub fn main() -> i32 {
    end_quietly_on_closed_output();
    if crate::stages::torch::runtime().is_some()
        && let Some(code) = commands::check_hand_off()
    {
        return code;
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_INVALID } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match commands::dispatch(cli.command) {
        Ok(()) => 0,
        Err(e) => e.report(),
    }
}
