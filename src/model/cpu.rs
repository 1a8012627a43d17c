//! CPU math-library dispatch. libtorch's CPU matrix products run in Intel MKL, linked
//! statically into `libtorch_cpu.so`, and MKL selects its AVX2 / AVX-512 kernels only
//! when `mkl_serv_intel_cpu_true()` says the CPU is an Intel one; on other x86-64 CPUs
//! (AMD EPYC, for instance) it runs generic kernels — measured 2.4× slower for the
//! `tiny` model's f32 products, forward and backward, on an AMD EPYC with AVX-512.
//!
//! MKL calls that function through the dynamic linker (a PLT slot of libtorch_cpu),
//! so a definition in the executable takes precedence: sieve defines it to return 1,
//! and MKL then picks kernels from the instruction sets the CPU reports (cpuid), which
//! is what it does on Intel CPUs anyway. The results are IEEE f32 products either way
//! (summation order may differ, as between any two BLAS kernels).
//! `SIEVE_MKL_VENDOR_CHECK=1` restores MKL's own check.
//!
//! The allocator: libtorch's CPU tensors come from glibc `malloc`, which by default
//! returns freed memory above a small threshold to the kernel, so every step's
//! activations (a few MB each) are page-faulted in anew — about 9 % of a `tiny` SFT
//! step here. [`init`] raises the mmap threshold to 32 MiB and the trim threshold to
//! 256 MiB (`mallopt`), keeping such blocks in the heap for reuse.
//! `SIEVE_MALLOC_TUNING=0` leaves glibc's defaults.
//!
//! Numerics: [`pin_numerics`] fixes the kernels libtorch and MKL use on the CPU to the
//! mode [`crate::device::cpu_numerics`] names (and the cache keys record): ATen's AVX2
//! kernels (`ATEN_CPU_CAPABILITY=avx2`) and MKL's AVX2 branch in strict CNR mode
//! (`MKL_CBWR=AVX2,STRICT`), so training bytes depend neither on the CPU model nor on the
//! thread count. Measured on the `tiny` SFT step here (AMD EPYC with AVX-512; one
//! thread): 1, 2 and 3 intra-op threads write identical weights with the pin and
//! different ones without it; AVX2 instead of AVX-512 kernels and the strict mode cost
//! 14 % CPU time per step on `tiny` and 7 % on `small` (docs/performance.md).
//!
//! Invariant: [`init`] must be called from code every binary runs (it is, from
//! [`crate::model::Transformer::new`]) so the linker keeps this object and exports the
//! MKL symbol. [`pin_numerics`] must run before libtorch computes anything: ATen reads
//! its CPU capability and MKL its code branch once, on first use.

use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

unsafe extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn mallopt(param: c_int, value: c_int) -> c_int;
}

/// glibc `mallopt` parameters.
const M_TRIM_THRESHOLD: c_int = -1;
const M_MMAP_THRESHOLD: c_int = -3;

/// Process-wide CPU settings (idempotent): keeps MKL's vendor override linked in and
/// tunes the allocator. Returns whether the allocator was tuned.
pub fn init() -> bool {
    static TUNED: OnceLock<bool> = OnceLock::new();
    mkl_override_active();
    *TUNED.get_or_init(|| {
        if std::env::var("SIEVE_MALLOC_TUNING").is_ok_and(|v| v == "0") {
            return false;
        }
        // SAFETY: plain glibc calls with documented parameters; they only change
        // thresholds of later allocations.
        unsafe { mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1 }
    })
}

/// What [`pin_numerics`] sets: the environment ATen and MKL read on first use.
pub const PINNED_NUMERICS_ENV: &[(&str, &str)] =
    &[("ATEN_CPU_CAPABILITY", "avx2"), ("MKL_CBWR", "AVX2,STRICT")];

/// Pins libtorch's CPU kernels to the portable mode of [`crate::device::cpu_numerics`]
/// (nothing to pin in a `native-…` mode). Values the user set for these variables are
/// replaced: the cache keys promise the portable mode. Returns whether it pinned.
///
/// # Safety
///
/// Sets environment variables: no other thread may read or write the environment
/// meanwhile (call it first thing in `main`).
pub unsafe fn pin_numerics() -> bool {
    if crate::device::cpu_numerics() != crate::device::CPU_NUMERICS_PORTABLE {
        return false;
    }
    for (name, value) in PINNED_NUMERICS_ENV {
        // SAFETY: the caller guarantees no concurrent access to the environment.
        unsafe { std::env::set_var(name, value) };
    }
    true
}

fn vendor_check_requested() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var("SIEVE_MKL_VENDOR_CHECK").is_ok_and(|v| v == "1"))
}

/// MKL's "is this an Intel CPU" query, answered "yes" (see the module documentation).
#[unsafe(no_mangle)]
pub extern "C" fn mkl_serv_intel_cpu_true() -> c_int {
    if !vendor_check_requested() {
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

/// Whether MKL's vendor check is overridden in this process (for benchmark reports).
pub fn mkl_override_active() -> bool {
    std::hint::black_box(mkl_serv_intel_cpu_true as extern "C" fn() -> c_int);
    !vendor_check_requested()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_is_idempotent() {
        let a = init();
        assert_eq!(init(), a);
    }

    #[test]
    fn override_answers_intel() {
        if !vendor_check_requested() {
            assert_eq!(mkl_serv_intel_cpu_true(), 1);
            assert!(mkl_override_active());
        }
    }
}
