//! Backfill benchmark (not a test): one bulk UPDATE against planner's backfill of an identical
//! copy, at several table sizes, plus the p99 of a pgbench-style workload with and without a
//! running backfill.
//!
//! ```text
//! cargo bench --bench backfill                       # 500k, 2M, 4M rows; workload on 1M rows
//! cargo bench --bench backfill -- --rows 100000,400000 --workload-rows 200000 --workload-secs 5
//! ```
//! Server: PLANNER_BENCH_PG (default postgres://postgres@127.0.0.1:5432); it creates and drops
//! the database `planner_bench`.

#[path = "../tests/backfill_support/mod.rs"]
mod backfill_support;

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backfill_support::task;
use planner::backfill::{self, BackfillOptions, ProgressMode, ThrottleSettings};
use planner::plan::Plan;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use support::{exec, load_average, pct, server, Argv};

struct Args {
    rows: Vec<u64>,
    workload_rows: u64,
    workload_secs: u64,
    clients: usize,
    batch: u32,
    /// Upper bound for the adapted batch size (default: the engine's default).
    max_batch: Option<u32>,
}

fn parse_args() -> Option<Args> {
    let argv = Argv::bench()?;
    let rows = argv
        .value("--rows")
        .or_else(|| std::env::var("PLANNER_BENCH_ROWS").ok())
        .map(|v| v.split(',').map(|n| n.trim().replace('_', "").parse().expect("--rows N,N,...")).collect())
        .unwrap_or_else(|| vec![500_000, 2_000_000, 4_000_000]);
    Some(Args {
        rows,
        workload_rows: argv.num("--workload-rows", 1_000_000),
        workload_secs: argv.num("--workload-secs", 10),
        clients: argv.num("--clients", 4) as usize,
        batch: argv.num("--batch", 1000) as u32,
        max_batch: argv.value("--max-batch").map(|v| v.replace('_', "").parse().expect("--max-batch N")),
    })
}

/// A table of `n` rows shaped like an app table: key, an int to derive from, a counter the
/// workload bumps, ~60 bytes of payload, and the new column to fill.
async fn build(pool: &PgPool, name: &str, n: u64) -> anyhow::Result<()> {
    let autovac = autovac();
    exec(
        pool,
        &format!(
            "DROP TABLE IF EXISTS {name};
             CREATE TABLE {name} (id bigint PRIMARY KEY, v int NOT NULL, balance int NOT NULL DEFAULT 0,
                                  filler text NOT NULL, doubled bigint){autovac};
             INSERT INTO {name} (id, v, filler)
               SELECT g, (g::int8 * 7919) % 100000, repeat('x', 60) FROM generate_series(1, {n}) g;"
        ),
    )
    .await?;
    exec(pool, &format!("VACUUM ANALYZE {name}")).await
}

/// PLANNER_BENCH_AUTOVACUUM=off: keep autovacuum off the bench tables (to separate its cost).
fn autovac() -> &'static str {
    if std::env::var("PLANNER_BENCH_AUTOVACUUM").as_deref() == Ok("off") {
        " WITH (autovacuum_enabled = false)"
    } else {
        ""
    }
}

/// The backfill of `doubled` = `v` * 2 in `table`.
fn plan(table: &str) -> Plan {
    backfill_support::plan(
        &format!("bench_{table}"),
        vec![task(table, &[("id", "bigint")], &[("doubled", "\"v\" * 2")], "\"doubled\" IS NULL")],
    )
}

fn options(throttle: ThrottleSettings) -> BackfillOptions {
    BackfillOptions { throttle, progress: ProgressMode::None, ..Default::default() }
}

async fn bulk_update(pool: &PgPool, table: &str) -> anyhow::Result<Duration> {
    exec(pool, "CHECKPOINT").await?;
    let t = Instant::now();
    exec(pool, &format!("UPDATE {table} SET doubled = v * 2 WHERE doubled IS NULL")).await?;
    Ok(t.elapsed())
}

async fn engine(
    pool: &PgPool,
    table: &str,
    throttle: ThrottleSettings,
) -> anyhow::Result<backfill::BackfillReport> {
    // Same table name at every size: start from a fresh checkpoint.
    exec(pool, "DELETE FROM planner.backfill_progress").await?;
    exec(pool, "CHECKPOINT").await?;
    let report = backfill::run(pool, &plan(table), &options(throttle)).await?;
    let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE doubled IS NULL"
    )))
    .fetch_one(pool)
    .await?;
    anyhow::ensure!(report.completed && left == 0, "backfill of {table} left {left} rows");
    Ok(report)
}

/// Latencies (µs) and errors of a pgbench-like transaction (update one random row's counter,
/// read it back) from `clients` connections, until `stop` is set.
async fn workload(
    url: String,
    table: &'static str,
    rows: u64,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> (Vec<u64>, u64) {
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (url, table, stop, errors) = (url.clone(), table.to_string(), stop.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut conn = PgConnection::connect(&url).await.expect("workload connection");
            let update = format!("UPDATE {table} SET balance = balance + 1 WHERE id = $1");
            let select = format!("SELECT balance FROM {table} WHERE id = $1");
            while !stop.load(Ordering::Relaxed) {
                let id = (rand::random::<u64>() % rows + 1) as i64;
                let t = Instant::now();
                let result: Result<(), sqlx::Error> = async {
                    let mut tx = conn.begin().await?;
                    sqlx::query(sqlx::AssertSqlSafe(update.clone())).bind(id).execute(&mut *tx).await?;
                    let _: i32 = sqlx::query_scalar(sqlx::AssertSqlSafe(select.clone()))
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await
                }
                .await;
                match result {
                    Ok(()) => lat.push(t.elapsed().as_micros() as u64),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("workload task"));
    }
    all.sort_unstable();
    (all, errors.load(Ordering::Relaxed))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> anyhow::Result<()> {
    let Some(args) = parse_args() else { return Ok(()) };
    let admin = PgPoolOptions::new().max_connections(1).connect(&format!("{}/postgres", server())).await?;
    exec(&admin, "DROP DATABASE IF EXISTS planner_bench WITH (FORCE)").await?;
    exec(&admin, "CREATE DATABASE planner_bench").await?;
    let url = format!("{}/planner_bench", server());
    let pool = PgPoolOptions::new().max_connections(4).connect(&url).await?;
    planner::exec::state::ensure_schema(&mut *pool.acquire().await?).await?;
    let fixed = ThrottleSettings { batch: args.batch, ..Default::default() };
    let adaptive = ThrottleSettings {
        batch: args.batch,
        target_batch_time: Some(Duration::from_millis(100)),
        max_batch: args.max_batch.unwrap_or(ThrottleSettings::default().max_batch),
        ..Default::default()
    };

    let version: String = sqlx::query_scalar("SELECT version()").fetch_one(&pool).await?;
    println!("{version}");
    println!("load average before: {}", load_average());
    println!("bulk UPDATE vs planner backfill (no sleep), same server, same run");
    println!(
        "adaptive: --target-batch-time 100ms from --batch {} within {}..{} rows",
        args.batch, adaptive.min_batch, adaptive.max_batch
    );
    println!(
        "{:>10} {:>12} {:>14} {:>7} {:>14} {:>7} {:>10}",
        "rows",
        "bulk rows/s",
        format!("batch {} r/s", args.batch),
        "ratio",
        "adaptive r/s",
        "ratio",
        "avg batch"
    );
    let mut per_row = Vec::new();
    for &n in &args.rows {
        build(&pool, "bulk", n).await?;
        let bulk = bulk_update(&pool, "bulk").await?;
        exec(&pool, "DROP TABLE bulk").await?;
        build(&pool, "eng", n).await?;
        let fixed_report = engine(&pool, "eng", fixed.clone()).await?;
        exec(&pool, "DROP TABLE eng").await?;
        build(&pool, "eng_adaptive", n).await?;
        let adaptive_report = engine(&pool, "eng_adaptive", adaptive.clone()).await?;
        exec(&pool, "DROP TABLE eng_adaptive").await?;
        let bulk_rate = n as f64 / bulk.as_secs_f64();
        let (fixed_rate, adaptive_rate) = (fixed_report.rate(), adaptive_report.rate());
        println!(
            "{n:>10} {bulk_rate:>12.0} {fixed_rate:>14.0} {:>7.2} {adaptive_rate:>14.0} {:>7.2} {:>10.0}",
            fixed_rate / bulk_rate,
            adaptive_rate / bulk_rate,
            n as f64 / adaptive_report.batches.max(1) as f64
        );
        per_row.push((
            n,
            fixed_report.elapsed.as_secs_f64() / n as f64,
            adaptive_report.elapsed.as_secs_f64() / n as f64,
            bulk.as_secs_f64() / n as f64,
        ));
    }
    if let (Some(small), Some(large)) = (per_row.first(), per_row.last()) {
        if small.0 != large.0 {
            println!(
                "time per row at {} rows / at {} rows: batch {} {:.2}, adaptive {:.2}, bulk UPDATE {:.2}",
                large.0,
                small.0,
                args.batch,
                large.1 / small.1,
                large.2 / small.2,
                large.3 / small.3
            );
        }
    }

    if args.workload_rows > 0 {
        let n = args.workload_rows;
        build(&pool, "w", n).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let run = tokio::spawn(workload(url.clone(), "w", n, args.clients, stop.clone()));
        tokio::time::sleep(Duration::from_secs(args.workload_secs)).await;
        stop.store(true, Ordering::Relaxed);
        let (base, base_err) = run.await?;
        println!("\nworkload ({} clients, update+select transaction on {n} rows)", args.clients);
        println!(
            "  without backfill:              {:>6.0} tps  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {base_err}",
            base.len() as f64 / args.workload_secs as f64,
            pct(&base, 0.5),
            pct(&base, 0.99)
        );
        let target = |ms: u64| ThrottleSettings {
            target_batch_time: Some(Duration::from_millis(ms)),
            ..adaptive.clone()
        };
        // Full speed (adaptive batch size only), then the two ways to give the workload room.
        let settings = [
            ("--target-batch-time 100ms", target(100)),
            ("--target-batch-time  20ms", target(20)),
            (
                "--target-batch-time 100ms --sleep 100ms",
                ThrottleSettings { sleep: Duration::from_millis(100), ..target(100) },
            ),
            (
                "--target-batch-time 100ms --max-rate 50000",
                ThrottleSettings { max_rate: Some(50_000.0), ..target(100) },
            ),
            (
                "--batch 200 --max-rate 20000",
                ThrottleSettings { batch: 200, max_rate: Some(20_000.0), ..ThrottleSettings::default() },
            ),
        ];
        for (label, throttle) in settings {
            build(&pool, "w", n).await?;
            let stop = Arc::new(AtomicBool::new(false));
            let run = tokio::spawn(workload(url.clone(), "w", n, args.clients, stop.clone()));
            tokio::time::sleep(Duration::from_millis(500)).await;
            let report = engine(&pool, "w", throttle).await?;
            stop.store(true, Ordering::Relaxed);
            let (during, during_err) = run.await?;
            let secs_during = report.elapsed.as_secs_f64() + 0.5;
            println!(
                "  during {label}: {:>6.0} tps  p50 {:>6.2} ms  p99 {:>6.2} ms  \
                 errors {during_err}  (p99 x{:.2}; backfill {:.1}s, {:.0} rows/s)",
                during.len() as f64 / secs_during,
                pct(&during, 0.5),
                pct(&during, 0.99),
                pct(&during, 0.99) / pct(&base, 0.99).max(1e-9),
                report.elapsed.as_secs_f64(),
                report.rate()
            );
        }
    }
    println!("load average after: {}", load_average());
    pool.close().await;
    exec(&admin, "DROP DATABASE IF EXISTS planner_bench WITH (FORCE)").await?;
    Ok(())
}
