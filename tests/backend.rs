//! The runtime seam on real PostgreSQL: `PgBackend` through the `Backend` trait (no PostgreSQL
//! types in the calls) — the one-planner lock, the state store, error classes, blockers and
//! introspection — and a `Session` reaching the same backend.

mod common;

use common::TestDb;
use planner::backend::postgres::PgBackend;
use planner::backend::{Backend, ErrorClass, Purpose};
use planner::dialect::Flavour;
use planner::sql::QualifiedName;

#[tokio::test]
async fn the_postgres_backend_locks_keeps_state_and_classifies_errors() {
    let db = TestDb::new().await;
    db.exec("CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL)").await;

    let mut first = PgBackend::connect(&db.url, "planner/test-a", Purpose::Apply).await.expect("connect");
    assert_eq!(first.flavour(), Flavour::Postgresql);
    first.acquire_planner_lock().await.expect("first planner gets the lock");
    first.ensure_state().await.expect("state schema");
    let state: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'planner'")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(state, 1, "ensure_state created schema planner");

    // A second planner is refused, naming the holder's pid.
    let pid = first.session_id().await.expect("pid");
    let mut second = PgBackend::connect(&db.url, "planner/test-b", Purpose::Apply).await.expect("connect");
    let refused = second.acquire_planner_lock().await.expect_err("second planner refused").to_string();
    assert!(
        refused.contains("another planner is already running") && refused.contains(&format!("pid {pid}")),
        "{refused}"
    );
    first.release_planner_lock().await.expect("release");
    second.acquire_planner_lock().await.expect("free again after release");

    // An idle transaction holding a lock on users: a lock_timeout is retryable and the blocker named.
    let mut blocker = db.pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE users IN ACCESS SHARE MODE").execute(&mut *blocker).await.expect("lock");
    sqlx::raw_sql("SET lock_timeout = '100ms'").execute(first.conn()).await.expect("set");
    let err: anyhow::Error = sqlx::raw_sql("ALTER TABLE users ADD COLUMN x int")
        .execute(first.conn())
        .await
        .expect_err("waits for the lock, then times out")
        .into();
    assert_eq!(first.classify(&err), ErrorClass::LockTimeout);
    assert!(first.classify(&err).retryable());
    let other: anyhow::Error =
        sqlx::raw_sql("SELECT 1/0").execute(first.conn()).await.expect_err("division by zero").into();
    assert_eq!(first.classify(&other), ErrorClass::Other);
    let users = QualifiedName::from_user("users", "public").expect("name");
    let blockers = first.describe_blockers(Some(&users)).await.expect("blockers");
    assert!(blockers.contains("holds AccessShareLock"), "{blockers}");
    blocker.rollback().await.expect("rollback");

    let model = first.introspect(&["public".to_string()]).await.expect("introspect");
    assert!(model.tables.contains_key(&users), "{:?}", model.tables.keys());
    first.close().await.expect("close");
    second.close().await.expect("close");

    // A session reaches the same backend: its lock is the planner lock.
    let mut session = planner::exec::Session::open(&db.url, Default::default()).await.expect("session");
    let pid = session.backend().session_id().await.expect("pid");
    assert_eq!(i64::from(session.backend_pid().await.expect("pid")), pid);
    let mut third = PgBackend::connect(&db.url, "planner/test-c", Purpose::Apply).await.expect("connect");
    assert!(third.acquire_planner_lock().await.is_err(), "the session holds the planner lock");
    session.close().await.expect("close");
    third.acquire_planner_lock().await.expect("released by Session::close");
    third.close().await.expect("close");
    db.drop().await;
}
