//! Peak memory for the benchmarks.
//!
//! tch exposes none of libtorch's CUDA caching-allocator statistics, so on CUDA the
//! device-wide used memory (`total − free` from `cudaMemGetInfo`, looked up in the
//! already loaded CUDA runtime with `dlsym`) is polled from a background thread; the
//! figure reported is the peak over the measured phase minus the reading taken when the
//! process had initialised CUDA but allocated nothing (that is, the memory the caching
//! allocator reserved, plus any other process's growth on the same card). When the
//! runtime symbol is missing, `nvidia-smi --query-gpu=memory.used` is polled instead.
//! On the CPU the process's peak resident set (`VmHWM`) is reported.
//!
//! Invariant: every figure carries the name of the method that produced it
//! ([`Peak::method`]), because "reserved by the allocator" and "allocated by tensors"
//! (what `torch.cuda.max_memory_allocated` reports) are different quantities.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

unsafe extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlopen(filename: *const c_char, flag: c_int) -> *mut c_void;
}

/// `RTLD_NOW | RTLD_NOLOAD` (glibc): find an already loaded library, load nothing.
const RTLD_NOW_NOLOAD: c_int = 0x2 | 0x4;

type MemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> c_int;

/// `cudaMemGetInfo` from the CUDA runtime libtorch already loaded, if any.
fn mem_get_info() -> Option<MemGetInfo> {
    let name = c"cudaMemGetInfo";
    // SAFETY: dlsym/dlopen with NUL-terminated names; RTLD_DEFAULT is the null handle.
    unsafe {
        let mut f = dlsym(std::ptr::null_mut(), name.as_ptr());
        if f.is_null() {
            for lib in [c"libcudart.so.13", c"libcudart.so.12", c"libcudart.so"] {
                let h = dlopen(lib.as_ptr(), RTLD_NOW_NOLOAD);
                if !h.is_null() {
                    f = dlsym(h, name.as_ptr());
                    if !f.is_null() {
                        break;
                    }
                }
            }
        }
        (!f.is_null()).then(|| std::mem::transmute::<*mut c_void, MemGetInfo>(f))
    }
}

/// Device-wide used bytes of the current CUDA device through `cudaMemGetInfo`.
pub fn cuda_used_bytes() -> Option<u64> {
    let f = mem_get_info()?;
    let (mut free, mut total) = (0usize, 0usize);
    // SAFETY: the runtime writes two size_t values through valid pointers.
    let rc = unsafe { f(&mut free, &mut total) };
    (rc == 0 && total > 0).then(|| (total - free) as u64)
}

/// Used bytes of GPU 0 according to `nvidia-smi`.
pub fn nvidia_smi_used_bytes() -> Option<u64> {
    let out = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=memory.used",
            "--format=csv,noheader,nounits",
            "-i",
            "0",
        ])
        .output()
        .ok()?;
    let mib: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some((mib * 1024.0 * 1024.0) as u64)
}

/// The process's peak resident set size in bytes (`VmHWM` of `/proc/self/status`).
pub fn cpu_peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A peak-memory figure and how it was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct Peak {
    /// Bytes attributed to the measured phase.
    pub bytes: u64,
    /// Device-wide (CUDA) or process-wide (CPU) peak, without subtracting anything.
    pub total_bytes: u64,
    /// How the figure was measured.
    pub method: &'static str,
}

/// Polls device memory from a background thread between [`Monitor::start`] and
/// [`Monitor::finish`].
pub struct Monitor {
    cuda: bool,
    base: u64,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    method: &'static str,
}

impl Monitor {
    /// Starts polling. On CUDA, call it after CUDA is initialised and before the
    /// measured allocations: the first reading is the baseline that is subtracted.
    pub fn start(cuda: bool) -> Monitor {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        if !cuda {
            return Monitor {
                cuda,
                base: 0,
                peak,
                stop,
                thread: None,
                method: "VmHWM (peak resident set of the process)",
            };
        }
        let (read, method): (fn() -> Option<u64>, &'static str) = if mem_get_info().is_some() {
            (
                cuda_used_bytes,
                "cudaMemGetInfo polled every 5 ms: device used minus the idle process's baseline",
            )
        } else {
            (
                nvidia_smi_used_bytes,
                "nvidia-smi memory.used polled: device used minus the idle process's baseline",
            )
        };
        let base = read().unwrap_or(0);
        peak.store(base, Ordering::Relaxed);
        let (p, s) = (peak.clone(), stop.clone());
        let interval = if method.starts_with("cuda") { 5 } else { 100 };
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(u) = read() {
                    p.fetch_max(u, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(interval));
            }
            if let Some(u) = read() {
                p.fetch_max(u, Ordering::Relaxed);
            }
        });
        Monitor {
            cuda,
            base,
            peak,
            stop,
            thread: Some(thread),
            method,
        }
    }

    /// Stops polling and returns the peak.
    pub fn finish(mut self) -> Option<Peak> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if !self.cuda {
            let b = cpu_peak_rss_bytes()?;
            return Some(Peak {
                bytes: b,
                total_bytes: b,
                method: self.method,
            });
        }
        let total = self.peak.load(Ordering::Relaxed);
        (total > 0).then(|| Peak {
            bytes: total.saturating_sub(self.base),
            total_bytes: total,
            method: self.method,
        })
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Bytes as GiB.
pub fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_peak_is_reported() {
        let m = Monitor::start(false);
        let v = vec![1u8; 8 << 20];
        std::hint::black_box(&v);
        let p = m.finish().expect("VmHWM on Linux");
        assert!(p.bytes >= 8 << 20 && p.method.contains("VmHWM"));
        assert!((gib(1 << 30) - 1.0).abs() < 1e-12);
    }

    #[test]
    #[cfg_attr(sieve_cuda_device, ignore = "checks the behaviour without a CUDA device")]
    fn cuda_monitor_never_fails_without_a_device() {
        // Without a GPU, cudaMemGetInfo fails (or is absent): no figure, no panic.
        assert!(!tch::Cuda::is_available(), "libtorch sees a CUDA device");
        let m = Monitor::start(true);
        let _ = m.finish();
        assert!(cuda_used_bytes().is_none());
    }
}
