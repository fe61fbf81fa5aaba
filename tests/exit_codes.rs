//! Exit codes as CI reads them: 0 ok, 1 refused / not ready, 2 bad input or usage, 3 planner
//! could not do the job (connection, permission, server error). Each bad flag says why.

mod common;

use std::path::PathBuf;

use assert_cmd::Command;
use common::TestDb;
use predicates::prelude::*;
use sqlx::Executor;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn planner() -> Command {
    let mut cmd = Command::cargo_bin("planner").expect("binary built");
    cmd.current_dir(root()).env_remove("DATABASE_URL");
    for var in ["PGHOST", "PGHOSTADDR", "PGDATABASE", "PGPORT", "PGUSER", "PGSSLMODE"] {
        cmd.env_remove(var);
    }
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// (arguments, what stderr must say): all exit 2, before any database is contacted.
const BAD_FLAGS: &[(&[&str], &str)] = &[
    (
        &["backfill", "plans/rename_users_name", "--min-batch", "500", "--max-batch", "100"],
        "--min-batch 500 is above --max-batch 100",
    ),
    (&["backfill", "plans/rename_users_name", "--min-batch", "0"], "--min-batch"),
    (&["backfill", "plans/rename_users_name", "--max-batch", "0"], "--max-batch"),
    (
        &["backfill", "plans/rename_users_name", "--max-rate", "0"],
        "must be a positive number of rows per second",
    ),
    (
        &["backfill", "plans/rename_users_name", "--max-rate", "-1"],
        "must be a positive number of rows per second",
    ),
    (
        &["backfill", "plans/rename_users_name", "--max-rate", "NaN"],
        "must be a positive number of rows per second",
    ),
    (&["apply", "plans/rename_users_name", "--phase", "expand", "--lock-timeout", "0"], "must be above zero"),
    (
        &["plan", "rename", "users.name", "x", "--schema", "examples/schema.sql", "--pg-version", "99"],
        "PostgreSQL 99 is not a version planner supports",
    ),
    (
        &["plan", "renam", "users.name", "full_name"],
        "did you mean `planner plan rename users.name full_name`?",
    ),
    (&["plan", "add-colum", "users.x", "int"], "unknown change kind `add-colum`"),
    (&["status", "--database-url", "sqlite://app.db"], "not a PostgreSQL connection string"),
    (&["status", "--database-url", "postgres://127.0.0.1/app?sslmod=require"], "did you mean `sslmode`?"),
];

#[test]
fn bad_flags_are_exit_2_with_the_reason() {
    let port = free_port().to_string();
    for (args, message) in BAD_FLAGS {
        // A database URL that would fail (exit 3) if it were contacted: validation comes first.
        let out = planner()
            .args(*args)
            .env("DATABASE_URL", format!("postgres://postgres@127.0.0.1:{port}/x"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains(*message));
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            !stderr.contains("cannot be used with"),
            "{args:?}: clap's message instead of ours:\n{stderr}"
        );
    }
}

#[test]
fn an_unreachable_server_is_exit_3_with_a_hint() {
    let port = free_port();
    planner()
        .args(["status", "--database-url", &format!("postgres://postgres@127.0.0.1:{port}/x")])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(format!("is PostgreSQL running on 127.0.0.1:{port}?")));
}

#[tokio::test]
async fn a_permission_error_is_exit_3_and_printed_once() {
    let db = TestDb::new().await;
    // Roles are cluster-wide: one name shared by every run, created once.
    db.pool
        .execute(
            "DO $$ BEGIN CREATE ROLE planner_test_nopriv LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        )
        .await
        .expect("role");
    let url = format!("{}?user=planner_test_nopriv", db.url.replacen("postgres@", "", 1));
    // status only reads (and says "no plans here"); apply must create schema planner, which
    // this role may not.
    planner().args(["status", "--database-url", &url]).assert().success();
    let out = planner()
        .args(["apply", "plans/rename_users_name", "--phase", "expand", "--database-url", &url])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("permission denied"));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(stderr.matches("permission denied").count(), 1, "each cause once:\n{stderr}");
    assert!(!stderr.contains(" at line "), "no PostgreSQL C source lines:\n{stderr}");
    db.drop().await;
}

#[tokio::test]
async fn status_of_all_targets_counts_an_unreachable_one() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    std::fs::write(
        dir.path().join("planner.yaml"),
        format!(
            "targets:\n  up:\n    url: {}\n  down:\n    url: postgres://postgres@127.0.0.1:{port}/x\n",
            db.url
        ),
    )
    .expect("config");
    planner()
        .current_dir(dir.path())
        .args(["status", "--all-targets"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("== target up").and(predicate::str::contains("== target down")))
        .stdout(predicate::str::contains("connection refused"))
        .stderr(predicate::str::contains("status failed on 1 of 2 target(s): down"));
    db.drop().await;
}

#[test]
fn a_server_that_never_answers_times_out_with_exit_3() {
    // The kernel completes the TCP handshake for a listener that never accepts or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let started = std::time::Instant::now();
    planner()
        .args([
            "status",
            "--database-url",
            &format!("host=127.0.0.1 port={port} user=postgres connect_timeout=2"),
        ])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("no answer within 2s"));
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
    drop(silent);
}

#[test]
fn an_over_long_input_is_shortened_in_the_error() {
    // One argument may be at most 128 KiB (MAX_ARG_STRLEN).
    let name = "a".repeat(100_000);
    let out = planner()
        .args([
            "plan",
            "rename",
            "users.name",
            "full_name",
            "--schema",
            "examples/schema.sql",
            "--name",
            &name,
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bytes left out"));
    assert!(out.get_output().stderr.len() < 5000, "{} bytes of stderr", out.get_output().stderr.len());
}
