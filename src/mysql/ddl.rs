//! Running one DDL statement so it never queues the application for long.
//!
//! A DDL statement waits for the table's metadata lock behind every open transaction that read
//! the table, and every later query on the table queues behind the waiting DDL (measured: 4 s
//! for a SELECT behind an idle transaction). `lock_wait_timeout` (set by [`MySession::open`])
//! bounds that wait; here the statement is retried a bounded number of times with backoff and
//! jitter, and when it gives up the error names the sessions that held the table.
//!
//! Statements go through the text protocol (`raw_sql`): MySQL 8 refuses CREATE TRIGGER as a
//! prepared statement.

use std::time::{Duration, Instant};

use sqlx::MySqlConnection;

use super::connect::{whole_seconds, MySession};
use super::error::{classify, describe, error_number, DdlError, ErrorKind};

/// One statement to run, with what the runner needs to know about it.
#[derive(Debug, Clone)]
pub struct DdlStatement<'a> {
    pub sql: &'a str,
    /// The table it changes: blockers are looked up on it.
    pub table: Option<&'a str>,
    /// It reads the whole table (an index build, a rebuild): runs without `max_statement_time`,
    /// which would otherwise interrupt it half way and throw the work away.
    pub scans_table: bool,
}

impl<'a> DdlStatement<'a> {
    pub fn new(sql: &'a str) -> Self {
        DdlStatement { sql, table: None, scans_table: false }
    }
    pub fn on(mut self, table: &'a str) -> Self {
        self.table = Some(table);
        self
    }
    pub fn scanning(mut self) -> Self {
        self.scans_table = true;
        self
    }
}

/// A statement that ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdlRun {
    /// 1 when the first attempt succeeded.
    pub attempts: u32,
    pub elapsed: Duration,
}

/// A session that held the table (or had a transaction open) when a statement gave up.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Blocker {
    /// The thread id (`CONNECTION_ID()`, PROCESSLIST `ID`, the argument of `KILL`).
    pub thread_id: i64,
    /// What it holds: a metadata lock mode, or "open transaction".
    pub holds: String,
    pub user: Option<String>,
    pub host: Option<String>,
    pub db: Option<String>,
    /// PROCESSLIST `COMMAND` (`Sleep` = idle) and seconds in that state.
    pub command: Option<String>,
    pub time_s: Option<i64>,
    /// What it is running now, if anything.
    pub info: Option<String>,
    /// When its transaction started (INNODB_TRX), if it has one.
    pub trx_started: Option<String>,
}

impl MySession {
    /// Run `statement` with `lock_wait_timeout`, retrying lock waits and deadlocks up to
    /// `limits.retries` times with backoff and jitter. A refused algorithm is never retried.
    pub async fn run_ddl(&mut self, statement: &DdlStatement<'_>) -> Result<DdlRun, DdlError> {
        let started = Instant::now();
        let unbounded = statement.scans_table && self.server.is_mariadb();
        if unbounded {
            self.set_statement_time(None).await?;
        }
        let result = self.run_with_retries(statement).await;
        if unbounded {
            // The statement's own failure is the one to report, not a second one from restoring.
            let restored = self.set_statement_time(self.limits.statement_timeout).await;
            if result.is_ok() {
                restored?;
            }
        }
        result.map(|attempts| DdlRun { attempts, elapsed: started.elapsed() })
    }

    async fn run_with_retries(&mut self, statement: &DdlStatement<'_>) -> Result<u32, DdlError> {
        let mut attempt = 0u32;
        loop {
            let err = match sqlx::raw_sql(super::dynamic(statement.sql)).execute(&mut self.conn).await {
                Ok(_) => return Ok(attempt + 1),
                Err(e) => e,
            };
            // A locked group that failed half way leaves the session's LOCK TABLES in place.
            if statement.sql.starts_with("LOCK TABLES") {
                let _ = sqlx::raw_sql("UNLOCK TABLES").execute(&mut self.conn).await;
            }
            let kind = classify(&err);
            if kind.is_retryable() && attempt < self.limits.retries {
                tokio::time::sleep(crate::backend::retry::backoff(self.limits.backoff, attempt)).await;
                attempt += 1;
                continue;
            }
            let blockers = if kind.is_retryable() {
                blockers(&mut self.conn, statement.table, self.server.is_mariadb()).await.unwrap_or_default()
            } else {
                Vec::new()
            };
            return Err(self.failure(statement, kind, &err, attempt + 1, blockers));
        }
    }

    async fn set_statement_time(&mut self, limit: Option<Duration>) -> Result<(), DdlError> {
        let sql = format!("SET SESSION max_statement_time = {:.3}", limit.map_or(0.0, |d| d.as_secs_f64()));
        sqlx::raw_sql(super::dynamic(sql.as_str())).execute(&mut self.conn).await.map_err(|e| DdlError {
            kind: classify(&e),
            statement: sql.clone(),
            attempts: 1,
            number: error_number(&e),
            message: format!("setting up the session failed: {sql}: {}", describe(&e)),
            blockers: Vec::new(),
        })?;
        Ok(())
    }

    fn failure(
        &self,
        statement: &DdlStatement<'_>,
        kind: ErrorKind,
        err: &sqlx::Error,
        attempts: u32,
        blockers: Vec<Blocker>,
    ) -> DdlError {
        let sql = one_line(statement.sql);
        let cause = describe(err);
        let message = match kind {
            ErrorKind::LockWait | ErrorKind::Deadlock => {
                let what = if kind == ErrorKind::Deadlock {
                    "was chosen as a deadlock victim".to_string()
                } else {
                    format!(
                        "could not get its lock within lock_wait_timeout {} s",
                        whole_seconds(self.limits.lock_timeout)
                    )
                };
                let on = statement.table.map(|t| format!(" on `{t}`")).unwrap_or_default();
                let mut m = format!(
                    "gave up after {attempts} attempts: `{sql}`{on} {what} each time; nothing of it was applied \
                     ({cause})\n{}",
                    render_blockers(&blockers)
                );
                let kill = blockers.first().map(|b| format!(" (`KILL {}` ends it)", b.thread_id)).unwrap_or_default();
                m.push_str(&format!(
                    "\n  help: end or wait out the blocking session{kill}, then run the same command again \
                     (or raise --lock-timeout / --retries)"
                ));
                m
            }
            ErrorKind::AlgorithmRefused => format!(
                "the server refused `{sql}`: {cause}\n  help: done as asked it would copy the table or block writes; \
                 planner does not retry it: the plan needs another algorithm or an expand/contract change \
                 (or a shadow-copy tool such as gh-ost for this change)"
            ),
            ErrorKind::StatementTimeout => format!(
                "`{sql}` ran longer than the statement timeout{} and was rolled back ({cause})\n  help: raise \
                 --statement-timeout, or run it when the server is less busy",
                self.limits.statement_timeout.map(|d| format!(" of {}", humantime::format_duration(d))).unwrap_or_default()
            ),
            ErrorKind::ConnectionLost => format!(
                "the connection was lost while running `{sql}` ({cause}): whether it took effect is unknown, since \
                 DDL commits on its own\n  help: run the same command again; planner resumes from its recorded \
                 state and checks what is applied"
            ),
            ErrorKind::Other => format!("`{sql}` failed: {cause}"),
        };
        DdlError {
            kind,
            statement: statement.sql.to_string(),
            attempts,
            number: error_number(err),
            message,
            blockers,
        }
    }
}

fn render_blockers(blockers: &[Blocker]) -> String {
    if blockers.is_empty() {
        return "  blocked by: no blocking session is visible any more".to_string();
    }
    let mut out = "  blocked by:".to_string();
    for b in blockers {
        out.push_str(&format!(
            "\n    thread {} ({}@{}, db {}) holds {}: {} for {} s{}, {}",
            b.thread_id,
            b.user.as_deref().unwrap_or("?"),
            b.host.as_deref().unwrap_or("?"),
            b.db.as_deref().unwrap_or("-"),
            b.holds,
            b.command.as_deref().unwrap_or("?"),
            b.time_s.unwrap_or(0),
            b.trx_started.as_deref().map(|t| format!(", transaction open since {t}")).unwrap_or_default(),
            b.info.as_deref().map(one_line).unwrap_or_else(|| "idle".to_string()),
        ));
    }
    out
}

type BlockerRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// The sessions that may hold `table`'s metadata lock, from the most exact source available:
/// MariaDB's METADATA_LOCK_INFO plugin, MySQL's performance_schema.metadata_locks, else every
/// open InnoDB transaction (a plain SELECT in a transaction holds the lock and shows up there).
pub async fn blockers(
    conn: &mut MySqlConnection,
    table: Option<&str>,
    mariadb: bool,
) -> anyhow::Result<Vec<Blocker>> {
    let mut rows: Vec<BlockerRow> = Vec::new();
    if let Some(table) = table {
        let exact = if mariadb {
            let plugin: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'",
            )
            .fetch_optional(&mut *conn)
            .await?;
            plugin.map(|_| {
                "SELECT CAST(m.THREAD_ID AS SIGNED), CONCAT('metadata lock ', m.LOCK_MODE), p.USER, p.HOST, p.DB,
                        p.COMMAND, CAST(p.TIME AS SIGNED), p.INFO, CAST(t.trx_started AS CHAR)
                   FROM information_schema.METADATA_LOCK_INFO m
                   JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
                   LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = m.THREAD_ID
                  WHERE m.TABLE_SCHEMA = DATABASE() AND m.TABLE_NAME = ? AND m.THREAD_ID <> CONNECTION_ID()
                  ORDER BY p.TIME DESC LIMIT 5"
            })
        } else {
            Some(
                "SELECT CAST(th.PROCESSLIST_ID AS SIGNED), CONCAT('metadata lock ', m.LOCK_TYPE), p.USER, p.HOST, p.DB,
                        p.COMMAND, CAST(p.TIME AS SIGNED), p.INFO, CAST(t.trx_started AS CHAR)
                   FROM performance_schema.metadata_locks m
                   JOIN performance_schema.threads th ON th.THREAD_ID = m.OWNER_THREAD_ID
                   JOIN information_schema.PROCESSLIST p ON p.ID = th.PROCESSLIST_ID
                   LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = th.PROCESSLIST_ID
                  WHERE m.OBJECT_SCHEMA = DATABASE() AND m.OBJECT_NAME = ? AND m.LOCK_STATUS = 'GRANTED'
                    AND th.PROCESSLIST_ID <> CONNECTION_ID()
                  ORDER BY p.TIME DESC LIMIT 5",
            )
        };
        if let Some(sql) = exact {
            // performance_schema may be off (MariaDB's default): then the fallback below answers.
            rows = sqlx::query_as(sql).bind(table).fetch_all(&mut *conn).await.unwrap_or_default();
        }
    }
    if rows.is_empty() {
        rows = sqlx::query_as(
            "SELECT CAST(t.trx_mysql_thread_id AS SIGNED), 'an open transaction', p.USER, p.HOST, p.DB,
                    p.COMMAND, CAST(p.TIME AS SIGNED), p.INFO, CAST(t.trx_started AS CHAR)
               FROM information_schema.INNODB_TRX t
               JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
              WHERE t.trx_mysql_thread_id <> CONNECTION_ID()
              ORDER BY (p.DB <=> DATABASE()) DESC, t.trx_started LIMIT 5",
        )
        .fetch_all(&mut *conn)
        .await?;
    }
    Ok(rows
        .into_iter()
        .map(|(thread_id, holds, user, host, db, command, time_s, info, trx_started)| Blocker {
            thread_id,
            holds,
            user,
            host,
            db,
            command,
            time_s,
            info,
            trx_started,
        })
        .collect())
}

/// `s` on one line, at most 160 characters.
pub(crate) fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blockers_are_listed_with_what_ends_them() {
        let b = Blocker {
            thread_id: 212,
            holds: "an open transaction".into(),
            user: Some("app".into()),
            host: Some("10.1.2.3:4444".into()),
            db: Some("shop".into()),
            command: Some("Sleep".into()),
            time_s: Some(9),
            info: None,
            trx_started: Some("2026-01-01 10:00:00".into()),
        };
        let text = render_blockers(&[b]);
        assert!(text.contains("thread 212 (app@10.1.2.3:4444, db shop) holds an open transaction"), "{text}");
        assert!(text.contains("Sleep for 9 s") && text.contains("idle"), "{text}");
        assert!(render_blockers(&[]).contains("no blocking session"));
    }
}
