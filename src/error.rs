//! The tool's own failures and the exit codes they map to. A test that
//! fails is not an error: it is an outcome in the report.

/// All tests passed.
pub const EXIT_OK: u8 = 0;
/// No tests matched the filters.
pub const EXIT_NO_TESTS: u8 = 4;
/// Bad command line.
pub const EXIT_USAGE: u8 = 2;
/// A `-E` filterset that does not parse, or names a package, binary or
/// binary id the workspace does not have (nextest-metadata's
/// `NextestExitCode::INVALID_FILTERSET`).
pub const EXIT_INVALID_FILTERSET: u8 = 94;
/// No sandbox could be made (or another failure of the tool itself).
pub const EXIT_SETUP: u8 = 96;
/// A test failed, timed out, was OOM-killed, died of a signal or could not
/// be set up.
pub const EXIT_TEST_FAILED: u8 = 100;
/// The build failed.
pub const EXIT_BUILD_FAILED: u8 = 101;
/// SIGINT, SIGTERM or SIGHUP stopped the run, in whatever phase (128 +
/// SIGINT, whichever signal it was: the report says what finished).
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Build(String),
    /// An `-E` expression that does not parse or compile: the message
    /// shows it, with carets under the part at fault.
    #[error("{0}")]
    Filterset(String),
    /// What failed, then what to do about it.
    #[error("{message}")]
    Setup { message: String },
    /// A `--seccomp` profile that cannot be used: a usage error.
    #[error("{0}")]
    SeccompProfile(#[from] crate::sandbox::seccomp::ProfileError),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroup::CgroupError),
    /// A signal stopped the run (see `signals`); `while_` names the phase.
    #[error("interrupted while {while_}")]
    Interrupted { while_: &'static str },
    /// A failure of the runner itself (a panic in one of its threads):
    /// a bug, never a pass.
    #[error(
        "internal error: {0}\n  this is a bug in cargo-isolate: please report it with the command that ran"
    )]
    Internal(String),
    #[error("failed to write {path}: {source}")]
    WriteReport {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    pub fn setup(message: impl Into<String>) -> Error {
        Error::Setup {
            message: message.into(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::SeccompProfile(_) => EXIT_USAGE,
            Error::Build(_) => EXIT_BUILD_FAILED,
            Error::Filterset(_) => EXIT_INVALID_FILTERSET,
            Error::Interrupted { .. } => EXIT_INTERRUPTED,
            Error::Setup { .. }
            | Error::Sandbox(_)
            | Error::Cgroup(_)
            | Error::WriteReport { .. }
            | Error::Internal(_) => EXIT_SETUP,
        }
    }
}
