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

use crate::backend::postgres::{one_line, PgBackend, LOCK_NOT_AVAILABLE};
use crate::backend::{Backend, Purpose};

pub(crate) use crate::backend::dynamic;

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
    /// The database at run time (see [`crate::backend`]); [`Session::backend`] reaches it.
    backend: PgBackend,
    pub(crate) url: String,
    pub opts: SessionOptions,
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
        let purpose = if lock { Purpose::Apply } else { Purpose::Observe };
        let mut backend = PgBackend::connect(url, label, purpose).await?;
        // Only a session that may write (holds the lock) creates or migrates schema planner;
        // an observing one (status, verify, dry runs) changes nothing.
        if lock {
            backend.acquire_planner_lock().await?;
            backend.ensure_state().await?;
        }
        Ok(Session { backend, url: url.to_string(), opts, pid: None, units: Vec::new() })
    }

    /// The server pid of this session (the one holding planner's advisory lock).
    pub async fn backend_pid(&mut self) -> anyhow::Result<i32> {
        Ok(i32::try_from(self.backend.session_id().await?)?)
    }

    /// The runtime backend this session runs on (connection, lock, state, error classes).
    pub fn backend(&mut self) -> &mut PgBackend {
        &mut self.backend
    }

    /// The units run so far by this session's phase runs, oldest first (emptied).
    pub fn take_units(&mut self) -> Vec<UnitRun> {
        std::mem::take(&mut self.units)
    }

    /// The underlying connection (planner's advisory lock is held on it).
    pub fn conn(&mut self) -> &mut PgConnection {
        self.backend.conn()
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
    pub async fn close(self) -> anyhow::Result<()> {
        self.backend.close().await
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
            if !self.backend.classify(&err).retryable() {
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
                let mut tx = self.backend.conn().begin().await?;
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
                        sqlx::raw_sql(dynamic(setup.as_str())).execute(self.backend.conn()).await?;
                    }
                    let run = sqlx::raw_sql(dynamic(s.sql.as_str())).execute(self.backend.conn());
                    let res = super::progress::while_running(run, watched(s)).await;
                    for teardown in &s.teardown {
                        sqlx::raw_sql(dynamic(teardown.as_str())).execute(self.backend.conn()).await?;
                    }
                    if let Err(e) = res {
                        // A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind.
                        self.drop_invalid_index_left_by(&s.step).await?;
                        return Err(anyhow::Error::new(e).context(step_context(&s.step, &s.sql)));
                    }
                }
                record_progress(self.backend.conn(), progress).await?;
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
        .fetch_optional(self.backend.conn())
        .await?;
        if invalid == Some(true) {
            let drop =
                crate::sql::ddl::Ddl::DropIndexConcurrently { table: table.clone(), index: index.clone() };
            sqlx::raw_sql(dynamic(drop.render()))
                .execute(self.backend.conn())
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
        self.backend.describe_blockers(table).await
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

fn step_context(step: &Step, sql: &str) -> String {
    let on = step.table.as_ref().map(|t| format!(" on {}", t.display_short())).unwrap_or_default();
    format!("step `{}`{on} failed: {}", step.why, one_line(sql))
}

/// Is this error (anywhere in its chain) a lock_timeout?
pub fn is_lock_timeout(err: &anyhow::Error) -> bool {
    sqlstate(err).as_deref() == Some(LOCK_NOT_AVAILABLE)
}

pub use crate::backend::postgres::sqlstate;

use crate::backend::retry::backoff;

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
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
