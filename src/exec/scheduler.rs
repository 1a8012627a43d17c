//! The scheduler: runs dirty stages on a bounded pool of threads in topological order.
//!
//! Verify on use: before a stage runs, it takes a shared lock on each input entry (so
//! `cache gc` cannot delete it mid-read) and the entry is re-digested against its manifest
//! (once per process). A damaged or vanished input is never read: its producer goes back
//! to the queue, re-checks the entry under the key's exclusive lock, moves it to
//! `quarantine/` and recomputes it (same key, same bytes for a deterministic stage), and
//! the reader runs after that.
//!
//! Invariants: a stage starts only when all its inputs are committed (or found cached) and
//! verified;
//! at most `jobs` stages run at once and at most `gpu_slots` per CUDA device; a failed
//! stage's dependents are skipped, never run on missing inputs; without `keep_going` no
//! new stage starts after a failure, but running ones finish and are cached; panics in a
//! stage body (e.g. a tch shape error) are caught and become that stage's failure; a
//! stage receives its file parameters resolved and checked once more against the plan's
//! confinement, and a refused path fails it before it starts.

use super::events::{Event, Reporter};
use super::freshness::{key_material, ref_scope};
use super::locked::lock_mismatch;
use super::reason::{StaleReason, join};
use crate::cache::digest::short;
use crate::cache::lockfile::LockFile;
use crate::cache::store::{KeyLock, Manifest, now_unix};
use crate::cache::{Damage, Entry, KeyMaterial, RefScope, Store, UNREADABLE_MANIFEST};
use crate::plan::{NodeId, Plan};
use crate::stages::artifact::METRICS_FILE;
use crate::stages::{
    InputArtifact, InputSlot, Params, Progress, StageContext, StageError, StageKind, file_params, registry,
};
use crate::value::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
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

/// The result of one stage instance (computed or found cached).
#[derive(Debug, Clone)]
pub struct StageResult {
    pub kind: String,
    pub key: String,
    /// Output digest.
    pub digest: String,
    pub material: KeyMaterial,
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
    /// Every stage whose result is known, by instance.
    pub results: BTreeMap<String, StageResult>,
    pub seconds: f64,
}

impl RunSummary {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.cancelled
    }
}

/// How many times one run recomputes a damaged (or vanished) entry before it gives up on
/// the stages reading it: a store that keeps losing entries needs a person, not a loop.
const MAX_REPAIRS: usize = 2;

/// Why a node is being executed.
#[derive(Debug, Clone)]
enum Mode {
    /// Not cached when prepared.
    Normal,
    /// `--force`: recompute and replace the entry.
    Force,
    /// A reader found the entry damaged or gone: re-check it under the key's lock (someone
    /// may have repaired it), quarantine it if still damaged, recompute.
    Repair(Damage),
}

enum Outcome {
    Done {
        key: String,
        digest: String,
        dir: PathBuf,
        ran: bool,
        material: KeyMaterial,
    },
    /// The failure was reported (a `Failed` event) where it happened.
    Failed { error: String },
}

/// What a worker reports back.
enum Attempt {
    Settled(Outcome),
    /// Input entries were damaged or gone when the stage came to read them (nothing was
    /// read): their producers are recomputed, then the stage is tried again.
    InputsDamaged(Vec<(NodeId, Damage)>),
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
    let scope = ref_scope(plan);
    let mut l = Ledger::new(plan, store, &scope, reporter);
    let worker = Worker {
        plan,
        store,
        scope: &scope,
        reporter,
        cancel,
    };
    let mut stop = false;
    let mut gpu_busy: HashMap<usize, usize> = HashMap::new();
    let (tx, rx) = mpsc::channel::<(NodeId, Attempt)>();

    std::thread::scope(|scope_| {
        loop {
            if cancel.load(Ordering::Relaxed) && !l.summary.cancelled {
                l.summary.cancelled = true;
                stop = true;
            }
            // Start (or resolve from cache) as many ready stages as allowed.
            let mut deferred = Vec::new();
            while !stop && l.running.len() < opts.jobs.max(1) {
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
                let mode = match l.repair.remove(&id) {
                    Some(damage) => Mode::Repair(damage),
                    None if opts.force.contains(&id) => Mode::Force,
                    None => Mode::Normal,
                };
                match prepare(plan, store, opts, id, &l.digests, &l.dirs, &mode) {
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
                    Prepared::Fail { key, error, reasons } => {
                        reporter.event(&Event::Failed {
                            stage: &st.instance,
                            key: key.as_deref(),
                            error: &error,
                            log: None,
                            reasons: &reasons,
                        });
                        l.settle(id, Outcome::Failed { error });
                        if !opts.keep_going {
                            stop = true;
                        }
                    }
                    Prepared::Run { km, key, slots } => {
                        if let Some(g) = gpu {
                            *gpu_busy.entry(g).or_default() += 1;
                        }
                        l.running.insert(id, gpu);
                        let job = Job {
                            id,
                            km,
                            key,
                            mode,
                            slots,
                            entries: l.input_entries(id),
                        };
                        let tx = tx.clone();
                        scope_.spawn(move || {
                            let o = worker.execute(job);
                            let _ = tx.send((id, o));
                        });
                    }
                }
            }
            l.ready.extend(deferred);
            if l.running.is_empty() && (stop || l.ready.is_empty()) {
                break;
            }
            // Wait for a running stage (with a timeout so Ctrl-C is noticed).
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok((id, o)) => {
                    if let Some(Some(g)) = l.running.remove(&id)
                        && let Some(b) = gpu_busy.get_mut(&g)
                    {
                        *b -= 1;
                    }
                    let failed = match o {
                        Attempt::InputsDamaged(damages) => l.repair_inputs(id, damages),
                        Attempt::Settled(o) => {
                            let failed = matches!(o, Outcome::Failed { .. });
                            l.settle(id, o);
                            failed
                        }
                    };
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
    /// Fails before it starts; `reasons` when `--locked` refused it.
    Fail {
        key: Option<String>,
        error: String,
        reasons: Vec<StaleReason>,
    },
    Run {
        km: KeyMaterial,
        key: String,
        slots: Vec<InputSlot>,
    },
}

/// Computes a ready node's key and decides: cached, run (with its inputs' folders), or
/// fail (no key, lock mismatch, an input without a folder).
fn prepare(
    plan: &Plan,
    store: &Store,
    opts: &RunOptions,
    id: NodeId,
    digests: &HashMap<String, String>,
    dirs: &HashMap<String, PathBuf>,
    mode: &Mode,
) -> Prepared {
    let st = &plan.node(id).stage;
    let fail = |key: Option<String>, error: String| Prepared::Fail {
        key,
        error,
        reasons: Vec::new(),
    };
    let Some(km) = key_material(plan, store, id, digests) else {
        return fail(None, format!("unknown stage kind `{}`", st.kind));
    };
    let key = match km.key() {
        Ok(key) => key,
        Err(e) => return fail(None, format!("cannot compute its cache key: {e}")),
    };
    if let Some(lock) = &opts.locked {
        let why = match lock.stages.get(&st.instance) {
            Some(locked) => lock_mismatch(locked, &km, &key),
            None => Some(vec![StaleReason::NotInLock]),
        };
        if let Some(reasons) = why {
            return Prepared::Fail {
                error: format!("--locked: {}", join(&reasons)),
                key: Some(key),
                reasons,
            };
        }
    }
    if matches!(mode, Mode::Normal)
        && let Some(e) = store.get(&key)
    {
        return Prepared::Cached(Outcome::Done {
            dir: e.out_dir(),
            digest: e.manifest.digest,
            key,
            ran: false,
            material: km,
        });
    }
    match input_slots(plan, id, dirs) {
        Ok(slots) => Prepared::Run { km, key, slots },
        Err(error) => fail(Some(key), error),
    }
}

/// The CUDA device a stage will occupy, if any: only stages that run libtorch code
/// take a GPU slot, whatever their `device` parameter says.
fn gpu_index(kind: &dyn StageKind, params: &crate::stages::Params, opts: &RunOptions) -> Option<usize> {
    if !kind.needs_torch(params) {
        return None;
    }
    let spec = kind.device(params)?;
    let n = opts.cuda_devices.unwrap_or_else(crate::device::cuda_devices);
    match crate::device::resolve_among(&spec, n) {
        Ok(crate::device::Device::Cuda(i)) => Some(i),
        _ => None,
    }
}

/// The scheduler's book-keeping: what is ready, running and done, what each finished
/// stage produced, and the summary being built.
///
/// A node is ready when every producer it reads is in `done`. A damaged input entry
/// takes its producer out of `done` again (and back to `ready`, to be repaired); the
/// readers wait for it like for any unfinished input.
struct Ledger<'a> {
    plan: &'a Plan,
    store: &'a Store,
    scope: &'a RefScope,
    reporter: &'a dyn Reporter,
    /// Position of each node in the plan's order (ready stages start in that order).
    position: HashMap<NodeId, usize>,
    ready: BTreeSet<(usize, NodeId)>,
    /// Running nodes, with the CUDA device each occupies.
    running: HashMap<NodeId, Option<usize>>,
    /// Nodes with a usable result.
    done: HashSet<NodeId>,
    /// Nodes done, failed or skipped.
    finished: HashSet<NodeId>,
    /// Output digest, folder and key of every done stage, by instance.
    digests: HashMap<String, String>,
    dirs: HashMap<String, PathBuf>,
    keys: HashMap<NodeId, String>,
    /// Producers to repair, with the damage a reader found.
    repair: HashMap<NodeId, Damage>,
    repairs: HashMap<NodeId, usize>,
    summary: RunSummary,
}

impl<'a> Ledger<'a> {
    fn new(plan: &'a Plan, store: &'a Store, scope: &'a RefScope, reporter: &'a dyn Reporter) -> Self {
        let position: HashMap<NodeId, usize> =
            plan.order().iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let ready = plan
            .order()
            .iter()
            .filter(|&&id| plan.deps(id).next().is_none())
            .map(|&id| (position[&id], id))
            .collect();
        Ledger {
            plan,
            store,
            scope,
            reporter,
            position,
            ready,
            running: HashMap::new(),
            done: HashSet::new(),
            finished: HashSet::new(),
            digests: HashMap::new(),
            dirs: HashMap::new(),
            keys: HashMap::new(),
            repair: HashMap::new(),
            repairs: HashMap::new(),
            summary: RunSummary::default(),
        }
    }

    /// Makes `id` ready if it is waiting and every producer it reads is done.
    fn release(&mut self, id: NodeId) {
        let waiting = !self.finished.contains(&id) && !self.running.contains_key(&id);
        if waiting && self.plan.deps(id).all(|d| self.done.contains(&d)) {
            self.ready.insert((self.position[&id], id));
        }
    }

    /// The committed entries a node reads: (producer, key), one per producer.
    fn input_entries(&self, id: NodeId) -> Vec<(NodeId, String)> {
        let producers: BTreeSet<NodeId> = self.plan.deps(id).collect();
        producers
            .into_iter()
            .filter_map(|p| Some((p, self.keys.get(&p)?.clone())))
            .collect()
    }

    /// Records an outcome and releases (or skips) dependents.
    fn settle(&mut self, id: NodeId, outcome: Outcome) {
        let (plan, store, reporter) = (self.plan, self.store, self.reporter);
        let st = &plan.node(id).stage;
        self.finished.insert(id);
        match outcome {
            Outcome::Done {
                key,
                digest,
                dir,
                ran,
                material,
            } => {
                // Best effort: a ref only explains staleness and roots gc.
                let _ = store.record_result(self.scope, &st.instance, &key);
                if ran {
                    self.summary.executed.push(st.instance.clone());
                } else {
                    self.summary.cached.push(st.instance.clone());
                }
                self.summary.results.insert(
                    st.instance.clone(),
                    StageResult {
                        kind: st.kind.clone(),
                        key: key.clone(),
                        digest: digest.clone(),
                        material,
                    },
                );
                self.digests.insert(st.instance.clone(), digest);
                self.dirs.insert(st.instance.clone(), dir);
                self.keys.insert(id, key);
                self.done.insert(id);
                let dependents: BTreeSet<NodeId> = plan.dependents(id).collect();
                for d in dependents {
                    self.release(d);
                }
            }
            Outcome::Failed { error } => {
                self.summary.failed.push((st.instance.clone(), error));
                // Skip everything downstream.
                let mut stack: Vec<NodeId> = plan.dependents(id).collect();
                while let Some(d) = stack.pop() {
                    if self.finished.insert(d) {
                        self.ready.remove(&(self.position[&d], d));
                        let ds = &plan.node(d).stage;
                        let reason = format!("input `{}` failed", st.instance);
                        reporter.event(&Event::Skipped {
                            stage: &ds.instance,
                            reason: &reason,
                        });
                        self.summary.skipped.push(ds.instance.clone());
                        stack.extend(plan.dependents(d));
                    }
                }
            }
        }
    }

    /// A reader found input entries damaged or gone: send their producers back to be
    /// repaired and let the reader wait for them. Returns true when the reader failed
    /// instead (an entry kept breaking after [`MAX_REPAIRS`] recomputes).
    fn repair_inputs(&mut self, reader: NodeId, damages: Vec<(NodeId, Damage)>) -> bool {
        for (producer, damage) in damages {
            if !self.done.contains(&producer) {
                continue; // already being repaired for another reader
            }
            // Recomputed since this reader looked (for another reader): fine now?
            let current = self.keys.get(&producer).cloned().unwrap_or_default();
            if self.repairs.contains_key(&producer) && self.store.verified(&current).is_ok() {
                continue;
            }
            let n = self.repairs.entry(producer).or_default();
            *n += 1;
            if *n > MAX_REPAIRS {
                let st = &self.plan.node(reader).stage;
                let error = format!(
                    "input `{}` (entry {}) is still damaged after {MAX_REPAIRS} recomputes: {}",
                    self.plan.node(producer).stage.instance,
                    short(&damage.key),
                    damage.problem
                );
                self.reporter.event(&Event::Failed {
                    stage: &st.instance,
                    key: None,
                    error: &error,
                    log: None,
                    reasons: &[],
                });
                self.settle(reader, Outcome::Failed { error });
                return true;
            }
            self.unsettle(producer);
            self.repair.insert(producer, damage);
        }
        self.release(reader);
        false
    }

    /// Takes a done node back to ready (its entry must be recomputed); dependents that
    /// have not started wait for it again.
    fn unsettle(&mut self, id: NodeId) {
        let instance = &self.plan.node(id).stage.instance;
        self.done.remove(&id);
        self.finished.remove(&id);
        self.summary.cached.retain(|s| s != instance);
        self.summary.executed.retain(|s| s != instance);
        self.summary.results.remove(instance);
        self.digests.remove(instance);
        self.dirs.remove(instance);
        self.keys.remove(&id);
        for d in self.plan.dependents(id) {
            self.ready.remove(&(self.position[&d], d));
        }
        self.ready.insert((self.position[&id], id));
    }
}

/// Input slots of a node with the committed folders of its producers. A node starts
/// only when every producer is done, so a producer without a folder is a scheduler bug:
/// the stage fails with an internal error rather than read from a wrong folder.
pub(super) fn input_slots(
    plan: &Plan,
    id: NodeId,
    dirs: &HashMap<String, PathBuf>,
) -> Result<Vec<InputSlot>, String> {
    let st = &plan.node(id).stage;
    let artifact = |slot: &str, src: &String| {
        let internal = |what: &str| format!("internal error: input `{slot}` reads `{src}`, {what}");
        let producer = plan
            .find(src)
            .map(|p| &plan.node(p).stage)
            .ok_or_else(|| internal("which is not a stage of the plan"))?;
        let dir = dirs
            .get(src)
            .ok_or_else(|| internal("whose result is not committed"))?;
        Ok(InputArtifact {
            instance: src.clone(),
            coords: producer.coords.clone(),
            kind: producer.output,
            dir: dir.clone(),
        })
    };
    st.inputs
        .iter()
        .map(|inp| {
            Ok(InputSlot {
                name: inp.slot.clone(),
                members: inp
                    .sources
                    .iter()
                    .map(|src| artifact(&inp.slot, src))
                    .collect::<Result<_, String>>()?,
            })
        })
        .collect()
}

/// One stage to execute.
struct Job {
    id: NodeId,
    km: KeyMaterial,
    /// `km`'s key.
    key: String,
    mode: Mode,
    slots: Vec<InputSlot>,
    /// The entries `slots` point into: (producer, key).
    entries: Vec<(NodeId, String)>,
}

/// Takes a shared lock on every input entry (so `gc` leaves them alone while the stage
/// runs) and verifies each against its manifest (once per process). Returns the locks,
/// or the damaged and vanished entries, none of which has been read by the stage.
fn lock_and_verify_inputs(
    store: &Store,
    entries: &[(NodeId, String)],
) -> Result<Vec<KeyLock>, Vec<(NodeId, Damage)>> {
    let mut locks = Vec::with_capacity(entries.len());
    let mut damaged = Vec::new();
    for (producer, key) in entries {
        match store.lock_shared(key) {
            Ok(l) => locks.push(l),
            Err(e) => damaged.push((
                *producer,
                Damage {
                    key: key.clone(),
                    problem: format!("cannot lock it for reading: {e}"),
                },
            )),
        }
        if let Err(d) = store.verified(key) {
            damaged.push((*producer, d));
        }
    }
    if damaged.is_empty() {
        Ok(locks)
    } else {
        Err(damaged)
    }
}

/// Under the key's exclusive lock, before recomputing an entry a reader found damaged:
/// checks it afresh (another process may have repaired it: then it is returned) and
/// otherwise moves it to quarantine, saying so.
fn recheck_damaged(
    store: &Store,
    instance: &str,
    key: &str,
    reported: &Damage,
    reporter: &dyn Reporter,
) -> Result<Option<Entry>, String> {
    let problem = match store.get(key) {
        Some(e) => match store.check(&e) {
            Ok(()) => {
                store.mark_verified(key);
                return Ok(Some(e));
            }
            Err(problem) => problem,
        },
        None => reported.problem.clone(),
    };
    let quarantined = if store.has_entry_folder(key) {
        Some(
            store
                .quarantine(key)
                .map_err(|e| format!("cannot move the damaged entry {key} to quarantine: {e}"))?,
        )
    } else {
        None
    };
    reporter.event(&Event::Damaged {
        stage: instance,
        key,
        problem: &problem,
        quarantined: quarantined.as_deref(),
    });
    Ok(None)
}

/// Reports that the stage `instance` failed computing `key` (its log, when it wrote one)
/// and returns the failed outcome.
fn report_failure(
    reporter: &dyn Reporter,
    instance: &str,
    key: &str,
    error: String,
    log: Option<&Path>,
) -> Outcome {
    reporter.event(&Event::Failed {
        stage: instance,
        key: Some(key),
        error: &error,
        log,
        reasons: &[],
    });
    Outcome::Failed { error }
}

/// What every job of a run shares: the plan, the store, the run's ref scope, where
/// events go, and the flag that cancels the run.
#[derive(Clone, Copy)]
struct Worker<'a> {
    plan: &'a Plan,
    store: &'a Store,
    scope: &'a RefScope,
    reporter: &'a dyn Reporter,
    cancel: &'a AtomicBool,
}

impl Worker<'_> {
    /// Runs one stage under its key lock and commits the result (or finds it committed by
    /// another process meanwhile, or finds its inputs damaged).
    fn execute(&self, job: Job) -> Attempt {
        let st = &self.plan.node(job.id).stage;
        let key = job.key.clone();
        let fail =
            |error: String| Attempt::Settled(report_failure(self.reporter, &st.instance, &key, error, None));
        let _lock = match self.store.lock(&key) {
            Ok(l) => l,
            Err(e) => return fail(format!("cannot lock the cache entry: {e}")),
        };
        let cached = |e: Entry, material: KeyMaterial| {
            self.reporter.event(&Event::Cached {
                stage: &st.instance,
                key: &key,
            });
            Attempt::Settled(Outcome::Done {
                dir: e.out_dir(),
                digest: e.manifest.digest,
                key: key.clone(),
                ran: false,
                material,
            })
        };
        match &job.mode {
            // Another process may have computed it while we waited for the lock.
            Mode::Normal => {
                if let Some(e) = self.store.get(&key) {
                    return cached(e, job.km);
                }
                // A folder without a readable manifest is a damaged entry, not an absent one:
                // say so and move it aside now (the commit would do it silently).
                if self.store.has_entry_folder(&key) {
                    let damage = Damage {
                        key: key.clone(),
                        problem: UNREADABLE_MANIFEST.into(),
                    };
                    if let Err(error) =
                        recheck_damaged(self.store, &st.instance, &key, &damage, self.reporter)
                    {
                        return fail(error);
                    }
                }
            }
            Mode::Force => {}
            Mode::Repair(reported) => {
                match recheck_damaged(self.store, &st.instance, &key, reported, self.reporter) {
                    Ok(Some(e)) => return cached(e, job.km),
                    Ok(None) => {}
                    Err(error) => return fail(error),
                }
            }
        }
        // Held until the result is committed: gc leaves the inputs alone meanwhile.
        let _readers = match lock_and_verify_inputs(self.store, &job.entries) {
            Ok(locks) => locks,
            Err(damaged) => return Attempt::InputsDamaged(damaged),
        };
        let outcome = self.compute(job);
        // Under the key's lock, so `gc` reads this ref if it finds the key free.
        if let Outcome::Done { key, .. } = &outcome {
            // Best effort: a ref only explains staleness and roots gc. Here rather than in
            // `settle`, its durable write overlaps other stages instead of holding up the
            // scheduler thread.
            let _ = self.store.record_result(self.scope, &st.instance, key);
        }
        Attempt::Settled(outcome)
    }

    /// Runs a stage body into a temp folder and commits it (the caller holds the key's
    /// exclusive lock and shared locks on the verified inputs).
    fn compute(&self, job: Job) -> Outcome {
        let Job {
            id,
            km,
            key,
            mode,
            slots,
            ..
        } = job;
        let st = &self.plan.node(id).stage;
        let fail = |error: String, log: Option<PathBuf>| {
            report_failure(self.reporter, &st.instance, &key, error, log.as_deref())
        };
        let Some(kind) = registry().get(&st.kind) else {
            return fail(format!("unknown stage kind `{}`", st.kind), None);
        };
        let params = match resolve_file_params(self.plan, kind, &st.params) {
            Ok(p) => p,
            Err(e) => return fail(e, None),
        };
        let pending = match self.store.begin(&key) {
            Ok(p) => p,
            Err(e) => return fail(format!("cannot create a temp folder in the store: {e}"), None),
        };
        let work = self.store.work_dir(&key);
        self.reporter.event(&Event::Started {
            stage: &st.instance,
            key: &key,
            kind: &st.kind,
        });
        let started_at = now_unix();
        let t0 = Instant::now();
        let log_path = pending.log_path();
        let progress = StageProgress::new(self.reporter, &st.instance, &key, &log_path);
        let device = kind
            .device(&st.params)
            .map(|d| crate::device::resolve(&d).map(|d| d.to_string()).unwrap_or(d))
            .unwrap_or_else(|| "cpu".to_string());
        let result = StageContext::new(
            st.instance.clone(),
            params,
            slots,
            pending.out_dir(),
            work,
            Some(&log_path),
            &progress,
            self.cancel,
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
            let kept = self.store.abandon(pending);
            if kept.is_some() {
                // Under the key's lock, so `gc` cannot drop the log before the ref keeps it.
                let _ = self.store.record_failure(self.scope, &st.instance, &key);
            }
            return fail(e.to_string(), kept);
        }
        let seconds = t0.elapsed().as_secs_f64();
        let manifest = Manifest {
            key: key.clone(),
            sieve_version: env!("CARGO_PKG_VERSION").to_string(),
            pipeline: self.plan.pipeline.clone(),
            instance: st.instance.clone(),
            material: km.clone(),
            digest: String::new(),
            files: Vec::new(),
            wall_time_s: seconds,
            device,
            started_at,
            finished_at: now_unix(),
            log: Some("log.txt".into()),
            // The manifest keeps a copy of the metrics, when the stage wrote any.
            metrics: std::fs::read(pending.out_dir().join(METRICS_FILE))
                .ok()
                .and_then(|text| serde_json::from_slice(&text).ok()),
        };
        match self.store.commit(pending, manifest, matches!(mode, Mode::Force)) {
            Ok(entry) => {
                self.reporter.event(&Event::Finished {
                    stage: &st.instance,
                    key: &key,
                    seconds,
                });
                Outcome::Done {
                    dir: entry.out_dir(),
                    digest: entry.manifest.digest,
                    key,
                    ran: true,
                    material: km,
                }
            }
            Err(e) => fail(format!("cannot commit the result to the store: {e}"), None),
        }
    }
}

/// The parameters a stage receives: every file parameter replaced by its resolved path,
/// checked against the confinement once more right before the stage opens it (the key
/// and the IR keep them as written, so moving a project keeps its cache).
fn resolve_file_params(plan: &Plan, kind: &dyn StageKind, params: &Params) -> Result<Params, String> {
    let mut out = params.clone();
    for f in file_params(kind, params) {
        let resolved = plan
            .files
            .stage_file(f.written, f.access)
            .map_err(|refusal| format!("parameter `{}`: {refusal}", f.spec.name))?;
        out.0.insert(
            f.spec.name.to_string(),
            Value::Str(resolved.to_string_lossy().into_owned()),
        );
    }
    Ok(out)
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
