//! Unit tests of freshness and the scheduler on test-only stage kinds.

use super::*;
use crate::cache::Store;
use crate::diag::SourceMap;
use crate::plan::Plan;
use std::collections::HashSet;
use std::sync::atomic::AtomicBool;

fn plan_of(text: &str) -> Plan {
    let mut sm = SourceMap::new();
    let f = sm.add("t.sieve", None, text);
    let file = crate::dsl::parser::parse_file(text, f).expect("parse");
    let ir = crate::ir::lower(&file, &[]).unwrap_or_else(|d| panic!("{}", d.render(&sm)));
    Plan::build(&ir)
}

fn run_plan(plan: &Plan, store: &Store, opts: &RunOptions) -> RunSummary {
    run(plan, store, opts, &NullReporter, &AtomicBool::new(false))
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
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let plan = plan_of(PIPE);
    let s1 = run_plan(&plan, &store, &RunOptions::default());
    assert!(s1.ok(), "{s1:?}");
    assert_eq!(s1.executed.len(), plan.len());
    let s2 = run_plan(&plan, &store, &RunOptions::default());
    assert_eq!((s2.executed.len(), s2.cached.len()), (0, plan.len()));
    assert!(
        assess(&plan, &store, &HashSet::new())
            .iter()
            .all(|s| s.status.name() == "cached")
    );
}

#[test]
fn changed_parameter_reruns_only_downstream_and_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    run_plan(&plan_of(PIPE), &store, &RunOptions::default());
    let changed = plan_of(&PIPE.replace("[1e-3, 1e-4]", "[1e-3, 3e-4]"));
    let st = assess(&changed, &store, &HashSet::new());
    let by = |name: &str| st.iter().find(|s| s.instance == name).unwrap().status.clone();
    assert_eq!(by("tr[lr=1e-3]").name(), "cached");
    match by("tr[lr=3e-4]") {
        Status::Stale { reasons, .. } => assert_eq!(reasons, vec!["never run"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(by("all").name(), "blocked");
    let s = run_plan(&changed, &store, &RunOptions::default());
    let mut ran = s.executed.clone();
    ran.sort();
    assert_eq!(ran, vec!["all", "ev[lr=3e-4]", "tr[lr=3e-4]"]);
}

#[test]
fn explains_a_changed_parameter_of_the_same_instance() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    run_plan(&plan_of(PIPE), &store, &RunOptions::default());
    let changed = plan_of(&PIPE.replace("seed = 1", "seed = 2"));
    let st = assess(&changed, &store, &HashSet::new());
    let m = st.iter().find(|s| s.instance == "m").unwrap();
    assert_eq!(m.status.reason(), "parameter seed changed 1 → 2");
}

#[test]
fn identical_upstream_output_keeps_downstream_cached() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    run_plan(&plan_of(PIPE), &store, &RunOptions::default());
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
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
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
        .key();
    let log = std::fs::read_to_string(dir.path().join("failed").join(&key).join("log.txt")).unwrap();
    assert!(log.contains("failing on purpose"), "{log}");
}

#[test]
fn panics_become_stage_failures() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
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
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let seen = Concurrency::default();
        let opts = RunOptions {
            jobs: 12,
            gpu_slots: slots,
            // Two fake CUDA devices, whatever this machine has.
            cuda_devices: Some(2),
            ..RunOptions::default()
        };
        let s = run(&plan, &store, &opts, &seen, &AtomicBool::new(false));
        assert!(s.ok() && s.executed.len() == 12, "{s:?}");
        assert_eq!(seen.peak("cuda:0"), slots, "cuda:0 with {slots} slot(s)");
        assert_eq!(seen.peak("cuda:1"), slots, "cuda:1 with {slots} slot(s)");
        // The two devices are used at the same time, and CPU stages take no slot.
        assert_eq!(seen.peak("cuda"), 2 * slots);
        assert!(seen.peak("cpu") > slots, "cpu: {}", seen.peak("cpu"));
    }
}
