//! What tests need from the machine (hidden public API: the `sieve-torch` crate's tests
//! use it too, with its own CUDA check in `sieve_torch::testenv`).
//!
//! A test whose requirement is missing is reported as skipped, never as passed: `build.rs`
//! sets a cfg when the tests are built, and the test carries
//! `#[cfg_attr(<cfg>, ignore = "<why>")]`, which nextest and `cargo test` list as
//! skipped / ignored (`--run-ignored all` runs them anyway, and they then fail saying what
//! is missing):
//! - Python of the torch virtual environment ([`python`]): ignored under
//!   `cfg(sieve_skip_python)` — `SIEVE_PYTHON` unset when the tests were built, and not
//!   under CI, where a missing Python fails these tests instead;
//! - a CUDA device (`sieve-torch`'s tests): ignored without `cfg(sieve_cuda_device)` (no
//!   `/dev/nvidiaN` when the tests were built; CUDA tests stay skipped on CPU machines,
//!   CI included).
//!
//! Invariant: a test that reaches a helper here has its requirement, or fails.

/// The Python of the torch virtual environment (with torch, transformers, pyarrow):
/// `SIEVE_PYTHON` at run time, else its value when the tests were built. Panics when
/// neither is set.
pub fn python() -> String {
    std::env::var("SIEVE_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| {
            option_env!("SIEVE_PYTHON")
                .filter(|p| !p.is_empty())
                .map(String::from)
        })
        .expect(
            "SIEVE_PYTHON is not set: this test needs the Python of the torch virtual \
             environment (scripts/setup.sh writes it into .cargo/config.toml)",
        )
}
