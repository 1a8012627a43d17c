//! Build script: makes every binary this crate links (the `sieve` CLI, the test and
//! example binaries) load libtorch with no `LD_LIBRARY_PATH`, and really link CUDA.
//!
//! torch-sys (`links = "tch"`) prints `cargo:libtorch_lib=<dir>`, which cargo hands to
//! us as `DEP_TCH_LIBTORCH_LIB` because we depend on torch-sys directly. We emit:
//!
//! - an rpath (`DT_RUNPATH`, via `--enable-new-dtags`) to that directory, so binaries
//!   find `libtorch*.so` where they were built; being a RUNPATH, an explicit
//!   `LD_LIBRARY_PATH` still wins, which is how a binary carried to a GPU machine is
//!   pointed at that machine's libtorch (see `GPU.md`);
//! - `-Wl,--no-as-needed -ltorch_cuda -Wl,--as-needed` when the directory has
//!   `libtorch_cuda.so`: nothing references its symbols directly, so with the default
//!   `--as-needed` the linker drops it, and then libtorch never registers its CUDA
//!   backend and tch reports no GPU. On a CPU-only machine it loads and simply sees
//!   no device.
//!
//! Invariant: only `cargo:rustc-link-arg` is used, which applies to bins, tests,
//! examples and benches (not to the rlib, not to doctests).

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");

    let Some(dir) = env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from) else {
        println!(
            "cargo:warning=torch-sys did not report libtorch's directory (DEP_TCH_LIBTORCH_LIB); \
             binaries will need LD_LIBRARY_PATH to find libtorch"
        );
        return;
    };
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
        println!("cargo:rustc-link-arg=-L{dir_str}");
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
