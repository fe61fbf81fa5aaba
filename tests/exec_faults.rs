//! Faults with a way forward: planner killed with SIGKILL in the middle of a phase leaves a state
//! that `status` explains and that `apply` resumes or `rollback` undoes, never a dead end.

mod common;
mod exec_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use exec_support::*;
use planner::plan::PhaseKind;

fn planner_cmd(url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_planner"));
    cmd.current_dir(root()).env("DATABASE_URL", url);
    cmd
}

fn run(url: &str, args: &[&str]) -> (bool, String) {
    let out = planner_cmd(url).args(args).output().expect("planner runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

async fn wait_for(db: &common::TestDb, what: &str, sql: &str) {
    let started = Instant::now();
    loop {
        let ok: bool =
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&db.pool).await.unwrap();
        if ok {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// kill -9 while contract's VALIDATE waits (its NOT VALID check already committed): status names
/// the step and both ways out; rollback undoes exactly what committed (the check), even though
/// the phase holds an irreversible step that never ran; contract then applies cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_inside_contract_validate_can_be_rolled_back_or_resumed() {
    for way_out in ["rollback", "resume"] {
        let db = example_db(500).await;
        let plan = plan("add_users_email_verified");
        apply(&db, &plan, PhaseKind::Expand).await.unwrap();
        apply_backfill(&db, &plan).await;
        let after_backfill = catalog(&db).await;

        // A holds ACCESS SHARE: contract's first step (ADD CHECK, ACCESS EXCLUSIVE) waits. B then
        // queues for SHARE UPDATE EXCLUSIVE behind it, and gets it first when A ends, so the
        // VALIDATE that follows the committed ADD CHECK waits on B.
        let mut a = db.pool.begin().await.unwrap();
        sqlx::query("SELECT count(*) FROM users").execute(&mut *a).await.unwrap();
        let mut child = planner_cmd(&db.url)
            .args(["apply", "plans/add_users_email_verified", "--phase", "contract", "--lock-timeout", "30s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(
            &db,
            "contract waiting for its lock",
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND mode = 'AccessExclusiveLock' AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
        )
        .await;
        let url = db.url.clone();
        let b = tokio::spawn(async move {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("LOCK TABLE users IN SHARE UPDATE EXCLUSIVE MODE").execute(&mut *tx).await.unwrap();
            tokio::time::sleep(Duration::from_secs(3)).await;
            tx.rollback().await.unwrap();
        });
        wait_for(
            &db,
            "B queued",
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND mode = 'ShareUpdateExclusiveLock' AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
        )
        .await;
        a.rollback().await.unwrap();
        wait_for(
            &db,
            "VALIDATE waiting on B",
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'users_email_verified_not_null' AND NOT convalidated)
                AND EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND mode = 'ShareUpdateExclusiveLock' AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
        )
        .await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        b.await.unwrap();
        assert_eq!(
            phase_status(&db, "add_users_email_verified", PhaseKind::Contract).await.as_deref(),
            Some("running")
        );

        let (_, status) = run(&db.url, &["status", "plans/add_users_email_verified"]);
        assert!(status.contains("interrupted after step 1 of"), "{status}");
        assert!(
            status.contains("planner apply plans/add_users_email_verified --phase contract")
                && status.contains("planner rollback plans/add_users_email_verified"),
            "{status}"
        );

        if way_out == "rollback" {
            let (ok, text) = run(&db.url, &["rollback", "plans/add_users_email_verified"]);
            assert!(ok, "{text}");
            assert_eq!(
                catalog(&db).await,
                after_backfill,
                "the NOT VALID check is gone, nothing else changed"
            );
        }
        let (ok, text) = run(&db.url, &["apply", "plans/add_users_email_verified", "--phase", "contract"]);
        assert!(ok, "{way_out}: {text}");
        if way_out == "resume" {
            assert!(text.contains("resuming phase contract"), "{text}");
        }
        let not_null: bool = sqlx::query_scalar(
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email_verified'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert!(not_null, "{way_out}: contract completed");
        db.drop().await;
    }
}

/// The main session (holder of the one-planner lock) is terminated mid-backfill: the backfill's
/// writer stops before its next batch, and until it has, a second planner is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_main_session_stops_the_backfill_before_another_planner_is_admitted() {
    let db = example_db(20_000).await;
    let plan = plan("add_users_email_verified");
    apply(&db, &plan, PhaseKind::Expand).await.unwrap();
    let child = planner_cmd(&db.url)
        .args([
            "backfill",
            "plans/add_users_email_verified",
            "--batch",
            "200",
            "--sleep",
            "700ms",
            "--progress",
            "plain",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rows_done = || async {
        sqlx::query_scalar::<_, i64>("SELECT coalesce(max(rows_done), 0) FROM planner.backfill_progress")
            .fetch_one(&db.pool)
            .await
            .unwrap_or(0)
    };
    wait_for(&db, "a first batch", "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'planner' AND tablename = 'backfill_progress')").await;
    wait_for(
        &db,
        "a first batch",
        "SELECT coalesce((SELECT max(rows_done) FROM planner.backfill_progress), 0) > 0",
    )
    .await;
    let killed: bool = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND objid = 1 AND objsubid = 2 AND classid = x'706c616e'::int::oid
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(killed, "terminated the main session");
    // (pg_locks is cluster-wide: the database filter keeps other tests' planners alive.)
    // The writer sleeps between batches: it is still connected, holding the writer lock.
    let early = planner::exec::Session::open(&db.url, fast_locks()).await;
    let err = early.err().expect("a second planner is refused while the first one's writer lives");
    assert!(format!("{err:#}").contains("backfill writer"), "{err:#}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the orphaned backfill must fail");
    assert!(stderr.contains("main session") && stderr.contains("stopped writing"), "{stderr}");
    let after_stop = rows_done().await;
    let second =
        planner::exec::Session::open(&db.url, fast_locks()).await.expect("admitted once the writer stopped");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rows_done().await, after_stop, "nothing written after the writer stopped");
    second.close().await.unwrap();
    // And the backfill resumes where it stopped.
    apply_backfill(&db, &plan).await;
    let nulls: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email_verified IS NULL")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(nulls, 0);
    db.drop().await;
}
