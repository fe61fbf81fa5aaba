//! One connection per run: holds planner's advisory lock, sets timeouts, retries on lock waits.
//!
//! Every piece of generated SQL reaches the server through [`dynamic`], the single place where
//! run-time SQL text is declared safe (it comes from a plan, whose identifiers are always quoted).

use std::time::Duration;

use anyhow::Context;
use sqlx::{Connection, PgConnection};

use crate::error::Refusal;
use crate::plan::{Step, TxMode};

/// Advisory lock key pair: ("plan" as int4, 1). One planner at a time per database.
const LOCK_KEY1: i32 = 0x706c_616e;
const LOCK_KEY2: i32 = 1;

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
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            lock_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(30),
            retries: 5,
            backoff: Duration::from_millis(200),
        }
    }
}

/// A session against one database, holding planner's advisory lock for its lifetime.
pub struct Session {
    pub(crate) conn: PgConnection,
    pub(crate) url: String,
    pub opts: SessionOptions,
    locked: bool,
}

/// A unit of work run atomically: one transaction of consecutive in-transaction steps, or a
/// single no-transaction step.
#[derive(Debug, Clone)]
pub struct Unit<'a> {
    pub steps: Vec<&'a Step>,
    pub tx: TxMode,
}

/// Group steps into units: consecutive in-transaction steps share one transaction.
pub fn units(steps: &[Step]) -> Vec<Unit<'_>> {
    let mut out: Vec<Unit<'_>> = Vec::new();
    for step in steps {
        match (step.transaction, out.last_mut()) {
            (TxMode::InTransaction, Some(last)) if last.tx == TxMode::InTransaction => last.steps.push(step),
            (tx, _) => out.push(Unit { steps: vec![step], tx }),
        }
    }
    out
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
                "SELECT l.pid, a.application_name, a.client_addr::text
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
        super::state::ensure_schema(&mut conn).await?;
        Ok(Session { conn, url: url.to_string(), opts, locked: lock })
    }

    /// The underlying connection (planner's advisory lock is held on it).
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
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

    fn timeout_for(&self, step: &Step) -> Duration {
        timeout_for(&self.opts, step)
    }

    /// Run one unit with lock_timeout, retrying lock timeouts with backoff and jitter. When it
    /// gives up, nothing of the unit is applied and the error names what blocked it.
    pub async fn run_unit(&mut self, unit: &Unit<'_>) -> anyhow::Result<()> {
        let mut attempt = 0u32;
        loop {
            let result = self.try_unit(unit).await;
            let err = match result {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if !is_lock_timeout(&err) && sqlstate(&err).as_deref() != Some(DEADLOCK_DETECTED) {
                return Err(err);
            }
            if attempt >= self.opts.retries {
                let table = unit.steps.iter().find_map(|s| s.table.clone());
                let blockers = self
                    .describe_blockers(table.as_ref())
                    .await
                    .unwrap_or_else(|e| format!("(could not list blockers: {e})"));
                let first = unit.steps.first().map(|s| s.why.as_str()).unwrap_or_default();
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

    async fn try_unit(&mut self, unit: &Unit<'_>) -> anyhow::Result<()> {
        let lock_ms = self.opts.lock_timeout.as_millis();
        match unit.tx {
            TxMode::InTransaction | TxMode::OwnTransaction => {
                let opts = self.opts.clone();
                let mut tx = self.conn.begin().await?;
                sqlx::raw_sql(dynamic(format!("SET LOCAL lock_timeout = '{lock_ms}ms'")))
                    .execute(&mut *tx)
                    .await?;
                for step in &unit.steps {
                    let sql = step.sql.as_str();
                    let st = timeout_for(&opts, step).as_millis();
                    sqlx::raw_sql(dynamic(format!("SET LOCAL statement_timeout = '{st}ms'")))
                        .execute(&mut *tx)
                        .await?;
                    sqlx::raw_sql(dynamic(sql))
                        .execute(&mut *tx)
                        .await
                        .with_context(|| step_context(step, sql))?;
                }
                tx.commit().await?;
            }
            TxMode::NoTransaction => {
                for step in &unit.steps {
                    let sql = step.sql.as_str();
                    let st = self.timeout_for(step).as_millis();
                    sqlx::raw_sql(dynamic(format!(
                        "SET lock_timeout = '{lock_ms}ms'; SET statement_timeout = '{st}ms'"
                    )))
                    .execute(&mut self.conn)
                    .await?;
                    self.drop_invalid_index_left_by(step, sql).await?;
                    let res = sqlx::raw_sql(dynamic(sql)).execute(&mut self.conn).await;
                    sqlx::raw_sql("RESET lock_timeout; RESET statement_timeout")
                        .execute(&mut self.conn)
                        .await?;
                    if let Err(e) = res {
                        // A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind.
                        self.drop_invalid_index_left_by(step, sql).await?;
                        return Err(anyhow::Error::new(e).context(step_context(step, sql)));
                    }
                }
            }
        }
        Ok(())
    }

    /// If `sql` is a CREATE INDEX CONCURRENTLY whose index exists but is invalid (a failed earlier
    /// build), drop it so the build can run again.
    async fn drop_invalid_index_left_by(&mut self, step: &Step, sql: &str) -> anyhow::Result<()> {
        let (Some(index), Some(table)) = (concurrent_index_name(sql), step.table.as_ref()) else {
            return Ok(());
        };
        let qualified = format!("{}.{}", table.schema, quote_ident(&index));
        let invalid: Option<bool> = sqlx::query_scalar(
            "SELECT NOT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)",
        )
        .bind(&qualified)
        .fetch_optional(&mut self.conn)
        .await?;
        if invalid == Some(true) {
            sqlx::raw_sql(dynamic(format!("DROP INDEX CONCURRENTLY IF EXISTS {qualified}")))
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

/// pid, lock mode, state, query, seconds the transaction has been open.
type BlockerRow = (i32, String, Option<String>, Option<String>, Option<f64>);

fn timeout_for(opts: &SessionOptions, step: &Step) -> Duration {
    if step.scans_table {
        Duration::ZERO
    } else {
        opts.statement_timeout
    }
}

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

/// `"name"` quoting for an identifier string taken from SQL text.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The index name of `CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] "name" ...`.
fn concurrent_index_name(sql: &str) -> Option<String> {
    let rest = sql.trim_start();
    let upper = rest.to_ascii_uppercase();
    let prefix_len = ["CREATE INDEX CONCURRENTLY", "CREATE UNIQUE INDEX CONCURRENTLY"]
        .iter()
        .find(|p| upper.starts_with(*p))
        .map(|p| p.len())?;
    let mut rest = rest[prefix_len..].trim_start();
    if rest.to_ascii_uppercase().starts_with("IF NOT EXISTS") {
        rest = rest["IF NOT EXISTS".len()..].trim_start();
    }
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = quoted.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    name.push('"');
                } else {
                    return Some(name);
                }
            } else {
                name.push(c);
            }
        }
        None
    } else {
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        (!name.is_empty() && !name.eq_ignore_ascii_case("ON")).then(|| name.to_lowercase())
    }
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
    fn finds_the_index_name_of_a_concurrent_build() {
        assert_eq!(
            concurrent_index_name(
                "CREATE INDEX CONCURRENTLY \"users_full_name_idx\" ON \"public\".\"users\" (x)"
            ),
            Some("users_full_name_idx".into())
        );
        assert_eq!(
            concurrent_index_name("create unique index concurrently if not exists \"a\"\"b\" on t (x)"),
            Some("a\"b".into())
        );
        assert_eq!(concurrent_index_name("CREATE INDEX CONCURRENTLY Foo ON t (x)"), Some("foo".into()));
        assert_eq!(concurrent_index_name("ALTER TABLE t ADD COLUMN x int"), None);
    }

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

    #[test]
    fn consecutive_in_transaction_steps_share_a_unit() {
        let step = |tx| Step {
            why: "x".into(),
            sql: "SELECT 1".into(),
            lock: crate::plan::Lock::None,
            table: None,
            transaction: tx,
            scans_table: false,
            undo: None,
            irreversible: None,
        };
        let steps = vec![
            step(TxMode::InTransaction),
            step(TxMode::InTransaction),
            step(TxMode::NoTransaction),
            step(TxMode::NoTransaction),
            step(TxMode::InTransaction),
        ];
        let sizes: Vec<usize> = units(&steps).iter().map(|u| u.steps.len()).collect();
        assert_eq!(sizes, vec![2, 1, 1, 1]);
    }
}
