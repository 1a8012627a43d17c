//! The command-line interface (under construction).

/// Entry point; returns the process exit code.
pub fn main() -> i32 {
    0
}
