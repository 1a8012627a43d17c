//! The CLI commands themselves: each returns `Result<(), CliError>`, which `cli::main`
//! prints and turns into the exit code.

use super::compile::{Compiled, compile, open_store, store_dir, store_dir_plain};
use super::{CacheAction, CliError, Command, EXIT_FAILED, EXIT_INTERRUPTED, GraphFormat, PipelineArgs};
use crate::cache::digest::short;
use crate::cache::lockfile::{LockFile, LockedStage, lock_path};
use crate::data::show::human_bytes;
use crate::diag::did_you_mean_suffix;
use crate::exec::events::{Event, event_json};
use crate::exec::reason::to_json;
use crate::exec::{self, BarsReporter, JsonReporter, PlainReporter, Reporter, RunOptions, Status};
use crate::stages::{ArtifactKind, artifact, registry};
use anyhow::{Context, anyhow};
use serde_json::json;
use std::collections::HashSet;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Set by Ctrl-C; stages and the scheduler poll it.
static CANCEL: AtomicBool = AtomicBool::new(false);
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

pub fn dispatch(cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Run {
            pipeline,
            jobs,
            gpu_jobs,
            force,
            keep_going,
            locked,
            json,
        } => run(
            &pipeline,
            RunFlags {
                jobs,
                gpu_jobs,
                keep_going,
                locked,
                json,
            },
            &force,
        ),
        Command::Plan {
            pipeline,
            json,
            verify,
        } => plan(&pipeline, json, verify),
        Command::Check { pipeline } => check(&pipeline),
        Command::Graph { pipeline, format } => graph(&pipeline, format),
        Command::Show {
            pipeline,
            stage,
            rows,
        } => show(&pipeline, &stage, rows),
        Command::Path { pipeline, stage } => path(&pipeline, &stage),
        Command::Cache { action } => cache(action),
        Command::Stages { kind, markdown } => stages(kind.as_deref(), markdown),
        Command::Report { pipeline, out } => report(&pipeline, out),
        Command::Schema => {
            let schema = serde_json::to_string_pretty(&crate::dsl::schema::yaml_json_schema())
                .context("cannot print the JSON Schema")?;
            println!("{schema}");
            Ok(())
        }
        Command::Bench { args } => CliError::from_exit_code(match crate::stages::torch::runtime() {
            Some(rt) => (rt.bench)(args),
            None => hand_to_torch("`sieve bench`"),
        }),
    }
}

/// Compiles the pipeline and opens its store.
fn compile_with_store(args: &PipelineArgs) -> Result<(Compiled, crate::cache::Store), CliError> {
    let c = compile(args)?;
    let store = open_store(store_dir(args))?;
    Ok((c, store))
}

fn report(args: &PipelineArgs, out: Option<std::path::PathBuf>) -> Result<(), CliError> {
    let (c, store) = compile_with_store(args)?;
    let page = super::overview::write(&c, &store).context("cannot write the overview page")?;
    let page = match out {
        Some(dest) => {
            std::fs::copy(&page, &dest).with_context(|| format!("cannot write {}", dest.display()))?;
            dest
        }
        None => page,
    };
    println!("{}", page.display());
    Ok(())
}

fn check(args: &PipelineArgs) -> Result<(), CliError> {
    let c = compile(args)?;
    eprintln!("ok: pipeline `{}`: {} stages", c.ir.name, c.plan.len());
    Ok(())
}

fn graph(args: &PipelineArgs, format: GraphFormat) -> Result<(), CliError> {
    let c = compile(args)?;
    let text = match format {
        GraphFormat::Text => c.plan.render_text(),
        GraphFormat::Dot => c.plan.render_dot(),
        GraphFormat::Mermaid => c.plan.render_mermaid(),
    };
    print!("{text}");
    Ok(())
}

fn plan(args: &PipelineArgs, json_out: bool, verify: bool) -> Result<(), CliError> {
    let (c, store) = compile_with_store(args)?;
    let statuses = if verify {
        exec::assess_verified(&c.plan, &store)
    } else {
        exec::assess(&c.plan, &store, &HashSet::new())
    }
    .map_err(anyhow::Error::new)?;
    let mut counts = [0usize; 4];
    for s in &statuses {
        counts[match s.status {
            Status::Cached { .. } => 0,
            Status::Stale { .. } => 1,
            Status::Blocked { .. } => 2,
            Status::Damaged { .. } => 3,
        }] += 1;
        if json_out {
            println!(
                "{}",
                json!({"stage": s.instance, "kind": s.kind, "key": s.status.key(), "status": s.status.name(),
                       "reason": s.status.reason(), "reasons": to_json(&s.status.reasons())})
            );
        } else {
            println!(
                "{:<8} {}  ({})  {}",
                s.status.name(),
                s.instance,
                s.kind,
                s.status.reason()
            );
        }
    }
    if !json_out {
        let damaged = if verify {
            format!(", {} damaged", counts[3])
        } else {
            String::new()
        };
        println!(
            "{} cached, {} stale, {} blocked{damaged}",
            counts[0], counts[1], counts[2]
        );
    }
    // Each damaged entry is listed above.
    if counts[3] > 0 {
        Err(CliError::reported(EXIT_FAILED))
    } else {
        Ok(())
    }
}

/// The flags of `sieve run`.
struct RunFlags {
    jobs: Option<usize>,
    gpu_jobs: usize,
    keep_going: bool,
    locked: bool,
    json: bool,
}

fn run(args: &PipelineArgs, flags: RunFlags, force: &[String]) -> Result<(), CliError> {
    // First, so an interrupt at any moment of the run goes through the orderly path.
    install_interrupt_handler();
    let RunFlags {
        jobs,
        gpu_jobs,
        keep_going,
        locked,
        json: json_out,
    } = flags;
    let (c, store) = compile_with_store(args)?;
    if gpu_jobs == 0 {
        return Err(CliError::invalid(anyhow!("--gpu-jobs must be at least 1")));
    }
    let mut opts = RunOptions {
        keep_going,
        gpu_slots: gpu_jobs,
        ..RunOptions::default()
    };
    if let Some(j) = jobs {
        if j == 0 {
            return Err(CliError::invalid(anyhow!("-j must be at least 1")));
        }
        opts.jobs = j;
    }
    for f in force {
        let nodes = c.plan.select(f);
        if nodes.is_empty() {
            let unknown = no_such_stage(&c, f, |s| &s.name);
            return Err(CliError::invalid(anyhow!("--force: {unknown}")));
        }
        opts.force.extend(nodes);
    }
    // Nothing has been written yet, so the run can still move to the libtorch binary.
    if crate::stages::torch::runtime().is_none()
        && let Some(why) = torch_work(&c.plan, &store, &opts.force)?
    {
        // A Ctrl-C while freshness was decided must not start the run anyway.
        if CANCEL.load(Ordering::Relaxed) {
            return Err(CliError::interrupted());
        }
        return Err(CliError::reported(hand_to_torch(&why)));
    }
    let lock_file = lock_path(&args.file);
    let previous_lock = LockFile::read(&lock_file).map_err(|e| {
        CliError::invalid(
            anyhow::Error::new(e).context(format!("cannot read the lock file {}", lock_file.display())),
        )
    })?;
    if locked {
        let Some(lock) = previous_lock.clone() else {
            return Err(CliError::invalid(anyhow!(
                "--locked: no lock file at {} (run once without --locked to create it)",
                lock_file.display()
            )));
        };
        let differences = exec::lock_differences(&c.plan, &store, &lock).map_err(anyhow::Error::new)?;
        if !differences.is_empty() {
            if json_out {
                for d in &differences {
                    let refused = Event::Refused {
                        stage: &d.instance,
                        key: d.key.as_deref(),
                        reasons: &d.reasons,
                    };
                    println!("{}", event_json(&refused));
                }
            }
            let lines: Vec<String> = differences.iter().map(ToString::to_string).collect();
            return Err(CliError::invalid(anyhow!(
                "--locked: the pipeline differs from {}:\n  {}",
                lock_file.display(),
                lines.join("\n  ")
            )));
        }
        opts.locked = Some(lock);
    }
    let reporter: Box<dyn Reporter> = if json_out {
        Box::new(JsonReporter::new())
    } else if std::io::stderr().is_terminal() {
        Box::new(BarsReporter::new())
    } else {
        Box::new(PlainReporter::new())
    };
    let summary = exec::run(&c.plan, &store, &opts, reporter.as_ref(), &CANCEL);
    super::overview::save_record(&store, &c.ir.name, &summary);
    // A run that computed nothing leaves the previous page valid; skipping it keeps no-op
    // runs fast (`sieve report` rewrites it on demand).
    if !json_out && (!summary.executed.is_empty() || !summary.failed.is_empty()) {
        match super::overview::write(&c, &store) {
            Ok(path) => eprintln!("overview: {}", path.display()),
            Err(e) => eprintln!("warning: cannot write the overview page: {e:#}"),
        }
    }

    // Locked runs also verify that recomputed outputs reproduce the lock's digests.
    let mut unreproduced = Vec::new();
    if let Some(lock) = &opts.locked {
        for (inst, r) in &summary.results {
            if let Some(l) = lock.stages.get(inst)
                && l.digest != r.digest
            {
                unreproduced.push(format!(
                    "{inst}: produced output {} but the lock records {}",
                    short(&r.digest),
                    short(&l.digest)
                ));
            }
        }
    } else if !args.set.is_empty() {
        // The lock pins the pipeline as written; an experiment with overrides must not
        // silently become the recipe (the next `--locked` run would then refuse).
        eprintln!(
            "lock file not updated: this run used --set overrides ({}); {} still pins the pipeline as written",
            args.set.join(", "),
            lock_file.display()
        );
    } else {
        write_lock(&c, &summary, previous_lock.as_ref(), &lock_file);
    }
    // Failed and skipped stages were reported as they happened; outputs that differ from
    // the lock are said here, whatever else went wrong.
    let exit_code = if summary.cancelled {
        EXIT_INTERRUPTED
    } else if !summary.failed.is_empty() || !summary.skipped.is_empty() || !unreproduced.is_empty() {
        EXIT_FAILED
    } else {
        return Ok(());
    };
    let error = (!unreproduced.is_empty()).then(|| {
        anyhow!(
            "--locked: recomputed outputs differ from {}:\n  {}",
            lock_file.display(),
            unreproduced.join("\n  ")
        )
    });
    Err(CliError { error, exit_code })
}

/// Writes `<pipeline>.lock` from a run's results (stages without a result this time keep
/// their previous record), unless nothing changed.
fn write_lock(c: &Compiled, summary: &exec::RunSummary, previous: Option<&LockFile>, path: &std::path::Path) {
    let mut lock = LockFile {
        pipeline: c.ir.name.clone(),
        ..Default::default()
    };
    for &id in c.plan.order() {
        let st = &c.plan.node(id).stage;
        if let Some(r) = summary.results.get(&st.instance) {
            lock.stages.insert(
                st.instance.clone(),
                LockedStage {
                    kind: r.kind.clone(),
                    key: r.key.clone(),
                    digest: r.digest.clone(),
                    material: Some(r.material.clone()),
                },
            );
        } else if let Some(prev) = previous.and_then(|l| l.stages.get(&st.instance)) {
            lock.stages.insert(st.instance.clone(), prev.clone());
        }
    }
    if previous != Some(&lock)
        && let Err(e) = lock.write(path)
    {
        eprintln!("warning: cannot write the lock file {}: {e}", path.display());
    }
}

/// The first stage of the plan that runs libtorch code and is not cached, described
/// for an error message (`None`: this process can do the whole run without libtorch).
fn torch_work(
    plan: &crate::plan::Plan,
    store: &crate::cache::Store,
    force: &HashSet<crate::plan::NodeId>,
) -> anyhow::Result<Option<String>> {
    let needs = |id: crate::plan::NodeId| {
        let st = &plan.node(id).stage;
        registry()
            .get(&st.kind)
            .is_some_and(|k| k.needs_torch(&st.params))
    };
    let Some(first) = plan.order().iter().copied().find(|&id| needs(id)) else {
        return Ok(None);
    };
    if !crate::device::count_is_certain() {
        let st = &plan.node(first).stage;
        return Ok(Some(format!(
            "stage `{}` ({}; only libtorch can count this machine's GPUs)",
            st.instance, st.kind
        )));
    }
    Ok(exec::assess(plan, store, force)?
        .into_iter()
        .find(|s| !matches!(s.status, Status::Cached { .. }) && needs(s.node))
        .map(|s| format!("stage `{}` ({}, {})", s.instance, s.kind, s.status.name())))
}

/// Set by `sieve` when it hands a run to `sieve-torch`: the source stamp it was built from.
pub const HANDED_TO_TORCH: &str = "SIEVE_HANDED_TO_TORCH";

/// In `sieve-torch`: refuses a hand-off from a `sieve` built from other sources (the two
/// would not agree on stage kinds, parameters or cache keys). Returns the exit code to
/// stop with.
pub fn check_hand_off() -> Option<i32> {
    let from = std::env::var(HANDED_TO_TORCH).ok()?;
    let own = env!("SIEVE_SOURCE_STAMP");
    if from == own {
        return None;
    }
    eprintln!(
        "error: `sieve` and `sieve-torch` were built from different sources (stamps {from} and {own}); \
         rebuild both: cargo build --release --bins (`cargo run` builds only `sieve`)"
    );
    Some(EXIT_FAILED)
}

/// Replaces this process by `sieve-torch` with the same arguments (only returns, with
/// exit code 1, when that binary cannot be started). `sieve-torch` sits next to `sieve`;
/// `SIEVE_TORCH_BIN` names another.
fn hand_to_torch(what: &str) -> i32 {
    use std::os::unix::process::CommandExt;
    let exe = std::env::var_os("SIEVE_TORCH_BIN")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .map(|e| e.with_file_name("sieve-torch"))
        })
        .unwrap_or_else(|| "sieve-torch".into());
    // A `sieve-torch` that hands off again is not one (e.g. SIEVE_TORCH_BIN names `sieve`):
    // stop instead of replacing the process forever.
    if std::env::var_os(HANDED_TO_TORCH).is_some() {
        eprintln!(
            "error: {what} needs libtorch, but {} did not load it (is SIEVE_TORCH_BIN the `sieve-torch` binary?)",
            exe.display()
        );
        return EXIT_FAILED;
    }
    let err = std::process::Command::new(&exe)
        .args(std::env::args_os().skip(1))
        .env(HANDED_TO_TORCH, env!("SIEVE_SOURCE_STAMP"))
        .exec();
    eprintln!(
        "error: {what} needs libtorch, which runs in the `sieve-torch` binary, but {} cannot be started: {err}\n\
         hint: build it next to `sieve` (`cargo build --release` builds both) or set SIEVE_TORCH_BIN",
        exe.display()
    );
    EXIT_FAILED
}

fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTS.fetch_add(1, Ordering::SeqCst) == 0 {
            CANCEL.store(true, Ordering::SeqCst);
            eprintln!(
                "\ninterrupted: finishing nothing new; press Ctrl-C again to exit now (the store stays consistent)"
            );
        } else {
            std::process::exit(EXIT_INTERRUPTED);
        }
    });
}

/// The plan's instances named `stage` (one instance, or every instance of a family); an
/// unknown name is an invalid command line, reported with a suggestion.
fn select_stage(c: &Compiled, stage: &str) -> Result<Vec<crate::plan::NodeId>, CliError> {
    let nodes = c.plan.select(stage);
    if !nodes.is_empty() {
        return Ok(nodes);
    }
    let unknown = no_such_stage(c, stage, |s| &s.instance);
    Err(CliError::invalid(anyhow!("{unknown}")))
}

/// "no stage `given` in this pipeline", with the closest of the stages' names (as
/// `name_of` gives them: family or instance names) as a suggestion.
fn no_such_stage(c: &Compiled, given: &str, name_of: impl Fn(&crate::ir::Stage) -> &str) -> String {
    let names = c.plan.order().iter().map(|&id| name_of(&c.plan.node(id).stage));
    let hint = did_you_mean_suffix(given, names);
    format!("no stage `{given}` in this pipeline{hint}")
}

/// `sieve path`: the output folder of one stage instance's committed entry, absolute, on
/// stdout and nothing else, so `$(sieve path p.sieve tuned)` can be handed to another
/// program. The entry is re-digested first: a script never gets damaged bytes.
fn path(args: &PipelineArgs, stage: &str) -> Result<(), CliError> {
    let (c, store) = compile_with_store(args)?;
    let nodes = select_stage(&c, stage)?;
    if nodes.len() > 1 {
        let names: Vec<&str> = nodes
            .iter()
            .map(|&id| c.plan.node(id).stage.instance.as_str())
            .collect();
        let shown = names
            .iter()
            .take(3)
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let more = if names.len() > 3 { ", …" } else { "" };
        return Err(CliError::invalid(anyhow!(
            "`{stage}` is a family of {} instances; name one: {shown}{more}",
            names.len()
        )));
    }
    // `assess` gives every node of the plan a status.
    let mut s = exec::assess(&c.plan, &store, &HashSet::new())
        .map_err(anyhow::Error::new)?
        .into_iter()
        .find(|s| s.node == nodes[0])
        .ok_or_else(|| anyhow!("internal error: no status for stage `{stage}`"))?;
    exec::verify_cached(&mut s.status, &store);
    let entry = match &s.status {
        Status::Cached { key, .. } => store.get(key),
        _ => None,
    };
    let Some(entry) = entry else {
        let mut flags: String = args.set.iter().map(|kv| format!(" --set {kv}")).collect();
        // A plain run recomputes a damaged entry only when another stage reads it.
        if matches!(s.status, Status::Damaged { .. }) {
            flags.push_str(&format!(" --force '{}'", s.instance));
        }
        return Err(CliError::failed(anyhow!(
            "`{}` is {}: {}\nhint: `sieve run {}{flags}` computes it",
            s.instance,
            s.status.name(),
            s.status.reason(),
            args.file.display()
        )));
    };
    let out = entry.out_dir();
    println!("{}", std::path::absolute(&out).unwrap_or(out).display());
    Ok(())
}

fn show(args: &PipelineArgs, stage: &str, rows: usize) -> Result<(), CliError> {
    let (c, store) = compile_with_store(args)?;
    let nodes = select_stage(&c, stage)?;
    let statuses = exec::assess(&c.plan, &store, &HashSet::new()).map_err(anyhow::Error::new)?;
    if nodes.len() > 1 {
        println!("`{stage}` is a family of {} instances:", nodes.len());
        for s in statuses.iter().filter(|s| nodes.contains(&s.node)) {
            println!("  {:<8} {}", s.status.name(), s.instance);
        }
        return Ok(());
    }
    // `assess` gives every node of the plan a status.
    let s = statuses
        .iter()
        .find(|s| s.node == nodes[0])
        .ok_or_else(|| anyhow!("internal error: no status for stage `{stage}`"))?;
    let st = &c.plan.node(s.node).stage;
    println!("stage   {} ({} → {})", st.instance, st.kind, st.output);
    println!("status  {} — {}", s.status.name(), s.status.reason());
    for inp in &st.inputs {
        println!("input   {} <- {}", inp.slot, inp.sources.join(", "));
    }
    for (k, v) in &st.params.0 {
        println!("param   {k} = {v}");
    }
    let Status::Cached { key, .. } = &s.status else {
        return Ok(());
    };
    let Some(entry) = store.get(key) else {
        return Ok(());
    };
    let m = &entry.manifest;
    println!("key     {}", m.key);
    println!("digest  {}", m.digest);
    println!(
        "ran     {:.2}s on {} (sieve {})",
        m.wall_time_s, m.device, m.sieve_version
    );
    // A model's output folder is what `transformers`' from_pretrained loads; the entry
    // folder around it only holds sieve's manifest and log.
    if st.output == ArtifactKind::Model {
        println!("model   {}", entry.out_dir().display());
    } else {
        println!("entry   {}", entry.dir.display());
    }
    for f in &m.files {
        println!("output  {} ({} bytes)", f.path, f.size);
    }
    if let Some(metrics) = &m.metrics {
        println!(
            "metrics {}",
            serde_json::to_string_pretty(metrics).unwrap_or_default()
        );
    }
    let out = entry.out_dir();
    match st.output {
        ArtifactKind::Dataset | ArtifactKind::Scores => {
            let file = if st.output == ArtifactKind::Dataset {
                artifact::DATASET_FILE
            } else {
                artifact::SCORES_FILE
            };
            match crate::data::show::describe_file(&out.join(file), rows, None) {
                Ok(text) => println!("\n{text}"),
                Err(e) => eprintln!("warning: cannot describe {file}: {e}"),
            }
        }
        ArtifactKind::Report => {
            if let Ok(text) = std::fs::read_to_string(out.join(artifact::REPORT_FILE)) {
                println!("\n{text}");
            }
        }
        _ => {}
    }
    Ok(())
}

fn cache(action: CacheAction) -> Result<(), CliError> {
    match action {
        CacheAction::Ls { cache_dir } => {
            let store = open_store(store_dir_plain(&cache_dir))?;
            let entries = store.list().context("cannot list the store")?;
            let mut total = 0;
            for e in &entries {
                let size = crate::cache::store::dir_size(&e.dir);
                total += size;
                println!(
                    "{}  {:>10}  {:>8.2}s  {}::{}",
                    &e.manifest.key[..16],
                    human_bytes(size),
                    e.manifest.wall_time_s,
                    e.manifest.pipeline,
                    e.manifest.instance
                );
            }
            println!("{} entries, {}", entries.len(), human_bytes(total));
            Ok(())
        }
        CacheAction::Gc {
            cache_dir,
            keep_unreferenced,
            dry_run,
        } => {
            let store = open_store(store_dir_plain(&cache_dir))?;
            let report = store.gc(keep_unreferenced, dry_run).context("gc failed")?;
            let verb = if dry_run { "would remove" } else { "removed" };
            for r in &report.removed {
                println!("{verb} {r}");
            }
            for b in &report.busy {
                println!("kept {b} (in use by a running stage)");
            }
            println!(
                "{} folders, {}; {} lock files, {} input-digest records",
                report.removed.len(),
                human_bytes(report.bytes),
                report.lock_files,
                report.digest_records
            );
            Ok(())
        }
        CacheAction::Verify { cache_dir } => {
            let store = open_store(store_dir_plain(&cache_dir))?;
            let (n, problems) = store.verify().context("verify failed")?;
            if problems.is_empty() {
                println!("ok: {n} entries verified");
                return Ok(());
            }
            for p in &problems {
                println!("damaged {}: {}", p.key, p.problem);
            }
            println!(
                "{} of {n} entries damaged (a run moves a damaged entry to quarantine and \
                 recomputes it before any stage reads it; `sieve cache gc` removes folders \
                 without a manifest)",
                problems.len()
            );
            Err(CliError::reported(EXIT_FAILED))
        }
    }
}

/// `sieve stages`: the catalogue, as text or Markdown.
fn stages(kind: Option<&str>, markdown: bool) -> Result<(), CliError> {
    let reg = registry();
    let kinds: Vec<_> = match kind {
        Some(k) => match reg.get(k) {
            Some(s) => vec![s],
            None => {
                let hint = did_you_mean_suffix(k, reg.names());
                return Err(CliError::invalid(anyhow!("unknown stage kind `{k}`{hint}")));
            }
        },
        None => reg.iter().collect(),
    };
    for k in kinds {
        print!("{}", crate::stages::describe_kind(k, markdown));
    }
    Ok(())
}
