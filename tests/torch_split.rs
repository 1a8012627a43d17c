//! The libtorch split (`src/stages/torch.rs`, the `torch/` crate): the engine crate does
//! not depend on libtorch at all (checked on `Cargo.lock`); the `sieve` binary never loads libtorch;
//! a run with a libtorch stage to execute continues in `sieve-torch`; cached runs, plans
//! and data-only runs never need it. `sieve-torch` applies its process settings (and
//! their opt-outs) itself, and the one that changes numerics enters the keys.

use crate::common::*;

/// The shared libraries the dynamic loader looks up when `bin --version` starts.
fn loaded_libraries(bin: &str) -> String {
    let out = std::process::Command::new(bin)
        .arg("--version")
        .env("LD_DEBUG", "libs")
        .output()
        .expect("run binary");
    assert!(out.status.success(), "{bin} --version failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The packages `root` depends on, directly or not, as `Cargo.lock` records them.
fn lock_closure(lock: &toml::Table, root: &str) -> std::collections::BTreeSet<String> {
    let packages = lock["package"].as_array().expect("Cargo.lock has packages");
    let deps_of = |name: &str| -> Vec<String> {
        packages
            .iter()
            .filter(|p| p["name"].as_str() == Some(name))
            .flat_map(|p| {
                p.get("dependencies")
                    .and_then(|d| d.as_array())
                    .cloned()
                    .unwrap_or_default()
            })
            // An entry is `name` or `name version` when several versions are locked.
            .filter_map(|d| d.as_str().and_then(|d| d.split(' ').next()).map(str::to_string))
            .collect()
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec![root.to_string()];
    while let Some(name) = todo.pop() {
        for d in deps_of(&name) {
            if seen.insert(d.clone()) {
                todo.push(d);
            }
        }
    }
    seen
}

/// The split is held by the crate graph, not by linker flags: nothing the engine crate
/// depends on, however indirectly, is tch or torch-sys, so no code path of `sieve` can
/// reach libtorch.
#[test]
fn the_engine_crate_does_not_depend_on_libtorch() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock: toml::Table = std::fs::read_to_string(root.join("Cargo.lock"))
        .expect("read Cargo.lock")
        .parse()
        .expect("parse Cargo.lock");
    let engine = lock_closure(&lock, "sieve");
    assert!(engine.len() > 50, "the closure looks wrong: {engine:?}");
    for torch in ["tch", "torch-sys", "sieve-torch"] {
        assert!(!engine.contains(torch), "the engine crate depends on `{torch}`");
    }
    let torch = lock_closure(&lock, "sieve-torch");
    assert!(torch.contains("tch") && torch.contains("sieve"), "{torch:?}");
}

#[test]
fn sieve_binary_does_not_load_libtorch() {
    let light = loaded_libraries(sieve_bin());
    assert!(
        light.contains("libc.so"),
        "LD_DEBUG gave no loader trace:\n{light}"
    );
    assert!(
        !light.contains("find library=libtorch"),
        "`sieve` loads libtorch:\n{light}"
    );
    assert!(
        !light.contains("find library=libc10"),
        "`sieve` loads libc10:\n{light}"
    );

    let torch = loaded_libraries(sieve_torch_bin().to_str().expect("UTF-8 path"));
    assert!(
        torch.contains("libtorch_cpu.so"),
        "`sieve-torch` does not load libtorch:\n{torch}"
    );
    // Where the libtorch we built against has CUDA, `sieve-torch` must load it too, or
    // libtorch never registers its CUDA backend (set by .cargo/config.toml).
    if let Some(dir) = option_env!("LIBTORCH")
        && std::path::Path::new(dir).join("lib/libtorch_cuda.so").exists()
    {
        assert!(
            torch.contains("libtorch_cuda.so"),
            "`sieve-torch` does not load libtorch_cuda:\n{torch}"
        );
    }
}

const PIPE: &str = r#"pipeline split {
  let nb = 20
  stage data  = synth.arith(n = 64, digits = 1, op = "add", seed = 1)
  stage other = synth.arith(n = nb, seed = 2)
  stage init  = model.init(arch = "tiny", tokenizer = "chars", seed = 1)
  stage tuned = sft(init, data, steps = 2, batch_size = 8, max_seq_len = 48)
}
"#;

#[test]
fn only_runs_with_libtorch_work_move_to_sieve_torch() {
    let p = Project::new();
    p.write("p.sieve", PIPE);
    let no_torch = |args: &[&str]| {
        let mut c = p.cmd(args);
        c.env("SIEVE_TORCH_BIN", p.path().join("missing/sieve-torch"));
        c.output().expect("run sieve")
    };

    // Training must execute, and the libtorch binary is missing: a clear error, exit 1.
    let out = no_torch(&["run", "p.sieve"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stage `init` (model.init, stale) needs libtorch")
            && err.contains("missing/sieve-torch"),
        "{err}"
    );

    // A "sieve-torch" that is really `sieve` hands off once, then stops (no exec loop).
    let out = p
        .cmd(&["run", "p.sieve"])
        .env("SIEVE_TORCH_BIN", sieve_bin())
        .output()
        .expect("run sieve");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not load it"), "{err}");

    // With `sieve-torch` beside `sieve`, the run trains.
    let out = p.run(&["run", "p.sieve", "--json"]);
    assert_ok(&out);
    let started = stages_with(&json_lines(&out), "started");
    assert_eq!(started, ["data", "init", "other", "tuned"]);

    // Cached: `sieve` alone answers plan and run.
    assert_ok(&no_torch(&["plan", "p.sieve"]));
    let out = no_torch(&["run", "p.sieve", "--json"]);
    assert_ok(&out);
    assert_eq!(stages_with(&json_lines(&out), "cached").len(), 4);

    // A change that reruns only data stages runs in `sieve` itself.
    let out = no_torch(&["run", "p.sieve", "--json", "--set", "nb=30"]);
    assert_ok(&out);
    assert_eq!(stages_with(&json_lines(&out), "started"), ["other"]);

    // A `sieve-torch` built from other sources than the `sieve` handing off refuses.
    let out = std::process::Command::new(sieve_torch_bin())
        .current_dir(p.path())
        .args(["run", "p.sieve"])
        .env("SIEVE_HANDED_TO_TORCH", "0000000000000000")
        .output()
        .expect("run sieve-torch");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("built from different sources"), "{err}");
}

#[test]
fn ctrl_c_reaches_a_run_handed_to_sieve_torch() {
    let p = Project::new();
    p.write(
        "train.sieve",
        "pipeline train {\n stage data = synth.arith(n = 256, digits = 1, op = \"add\", seed = 1)\n stage init = model.init(arch = \"tiny\", tokenizer = \"chars\", seed = 1)\n stage tuned = sft(init, data, steps = 100_000, batch_size = 8, max_seq_len = 48)\n}\n",
    );
    // `exec` keeps the process id, so the signal reaches `sieve-torch` once training runs.
    let (_, out) = interrupt_when(p.cmd(&["run", "train.sieve", "--json"]), |l| {
        l.contains("\"event\":\"progress\"") && l.contains("\"stage\":\"tuned\"")
    });
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert_ok(&p.run(&["cache", "verify", "--cache-dir", ".sieve"]));
    let plan = p.run(&["plan", "train.sieve"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("2 cached, 1 stale"), "{text}");
}

/// `sieve-torch` applies its process settings (MKL's vendor check answered, malloc
/// thresholds) at start-up and honours their opt-outs; `sieve bench` reports them.
#[test]
fn sieve_torch_applies_its_process_settings_unless_opted_out() {
    let p = Project::new();
    let bench = |env: &[(&str, &str)]| {
        let mut c = p.cmd(&[
            "bench", "model", "--shape", "nano", "--mode", "optim", "--device", "cpu", "--batch", "2",
            "--seq", "8", "--steps", "1", "--warmup", "0", "--json",
        ]);
        c.env_remove("SIEVE_MKL_VENDOR_CHECK")
            .env_remove("SIEVE_MALLOC_TUNING");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("run sieve bench");
        assert_ok(&out);
        let line = json_lines(&out).pop().expect("a JSON line");
        (line["mkl_vendor_override"].clone(), line["malloc_tuned"].clone())
    };
    assert_eq!(bench(&[]), (true.into(), true.into()));
    assert_eq!(
        bench(&[("SIEVE_MKL_VENDOR_CHECK", "1"), ("SIEVE_MALLOC_TUNING", "0")]),
        (false.into(), false.into())
    );
}

/// `SIEVE_MKL_VENDOR_CHECK=1` changes libtorch's CPU kernels and so the results: it
/// enters the keys of libtorch stages (only), and `plan` says so.
#[test]
fn mkl_vendor_check_enters_the_keys_of_cpu_libtorch_stages() {
    let p = Project::new();
    p.write(
        "m.sieve",
        "pipeline m {\n stage data = synth.arith(n = 8, digits = 1, op = \"add\", seed = 1)\n stage init = model.init(arch = \"nano\", tokenizer = \"chars\", seed = 1)\n stage tuned = sft(init, data, steps = 1, batch_size = 4, max_seq_len = 32)\n}\n",
    );
    let with_check = |args: &[&str], on: bool| {
        let mut c = p.cmd(args);
        c.env_remove("SIEVE_MKL_VENDOR_CHECK");
        if on {
            c.env("SIEVE_MKL_VENDOR_CHECK", "1");
        }
        c.output().expect("run sieve")
    };
    assert_ok(&with_check(&["run", "m.sieve"], false));
    let plan = with_check(&["plan", "m.sieve", "--json"], true);
    assert_ok(&plan);
    let lines = json_lines(&plan);
    let status = |s: &str| {
        lines
            .iter()
            .find(|l| l["stage"] == s)
            .cloned()
            .unwrap_or_default()
    };
    // `model.init` draws its weights without matrix products: not device-sensitive.
    assert_eq!(status("data")["status"], "cached");
    assert_eq!(status("init")["status"], "cached");
    assert_eq!(status("tuned")["status"], "stale");
    if sieve::device::cpu_numerics() == sieve::device::CPU_NUMERICS_PORTABLE {
        assert_eq!(
            status("tuned")["reason"],
            format!(
                "cpu_numerics changed {} → native-{}",
                sieve::device::CPU_NUMERICS_PORTABLE,
                std::env::consts::ARCH
            )
        );
    }
    // Without the variable, the earlier result is current again.
    let plan = with_check(&["plan", "m.sieve", "--json"], false);
    assert!(json_lines(&plan).iter().all(|l| l["status"] == "cached"));
}
