//! Lint benchmark: statements per second on a generated 10,000-statement migration, and the same
//! file through squawk when `SQUAWK=/path/to/squawk` is set (pip install squawk-cli).
//!
//! `cargo run --example lint_bench [--release] -- [STATEMENTS] [OUT.sql]`
//!
//! The file cycles through the labeled corpus (tests/fixtures/lint/corpus), renaming tables per
//! cycle so most statements hit existing tables. Wall time is the best of 5 runs, end to end for
//! both tools (our binary is timed as a process too, so start-up and output are included).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use planner::lint::source::{split_statements, Parsed};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10_000);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "target/lint_bench.sql".into()));

    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint/corpus");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&corpus)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.sort();
    let mut statements = Vec::new();
    for f in files {
        let sql = std::fs::read_to_string(&f)?;
        let lines: Vec<&str> = sql.lines().collect();
        for s in split_statements(&sql).map_err(|e| anyhow::anyhow!("{}: {}", f.display(), e.message))? {
            // Only parsed, non-CREATE TABLE statements: a table created in the file would exempt the rest.
            if matches!(s.parsed, Parsed::No { .. })
                || s.starts_with(&["CREATE", "TABLE"])
                || s.starts_with(&["BEGIN"])
                || s.starts_with(&["COMMIT"])
            {
                continue;
            }
            let text: Vec<&str> = lines[s.start.line - 1..s.end.line].to_vec();
            statements.push(text.join("\n"));
        }
    }
    let mut sql = String::new();
    for i in 0..count {
        let stmt = &statements[i % statements.len()];
        let cycle = i / statements.len();
        sql.push_str(&stmt.replace("users", &format!("users_{cycle}")));
        sql.push_str(";\n");
    }
    std::fs::write(&out, &sql)?;
    println!(
        "{count} statements, {} lines, {} KiB -> {}",
        sql.lines().count(),
        sql.len() / 1024,
        out.display()
    );

    // In process: the linter alone.
    let opts = planner::lint::LintOptions::default();
    let best_in_process = best_of(5, || {
        let report = planner::lint::lint_str("bench.sql", &sql, &opts);
        assert_eq!(report.summary.statements, count);
    });
    println!(
        "planner (in process):  {:>8.1} ms  {:>10.0} statements/s",
        ms(best_in_process),
        count as f64 / best_in_process.as_secs_f64()
    );

    let exe = std::env::current_exe()?;
    let planner_bin = exe.parent().and_then(|p| p.parent()).map(|p| p.join("planner")).filter(|p| p.exists());
    if let Some(bin) = planner_bin {
        let t = best_of(5, || run(Command::new(&bin).args(["check", "--format=json"]).arg(&out)));
        println!("planner check (process): {:>6.1} ms  ({})", ms(t), bin.display());
    }
    if let Ok(squawk) = std::env::var("SQUAWK") {
        let t = best_of(5, || {
            run(Command::new(&squawk).args(["--pg-version=15.0", "--reporter=json"]).arg(&out))
        });
        println!("squawk (process):        {:>6.1} ms  ({squawk})", ms(t));
    }
    Ok(())
}

fn run(cmd: &mut Command) {
    let status = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().expect("spawn");
    assert!(status.code().is_some_and(|c| c <= 1), "{cmd:?} failed: {status}");
}

fn best_of(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
