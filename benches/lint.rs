//! Lint benchmark: `planner check` over a generated migration history of N files (default
//! 2,000), one new table per file plus ALTERs, indexes, backfills, a DO block and a function on
//! tables of earlier files, so every file reads what the history declared before it.
//!
//! `cargo bench --bench lint [-- FILES]`; with `SQUAWK=/path/to/squawk` (pip install squawk-cli)
//! and a release binary (`cargo build --release --bin planner`, or `PLANNER_BIN=path`) it also
//! times both tools as processes on the same files.
//!
//! Reports statements/s in process for the first tenth of the history and for all of it: with
//! linear cost the two rates match (their ratio is printed), whatever the history's length.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use planner::lint::{FileTx, KnownSchema, LintOptions, LintReport};

/// One migration file: a new table, then changes to a table of an earlier file.
fn migration(i: usize) -> String {
    let mut sql = String::new();
    sql.push_str("SET lock_timeout = '2s';\n");
    sql.push_str(&format!(
        "CREATE TABLE t{i} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name varchar(40), \
         created_at timestamp NOT NULL DEFAULT now(), parent_id bigint, amount numeric(10,2));\n"
    ));
    sql.push_str(&format!("CREATE INDEX t{i}_created_idx ON t{i} (created_at);\n"));
    if i > 0 {
        let p = i / 2;
        sql.push_str(&format!("ALTER TABLE t{p} ADD COLUMN c{i} text;\n"));
        sql.push_str(&format!("ALTER TABLE t{p} ALTER COLUMN name TYPE varchar(80);\n"));
        sql.push_str(&format!(
            "ALTER TABLE t{i} ADD CONSTRAINT t{i}_parent_fk FOREIGN KEY (parent_id) REFERENCES t{p} (id) NOT VALID;\n"
        ));
        sql.push_str(&format!("CREATE INDEX CONCURRENTLY t{p}_c{i}_idx ON t{p} (c{i});\n"));
        sql.push_str(&format!("UPDATE t{p} SET c{i} = name WHERE id BETWEEN 1 AND 1000;\n"));
    }
    if i.is_multiple_of(10) {
        sql.push_str(&format!(
            "CREATE FUNCTION f{i}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  NEW.name := lower(NEW.name);\n  RETURN NEW;\nEND $$;\n"
        ));
        sql.push_str(&format!(
            "DO $$\nBEGIN\n  ALTER TABLE t{i} ADD COLUMN flag boolean DEFAULT false;\nEND $$;\n"
        ));
    }
    sql
}

fn write_history(dir: &Path, files: usize) -> anyhow::Result<Vec<(String, String)>> {
    std::fs::create_dir_all(dir)?;
    for e in std::fs::read_dir(dir)? {
        std::fs::remove_file(e?.path())?;
    }
    let mut out = Vec::new();
    for i in 0..files {
        let name = format!("{i:05}_t{i}.sql");
        let sql = migration(i);
        std::fs::write(dir.join(&name), &sql)?;
        out.push((name, sql));
    }
    Ok(out)
}

/// Best of `runs`: (time, statements) linting `files` in order in process.
fn lint_in_process(files: &[(String, String)], runs: usize) -> (Duration, usize) {
    let opts = LintOptions::default();
    let mut best = Duration::MAX;
    let mut statements = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let mut report = LintReport::default();
        let mut known = KnownSchema::default();
        for (name, sql) in files {
            report.lint_file(name, sql, &opts, FileTx::Explicit, &mut known);
        }
        best = best.min(start.elapsed());
        statements = report.summary.statements;
        assert_eq!(report.summary.unparsed, 0, "generated history has unparsed statements");
    }
    (best, statements)
}

/// CPU time (user + system) of this process's waited-for children so far, from /proc/self/stat
/// (cutime, cstime in clock ticks of 10 ms, Linux's USER_HZ): None elsewhere.
fn children_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name in parentheses; cutime and cstime are fields 16 and 17.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Best of `runs` wall time of a process (its output discarded), and the CPU of that best run.
fn time_process(
    cmd: &mut dyn FnMut() -> Command,
    runs: usize,
) -> anyhow::Result<(Duration, Option<Duration>)> {
    let mut best = (Duration::MAX, None);
    for _ in 0..runs {
        let cpu_before = children_cpu();
        let start = Instant::now();
        cmd().stdout(Stdio::null()).stderr(Stdio::null()).status()?;
        let wall = start.elapsed();
        let cpu = children_cpu().zip(cpu_before).map(|(after, before)| after - before);
        if wall < best.0 {
            best = (wall, cpu);
        }
    }
    Ok(best)
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; the first number is the file count.
    let files: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(2_000);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/lint_bench_history");
    let history = write_history(&dir, files)?;
    let bytes: usize = history.iter().map(|(_, s)| s.len()).sum();
    println!("history: {files} files, {} KiB, in {}", bytes / 1024, dir.display());

    let tenth = (files / 10).max(1);
    let (t_small, n_small) = lint_in_process(&history[..tenth], 5);
    let (t_all, n_all) = lint_in_process(&history, 5);
    let rate = |n: usize, t: Duration| n as f64 / t.as_secs_f64();
    for (label, n, t) in
        [(format!("first {tenth} files"), n_small, t_small), (format!("all {files} files"), n_all, t_all)]
    {
        println!(
            "in process, best of 5, {label}: {n} statements in {:.1} ms ({:.0} statements/s)",
            t.as_secs_f64() * 1e3,
            rate(n, t)
        );
    }
    println!(
        "time per statement, all files / first tenth: {:.2} (1.00 is linear)",
        (t_all.as_secs_f64() / n_all as f64) / (t_small.as_secs_f64() / n_small as f64)
    );

    let planner = std::env::var_os("PLANNER_BIN").map_or(root.join("target/release/planner"), PathBuf::from);
    match (std::env::var_os("SQUAWK"), planner.exists()) {
        (Some(squawk), true) => {
            let paths: Vec<PathBuf> = history.iter().map(|(n, _)| dir.join(n)).collect();
            let ours = time_process(
                &mut || {
                    let mut c = Command::new(&planner);
                    c.args(["check", "--format", "json", "--color", "never"]).arg(&dir);
                    c
                },
                3,
            )?;
            let theirs = time_process(
                &mut || {
                    let mut c = Command::new(&squawk);
                    c.args(["--reporter", "json"]).args(&paths);
                    c
                },
                3,
            )?;
            println!(
                "processes, best of 3, {files} files: planner check {:.0} ms, squawk {:.0} ms, planner/squawk {:.2}",
                ours.0.as_secs_f64() * 1e3,
                theirs.0.as_secs_f64() * 1e3,
                ours.0.as_secs_f64() / theirs.0.as_secs_f64()
            );
            if let (Some(a), Some(b)) = (ours.1, theirs.1) {
                println!(
                    "CPU of those runs (user+sys): planner {:.2} s, squawk {:.2} s, planner/squawk {:.2}; {:.0} statements per CPU second for planner",
                    a.as_secs_f64(),
                    b.as_secs_f64(),
                    a.as_secs_f64() / b.as_secs_f64().max(0.01),
                    n_all as f64 / a.as_secs_f64().max(0.01)
                );
            }
        }
        _ => println!(
            "(set SQUAWK=/path/to/squawk and build target/release/planner to time both tools as processes)"
        ),
    }
    Ok(())
}
