//! MySQL/MariaDB backfill benchmark (not a test): filling a computed column
//! (`email_verified = verified_at IS NOT NULL`, the add-column change) on identical tables, side by
//! side in one run on one server, three ways:
//! - (a) planner's real path: `planner plan … --database-url` from the live table, `planner apply
//!   --phase expand` (the fill triggers go on), then, timed, `planner backfill` (release binary,
//!   default throttle: keyset batches of 10,000 rows, each with its checkpoint in one transaction);
//! - (b) one bulk `UPDATE t SET c = expr` on a table expanded by the same CLI (same triggers);
//! - (c) the seed recipe `UPDATE t SET c = expr WHERE c IS NULL LIMIT 1000` in a loop until it
//!   changes 0 rows, same triggers. It rescans the filled prefix on every batch (quadratic), so it
//!   stops after `--limit-budget` seconds (default 120); its rate is then over the rows it filled,
//!   an upper bound on its rate over the whole table.
//!
//! ```text
//! cargo bench --bench mysql_backfill                                  # 500k and 2M rows, 2 repetitions
//! cargo bench --bench mysql_backfill -- --rows 500000 --repeat 4 --limit-budget 60
//! cargo bench --bench mysql_backfill -- --flags "--batch 5000"        # flags for `planner backfill`
//! ```
//! Server: PLANNER_BENCH_MYSQL (default mysql://root@127.0.0.1:3306); it creates and drops the
//! database `planner_bench_mysql`. `--repeat R` runs every size R times, the arms in reverse order
//! on every other repetition (ABAB), and reports medians of the rates and of the per-repetition
//! ratios to (b).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, MySqlConnection};
use support::{load_average, Argv};

struct Args {
    rows: Vec<u64>,
    repeat: usize,
    /// Extra flags for `planner backfill`, split on whitespace.
    flags: Vec<String>,
    limit_budget: Duration,
}

fn parse_args() -> Option<Args> {
    let argv = Argv::bench()?;
    let rows = argv
        .value("--rows")
        .map(|v| v.split(',').map(|n| n.trim().replace('_', "").parse().expect("--rows N,N,...")).collect())
        .unwrap_or_else(|| vec![500_000, 2_000_000]);
    let flags =
        argv.value("--flags").map(|f| f.split_whitespace().map(String::from).collect()).unwrap_or_default();
    Some(Args {
        rows,
        repeat: argv.num("--repeat", 2).max(1) as usize,
        flags,
        limit_budget: Duration::from_secs(argv.num("--limit-budget", 120)),
    })
}

fn server() -> String {
    std::env::var("PLANNER_BENCH_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

const DATABASE: &str = "planner_bench_mysql";
const EXPR: &str = "verified_at IS NOT NULL";
const WRONG: &str = "NOT (email_verified <=> (verified_at IS NOT NULL))";

/// A connection as an application opens it: the server's own sql_mode and time zone (sqlx sets
/// PIPES_AS_CONCAT and UTC at connect).
async fn connect(url: &str) -> anyhow::Result<MySqlConnection> {
    let opts: MySqlConnectOptions = url.parse().with_context(|| format!("bad URL {url}"))?;
    let mut conn = opts.connect().await.with_context(|| format!("connecting to {url}"))?;
    conn.execute("SET SESSION sql_mode = @@GLOBAL.sql_mode, time_zone = @@GLOBAL.time_zone").await?;
    Ok(conn)
}

async fn exec(conn: &mut MySqlConnection, sql: &str) -> anyhow::Result<u64> {
    let done = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut *conn)
        .await
        .with_context(|| sql.to_string())?;
    Ok(done.rows_affected())
}

async fn count(conn: &mut MySqlConnection, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&mut *conn).await?)
}

/// `(id bigint primary key, email, verified_at, payload)` with `n` rows: every row has an email,
/// half are verified, 60 bytes of payload (the PostgreSQL bench's table).
async fn build(conn: &mut MySqlConnection, table: &str, n: u64) -> anyhow::Result<()> {
    exec(
        conn,
        &format!(
            "DROP TABLE IF EXISTS {table};
             CREATE TABLE {table} (id BIGINT NOT NULL PRIMARY KEY, email VARCHAR(255) NULL,
                                   verified_at DATETIME NULL, payload VARCHAR(100) NULL) ENGINE=InnoDB;
             INSERT INTO {table} (id, email, verified_at, payload)
               SELECT seq, CONCAT('user', seq, '@example.com'),
                      IF(seq % 2 = 0, TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND, NULL), REPEAT('x', 60)
                 FROM seq_1_to_{n};
             ANALYZE TABLE {table};"
        ),
    )
    .await?;
    Ok(())
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

/// Plan the add-column change on `table` from the live database and apply expand with the CLI:
/// the column goes on nullable, with the fill triggers. Returns the plan folder.
async fn plan_and_expand(url: &str, dir: &Path, table: &str) -> anyhow::Result<std::path::PathBuf> {
    let out = dir.to_str().context("temp dir")?;
    let name = format!("bench_{table}");
    let column = format!("{table}.email_verified");
    planner(
        url,
        &[
            "plan",
            "add-column",
            &column,
            "boolean",
            "--not-null",
            "--backfill",
            EXPR,
            "--out",
            out,
            "--name",
            &name,
        ],
    )
    .await?;
    let plan_dir = dir.join(&name);
    planner(url, &["apply", plan_dir.to_str().context("temp dir")?, "--phase", "expand"]).await?;
    Ok(plan_dir)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arm {
    Planner,
    Bulk,
    LimitLoop,
}

const ARMS: [Arm; 3] = [Arm::Planner, Arm::Bulk, Arm::LimitLoop];

/// One timed arm: how long, how many rows it filled (all but a budget-capped LIMIT loop: every row).
struct Timed {
    took: Duration,
    filled: u64,
    capped: bool,
}

impl Timed {
    fn rate(&self) -> f64 {
        self.filled as f64 / self.took.as_secs_f64()
    }
}

async fn run_arm(
    conn: &mut MySqlConnection,
    url: &str,
    dir: &Path,
    arm: Arm,
    n: u64,
    rep: usize,
    args: &Args,
) -> anyhow::Result<Timed> {
    let table = format!(
        "{}_{n}_{rep}",
        match arm {
            Arm::Planner => "planner",
            Arm::Bulk => "bulk",
            Arm::LimitLoop => "limit_loop",
        }
    );
    build(conn, &table, n).await?;
    let plan_dir = plan_and_expand(url, dir, &table).await?;
    let timed = match arm {
        Arm::Planner => {
            let mut backfill = vec!["backfill", plan_dir.to_str().context("temp dir")?];
            backfill.extend(args.flags.iter().map(String::as_str));
            let took = planner(url, &backfill).await?;
            Timed { took, filled: n, capped: false }
        }
        Arm::Bulk => {
            let t = Instant::now();
            let changed = exec(conn, &format!("UPDATE {table} SET email_verified = {EXPR}")).await?;
            anyhow::ensure!(changed == n, "the bulk UPDATE changed {changed} of {n} rows");
            Timed { took: t.elapsed(), filled: n, capped: false }
        }
        Arm::LimitLoop => {
            let sql =
                format!("UPDATE {table} SET email_verified = {EXPR} WHERE email_verified IS NULL LIMIT 1000");
            let t = Instant::now();
            let mut filled = 0;
            let mut capped = false;
            loop {
                let changed = exec(conn, &sql).await?;
                filled += changed;
                if changed == 0 {
                    break;
                }
                if t.elapsed() > args.limit_budget {
                    capped = true;
                    break;
                }
            }
            Timed { took: t.elapsed(), filled, capped }
        }
    };
    if !timed.capped {
        let wrong = count(conn, &format!("SELECT COUNT(*) FROM {table} WHERE {WRONG}")).await?;
        anyhow::ensure!(wrong == 0, "{arm:?} left {wrong} rows wrong on {table}");
    }
    exec(conn, &format!("DROP TABLE {table}")).await?;
    Ok(timed)
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
    let mut admin = connect(&server()).await?;
    exec(&mut admin, &format!("DROP DATABASE IF EXISTS {DATABASE}; CREATE DATABASE {DATABASE}")).await?;
    let url = format!("{}/{DATABASE}", server());
    let mut conn = connect(&url).await?;
    let dir = tempfile::tempdir()?;

    let version: String = sqlx::query_scalar("SELECT VERSION()").fetch_one(&mut conn).await?;
    println!("{version}");
    let mut settings = Vec::new();
    for s in [
        "innodb_buffer_pool_size",
        "innodb_log_file_size",
        "innodb_flush_log_at_trx_commit",
        "log_bin",
        "sync_binlog",
        "binlog_format",
    ] {
        let v: Option<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT CAST(@@GLOBAL.{s} AS CHAR)")))
                .fetch_one(&mut conn)
                .await?;
        settings.push(format!("{s} {}", v.unwrap_or_default()));
    }
    println!("{}", settings.join(", "));
    println!("binary: {}", env!("CARGO_BIN_EXE_planner"));
    println!(
        "planner backfill flags: {}; LIMIT loop budget {:?}",
        if args.flags.is_empty() { "(defaults)".into() } else { args.flags.join(" ") },
        args.limit_budget
    );
    println!("load average before: {}", load_average());

    let mut all: Vec<(u64, Vec<[Timed; 3]>)> = Vec::new();
    for &n in &args.rows {
        let mut reps = Vec::new();
        for rep in 0..args.repeat {
            let order: Vec<Arm> =
                if rep % 2 == 0 { ARMS.to_vec() } else { ARMS.iter().rev().copied().collect() };
            let before = load_average();
            let mut got: Vec<(Arm, Timed)> = Vec::new();
            for arm in order {
                got.push((arm, run_arm(&mut conn, &url, dir.path(), arm, n, rep, &args).await?));
            }
            let mut take = |a: Arm| {
                let i = got.iter().position(|(x, _)| *x == a).expect("every arm ran");
                got.remove(i).1
            };
            let row = [take(Arm::Planner), take(Arm::Bulk), take(Arm::LimitLoop)];
            println!(
                "{n} rows, repetition {} ({}): rows/s planner {:.0} ({:.2} of bulk), bulk UPDATE {:.0}, \
                 LIMIT 1000 loop {:.0} ({:.2}){}; load {before} -> {}",
                rep + 1,
                if rep % 2 == 0 { "planner first" } else { "LIMIT loop first" },
                row[0].rate(),
                row[0].rate() / row[1].rate(),
                row[1].rate(),
                row[2].rate(),
                row[2].rate() / row[1].rate(),
                if row[2].capped {
                    format!(
                        " [stopped after {:.0} s at {} of {n} rows]",
                        row[2].took.as_secs_f64(),
                        row[2].filled
                    )
                } else {
                    String::new()
                },
                load_average()
            );
            reps.push(row);
        }
        all.push((n, reps));
    }

    println!(
        "\nmedian over {} repetitions: rows/s (median of the per-repetition ratios to the bulk UPDATE)",
        args.repeat
    );
    println!("{:>9} {:>20} {:>12} {:>22}", "rows", "planner backfill", "bulk UPDATE", "UPDATE … LIMIT 1000");
    for (n, reps) in &all {
        let rate = |i: usize| median(reps.iter().map(|r| r[i].rate()).collect());
        let ratio = |i: usize| median(reps.iter().map(|r| r[i].rate() / r[1].rate()).collect());
        let capped = if reps.iter().any(|r| r[2].capped) { " (capped)" } else { "" };
        println!(
            "{:>9} {:>12.0} ({:.2}) {:>12.0} {:>12.0} ({:.2}){capped}",
            n,
            rate(0),
            ratio(0),
            rate(1),
            rate(2),
            ratio(2)
        );
    }
    println!("load average after: {}", load_average());
    conn.close().await?;
    exec(&mut admin, &format!("DROP DATABASE IF EXISTS {DATABASE}")).await?;
    Ok(())
}
