//! When to hold off: replication lag, sessions kept waiting by the backfill, long transactions.

use std::fmt;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgConnection;

/// Pause thresholds; `None` disables a check.
#[derive(Debug, Clone, PartialEq)]
pub struct PauseThresholds {
    /// Pause while any standby's write/flush/replay lag (pg_stat_replication) exceeds this.
    pub max_replication_lag: Option<Duration>,
    /// Back off when a batch kept another session waiting for a lock longer than this.
    pub max_lock_wait: Option<Duration>,
    /// Pause while another transaction in this database has been open longer than this (it holds
    /// back vacuum, so every row the backfill rewrites would stay as bloat).
    pub max_transaction_age: Option<Duration>,
}

impl Default for PauseThresholds {
    fn default() -> Self {
        PauseThresholds {
            max_replication_lag: Some(Duration::from_secs(10)),
            max_lock_wait: Some(Duration::from_secs(1)),
            max_transaction_age: Some(Duration::from_secs(600)),
        }
    }
}

/// Why the backfill paused.
#[derive(Debug, Clone, PartialEq)]
pub enum PauseReason {
    ReplicationLag {
        lag: Duration,
        max: Duration,
    },
    LockWaits {
        sessions: i64,
        longest: Duration,
        max: Duration,
    },
    LongTransaction {
        pid: i32,
        age: Duration,
        max: Duration,
    },
    /// Asked for in the control file.
    Requested,
}

impl PauseReason {
    /// Short name for the summary ("replication lag").
    pub fn kind(&self) -> &'static str {
        match self {
            PauseReason::ReplicationLag { .. } => "replication lag",
            PauseReason::LockWaits { .. } => "lock waits",
            PauseReason::LongTransaction { .. } => "long transaction",
            PauseReason::Requested => "requested",
        }
    }
}

impl fmt::Display for PauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |d: &Duration| format!("{:.1}s", d.as_secs_f64());
        match self {
            PauseReason::ReplicationLag { lag, max } => {
                write!(f, "replication lag {} exceeds {}", s(lag), s(max))
            }
            PauseReason::LockWaits { sessions, longest, max } => write!(
                f,
                "{sessions} session(s) waited up to {} for locks held by the backfill (limit {}); halving the batch",
                s(longest),
                s(max)
            ),
            PauseReason::LongTransaction { pid, age, max } => write!(
                f,
                "transaction of pid {pid} has been open {} (limit {}); it holds back vacuum",
                s(age),
                s(max)
            ),
            PauseReason::Requested => write!(f, "paused in the control file"),
        }
    }
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.0))
}

/// Check replication lag and long transactions (not lock waits: those are probed while a batch
/// runs, see [`sessions_blocked_by`]). `ignore_pid` is the backfill's own connection.
pub async fn check(
    conn: &mut PgConnection,
    limits: &PauseThresholds,
    ignore_pid: i32,
) -> anyhow::Result<Option<PauseReason>> {
    if let Some(max) = limits.max_replication_lag {
        let lag: f64 = sqlx::query_scalar(
            "SELECT coalesce(max(extract(epoch FROM greatest(write_lag, flush_lag, replay_lag))), 0)::float8
             FROM pg_stat_replication",
        )
        .fetch_one(&mut *conn)
        .await
        .context("reading pg_stat_replication")?;
        if secs(lag) > max {
            return Ok(Some(PauseReason::ReplicationLag { lag: secs(lag), max }));
        }
    }
    if let Some(max) = limits.max_transaction_age {
        let oldest: Option<(i32, f64)> = sqlx::query_as(
            "SELECT pid, extract(epoch FROM now() - xact_start)::float8 FROM pg_stat_activity
             WHERE datname = current_database() AND backend_type = 'client backend'
               AND xact_start IS NOT NULL AND pid <> pg_backend_pid() AND pid <> $1
             ORDER BY xact_start LIMIT 1",
        )
        .bind(ignore_pid)
        .fetch_optional(&mut *conn)
        .await
        .context("reading pg_stat_activity")?;
        if let Some((pid, age)) = oldest {
            if secs(age) > max {
                return Ok(Some(PauseReason::LongTransaction { pid, age: secs(age), max }));
            }
        }
    }
    Ok(None)
}

/// Sessions waiting for a lock that `pid` holds: (how many, longest wait so far).
pub async fn sessions_blocked_by(conn: &mut PgConnection, pid: i32) -> anyhow::Result<(i64, Duration)> {
    let (count, longest): (i64, f64) = sqlx::query_as(
        "SELECT count(*), coalesce(extract(epoch FROM max(now() - state_change)), 0)::float8
         FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND $1 = ANY(pg_blocking_pids(pid))",
    )
    .bind(pid)
    .fetch_one(&mut *conn)
    .await
    .context("reading pg_stat_activity for sessions blocked by the backfill")?;
    Ok((count, secs(longest)))
}
