//! One connection per run: holds planner's advisory lock, sets timeouts, retries on lock waits.
//!
//! Every piece of generated SQL reaches the server through [`dynamic`], the single place where
//! run-time SQL text is declared safe (it comes from a plan, whose identifiers are always quoted).

use std::time::Duration;

use anyhow::Context;
use sqlx::{Connection, PgConnection};

use crate::error::Refusal;
use crate::plan::script::{Timeouts, Unit};
use crate::plan::{Step, TxMode};

/// Advisory lock key pair: ("plan" as int4, 1). One planner at a time per database.
pub(crate) const LOCK_KEY1: i32 = crate::plan::state_schema::LOCK_KEY1;
pub(crate) const LOCK_KEY2: i32 = crate::plan::state_schema::LOCK_KEY2;
/// Held by the backfill's writing connection for as long as it writes. A new planner needs it
/// free as well: if the main session is terminated (its lock gone) while the backfill pool still
/// writes, no second planner is admitted until that writer has stopped.
pub(crate) const WRITER_KEY2: i32 = 2;

/// SQLSTATE lock_not_available: lock_timeout expired (or NOWAIT failed).
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// SQLSTATE deadlock_detected: the server rolled our unit back; safe to retry like a lock timeout.
const DEADLOCK_DETECTED: &str = "40P01";

/// Run-time SQL from a plan or from quoted identifiers. The one place planner asserts to sqlx
/// that a run-time string is safe: every such string is built by `sql::render` (identifiers
/// always quoted, expressions parsed) or comes from a checksummed plan.yaml, never from raw input.
pub(crate) fn dynamic(sql: impl Into<String>) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.into())
}

/// Timeouts and retry policy for DDL.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// How long one DDL statement may wait for its table lock before it gives up (and retries).
    pub lock_timeout: Duration,
    /// Upper bound for catalog-only statements; statements that scan the table run without one.
    pub statement_timeout: Duration,
    /// Retries after a lock timeout, with exponential backoff and jitter.
    pub retries: u32,
    /// First backoff; doubled on each retry, capped at 10 s.
    pub backoff: Duration,
    /// Print each step on stderr as it starts and when it ends, with its elapsed time (the CLI).
    pub report_steps: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            lock_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(30),
            retries: 5,
            backoff: Duration::from_millis(200),
            report_steps: false,
        }
    }
}

/// A session against one database, holding planner's advisory lock for its lifetime.
pub struct Session {
    pub(crate) conn: PgConnection,
    pub(crate) url: String,
    pub opts: SessionOptions,
    locked: bool,
    /// This session's server pid, read once before the first statement that scans a table (the
    /// progress watcher looks it up in pg_stat_progress_create_index).
    pid: Option<i32>,
    /// The units of a phase run so far, with their timings (for `--format json`).
    pub(crate) units: Vec<UnitRun>,
}

/// One unit of a phase as it ran: its steps, how long it took, whether it committed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UnitRun {
    pub first_step: usize,
    pub last_step: usize,
    /// What each step does (the plan's `why`), in order.
    pub steps: Vec<String>,
    pub elapsed_ms: u64,
    pub ok: bool,
}

impl Session {
    /// Connect, create/migrate schema `planner`, and take the advisory lock (refusing, with the
    /// holder's pid, when another planner is running against this database).
    pub async fn open(url: &str, opts: SessionOptions) -> anyhow::Result<Session> {
        Session::connect(url, opts, true, "planner").await
    }

    /// [`Session::open`] with an application_name such as `planner/<plan>/<phase>`, so DBAs see
    /// what runs in pg_stat_activity.
    pub async fn open_as(url: &str, opts: SessionOptions, label: &str) -> anyhow::Result<Session> {
        Session::connect(url, opts, true, label).await
    }

    /// A session that only reads state (`status`): it does not take the advisory lock, so it
    /// works while another planner is applying a phase.
    pub async fn observe(url: &str) -> anyhow::Result<Session> {
        Session::connect(url, SessionOptions::default(), false, "planner/status").await
    }

    /// [`Session::observe`] under another application_name (`planner/<plan>/verify`).
    pub async fn observe_as(url: &str, label: &str) -> anyhow::Result<Session> {
        Session::connect(url, SessionOptions::default(), false, label).await
    }

    async fn connect(url: &str, opts: SessionOptions, lock: bool, label: &str) -> anyhow::Result<Session> {
        let mut conn = if lock {
            super::connect::connect_session(url, label).await?
        } else {
            super::connect::connect(url, label).await?
        };
        let got: bool = !lock
            || sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                .bind(LOCK_KEY1)
                .bind(LOCK_KEY2)
                .fetch_one(&mut conn)
                .await?;
        if !got {
            let holder: Option<(i32, Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT l.pid, a.application_name, host(a.client_addr) || ':' || a.client_port
                   FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
                  WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND l.classid = $1::int::oid AND l.objid = $2::int::oid AND l.objsubid = 2",
            )
            .bind(LOCK_KEY1)
            .bind(LOCK_KEY2)
            .fetch_optional(&mut conn)
            .await?;
            let who = match holder {
                Some((pid, app, addr)) => format!(
                    "pid {pid} (the server backend's pid, see pg_stat_activity; application_name `{}`, client {})",
                    app.unwrap_or_default(),
                    addr.unwrap_or_else(|| "local socket".to_string())
                ),
                None => "another session".to_string(),
            };
            return Err(Refusal::new(format!(
                "another planner is already running against this database: {who}; \
                 wait for it to finish (planner never interleaves two runs)"
            ))
            .into());
        }
        if lock {
            let writer_free: bool =
                sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2) AND pg_advisory_unlock($1, $2)")
                    .bind(LOCK_KEY1)
                    .bind(WRITER_KEY2)
                    .fetch_one(&mut conn)
                    .await?;
            if !writer_free {
                return Err(Refusal::new(
                    "the backfill writer of an earlier planner run is still writing to this database \
                     (its main session is gone, it stops after its current batch); run the command again in a few seconds",
                )
                .into());
            }
        }
        // Only a session that may write (holds the lock) creates or migrates schema planner;
        // an observing one (status, verify, dry runs) changes nothing.
        if lock {
            super::state::ensure_schema(&mut conn).await?;
        }
        Ok(Session { conn, url: url.to_string(), opts, locked: lock, pid: None, units: Vec::new() })
    }

    /// The server pid of this session (the one holding planner's advisory lock).
    pub async fn backend_pid(&mut self) -> anyhow::Result<i32> {
        Ok(sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut self.conn).await?)
    }

    /// The units run so far by this session's phase runs, oldest first (emptied).
    pub fn take_units(&mut self) -> Vec<UnitRun> {
        std::mem::take(&mut self.units)
    }

    /// The underlying connection (planner's advisory lock is held on it).
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Close after `result`: when the work already failed (perhaps because this very session was
    /// terminated), its error is the one to report, not a second one from closing.
    pub async fn close_after<T>(self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        match result {
            Ok(value) => {
                self.close().await?;
                Ok(value)
            }
            Err(err) => {
                let _ = self.close().await;
                Err(err)
            }
        }
    }

    /// Release the advisory lock and close.
    pub async fn close(mut self) -> anyhow::Result<()> {
        if self.locked {
            sqlx::query("SELECT pg_advisory_unlock($1, $2)")
                .bind(LOCK_KEY1)
                .bind(LOCK_KEY2)
                .execute(&mut self.conn)
                .await?;
        }
        self.conn.close().await?;
        Ok(())
    }

    /// The limits the script runs under: this session's flags.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts { lock: self.opts.lock_timeout, statement: self.opts.statement_timeout }
    }

    /// Run one unit with lock_timeout, retrying lock timeouts with backoff and jitter. When it
    /// gives up, nothing of the unit is applied and the error names what blocked it.
    pub async fn run_unit(&mut self, unit: &Unit) -> anyhow::Result<()> {
        self.run_unit_recorded(unit, None).await
    }

    /// [`run_unit`](Self::run_unit), recording in planner.phases that the phase's first
    /// `progress.2` steps are done, atomically with the unit when it runs in a transaction.
    pub async fn run_unit_recorded(
        &mut self,
        unit: &Unit,
        progress: Option<(&str, crate::plan::PhaseKind, usize)>,
    ) -> anyhow::Result<()> {
        let mut attempt = 0u32;
        loop {
            let result = self.try_unit(unit, progress).await;
            let err = match result {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if !is_lock_timeout(&err) && sqlstate(&err).as_deref() != Some(DEADLOCK_DETECTED) {
                return Err(err);
            }
            if attempt >= self.opts.retries {
                let table = unit.statements.iter().find_map(|s| s.step.table.clone());
                let blockers = self
                    .describe_blockers(table.as_ref())
                    .await
                    .unwrap_or_else(|e| format!("(could not list blockers: {e})"));
                let first = unit.statements.first().map(|s| s.step.why.as_str()).unwrap_or_default();
                return Err(Refusal::new(format!(
                    "gave up after {} attempts: could not get the lock for `{first}` within lock_timeout {}; \
                     nothing of this step was applied.\n{blockers}\n  help: end or wait out the blocking \
                     session, then run the same command again (or raise --lock-timeout / --retries)",
                    attempt + 1,
                    humantime::format_duration(self.opts.lock_timeout)
                ))
                .into());
            }
            tokio::time::sleep(backoff(self.opts.backoff, attempt)).await;
            attempt += 1;
        }
    }

    /// Run the unit's statements exactly as the script has them (the same text the files hold).
    async fn try_unit(
        &mut self,
        unit: &Unit,
        progress: Option<(&str, crate::plan::PhaseKind, usize)>,
    ) -> anyhow::Result<()> {
        if self.pid.is_none() && unit.statements.iter().any(|s| s.step.scans_table) {
            self.pid = Some(self.backend_pid().await?);
        }
        let watch = self.pid.map(|pid| (self.url.clone(), pid));
        // A statement that scans the table (CREATE INDEX CONCURRENTLY, VALIDATE) can run for
        // minutes: watch it from a second connection and say how far it got.
        let watched = |s: &crate::plan::script::Statement| {
            watch.clone().filter(|_| s.step.scans_table).map(|(url, pid)| super::progress::Watch {
                url,
                pid,
                what: s.step.why.clone(),
            })
        };
        match unit.tx {
            TxMode::InTransaction | TxMode::OwnTransaction => {
                let mut tx = self.conn.begin().await?;
                for s in &unit.statements {
                    for setup in &s.setup {
                        sqlx::raw_sql(dynamic(setup.as_str())).execute(&mut *tx).await?;
                    }
                    let run = sqlx::raw_sql(dynamic(s.sql.as_str())).execute(&mut *tx);
                    super::progress::while_running(run, watched(s))
                        .await
                        .with_context(|| step_context(&s.step, &s.sql))?;
                }
                record_progress(&mut tx, progress).await?;
                tx.commit().await?;
            }
            TxMode::NoTransaction => {
                for s in &unit.statements {
                    self.drop_invalid_index_left_by(&s.step).await?;
                    for setup in &s.setup {
                        sqlx::raw_sql(dynamic(setup.as_str())).execute(&mut self.conn).await?;
                    }
                    let run = sqlx::raw_sql(dynamic(s.sql.as_str())).execute(&mut self.conn);
                    let res = super::progress::while_running(run, watched(s)).await;
                    for teardown in &s.teardown {
                        sqlx::raw_sql(dynamic(teardown.as_str())).execute(&mut self.conn).await?;
                    }
                    if let Err(e) = res {
                        // A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind.
                        self.drop_invalid_index_left_by(&s.step).await?;
                        return Err(anyhow::Error::new(e).context(step_context(&s.step, &s.sql)));
                    }
                }
                record_progress(&mut self.conn, progress).await?;
            }
        }
        Ok(())
    }

    /// If the step builds an index CONCURRENTLY and that index exists but is invalid (a failed
    /// earlier build), drop it so the build can run again.
    async fn drop_invalid_index_left_by(&mut self, step: &Step) -> anyhow::Result<()> {
        let Some((table, index)) = step.op.concurrent_index() else {
            return Ok(());
        };
        let qualified = format!("{}.{}", table.schema, index);
        let invalid: Option<bool> = sqlx::query_scalar(
            "SELECT NOT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)",
        )
        .bind(&qualified)
        .fetch_optional(&mut self.conn)
        .await?;
        if invalid == Some(true) {
            let drop =
                crate::sql::ddl::Ddl::DropIndexConcurrently { table: table.clone(), index: index.clone() };
            sqlx::raw_sql(dynamic(drop.render()))
                .execute(&mut self.conn)
                .await
                .with_context(|| format!("dropping invalid index {qualified} left by a failed build"))?;
        }
        Ok(())
    }

    /// Who holds locks on `table` (or, without a table, the oldest open transactions).
    pub async fn describe_blockers(
        &mut self,
        table: Option<&crate::sql::QualifiedName>,
    ) -> anyhow::Result<String> {
        let rows: Vec<BlockerRow> =
            match table {
                Some(t) => sqlx::query_as(
                    "SELECT l.pid, l.mode, a.state, a.query, extract(epoch FROM now() - a.xact_start)::float8
                       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                      WHERE l.granted AND l.relation = to_regclass($1) AND l.pid <> pg_backend_pid()
                      ORDER BY a.xact_start NULLS LAST LIMIT 5",
                )
                .bind(t.to_string())
                .fetch_all(&mut self.conn)
                .await?,
                None => Vec::new(),
            };
        let rows = if rows.is_empty() {
            sqlx::query_as(
                "SELECT a.pid, 'open transaction'::text, a.state, a.query, extract(epoch FROM now() - a.xact_start)::float8
                   FROM pg_stat_activity a
                  WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL
                  ORDER BY a.xact_start LIMIT 5",
            )
            .fetch_all(&mut self.conn)
            .await?
        } else {
            rows
        };
        if rows.is_empty() {
            return Ok("  blocked by: no blocking session is visible any more".to_string());
        }
        let on = table.map(|t| format!(" on {}", t.display_short())).unwrap_or_default();
        let mut out = format!("  blocked{on} by:");
        for (pid, mode, state, query, age) in rows {
            out.push_str(&format!(
                "\n    pid {pid} holds {mode} ({}, transaction open {:.1}s): {}",
                state.unwrap_or_else(|| "?".into()),
                age.unwrap_or(0.0),
                one_line(query.as_deref().unwrap_or("?"))
            ));
        }
        Ok(out)
    }
}

/// Record how many steps of a phase committed (see `state::steps_done_sql`).
async fn record_progress(
    conn: &mut PgConnection,
    progress: Option<(&str, crate::plan::PhaseKind, usize)>,
) -> anyhow::Result<()> {
    if let Some((plan, phase, done)) = progress {
        super::state::set_steps_done(conn, plan, phase, done).await?;
    }
    Ok(())
}

/// pid, lock mode, state, query, seconds the transaction has been open.
type BlockerRow = (i32, String, Option<String>, Option<String>, Option<f64>);

fn step_context(step: &Step, sql: &str) -> String {
    let on = step.table.as_ref().map(|t| format!(" on {}", t.display_short())).unwrap_or_default();
    format!("step `{}`{on} failed: {}", step.why, one_line(sql))
}

fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s
    }
}

/// Is this error (anywhere in its chain) a lock_timeout?
pub fn is_lock_timeout(err: &anyhow::Error) -> bool {
    sqlstate(err).as_deref() == Some(LOCK_NOT_AVAILABLE)
}

/// The SQLSTATE of the first database error in the chain.
pub fn sqlstate(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|c| {
        c.downcast_ref::<sqlx::Error>()
            .and_then(|e| e.as_database_error())
            .and_then(|d| d.code())
            .map(|c| c.into_owned())
    })
}

/// Exponential backoff with ±50% jitter, so retrying planners and app retries do not align.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16)).min(Duration::from_secs(10));
    let jitter = random_unit(); // 0.0..1.0
    exp.mul_f64(0.5 + jitter)
}

fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded per instance from OS randomness: enough for jitter, no extra crate.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// A URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &creds[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        let base = Duration::from_millis(200);
        for attempt in 0..20 {
            let d = backoff(base, attempt);
            let exp = base.saturating_mul(1u32 << attempt.min(16)).min(Duration::from_secs(10));
            assert!(d >= exp.mul_f64(0.5) && d <= exp.mul_f64(1.5), "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
