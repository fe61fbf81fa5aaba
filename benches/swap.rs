//! change_type's swap benchmark (not a test): how long the contract's swap transaction takes, and
//! how long the app's writes wait for it, at several table sizes, through the path users take:
//! `planner plan change-type swap_t.id bigint --database-url` (integer serial primary key that
//! `swap_c.t_id` references), `planner apply --phase expand`, `planner backfill`, then
//! `planner apply --phase contract` while an app inserts into and updates both tables. The swap
//! is catalog work under one `LOCK TABLE`, so its time should not grow with the table.
//!
//! ```text
//! cargo bench --bench swap                          # 500k and 2M rows
//! cargo bench --bench swap -- --rows 500000,2000000
//! ```
//! Server: PLANNER_BENCH_PG (default postgres://postgres@127.0.0.1:5432); it creates and drops
//! the database `planner_bench_swap`.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool};
use support::{exec, load_average, pct, server, Argv};

/// Runs the planner binary cargo built for this bench; returns its stderr.
async fn planner(url: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_planner"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .await
        .context("running planner")?;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    anyhow::ensure!(out.status.success(), "planner {} exited {}:\n{stderr}", args.join(" "), out.status);
    Ok(stderr)
}

/// The elapsed time planner printed for the unit that starts with the `LOCK TABLE` step.
fn swap_ms(stderr: &str) -> Option<u64> {
    let step = stderr.lines().find(|l| l.contains("the swap: one transaction"))?;
    let n: String = step.split(" step ").nth(1)?.split('/').next()?.to_string();
    let done = stderr.lines().find(|l| l.contains(&format!("steps {n}-")) && l.contains(" done in "))?;
    done.split(" done in ").nth(1)?.trim_end_matches(" ms").trim().parse().ok()
}

/// Phase of the app's writes: 0 before contract, 1 during it, 2 after.
struct App {
    phase: AtomicUsize,
    stop: AtomicBool,
    /// Microseconds of each write during contract.
    during: Mutex<Vec<u64>>,
    errors: Mutex<Vec<String>>,
}

async fn app(pool: PgPool, n: i64, state: Arc<App>) {
    let mut i: i64 = 0;
    while !state.stop.load(Ordering::Relaxed) {
        i += 1;
        let t = Instant::now();
        let id = 1 + (i * 7919) % n;
        let r = match i % 3 {
            0 => sqlx::query("INSERT INTO swap_t (v) VALUES ($1)").bind(i as i32).execute(&pool).await,
            1 => sqlx::query("UPDATE swap_t SET v = v + 1 WHERE id = $1").bind(id).execute(&pool).await,
            _ => sqlx::query("INSERT INTO swap_c (t_id) VALUES ($1)").bind(id).execute(&pool).await,
        };
        let us = t.elapsed().as_micros() as u64;
        if let Err(e) = r {
            state.errors.lock().unwrap().push(e.to_string());
        }
        if state.phase.load(Ordering::Relaxed) == 1 {
            state.during.lock().unwrap().push(us);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let Some(argv) = Argv::bench() else { return Ok(()) };
    let rows: Vec<i64> = argv
        .value("--rows")
        .map(|v| v.split(',').map(|n| n.trim().replace('_', "").parse().expect("--rows N,N")).collect())
        .unwrap_or_else(|| vec![500_000, 2_000_000]);
    let admin = PgPoolOptions::new().max_connections(1).connect(&format!("{}/postgres", server())).await?;
    exec(&admin, "DROP DATABASE IF EXISTS planner_bench_swap WITH (FORCE)").await?;
    exec(&admin, "CREATE DATABASE planner_bench_swap").await?;
    let url = format!("{}/planner_bench_swap", server());
    let pool = PgPoolOptions::new().max_connections(2).connect(&url).await?;
    let version: String = sqlx::query_scalar("SELECT version()").fetch_one(&pool).await?;
    println!("{version}");
    println!("binary: {}", env!("CARGO_BIN_EXE_planner"));
    println!("load average before: {}", load_average());
    let dir = tempfile::tempdir()?;
    let out = dir.path().to_str().context("temp dir")?.to_string();
    let mut lines = Vec::new();
    for &n in &rows {
        exec(
            &pool,
            &format!(
                "DROP TABLE IF EXISTS swap_c, swap_t;
                 CREATE TABLE swap_t (id serial PRIMARY KEY, v integer NOT NULL DEFAULT 0);
                 CREATE TABLE swap_c (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                      t_id integer NOT NULL REFERENCES swap_t (id));
                 CREATE INDEX swap_c_t_idx ON swap_c (t_id);
                 INSERT INTO swap_t (v) SELECT g % 100 FROM generate_series(1, {n}) g;
                 INSERT INTO swap_c (t_id) SELECT 1 + (g * 13) % {n} FROM generate_series(1, {}) g;",
                n / 4
            ),
        )
        .await?;
        exec(&pool, "VACUUM ANALYZE swap_t").await?;
        exec(&pool, "VACUUM ANALYZE swap_c").await?;
        let name = format!("swap_{n}");
        let plan_dir = format!("{out}/{name}");
        planner(&url, &["plan", "change-type", "swap_t.id", "bigint", "--out", &out, "--name", &name])
            .await?;
        planner(
            &url,
            &["apply", &plan_dir, "--phase", "expand", "--lock-timeout", "200ms", "--retries", "30"],
        )
        .await?;
        planner(&url, &["backfill", &plan_dir, "--batch", "5000", "--progress", "plain"]).await?;

        let state = Arc::new(App {
            phase: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            during: Mutex::new(Vec::new()),
            errors: Mutex::new(Vec::new()),
        });
        let app_pool = PgPoolOptions::new()
            .max_connections(2)
            .after_connect(|c, _| {
                Box::pin(async move {
                    c.execute("SET lock_timeout = '1s'").await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let apps: Vec<_> = (0..2).map(|_| tokio::spawn(app(app_pool.clone(), n, state.clone()))).collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        state.phase.store(1, Ordering::Relaxed);
        let t = Instant::now();
        let stderr = planner(
            &url,
            &[
                "apply",
                &plan_dir,
                "--phase",
                "contract",
                "--yes",
                "--lock-timeout",
                "200ms",
                "--retries",
                "30",
            ],
        )
        .await?;
        let contract = t.elapsed();
        state.phase.store(2, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(300)).await;
        state.stop.store(true, Ordering::Relaxed);
        for a in apps {
            a.await?;
        }
        let mut during = state.during.lock().unwrap().clone();
        during.sort_unstable();
        let errors = state.errors.lock().unwrap().len();
        let swap = swap_ms(&stderr).map(|m| format!("{m} ms")).unwrap_or_else(|| "not found".into());
        let line = format!(
            "{n:>9} rows: swap transaction {swap:>8} (as planner apply reports it, lock wait and retries included); \
             contract phase {:.1} s (verification scan, NOT NULL validation, FK validation); \
             app writes during contract: {} (p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms), errors {errors}",
            contract.as_secs_f64(),
            during.len(),
            pct(&during, 0.5),
            pct(&during, 0.99),
            pct(&during, 1.0),
        );
        println!("{line}");
        lines.push(line);
        app_pool.close().await;
    }
    println!("load average after: {}", load_average());
    pool.close().await;
    exec(&admin, "DROP DATABASE IF EXISTS planner_bench_swap WITH (FORCE)").await?;
    Ok(())
}
