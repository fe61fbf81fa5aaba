//! Health pauses triggered for real on private clusters (see `cluster_support`): a streaming
//! standby whose replay is paused, a logical slot nobody consumes, WAL written faster than
//! allowed, autovacuum working on the table. Each time the backfill pauses, says why (report and
//! `planner.backfill_progress`, which `status` reads), resumes by itself once the condition
//! clears, and fills every row.

mod backfill_support;
mod cluster_support;

use std::time::{Duration, Instant};

use backfill_support::task;
use cluster_support::Cluster;
use planner::backfill::{
    self, BackfillOptions, BackfillReport, PauseThresholds, ProgressMode, ThrottleSettings,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};

/// A database with table `t (id, x)` of `rows` rows to fill with `x = id * 10`.
async fn database(cluster: &Cluster, rows: i32) -> (String, PgPool) {
    let mut admin =
        PgConnection::connect(&cluster.url("postgres")).await.expect("connect to the private cluster");
    admin.execute("CREATE DATABASE app").await.unwrap();
    admin.close().await.unwrap();
    let url = cluster.url("app");
    let pool = PgPoolOptions::new().max_connections(6).connect(&url).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    planner::exec::state::ensure_schema(&mut conn).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t SELECT g, NULL FROM generate_series(1, {rows}) g; ANALYZE t"
    )))
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    (url, pool)
}

fn run(
    pool: &PgPool,
    name: &str,
    throttle: ThrottleSettings,
    pauses: PauseThresholds,
) -> tokio::task::JoinHandle<BackfillReport> {
    let opts = BackfillOptions { throttle, pauses, progress: ProgressMode::None, ..Default::default() };
    let pool = pool.clone();
    let plan = backfill_support::plan(
        name,
        vec![task("t", &[("id", "integer")], &[("x", "\"id\" * 10")], "\"x\" IS NULL")],
    );
    tokio::spawn(async move { backfill::run(&pool, &plan, &opts).await.expect("backfill") })
}

/// The pause reason recorded for `status`, polled until `f` accepts it.
async fn wait_for_pause(pool: &PgPool, plan: &str, f: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut conn = pool.acquire().await.unwrap();
        let records = planner::exec::state::backfill_records(&mut conn, plan).await.unwrap();
        if let Some((reason, _)) = records.first().and_then(|r| r.paused.clone()) {
            if f(&reason) {
                return reason;
            }
        }
        assert!(Instant::now() < deadline, "no pause recorded; records: {records:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn assert_filled(pool: &PgPool, plan: &str, rows: i64, report: &BackfillReport, kind: &str) {
    assert!(report.completed, "{report}");
    assert!(report.pauses.iter().any(|p| p.reason.kind() == kind), "no {kind} pause: {report}");
    assert!(report.to_string().contains(kind), "{report}");
    let filled: i64 =
        sqlx::query_scalar("SELECT count(*) FROM t WHERE x = id * 10").fetch_one(pool).await.unwrap();
    assert_eq!(filled, rows);
    let mut conn = pool.acquire().await.unwrap();
    let records = planner::exec::state::backfill_records(&mut conn, plan).await.unwrap();
    assert!(records.iter().all(|r| r.paused.is_none() && r.finished_at.is_some()), "{records:?}");
}

fn slow() -> ThrottleSettings {
    ThrottleSettings { batch: 200, min_batch: 1, sleep: Duration::from_millis(20), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_whose_replay_is_paused_pauses_the_backfill_until_it_catches_up() {
    let mut primary = Cluster::init("planner-primary-");
    primary.start();
    let rows = 40_000;
    let (_url, pool) = database(&primary, rows).await;
    let standby = primary.standby("planner-standby-");
    let mut on_standby =
        PgConnection::connect(&standby.url("postgres")).await.expect("standby accepts reads");
    let streaming = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while streaming().await == 0 {
        assert!(Instant::now() < deadline, "standby never streamed:\n{}", standby.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sqlx::query("SELECT pg_wal_replay_pause()").execute(&mut on_standby).await.unwrap();

    let pauses =
        PauseThresholds { max_replication_lag: Some(Duration::from_secs(1)), ..PauseThresholds::none() };
    let handle = run(&pool, "standby", slow(), pauses);
    let reason = wait_for_pause(&pool, "standby", |r| r.starts_with("replication lag")).await;
    assert!(reason.contains("exceeds 1.0s"), "{reason}");
    sqlx::query("SELECT pg_wal_replay_resume()").execute(&mut on_standby).await.unwrap();

    let report = handle.await.unwrap();
    assert_filled(&pool, "standby", rows as i64, &report, "replication lag").await;
    // The standby has every row too, once it replays.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut standby_db = PgConnection::connect(&standby.url("app")).await.unwrap();
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM t WHERE x = id * 10")
            .fetch_one(&mut standby_db)
            .await
            .unwrap();
        if n == rows as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "standby has {n} of {rows} rows");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconsumed_logical_slot_pauses_the_backfill_until_its_consumer_catches_up() {
    let mut primary = Cluster::init("planner-slot-");
    primary.conf("wal_level = logical\n");
    primary.start();
    let rows = 20_000;
    let (url, pool) = database(&primary, rows).await;
    sqlx::query("SELECT pg_create_logical_replication_slot('cdc', 'test_decoding')")
        .execute(&pool)
        .await
        .unwrap();

    let pauses = PauseThresholds { max_slot_lag: Some(256 * 1024), ..PauseThresholds::none() };
    let handle = run(&pool, "slot", slow(), pauses);
    let reason = wait_for_pause(&pool, "slot", |r| r.starts_with("replication slot")).await;
    assert!(reason.contains("cdc") && reason.contains("limit 256.0 kB"), "{reason}");

    // The CDC consumer comes back and keeps up from now on.
    let consumer = tokio::spawn(async move {
        let mut c = PgConnection::connect(&url).await.unwrap();
        loop {
            let r = sqlx::query("SELECT count(*) FROM pg_logical_slot_get_changes('cdc', NULL, NULL)")
                .execute(&mut c)
                .await;
            if r.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let report = handle.await.unwrap();
    consumer.abort();
    assert_filled(&pool, "slot", rows as i64, &report, "slot lag").await;
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_written_faster_than_max_wal_rate_pauses_the_backfill() {
    let mut primary = Cluster::init("planner-walrate-");
    primary.start();
    let rows = 20_000;
    let (_url, pool) = database(&primary, rows).await;
    // 200-row batches 20 ms apart write WAL far faster than 200 kB/s; while paused, nothing does.
    let pauses = PauseThresholds { max_wal_rate: Some(200 * 1024), ..PauseThresholds::none() };
    let report = run(&pool, "walrate", slow(), pauses).await.unwrap();
    let wal = report.pauses.iter().find(|p| p.reason.kind() == "wal rate").expect("a WAL rate pause");
    assert!(wal.reason.to_string().contains("(limit 200.0 kB/s)"), "{}", wal.reason);
    assert_filled(&pool, "walrate", rows as i64, &report, "wal rate").await;
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autovacuum_on_the_table_pauses_the_backfill_until_it_finishes() {
    let mut primary = Cluster::init("planner-vacuum-");
    primary.conf("autovacuum_naptime = 1s\n");
    primary.start();
    let rows = 20_000;
    let (_url, pool) = database(&primary, rows).await;
    // Dead rows, and an autovacuum that is due at once and runs slowly (cost-throttled) so the
    // backfill meets it.
    sqlx::raw_sql(
        "DELETE FROM t WHERE id % 2 = 0;
         ALTER TABLE t SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0,
                            autovacuum_vacuum_cost_delay = 20, autovacuum_vacuum_cost_limit = 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_progress_vacuum WHERE relid = 't'::regclass")
                .fetch_one(&pool)
                .await
                .unwrap();
        if running > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "autovacuum never started on t:\n{}", primary.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let throttle = ThrottleSettings { batch: 1000, ..Default::default() };
    let pauses = PauseThresholds { pause_for_vacuum: true, ..PauseThresholds::none() };
    let handle = run(&pool, "vacuum", throttle, pauses);
    let reason = wait_for_pause(&pool, "vacuum", |r| r.starts_with("autovacuum")).await;
    assert!(reason.contains("is working on the table"), "{reason}");
    // No further runs once this one ends by itself (the backfill's own dead rows would
    // otherwise summon the next one at once).
    sqlx::raw_sql("ALTER TABLE t SET (autovacuum_enabled = false)").execute(&pool).await.unwrap();
    let report = handle.await.unwrap();
    assert_filled(&pool, "vacuum", (rows / 2) as i64, &report, "vacuum").await;
    pool.close().await;
}
