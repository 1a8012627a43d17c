//! The `sieve` command-line entry point: everything lives in [`sieve::cli`].

fn main() {
    std::process::exit(sieve::cli::main());
}
