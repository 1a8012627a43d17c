//! `sieve-torch`: the `sieve` command line with libtorch loaded. `sieve run` hands a run
//! to it (same arguments) when a stage that needs libtorch must execute; `sieve bench`
//! does the same. It can also be called directly: it accepts every `sieve` command.
//! See [`sieve::stages::torch`] for why libtorch lives in a binary of its own.

use std::io::Write;

fn main() {
    // Before anything touches libtorch: its CPU kernels are chosen on first use, and the
    // cache keys of CPU stages promise the portable choice (see `sieve::model::cpu`).
    // SAFETY: the process is still single-threaded; nothing else uses the environment.
    unsafe { sieve::model::cpu::pin_numerics() };
    sieve::torch_runtime::install();
    let code = sieve::cli::main();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // Exit without running libtorch's static destructors (100–160 ms on every command,
    // measured in docs/performance.md): every file sieve writes is complete and closed by
    // now, and the kernel releases the rest.
    // SAFETY: `_exit` only terminates the process; nothing runs after it.
    unsafe { libc::_exit(code) }
}
