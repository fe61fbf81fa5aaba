//! What the benchmarks share: the command line, the server, running SQL, percentiles and the
//! machine's load.
#![allow(dead_code)]

use anyhow::Context;
use sqlx::PgPool;

/// The command line of a benchmark binary.
pub struct Argv(Vec<String>);

impl Argv {
    /// None when not run by `cargo bench`: `cargo test --all-targets` runs the binary without
    /// `--bench`, and it does nothing then.
    pub fn bench() -> Option<Argv> {
        let argv: Vec<String> = std::env::args().collect();
        argv.iter().any(|a| a == "--bench").then_some(Argv(argv))
    }

    /// The argument after `flag`.
    pub fn value(&self, flag: &str) -> Option<String> {
        self.0.iter().position(|a| a == flag).and_then(|i| self.0.get(i + 1)).cloned()
    }

    /// The number after `flag` (`_` separators allowed), or `default`.
    pub fn num(&self, flag: &str, default: u64) -> u64 {
        self.value(flag).map(|v| v.replace('_', "").parse().expect(flag)).unwrap_or(default)
    }
}

/// PLANNER_BENCH_PG, default postgres://postgres@127.0.0.1:5432.
pub fn server() -> String {
    std::env::var("PLANNER_BENCH_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub async fn exec(pool: &PgPool, sql: &str) -> anyhow::Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(pool)
        .await
        .with_context(|| sql.to_string())?;
    Ok(())
}

/// The machine's load (1, 5, 15 min): shared CI machines make per-batch round trips noisy.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The `p` percentile of `sorted` microseconds, in milliseconds.
pub fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// CPU time (user + system) that process `pid` has used so far, from /proc/PID/stat (utime and
/// stime, in clock ticks of 10 ms, Linux's USER_HZ). None when the process is gone or runs on
/// another machine: a server backend's CPU is readable only when the server is local.
pub fn process_cpu(pid: i32) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name in parentheses; utime and stime are fields 14 and 15.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split_whitespace().skip(11);
    let ticks = fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?;
    Some(std::time::Duration::from_millis(ticks * 10))
}
