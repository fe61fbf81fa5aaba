//! `planner check --dialect mysql|mariadb` end to end: flags, config, version-dependent verdicts,
//! bad input (exit 2, saying what to do), JSON positions.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn check() -> Command {
    let mut cmd = Command::cargo_bin("planner").unwrap();
    cmd.arg("check").arg("--color=never");
    cmd
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

const SCHEMA: &str = "CREATE TABLE users (id BIGINT PRIMARY KEY, qty INT NULL, code VARCHAR(50) NULL);\n";

#[test]
fn mariadb_rules_run_and_errors_exit_1_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "m/001_schema.sql", SCHEMA);
    write(
        dir.path(),
        "m/002_bigint.sql",
        "SET SESSION lock_wait_timeout = 2;\nALTER TABLE users\n  MODIFY qty BIGINT NULL;\n",
    );
    check()
        .args(["--dialect", "mariadb", "m"])
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("error[table-copy]"))
        .stdout(predicate::str::contains("002_bigint.sql:2:1"))
        .stdout(predicate::str::contains("planner plan change-type users.qty bigint"))
        // `planner convert` reads PostgreSQL only: no hint pointing at it.
        .stderr(predicate::str::contains("planner convert").not());
}

#[test]
fn the_same_file_is_read_as_postgresql_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "a.sql", "ALTER TABLE users ADD COLUMN c INT NULL;\n");
    check()
        .arg(&f)
        .current_dir(dir.path())
        .assert()
        .stdout(predicate::str::contains("[missing-lock-timeout]"))
        .stdout(predicate::str::contains("alter-without-algorithm").not());
    check()
        .args(["--dialect", "mysql"])
        .arg(&f)
        .current_dir(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("[missing-lock-wait-timeout]"))
        .stdout(predicate::str::contains("[alter-without-algorithm]"))
        .stdout(predicate::str::contains("[missing-lock-timeout]").not());
}

#[test]
fn server_version_decides_instant_add_column() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "m/001_schema.sql", SCHEMA);
    write(
        dir.path(),
        "m/002_add.sql",
        "SET SESSION lock_wait_timeout = 2;\nALTER TABLE users ADD COLUMN note VARCHAR(20) NULL AFTER id, ALGORITHM=INPLACE, LOCK=NONE;\n",
    );
    // MySQL 8.0.29+ adds a column anywhere instantly; 8.0.12-8.0.28 only as the last column.
    check()
        .args(["--dialect", "mysql", "--server-version", "8.0.29", "m"])
        .current_dir(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("table-rebuild").not());
    check()
        .args(["--dialect", "mysql", "--server-version", "8.0.20", "m"])
        .current_dir(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("warning[table-rebuild]"));
}

#[test]
fn nocopy_is_mariadb_only() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "m/001_schema.sql", SCHEMA);
    write(dir.path(), "m/002_ix.sql", "SET SESSION lock_wait_timeout = 2;\nALTER TABLE users ADD INDEX ix (code), ALGORITHM=NOCOPY, LOCK=NONE;\n");
    check().args(["--dialect", "mariadb", "m"]).current_dir(dir.path()).assert().code(0);
    check()
        .args(["--dialect", "mysql", "m"])
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("error[algorithm-refused]"));
}

#[test]
fn dialect_and_version_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "planner.yaml",
        "check:\n  dialect: mariadb\n  server_version: '10.11'\n  disable: [missing-lock-wait-timeout]\n",
    );
    write(dir.path(), "m/001_schema.sql", SCHEMA);
    write(dir.path(), "m/002.sql", "ALTER TABLE users DROP COLUMN code, ALGORITHM=INSTANT;\n");
    check()
        .arg("m")
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("error[drop-column]"))
        .stdout(predicate::str::contains("missing-lock-wait-timeout").not());
}

#[test]
fn bad_dialect_and_versions_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "a.sql", "SELECT 1;\n");
    check()
        .args(["--dialect", "oracle"])
        .arg(&f)
        .current_dir(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("postgres").and(predicate::str::contains("mariadb")));
    check()
        .args(["--dialect", "mariadb", "--server-version", "ten"])
        .arg(&f)
        .current_dir(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--server-version").and(predicate::str::contains("e.g. 10.11")));
    check()
        .args(["--dialect", "mariadb", "--server-version", "8.0"])
        .arg(&f)
        .current_dir(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--dialect mysql"));
    check()
        .args(["--server-version", "10.11"])
        .arg(&f)
        .current_dir(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--dialect mysql|mariadb"));
    write(dir.path(), "planner.yaml", "check:\n  dialect: mariadb\n  server_version: '4.1'\n");
    check()
        .arg(&f)
        .current_dir(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("check.server_version"));
}

#[test]
fn list_rules_per_dialect() {
    check().args(["--dialect", "mariadb", "--list-rules"]).assert().code(0).stdout(
        predicate::str::contains("table-copy")
            .and(predicate::str::contains("index-without-concurrently").not()),
    );
    check().arg("--list-rules").assert().code(0).stdout(predicate::str::contains("table-copy").not());
}

#[test]
fn json_findings_carry_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "a.sql", "SELECT 1;\n  LOCK TABLES t WRITE;\n");
    let out = check()
        .args(["--dialect", "mysql", "--format", "json"])
        .arg(&f)
        .current_dir(dir.path())
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let f = v["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "lock-tables").unwrap().clone();
    assert_eq!((f["start"]["line"].as_u64(), f["start"]["column"].as_u64()), (Some(2), Some(3)));
}

#[test]
fn mysql_suffixed_files_are_read_and_postgres_ones_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "m/1.mysql.sql", "LOCK TABLES t WRITE;\n");
    write(dir.path(), "m/2.postgres.sql", "SELECT 1;\n");
    check()
        .args(["--dialect", "mysql", "m"])
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("lock-tables"))
        .stdout(predicate::str::contains("2.postgres.sql: skipped"));
}
