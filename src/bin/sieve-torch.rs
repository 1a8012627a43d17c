//! `sieve-torch`: the `sieve` command line with libtorch loaded. `sieve run` hands a run
//! to it (same arguments) when a stage that needs libtorch must execute; `sieve bench`
//! does the same. It can also be called directly: it accepts every `sieve` command.
//! See [`sieve::stages::torch`] for why libtorch lives in a binary of its own.
//!
//! Process settings. Before installing the libtorch runtime, `main` applies two
//! process-wide settings for libtorch's CPU kernels (measured in `docs/performance.md`,
//! "CPU SFT step"). They are this binary's choice: the library never applies them, so
//! its unit tests and any other program linking it run with the platform's defaults.
//! - *MKL's vendor check*: libtorch's CPU matrix products run in Intel MKL, linked into
//!   `libtorch_cpu.so`, which picks its AVX2 / AVX-512 kernels only when
//!   `mkl_serv_intel_cpu_true()` says the CPU is Intel's (elsewhere, e.g. on AMD EPYC, it
//!   runs generic kernels, 2.4× slower for the `tiny` model). MKL calls that function
//!   through the dynamic linker, so the definition below, exported by this executable,
//!   takes precedence and answers "yes": MKL then picks kernels by the instruction sets
//!   the CPU reports, as it does on Intel CPUs. `SIEVE_MKL_VENDOR_CHECK=1` restores
//!   MKL's own check (the definition then forwards to MKL's). The kernels round
//!   differently, so that setting enters the cache key of libtorch stages on the CPU
//!   (as `cpu_numerics = native-<arch>`, [`sieve::device::cpu_numerics`]).
//! - *Portable CPU numerics*: [`pin_numerics`] fixes the kernels libtorch and MKL use on
//!   the CPU to the mode [`sieve::device::cpu_numerics`] names and the cache keys record:
//!   ATen's AVX2 kernels (`ATEN_CPU_CAPABILITY=avx2`) and MKL's AVX2 branch in strict
//!   conditional-numerical-reproducibility mode (`MKL_CBWR=AVX2,STRICT`), so training
//!   bytes depend neither on the CPU model nor on the thread count. Measured on the `tiny`
//!   SFT step (AMD EPYC with AVX-512, one thread): 1, 2 and 3 intra-op threads write
//!   identical weights with the pin and different ones without it; the pin costs 14 % CPU
//!   time per step on `tiny` and 7 % on `small` (docs/performance.md, "CPU numerics").
//!   It must run before libtorch computes anything: ATen reads its CPU capability and MKL
//!   its code branch once, on first use.
//! - *glibc malloc thresholds*: libtorch's CPU tensors come from `malloc`, which by
//!   default returns freed blocks above a small threshold to the kernel, so every step's
//!   activations are page-faulted in anew (≈9 % of a `tiny` SFT step). The mmap
//!   threshold is raised to 32 MiB and the trim threshold to 256 MiB (`mallopt`).
//!   `SIEVE_MALLOC_TUNING=0` keeps glibc's defaults (results are the same bytes either
//!   way, so it is not in any key).
//!
//! What was applied is recorded with [`sieve::torch_runtime::install`], for benchmark
//! reports. Invariant: only this file changes process state; it does so once, before
//! any libtorch work.

use sieve::torch_runtime::ProcessSettings;
use std::ffi::{c_char, c_int, c_void};
use std::io::Write;

fn main() {
    // Before anything touches libtorch: its CPU kernels are chosen on first use, and the
    // cache keys of CPU stages promise the portable choice (see the module documentation).
    // SAFETY: the process is still single-threaded; nothing else uses the environment.
    let pinned = unsafe { pin_numerics() };
    sieve::torch_runtime::install(apply_process_settings(pinned));
    let code = sieve::cli::main();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // Exit without running libtorch's static destructors (100–160 ms on every command,
    // measured in docs/performance.md): every file sieve writes is complete and closed by
    // now, and the kernel releases the rest.
    // SAFETY: `_exit` only terminates the process; nothing runs after it.
    unsafe { libc::_exit(code) }
}

/// What [`pin_numerics`] sets: the environment ATen and MKL read on first use.
const PINNED_NUMERICS_ENV: &[(&str, &str)] = &[("ATEN_CPU_CAPABILITY", "avx2"), ("MKL_CBWR", "AVX2,STRICT")];

/// Pins libtorch's CPU kernels to the portable mode of [`sieve::device::cpu_numerics`]
/// (nothing to pin in a `native-…` mode). Values the user set for these variables are
/// replaced: the cache keys promise the portable mode. Returns whether it pinned.
///
/// # Safety
///
/// Sets environment variables: no other thread may read or write the environment
/// meanwhile (call it first thing in `main`).
unsafe fn pin_numerics() -> bool {
    if sieve::device::cpu_numerics() != sieve::device::CPU_NUMERICS_PORTABLE {
        return false;
    }
    for (name, value) in PINNED_NUMERICS_ENV {
        // SAFETY: the caller guarantees no concurrent access to the environment.
        unsafe { std::env::set_var(name, value) };
    }
    true
}

unsafe extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn mallopt(param: c_int, value: c_int) -> c_int;
}

/// glibc `mallopt` parameters.
const M_TRIM_THRESHOLD: c_int = -1;
const M_MMAP_THRESHOLD: c_int = -3;

/// Applies the process settings (see the module documentation) unless opted out, and
/// says which are in effect.
fn apply_process_settings(numerics_pinned: bool) -> ProcessSettings {
    let malloc_tuned = !std::env::var("SIEVE_MALLOC_TUNING").is_ok_and(|v| v == "0")
        // SAFETY: plain glibc calls with documented parameters; they only change the
        // thresholds of later allocations.
        && unsafe { mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1 };
    ProcessSettings {
        mkl_vendor_override: !sieve::device::mkl_vendor_check_requested() && mkl_override_resolved(),
        malloc_tuned,
        numerics_pinned,
    }
}

/// Whether the dynamic linker resolves MKL's query to the definition below (it must be
/// exported by this executable, ahead of MKL's own in `libtorch_cpu.so`).
fn mkl_override_resolved() -> bool {
    let ours = mkl_serv_intel_cpu_true as extern "C" fn() -> c_int as *mut c_void;
    // SAFETY: RTLD_DEFAULT (null) lookup of a NUL-terminated name.
    let found = unsafe { dlsym(std::ptr::null_mut(), c"mkl_serv_intel_cpu_true".as_ptr()) };
    std::ptr::eq(found, ours)
}

/// MKL's "is this an Intel CPU" query, answered "yes" unless `SIEVE_MKL_VENDOR_CHECK=1`
/// (see the module documentation).
#[unsafe(no_mangle)]
pub extern "C" fn mkl_serv_intel_cpu_true() -> c_int {
    if !sieve::device::mkl_vendor_check_requested() {
        return 1;
    }
    // RTLD_NEXT: the definition after this one, i.e. MKL's own.
    let next = -1isize as *mut c_void;
    // SAFETY: dlsym with a NUL-terminated name; the symbol, when found, is MKL's
    // `int mkl_serv_intel_cpu_true(void)`.
    unsafe {
        let f = dlsym(next, c"mkl_serv_intel_cpu_true".as_ptr());
        if f.is_null() {
            return 0;
        }
        let f: extern "C" fn() -> c_int = std::mem::transmute(f);
        f()
    }
}
