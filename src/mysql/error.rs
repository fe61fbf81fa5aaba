//! What a MySQL/MariaDB error means for planner: retry it, stop and re-plan, or give up.
//!
//! Classified by the server's error number, not SQLSTATE: 1205 (`HY000`) is shared by metadata-lock
//! timeouts, row-lock timeouts and MariaDB's NOWAIT, and the algorithm refusals share `0A000` with
//! unrelated "not supported" errors.

use super::ddl::Blocker;

/// How callers branch on a failed statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ErrorKind {
    /// 1205: `lock_wait_timeout` (metadata lock) or `innodb_lock_wait_timeout` (row lock) expired.
    /// Nothing of the statement was applied; retried with backoff.
    LockWait,
    /// 1213: InnoDB chose this transaction as a deadlock victim and rolled it back; retried.
    Deadlock,
    /// 1845/1846: the server refuses the requested `ALGORITHM=`/`LOCK=` (it would have to copy
    /// the table or block writes). A planning error: never retried, the plan must change.
    AlgorithmRefused,
    /// MariaDB 1969 (`max_statement_time`), 1317 (query interrupted: what an interrupted ALTER
    /// reports), MySQL 3024 (`max_execution_time`). The statement was rolled back.
    StatementTimeout,
    /// The connection is gone (network, KILL, server restart). Whether the statement took
    /// effect is unknown: DDL auto-commits, so resume by introspection, not by replaying blindly.
    ConnectionLost,
    /// Anything else (syntax, a missing column, a duplicate, permissions).
    Other,
}

impl ErrorKind {
    /// Worth trying again unchanged after a pause.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::LockWait | ErrorKind::Deadlock)
    }
}

/// The server's error number, when the server sent one.
pub fn error_number(err: &sqlx::Error) -> Option<u16> {
    err.as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .map(|m| m.number())
}

pub fn classify(err: &sqlx::Error) -> ErrorKind {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            return ErrorKind::ConnectionLost
        }
        sqlx::Error::Protocol(p) if p.to_lowercase().contains("connection") => {
            return ErrorKind::ConnectionLost
        }
        _ => {}
    }
    match error_number(err) {
        Some(1205) => ErrorKind::LockWait,
        Some(1213) => ErrorKind::Deadlock,
        Some(1845 | 1846) => ErrorKind::AlgorithmRefused,
        Some(1969 | 1317 | 3024) => ErrorKind::StatementTimeout,
        // 1053 server shutdown, 1927 connection killed (MariaDB), 4031 idle disconnect (MySQL 8),
        // 2006/2013 client-side "server has gone away" / "lost connection".
        Some(1053 | 1927 | 4031 | 2006 | 2013) => ErrorKind::ConnectionLost,
        _ => ErrorKind::Other,
    }
}

/// One sqlx error as a user reads it: the server's message with its error number.
pub fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => match error_number(err) {
            Some(n) => format!("{} (error {n})", db.message()),
            None => db.message().to_string(),
        },
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Tls(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

/// A statement planner ran that failed, with what callers branch on.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DdlError {
    pub kind: ErrorKind,
    /// The statement as sent.
    pub statement: String,
    /// How many times it was sent (1 when it was not retried).
    pub attempts: u32,
    /// The server's error number, if it sent one.
    pub number: Option<u16>,
    /// Everything the user needs: what failed, why, what blocked it, what to do.
    pub message: String,
    /// The sessions that held the table when the last attempt gave up (lock waits only).
    pub blockers: Vec<Blocker>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_lost_connections() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(classify(&sqlx::Error::Io(io)), ErrorKind::ConnectionLost);
        assert_eq!(classify(&sqlx::Error::RowNotFound), ErrorKind::Other);
        assert!(ErrorKind::LockWait.is_retryable() && ErrorKind::Deadlock.is_retryable());
        assert!(!ErrorKind::AlgorithmRefused.is_retryable() && !ErrorKind::ConnectionLost.is_retryable());
    }
}
