//! Running MySQL/MariaDB plans: the twin of the PostgreSQL executor over the `src/mysql` runtime
//! (sessions with `lock_wait_timeout`, the GET_LOCK planner lock, statement-by-statement state,
//! the keyset backfill).
//!
//! What differs from PostgreSQL follows from DDL committing statement by statement: a phase has
//! no transaction to roll back, so every statement is recorded before and after it runs, a run
//! that stopped resumes from the first statement not done (a statement that was in flight is
//! decided by looking at the catalog), and undo is explicit (`planner rollback`), never automatic.

pub mod apply;
pub mod effects;
pub mod load;
pub mod preconditions;
pub mod rollback;
pub mod status;

use crate::error::InputError;
use crate::flavour::Flavour;
use crate::mysql::{MySession, PlannerLock, SessionLimits};
use crate::plan::Plan;

/// A planner run on one database: its session and the one-planner lock, state tables migrated.
pub struct Run {
    pub session: MySession,
    lock: PlannerLock,
}

impl Run {
    pub async fn open(url: &str, limits: SessionLimits) -> anyhow::Result<Run> {
        let mut session = MySession::open(url, limits).await?;
        let lock = PlannerLock::acquire(&session.config).await?;
        crate::mysql::state::ensure_schema(&mut session).await?;
        Ok(Run { session, lock })
    }

    /// Release the lock and close; the error of the work (if any) is the one returned.
    pub async fn close_after<T>(self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        let closed = async {
            self.lock.release().await?;
            self.session.close().await
        }
        .await;
        let value = result?;
        closed?;
        Ok(value)
    }
}

/// A read-only session (status, verify, dry runs): no lock, nothing created.
pub async fn observe(url: &str) -> anyhow::Result<MySession> {
    MySession::open(url, SessionLimits::default()).await
}

/// Stop the statement connection `id` is running (`KILL QUERY`, from a connection of its own).
/// Best effort: the statement may have finished meanwhile.
pub async fn cancel(url: &str, id: u64) {
    let Ok(config) = crate::mysql::MyConnConfig::parse(url) else { return };
    if let Ok(mut conn) = config.connect().await {
        let _ = sqlx::raw_sql(crate::mysql::dynamic(format!("KILL QUERY {id}"))).execute(&mut conn).await;
    }
}

/// The PostgreSQL executor's options as MySQL session limits (`lock_wait_timeout` in whole
/// seconds, rounded down, at least 1).
pub fn limits(opts: &crate::exec::SessionOptions) -> SessionLimits {
    SessionLimits {
        lock_timeout: opts.lock_timeout,
        statement_timeout: Some(opts.statement_timeout),
        retries: opts.retries,
        ..SessionLimits::default()
    }
}

/// The family a connection string talks to: `mysql://` / `mariadb://` URLs are MySQL, anything
/// else (a `postgres://` URL, `key=value` pairs) is PostgreSQL's to judge.
pub fn url_family(url: &str) -> Flavour {
    url.trim()
        .split_once("://")
        .and_then(|(scheme, _)| Flavour::from_url_scheme(scheme))
        .filter(|f| f.is_mysql_family())
        .unwrap_or(Flavour::Postgresql)
}

/// Does the URL point at a MySQL/MariaDB server?
pub fn is_mysql_url(url: &str) -> bool {
    url_family(url).is_mysql_family()
}

/// A plan for one family and a database of the other is bad input (exit 2), named both ways.
pub fn check_url(plan: &Plan, url: &str) -> Result<(), InputError> {
    let server = url_family(url);
    if plan.dialect.is_mysql_family() == server.is_mysql_family() {
        return Ok(());
    }
    // The scheme only: the rest may carry a password.
    let shown = match url.trim().split_once("://") {
        Some((scheme, _)) => format!("{scheme}://…"),
        None => "key=value …".to_string(),
    };
    let (want, example) = if plan.dialect.is_mysql_family() {
        ("a mysql:// or mariadb:// URL", "mariadb://user@host:3306/db")
    } else {
        ("a postgres:// URL", "postgres://user@host:5432/db")
    };
    Err(InputError::new(format!(
        "plan `{}` is for {} {}, but the database URL `{shown}` is a {} database",
        plan.name,
        plan.dialect.product(),
        plan.server_version,
        if server.is_mysql_family() { "MySQL/MariaDB" } else { "PostgreSQL" }
    ))
    .help(format!("point --database-url / DATABASE_URL / --target at {want} (e.g. {example}), or use the plan made for that database")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_family() {
        assert_eq!(url_family("mariadb://root@h/db"), Flavour::Mariadb);
        assert_eq!(url_family("MySQL://root@h/db"), Flavour::Mysql);
        assert_eq!(url_family("postgres://h/db"), Flavour::Postgresql);
        assert_eq!(url_family("host=h dbname=x"), Flavour::Postgresql);
    }
}
