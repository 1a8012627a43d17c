//! The front end's limits from the command line: pathological pipelines (huge sweeps,
//! lists, strings and lines, files that are not regular files) are refused with a
//! diagnostic and exit 2 instead of exhausting memory or hanging, and a reader that closes
//! sieve's output early ends it quietly.

use crate::common::*;
use std::process::Stdio;

/// Runs `args` with stdout connected to a pipe whose reading end is already closed, so
/// the first write fails, and returns the finished process's status and stderr.
fn with_closed_stdout(p: &Project, args: &[&str]) -> (std::process::ExitStatus, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = p
        .cmd(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run sieve");
    (out.status, stderr(&out))
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let p = Project::new();
    p.write(
        "p.sieve",
        "pipeline p {\n  stage a = synth.arith(n = 10)\n  stage b = synth.arith(n = 20)\n}\n",
    );
    let commands: [&[&str]; 5] = [
        &["stages"],
        &["plan", "p.sieve", "--json"],
        &["plan", "p.sieve"],
        &["graph", "p.sieve"],
        &["cache", "ls", "--cache-dir", "."],
    ];
    for args in commands {
        let (status, err) = with_closed_stdout(&p, args);
        // The Unix convention: killed by SIGPIPE at the first write, nothing printed.
        assert_eq!(
            status.signal(),
            Some(libc::SIGPIPE),
            "sieve {args:?}: {status:?}\n{err}"
        );
        assert!(!err.contains("panicked"), "sieve {args:?}:\n{err}");
    }
}

/// Runs `args` and fails the test (instead of hanging) when sieve takes more than a
/// minute: what these tests check would otherwise show up as a hang.
fn run_bounded(p: &Project, args: &[&str]) -> std::process::Output {
    let mut child = p
        .cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sieve");
    let start = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("sieve {args:?} did not finish within a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn huge_sweeps_are_refused_and_the_limit_can_be_raised() {
    let p = Project::new();
    p.write(
        "huge.sieve",
        "pipeline huge {\n  sweep x in 1..1_000_000_000 {\n    stage s = synth.arith(n = 10, seed = x)\n  }\n}\n",
    );
    let out = run_bounded(&p, &["plan", "huge.sieve"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("this sweep expands to 1000000000 cells") && err.contains("huge.sieve:2:9"),
        "{err}"
    );
    assert!(err.contains("--max-instances"), "{err}");
    p.write(
        "five.sieve",
        "pipeline five {\n  sweep x in 1..5 {\n    stage s = synth.arith(n = 10, seed = x)\n  }\n}\n",
    );
    let out = p.run(&["check", "five.sieve", "--max-instances", "4"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("over the limit of 4 stage instances"),
        "{}",
        stderr(&out)
    );
    assert_ok(&p.run(&["check", "five.sieve", "--max-instances", "5"]));
    assert_ok(&p.run(&["graph", "five.sieve", "--max-instances", "5"]));
}

#[test]
fn a_ten_megabyte_line_is_refused_with_a_short_diagnostic() {
    let p = Project::new();
    let text = format!(
        "pipeline long {{ let s = \"{}\" stage a = synth.arith(n = 10) }}\n",
        "x".repeat(10_000_000)
    );
    p.write("long.sieve", &text);
    let out = run_bounded(&p, &["check", "long.sieve"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("this string is 10000000 bytes long") && err.contains("long.sieve:1:25"),
        "{}",
        &err[..err.len().min(2000)]
    );
    // The line is shown as a window around the string's ends, not whole.
    assert!(err.len() < 4_000, "{} bytes of diagnostics", err.len());
    assert!(err.contains("xxx…xxx"), "{err}");
    // A file over the size bound is not read at all.
    let big = std::fs::File::create(p.path().join("big.sieve")).expect("create");
    big.set_len(17 << 20).expect("set_len");
    let out = run_bounded(&p, &["check", "big.sieve"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("pipeline files are at most 16 MiB"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_named_pipe_is_refused_not_waited_on() {
    let p = Project::new();
    let fifo = p.path().join("pipe.sieve");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file system node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let out = run_bounded(&p, &["check", "pipe.sieve"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`pipe.sieve` is a named pipe (FIFO), not a pipeline file"),
        "{}",
        stderr(&out)
    );
    p.write("main.sieve", "import \"pipe.sieve\"\npipeline main { }\n");
    let out = run_bounded(&p, &["check", "main.sieve"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("is a named pipe") && err.contains("main.sieve:1:1"),
        "{err}"
    );
    // A stage input that is a named pipe is refused at its parameter, by plan and run.
    p.write(
        "in.sieve",
        "pipeline i {\n  stage d = load(path = \"pipe.sieve\")\n}\n",
    );
    for cmd in ["plan", "run"] {
        let out = run_bounded(&p, &[cmd, "in.sieve"]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = stderr(&out);
        assert!(
            err.contains("in.sieve:2:") && err.contains("a named pipe, not a regular file"),
            "{err}"
        );
    }
}

#[test]
fn set_errors_point_at_the_argument() {
    let p = Project::new();
    p.write(
        "p.sieve",
        "pipeline p {\n  let n = 10\n  stage a = synth.arith(n = n)\n  stage b = synth.arith(n = 20)\n}\n",
    );
    // A syntax error in the value, and a value the kind refuses.
    let out = p.run(&["check", "p.sieve", "--set", "a.n=1 +"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("┌─ --set:1:8\n  │\n1 │ a.n=1 +\n  │        ^ input ends here"),
        "{err}"
    );
    let out = p.run(&["check", "p.sieve", "--set", "b.n=-1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("┌─ --set:1:5\n  │\n1 │ b.n=-1\n  │     ^^ invalid `n`"),
        "{err}"
    );
    let out = p.run(&["check", "p.sieve", "--set", "n=\"ten\""]);
    let err = stderr(&out);
    assert!(
        err.contains("--set `n`: expected int ≥ 1, found string `\"ten\"`")
            && err.contains("1 │ n=\"ten\"\n  │   ^^^^^ wrong type"),
        "{err}"
    );
}
