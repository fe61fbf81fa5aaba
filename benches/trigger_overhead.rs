//! Trigger overhead benchmark (not a test): write throughput and latency of an "old app"
//! workload on `users` before expand, with the expand phase of a plan applied (its trigger on),
//! and again after rolling back, interleaved so that drift and machine noise show up as the
//! difference between the "before" runs.
//!
//! ```text
//! cargo bench --bench trigger_overhead
//! cargo bench --bench trigger_overhead -- --rows 200000 --secs 10 --clients 4 --rounds 2 --insert-pct 20
//! ```
//! Server: PLANNER_BENCH_PG (default postgres://postgres@127.0.0.1:5432); it creates and drops
//! the database `planner_bench_trigger`. The database is examples/schema.sql with `--rows` users;
//! the plans are the checked-in `plans/rename_users_name` (two-way sync trigger, plus copies of
//! the CHECK and of two indexes on the new column) and `plans/add_users_email_verified` (fill
//! trigger), both generated from examples/schema.sql.

mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use planner::exec::{self, ApplyOptions, LoadedPlan, Session, SessionOptions};
use planner::plan::PhaseKind;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use support::{exec, load_average, pct, server, Argv};

struct Args {
    rows: u64,
    secs: u64,
    clients: usize,
    rounds: usize,
    insert_pct: u64,
}

fn parse_args() -> Option<Args> {
    let argv = Argv::bench()?;
    let args = Args {
        rows: argv.num("--rows", 200_000),
        secs: argv.num("--secs", 10),
        clients: argv.num("--clients", 4) as usize,
        rounds: argv.num("--rounds", 2) as usize,
        insert_pct: argv.num("--insert-pct", 20),
    };
    assert!(args.rows > 0 && args.secs > 0 && args.clients > 0 && args.insert_pct <= 100, "bad flags");
    Some(args)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// examples/schema.sql with `rows` users (a third without email, half verified), as the
/// executor tests build it.
async fn build(pool: &PgPool, rows: u64) -> anyhow::Result<()> {
    let schema =
        std::fs::read_to_string(root().join("examples/schema.sql")).context("examples/schema.sql")?;
    exec(pool, &schema).await?;
    exec(
        pool,
        &format!(
            "INSERT INTO users (email, name, legacy_flag, verified_at)
             SELECT CASE WHEN i % 3 = 0 THEN NULL ELSE 'u' || i || '@example.com' END, 'user-' || i, i % 2 = 0,
                    CASE WHEN i % 2 = 0 THEN now() END
               FROM generate_series(1, {rows}) AS i"
        ),
    )
    .await?;
    exec(pool, "VACUUM ANALYZE users").await
}

fn session_options() -> SessionOptions {
    SessionOptions {
        lock_timeout: Duration::from_secs(2),
        statement_timeout: Duration::from_secs(120),
        retries: 5,
        backoff: Duration::from_millis(50),
        report_steps: false,
    }
}

async fn expand(url: &str, plan: &LoadedPlan) -> anyhow::Result<()> {
    let mut s = Session::open(url, session_options()).await?;
    exec::apply_phase(&mut s, plan, PhaseKind::Expand, &ApplyOptions::default()).await?;
    s.close().await
}

async fn rollback(url: &str, plan: &LoadedPlan) -> anyhow::Result<()> {
    let mut s = Session::open(url, session_options()).await?;
    let undone = exec::rollback_latest(&mut s, plan).await?;
    anyhow::ensure!(undone == PhaseKind::Expand, "rolled back {undone}, expected expand");
    s.close().await
}

/// One measurement of the old app's writes.
struct Run {
    label: String,
    tps: f64,
    p50: f64,
    p99: f64,
    errors: u64,
}

/// `clients` connections writing as the old app (it knows `name`, not `full_name` nor
/// `email_verified`) for `secs` seconds: `UPDATE users SET name, email WHERE id = random` or,
/// `insert_pct` percent of the time, `INSERT INTO users (email, name, legacy_flag, verified_at)`.
/// Each statement is its own (autocommit) transaction, as pgbench's simple write scripts.
async fn workload(url: &str, args: &Args, tag: &str, label: &str) -> anyhow::Result<Run> {
    let errors = Arc::new(AtomicU64::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(args.clients + 1));
    let mut tasks = Vec::new();
    for client in 0..args.clients {
        let mut conn = PgConnection::connect(url).await.context("workload connection")?;
        let (errors, start) = (errors.clone(), start.clone());
        let (rows, secs, insert_pct, tag) = (args.rows, args.secs, args.insert_pct, tag.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            start.wait().await;
            let deadline = Instant::now() + Duration::from_secs(secs);
            let mut seq = 0u64;
            while Instant::now() < deadline {
                seq += 1;
                // Unique per run, client and statement: the email column has a unique index.
                let email = format!("{tag}-{client}-{seq}@bench.invalid");
                let name = format!("name {tag} {client} {seq}");
                let t = Instant::now();
                let result = if rand::random::<u64>() % 100 < insert_pct {
                    sqlx::query(
                        "INSERT INTO users (email, name, legacy_flag, verified_at) \
                         VALUES ($1, $2, $3, CASE WHEN $3 THEN now() END)",
                    )
                    .bind(&email)
                    .bind(&name)
                    .bind(seq.is_multiple_of(2))
                    .execute(&mut conn)
                    .await
                } else {
                    let id = (rand::random::<u64>() % rows + 1) as i64;
                    sqlx::query("UPDATE users SET name = $2, email = $3 WHERE id = $1")
                        .bind(id)
                        .bind(&name)
                        .bind(&email)
                        .execute(&mut conn)
                        .await
                };
                match result {
                    Ok(_) => lat.push(t.elapsed().as_micros() as u64),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            let _ = conn.close().await;
            lat
        }));
    }
    start.wait().await;
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    all.sort_unstable();
    Ok(Run {
        label: label.to_string(),
        tps: all.len() as f64 / args.secs as f64,
        p50: pct(&all, 0.5),
        p99: pct(&all, 0.99),
        errors: errors.load(Ordering::Relaxed),
    })
}

fn print_run(r: &Run) {
    println!(
        "  {:<60} {:>7.0} tps  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}",
        r.label, r.tps, r.p50, r.p99, r.errors
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> anyhow::Result<()> {
    let Some(args) = parse_args() else { return Ok(()) };
    let admin = PgPoolOptions::new().max_connections(1).connect(&format!("{}/postgres", server())).await?;
    exec(&admin, "DROP DATABASE IF EXISTS planner_bench_trigger WITH (FORCE)").await?;
    exec(&admin, "CREATE DATABASE planner_bench_trigger").await?;
    let url = format!("{}/planner_bench_trigger", server());
    let pool = PgPoolOptions::new().max_connections(2).connect(&url).await?;
    build(&pool, args.rows).await?;
    let plans = [
        ("rename_users_name", "sync trigger + 2 index copies"),
        ("add_users_email_verified", "fill trigger"),
    ];
    let loaded: Vec<LoadedPlan> = plans
        .iter()
        .map(|(p, _)| LoadedPlan::load(&root().join("plans").join(p)))
        .collect::<Result<_, _>>()?;

    let version: String = sqlx::query_scalar("SELECT version()").fetch_one(&pool).await?;
    println!("{version}");
    println!("load average before: {}", load_average());
    println!(
        "old-app writes on users ({} rows): {} clients, {}% INSERT / {}% UPDATE name+email by id, \
         autocommit, {} s per run",
        args.rows,
        args.clients,
        args.insert_pct,
        100 - args.insert_pct,
        args.secs
    );
    // Every run starts from the same footing: dead tuples from the previous run vacuumed,
    // dirty buffers flushed.
    let settle = || async {
        exec(&pool, "VACUUM ANALYZE users").await?;
        exec(&pool, "CHECKPOINT").await
    };
    let mut ratios: Vec<(String, f64, f64)> = Vec::new();
    let mut run_no = 0;
    let mut tag = || {
        run_no += 1;
        format!("r{run_no}")
    };
    settle().await?;
    let mut before = workload(&url, &args, &tag(), "before expand").await?;
    print_run(&before);
    for round in 1..=args.rounds {
        for ((name, what), plan) in plans.iter().zip(&loaded) {
            expand(&url, plan).await.with_context(|| format!("expand of {name}"))?;
            settle().await?;
            let after = workload(&url, &args, &tag(), &format!("{name} expanded ({what})")).await?;
            print_run(&after);
            rollback(&url, plan).await.with_context(|| format!("rollback of {name}"))?;
            settle().await?;
            let again = workload(&url, &args, &tag(), &format!("rolled back ({name})")).await?;
            print_run(&again);
            // Compare with the mean of the runs on either side: drift (a growing table,
            // other jobs on the machine) shows as the gap between those two.
            let base_tps = (before.tps + again.tps) / 2.0;
            let base_p99 = (before.p99 + again.p99) / 2.0;
            ratios.push((format!("round {round}: {name}"), after.tps / base_tps, after.p99 / base_p99));
            before = again;
        }
    }
    println!(
        "\nexpanded / mean of the runs before and after it (tps < 1: slower writes; p99 > 1: slower tail)"
    );
    for (label, tps, p99) in &ratios {
        println!("  {label:<40} tps x{tps:.2}  p99 x{p99:.2}");
    }
    println!("load average after: {}", load_average());
    pool.close().await;
    exec(&admin, "DROP DATABASE IF EXISTS planner_bench_trigger WITH (FORCE)").await?;
    Ok(())
}
