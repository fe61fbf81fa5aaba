//! MySQL / MariaDB runtime: connecting, the one-planner lock, running DDL with bounded waits,
//! the state store, introspection and the keyset backfill step.
//!
//! Everything here owns its connections and exposes no PostgreSQL type, so it can sit behind the
//! runtime `Backend` seam. The facts it codes around (measured on MariaDB 10.11) are in
//! `shared/mysql-facts.md`: DDL waits for a metadata lock and queues every later query behind it,
//! DDL is not transactional, `lock_wait_timeout` defaults to a day, and sqlx's connect-time
//! `sql_mode` differs from what applications run with.

pub mod backfill;
pub mod connect;
pub mod ddl;
pub mod error;
pub mod introspect;
pub mod lock;
pub mod state;

pub use connect::{Flavour, MyConnConfig, MySession, ServerInfo, SessionLimits, Version};
pub use ddl::Blocker;
pub use error::{DdlError, ErrorKind};
pub use lock::PlannerLock;

/// Run-time SQL built from quoted identifiers or taken from a plan (the MySQL twin of
/// `exec::session::dynamic`).
pub(crate) fn dynamic(sql: impl Into<String>) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.into())
}

/// `name` as a backquoted MySQL identifier (a backquote inside is doubled).
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn identifiers_are_backquoted() {
        assert_eq!(super::quote_ident("users"), "`users`");
        assert_eq!(super::quote_ident("we`ird"), "`we``ird`");
    }
}
