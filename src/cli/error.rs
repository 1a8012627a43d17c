//! The command line's one error type: what went wrong and the exit code it ends the
//! process with (the codes are in [`super`]).
//!
//! Invariants: every command returns `Result<(), CliError>` and `cli::main` prints the
//! error, once, as `error: <message>: <cause>: …`; an error without a message stands for
//! a failure that was reported already, in its own form (the diagnostics of an invalid
//! pipeline, a run's failed stages, `cache verify`'s list of damaged entries), and only
//! sets the exit code.

use super::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID};
use std::fmt;

/// A command's failure.
pub struct CliError {
    /// What to print; `None` when it has been reported already.
    pub error: Option<anyhow::Error>,
    pub exit_code: i32,
}

impl CliError {
    /// The pipeline or the command line is invalid (exit 2).
    pub fn invalid(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            error: Some(error.into()),
            exit_code: EXIT_INVALID,
        }
    }

    /// Something failed while doing the work (exit 1).
    pub fn failed(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            error: Some(error.into()),
            exit_code: EXIT_FAILED,
        }
    }

    /// A failure already reported in its own form: only the exit code is left to give.
    pub fn reported(exit_code: i32) -> Self {
        CliError {
            error: None,
            exit_code,
        }
    }

    /// Ctrl-C (exit 130; the interrupt handler has said so).
    pub fn interrupted() -> Self {
        CliError::reported(EXIT_INTERRUPTED)
    }

    /// A command's result as this type, from an exit code (0 is success).
    pub fn from_exit_code(code: i32) -> Result<(), CliError> {
        if code == 0 {
            Ok(())
        } else {
            Err(CliError::reported(code))
        }
    }

    /// Prints the error (when it has a message) and returns the exit code.
    pub fn report(self) -> i32 {
        if let Some(e) = &self.error {
            eprintln!("error: {e:#}");
        }
        self.exit_code
    }
}

/// Errors raised with `?` are failures of the work (exit 1); invalid input is said so
/// explicitly, with [`CliError::invalid`].
impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        CliError::failed(error)
    }
}

impl fmt::Debug for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(e) => write!(f, "exit {}: {e:#}", self.exit_code),
            None => write!(f, "exit {} (reported)", self.exit_code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn causes_print_on_one_line_and_codes_follow_the_kind_of_failure() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let e: CliError = Err::<(), _>(io)
            .context("cannot write out.html")
            .unwrap_err()
            .into();
        assert_eq!(e.exit_code, EXIT_FAILED);
        assert_eq!(
            format!("{:#}", e.error.as_ref().unwrap()),
            "cannot write out.html: permission denied"
        );
        assert_eq!(
            CliError::invalid(anyhow::anyhow!("-j must be at least 1")).exit_code,
            EXIT_INVALID
        );
        assert!(CliError::reported(EXIT_INVALID).error.is_none());
        assert_eq!(CliError::interrupted().exit_code, EXIT_INTERRUPTED);
        assert!(CliError::from_exit_code(0).is_ok());
        assert_eq!(CliError::from_exit_code(3).unwrap_err().exit_code, 3);
    }
}
