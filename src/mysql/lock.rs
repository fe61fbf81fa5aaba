//! One planner per database: `GET_LOCK('planner:<database>', 0)` on a connection of its own,
//! held for the whole run.
//!
//! `GET_LOCK` belongs to a connection (not a transaction: a ROLLBACK keeps it, a disconnect frees
//! it) and its names are server-wide, so the name carries the database. A dedicated connection
//! keeps it independent of the session that runs DDL (which may be reconnected).

use anyhow::Context;
use sha2::Digest;
use sqlx::{Connection, MySqlConnection};

use super::connect::MyConnConfig;
use crate::error::Refusal;

/// MySQL refuses lock names longer than 64 characters (MariaDB accepts more).
const MAX_LOCK_NAME: usize = 64;

/// The lock name for `database`: `planner:<database>`, or `planner:<sha256 prefix>` when that
/// would be longer than MySQL allows.
pub fn lock_name(database: &str) -> String {
    let plain = format!("planner:{database}");
    if plain.chars().count() <= MAX_LOCK_NAME {
        return plain;
    }
    let digest = hex::encode(sha2::Sha256::digest(database.as_bytes()));
    format!("planner:{}", &digest[..MAX_LOCK_NAME - "planner:".len()])
}

/// The held lock. Dropping it closes the connection, which frees the lock too.
pub struct PlannerLock {
    conn: MySqlConnection,
    name: String,
    /// `CONNECTION_ID()` of the holding connection (what a second planner is told).
    pub connection_id: u64,
}

/// The session that holds a lock, from PROCESSLIST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub connection_id: i64,
    pub user: Option<String>,
    pub host: Option<String>,
    /// Seconds in its current state.
    pub time_s: Option<i64>,
    pub command: Option<String>,
    pub info: Option<String>,
}

impl PlannerLock {
    /// Take the lock for the URL's database, or refuse naming the planner that holds it.
    pub async fn acquire(config: &MyConnConfig) -> anyhow::Result<PlannerLock> {
        let mut conn = config.connect().await?;
        // The lock lives as long as this connection: keep the server from closing it as idle
        // (wait_timeout, 8 h by default) during a long backfill. 31536000 is the server maximum.
        sqlx::raw_sql("SET SESSION wait_timeout = 31536000")
            .execute(&mut conn)
            .await
            .context("setting up the lock connection")?;
        let (database, connection_id): (Option<String>, u64) =
            sqlx::query_as("SELECT DATABASE(), CONNECTION_ID()").fetch_one(&mut conn).await?;
        let database = database.context("the connection has no current database")?;
        let name = lock_name(&database);
        let got: Option<i64> = sqlx::query_scalar("SELECT CAST(GET_LOCK(?, 0) AS SIGNED)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .with_context(|| format!("taking lock `{name}`"))?;
        if got == Some(1) {
            return Ok(PlannerLock { conn, name, connection_id });
        }
        let holder = lock_holder(&mut conn, &name).await.ok().flatten();
        let _ = conn.close().await;
        Err(refusal(&database, &name, holder.as_ref()).into())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Is the lock still ours? (False when the server killed or dropped the connection.)
    pub async fn still_held(&mut self) -> bool {
        let held: Result<Option<i64>, _> =
            sqlx::query_scalar("SELECT CAST(IS_USED_LOCK(?) = CONNECTION_ID() AS SIGNED)")
                .bind(&self.name)
                .fetch_one(&mut self.conn)
                .await;
        matches!(held, Ok(Some(1)))
    }

    /// Release the lock and close its connection.
    pub async fn release(mut self) -> anyhow::Result<()> {
        sqlx::query("SELECT RELEASE_LOCK(?)").bind(&self.name).execute(&mut self.conn).await?;
        self.conn.close().await?;
        Ok(())
    }
}

/// Who holds lock `name` now (None when it is free again).
pub async fn lock_holder(conn: &mut MySqlConnection, name: &str) -> anyhow::Result<Option<LockHolder>> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT CAST(IS_USED_LOCK(?) AS SIGNED)").bind(name).fetch_one(&mut *conn).await?;
    let Some(id) = id else { return Ok(None) };
    type Row = (Option<String>, Option<String>, Option<i64>, Option<String>, Option<String>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT USER, HOST, CAST(TIME AS SIGNED), COMMAND, INFO FROM information_schema.PROCESSLIST WHERE ID = ?",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let (user, host, time_s, command, info) = row.unwrap_or_default();
    Ok(Some(LockHolder { connection_id: id, user, host, time_s, command, info }))
}

fn refusal(database: &str, name: &str, holder: Option<&LockHolder>) -> Refusal {
    let who = match holder {
        Some(h) => format!(
            "connection {} (user {}, host {}, {} for {} s{}) holds lock `{name}`",
            h.connection_id,
            h.user.as_deref().unwrap_or("?"),
            h.host.as_deref().unwrap_or("?"),
            h.command.as_deref().unwrap_or("?"),
            h.time_s.unwrap_or(0),
            h.info.as_deref().map(|i| format!(", running: {}", super::ddl::one_line(i))).unwrap_or_default()
        ),
        None => format!("another session holds lock `{name}`"),
    };
    let kill = holder.map(|h| format!(" (`KILL {}` ends it)", h.connection_id)).unwrap_or_default();
    Refusal::new(format!(
        "another planner is already running against database `{database}`: {who}\n  help: wait for it to finish \
         (planner never interleaves two runs); if that planner is gone for good, end its connection{kill}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_fit_mysqls_limit() {
        assert_eq!(lock_name("shop"), "planner:shop");
        let long = "d".repeat(64);
        let name = lock_name(&long);
        assert_eq!(name.chars().count(), 64);
        assert!(name.starts_with("planner:"));
        assert_ne!(lock_name(&"e".repeat(64)), name, "different databases, different locks");
    }

    #[test]
    fn refusal_names_the_holder() {
        let h = LockHolder {
            connection_id: 42,
            user: Some("deploy".into()),
            host: Some("10.0.0.5:51234".into()),
            time_s: Some(17),
            command: Some("Sleep".into()),
            info: None,
        };
        let m = refusal("shop", "planner:shop", Some(&h)).to_string();
        assert!(m.contains("connection 42") && m.contains("deploy") && m.contains("10.0.0.5:51234"), "{m}");
        assert!(m.contains("17 s") && m.contains("KILL 42"), "{m}");
    }
}
