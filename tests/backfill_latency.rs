//! `--hold-latency` against a real PostgreSQL: the probe learns a baseline, and when a competing
//! load makes the server slow for other sessions, the controller shrinks the batch (asserted on
//! its recorded decisions, never on timing).

mod backfill_support;
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backfill_support::task;
use common::TestDb;
use planner::backfill::{
    self, Action, BackfillOptions, HoldLatency, PauseThresholds, ProgressMode, ThrottleSettings,
};
use sqlx::{Connection, PgConnection};

async fn rows_done(db: &TestDb, plan: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(max(rows_done), 0)::int8 FROM planner.backfill_progress WHERE plan = $1",
    )
    .bind(plan)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_latency_shrinks_the_batch_when_a_competing_load_starts() {
    let db = TestDb::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    planner::exec::state::ensure_schema(&mut conn).await.unwrap();
    drop(conn);
    let rows = 300_000;
    db.exec(&format!(
        "CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t SELECT g, NULL FROM generate_series(1, {rows}) g; ANALYZE t"
    ))
    .await;
    let opts = BackfillOptions {
        throttle: ThrottleSettings {
            batch: 1000,
            min_batch: 100,
            max_batch: 4000,
            hold_latency: Some(HoldLatency::Factor(2.0)),
            ..Default::default()
        },
        pauses: PauseThresholds::none(),
        progress: ProgressMode::None,
        ..Default::default()
    };
    let pool = db.pool.clone();
    let p = backfill_support::plan(
        "hold",
        vec![task("t", &[("id", "integer")], &[("x", "\"id\" * 10")], "\"x\" IS NULL")],
    );
    let run = tokio::spawn(async move { backfill::run(&pool, &p, &opts).await });

    // Let the controller run unloaded for a while (after its ~2 s baseline).
    let mut waited = 0;
    while rows_done(&db, "hold").await < 20_000 && waited < 600 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let load_from = rows_done(&db, "hold").await as u64;
    assert!(load_from < rows as u64, "the backfill finished before the load could start");

    // The competing load: another session takes the table exclusively for 1 s out of every 1.1 s
    // (what a burst of heavy app work or a lock queue does to short transactions): every read of
    // the table, the probe's included, waits. A whole second, because on a loaded CI machine the
    // learned baseline p99 itself reached 120 ms (bound 240 ms): the load must stand far above
    // any noise the baseline can contain.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (url, stop) = (db.url.clone(), stop.clone());
        tokio::spawn(async move {
            let mut c = PgConnection::connect(&url).await.unwrap();
            while !stop.load(Ordering::Relaxed) {
                sqlx::raw_sql("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1.0); COMMIT")
                    .execute(&mut c)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();

    let report = run.await.unwrap().unwrap();
    assert!(report.completed, "{report}");
    assert_eq!(report.rows, rows as u64);
    let (base, bound) = report.latency_baseline.expect("a baseline was learned");
    assert!(bound > base, "bound {bound:?} above baseline {base:?}");
    assert!(report.to_string().contains("latency probe: baseline p99"), "{report}");

    let before = report.decisions.iter().filter(|d| d.rows_done <= load_from);
    let largest_before = before.map(|d| d.batch_after).max().unwrap_or(1000).max(1000);
    let slowed: Vec<_> =
        report.decisions.iter().filter(|d| d.rows_done > load_from && d.action == Action::SlowDown).collect();
    assert!(!slowed.is_empty(), "no slow-down after the load started: {:#?}", report.decisions);
    assert!(slowed.iter().all(|d| d.p99 > d.bound && d.batch_after <= d.batch_before));
    let smallest_after = slowed.iter().map(|d| d.batch_after).min().unwrap();
    assert!(
        smallest_after < largest_before,
        "the batch fell under load: {largest_before} before, {smallest_after} after; {:#?}",
        report.decisions
    );
    let filled: i64 =
        sqlx::query_scalar("SELECT count(*) FROM t WHERE x = id * 10").fetch_one(&db.pool).await.unwrap();
    assert_eq!(filled, rows);
    db.drop().await;
}
