//! The runtime seam: what the executor asks of a live database, per family. Where
//! [`crate::dialect`] is pure planning knowledge, a [`Backend`] holds a connection: it connects,
//! takes and releases the one-planner lock, creates the state store, classifies server errors
//! (lock timeout, deadlock: retry; anything else: stop), names blocking sessions and introspects
//! the schema.
//!
//! The executor's [`crate::exec::Session`] reaches its backend through `Session::backend()`.
//! PostgreSQL ([`postgres::PgBackend`]) is today's code behind the trait; code that genuinely
//! needs the PostgreSQL connection still gets it through the one accessor `Session::conn()`.
//! Signatures here name no PostgreSQL types, so a MySQL/MariaDB backend can implement them.
//!
//! This module sits below `exec` and `backfill` (both use the connection, state and lock
//! helpers in [`postgres`]), which is what keeps those two from importing each other.

pub mod postgres;
/// Backoff between retries, shared by every backend.
pub mod retry;

use crate::dialect::Flavour;
use crate::model::SchemaModel;
use crate::sql::QualifiedName;

/// Run-time SQL from a plan or from quoted identifiers. The one place planner asserts to sqlx
/// that a run-time string is safe: every such string is built by `sql::render` (identifiers
/// always quoted, expressions parsed) or comes from a checksummed plan.yaml, never from raw input.
pub(crate) fn dynamic(sql: impl Into<String>) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.into())
}

/// What a connection is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Runs DDL: session settings for DDL, and it will take the one-planner lock.
    Apply,
    /// Only reads (status, verify, dry runs): never locks, never creates state.
    Observe,
}

/// How the executor treats a failed statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The lock wait bound expired: nothing of the unit applied; retry with backoff.
    LockTimeout,
    /// The server chose this unit as a deadlock victim and rolled it back; retry likewise.
    Deadlock,
    /// Anything else: stop and report.
    Other,
}

impl ErrorClass {
    pub fn retryable(self) -> bool {
        matches!(self, ErrorClass::LockTimeout | ErrorClass::Deadlock)
    }
}

/// One database family at run time, over one connection. Native async methods: callers use a
/// concrete backend (static dispatch), there is one per family.
#[allow(async_fn_in_trait)]
pub trait Backend: Sized {
    fn flavour(&self) -> Flavour;
    /// Open a connection for `purpose`, labelled `label` where the server shows client names.
    async fn connect(url: &str, label: &str, purpose: Purpose) -> anyhow::Result<Self>;
    /// The server's id for this connection (PostgreSQL's backend pid).
    async fn session_id(&mut self) -> anyhow::Result<i64>;
    /// Take the one-planner lock for this database, or refuse (a [`crate::error::Refusal`]) naming
    /// who holds it.
    async fn acquire_planner_lock(&mut self) -> anyhow::Result<()>;
    async fn release_planner_lock(&mut self) -> anyhow::Result<()>;
    /// Create or migrate the state store (which plans and phases ran).
    async fn ensure_state(&mut self) -> anyhow::Result<()>;
    /// Whether a failed unit may be retried.
    fn classify(&self, err: &anyhow::Error) -> ErrorClass;
    /// Who blocks a statement on `table` (or the oldest open transactions), as report lines.
    async fn describe_blockers(&mut self, table: Option<&QualifiedName>) -> anyhow::Result<String>;
    /// The schema model of `schemas`.
    async fn introspect(&mut self, schemas: &[String]) -> anyhow::Result<SchemaModel>;
    async fn close(self) -> anyhow::Result<()>;
}
