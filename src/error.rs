//! Errors that decide the exit code. Everything else is `anyhow` with context.
//!
//! Exit codes: 0 ok, 1 a finding or a refused precondition (or not ready), 2 bad usage or bad
//! input, 3 planner could not do the job (connection, permission, server error, I/O).

use std::fmt;

/// A place in an input file, 1-based like editors show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Bad input: the user must change a file, a flag or a name. Exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}{}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default(), help.as_ref().map(|h| format!("\n  help: {h}")).unwrap_or_default())]
pub struct InputError {
    pub location: Option<Location>,
    pub message: String,
    pub help: Option<String>,
}

impl InputError {
    pub fn new(message: impl Into<String>) -> Self {
        InputError { location: None, message: message.into(), help: None }
    }
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// An error in one field of one change, located later (YAML position or shorthand argument).
/// Here, below `change` and `dialect`, because both produce it (a dialect refuses a tactic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeError {
    /// Field name inside the change (`table`, `column`, `from`, `to`, `type`, `backfill`, ...).
    pub field: &'static str,
    pub message: String,
    pub help: Option<String>,
}

impl ChangeError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        ChangeError { field, message: message.into(), help: None }
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// The database is not in a state where the requested step is safe. Exit code 1.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub message: String,
}

impl Refusal {
    pub fn new(message: impl Into<String>) -> Self {
        Refusal { message: message.into() }
    }
}

/// Lint findings at error severity were reported. Exit code 1 (the report was already printed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FindingsReported(pub String);

/// Planner could not do the job: the server is unreachable, refused us, or failed. Exit code 3.
#[derive(Debug, thiserror::Error)]
#[error("{message}{}", help.as_ref().map(|h| format!("\n  help: {h}")).unwrap_or_default())]
pub struct CannotRun {
    pub message: String,
    pub help: Option<String>,
}

/// A backfill pause outlasted `--max-pause`: stopped with the checkpoint saved. Exit code 4, so
/// a scheduler can tell "the server was unhealthy for too long, resume later" from a failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PausedTooLong(pub String);

/// A command run on several targets failed on some: the exit code is the worst of theirs
/// (3 could not run, then 2 bad input, then 1 refused).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FleetFailed {
    pub code: i32,
    pub message: String,
}

/// Map an error chain to the process exit code.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<FleetFailed>() {
            return f.code;
        }
        if cause.downcast_ref::<InputError>().is_some()
            || cause.downcast_ref::<crate::plan::load::PlanEdited>().is_some()
        {
            return 2;
        }
        if cause.downcast_ref::<Refusal>().is_some() || cause.downcast_ref::<FindingsReported>().is_some() {
            return 1;
        }
        if cause.downcast_ref::<clap::Error>().is_some() {
            return 2;
        }
        if cause.downcast_ref::<CannotRun>().is_some() {
            return 3;
        }
        if cause.downcast_ref::<PausedTooLong>().is_some() {
            return 4;
        }
    }
    // Anything else (a server error, I/O) is an operational failure, not a verdict on the
    // database (1) nor on the input (2).
    3
}
