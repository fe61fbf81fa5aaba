//! Real-flow backfill benchmark (not a test): one bulk UPDATE of a table without planner (the
//! physical limit) against the path users take, through the release `planner` binary:
//! `planner plan … --database-url` from the live table, `planner apply --phase expand` (the sync
//! trigger goes on), then `planner backfill`, for an add-column and for a rename, each on its own
//! fresh, identical table, at several sizes, in one run on one server. The engine alone (library
//! call, no trigger on the table, same throttle) runs beside them.
//!
//! ```text
//! cargo bench --bench backfill_flow                      # 500k and 2M rows
//! cargo bench --bench backfill_flow -- --rows 500000,2000000,4000000 --repeat 2
//! cargo bench --bench backfill_flow -- --rows 500000 --flags "--target-batch-time 100ms"
//! ```
//! Server: PLANNER_BENCH_PG (default postgres://postgres@127.0.0.1:5432); it creates and drops
//! the database `planner_bench_flow`. `--flags` are passed to `planner backfill`; the engine
//! arm always runs the default throttle (`--batch 10000`). `--repeat R` (default 2) runs every
//! size R times, the arms in reverse order on every other repetition (ABAB), and reports medians.
//! Beside wall time it reads the server CPU of the session doing each arm's work from /proc (the
//! bulk UPDATE's backend, the backfill's session): on a shared machine wall time moves with the
//! load by up to 2x, CPU seconds far less, so the CPU ratios are the steadier comparison.

#[path = "../tests/backfill_support/mod.rs"]
mod backfill_support;

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use backfill_support::task;
use planner::backfill::{self, BackfillOptions, ProgressMode, ThrottleSettings};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use support::{exec, load_average, process_cpu, server, Argv};

struct Args {
    rows: Vec<u64>,
    /// Extra flags for `planner backfill`, split on whitespace.
    flags: Vec<String>,
    /// Repetitions per size, arms in reverse order on every other one.
    repeat: usize,
}

fn parse_args() -> Option<Args> {
    let argv = Argv::bench()?;
    let rows = argv
        .value("--rows")
        .map(|v| v.split(',').map(|n| n.trim().replace('_', "").parse().expect("--rows N,N,...")).collect())
        .unwrap_or_else(|| vec![500_000, 2_000_000]);
    let flags =
        argv.value("--flags").map(|f| f.split_whitespace().map(String::from).collect()).unwrap_or_default();
    let repeat = argv.num("--repeat", 2).max(1) as usize;
    Some(Args { rows, flags, repeat })
}

/// `(id bigint primary key, email text, verified_at timestamptz, payload text)` with `n` rows:
/// every row has an email, half are verified, 60 bytes of payload.
async fn build(pool: &PgPool, name: &str, n: u64) -> anyhow::Result<()> {
    exec(
        pool,
        &format!(
            "DROP TABLE IF EXISTS {name};
             CREATE TABLE {name} (id bigint PRIMARY KEY, email text, verified_at timestamptz, payload text);
             INSERT INTO {name} (id, email, verified_at, payload)
               SELECT g, 'user' || g || '@example.com',
                      CASE WHEN g % 2 = 0 THEN timestamptz '2026-01-01' + g * interval '1 second' END,
                      repeat('x', 60)
                 FROM generate_series(1, {n}) g;"
        ),
    )
    .await?;
    exec(pool, &format!("VACUUM ANALYZE {name}")).await
}

async fn count(pool: &PgPool, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(pool).await?)
}

/// Runs `sql` on a connection of its own: its wall time and the server CPU of its backend.
async fn timed_bulk(pool: &PgPool, sql: &str) -> anyhow::Result<(Duration, Option<Duration>)> {
    let mut conn = pool.acquire().await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *conn).await?;
    let cpu = process_cpu(pid);
    let t = Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut *conn)
        .await
        .with_context(|| sql.to_string())?;
    let took = t.elapsed();
    Ok((took, process_cpu(pid).zip(cpu).map(|(after, before)| after - before)))
}

/// Samples the server CPU of the backfill's session (application_name `planner backfill`, set
/// by the engine) in this database while it runs, from /proc every 20 ms, on a connection of
/// its own. A session that started after the watch counts from zero, an older (pooled) one from
/// the first sample; the last 20 ms before the session ends can be missed (< 1% of an arm).
struct BackfillCpu {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<Option<Duration>>>,
}

const BACKFILL_SESSION: &str = "FROM pg_stat_activity WHERE application_name = 'planner backfill' \
                                AND datname = current_database() AND pid <> pg_backend_pid()";

impl BackfillCpu {
    async fn start(url: &str) -> anyhow::Result<BackfillCpu> {
        let mut conn = PgConnection::connect(url).await?;
        // A previous arm's session may still be closing: wait for it to go.
        for _ in 0..500 {
            let left: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) {BACKFILL_SESSION}")))
                    .fetch_one(&mut conn)
                    .await?;
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let since: String = sqlx::query_scalar("SELECT clock_timestamp()::text").fetch_one(&mut conn).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let find = format!("SELECT pid, backend_start >= $1::timestamptz {BACKFILL_SESSION} LIMIT 1");
            let (mut pid, mut first, mut last) = (None, None, None);
            while !flag.load(Ordering::Relaxed) {
                if pid.is_none() {
                    let found: Option<(i32, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(find.clone()))
                        .bind(&since)
                        .fetch_optional(&mut conn)
                        .await?;
                    if let Some((p, fresh)) = found {
                        pid = Some(p);
                        if fresh {
                            first = Some(Duration::ZERO);
                        }
                    }
                }
                if let Some(cpu) = pid.and_then(process_cpu) {
                    first.get_or_insert(cpu);
                    last = Some(cpu);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(first.zip(last).map(|(first, last)| last - first))
        });
        Ok(BackfillCpu { stop, task })
    }

    async fn stop(self) -> anyhow::Result<Option<Duration>> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await?
    }
}

/// Runs the release binary; fails with its output when it exits non-zero.
async fn planner(url: &str, args: &[&str]) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_planner"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .await
        .context("running planner")?;
    let elapsed = t.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "planner {} exited {}:\n{}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(elapsed)
}

/// The real flow on `table`: plan from the live database, expand, then (timed, after a
/// CHECKPOINT) `planner backfill`. Returns (backfill time, WAL meanwhile, the backfill session's
/// server CPU).
async fn flow(
    pool: &PgPool,
    url: &str,
    dir: &Path,
    name: &str,
    change: &[&str],
    flags: &[String],
) -> anyhow::Result<(Duration, u64, Option<Duration>)> {
    let out = dir.to_str().context("temp dir")?;
    let plan_dir = dir.join(name);
    let plan_dir = plan_dir.to_str().context("temp dir")?;
    let mut plan_args = vec!["plan"];
    plan_args.extend_from_slice(change);
    plan_args.extend_from_slice(&["--out", out, "--name", name]);
    planner(url, &plan_args).await?;
    planner(url, &["apply", plan_dir, "--phase", "expand"]).await?;
    exec(pool, "CHECKPOINT").await?;
    let lsn = wal_lsn(pool).await?;
    let mut backfill_args = vec!["backfill", plan_dir];
    backfill_args.extend(flags.iter().map(String::as_str));
    let watch = BackfillCpu::start(url).await?;
    let backfill = planner(url, &backfill_args).await?;
    let cpu = watch.stop().await?;
    Ok((backfill, wal_since(pool, &lsn).await?, cpu))
}

/// The five arms of one size, each on its own fresh table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arm {
    BulkAdd,
    EngineAdd,
    CliAdd,
    BulkRename,
    CliRename,
}

const ARMS: [Arm; 5] = [Arm::BulkAdd, Arm::EngineAdd, Arm::CliAdd, Arm::BulkRename, Arm::CliRename];

/// One timed arm: its duration, the WAL the server wrote meanwhile (cluster-wide: other
/// databases' writes count too, so it is an upper bound on the arm's own) and the server CPU of
/// the session that did the work (None when the server is not on this machine). CPU moves far
/// less with the machine's load than wall time, which is why the summary gives both ratios.
struct Timed {
    took: Duration,
    wal: u64,
    cpu: Option<Duration>,
}

async fn wal_lsn(pool: &PgPool) -> anyhow::Result<String> {
    Ok(sqlx::query_scalar("SELECT pg_current_wal_lsn()::text").fetch_one(pool).await?)
}

async fn wal_since(pool: &PgPool, lsn: &str) -> anyhow::Result<u64> {
    let d: f64 = sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::float8")
        .bind(lsn)
        .fetch_one(pool)
        .await?;
    Ok(d.max(0.0) as u64)
}

/// Build the arm's table, run its timed part (after a CHECKPOINT), check the result, drop it.
async fn run_arm(
    pool: &PgPool,
    url: &str,
    dir: &Path,
    arm: Arm,
    n: u64,
    rep: usize,
    flags: &[String],
) -> anyhow::Result<Timed> {
    match arm {
        Arm::BulkAdd | Arm::BulkRename => {
            let (table, column, sql) = if arm == Arm::BulkAdd {
                ("bulk_add", "verified boolean", "UPDATE bulk_add SET verified = verified_at IS NOT NULL")
            } else {
                ("bulk_rename", "email_address text", "UPDATE bulk_rename SET email_address = email")
            };
            build(pool, table, n).await?;
            exec(pool, &format!("ALTER TABLE {table} ADD COLUMN {column}")).await?;
            exec(pool, "CHECKPOINT").await?;
            let lsn = wal_lsn(pool).await?;
            let (took, cpu) = timed_bulk(pool, sql).await?;
            let wal = wal_since(pool, &lsn).await?;
            exec(pool, &format!("DROP TABLE {table}")).await?;
            Ok(Timed { took, wal, cpu })
        }
        Arm::EngineAdd => {
            // The engine alone: same column, no trigger, library call, default throttle.
            build(pool, "engine_add", n).await?;
            exec(pool, "ALTER TABLE engine_add ADD COLUMN verified boolean").await?;
            let plan = backfill_support::plan(
                &format!("engine_add_{n}_{rep}"),
                vec![task(
                    "engine_add",
                    &[("id", "bigint")],
                    &[("verified", "\"verified_at\" IS NOT NULL")],
                    "\"verified\" IS NULL",
                )],
            );
            let options = BackfillOptions {
                throttle: ThrottleSettings::default(),
                progress: ProgressMode::None,
                ..Default::default()
            };
            exec(pool, "CHECKPOINT").await?;
            let lsn = wal_lsn(pool).await?;
            let watch = BackfillCpu::start(url).await?;
            let report = backfill::run(pool, &plan, &options).await?;
            let cpu = watch.stop().await?;
            let wal = wal_since(pool, &lsn).await?;
            let left = count(pool, "SELECT count(*) FROM engine_add WHERE verified IS NULL").await?;
            anyhow::ensure!(report.completed && left == 0, "engine left {left} rows");
            exec(pool, "DROP TABLE engine_add").await?;
            Ok(Timed { took: report.elapsed, wal, cpu })
        }
        Arm::CliAdd | Arm::CliRename => {
            let add = arm == Arm::CliAdd;
            let table = format!("{}_{n}_{rep}", if add { "cli_add" } else { "cli_rename" });
            build(pool, &table, n).await?;
            let column = format!("{table}.{}", if add { "verified" } else { "email" });
            let change: Vec<&str> = if add {
                vec!["add-column", &column, "boolean", "--not-null", "--backfill", "verified_at IS NOT NULL"]
            } else {
                vec!["rename", &column, "email_address"]
            };
            let (took, wal, cpu) = flow(pool, url, dir, &format!("flow_{table}"), &change, flags).await?;
            let check = if add {
                format!(
                    "SELECT count(*) FROM {table} WHERE verified IS DISTINCT FROM (verified_at IS NOT NULL)"
                )
            } else {
                format!("SELECT count(*) FROM {table} WHERE email_address IS DISTINCT FROM email")
            };
            let left = count(pool, &check).await?;
            anyhow::ensure!(left == 0, "real {arm:?} flow left {left} rows");
            exec(pool, &format!("DROP TABLE {table}")).await?;
            Ok(Timed { took, wal, cpu })
        }
    }
}

/// A figure with `digits` decimals, or `n/a` (no CPU figure: the server is not local).
fn show(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.digits$}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let Some(args) = parse_args() else { return Ok(()) };
    let admin = PgPoolOptions::new().max_connections(1).connect(&format!("{}/postgres", server())).await?;
    exec(&admin, "DROP DATABASE IF EXISTS planner_bench_flow WITH (FORCE)").await?;
    exec(&admin, "CREATE DATABASE planner_bench_flow").await?;
    let url = format!("{}/planner_bench_flow", server());
    let pool = PgPoolOptions::new().max_connections(2).connect(&url).await?;
    planner::exec::state::ensure_schema(&mut *pool.acquire().await?).await?;
    let dir = tempfile::tempdir()?;

    let version: String = sqlx::query_scalar("SELECT version()").fetch_one(&pool).await?;
    println!("{version}");
    let mut settings = Vec::new();
    for s in [
        "shared_buffers",
        "wal_buffers",
        "max_wal_size",
        "checkpoint_timeout",
        "synchronous_commit",
        "full_page_writes",
        "wal_compression",
        "autovacuum",
    ] {
        let v: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {s}"))).fetch_one(&pool).await?;
        settings.push(format!("{s} {v}"));
    }
    println!("{}", settings.join(", "));
    println!("binary: {}", env!("CARGO_BIN_EXE_planner"));
    println!(
        "planner backfill flags: {}",
        if args.flags.is_empty() { "(defaults)".into() } else { args.flags.join(" ") }
    );
    println!("load average before: {}", load_average());

    // ABAB: every repetition runs the five arms, in reverse order on odd repetitions, so a
    // drift in the machine's load over the run hits the baselines and the planner arms alike.
    let mut all: Vec<(u64, Vec<[Timed; 5]>)> = Vec::new();
    for &n in &args.rows {
        let mut reps = Vec::new();
        for rep in 0..args.repeat {
            let order: Vec<Arm> =
                if rep % 2 == 0 { ARMS.to_vec() } else { ARMS.iter().rev().copied().collect() };
            let mut got: Vec<(Arm, Timed)> = Vec::new();
            let before = load_average();
            for arm in order {
                got.push((arm, run_arm(&pool, &url, dir.path(), arm, n, rep, &args.flags).await?));
            }
            let take = |a: Arm, got: &mut Vec<(Arm, Timed)>| {
                let i = got.iter().position(|(x, _)| *x == a).expect("every arm ran");
                got.remove(i).1
            };
            let row = [
                take(Arm::BulkAdd, &mut got),
                take(Arm::EngineAdd, &mut got),
                take(Arm::CliAdd, &mut got),
                take(Arm::BulkRename, &mut got),
                take(Arm::CliRename, &mut got),
            ];
            let rate = |t: &Timed| n as f64 / t.took.as_secs_f64();
            let wal = |t: &Timed| t.wal as f64 / n as f64;
            println!(
                "{n} rows, repetition {} ({}): rows/s bulk add {:.0}, engine {:.0} ({:.2}), planner add {:.0} ({:.2}), \
                 bulk rename {:.0}, planner rename {:.0} ({:.2}); WAL B/row {:.0} / {:.0} / {:.0} / {:.0} / {:.0}; load {before} -> {}",
                rep + 1,
                if rep % 2 == 0 { "bulk first" } else { "planner first" },
                rate(&row[0]),
                rate(&row[1]),
                rate(&row[1]) / rate(&row[0]),
                rate(&row[2]),
                rate(&row[2]) / rate(&row[0]),
                rate(&row[3]),
                rate(&row[4]),
                rate(&row[4]) / rate(&row[3]),
                wal(&row[0]),
                wal(&row[1]),
                wal(&row[2]),
                wal(&row[3]),
                wal(&row[4]),
                load_average()
            );
            let cpu = |t: &Timed| t.cpu.map(|c| c.as_secs_f64());
            let cpu_ratio = |base: &Timed, t: &Timed| cpu(base).zip(cpu(t)).map(|(b, t)| b / t);
            println!(
                "    server CPU of the working session (s): bulk add {}, engine {} ({}), planner add {} ({}), \
                 bulk rename {}, planner rename {} ({})",
                show(cpu(&row[0]), 2),
                show(cpu(&row[1]), 2),
                show(cpu_ratio(&row[0], &row[1]), 2),
                show(cpu(&row[2]), 2),
                show(cpu_ratio(&row[0], &row[2]), 2),
                show(cpu(&row[3]), 2),
                show(cpu(&row[4]), 2),
                show(cpu_ratio(&row[3], &row[4]), 2),
            );
            reps.push(row);
        }
        all.push((n, reps));
    }

    println!(
        "\nmedian over {} repetitions: rows/s (median of the per-repetition ratios to the bulk UPDATE of the same change)",
        args.repeat
    );
    println!(
        "{:>9} {:>13} {:>18} {:>18} {:>13} {:>18}",
        "rows", "bulk add-col", "engine add-col", "planner add-col", "bulk rename", "planner rename"
    );
    let secs_per_row = |reps: &[[Timed; 5]], i: usize, n: u64| {
        median(reps.iter().map(|r| r[i].took.as_secs_f64() / n as f64).collect())
    };
    for (n, reps) in &all {
        let rate = |i: usize| median(reps.iter().map(|r| *n as f64 / r[i].took.as_secs_f64()).collect());
        let ratio = |i: usize, base: usize| {
            median(reps.iter().map(|r| r[base].took.as_secs_f64() / r[i].took.as_secs_f64()).collect())
        };
        println!(
            "{:>9} {:>13.0} {:>11.0} ({:.2}) {:>11.0} ({:.2}) {:>13.0} {:>11.0} ({:.2})",
            n,
            rate(0),
            rate(1),
            ratio(1, 0),
            rate(2),
            ratio(2, 0),
            rate(3),
            rate(4),
            ratio(4, 3)
        );
    }
    println!(
        "\nby server CPU of the working session: median CPU seconds (median of the per-repetition ratios bulk CPU / arm CPU)"
    );
    println!(
        "{:>9} {:>13} {:>18} {:>18} {:>13} {:>18}",
        "rows", "bulk add-col", "engine add-col", "planner add-col", "bulk rename", "planner rename"
    );
    let cpu_of = |r: &[Timed; 5], i: usize| r[i].cpu.map(|c| c.as_secs_f64());
    for (n, reps) in &all {
        let secs = |i: usize| median(reps.iter().filter_map(|r| cpu_of(r, i)).collect());
        let ratio = |i: usize, base: usize| {
            median(
                reps.iter().filter_map(|r| cpu_of(r, base).zip(cpu_of(r, i)).map(|(b, t)| b / t)).collect(),
            )
        };
        println!(
            "{:>9} {:>13.2} {:>11.2} ({:.2}) {:>11.2} ({:.2}) {:>13.2} {:>11.2} ({:.2})",
            n,
            secs(0),
            secs(1),
            ratio(1, 0),
            secs(2),
            ratio(2, 0),
            secs(3),
            secs(4),
            ratio(4, 3)
        );
    }
    if let (Some((sn, s)), Some((ln, l))) = (all.first(), all.last()) {
        if sn != ln {
            let scale = |i: usize| secs_per_row(l, i, *ln) / secs_per_row(s, i, *sn);
            println!(
                "median time per row at {ln} rows / at {sn} rows: bulk add-col {:.2}, engine add-col {:.2}, \
                 planner add-col {:.2}, bulk rename {:.2}, planner rename {:.2}",
                scale(0),
                scale(1),
                scale(2),
                scale(3),
                scale(4)
            );
            let cpu_per_row = |reps: &[[Timed; 5]], i: usize, n: u64| {
                median(reps.iter().filter_map(|r| cpu_of(r, i)).map(|c| c / n as f64).collect())
            };
            let scale = |i: usize| cpu_per_row(l, i, *ln) / cpu_per_row(s, i, *sn);
            println!(
                "median server CPU per row at {ln} rows / at {sn} rows: bulk add-col {:.2}, engine add-col {:.2}, \
                 planner add-col {:.2}, bulk rename {:.2}, planner rename {:.2}",
                scale(0),
                scale(1),
                scale(2),
                scale(3),
                scale(4)
            );
        }
    }
    println!("load average after: {}", load_average());
    pool.close().await;
    exec(&admin, "DROP DATABASE IF EXISTS planner_bench_flow WITH (FORCE)").await?;
    Ok(())
}
