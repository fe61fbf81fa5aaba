//! Backfill benchmark (not a test): one bulk UPDATE against planner's backfill of an identical
//! copy, at several table sizes, plus the p99 of a pgbench-style workload with and without a
//! running backfill.
//!
//! ```text
//! cargo bench --bench backfill                       # 500k, 2M, 4M rows; workload on 1M rows
//! cargo bench --bench backfill -- --rows 100000,400000 --workload-rows 200000 --workload-secs 5
//! cargo bench --bench backfill -- --rows none --workload-rows 300000   # impact only
//! ```
//!
//! Impact method: the workload's table carries the add-column plan's fill trigger (the shape
//! `planner apply --phase expand` installs) in every window; each window starts on a fresh table
//! right after a `CHECKPOINT`, the workload's first second is discarded (warm-up), and only
//! transactions that ended while the backfill was running are counted (for `--hold-latency`,
//! after its baseline, which runs before the first batch).
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
    /// Fixed `--max-rate` arms of the impact part (with `--batch 200`).
    fixed_rates: Vec<u64>,
}

fn parse_args() -> Option<Args> {
    let argv = Argv::bench()?;
    let rows = argv
        .value("--rows")
        .or_else(|| std::env::var("PLANNER_BENCH_ROWS").ok())
        .map(|v| {
            if v == "none" {
                return Vec::new();
            }
            v.split(',').map(|n| n.trim().replace('_', "").parse().expect("--rows N,N,...|none")).collect()
        })
        .unwrap_or_else(|| vec![500_000, 2_000_000, 4_000_000]);
    Some(Args {
        rows,
        workload_rows: argv.num("--workload-rows", 1_000_000),
        workload_secs: argv.num("--workload-secs", 10),
        clients: argv.num("--clients", 4) as usize,
        batch: argv.num("--batch", 1000) as u32,
        max_batch: argv.value("--max-batch").map(|v| v.replace('_', "").parse().expect("--max-batch N")),
        fixed_rates: argv
            .value("--fixed-rates")
            .map(|v| {
                v.split(',').map(|n| n.trim().replace('_', "").parse().expect("--fixed-rates N,N")).collect()
            })
            .unwrap_or_else(|| vec![10_000, 20_000, 40_000, 80_000]),
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
    engine_run(pool, table, throttle).await
}

/// The backfill without the CHECKPOINT (the impact windows take theirs before the workload).
async fn engine_run(
    pool: &PgPool,
    table: &str,
    throttle: ThrottleSettings,
) -> anyhow::Result<backfill::BackfillReport> {
    exec(pool, "DELETE FROM planner.backfill_progress").await?;
    let report = backfill::run(pool, &plan(table), &options(throttle)).await?;
    let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE doubled IS NULL"
    )))
    .fetch_one(pool)
    .await?;
    anyhow::ensure!(report.completed && left == 0, "backfill of {table} left {left} rows");
    Ok(report)
}

/// The add-column plan's fill trigger on `table` (as `planner apply --phase expand` installs it
/// for `doubled` computed from `v`): the workload's writes pay for it in every window.
async fn fill_trigger(pool: &PgPool, table: &str) -> anyhow::Result<()> {
    exec(
        pool,
        &format!(
            "CREATE OR REPLACE FUNCTION {table}_fill() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.doubled IS NULL THEN NEW.doubled := (NEW.v * 2); END IF;
  ELSE
    IF NEW.doubled IS NULL OR (NEW.doubled IS NOT DISTINCT FROM OLD.doubled AND (NEW.v IS DISTINCT FROM OLD.v)) THEN NEW.doubled := (NEW.v * 2); END IF;
  END IF;
  RETURN NEW;
END $f$;
CREATE TRIGGER {table}_fill_insert BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {table}_fill();
CREATE TRIGGER {table}_fill_update BEFORE UPDATE ON {table} FOR EACH ROW
  WHEN (NEW.doubled IS NULL OR (NEW.doubled IS NOT DISTINCT FROM OLD.doubled AND (NEW.v IS DISTINCT FROM OLD.v)))
  EXECUTE FUNCTION {table}_fill();"
        ),
    )
    .await
}

/// One workload transaction: when it ended (since `origin`) and how long it took, in µs.
type Sample = (u64, u64);

/// Samples and errors of a pgbench-like transaction (update one random row's counter, read it
/// back) from `clients` connections, until `stop` is set.
async fn workload(
    url: String,
    table: &'static str,
    rows: u64,
    clients: usize,
    stop: Arc<AtomicBool>,
    origin: Instant,
) -> (Vec<Sample>, u64) {
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
                    Ok(()) => lat.push((origin.elapsed().as_micros() as u64, t.elapsed().as_micros() as u64)),
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
    (all, errors.load(Ordering::Relaxed))
}

/// Sorted latencies of the samples that ended within `[from, to]` (offsets from the origin).
fn window(samples: &[Sample], from: Duration, to: Duration) -> Vec<u64> {
    let (from, to) = (from.as_micros() as u64, to.as_micros() as u64);
    let mut v: Vec<u64> = samples.iter().filter(|(end, _)| *end >= from && *end <= to).map(|s| s.1).collect();
    v.sort_unstable();
    v
}

/// Warm-up of every window, discarded.
const WARM_UP: Duration = Duration::from_secs(1);

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
        let fresh = |pool: PgPool| async move {
            build(&pool, "w", n).await?;
            fill_trigger(&pool, "w").await?;
            exec(&pool, "CHECKPOINT").await?;
            anyhow::Ok(())
        };
        fresh(pool.clone()).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let origin = Instant::now();
        let run = tokio::spawn(workload(url.clone(), "w", n, args.clients, stop.clone(), origin));
        tokio::time::sleep(WARM_UP + Duration::from_secs(args.workload_secs)).await;
        stop.store(true, Ordering::Relaxed);
        let (samples, base_err) = run.await?;
        let base = window(&samples, WARM_UP, WARM_UP + Duration::from_secs(args.workload_secs));
        println!(
            "\nworkload ({} clients, update+select transaction on {n} rows, fill trigger on; CHECKPOINT \
             before each window, {}s warm-up discarded, only the backfill's running time counted)",
            args.clients,
            WARM_UP.as_secs()
        );
        println!(
            "  without backfill:                          {:>6.0} tps  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {base_err}",
            base.len() as f64 / args.workload_secs as f64,
            pct(&base, 0.5),
            pct(&base, 0.99)
        );
        let target = |ms: u64| ThrottleSettings {
            target_batch_time: Some(Duration::from_millis(ms)),
            ..adaptive.clone()
        };
        let fixed_rate =
            |rate: f64| ThrottleSettings { batch: 200, max_rate: Some(rate), ..ThrottleSettings::default() };
        let hold = |f: f64| ThrottleSettings {
            hold_latency: Some(backfill::HoldLatency::Factor(f)),
            ..ThrottleSettings::default()
        };
        let mut settings: Vec<(String, ThrottleSettings)> =
            vec![("--target-batch-time 100ms".into(), target(100)), ("--hold-latency 2x".into(), hold(2.0))];
        for rate in &args.fixed_rates {
            settings.push((format!("--batch 200 --max-rate {rate}"), fixed_rate(*rate as f64)));
        }
        for (label, throttle) in settings {
            fresh(pool.clone()).await?;
            let stop = Arc::new(AtomicBool::new(false));
            let origin = Instant::now();
            let run = tokio::spawn(workload(url.clone(), "w", n, args.clients, stop.clone(), origin));
            tokio::time::sleep(WARM_UP).await;
            let learning = if throttle.hold_latency.is_some() {
                planner::backfill::probe::PROBE_EVERY * planner::backfill::latency::BASELINE_SAMPLES as u32
            } else {
                Duration::ZERO
            };
            let began = origin.elapsed();
            let report = engine_run(&pool, "w", throttle).await?;
            let ended = origin.elapsed();
            stop.store(true, Ordering::Relaxed);
            let (samples, during_err) = run.await?;
            let during = window(&samples, began + learning, ended);
            let secs = (ended - began - learning).as_secs_f64();
            let batches = report.batches.max(1);
            println!(
                "  during {label:<36} {:>6.0} tps  p50 {:>6.2} ms  p99 {:>6.2} ms  \
                 errors {during_err}  (p99 x{:.2}; backfill {:.1}s, {:.0} rows/s, avg batch {:.0}{})",
                during.len() as f64 / secs,
                pct(&during, 0.5),
                pct(&during, 0.99),
                pct(&during, 0.99) / pct(&base, 0.99).max(1e-9),
                report.elapsed.as_secs_f64(),
                report.rate(),
                report.rows as f64 / batches as f64,
                report
                    .latency_baseline
                    .map(|(b, bound)| format!(
                        ", probe baseline {} bound {}, {} slow-downs",
                        planner::backfill::latency::ms(b),
                        planner::backfill::latency::ms(bound),
                        report.decisions.iter().filter(|d| d.action == backfill::Action::SlowDown).count()
                    ))
                    .unwrap_or_default()
            );
        }
    }
    println!("load average after: {}", load_average());
    pool.close().await;
    exec(&admin, "DROP DATABASE IF EXISTS planner_bench WITH (FORCE)").await?;
    Ok(())
}
