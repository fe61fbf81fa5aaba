//! Real-flow backfill benchmark (not a test): one bulk UPDATE of a table without planner (the
//! physical limit) against the path users take, through the release `planner` binary:
//! `planner plan … --database-url` from the live table, `planner apply --phase expand` (the sync
//! trigger goes on), then `planner backfill`, for an add-column and for a rename, each on its own
//! fresh, identical table, at several sizes, in one run on one server. The engine alone (library
//! call, no trigger on the table, same throttle) runs beside them.
//!
//! ```text
//! cargo bench --bench backfill_flow                      # 500k and 2M rows
//! cargo bench --bench backfill_flow -- --rows 500000,2000000,4000000
//! cargo bench --bench backfill_flow -- --rows 500000 --flags "--target-batch-time 100ms"
//! ```
//! Server: PLANNER_BENCH_PG (default postgres://postgres@127.0.0.1:5432); it creates and drops
//! the database `planner_bench_flow`. `--flags` are passed to `planner backfill`; the engine
//! arm always runs the default throttle (`--batch 1000`).

#[path = "../tests/backfill_support/mod.rs"]
mod backfill_support;

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use backfill_support::task;
use planner::backfill::{self, BackfillOptions, ProgressMode, ThrottleSettings};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use support::{exec, load_average, server, Argv};

struct Args {
    rows: Vec<u64>,
    /// Extra flags for `planner backfill`, split on whitespace.
    flags: Vec<String>,
}

fn parse_args() -> Option<Args> {
    let argv = Argv::bench()?;
    let rows = argv
        .value("--rows")
        .map(|v| v.split(',').map(|n| n.trim().replace('_', "").parse().expect("--rows N,N,...")).collect())
        .unwrap_or_else(|| vec![500_000, 2_000_000]);
    let flags =
        argv.value("--flags").map(|f| f.split_whitespace().map(String::from).collect()).unwrap_or_default();
    Some(Args { rows, flags })
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

/// Time of one statement, after a CHECKPOINT (every timed arm starts from one).
async fn timed(pool: &PgPool, sql: &str) -> anyhow::Result<Duration> {
    exec(pool, "CHECKPOINT").await?;
    let t = Instant::now();
    exec(pool, sql).await?;
    Ok(t.elapsed())
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
/// CHECKPOINT) `planner backfill`. Returns (plan + expand time, backfill time).
async fn flow(
    pool: &PgPool,
    url: &str,
    dir: &Path,
    name: &str,
    change: &[&str],
    flags: &[String],
) -> anyhow::Result<(Duration, Duration)> {
    let out = dir.to_str().context("temp dir")?;
    let plan_dir = dir.join(name);
    let plan_dir = plan_dir.to_str().context("temp dir")?;
    let mut plan_args = vec!["plan"];
    plan_args.extend_from_slice(change);
    plan_args.extend_from_slice(&["--out", out, "--name", name]);
    let t = Instant::now();
    planner(url, &plan_args).await?;
    planner(url, &["apply", plan_dir, "--phase", "expand"]).await?;
    let setup = t.elapsed();
    exec(pool, "CHECKPOINT").await?;
    let mut backfill_args = vec!["backfill", plan_dir];
    backfill_args.extend(flags.iter().map(String::as_str));
    let backfill = planner(url, &backfill_args).await?;
    Ok((setup, backfill))
}

struct Sizes {
    n: u64,
    bulk_add: Duration,
    engine_add: Duration,
    cli_add: Duration,
    bulk_rename: Duration,
    cli_rename: Duration,
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

    let mut results = Vec::new();
    for &n in &args.rows {
        // (a) the physical limit: add the column, one bulk UPDATE, no trigger, no planner.
        build(&pool, "bulk_add", n).await?;
        exec(&pool, "ALTER TABLE bulk_add ADD COLUMN verified boolean").await?;
        let bulk_add = timed(&pool, "UPDATE bulk_add SET verified = verified_at IS NOT NULL").await?;
        exec(&pool, "DROP TABLE bulk_add").await?;

        // The engine alone: same column, no trigger, library call, --batch 1000.
        build(&pool, "engine_add", n).await?;
        exec(&pool, "ALTER TABLE engine_add ADD COLUMN verified boolean").await?;
        let plan = backfill_support::plan(
            &format!("engine_add_{n}"),
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
        exec(&pool, "CHECKPOINT").await?;
        let report = backfill::run(&pool, &plan, &options).await?;
        let left = count(&pool, "SELECT count(*) FROM engine_add WHERE verified IS NULL").await?;
        anyhow::ensure!(report.completed && left == 0, "engine left {left} rows");
        let engine_add = report.elapsed;
        exec(&pool, "DROP TABLE engine_add").await?;

        // (b) the real flow, add-column.
        let table = format!("cli_add_{n}");
        build(&pool, &table, n).await?;
        let column = format!("{table}.verified");
        let (setup_add, cli_add) = flow(
            &pool,
            &url,
            dir.path(),
            &format!("flow_add_{n}"),
            &["add-column", &column, "boolean", "--not-null", "--backfill", "verified_at IS NOT NULL"],
            &args.flags,
        )
        .await?;
        let left = count(
            &pool,
            &format!(
                "SELECT count(*) FROM {table} WHERE verified IS DISTINCT FROM (verified_at IS NOT NULL)"
            ),
        )
        .await?;
        anyhow::ensure!(left == 0, "real add-column flow left {left} rows");
        exec(&pool, &format!("DROP TABLE {table}")).await?;

        // (a) for the rename: the copy into a new column, one bulk UPDATE.
        build(&pool, "bulk_rename", n).await?;
        exec(&pool, "ALTER TABLE bulk_rename ADD COLUMN email_address text").await?;
        let bulk_rename = timed(&pool, "UPDATE bulk_rename SET email_address = email").await?;
        exec(&pool, "DROP TABLE bulk_rename").await?;

        // (c) the real flow, rename.
        let table = format!("cli_rename_{n}");
        build(&pool, &table, n).await?;
        let column = format!("{table}.email");
        let (setup_rename, cli_rename) = flow(
            &pool,
            &url,
            dir.path(),
            &format!("flow_rename_{n}"),
            &["rename", &column, "email_address"],
            &args.flags,
        )
        .await?;
        let left =
            count(&pool, &format!("SELECT count(*) FROM {table} WHERE email_address IS DISTINCT FROM email"))
                .await?;
        anyhow::ensure!(left == 0, "real rename flow left {left} rows");
        exec(&pool, &format!("DROP TABLE {table}")).await?;

        println!(
            "{n} rows: plan+expand (not in the rates) add-column {:.2}s, rename {:.2}s; load {}",
            setup_add.as_secs_f64(),
            setup_rename.as_secs_f64(),
            load_average()
        );
        results.push(Sizes { n, bulk_add, engine_add, cli_add, bulk_rename, cli_rename });
    }

    let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64();
    println!("\nrows/s (ratio to the bulk UPDATE of the same change on an identical table, same run)");
    println!(
        "{:>9} {:>13} {:>18} {:>18} {:>13} {:>18}",
        "rows", "bulk add-col", "engine add-col", "planner add-col", "bulk rename", "planner rename"
    );
    for r in &results {
        let (ba, br) = (rate(r.n, r.bulk_add), rate(r.n, r.bulk_rename));
        let (ea, ca, cr) = (rate(r.n, r.engine_add), rate(r.n, r.cli_add), rate(r.n, r.cli_rename));
        println!(
            "{:>9} {ba:>13.0} {:>11.0} ({:.2}) {:>11.0} ({:.2}) {br:>13.0} {:>11.0} ({:.2})",
            r.n,
            ea,
            ea / ba,
            ca,
            ca / ba,
            cr,
            cr / br
        );
    }
    if let (Some(s), Some(l)) = (results.first(), results.last()) {
        if s.n != l.n {
            let per = |d: Duration, n: u64| d.as_secs_f64() / n as f64;
            let scale = |a: Duration, b: Duration| per(a, l.n) / per(b, s.n);
            println!(
                "time per row at {} rows / at {} rows: bulk add-col {:.2}, engine add-col {:.2}, \
                 planner add-col {:.2}, bulk rename {:.2}, planner rename {:.2}",
                l.n,
                s.n,
                scale(l.bulk_add, s.bulk_add),
                scale(l.engine_add, s.engine_add),
                scale(l.cli_add, s.cli_add),
                scale(l.bulk_rename, s.bulk_rename),
                scale(l.cli_rename, s.cli_rename)
            );
        }
    }
    println!("load average after: {}", load_average());
    pool.close().await;
    exec(&admin, "DROP DATABASE IF EXISTS planner_bench_flow WITH (FORCE)").await?;
    Ok(())
}
