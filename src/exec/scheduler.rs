//! The scheduler: runs dirty stages on a bounded pool of threads in topological order.
//!
//! Invariants: a stage starts only when all its inputs are committed (or found cached);
//! at most `jobs` stages run at once and at most `gpu_slots` per CUDA device; a failed
//! stage's dependents are skipped, never run on missing inputs; without `keep_going` no
//! new stage starts after a failure, but running ones finish and are cached; panics in a
//! stage body (e.g. a tch shape error) are caught and become that stage's failure.

use super::events::{Event, Reporter};
use super::freshness::key_material;
use crate::cache::lockfile::LockFile;
use crate::cache::store::{Manifest, now_unix};
use crate::cache::{KeyMaterial, Store};
use crate::plan::{NodeId, Plan};
use crate::stages::{InputArtifact, InputSlot, Progress, StageContext, StageError, StageKind, registry};
use crate::value::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub jobs: usize,
    /// Nodes to recompute even when cached.
    pub force: HashSet<NodeId>,
    pub keep_going: bool,
    /// With `--locked`: every key must match the lock and every output its digest.
    pub locked: Option<LockFile>,
    /// Concurrent GPU stages per CUDA device.
    pub gpu_slots: usize,
    /// CUDA devices the slots are counted over (None: those visible to this process,
    /// [`crate::device::cuda_devices`]); tests pass a fake count.
    pub cuda_devices: Option<i64>,
}

impl Default for RunOptions {
    fn default() -> Self {
        let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        RunOptions {
            jobs,
            force: HashSet::new(),
            keep_going: false,
            locked: None,
            gpu_slots: 1,
            cuda_devices: None,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub executed: Vec<String>,
    pub cached: Vec<String>,
    /// (instance, error)
    pub failed: Vec<(String, String)>,
    pub skipped: Vec<String>,
    pub cancelled: bool,
    /// Instance → (kind, key, digest) of every stage whose result is known.
    pub results: BTreeMap<String, (String, String, String)>,
    pub seconds: f64,
}

impl RunSummary {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.cancelled
    }
}

enum Outcome {
    Done {
        key: String,
        digest: String,
        dir: PathBuf,
        ran: bool,
    },
    Failed {
        key: Option<String>,
        error: String,
    },
}

/// Runs the plan. Returns when every stage is done, failed, skipped or cancelled.
pub fn run(
    plan: &Plan,
    store: &Store,
    opts: &RunOptions,
    reporter: &dyn Reporter,
    cancel: &AtomicBool,
) -> RunSummary {
    let start = Instant::now();
    reporter.event(&Event::Begin {
        pipeline: &plan.pipeline,
        total: plan.len(),
    });
    let mut l = Ledger::new(plan, store, reporter);
    let mut stop = false;
    let mut gpu_busy: HashMap<usize, usize> = HashMap::new();
    let mut running: HashMap<NodeId, Option<usize>> = HashMap::new();
    let (tx, rx) = mpsc::channel::<(NodeId, Outcome)>();

    std::thread::scope(|scope| {
        loop {
            if cancel.load(Ordering::Relaxed) && !l.summary.cancelled {
                l.summary.cancelled = true;
                stop = true;
            }
            // Start (or resolve from cache) as many ready stages as allowed.
            let mut deferred = Vec::new();
            while !stop && running.len() < opts.jobs.max(1) {
                let Some((pos, id)) = l.ready.pop_first() else {
                    break;
                };
                let st = &plan.node(id).stage;
                let gpu = registry()
                    .get(&st.kind)
                    .and_then(|k| gpu_index(k, &st.params, opts));
                if let Some(g) = gpu
                    && gpu_busy.get(&g).copied().unwrap_or(0) >= opts.gpu_slots.max(1)
                {
                    deferred.push((pos, id));
                    continue;
                }
                let outcome = prepare(plan, store, opts, id, &l.digests);
                match outcome {
                    Prepared::Cached(o) => {
                        let Outcome::Done { key, .. } = &o else {
                            unreachable!("prepare only returns Done as cached")
                        };
                        reporter.event(&Event::Cached {
                            stage: &st.instance,
                            key,
                        });
                        l.settle(id, o);
                    }
                    Prepared::Fail(o) => {
                        if let Outcome::Failed { key, error } = &o {
                            reporter.event(&Event::Failed {
                                stage: &st.instance,
                                key: key.as_deref(),
                                error,
                                log: None,
                            });
                        }
                        l.settle(id, o);
                        if !opts.keep_going {
                            stop = true;
                        }
                    }
                    Prepared::Run(km) => {
                        if let Some(g) = gpu {
                            *gpu_busy.entry(g).or_default() += 1;
                        }
                        running.insert(id, gpu);
                        let inputs = input_slots(plan, id, &l.dirs);
                        let tx = tx.clone();
                        let force = opts.force.contains(&id);
                        scope.spawn(move || {
                            let o = execute(plan, store, id, km, inputs, force, reporter, cancel);
                            let _ = tx.send((id, o));
                        });
                    }
                }
            }
            l.ready.extend(deferred);
            if running.is_empty() && (stop || l.ready.is_empty()) {
                break;
            }
            // Wait for a running stage (with a timeout so Ctrl-C is noticed).
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok((id, o)) => {
                    if let Some(Some(g)) = running.remove(&id)
                        && let Some(b) = gpu_busy.get_mut(&g)
                    {
                        *b -= 1;
                    }
                    let failed = matches!(o, Outcome::Failed { .. });
                    l.settle(id, o);
                    if failed && !opts.keep_going {
                        stop = true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });

    // Whatever never ran was skipped (after a failure without --keep-going, or Ctrl-C).
    let why = if l.summary.cancelled {
        "run cancelled"
    } else {
        "run stopped after a failure (use --keep-going to continue independent stages)"
    };
    for &id in plan.order() {
        if !l.finished.contains(&id) {
            let st = &plan.node(id).stage;
            reporter.event(&Event::Skipped {
                stage: &st.instance,
                reason: why,
            });
            l.summary.skipped.push(st.instance.clone());
        }
    }
    let mut summary = l.summary;
    summary.seconds = start.elapsed().as_secs_f64();
    reporter.event(&Event::End {
        executed: summary.executed.len(),
        cached: summary.cached.len(),
        failed: summary.failed.len(),
        skipped: summary.skipped.len(),
        seconds: summary.seconds,
    });
    summary
}

enum Prepared {
    Cached(Outcome),
    Fail(Outcome),
    Run(KeyMaterial),
}

/// Computes a ready node's key and decides: cached, run, or fail (lock mismatch).
fn prepare(
    plan: &Plan,
    store: &Store,
    opts: &RunOptions,
    id: NodeId,
    digests: &HashMap<String, String>,
) -> Prepared {
    let st = &plan.node(id).stage;
    let Some(km) = key_material(plan, store, id, digests) else {
        return Prepared::Fail(Outcome::Failed {
            key: None,
            error: format!("unknown stage kind `{}`", st.kind),
        });
    };
    let key = km.key();
    if let Some(lock) = &opts.locked {
        match lock.stages.get(&st.instance) {
            Some(l) if l.key == key => {}
            Some(l) => {
                return Prepared::Fail(Outcome::Failed {
                    key: Some(key.clone()),
                    error: format!(
                        "--locked: key {} differs from the lock's {}",
                        short(&key),
                        short(&l.key)
                    ),
                });
            }
            None => {
                return Prepared::Fail(Outcome::Failed {
                    key: Some(key),
                    error: "--locked: stage is not in the lock file".into(),
                });
            }
        }
    }
    if !opts.force.contains(&id)
        && let Some(e) = store.get(&key)
    {
        return Prepared::Cached(Outcome::Done {
            dir: e.out_dir(),
            digest: e.manifest.digest,
            key,
            ran: false,
        });
    }
    Prepared::Run(km)
}

fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}

/// The CUDA device a stage will occupy, if any: only stages that run libtorch code
/// take a GPU slot, whatever their `device` parameter says.
fn gpu_index(kind: &dyn StageKind, params: &crate::stages::Params, opts: &RunOptions) -> Option<usize> {
    if !kind.needs_torch(params) {
        return None;
    }
    let spec = params.get("device").and_then(Value::as_str)?;
    let n = opts.cuda_devices.unwrap_or_else(crate::device::cuda_devices);
    match crate::device::resolve_among(spec, n) {
        Ok(crate::device::Device::Cuda(i)) => Some(i),
        _ => None,
    }
}

/// The scheduler's book-keeping: what is ready, what each finished stage produced, and
/// the summary being built.
struct Ledger<'a> {
    plan: &'a Plan,
    store: &'a Store,
    reporter: &'a dyn Reporter,
    /// Position of each node in the plan's order (ready stages start in that order).
    position: HashMap<NodeId, usize>,
    /// Inputs each node still waits for.
    missing: HashMap<NodeId, usize>,
    ready: BTreeSet<(usize, NodeId)>,
    /// Output digest and folder of every finished stage, by instance.
    digests: HashMap<String, String>,
    dirs: HashMap<String, PathBuf>,
    finished: HashSet<NodeId>,
    summary: RunSummary,
}

impl<'a> Ledger<'a> {
    fn new(plan: &'a Plan, store: &'a Store, reporter: &'a dyn Reporter) -> Self {
        let position: HashMap<NodeId, usize> =
            plan.order().iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let mut missing = HashMap::new();
        let mut ready = BTreeSet::new();
        for &id in plan.order() {
            let n = plan.deps(id).collect::<HashSet<_>>().len();
            missing.insert(id, n);
            if n == 0 {
                ready.insert((position[&id], id));
            }
        }
        Ledger {
            plan,
            store,
            reporter,
            position,
            missing,
            ready,
            digests: HashMap::new(),
            dirs: HashMap::new(),
            finished: HashSet::new(),
            summary: RunSummary::default(),
        }
    }

    /// Records an outcome and releases (or skips) dependents.
    fn settle(&mut self, id: NodeId, outcome: Outcome) {
        let (plan, store, reporter) = (self.plan, self.store, self.reporter);
        let summary = &mut self.summary;
        let st = &plan.node(id).stage;
        self.finished.insert(id);
        match outcome {
            Outcome::Done {
                key,
                digest,
                dir,
                ran,
            } => {
                if store.read_ref(&plan.pipeline, &st.instance).as_deref() != Some(key.as_str()) {
                    let _ = store.write_ref(&plan.pipeline, &st.instance, &key);
                }
                if ran {
                    summary.executed.push(st.instance.clone());
                } else {
                    summary.cached.push(st.instance.clone());
                }
                summary
                    .results
                    .insert(st.instance.clone(), (st.kind.clone(), key, digest.clone()));
                self.digests.insert(st.instance.clone(), digest);
                self.dirs.insert(st.instance.clone(), dir);
                let dependents: HashSet<NodeId> = plan.dependents(id).collect();
                for d in dependents {
                    if let Some(m) = self.missing.get_mut(&d) {
                        *m -= 1;
                        if *m == 0 {
                            self.ready.insert((self.position[&d], d));
                        }
                    }
                }
            }
            Outcome::Failed { error, .. } => {
                summary.failed.push((st.instance.clone(), error));
                // Skip everything downstream.
                let mut stack: Vec<NodeId> = plan.dependents(id).collect();
                while let Some(d) = stack.pop() {
                    if self.finished.insert(d) {
                        let ds = &plan.node(d).stage;
                        let reason = format!("input `{}` failed", st.instance);
                        reporter.event(&Event::Skipped {
                            stage: &ds.instance,
                            reason: &reason,
                        });
                        summary.skipped.push(ds.instance.clone());
                        stack.extend(plan.dependents(d));
                    }
                }
            }
        }
    }
}

/// Input slots of a node with the committed folders of its producers.
fn input_slots(plan: &Plan, id: NodeId, dirs: &HashMap<String, PathBuf>) -> Vec<InputSlot> {
    let st = &plan.node(id).stage;
    st.inputs
        .iter()
        .map(|inp| InputSlot {
            name: inp.slot.clone(),
            members: inp
                .sources
                .iter()
                .map(|src| {
                    let producer = plan.find(src).map(|p| &plan.node(p).stage);
                    InputArtifact {
                        instance: src.clone(),
                        coords: producer.map(|p| p.coords.clone()).unwrap_or_default(),
                        kind: producer
                            .map(|p| p.output)
                            .unwrap_or(crate::stages::ArtifactKind::Dataset),
                        dir: dirs.get(src).cloned().unwrap_or_default(),
                    }
                })
                .collect(),
        })
        .collect()
}

/// Runs one stage under its key lock and commits the result.
#[allow(clippy::too_many_arguments)]
fn execute(
    plan: &Plan,
    store: &Store,
    id: NodeId,
    km: KeyMaterial,
    inputs: Vec<InputSlot>,
    force: bool,
    reporter: &dyn Reporter,
    cancel: &AtomicBool,
) -> Outcome {
    let st = &plan.node(id).stage;
    let key = km.key();
    let fail = |error: String, log: Option<PathBuf>| {
        reporter.event(&Event::Failed {
            stage: &st.instance,
            key: Some(&key),
            error: &error,
            log: log.as_deref(),
        });
        Outcome::Failed {
            key: Some(key.clone()),
            error,
        }
    };
    let _lock = match store.lock(&key) {
        Ok(l) => l,
        Err(e) => return fail(format!("cannot lock the cache entry: {e}"), None),
    };
    // Another process may have computed it while we waited for the lock.
    if !force && let Some(e) = store.get(&key) {
        reporter.event(&Event::Cached {
            stage: &st.instance,
            key: &key,
        });
        return Outcome::Done {
            dir: e.out_dir(),
            digest: e.manifest.digest,
            key,
            ran: false,
        };
    }
    let Some(kind) = registry().get(&st.kind) else {
        return fail(format!("unknown stage kind `{}`", st.kind), None);
    };
    let pending = match store.begin(&key) {
        Ok(p) => p,
        Err(e) => return fail(format!("cannot create a temp folder in the store: {e}"), None),
    };
    let work = store.work_dir(&key);
    reporter.event(&Event::Started {
        stage: &st.instance,
        key: &key,
        kind: &st.kind,
    });
    let started_at = now_unix();
    let t0 = Instant::now();
    let log_path = pending.log_path();
    let progress = StageProgress::new(reporter, &st.instance, &key, &log_path);
    let device = st
        .params
        .get("device")
        .and_then(Value::as_str)
        .map(|d| {
            crate::device::resolve(d)
                .map(|d| d.to_string())
                .unwrap_or_else(|_| d.to_string())
        })
        .unwrap_or_else(|| "cpu".to_string());
    let result = StageContext::new(
        st.instance.clone(),
        resolve_file_params(kind, &st.params, &plan.base_dir),
        inputs,
        pending.out_dir(),
        work,
        Some(&log_path),
        &progress,
        cancel,
    )
    .map_err(StageError::from)
    .and_then(|ctx| {
        ctx.log(&format!(
            "sieve {} — stage {} ({} v{})",
            env!("CARGO_PKG_VERSION"),
            st.instance,
            st.kind,
            kind.version()
        ));
        ctx.log(&format!("key {key}"));
        ctx.log(&format!(
            "params {}",
            serde_json::to_string(&st.params.0).unwrap_or_default()
        ));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kind.run(&ctx)));
        let r = match r {
            Ok(r) => r,
            Err(payload) => Err(StageError::Failed(format!(
                "stage panicked: {}",
                panic_message(payload.as_ref())
            ))),
        };
        if let Err(e) = &r {
            ctx.log(&format!("error: {e}"));
        }
        r
    });
    if let Err(e) = result {
        let kept = store.abandon(pending);
        return fail(e.to_string(), kept);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let manifest = Manifest {
        key: key.clone(),
        sieve_version: env!("CARGO_PKG_VERSION").to_string(),
        pipeline: plan.pipeline.clone(),
        instance: st.instance.clone(),
        material: km,
        digest: String::new(),
        files: Vec::new(),
        wall_time_s: seconds,
        device,
        started_at,
        finished_at: now_unix(),
        log: Some("log.txt".into()),
        metrics: None,
    };
    match store.commit(pending, manifest, force) {
        Ok(entry) => {
            reporter.event(&Event::Finished {
                stage: &st.instance,
                key: &key,
                seconds,
            });
            Outcome::Done {
                dir: entry.out_dir(),
                digest: entry.manifest.digest,
                key,
                ran: true,
            }
        }
        Err(e) => fail(format!("cannot commit the result to the store: {e}"), None),
    }
}

/// The parameters a stage receives: file parameters resolved against the pipeline's folder
/// (the key and the IR keep them as written, so moving a project keeps its cache).
fn resolve_file_params(
    kind: &dyn crate::stages::StageKind,
    params: &crate::stages::Params,
    base: &std::path::Path,
) -> crate::stages::Params {
    let mut out = params.clone();
    for spec in kind.params() {
        let Some(v) = out.0.get(spec.name) else {
            continue;
        };
        let path = match (&spec.ty, v) {
            (crate::stages::ParamType::OutputFile, Value::Str(p)) => Some(p.as_str()),
            (ty, v) => ty.input_file(v),
        };
        if let Some(p) = path {
            let resolved = base.join(p).to_string_lossy().into_owned();
            out.0.insert(spec.name.to_string(), Value::Str(resolved));
        }
    }
    out
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// A running stage's progress handle: forwards throttled progress events to the reporter
/// and appends them to the stage log.
struct StageProgress<'r> {
    reporter: &'r dyn Reporter,
    stage: String,
    key: String,
    total: Mutex<(Option<u64>, String)>,
    last: Mutex<Option<Instant>>,
    log: Mutex<Option<File>>,
}

impl<'r> StageProgress<'r> {
    fn new(reporter: &'r dyn Reporter, stage: &str, key: &str, log_path: &std::path::Path) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .ok();
        StageProgress {
            reporter,
            stage: stage.to_string(),
            key: key.to_string(),
            total: Mutex::new((None, String::new())),
            last: Mutex::new(None),
            log: Mutex::new(log),
        }
    }
}

impl Progress for StageProgress<'_> {
    fn set_total(&self, total: u64, unit: &str) {
        *self.total.lock().unwrap_or_else(|p| p.into_inner()) = (Some(total), unit.to_string());
    }

    fn update(&self, done: u64, metrics: &[(&str, f64)]) {
        let (total, unit) = self.total.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let now = Instant::now();
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let final_step = total.is_some_and(|t| done >= t);
            if !final_step && last.is_some_and(|t| now.duration_since(t) < Duration::from_millis(250)) {
                return;
            }
            *last = Some(now);
        }
        if let Some(f) = self.log.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let m: Vec<String> = metrics.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(
                f,
                "progress {done}/{} {unit} {}",
                total.map(|t| t.to_string()).unwrap_or("?".into()),
                m.join(" ")
            );
        }
        self.reporter.event(&Event::Progress {
            stage: &self.stage,
            key: &self.key,
            done,
            total,
            unit: &unit,
            metrics,
        });
    }

    fn message(&self, msg: &str) {
        if let Some(f) = self.log.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = writeln!(f, "{msg}");
        }
        self.reporter.event(&Event::Message {
            stage: &self.stage,
            key: &self.key,
            message: msg,
        });
    }
}
