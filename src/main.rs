//! The `sieve` command-line entry point: everything lives in [`sieve::cli`].

use std::io::Write;

fn main() {
    let code = sieve::cli::main();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // Exit without running libtorch's static destructors (100–160 ms on every command,
    // measured in docs/performance.md): every file sieve writes is complete and closed by
    // now, and the kernel releases the rest.
    // SAFETY: `_exit` only terminates the process; nothing runs after it.
    unsafe { libc::_exit(code) }
}
