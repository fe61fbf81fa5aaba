//! PostgreSQL behind the runtime seam: connection strings and TLS ([`connect`]), server error
//! descriptions ([`failure`]), the `planner` state schema ([`state`]), and [`PgBackend`], which
//! implements [`Backend`] by delegating to those and to `model::introspect`.

pub mod connect;
pub mod failure;
pub mod state;

use sqlx::{Connection, PgConnection};

use super::{Backend, ErrorClass, Purpose};
use crate::dialect::Flavour;
use crate::error::Refusal;
use crate::model::SchemaModel;
use crate::sql::QualifiedName;

/// Advisory lock key pair: ("plan" as int4, 1). One planner at a time per database.
pub(crate) const LOCK_KEY1: i32 = crate::plan::state_schema::LOCK_KEY1;
pub(crate) const LOCK_KEY2: i32 = crate::plan::state_schema::LOCK_KEY2;
/// Held by the backfill's writing connection for as long as it writes. A new planner needs it
/// free as well: if the main session is terminated (its lock gone) while the backfill pool still
/// writes, no second planner is admitted until that writer has stopped.
pub(crate) const WRITER_KEY2: i32 = 2;

/// SQLSTATE lock_not_available: lock_timeout expired (or NOWAIT failed).
pub(crate) const LOCK_NOT_AVAILABLE: &str = "55P03";
/// SQLSTATE deadlock_detected: the server rolled our unit back; safe to retry like a lock timeout.
pub(crate) const DEADLOCK_DETECTED: &str = "40P01";

/// One PostgreSQL connection, with whether it holds planner's advisory lock.
pub struct PgBackend {
    pub(crate) conn: PgConnection,
    locked: bool,
}

impl PgBackend {
    /// The connection, for code that genuinely needs PostgreSQL (running a unit's statements).
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
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

/// pid, lock mode, state, query, seconds the transaction has been open.
type BlockerRow = (i32, String, Option<String>, Option<String>, Option<f64>);

impl Backend for PgBackend {
    fn flavour(&self) -> Flavour {
        Flavour::Postgresql
    }

    async fn connect(url: &str, label: &str, purpose: Purpose) -> anyhow::Result<Self> {
        let conn = match purpose {
            Purpose::Apply => connect::connect_session(url, label).await?,
            Purpose::Observe => connect::connect(url, label).await?,
        };
        Ok(PgBackend { conn, locked: false })
    }

    async fn session_id(&mut self) -> anyhow::Result<i64> {
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut self.conn).await?;
        Ok(pid.into())
    }

    async fn acquire_planner_lock(&mut self) -> anyhow::Result<()> {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(LOCK_KEY1)
            .bind(LOCK_KEY2)
            .fetch_one(&mut self.conn)
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
            .fetch_optional(&mut self.conn)
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
        self.locked = true;
        let writer_free: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2) AND pg_advisory_unlock($1, $2)")
                .bind(LOCK_KEY1)
                .bind(WRITER_KEY2)
                .fetch_one(&mut self.conn)
                .await?;
        if !writer_free {
            return Err(Refusal::new(
                "the backfill writer of an earlier planner run is still writing to this database \
                 (its main session is gone, it stops after its current batch); run the command again in a few seconds",
            )
            .into());
        }
        Ok(())
    }

    async fn release_planner_lock(&mut self) -> anyhow::Result<()> {
        if self.locked {
            sqlx::query("SELECT pg_advisory_unlock($1, $2)")
                .bind(LOCK_KEY1)
                .bind(LOCK_KEY2)
                .execute(&mut self.conn)
                .await?;
            self.locked = false;
        }
        Ok(())
    }

    async fn ensure_state(&mut self) -> anyhow::Result<()> {
        state::ensure_schema(&mut self.conn).await
    }

    fn classify(&self, err: &anyhow::Error) -> ErrorClass {
        match sqlstate(err).as_deref() {
            Some(LOCK_NOT_AVAILABLE) => ErrorClass::LockTimeout,
            Some(DEADLOCK_DETECTED) => ErrorClass::Deadlock,
            _ => ErrorClass::Other,
        }
    }

    async fn describe_blockers(&mut self, table: Option<&QualifiedName>) -> anyhow::Result<String> {
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

    async fn introspect(&mut self, schemas: &[String]) -> anyhow::Result<SchemaModel> {
        crate::model::introspect::introspect(&mut self.conn, schemas).await
    }

    async fn close(mut self) -> anyhow::Result<()> {
        self.release_planner_lock().await?;
        self.conn.close().await?;
        Ok(())
    }
}

/// A statement on one line, shortened, for blocker reports.
pub(crate) fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s
    }
}
