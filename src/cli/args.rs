//! Option groups shared by several subcommands (flattened with clap).

use clap::Args;

/// The target flags are plain data the config layer resolves; defined there so `config` does not
/// import `cli`.
pub use crate::config::TargetArgs;

/// A duration above zero: PostgreSQL reads `lock_timeout = 0` as "wait forever", the opposite
/// of what a user typing 0 next to a timeout likely wants.
fn nonzero_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 2s)"))?;
    if d.is_zero() {
        return Err("must be above zero (0 would mean: wait forever)".to_string());
    }
    Ok(d)
}

/// A PostgreSQL major version planner knows how to plan for.
pub fn pg_major(s: &str) -> Result<u32, String> {
    let v: u32 = s.parse().map_err(|e| format!("{e}: expected a major version such as 15"))?;
    if !(PG_MAJOR_MIN..=PG_MAJOR_MAX).contains(&v) {
        return Err(format!(
            "PostgreSQL {v} is not a version planner supports ({PG_MAJOR_MIN} to {PG_MAJOR_MAX})"
        ));
    }
    Ok(v)
}

/// Oldest and newest PostgreSQL majors accepted by --pg-version.
pub const PG_MAJOR_MIN: u32 = 11;
pub const PG_MAJOR_MAX: u32 = 19;

/// How DDL (and each backfill batch) waits for locks.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Locks")]
pub struct LockArgs {
    /// How long each DDL statement may wait for its lock before giving up and retrying (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", value_parser = nonzero_duration)]
    pub lock_timeout: std::time::Duration,
    /// Retries after a lock timeout, with exponential backoff and jitter; then planner gives up cleanly.
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// Upper bound for catalog-only DDL (statements that scan the table, like VALIDATE, have none).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub statement_timeout: std::time::Duration,
}

impl LockArgs {
    pub fn session_options(&self) -> crate::exec::SessionOptions {
        crate::exec::SessionOptions {
            lock_timeout: self.lock_timeout,
            statement_timeout: self.statement_timeout,
            retries: self.retries,
            report_steps: true,
            ..Default::default()
        }
    }
}
