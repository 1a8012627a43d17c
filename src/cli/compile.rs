//! Compiling a pipeline file for the CLI: confinement (project folder, store,
//! `--allow-path`, `sieve.toml`) → load (with imports) → `--set` overrides → lower →
//! files pass (every path a stage names is confined) → plan, rendering every diagnostic
//! of the file at once on failure.

use super::{CliError, EXIT_INVALID, PipelineArgs};
use crate::cache::Store;
use crate::config::{self, ProjectConfig};
use crate::confine::{self, Confinement, Origin};
use crate::diag::{Diagnostic, Diagnostics, SourceMap, Span};
use crate::dsl;
use crate::ir::{self, Override};
use crate::plan::Plan;
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
use std::io::IsTerminal;
use std::path::PathBuf;

/// A compiled pipeline.
pub struct Compiled {
    pub ir: ir::Pipeline,
    pub plan: Plan,
}

/// Prints diagnostics to stderr (coloured on a terminal).
pub fn print_diagnostics(d: &Diagnostics, sources: &SourceMap) {
    let choice = if std::io::stderr().is_terminal() {
        ColorChoice::Auto
    } else {
        ColorChoice::Never
    };
    let mut out = StandardStream::stderr(choice);
    d.emit(sources, &mut out);
    let n =
        d.0.iter()
            .filter(|d| d.severity == crate::diag::Severity::Error)
            .count();
    if n > 0 {
        eprintln!(
            "error: the pipeline has {n} error{}",
            if n == 1 { "" } else { "s" }
        );
    }
}

/// Parses `--set K=V` arguments; values are DSL expressions. Each argument is a source
/// of its own, named `--set` and holding the whole `K=V`, so a problem with it (here or
/// in lowering) is shown with a caret under the argument itself.
pub fn parse_overrides(sets: &[String], sources: &mut SourceMap) -> Result<Vec<Override>, Diagnostics> {
    let mut out = Vec::new();
    let mut diags = Diagnostics::new();
    for s in sets {
        let file = sources.add("--set", None, s.as_str());
        let whole = Span::new(file, 0, s.len());
        let Some((k, v)) = s.split_once('=') else {
            diags.push(
                Diagnostic::error(format!("--set `{s}`: expected KEY=VALUE"))
                    .at(whole, "no `=`")
                    .with_note("e.g. --set seed=3 or --set tuned.lr=1e-4"),
            );
            continue;
        };
        let key = k.trim().to_string();
        let valid_key = !key.is_empty()
            && key.split('.').count() <= 2
            && key
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'));
        if !valid_key {
            diags.push(
                Diagnostic::error(format!(
                    "--set `{s}`: `{key}` is not a variable name or STAGE.PARAM"
                ))
                .at(Span::new(file, 0, k.len()), "not a name"),
            );
            continue;
        }
        match dsl::parser::parse_expr_at(v, file, k.len() + 1) {
            Ok(value) => out.push(Override {
                key,
                value,
                span: whole,
            }),
            Err(d) => diags.extend(d),
        }
    }
    if diags.is_empty() { Ok(out) } else { Err(diags) }
}

/// The folders a pipeline's stages may use: its folder, its store, the `--allow-path`
/// folders and those `sieve.toml` allows. Also returns warnings (an allowed folder of
/// `sieve.toml` that does not exist).
pub fn confinement(
    args: &PipelineArgs,
    sources: &mut SourceMap,
) -> Result<(Confinement, Diagnostics), Diagnostics> {
    let project = confine::project_folder(&args.file);
    let unresolvable = |what: &str, path: &std::path::Path, e: std::io::Error| {
        Diagnostics::from(Diagnostic::error(format!(
            "cannot resolve {what} {}: {e}",
            path.display()
        )))
    };
    let store = store_dir(args);
    let mut files = Confinement::new(&project, &store).map_err(|e| unresolvable("the store", &store, e))?;
    let config = ProjectConfig::load(&project, sources)?;
    let mut errors = Diagnostics::new();
    for dir in &args.allow_path {
        if !dir.is_dir() {
            errors.push(Diagnostic::error(format!(
                "--allow-path {}: no such folder",
                dir.display()
            )));
        } else if let Err(e) = files.allow(dir, Origin::Flag) {
            errors.extend(unresolvable("--allow-path", dir, e));
        }
    }
    let mut warnings = Diagnostics::new();
    for a in &config.allow_paths {
        if !a.dir.exists() {
            warnings.push(
                Diagnostic::warning(format!(
                    "{}: allowed folder {} does not exist",
                    config::FILE,
                    a.dir.display()
                ))
                .at(a.span, "no such folder"),
            );
        }
        if let Err(e) = files.allow(&a.dir, Origin::Config) {
            errors.extend(unresolvable("an allowed folder", &a.dir, e));
        }
    }
    if errors.is_empty() {
        Ok((files, warnings))
    } else {
        Err(errors)
    }
}

/// Loads, lowers, confines and plans; on failure prints diagnostics (the error then
/// carries only the exit code).
pub fn compile(args: &PipelineArgs) -> Result<Compiled, CliError> {
    let mut sources = SourceMap::new();
    let files = match confinement(args, &mut sources) {
        Ok((files, warnings)) => {
            if !warnings.is_empty() {
                print_diagnostics(&warnings, &sources);
            }
            files
        }
        Err(d) => {
            print_diagnostics(&d, &sources);
            return Err(CliError::reported(EXIT_INVALID));
        }
    };
    // A recipe's own sieve.toml widens what its stages may touch: always say so.
    let from_config: Vec<String> = files
        .allowed()
        .iter()
        .filter(|(_, origin)| *origin == Origin::Config)
        .map(|(d, _)| d.display().to_string())
        .collect();
    if !from_config.is_empty() {
        eprintln!(
            "note: {} lets stages also read and write {}",
            config::FILE,
            from_config.join(", ")
        );
    }
    let file = dsl::load::load_pipeline(&args.file, &files, &mut sources);
    let overrides = parse_overrides(&args.set, &mut sources);
    let (file, overrides) = match (file, overrides) {
        (Ok(f), Ok(o)) => (f, o),
        (f, o) => {
            let mut all = Diagnostics::new();
            if let Err(d) = f {
                all.extend(d);
            }
            if let Err(d) = o {
                all.extend(d);
            }
            print_diagnostics(&all, &sources);
            return Err(CliError::reported(EXIT_INVALID));
        }
    };
    let opts = ir::LowerOptions {
        max_instances: args.max_instances,
    };
    match ir::lower_with(&file, &overrides, &opts).and_then(|ir| ir::check_files(&ir, &files).map(|()| ir)) {
        Ok(mut ir) => {
            // The file loaded, so it exists; canonical so that every spelling of its path
            // (relative, absolute, through a link) names the same refs in the store.
            ir.file = Some(std::fs::canonicalize(&args.file).unwrap_or_else(|_| args.file.clone()));
            // Lowering checked every input, so a refusal here is sieve's own bug (exit 1).
            let plan = Plan::build(&ir, files).map_err(CliError::failed)?;
            Ok(Compiled { ir, plan })
        }
        Err(d) => {
            print_diagnostics(&d, &sources);
            Err(CliError::reported(EXIT_INVALID))
        }
    }
}

/// The store for a pipeline: `--cache-dir`, else `$SIEVE_CACHE`, else `.sieve/` beside it.
pub fn store_dir(args: &PipelineArgs) -> PathBuf {
    if let Some(d) = &args.cache_dir {
        return d.clone();
    }
    if let Some(d) = std::env::var_os("SIEVE_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    confine::project_folder(&args.file).join(".sieve")
}

/// The store for `cache` commands without a pipeline.
pub fn store_dir_plain(dir: &Option<PathBuf>) -> PathBuf {
    dir.clone()
        .or_else(|| {
            std::env::var_os("SIEVE_CACHE")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(".sieve"))
}

/// Opens a store; failure is an invalid command line.
pub fn open_store(dir: PathBuf) -> Result<Store, CliError> {
    Store::open(&dir).map_err(|e| {
        CliError::invalid(
            anyhow::Error::new(e).context(format!("cannot open the artifact store {}", dir.display())),
        )
    })
}
