//! The `sieve-torch` binary itself. Besides checking it, this test target is why
//! `cargo test` / `cargo nextest run` build the binary: cargo builds a package's
//! binaries only for its integration tests, and the engine's tests (`tests/` at the
//! repository root) run `sieve` runs that hand off to this binary.

use std::process::Command;

fn sieve_torch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sieve-torch"))
}

#[test]
fn it_is_the_sieve_command_line() {
    let out = sieve_torch().arg("--version").output().expect("run sieve-torch");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("sieve "), "{text}");
}

#[test]
fn bench_arguments_are_parsed_here() {
    // `sieve bench …` passes its arguments through; `sieve-torch` owns their grammar.
    let out = sieve_torch()
        .args(["bench", "model", "--help"])
        .output()
        .expect("run sieve-torch");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--shape"));
    let out = sieve_torch()
        .args(["bench", "model", "--no-such-flag"])
        .output()
        .expect("run sieve-torch");
    assert_eq!(out.status.code(), Some(2));
}
