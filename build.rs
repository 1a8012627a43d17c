//! Build script: makes every binary this crate links (the `sieve` and `sieve-torch`
//! CLIs, the test and example binaries) find libtorch with no `LD_LIBRARY_PATH`, and
//! lets the libtorch runtime really link CUDA.
//!
//! torch-sys (`links = "tch"`) prints `cargo:libtorch_lib=<dir>`, which cargo hands to
//! us as `DEP_TCH_LIBTORCH_LIB` because we depend on torch-sys directly. We emit:
//!
//! - an rpath (`DT_RUNPATH`, via `--enable-new-dtags`) to that directory, so binaries
//!   find `libtorch*.so` where they were built; being a RUNPATH, an explicit
//!   `LD_LIBRARY_PATH` still wins, which is how a binary carried to a GPU machine is
//!   pointed at that machine's libtorch (see `GPU.md`). A RUNPATH loads nothing by
//!   itself, so the `sieve` binary, which has no libtorch `DT_NEEDED`, is unaffected;
//! - `--exclude-libs ALL` for the `sieve` binary only, so it has no libtorch `DT_NEEDED`
//!   (why: `src/stages/torch.rs` and the comment below);
//! - `cfg(sieve_libtorch_cuda)` and a link search path when the directory has
//!   `libtorch_cuda.so`: `src/torch_runtime.rs` then references one of its symbols,
//!   so every binary that installs the libtorch runtime (`sieve-torch`, tests) records
//!   `libtorch_cuda.so` as needed and libtorch registers its CUDA backend. (An explicit
//!   `-Wl,--no-as-needed -ltorch_cuda` would do the same but cannot be limited to those
//!   binaries: cargo has no link-argument target for the library's unit tests.)
//!   On a CPU-only machine it loads and simply sees no device;
//! - the C++ shim `src/train/fused_adamw.cpp` (libtorch's fused AdamW, which tch does not
//!   wrap), compiled with the `cc` crate against the headers beside that directory
//!   (`<libtorch>/include`, or `$LIBTORCH_INCLUDE/include` as torch-sys reads it) with
//!   the C++ ABI torch-sys uses (`LIBTORCH_CXX11_ABI`, default 1). It is a static
//!   library that only the libtorch side of the crate references, so the `sieve` binary
//!   does not contain it.
//!
//! It also decides which tests cannot run on this machine, so they are reported as
//! skipped (`#[ignore]`) instead of passing without checking anything (see
//! `src/testenv.rs`):
//! - `cfg(sieve_cuda_device)` when the NVIDIA driver shows a device (`/dev/nvidiaN`)
//!   as this script runs (it reruns whenever a file under `src/` changes): the CUDA tests
//!   run only then;
//! - `cfg(sieve_skip_python)` when `SIEVE_PYTHON` (the Python of the torch virtual
//!   environment, set by `.cargo/config.toml`) is unset — except under CI (`CI=true`),
//!   where a missing Python must fail the tests that need it, not skip them;
//! - `cfg(sieve_skip_faults)` when the fault campaign's tools (GNU time at
//!   `/usr/bin/time`, `mkfifo`) are missing — again except under CI.
//!
//! Invariant: only `cargo:rustc-link-arg` is used for the rpath, which applies to bins,
//! tests, examples and benches (not to the rlib, not to doctests).

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-check-cfg=cfg(sieve_libtorch_cuda)");
    test_requirements();
    // A fingerprint of the sources both binaries are built from: `sieve` hands runs to
    // `sieve-torch` only when the two match (`cargo run` rebuilds `sieve` alone and would
    // otherwise hand training to a stale `sieve-torch` without a word).
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rustc-env=SIEVE_SOURCE_STAMP={:016x}", source_stamp());
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");

    let Some(dir) = env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from) else {
        panic!(
            "torch-sys did not report libtorch's directory (DEP_TCH_LIBTORCH_LIB): cannot find \
             the headers to compile src/train/fused_adamw.cpp against"
        );
    };
    compile_fused_adamw(&dir);
    let Some(dir_str) = dir.to_str() else {
        println!(
            "cargo:warning=libtorch directory {} is not UTF-8; no rpath emitted",
            dir.display()
        );
        return;
    };
    if dir_str.contains(',') {
        // `-Wl,` splits its argument on commas, so such a path cannot be passed through.
        println!("cargo:warning=libtorch directory {dir_str} contains a comma; no rpath emitted");
        return;
    }

    // The `sieve` binary exports nothing: otherwise lld exports (for interposition) the
    // C++ inline functions of torch-sys's wrapper objects that libtorch_cpu.so also
    // uses, which keeps those objects live and libtorch_cpu.so needed (see
    // `src/stages/torch.rs`).
    println!("cargo:rustc-link-arg-bin=sieve=-Wl,--exclude-libs,ALL");
    println!("cargo:rustc-link-arg=-Wl,--enable-new-dtags");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{dir_str}");

    if dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-search=native={dir_str}");
        println!("cargo:rustc-cfg=sieve_libtorch_cuda");
    }
}

/// The cfgs that mark tests whose requirements this machine lacks (module docs).
fn test_requirements() {
    println!("cargo:rustc-check-cfg=cfg(sieve_cuda_device)");
    println!("cargo:rustc-check-cfg=cfg(sieve_skip_python)");
    // No rerun trigger of its own: /dev changes all the time (terminals, shared memory),
    // and a missing path makes cargo rerun on every build. The answer is refreshed
    // whenever anything under src/ changes; a stale one can only skip the CUDA tests.
    let cuda_device = std::fs::read_dir("/dev").is_ok_and(|dir| {
        dir.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix("nvidia")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
    });
    // `CUDA_VISIBLE_DEVICES=""` (or -1) hides every device from CUDA.
    println!("cargo:rerun-if-env-changed=CUDA_VISIBLE_DEVICES");
    let hidden = env::var("CUDA_VISIBLE_DEVICES").is_ok_and(|v| matches!(v.trim(), "" | "-1"));
    if cuda_device && !hidden {
        println!("cargo:rustc-cfg=sieve_cuda_device");
    }
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

/// Compiles the fused AdamW shim against the headers of the libtorch in `lib_dir`.
fn compile_fused_adamw(lib_dir: &std::path::Path) {
    println!("cargo:rerun-if-env-changed=LIBTORCH_INCLUDE");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let root = env::var_os("LIBTORCH_INCLUDE")
        .map(PathBuf::from)
        .or_else(|| lib_dir.parent().map(PathBuf::from))
        .expect("libtorch's lib directory has a parent");
    let include = root.join("include");
    assert!(
        include.join("ATen/ops/_fused_adamw.h").exists(),
        "libtorch headers not found in {} (set LIBTORCH_INCLUDE to the folder that holds include/)",
        include.display()
    );
    let abi = env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .std("c++17")
        .include(&include)
        .define("_GLIBCXX_USE_CXX11_ABI", abi.as_str())
        .warnings(false)
        .file("src/train/fused_adamw.cpp")
        .compile("sieve_fused_adamw");
}

/// Hash of every file under `src/` (path and bytes, sorted by path) plus the manifest and
/// lock file. `DefaultHasher::new()` has fixed keys, so the value is stable across builds.
fn source_stamp() -> u64 {
    use std::hash::{Hash, Hasher};
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
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
    let mut files = vec![PathBuf::from("Cargo.toml"), PathBuf::from("Cargo.lock")];
    walk(std::path::Path::new("src"), &mut files);
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        f.hash(&mut h);
        std::fs::read(&f).unwrap_or_default().hash(&mut h);
    }
    h.finish()
}
