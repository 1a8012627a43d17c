//! Build script of the `sieve-torch` crate: makes every binary it links (the
//! `sieve-torch` CLI, the test binaries) find libtorch with no `LD_LIBRARY_PATH`, and lets
//! the libtorch runtime really link CUDA.
//!
//! torch-sys (`links = "tch"`) prints `cargo:libtorch_lib=<dir>`, which cargo hands to
//! us as `DEP_TCH_LIBTORCH_LIB` because we depend on torch-sys directly. We emit:
//!
//! - an rpath (`DT_RUNPATH`, via `--enable-new-dtags`) to that directory, so binaries
//!   find `libtorch*.so` where they were built; being a RUNPATH, an explicit
//!   `LD_LIBRARY_PATH` still wins, which is how a binary carried to a GPU machine is
//!   pointed at that machine's libtorch (see `docs/gpu.md`);
//! - `cfg(sieve_libtorch_cuda)` and a link search path when the directory has
//!   `libtorch_cuda.so`: `src/runtime.rs` then references one of its symbols, so every
//!   binary that installs the libtorch runtime (`sieve-torch`, tests) records
//!   `libtorch_cuda.so` as needed and libtorch registers its CUDA backend. (An explicit
//!   `-Wl,--no-as-needed -ltorch_cuda` would do the same but cannot be limited to those
//!   binaries: cargo has no link-argument target for the library's unit tests.) On a
//!   CPU-only machine it loads and simply sees no device;
//! - the C++ shim `src/train/fused_adamw.cpp` (libtorch's fused AdamW, which tch does not
//!   wrap), compiled with the `cc` crate against the headers beside that directory
//!   (`<libtorch>/include`, or `$LIBTORCH_INCLUDE/include` as torch-sys reads it) with
//!   the C++ ABI torch-sys uses (`LIBTORCH_CXX11_ABI`, default 1).
//!
//! It also decides which tests cannot run on this machine, so they are reported as
//! skipped (`#[ignore]`) instead of passing without checking anything (see
//! `sieve::testenv`):
//! - `cfg(sieve_cuda_device)` when the NVIDIA driver shows a device (`/dev/nvidiaN`)
//!   as this script runs (it reruns whenever a file under `src/` changes): the CUDA tests
//!   run only then;
//! - `cfg(sieve_skip_python)` when `SIEVE_PYTHON` is unset, except under CI (`CI=true`),
//!   where a missing Python must fail the tests that need it, not skip them.
//!
//! Invariant: only `cargo:rustc-link-arg` is used for the rpath, which applies to bins,
//! tests, examples and benches (not to the rlib, not to doctests).

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rustc-check-cfg=cfg(sieve_libtorch_cuda)");
    test_requirements();
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
