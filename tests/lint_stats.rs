//! Size-aware severity against a real PostgreSQL: `planner stats` reads the sizes, and
//! `planner check --stats FILE` / `--database-url` rate size-dependent findings by them.

mod common;

use assert_cmd::Command;
use common::TestDb;

const MIGRATION: &str = "SET lock_timeout = '2s';
UPDATE accounts SET v = 'y';
UPDATE events SET kind = 'z';
ALTER TABLE accounts ALTER COLUMN id TYPE bigint;
UPDATE elsewhere SET a = 1;
ALTER TABLE events RENAME COLUMN kind TO type;
";

/// (line, rule, severity, message) of each finding of `planner check <args> FILE`.
fn check(args: &[&str], file: &std::path::Path) -> Vec<(u64, String, String, String)> {
    let out = Command::cargo_bin("planner")
        .unwrap()
        .arg("check")
        .args(args)
        .arg("--format=json")
        .arg(file)
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (f["start"]["line"].as_u64().unwrap(), s("rule"), s("severity"), s("message"))
        })
        .collect()
}

fn severities(findings: &[(u64, String, String, String)]) -> Vec<(u64, &str, &str)> {
    findings.iter().map(|(l, r, s, _)| (*l, r.as_str(), s.as_str())).collect()
}

#[tokio::test]
async fn stats_rate_rewrites_and_backfills_by_table_size() {
    let db = TestDb::new().await;
    db.exec(
        "CREATE TABLE accounts (id int PRIMARY KEY, v text);
         INSERT INTO accounts SELECT g, 'x' FROM generate_series(1, 300) g;
         CREATE TABLE events (id bigint PRIMARY KEY, kind text);
         INSERT INTO events SELECT g, 'k' FROM generate_series(1, 1000000) g;
         ANALYZE accounts; ANALYZE events;",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("001_changes.sql");
    std::fs::write(&file, MIGRATION).unwrap();

    let out =
        Command::cargo_bin("planner").unwrap().args(["stats", "--database-url", &db.url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["database"], db.name.as_str());
    assert_eq!(stats["tables"]["public.accounts"]["rows"], 300);
    let events = stats["tables"]["public.events"]["rows"].as_u64().unwrap();
    assert!((900_000..=1_100_000).contains(&events), "events rows {events}");
    let stats_file = dir.path().join("stats.json");
    std::fs::write(&stats_file, &out.stdout).unwrap();

    // Without stats: each rule's own severity.
    let plain = check(&[], &file);
    assert_eq!(
        severities(&plain),
        [
            (2, "unbatched-dml", "warning"),
            (3, "unbatched-dml", "warning"),
            (4, "change-column-type", "error"),
            (5, "unbatched-dml", "warning"),
            (6, "rename-column", "error"),
        ]
    );
    // From the file (CI without credentials) and straight from the database: the same verdicts.
    let file_arg = stats_file.to_str().unwrap();
    for args in [vec!["--stats", file_arg], vec!["--database-url", db.url.as_str()]] {
        let rated = check(&args, &file);
        assert_eq!(
            severities(&rated),
            [
                (2, "unbatched-dml", "info"),
                (3, "unbatched-dml", "error"),
                (4, "change-column-type", "info"),
                // No numbers for this table: unchanged.
                (5, "unbatched-dml", "warning"),
                // Breaking the app does not depend on size.
                (6, "rename-column", "error"),
            ],
            "{args:?}"
        );
        assert!(rated[0].3.contains("[public.accounts: ~300 rows"), "{}", rated[0].3);
        assert!(
            rated[1].3.contains("[public.events: ~1.0M rows") || rated[1].3.contains("[public.events: ~9"),
            "{}",
            rated[1].3
        );
        assert!(!rated[3].3.contains("rows"));
    }
    db.drop().await;
}

#[test]
fn a_bad_stats_file_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("001.sql");
    std::fs::write(&file, MIGRATION).unwrap();
    let stats = dir.path().join("stats.json");
    std::fs::write(&stats, "{\"format\": 1, \"tables\": {\"public.accounts\": {\"rows\": \"many\"}}}")
        .unwrap();
    let out = Command::cargo_bin("planner")
        .unwrap()
        .args(["check", "--stats"])
        .arg(&stats)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stats.json") && err.contains("planner stats --database-url"), "{err}");
}

#[test]
fn a_hand_written_stats_file_rates_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("001.sql");
    std::fs::write(&file, MIGRATION).unwrap();
    let stats = dir.path().join("stats.json");
    // A medium table that is hot: an error; a medium quiet one keeps the rule's severity.
    std::fs::write(
        &stats,
        r#"{"format": 1, "tables": {
            "public.events": {"rows": 50000, "bytes": 4000000, "writes_per_second": 120.0},
            "public.accounts": {"rows": 50000, "bytes": 4000000, "writes_per_second": 0.1}}}"#,
    )
    .unwrap();
    let rated = check(&["--stats", stats.to_str().unwrap()], &file);
    assert_eq!(
        severities(&rated)[..3],
        [(2, "unbatched-dml", "warning"), (3, "unbatched-dml", "error"), (4, "change-column-type", "error")]
    );
    assert!(rated[1].3.contains("~50k rows, 4 MB, 120 writes/s"), "{}", rated[1].3);
}
