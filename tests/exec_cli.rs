//! A DBA's session through the real binary: dry run, apply, status, verify, next, rollback.

mod common;
mod exec_support;

use assert_cmd::Command;
use exec_support::{example_db, root};

fn planner(url: &str) -> Command {
    let mut cmd = Command::cargo_bin("planner").expect("binary built");
    cmd.current_dir(root()).env("DATABASE_URL", url);
    cmd
}

fn stdout(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stdout).to_string()
}

fn stderr(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).to_string()
}

#[tokio::test]
async fn a_dba_steps_a_rename_through_its_phases() {
    let db = example_db(500).await;
    let dir = "plans/rename_users_name";
    let before: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = 'users'::regclass")
            .fetch_one(&db.pool)
            .await
            .unwrap();

    // Dry run: statements and locks, nothing executed (no database needed at all).
    let out = Command::cargo_bin("planner")
        .unwrap()
        .current_dir(root())
        .env_remove("DATABASE_URL")
        .args(["apply", dir, "--phase", "expand", "--dry-run", "--lock-timeout", "500ms"])
        .assert()
        .success();
    let text = stdout(&out);
    assert!(text.contains("SET LOCAL lock_timeout = '500ms';"), "{text}");
    assert!(text.contains("ADD COLUMN \"full_name\""), "{text}");
    let after: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = 'users'::regclass")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(before, after, "dry run changed nothing");

    let out = planner(&db.url).args(["status", dir]).assert().success();
    assert!(stdout(&out).contains("not applied to this database yet"), "{}", stdout(&out));

    let out = planner(&db.url).args(["apply", dir, "--phase", "expand"]).assert().success();
    assert!(stdout(&out).contains("applied expand of plan rename_users_name (8 steps)"), "{}", stdout(&out));
    // Each step as it starts and how long its unit took, on timestamped lines.
    let log = stderr(&out);
    assert!(log.contains("Z step 1/8: add full_name next to name"), "{log}");
    assert!(log.contains("steps 1-5 done in") && log.contains("step 8/8:"), "{log}");
    assert!(
        stdout(&out).contains("next: planner apply plans/rename_users_name --phase backfill"),
        "{}",
        stdout(&out)
    );
    let out = planner(&db.url).args(["apply", dir, "--phase", "expand"]).assert().success();
    assert!(stdout(&out).contains("already applied; nothing to do"), "{}", stdout(&out));

    let out = planner(&db.url).args(["verify", dir]).assert().code(1);
    let err = stderr(&out);
    assert!(err.contains("Cannot contract: phase backfill has not been applied yet"), "{err}");
    assert!(
        err.contains("Cannot contract: 500 NULL values still exist in users.full_name (e.g. id=1, 2, 3)"),
        "{err}"
    );

    let out = planner(&db.url).args(["status"]).assert().success();
    let text = stdout(&out);
    assert!(text.contains("expand    done"), "{text}");
    assert!(text.contains("next: planner apply <plan dir> --phase backfill"), "{text}");

    let out = planner(&db.url).args(["rollback", dir]).assert().success();
    assert!(stdout(&out).contains("rolled back expand of plan rename_users_name"), "{}", stdout(&out));
    let out = planner(&db.url).args(["status", dir]).assert().success();
    assert!(stdout(&out).contains("expand    rolled_back"), "{}", stdout(&out));

    // `next` applies the first phase not done.
    let out = planner(&db.url).args(["next", dir]).assert().success();
    assert!(stdout(&out).contains("applied expand"), "{}", stdout(&out));
    db.drop().await;
}

#[tokio::test]
async fn drop_column_all_the_way_with_next() {
    let db = example_db(100).await;
    let dir = "plans/drop_users_legacy_flag";
    planner(&db.url).args(["next", dir]).assert().success();
    planner(&db.url).args(["verify", dir]).assert().success();
    // The contract drops data: without a terminal to ask on, it needs --yes.
    let out = planner(&db.url).args(["next", dir]).assert().code(2);
    assert!(stderr(&out).contains("IRREVERSIBLE") && stderr(&out).contains("--yes"), "{}", stderr(&out));
    let out = planner(&db.url).args(["next", dir, "--yes"]).assert().success();
    assert!(stdout(&out).contains("applied contract"), "{}", stdout(&out));
    assert!(stdout(&out).contains("plan drop_users_legacy_flag is complete"), "{}", stdout(&out));
    let out = planner(&db.url).args(["next", dir, "--yes"]).assert().code(1);
    assert!(
        stderr(&out).contains("every phase of plan `drop_users_legacy_flag` is already applied"),
        "{}",
        stderr(&out)
    );
    let out = planner(&db.url).args(["rollback", dir]).assert().code(1);
    assert!(
        stderr(&out).contains("cannot be undone: the data in legacy_flag is deleted"),
        "{}",
        stderr(&out)
    );
    db.drop().await;
}
