//! Build script of the engine crate (no libtorch here; `torch/build.rs` links it).
//!
//! - `SIEVE_SOURCE_STAMP`: a fingerprint of the sources both binaries are built from
//!   (this crate's `src/`, the `sieve-torch` crate's `torch/src/`, the manifests and the
//!   lock file). It is compiled into the engine's command line, which both binaries
//!   share, and `sieve` hands runs to `sieve-torch` only when the two stamps match:
//!   `cargo build -p sieve` after an edit would otherwise hand training to a stale
//!   `sieve-torch` without a word.
//! - `cfg(sieve_skip_python)` when `SIEVE_PYTHON` (the Python of the torch virtual
//!   environment, set by `.cargo/config.toml`) is unset — except under CI (`CI=true`),
//!   where a missing Python must fail the tests that need it, not skip them (see
//!   `src/testenv.rs`);
//! - `cfg(sieve_skip_faults)` when the fault campaign's tools (GNU time at
//!   `/usr/bin/time`, `mkfifo`) are missing — again except under CI.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for watched in ["src", "torch/src", "Cargo.toml", "torch/Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    println!("cargo:rustc-env=SIEVE_SOURCE_STAMP={:016x}", source_stamp());

    println!("cargo:rustc-check-cfg=cfg(sieve_skip_python)");
    println!("cargo:rerun-if-env-changed=SIEVE_PYTHON");
    println!("cargo:rerun-if-env-changed=CI");
    let python = env::var_os("SIEVE_PYTHON").is_some_and(|p| !p.is_empty());
    let ci = env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if !python && !ci {
        println!("cargo:rustc-cfg=sieve_skip_python");
    }
    println!("cargo:rustc-check-cfg=cfg(sieve_skip_faults)");
    let exists = |p: &str| std::path::Path::new(p).exists();
    let fault_tools = exists("/usr/bin/time") && (exists("/usr/bin/mkfifo") || exists("/bin/mkfifo"));
    if !fault_tools && !ci {
        println!("cargo:rustc-cfg=sieve_skip_faults");
    }
}

fn source_stamp() -> u64 {
    use std::hash::{Hash, Hasher};
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
    }
    let mut files: Vec<PathBuf> = ["Cargo.toml", "torch/Cargo.toml", "Cargo.lock"]
        .iter()
        .map(PathBuf::from)
        .collect();
    walk(Path::new("src"), &mut files);
    walk(Path::new("torch/src"), &mut files);
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        f.hash(&mut h);
        std::fs::read(&f).unwrap_or_default().hash(&mut h);
    }
    h.finish()
}
