//! Unit tests of freshness and the scheduler on test-only stage kinds.

use super::events;
use super::*;
use crate::cache::store::tests::temp_store;
use crate::cache::{KeyChange, Store};
use crate::confine::Confinement;
use crate::diag::SourceMap;
use crate::plan::Plan;
use crate::value::Value;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::AtomicBool;

fn plan_of(text: &str) -> Plan {
    plan_in(Path::new("t.sieve"), text)
}

/// The plan of a pipeline file at `file` (its folder is the project), files pass included.
fn plan_in(file: &Path, text: &str) -> Plan {
    let mut sm = SourceMap::new();
    let f = sm.add("t.sieve", None, text);
    let file_ast = crate::dsl::parser::parse_file(text, f).expect("parse");
    let files = Confinement::of_pipeline(file).expect("confinement");
    let ir = crate::ir::lower(&file_ast, &[])
        .and_then(|ir| crate::ir::check_files(&ir, &files).map(|()| ir))
        .unwrap_or_else(|d| panic!("{}", d.render(&sm)));
    Plan::build(&ir, files).expect("a lowered pipeline plans")
}

/// A store in which `PIPE` has run once (its folder lasts as long as the guard).
fn store_after_running_pipe() -> (tempfile::TempDir, Store) {
    let (dir, store) = temp_store();
    let s = run_plan(&plan_of(PIPE), &store, &RunOptions::default());
    assert!(s.ok(), "{s:?}");
    (dir, store)
}

fn run_plan(plan: &Plan, store: &Store, opts: &RunOptions) -> RunSummary {
    run_reported(plan, store, opts, &NullReporter)
}

/// Runs `plan` to the end (never cancelled), sending its events to `reporter`.
fn run_reported(plan: &Plan, store: &Store, opts: &RunOptions, reporter: &dyn Reporter) -> RunSummary {
    run(plan, store, opts, reporter, &AtomicBool::new(false))
}

/// Every stage's status against `store`, none forced.
fn statuses(plan: &Plan, store: &Store) -> Vec<StageStatus> {
    assess(plan, store, &HashSet::new()).unwrap()
}

const PIPE: &str = r#"pipeline p {
    stage src = t.source(n = 3, note = "a")
    stage m = t.model(seed = 1)
    sweep lr in [1e-3, 1e-4] {
        stage tr = t.train(m, src, lr = lr)
        stage ev = t.eval(tr, src)
    }
    stage all = t.collect(ev)
}"#;

#[test]
fn second_run_is_fully_cached() {
    let (_dir, store) = temp_store();
    let plan = plan_of(PIPE);
    let s1 = run_plan(&plan, &store, &RunOptions::default());
    assert!(s1.ok(), "{s1:?}");
    assert_eq!(s1.executed.len(), plan.len());
    let s2 = run_plan(&plan, &store, &RunOptions::default());
    assert_eq!((s2.executed.len(), s2.cached.len()), (0, plan.len()));
    assert!(
        statuses(&plan, &store)
            .iter()
            .all(|s| s.status.name() == "cached")
    );
}

#[test]
fn changed_parameter_reruns_only_downstream_and_is_explained() {
    let (_dir, store) = store_after_running_pipe();
    let changed = plan_of(&PIPE.replace("[1e-3, 1e-4]", "[1e-3, 3e-4]"));
    let st = statuses(&changed, &store);
    assert_eq!(status_of(&st, "tr[lr=1e-3]").name(), "cached");
    match status_of(&st, "tr[lr=3e-4]").clone() {
        Status::Stale { reasons, .. } => assert_eq!(reasons, vec![StaleReason::NeverRun]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        status_of(&st, "all").reasons(),
        vec![StaleReason::WaitsOn {
            stages: vec!["ev[lr=3e-4]".into()]
        }]
    );
    let s = run_plan(&changed, &store, &RunOptions::default());
    let mut ran = s.executed.clone();
    ran.sort();
    assert_eq!(ran, vec!["all", "ev[lr=3e-4]", "tr[lr=3e-4]"]);
}

#[test]
fn explains_a_changed_parameter_of_the_same_instance() {
    let (_dir, store) = store_after_running_pipe();
    let changed = plan_of(&PIPE.replace("seed = 1", "seed = 2"));
    let st = statuses(&changed, &store);
    assert_eq!(status_of(&st, "m").reasons(), vec![seed_changed(1, 2)]);
    assert_eq!(status_of(&st, "m").reason(), "parameter seed changed 1 → 2");
    // A blocked consumer shows what it waits on, then its own known changes.
    let changed = plan_of(
        &PIPE
            .replace("seed = 1", "seed = 2")
            .replace("lr = lr)", "lr = lr, steps = 3)"),
    );
    let st = statuses(&changed, &store);
    assert_eq!(
        status_of(&st, "tr[lr=1e-3]").reasons(),
        vec![
            StaleReason::WaitsOn {
                stages: vec!["m".into()]
            },
            StaleReason::Changed(KeyChange::ParamChanged {
                param: "steps".into(),
                from: Value::Int(10),
                to: Value::Int(3)
            }),
        ]
    );
}

/// The status of `instance` among the assessed `statuses`.
fn status_of<'a>(statuses: &'a [StageStatus], instance: &str) -> &'a Status {
    &statuses
        .iter()
        .find(|s| s.instance == instance)
        .unwrap_or_else(|| panic!("no status of `{instance}`"))
        .status
}

fn seed_changed(from: i64, to: i64) -> StaleReason {
    StaleReason::Changed(KeyChange::ParamChanged {
        param: "seed".into(),
        from: Value::Int(from),
        to: Value::Int(to),
    })
}

#[test]
fn identical_upstream_output_keeps_downstream_cached() {
    let (_dir, store) = store_after_running_pipe();
    // `note` changes src's key but not its bytes: only src reruns.
    let s = run_plan(
        &plan_of(&PIPE.replace("note = \"a\"", "note = \"b\"")),
        &store,
        &RunOptions::default(),
    );
    assert_eq!(s.executed, vec!["src"]);
    assert!(s.ok());
}

#[test]
fn failure_skips_dependents_and_keep_going_finishes_the_rest() {
    let text = r#"pipeline p {
        stage bad = t.fail()
        stage m = t.model()
        stage tr = t.train(m, bad)
        stage src = t.source(n = 1)
        stage ok = t.train(m, src)
    }"#;
    let (dir, store) = temp_store();
    let plan = plan_of(text);
    let opts = RunOptions {
        keep_going: true,
        jobs: 1,
        ..RunOptions::default()
    };
    let s = run_plan(&plan, &store, &opts);
    assert_eq!(s.failed.len(), 1);
    assert_eq!(s.skipped, vec!["tr"]);
    assert!(s.results.contains_key("ok"));
    // The failure's log is kept.
    let key = crate::exec::key_material(&plan, &store, plan.find("bad").unwrap(), &Default::default())
        .unwrap()
        .key()
        .unwrap();
    let log = std::fs::read_to_string(dir.path().join("failed").join(&key).join("log.txt")).unwrap();
    assert!(log.contains("failing on purpose"), "{log}");
}

#[test]
fn panics_become_stage_failures() {
    let (_dir, store) = temp_store();
    let s = run_plan(
        &plan_of("pipeline p { stage x = t.panic() }"),
        &store,
        &RunOptions::default(),
    );
    assert_eq!(s.failed.len(), 1);
    assert!(s.failed[0].1.contains("panicking on purpose"), "{:?}", s.failed);
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn forced_stage_reruns() {
    let (_dir, store) = temp_store();
    let plan = plan_of(PIPE);
    run_plan(&plan, &store, &RunOptions::default());
    let force: HashSet<_> = plan.select("m").into_iter().collect();
    let s = run_plan(
        &plan,
        &store,
        &RunOptions {
            force,
            ..RunOptions::default()
        },
    );
    // m reproduces the same bytes, so its consumers stay cached.
    assert_eq!(s.executed, vec!["m"]);
    let forced = plan.select("m").into_iter().collect();
    let st = assess(&plan, &store, &forced).unwrap();
    assert_eq!(status_of(&st, "m").reasons(), vec![StaleReason::Forced]);
}

/// The plan of `PIPE` with a parameter of `m` that no key can hold (lowering refuses
/// such a value; a plan built in memory may still carry one).
fn plan_with_unkeyable_param() -> Plan {
    let mut plan_ir = {
        let mut sm = SourceMap::new();
        let f = sm.add("t.sieve", None, PIPE);
        let file_ast = crate::dsl::parser::parse_file(PIPE, f).expect("parse");
        crate::ir::lower(&file_ast, &[]).unwrap_or_else(|d| panic!("{}", d.render(&sm)))
    };
    let m = plan_ir.stages.get_mut("m").unwrap();
    m.params.0.insert("seed".into(), Value::Float(f64::INFINITY));
    let files = Confinement::of_pipeline(Path::new("t.sieve")).expect("confinement");
    Plan::build(&plan_ir, files).unwrap()
}

#[test]
fn a_stage_without_a_key_is_an_error_never_a_shared_key() {
    let (_dir, store) = temp_store();
    let plan = plan_with_unkeyable_param();
    let err = assess(&plan, &store, &HashSet::new()).unwrap_err();
    assert_eq!(err.instance, "m");
    assert!(
        matches!(&err.source, crate::cache::KeyError::NotFinite { field, .. } if field == "parameter `seed`"),
        "{err:?}"
    );
    // A run fails that stage (and skips its dependents) and runs the rest.
    let s = run_plan(
        &plan,
        &store,
        &RunOptions {
            keep_going: true,
            ..RunOptions::default()
        },
    );
    assert_eq!(s.failed.len(), 1);
    assert_eq!(s.failed[0].0, "m");
    assert!(
        s.failed[0]
            .1
            .starts_with("cannot compute its cache key: parameter `seed` is not a finite number (inf)"),
        "{:?}",
        s.failed
    );
    assert!(s.results.contains_key("src"), "{s:?}");
    assert!(s.skipped.contains(&"all".to_string()), "{s:?}");
}

#[test]
fn an_input_without_a_committed_folder_is_an_internal_error_not_the_cwd() {
    let plan = plan_of(PIPE);
    let tr = plan.find("tr[lr=1e-3]").unwrap();
    let err = scheduler::input_slots(&plan, tr, &Default::default()).unwrap_err();
    assert_eq!(
        err,
        "internal error: input `model` reads `m`, whose result is not committed"
    );
    let dirs = [("m", "/e/m"), ("src", "/e/src")]
        .map(|(k, v)| (k.to_string(), std::path::PathBuf::from(v)))
        .into();
    let slots = scheduler::input_slots(&plan, tr, &dirs).unwrap();
    assert_eq!(slots[1].members[0].dir, Path::new("/e/src"));
}

#[test]
fn locked_refusals_during_a_run_carry_their_reasons() {
    let (_dir, store) = temp_store();
    let plan = plan_of(PIPE);
    let s = run_plan(&plan, &store, &RunOptions::default());
    let mut lock = crate::cache::lockfile::LockFile {
        pipeline: "p".into(),
        ..Default::default()
    };
    for (inst, r) in &s.results {
        lock.stages.insert(
            inst.clone(),
            crate::cache::lockfile::LockedStage {
                kind: r.kind.clone(),
                key: r.key.clone(),
                digest: r.digest.clone(),
                material: Some(r.material.clone()),
            },
        );
    }
    let changed = plan_of(&PIPE.replace("seed = 1", "seed = 2"));
    let differences = lock_differences(&changed, &store, &lock).unwrap();
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert_eq!(differences[0].instance, "m");
    assert_eq!(differences[0].reasons, vec![seed_changed(1, 2)]);
    assert_eq!(differences[0].to_string(), "m: parameter seed changed 1 → 2");
    // The scheduler refuses the stage too (a run that skipped the up-front comparison).
    let rec = Recorder::new(|_: &str| {});
    let opts = RunOptions {
        locked: Some(lock),
        ..RunOptions::default()
    };
    let s = run_reported(&changed, &store, &opts, &rec);
    assert_eq!(
        s.failed,
        vec![(
            "m".to_string(),
            "--locked: parameter seed changed 1 → 2".to_string()
        )]
    );
    let failed = rec.of("failed");
    assert_eq!(
        failed[0]["reasons"],
        serde_json::json!([{"kind": "param_changed", "param": "seed", "from": 1, "to": 2}])
    );
}

#[test]
fn concurrent_runs_compute_each_entry_once() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_of(PIPE);
    let results: Vec<RunSummary> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let store = Store::open(dir.path()).unwrap();
                let plan = &plan;
                s.spawn(move || run_plan(plan, &store, &RunOptions::default()))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let executed: usize = results.iter().map(|r| r.executed.len()).sum();
    assert_eq!(executed, plan.len());
    assert!(results.iter().all(|r| r.ok()));
}

#[test]
fn a_link_swapped_after_planning_is_refused_when_the_stage_runs() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let row = "{\"question\": \"q\", \"answer\": \"a\"}\n";
    std::fs::write(project.join("data.jsonl"), row).unwrap();
    std::fs::write(dir.path().join("secret.jsonl"), row).unwrap();
    let plan = plan_in(
        &project.join("p.sieve"),
        "pipeline p { stage d = load(path = \"data.jsonl\") }",
    );
    let store = Store::open(project.join(".sieve")).unwrap();
    let id = plan.find("d").unwrap();
    let before = key_material(&plan, &store, id, &Default::default()).unwrap();
    assert_eq!(before.files["path"].len(), 64, "{:?}", before.files);

    // Between planning and running, the file becomes a link to one outside the project.
    std::fs::remove_file(project.join("data.jsonl")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.jsonl"), project.join("data.jsonl")).unwrap();
    let after = key_material(&plan, &store, id, &Default::default()).unwrap();
    assert!(
        after.files["path"].starts_with("refused"),
        "never hashed: {:?}",
        after.files
    );
    let s = run_plan(&plan, &store, &RunOptions::default());
    assert_eq!(s.failed.len(), 1, "{s:?}");
    let (stage, error) = &s.failed[0];
    assert_eq!(stage, "d");
    assert!(
        error.contains("parameter `path`") && error.contains("is outside the project folder"),
        "{error}"
    );
    assert!(store.list().unwrap().is_empty());
}

/// Records every event as its JSON object; `on_start` runs on each `started` event, in
/// the stage's worker thread, before the stage body.
struct Recorder<F: Fn(&str) + Send + Sync> {
    events: std::sync::Mutex<Vec<serde_json::Value>>,
    on_start: F,
}

impl<F: Fn(&str) + Send + Sync> Recorder<F> {
    fn new(on_start: F) -> Self {
        Recorder {
            events: Default::default(),
            on_start,
        }
    }
    fn of(&self, event: &str) -> Vec<serde_json::Value> {
        let all = self.events.lock().unwrap();
        all.iter().filter(|e| e["event"] == event).cloned().collect()
    }
}

impl<F: Fn(&str) + Send + Sync> Reporter for Recorder<F> {
    fn event(&self, e: &Event) {
        if let Event::Started { stage, .. } = e {
            (self.on_start)(stage);
        }
        self.events.lock().unwrap().push(events::event_json(e));
    }
}

/// The digest of every stage's output after a run, by instance.
fn digests(s: &RunSummary) -> std::collections::BTreeMap<String, String> {
    s.results
        .iter()
        .map(|(k, r)| (k.clone(), r.digest.clone()))
        .collect()
}

#[test]
fn damaged_inputs_are_quarantined_and_recomputed_never_read() {
    type Damage = fn(&std::path::Path);
    let damages: [(&str, Damage, &str); 3] = [
        (
            "flipped byte",
            |f| {
                let mut b = std::fs::read(f).unwrap();
                b[0] ^= 1;
                std::fs::write(f, b).unwrap();
            },
            "differs from the manifest",
        ),
        (
            "truncated",
            |f| {
                let b = std::fs::read(f).unwrap();
                std::fs::write(f, &b[..b.len() / 2]).unwrap();
            },
            "bytes, the manifest says",
        ),
        ("deleted", |f| std::fs::remove_file(f).unwrap(), "is missing"),
    ];
    // `tr` reads `src`: changing `steps` makes every `tr` (and what follows) rerun.
    let changed = plan_of(&PIPE.replace("lr = lr)", "lr = lr, steps = 11)"));
    let (_clean_dir, clean_store) = temp_store();
    let clean = run_plan(&changed, &clean_store, &RunOptions::default());
    assert!(clean.ok());
    for (what, damage, problem) in damages {
        let (dir, store) = temp_store();
        let first = run_plan(&plan_of(PIPE), &store, &RunOptions::default());
        let src_key = first.results["src"].key.clone();
        let file = dir.path().join("entries").join(&src_key).join("out/out.txt");
        damage(&file);

        // A new process: nothing is known to be verified.
        let store = Store::open(dir.path()).unwrap();
        let rec = Recorder::new(|_| {});
        let s = run_reported(&changed, &store, &RunOptions::default(), &rec);
        assert!(s.ok(), "{what}: {s:?}");
        assert_eq!(
            digests(&s),
            digests(&clean),
            "{what}: results equal a clean run's"
        );
        assert!(s.executed.contains(&"src".to_string()), "{what}: {s:?}");
        let damaged = rec.of("damaged");
        assert_eq!(damaged.len(), 1, "{what}: {damaged:?}");
        assert_eq!(damaged[0]["stage"], "src");
        assert_eq!(damaged[0]["key"], src_key.as_str());
        let text = damaged[0]["problem"].as_str().unwrap();
        assert!(
            text.contains("out.txt") && text.contains(problem),
            "{what}: {text}"
        );
        // The damaged folder is kept for inspection, and the store is whole again.
        let kept = std::path::PathBuf::from(damaged[0]["quarantined"].as_str().unwrap());
        assert!(kept.starts_with(dir.path().join("quarantine")) && kept.join("manifest.json").is_file());
        assert!(store.verify().unwrap().1.is_empty(), "{what}");
        // src is recomputed before anything reads it: no reader started earlier.
        let order: Vec<String> = rec
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "started" || e["event"] == "damaged")
            .map(|e| {
                format!(
                    "{} {}",
                    e["event"].as_str().unwrap(),
                    e["stage"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            order[..2],
            ["damaged src".to_string(), "started src".to_string()],
            "{what}: {order:?}"
        );
    }
}

#[test]
fn readers_hold_their_input_entries_against_gc_while_they_run() {
    let (_dir, store) = temp_store();
    let first = run_plan(&plan_of(PIPE), &store, &RunOptions::default());
    let src_key = first.results["src"].key.clone();
    let m_key = first.results["m"].key.clone();
    let changed = plan_of(&PIPE.replace("lr = lr)", "lr = lr, steps = 11)"));
    let probes = std::sync::Mutex::new(Vec::new());
    let rec = Recorder::new(|stage| {
        if stage.starts_with("tr[") {
            // What `cache gc` would try: the inputs' exclusive locks are taken.
            let busy =
                store.try_lock(&src_key).unwrap().is_none() && store.try_lock(&m_key).unwrap().is_none();
            probes.lock().unwrap().push(busy);
        }
    });
    let s = run_reported(&changed, &store, &RunOptions::default(), &rec);
    assert!(s.ok());
    assert_eq!(*probes.lock().unwrap(), vec![true, true]);
    // Released afterwards.
    assert!(store.try_lock(&src_key).unwrap().is_some());
}

#[test]
fn pipelines_sharing_a_name_keep_their_own_refs_and_gc_roots() {
    let (_dir, store) = temp_store();
    let mut a = plan_of(PIPE);
    a.file = Some("/project-a/p.sieve".into());
    let mut b = plan_of(&PIPE.replace("seed = 1", "seed = 5"));
    b.file = Some("/project-b/p.sieve".into());
    assert!(run_plan(&a, &store, &RunOptions::default()).ok());
    assert!(run_plan(&b, &store, &RunOptions::default()).ok());
    let report = store.gc(false, false).unwrap();
    assert!(report.removed.is_empty(), "{report:?}");
    for plan in [&a, &b] {
        assert!(statuses(plan, &store).iter().all(|s| s.status.name() == "cached"));
    }
    // Each file's reasons come from its own last run.
    let a2 = {
        let mut p = plan_of(&PIPE.replace("seed = 1", "seed = 2"));
        p.file = a.file.clone();
        p
    };
    let st = statuses(&a2, &store);
    assert_eq!(status_of(&st, "m").reasons(), vec![seed_changed(1, 2)]);
}

#[test]
fn plan_verify_reports_damaged_entries_it_would_use() {
    let (dir, store) = temp_store();
    let plan = plan_of(PIPE);
    let s = run_plan(&plan, &store, &RunOptions::default());
    let key = s.results["m"].key.clone();
    std::fs::write(dir.path().join("entries").join(&key).join("out/out.txt"), "x").unwrap();
    let fresh = Store::open(dir.path()).unwrap();
    let st = assess_verified(&plan, &fresh).unwrap();
    let damaged: Vec<_> = st.iter().filter(|s| s.status.name() == "damaged").collect();
    assert_eq!(damaged.len(), 1);
    assert_eq!(damaged[0].instance, "m");
    assert_eq!(damaged[0].status.key(), Some(key.as_str()));
    match &damaged[0].status.reasons()[..] {
        [StaleReason::Damaged { problem }] => assert!(problem.contains("out.txt"), "{problem}"),
        other => panic!("{other:?}"),
    }
    // Stages downstream keep their status (assessed with the manifest's digest).
    assert!(
        st.iter()
            .filter(|s| s.instance != "m")
            .all(|s| s.status.name() == "cached")
    );
}

/// Records, per device, the most `t.gpu` stages running at once (from the run's events:
/// a stage is running between its `started` and `finished` events). `"cuda"` counts
/// both CUDA devices together.
#[derive(Default)]
struct Concurrency(std::sync::Mutex<Counts>);

#[derive(Default)]
struct Counts {
    running: std::collections::HashMap<&'static str, usize>,
    peak: std::collections::HashMap<&'static str, usize>,
}

impl Concurrency {
    fn peak(&self, device: &str) -> usize {
        self.0.lock().unwrap().peak.get(device).copied().unwrap_or(0)
    }
}

impl Reporter for Concurrency {
    fn event(&self, e: &Event) {
        let (stage, starts) = match e {
            Event::Started { stage, .. } => (*stage, true),
            Event::Finished { stage, .. } => (*stage, false),
            _ => return,
        };
        // The device of a stage of GPU_PIPE, from its name.
        let groups: &[&'static str] = match stage.as_bytes()[0] {
            b'a' => &["cuda:0", "cuda"],
            b'b' => &["cuda:1", "cuda"],
            _ => &["cpu"],
        };
        let mut c = self.0.lock().unwrap();
        for &g in groups {
            let r = c.running.entry(g).or_default();
            *r = if starts { *r + 1 } else { *r - 1 };
            let now = *r;
            let p = c.peak.entry(g).or_default();
            *p = (*p).max(now);
        }
    }
}

const GPU_PIPE: &str = r#"pipeline g {
    sweep i in 1..4 {
        stage a = t.gpu(i = i, device = "cuda:0")
        stage b = t.gpu(i = i, device = "cuda:1")
        stage c = t.gpu(i = i, device = "cpu")
    }
}"#;

#[test]
fn gpu_slots_limit_libtorch_stages_per_cuda_device() {
    let plan = plan_of(GPU_PIPE);
    for slots in [1, 2] {
        let (_dir, store) = temp_store();
        let seen = Concurrency::default();
        let opts = RunOptions {
            jobs: 12,
            gpu_slots: slots,
            // Two fake CUDA devices, whatever this machine has.
            cuda_devices: Some(2),
            ..RunOptions::default()
        };
        let s = run_reported(&plan, &store, &opts, &seen);
        assert!(s.ok() && s.executed.len() == 12, "{s:?}");
        assert_eq!(seen.peak("cuda:0"), slots, "cuda:0 with {slots} slot(s)");
        assert_eq!(seen.peak("cuda:1"), slots, "cuda:1 with {slots} slot(s)");
        // The two devices are used at the same time, and CPU stages take no slot.
        assert_eq!(seen.peak("cuda"), 2 * slots);
        assert!(seen.peak("cpu") > slots, "cpu: {}", seen.peak("cpu"));
    }
}
