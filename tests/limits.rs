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
