//! Helpers for CLI tests: a scratch folder with pipeline files, running the `sieve`
//! binary, and parsing its `--json` output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of the built `sieve` binary.
pub fn sieve_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sieve")
}

/// The `sieve-torch` binary beside `sieve` (built by the same `cargo test` / `cargo
/// nextest run`, which build every package of the workspace).
pub fn sieve_torch_bin() -> PathBuf {
    let bin = Path::new(sieve_bin()).with_file_name("sieve-torch");
    assert!(
        bin.is_file(),
        "{} is missing: run the tests of the whole workspace (`cargo nextest run` or \
         `cargo test` at the repository root builds both binaries)",
        bin.display()
    );
    bin
}

/// A model folder made by `model.init` (in a scratch store), for stages that load one.
pub fn write_model(dir: &Path, arch: &str, seed: i64) {
    let p = Project::new();
    p.write(
        "m.sieve",
        &format!("pipeline m {{ stage m = model.init(arch = \"{arch}\", seed = {seed}) }}\n"),
    );
    let out = p.run(&["run", "m.sieve"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan = p.run(&["plan", "m.sieve", "--json"]);
    let key = json_lines(&plan)[0]["key"].as_str().expect("key").to_string();
    let entry = p.path().join(".sieve/entries").join(key).join("out");
    std::fs::create_dir_all(dir).expect("mkdir");
    for f in std::fs::read_dir(&entry).expect("entry") {
        let f = f.expect("file");
        std::fs::copy(f.path(), dir.join(f.file_name())).expect("copy");
    }
}

/// A scratch project folder (removed on drop).
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        Project {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file relative to the project and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    /// A `sieve` command running in the project folder with the store inside it.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(sieve_bin());
        c.current_dir(self.path()).args(args).env_remove("SIEVE_CACHE");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run sieve")
    }
}

/// The JSON objects printed one per line on stdout.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// Stage names of the run events of one type (`started`, `cached`, …), sorted.
pub fn stages_with(events: &[serde_json::Value], event: &str) -> Vec<String> {
    let mut v: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == event)
        .filter_map(|e| e["stage"].as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

/// Asserts success, showing stderr otherwise.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "sieve failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd` (a `sieve … --json` command), sends it SIGINT once a stdout line satisfies
/// `when` (not on a fixed timer: a busy machine may still be starting the process), and
/// returns the stdout lines after that one with the process's output (stderr, status).
pub fn interrupt_when(cmd: Command, when: impl Fn(&str) -> bool) -> (Vec<String>, Output) {
    signal_when(cmd, "INT", when)
}

/// [`interrupt_when`] with SIGKILL: the process gets no chance to clean up.
pub fn kill_9_when(cmd: Command, when: impl Fn(&str) -> bool) -> (Vec<String>, Output) {
    signal_when(cmd, "KILL", when)
}

/// Runs `cmd` and sends it `signal` (a name for `kill -s`) once a stdout line satisfies
/// `when`; see [`interrupt_when`].
fn signal_when(mut cmd: Command, signal: &str, when: impl Fn(&str) -> bool) -> (Vec<String>, Output) {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sieve");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().expect("stdout")));
    for line in lines.by_ref() {
        if when(&line.expect("read stdout")) {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    (rest, child.wait_with_output().expect("wait for sieve"))
}
