//! The CLI commands themselves.

use super::compile::{Compiled, compile, open_store, store_dir, store_dir_plain};
use super::{CacheAction, Command, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, GraphFormat, PipelineArgs};
use crate::cache::digest::short;
use crate::cache::lockfile::{LockFile, LockedStage, lock_path};
use crate::exec::{self, BarsReporter, JsonReporter, PlainReporter, Reporter, RunOptions, Status};
use crate::stages::{ArtifactKind, artifact, registry};
use serde_json::json;
use std::collections::HashSet;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Set by Ctrl-C; stages and the scheduler poll it.
static CANCEL: AtomicBool = AtomicBool::new(false);
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

pub fn dispatch(cmd: Command) -> i32 {
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
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::dsl::schema::yaml_json_schema()).unwrap_or_default()
            );
            0
        }
        Command::Bench { what } => match crate::stages::torch::runtime() {
            Some(rt) => (rt.bench)(what),
            None => hand_to_torch("`sieve bench`"),
        },
    }
}

/// Compiles the pipeline and opens its store (both failures are invalid invocations).
fn compile_with_store(args: &PipelineArgs) -> Result<(Compiled, crate::cache::Store), i32> {
    let c = compile(args)?;
    let store = open_store(store_dir(args))?;
    Ok((c, store))
}

fn report(args: &PipelineArgs, out: Option<std::path::PathBuf>) -> i32 {
    let (c, store) = match compile_with_store(args) {
        Ok(cs) => cs,
        Err(code) => return code,
    };
    match super::overview::write(&c, &store) {
        Ok(path) => {
            let path = match out {
                Some(dest) => match std::fs::copy(&path, &dest) {
                    Ok(_) => dest,
                    Err(e) => {
                        eprintln!("error: cannot write {}: {e}", dest.display());
                        return EXIT_FAILED;
                    }
                },
                None => path,
            };
            println!("{}", path.display());
            0
        }
        Err(e) => {
            eprintln!("error: cannot write the overview page: {e}");
            EXIT_FAILED
        }
    }
}

fn check(args: &PipelineArgs) -> i32 {
    match compile(args) {
        Ok(c) => {
            eprintln!("ok: pipeline `{}`: {} stages", c.ir.name, c.plan.len());
            0
        }
        Err(code) => code,
    }
}

fn graph(args: &PipelineArgs, format: GraphFormat) -> i32 {
    let c = match compile(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let text = match format {
        GraphFormat::Text => c.plan.render_text(),
        GraphFormat::Dot => c.plan.render_dot(),
        GraphFormat::Mermaid => c.plan.render_mermaid(),
    };
    print!("{text}");
    0
}

fn plan(args: &PipelineArgs, json_out: bool, verify: bool) -> i32 {
    let (c, store) = match compile_with_store(args) {
        Ok(cs) => cs,
        Err(code) => return code,
    };
    let statuses = if verify {
        exec::assess_verified(&c.plan, &store)
    } else {
        exec::assess(&c.plan, &store, &HashSet::new())
    };
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
                json!({"stage": s.instance, "kind": s.kind, "key": s.status.key(), "status": s.status.name(), "reason": s.status.reason()})
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
    if counts[3] > 0 { EXIT_FAILED } else { 0 }
}

/// The flags of `sieve run`.
struct RunFlags {
    jobs: Option<usize>,
    gpu_jobs: usize,
    keep_going: bool,
    locked: bool,
    json: bool,
}

fn run(args: &PipelineArgs, flags: RunFlags, force: &[String]) -> i32 {
    // First, so an interrupt at any moment of the run goes through the orderly path.
    install_interrupt_handler();
    let RunFlags {
        jobs,
        gpu_jobs,
        keep_going,
        locked,
        json: json_out,
    } = flags;
    let (c, store) = match compile_with_store(args) {
        Ok(cs) => cs,
        Err(code) => return code,
    };
    if gpu_jobs == 0 {
        eprintln!("error: --gpu-jobs must be at least 1");
        return EXIT_INVALID;
    }
    let mut opts = RunOptions {
        keep_going,
        gpu_slots: gpu_jobs,
        ..RunOptions::default()
    };
    if let Some(j) = jobs {
        if j == 0 {
            eprintln!("error: -j must be at least 1");
            return EXIT_INVALID;
        }
        opts.jobs = j;
    }
    for f in force {
        let nodes = c.plan.select(f);
        if nodes.is_empty() {
            let names: Vec<&str> = c
                .plan
                .order()
                .iter()
                .map(|&id| c.plan.node(id).stage.name.as_str())
                .collect();
            let hint = crate::diag::did_you_mean(f, names)
                .map(|h| format!(" (did you mean `{h}`?)"))
                .unwrap_or_default();
            eprintln!("error: --force: no stage `{f}` in this pipeline{hint}");
            return EXIT_INVALID;
        }
        opts.force.extend(nodes);
    }
    // Nothing has been written yet, so the run can still move to the libtorch binary.
    if crate::stages::torch::runtime().is_none()
        && let Some(why) = torch_work(&c.plan, &store, &opts.force)
    {
        // A Ctrl-C while freshness was decided must not start the run anyway.
        if CANCEL.load(Ordering::Relaxed) {
            return EXIT_INTERRUPTED;
        }
        return hand_to_torch(&why);
    }
    let lock_file = lock_path(&args.file);
    let previous_lock = match LockFile::read(&lock_file) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot read the lock file {}: {e}", lock_file.display());
            return EXIT_INVALID;
        }
    };
    if locked {
        let Some(lock) = previous_lock.clone() else {
            eprintln!(
                "error: --locked: no lock file at {} (run once without --locked to create it)",
                lock_file.display()
            );
            return EXIT_INVALID;
        };
        let differences = exec::lock_differences(&c.plan, &store, &lock);
        if !differences.is_empty() {
            eprintln!(
                "error: --locked: the pipeline differs from {}:\n  {}",
                lock_file.display(),
                differences.join("\n  ")
            );
            return EXIT_INVALID;
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
            Err(e) => eprintln!("warning: cannot write the overview page: {e}"),
        }
    }

    // Locked runs also verify that recomputed outputs reproduce the lock's digests.
    let mut code = 0;
    if let Some(lock) = &opts.locked {
        for (inst, r) in &summary.results {
            if let Some(l) = lock.stages.get(inst)
                && l.digest != r.digest
            {
                eprintln!(
                    "error: --locked: `{inst}` produced output {} but the lock records {}",
                    short(&r.digest),
                    short(&l.digest)
                );
                code = EXIT_FAILED;
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
    if summary.cancelled {
        return EXIT_INTERRUPTED;
    }
    if !summary.failed.is_empty() || !summary.skipped.is_empty() {
        return EXIT_FAILED;
    }
    code
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
) -> Option<String> {
    let needs = |id: crate::plan::NodeId| {
        let st = &plan.node(id).stage;
        registry()
            .get(&st.kind)
            .is_some_and(|k| k.needs_torch(&st.params))
    };
    let first = plan.order().iter().copied().find(|&id| needs(id))?;
    if !crate::device::count_is_certain() {
        let st = &plan.node(first).stage;
        return Some(format!(
            "stage `{}` ({}; only libtorch can count this machine's GPUs)",
            st.instance, st.kind
        ));
    }
    exec::assess(plan, store, force)
        .into_iter()
        .find(|s| !matches!(s.status, Status::Cached { .. }) && needs(s.node))
        .map(|s| format!("stage `{}` ({}, {})", s.instance, s.kind, s.status.name()))
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
fn select_stage(c: &Compiled, stage: &str) -> Result<Vec<crate::plan::NodeId>, i32> {
    let nodes = c.plan.select(stage);
    if !nodes.is_empty() {
        return Ok(nodes);
    }
    let names: Vec<&str> = c
        .plan
        .order()
        .iter()
        .map(|&id| c.plan.node(id).stage.instance.as_str())
        .collect();
    let hint = crate::diag::did_you_mean(stage, names)
        .map(|h| format!(" (did you mean `{h}`?)"))
        .unwrap_or_default();
    eprintln!("error: no stage `{stage}` in this pipeline{hint}");
    Err(EXIT_INVALID)
}

/// `sieve path`: the output folder of one stage instance's committed entry, absolute, on
/// stdout and nothing else, so `$(sieve path p.sieve tuned)` can be handed to another
/// program. The entry is re-digested first: a script never gets damaged bytes.
fn path(args: &PipelineArgs, stage: &str) -> i32 {
    let (c, store) = match compile_with_store(args) {
        Ok(cs) => cs,
        Err(code) => return code,
    };
    let nodes = match select_stage(&c, stage) {
        Ok(nodes) => nodes,
        Err(code) => return code,
    };
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
        eprintln!(
            "error: `{stage}` is a family of {} instances; name one: {shown}{more}",
            names.len()
        );
        return EXIT_INVALID;
    }
    let Some(mut s) = exec::assess(&c.plan, &store, &HashSet::new())
        .into_iter()
        .find(|s| s.node == nodes[0])
    else {
        return EXIT_INVALID;
    };
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
        eprintln!(
            "error: `{}` is {}: {}\nhint: `sieve run {}{flags}` computes it",
            s.instance,
            s.status.name(),
            s.status.reason(),
            args.file.display()
        );
        return EXIT_FAILED;
    };
    let out = entry.out_dir();
    println!("{}", std::path::absolute(&out).unwrap_or(out).display());
    0
}

fn show(args: &PipelineArgs, stage: &str, rows: usize) -> i32 {
    let (c, store) = match compile_with_store(args) {
        Ok(cs) => cs,
        Err(code) => return code,
    };
    let nodes = match select_stage(&c, stage) {
        Ok(nodes) => nodes,
        Err(code) => return code,
    };
    let statuses = exec::assess(&c.plan, &store, &HashSet::new());
    if nodes.len() > 1 {
        println!("`{stage}` is a family of {} instances:", nodes.len());
        for s in statuses.iter().filter(|s| nodes.contains(&s.node)) {
            println!("  {:<8} {}", s.status.name(), s.instance);
        }
        return 0;
    }
    let Some(s) = statuses.iter().find(|s| s.node == nodes[0]) else {
        return EXIT_INVALID;
    };
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
        return 0;
    };
    let Some(entry) = store.get(key) else { return 0 };
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
    0
}

fn cache(action: CacheAction) -> i32 {
    match action {
        CacheAction::Ls { cache_dir } => {
            let store = match open_store(store_dir_plain(&cache_dir)) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match store.list() {
                Ok(entries) => {
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
                    0
                }
                Err(e) => {
                    eprintln!("error: cannot list the store: {e}");
                    EXIT_FAILED
                }
            }
        }
        CacheAction::Gc {
            cache_dir,
            keep_unreferenced,
            dry_run,
        } => {
            let store = match open_store(store_dir_plain(&cache_dir)) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match store.gc(keep_unreferenced, dry_run) {
                Ok(report) => {
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
                    0
                }
                Err(e) => {
                    eprintln!("error: gc failed: {e}");
                    EXIT_FAILED
                }
            }
        }
        CacheAction::Verify { cache_dir } => {
            let store = match open_store(store_dir_plain(&cache_dir)) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match store.verify() {
                Ok((n, problems)) if problems.is_empty() => {
                    println!("ok: {n} entries verified");
                    0
                }
                Ok((n, problems)) => {
                    for p in &problems {
                        println!("damaged {}: {}", p.key, p.problem);
                    }
                    println!(
                        "{} of {n} entries damaged (a run moves a damaged entry to quarantine and \
                         recomputes it before any stage reads it; `sieve cache gc` removes folders \
                         without a manifest)",
                        problems.len()
                    );
                    EXIT_FAILED
                }
                Err(e) => {
                    eprintln!("error: verify failed: {e}");
                    EXIT_FAILED
                }
            }
        }
    }
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `sieve stages`: the catalogue, as text or Markdown.
fn stages(kind: Option<&str>, markdown: bool) -> i32 {
    let reg = registry();
    let kinds: Vec<_> = match kind {
        Some(k) => match reg.get(k) {
            Some(s) => vec![s],
            None => {
                let hint = crate::diag::did_you_mean(k, reg.names())
                    .map(|h| format!(" (did you mean `{h}`?)"))
                    .unwrap_or_default();
                eprintln!("error: unknown stage kind `{k}`{hint}");
                return EXIT_INVALID;
            }
        },
        None => reg.iter().collect(),
    };
    for k in kinds {
        print!("{}", crate::stages::describe_kind(k, markdown));
    }
    0
}
