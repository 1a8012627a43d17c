//! Confinement from the command line: a pipeline's stages read and write only inside its
//! project folder, the store and the folders `--allow-path` / `sieve.toml` allow; every
//! refusal is an invalid pipeline (exit 2, at the parameter's file:line:col) before
//! anything is read, hashed or run.
//!
//! Layout of each test: the scratch folder holds `proj/` (the project: pipeline files
//! beside it) and, outside it, `outside/` with a dataset.

use crate::common::*;
use std::path::PathBuf;

const ROWS: &str = "{\"question\": \"1+1\", \"answer\": \"2\"}\n{\"question\": \"2+2\", \"answer\": \"4\"}\n";

/// A scratch folder with `proj/in.jsonl` and `outside/data.jsonl`.
fn layout() -> Project {
    let p = Project::new();
    p.write("proj/in.jsonl", ROWS);
    p.write("outside/data.jsonl", ROWS);
    p
}

fn path(p: &Project, rel: &str) -> PathBuf {
    p.path().join(rel)
}

/// Writes `proj/p.sieve` with these stages and returns its path as an argument.
fn pipeline(p: &Project, stages: &str) -> &'static str {
    p.write("proj/p.sieve", &format!("pipeline p {{\n{stages}}}\n"));
    "proj/p.sieve"
}

/// Asserts exit 2 with every `needle` in stderr, and that no store was even opened.
fn refused(p: &Project, args: &[&str], needles: &[&str]) -> String {
    let out = p.run(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?} should be refused:\n{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: missing {n:?} in:\n{err}");
    }
    assert!(!path(p, "proj/.sieve").exists(), "nothing may run or be stored");
    err
}

#[test]
fn loading_an_absolute_path_is_refused_at_the_parameter() {
    let p = layout();
    let file = pipeline(&p, "  stage d = load(path = \"/etc/passwd\")\n");
    for cmd in ["check", "plan", "run"] {
        refused(
            &p,
            &[cmd, file],
            &[
                "proj/p.sieve:2:25",
                "reading /etc/passwd is refused: it is outside the project folder",
                "--allow-path /etc",
            ],
        );
    }
}

#[test]
fn loading_through_dotdot_or_a_link_that_leads_outside_is_refused() {
    let p = layout();
    std::os::unix::fs::symlink(path(&p, "outside/data.jsonl"), path(&p, "proj/link.jsonl")).unwrap();
    // A link inside the project that stays inside is fine.
    std::os::unix::fs::symlink("in.jsonl", path(&p, "proj/inner.jsonl")).unwrap();
    let file = pipeline(
        &p,
        "  stage a = load(path = \"../outside/data.jsonl\")\n  stage b = load(path = \"link.jsonl\")\n  stage c = load(path = \"inner.jsonl\")\n",
    );
    let err = refused(
        &p,
        &["plan", file],
        &[
            "proj/p.sieve:2:25",
            "proj/p.sieve:3:25",
            "which leads to",
            "the pipeline has 2 errors",
        ],
    );
    assert!(!err.contains("stage `c`"), "{err}");
    // A folder whose files link outside (a tokenizer folder, say) is refused too.
    std::fs::create_dir_all(path(&p, "proj/tok")).unwrap();
    std::os::unix::fs::symlink(
        path(&p, "outside/data.jsonl"),
        path(&p, "proj/tok/tokenizer.json"),
    )
    .unwrap();
    let file = pipeline(
        &p,
        "  stage m = model.init(arch = \"nano\", tokenizer = \"tok\")\n",
    );
    refused(
        &p,
        &["check", file],
        &["proj/p.sieve:2:", "tokenizer.json inside it is a link to"],
    );
}

#[test]
fn export_cannot_leave_the_project_nor_replace_pipelines_locks_or_the_store() {
    let p = layout();
    let good = pipeline(
        &p,
        "  stage d = load(path = \"in.jsonl\")\n  stage e = export(d, path = \"out/d.jsonl\")\n",
    );
    assert_ok(&p.run(&["run", good]));
    assert_eq!(
        std::fs::read_to_string(path(&p, "proj/out/d.jsonl"))
            .unwrap()
            .lines()
            .count(),
        2
    );
    let lock_before = std::fs::read_to_string(path(&p, "proj/p.lock")).unwrap();
    std::fs::remove_dir_all(path(&p, "proj/.sieve")).unwrap();

    let outside = path(&p, "outside/x.jsonl").display().to_string();
    for (target, says) in [
        (outside.as_str(), "is outside the project folder"),
        ("../../x.jsonl", "is outside the project folder"),
        ("p.sieve", "it is a pipeline file, which stages never write"),
        ("other.yaml", "it is a pipeline file"),
        ("p.lock", "it is a lock file, which stages never write"),
        (".sieve/entries/x.jsonl", "it is inside the store"),
    ] {
        let stages = format!(
            "  stage d = load(path = \"in.jsonl\")\n  stage e = export(d, path = \"{target}\", overwrite = true)\n"
        );
        let file = pipeline(&p, &stages);
        let text = std::fs::read_to_string(path(&p, file)).unwrap();
        refused(&p, &["run", file], &["proj/p.sieve:3:", says]);
        assert_eq!(std::fs::read_to_string(path(&p, file)).unwrap(), text);
    }
    assert_eq!(
        std::fs::read_to_string(path(&p, "proj/p.lock")).unwrap(),
        lock_before
    );
    assert!(!path(&p, "outside/x.jsonl").exists() && !path(&p, "x.jsonl").exists());
    // `--set` overrides are checked like the file, at the override.
    let out = p.run(&["check", good, "--set", "e.path=\"/tmp/x.jsonl\""]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("┌─ --set:1:8") && err.contains("e.path=\"/tmp/x.jsonl\""),
        "{err}"
    );
}

#[test]
fn allow_path_opens_a_folder_for_reading_and_writing() {
    let p = layout();
    let file = pipeline(
        &p,
        "  stage d = load(path = \"../outside/data.jsonl\")\n  stage e = export(d, path = \"../outside/copy.jsonl\")\n",
    );
    refused(&p, &["check", file], &["--allow-path"]);
    let out = p.run(&["run", file, "--allow-path", "outside"]);
    assert_ok(&out);
    assert_eq!(
        std::fs::read_to_string(path(&p, "outside/copy.jsonl"))
            .unwrap()
            .lines()
            .count(),
        2
    );
    // Allowing changes no key: the plan is fully cached with the folder allowed.
    let out = p.run(&[
        "plan",
        file,
        "--allow-path",
        path(&p, "outside").to_str().unwrap(),
    ]);
    assert_ok(&out);
    assert!(stdout(&out).contains("2 cached, 0 stale"), "{}", stdout(&out));
    // Only that folder; and a folder that does not exist is a command-line error.
    let out = p.run(&["check", file, "--allow-path", "outside/nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--allow-path outside/nope: no such folder"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sieve_toml_allows_folders_and_is_parsed_strictly() {
    let p = layout();
    let file = pipeline(&p, "  stage d = load(path = \"../outside/data.jsonl\")\n");
    p.write(
        "proj/sieve.toml",
        "# shared data\nallow_paths = [\"../outside\"]\n",
    );
    let out = p.run(&["run", file]);
    assert_ok(&out);
    // The widening is always announced.
    let outside = std::fs::canonicalize(path(&p, "outside")).unwrap();
    assert!(
        stderr(&out).contains(&format!(
            "note: sieve.toml lets stages also read and write {}",
            outside.display()
        )),
        "{}",
        stderr(&out)
    );
    // Unknown keys and wrong types are errors at their place.
    p.write(
        "proj/sieve.toml",
        "allow_paths = [\"../outside\"]\n[cache]\nurl = \"s3://x\"\n",
    );
    let out = p.run(&["plan", file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("proj/sieve.toml:2:"), "{}", stderr(&out));
    assert!(stderr(&out).contains("unknown field `cache`"), "{}", stderr(&out));
    p.write("proj/sieve.toml", "allow_paths = \"../outside\"\n");
    let out = p.run(&["check", file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("proj/sieve.toml:1:15"), "{}", stderr(&out));
    // A missing allowed folder is a warning, not an error.
    p.write(
        "proj/sieve.toml",
        "allow_paths = [\"../outside\", \"/no/such/folder\"]\n",
    );
    let out = p.run(&["check", file]);
    assert_ok(&out);
    assert!(stderr(&out).contains("warning: sieve.toml: allowed folder /no/such/folder does not exist"));
}

#[test]
fn imports_from_outside_the_project_are_refused() {
    let p = layout();
    p.write("outside/lib.sieve", "let seed = 3\n");
    p.write("proj/lib/ok.sieve", "let n = 4\n");
    let file = pipeline(
        &p,
        "  import \"lib/ok.sieve\"\n  import \"../outside/lib.sieve\"\n  stage a = synth.arith(n = n)\n",
    );
    refused(
        &p,
        &["check", file],
        &[
            "proj/p.sieve:3:3",
            "import `../outside/lib.sieve`",
            "is outside the project folder",
        ],
    );
    assert_ok(&p.run(&["check", file, "--allow-path", "outside"]));
}

/// Every `.rs` file under `src/`, as (path relative to the crate, text).
fn sources() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut todo = vec![root.join("src")];
    let mut out = Vec::new();
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The promise of docs/security.md, checked on the source: sieve starts no program but
/// the ones listed here, loads no pickle (weights are safetensors) and links no network
/// code.
#[test]
fn sieve_runs_no_shell_loads_no_pickle_and_links_no_network_code() {
    // The only places that start a process, and why.
    let allowed_commands = [
        (
            "src/cli/commands.rs",
            "the hand-off of a run to `sieve-torch`, same arguments",
        ),
        (
            "src/bench/memory.rs",
            "`nvidia-smi`, in the hidden `sieve bench` command",
        ),
        ("src/data/interop.rs", "pyarrow, in a #[cfg(test)] module"),
        (
            "src/model/parity_tests.rs",
            "transformers, in a #[cfg(test)] module",
        ),
    ];
    let all = sources();
    assert!(all.len() > 50, "{} source files", all.len());
    for (file, text) in &all {
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let at = format!("{file}:{}", n + 1);
            if code.contains("Command::new") {
                assert!(
                    allowed_commands.iter().any(|(f, _)| f == file),
                    "{at} starts a process: {line}"
                );
            }
            for banned in [
                "libc::system",
                "libc::exec",
                "libc::popen",
                "pickle",
                "Tensor::load",
                "load_multi",
                "CModule",
                "VarStore::load",
                "std::net",
                "TcpStream",
                "UdpSocket",
            ] {
                assert!(!code.contains(banned), "{at} uses `{banned}`: {line}");
            }
        }
    }
    let lock =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock")).unwrap();
    let crates: Vec<&str> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|l| l.trim_end_matches('"'))
        .collect();
    assert!(crates.contains(&"tch"), "Cargo.lock not read");
    for net in [
        "reqwest",
        "hyper",
        "ureq",
        "curl",
        "isahc",
        "attohttpc",
        "tokio",
        "async-std",
        "mio",
        "socket2",
        "h2",
        "rustls",
        "native-tls",
        "openssl",
        "hf-hub",
    ] {
        assert!(
            !crates.contains(&net),
            "Cargo.lock links the network crate `{net}`"
        );
    }
}
