//! The `sieve` command-line entry point: everything lives in [`sieve::cli`]. This binary
//! never loads libtorch (see [`sieve::stages::torch`]); runs that need it continue in
//! `sieve-torch`.

use std::io::Write;

fn main() {
    let code = sieve::cli::main();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` only terminates the process; nothing runs after it. (Skips static
    // destructors; every file sieve writes is complete and closed by now.)
    unsafe { libc::_exit(code) }
}
