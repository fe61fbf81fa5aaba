//! Throttling against a real PostgreSQL: pauses for long transactions, live settings from the
//! control file, detection of sessions the backfill keeps waiting.

mod backfill_support;
mod common;

use std::time::Duration;

use backfill_support::task;
use common::TestDb;
use planner::backfill::{self, BackfillOptions, PauseThresholds, ProgressMode, ThrottleSettings};
use planner::plan::Plan;
use sqlx::{Connection, PgConnection};

/// A plan that sets `x` to ten times `id` in `table`.
fn plan(name: &str, table: &str) -> Plan {
    backfill_support::plan(
        name,
        vec![task(table, &[("id", "integer")], &[("x", "\"id\" * 10")], "\"x\" IS NULL")],
    )
}

async fn setup(db: &TestDb, rows: i32) {
    let mut conn = db.pool.acquire().await.unwrap();
    planner::exec::state::ensure_schema(&mut conn).await.unwrap();
    db.exec(&format!(
        "CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t SELECT g, NULL FROM generate_series(1, {rows}) g"
    ))
    .await;
}

fn no_pauses() -> PauseThresholds {
    PauseThresholds::none()
}

/// Batches done so far (None before the checkpoint row exists).
async fn batches(db: &TestDb, plan: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT batches FROM planner.backfill_progress WHERE plan = $1")
        .bind(plan)
        .fetch_optional(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_transaction_pauses_the_backfill_until_it_ends() {
    let db = TestDb::new().await;
    setup(&db, 500).await;
    let mut long = PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN; SELECT txid_current();").execute(&mut long).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let opts = BackfillOptions {
        throttle: ThrottleSettings { batch: 100, min_batch: 1, ..Default::default() },
        pauses: PauseThresholds { max_transaction_age: Some(Duration::from_secs(1)), ..no_pauses() },
        progress: ProgressMode::None,
        ..Default::default()
    };
    let pool = db.pool.clone();
    let p = plan("longtx", "t");
    let run = tokio::spawn(async move { backfill::run(&pool, &p, &opts).await });
    // While the transaction is open the checkpoint exists but no batch runs.
    let mut waited = 0;
    while batches(&db, "longtx").await.is_none() && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(batches(&db, "longtx").await, Some(0), "no batch while a long transaction is open");
    sqlx::raw_sql("COMMIT").execute(&mut long).await.unwrap();

    let report = run.await.unwrap().unwrap();
    assert!(report.completed);
    assert_eq!(report.rows, 500);
    assert!(!report.pauses.is_empty());
    assert_eq!(report.pauses[0].reason.kind(), "long transaction");
    assert!(report.to_string().contains("long transaction"), "{report}");
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_file_pauses_and_changes_the_batch_size_of_a_running_backfill() {
    let db = TestDb::new().await;
    setup(&db, 1000).await;
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("throttle.conf");
    std::fs::write(&control, "# held until the operator says go\npause = true\n").unwrap();
    let opts = BackfillOptions {
        throttle: ThrottleSettings { batch: 100, min_batch: 1, ..Default::default() },
        pauses: no_pauses(),
        progress: ProgressMode::None,
        control_file: Some(control.clone()),
        ..Default::default()
    };
    let pool = db.pool.clone();
    let p = plan("control", "t");
    let run = tokio::spawn(async move { backfill::run(&pool, &p, &opts).await });
    let mut waited = 0;
    while batches(&db, "control").await.is_none() && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(batches(&db, "control").await, Some(0), "paused by the control file");
    std::fs::write(&control, "pause = false\nbatch = 250\n").unwrap();

    let report = run.await.unwrap().unwrap();
    assert!(report.completed);
    assert_eq!(report.batches, 4, "1000 rows in batches of 250 (the new setting), not 100");
    assert_eq!(report.pauses[0].reason.kind(), "requested");
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_waiting_on_the_backfills_locks_are_seen() {
    let db = TestDb::new().await;
    setup(&db, 10).await;
    // `holder` plays the backfill: it holds a row lock; `waiter` plays the app and waits for it.
    let mut holder = PgConnection::connect(&db.url).await.unwrap();
    let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut holder).await.unwrap();
    sqlx::raw_sql("BEGIN; UPDATE t SET x = 1 WHERE id = 1;").execute(&mut holder).await.unwrap();
    let url = db.url.clone();
    let waiter = tokio::spawn(async move {
        let mut c = PgConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE t SET x = 2 WHERE id = 1").execute(&mut c).await.unwrap();
    });
    let mut monitor = db.pool.acquire().await.unwrap();
    let mut seen = (0, Duration::ZERO);
    for _ in 0..100 {
        seen = backfill::pause::sessions_blocked_by(&mut monitor, holder_pid).await.unwrap();
        if seen.0 > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.0, 1, "one session waits for the holder's row lock");
    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    waiter.await.unwrap();
    let after = backfill::pause::sessions_blocked_by(&mut monitor, holder_pid).await.unwrap();
    assert_eq!(after.0, 0);
    drop(monitor);
    db.drop().await;
}
