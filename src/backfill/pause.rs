//! When to hold off: replication lag, replication slots falling behind, WAL generation rate,
//! vacuum running on the table, sessions kept waiting by the backfill, long transactions.

use std::fmt;
use std::time::{Duration, Instant};

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
    /// Pause while a replication slot's consumer (CDC, logical replication, an absent standby)
    /// is more than this many bytes of WAL behind: the server keeps that WAL on disk.
    pub max_slot_lag: Option<u64>,
    /// Pause while the server generates WAL faster than this many bytes per second (backups,
    /// archiving and standbys must keep up).
    pub max_wal_rate: Option<u64>,
    /// Pause while (auto)vacuum works on the table being filled: let it finish cleaning up
    /// before the backfill leaves more dead rows behind it.
    pub pause_for_vacuum: bool,
    /// A single pause longer than this stops the backfill (checkpoint saved, resume command).
    pub max_pause: Option<Duration>,
}

impl Default for PauseThresholds {
    fn default() -> Self {
        PauseThresholds {
            max_replication_lag: Some(Duration::from_secs(10)),
            max_lock_wait: Some(Duration::from_secs(1)),
            max_transaction_age: Some(Duration::from_secs(600)),
            max_slot_lag: None,
            max_wal_rate: None,
            pause_for_vacuum: true,
            max_pause: None,
        }
    }
}

impl PauseThresholds {
    /// Every check off (tests and benchmarks turn on the one they study).
    pub fn none() -> Self {
        PauseThresholds {
            max_replication_lag: None,
            max_lock_wait: None,
            max_transaction_age: None,
            max_slot_lag: None,
            max_wal_rate: None,
            pause_for_vacuum: false,
            max_pause: None,
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
    /// A replication slot's consumer is behind.
    SlotLag {
        slot: String,
        bytes: u64,
        max: u64,
    },
    /// WAL is generated faster than allowed.
    WalRate {
        bytes_per_s: u64,
        max: u64,
    },
    /// Vacuum works on the table.
    Vacuum {
        pid: i32,
        auto: bool,
        phase: String,
    },
    /// Asked for in the control file.
    Requested,
}

/// `1.5 MB`
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

impl PauseReason {
    /// Short name for the summary ("replication lag").
    pub fn kind(&self) -> &'static str {
        match self {
            PauseReason::ReplicationLag { .. } => "replication lag",
            PauseReason::LockWaits { .. } => "lock waits",
            PauseReason::LongTransaction { .. } => "long transaction",
            PauseReason::SlotLag { .. } => "slot lag",
            PauseReason::WalRate { .. } => "wal rate",
            PauseReason::Vacuum { .. } => "vacuum",
            PauseReason::Requested => "requested",
        }
    }

    /// The kind as a metric label / JSON value: `replication_lag`.
    pub fn key(&self) -> String {
        self.kind().replace(' ', "_")
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
            PauseReason::SlotLag { slot, bytes: b, max } => write!(
                f,
                "replication slot {slot} is {} behind (limit {}); its consumer must catch up",
                bytes(*b),
                bytes(*max)
            ),
            PauseReason::WalRate { bytes_per_s, max } => {
                write!(f, "WAL generated at {}/s (limit {}/s)", bytes(*bytes_per_s), bytes(*max))
            }
            PauseReason::Vacuum { pid, auto, phase } => write!(
                f,
                "{} (pid {pid}) is working on the table ({phase}); waiting for it to finish",
                if *auto { "autovacuum" } else { "VACUUM" }
            ),
            PauseReason::Requested => write!(f, "paused in the control file"),
        }
    }
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.0))
}

/// The WAL position at the last check, for the WAL rate.
#[derive(Debug, Clone, Copy)]
pub struct WalSample {
    at: Instant,
    lsn: u64,
}

/// Rates over shorter spans than this are noise (one batch's WAL in a few milliseconds).
const MIN_WAL_SPAN: Duration = Duration::from_millis(400);

/// Check every enabled condition (not lock waits: those are probed while a batch runs, see
/// [`sessions_blocked_by`]). `ignore_pid` is the backfill's own connection, `table` the table
/// being filled, `wal` the previous WAL sample (updated here).
pub async fn check(
    conn: &mut PgConnection,
    limits: &PauseThresholds,
    ignore_pid: i32,
    table: &str,
    wal: &mut Option<WalSample>,
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
    if let Some(max) = limits.max_slot_lag {
        // Logical slots: what the consumer confirmed; physical: what it still needs kept.
        let worst: Option<(String, i64)> = sqlx::query_as(
            "SELECT slot_name::text, pg_wal_lsn_diff(pg_current_wal_lsn(),
                    coalesce(confirmed_flush_lsn, restart_lsn))::int8 AS behind
             FROM pg_replication_slots WHERE coalesce(confirmed_flush_lsn, restart_lsn) IS NOT NULL
             ORDER BY behind DESC LIMIT 1",
        )
        .fetch_optional(&mut *conn)
        .await
        .context("reading pg_replication_slots")?;
        if let Some((slot, behind)) = worst {
            if behind.max(0) as u64 > max {
                return Ok(Some(PauseReason::SlotLag { slot, bytes: behind as u64, max }));
            }
        }
    }
    if let Some(max) = limits.max_wal_rate {
        let lsn: i64 = sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8")
            .fetch_one(&mut *conn)
            .await
            .context("reading pg_current_wal_lsn()")?;
        let now = WalSample { at: Instant::now(), lsn: lsn.max(0) as u64 };
        match *wal {
            None => *wal = Some(now),
            Some(prev) if now.at.duration_since(prev.at) >= MIN_WAL_SPAN => {
                *wal = Some(now);
                let rate =
                    now.lsn.saturating_sub(prev.lsn) as f64 / now.at.duration_since(prev.at).as_secs_f64();
                if rate > max as f64 {
                    return Ok(Some(PauseReason::WalRate { bytes_per_s: rate as u64, max }));
                }
            }
            Some(_) => {}
        }
    }
    if limits.pause_for_vacuum {
        let vacuum: Option<(i32, bool, String)> = sqlx::query_as(
            "SELECT v.pid, a.backend_type = 'autovacuum worker', v.phase
             FROM pg_stat_progress_vacuum v JOIN pg_stat_activity a ON a.pid = v.pid
             WHERE v.relid = to_regclass($1) LIMIT 1",
        )
        .bind(table)
        .fetch_optional(&mut *conn)
        .await
        .context("reading pg_stat_progress_vacuum")?;
        if let Some((pid, auto, phase)) = vacuum {
            return Ok(Some(PauseReason::Vacuum { pid, auto, phase }));
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
