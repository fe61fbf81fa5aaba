//! What planner says on stderr while it works: `-v` logs every statement with its duration, `-q`
//! only errors, every line carries a timestamp, and a long CREATE INDEX CONCURRENTLY shows the
//! phase pg_stat_progress_create_index reports.

mod common;
mod exec_support;

use std::io::BufRead;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use assert_cmd::Command;
use exec_support::{example_db, root};
use sqlx::Connection;

const PLAN: &str = "plans/rename_users_name";

fn planner(url: &str) -> Command {
    let mut cmd = Command::cargo_bin("planner").expect("binary built");
    cmd.current_dir(root()).env("DATABASE_URL", url);
    cmd
}

fn stderr(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).to_string()
}

/// `2026-12-02T01:05:20.899Z ...`
fn stamped(line: &str) -> bool {
    let stamp = line.split(' ').next().unwrap_or_default();
    stamp.len() == "2026-12-02T01:05:20.899Z".len()
        && stamp.ends_with('Z')
        && stamp.as_bytes()[10] == b'T'
        && humantime::parse_rfc3339(stamp).is_ok()
}

#[tokio::test]
async fn verbose_logs_statements_and_quiet_only_errors() {
    let db = example_db(50).await;

    let out = planner(&db.url).args(["-v", "apply", PLAN, "--phase", "expand"]).assert().success();
    let log = stderr(&out);
    let statements: Vec<&str> = log.lines().filter(|l| l.contains(" sql ")).collect();
    let add = statements
        .iter()
        .find(|l| l.contains("ALTER TABLE \"public\".\"users\" ADD COLUMN \"full_name\""))
        .unwrap_or_else(|| panic!("the ADD COLUMN statement is logged:\n{log}"));
    // `<stamp> sql 1.2 ms (0 rows): ALTER TABLE ...`
    let ms =
        add.split(" sql ").nth(1).and_then(|r| r.split(" ms").next()).and_then(|n| n.parse::<f64>().ok());
    assert!(ms.is_some_and(|ms| ms >= 0.0), "duration in ms: {add}");
    assert!(statements.iter().any(|l| l.contains("CREATE INDEX CONCURRENTLY")), "{log}");
    assert!(log.lines().all(stamped), "every line starts with a timestamp:\n{log}");

    // Without -v: the steps, no statements.
    planner(&db.url).args(["rollback", PLAN]).assert().success();
    let out = planner(&db.url).args(["apply", PLAN, "--phase", "expand"]).assert().success();
    let log = stderr(&out);
    assert!(log.contains(" step 1/8: ") && !log.contains(" sql "), "{log}");
    assert!(log.lines().all(stamped), "{log}");

    // -q: nothing on stderr when all is well; the result still on stdout.
    let out = planner(&db.url).args(["-q", "backfill", PLAN]).assert().success();
    assert_eq!(stderr(&out), "");
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("applied backfill"));
    // ... and the error when not.
    let out = planner(&db.url)
        .args(["-q", "apply", PLAN, "--phase", "expand", "--lock-timeout", "x"])
        .assert()
        .code(2);
    assert!(stderr(&out).contains("error:"), "{}", stderr(&out));
    db.drop().await;
}

#[tokio::test]
async fn a_waiting_index_build_shows_its_phase() {
    let db = example_db(100).await;
    // An open REPEATABLE READ snapshot in this database: CREATE INDEX CONCURRENTLY's last phase
    // waits for it ("waiting for old snapshots") and nothing else in expand does.
    let mut reader = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1").execute(&mut reader).await.unwrap();

    let mut child = std::process::Command::cargo_bin("planner")
        .unwrap()
        .current_dir(root())
        .env("DATABASE_URL", &db.url)
        .args(["apply", PLAN, "--phase", "expand", "--lock-timeout", "120s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let waiting = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains("waiting for old snapshots") => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();
    let status = child.wait().unwrap();
    let waiting =
        waiting.unwrap_or_else(|| panic!("no progress line naming the phase:\n{}", seen.join("\n")));
    assert!(waiting.contains("copy index users_lower_name_idx onto full_name"), "{waiting}");
    assert!(stamped(&waiting), "{waiting}");
    assert!(status.success(), "{status}\n{}", seen.join("\n"));
    db.drop().await;
}

#[tokio::test]
async fn ctrl_c_during_a_ddl_phase_cancels_it_and_says_how_to_go_on() {
    let db = example_db(100).await;
    let mut reader = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1").execute(&mut reader).await.unwrap();
    let mut child = std::process::Command::cargo_bin("planner")
        .unwrap()
        .current_dir(root())
        .env("DATABASE_URL", &db.url)
        .args(["apply", PLAN, "--phase", "expand", "--lock-timeout", "120s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reading = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Wait until the index build is stuck behind the reader's snapshot, then press Ctrl-C.
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        let waiting = line.contains("waiting for old snapshots");
        seen.push(line);
        if waiting {
            break;
        }
    }
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    reading.join().unwrap(); // to the end of planner's stderr
    seen.extend(rx.try_iter());
    let log = seen.join("\n");
    assert_eq!(status.code(), Some(1), "{log}");
    let errors: Vec<&String> = seen.iter().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one short summary:\n{log}");
    assert!(errors[0].contains("interrupted (Ctrl-C)") && errors[0].contains("planner rollback"), "{log}");
    // The reader is still open: only the cancel can have ended the index build.
    let db_name = db.name.clone();
    let mut left = i64::MAX;
    for _ in 0..100 {
        left = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'planner/%'",
        )
        .bind(&db_name)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "no planner session left on the server");
    sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();
    let out = planner(&db.url).args(["status", PLAN]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("interrupted after step 6 of 8"), "{text}");
    planner(&db.url).args(["apply", PLAN, "--phase", "expand"]).assert().success();
    db.drop().await;
}

/// `status` tells a running backfill (its runner lock is held: rate, ETA) from an interrupted one
/// (the lock is free: where it stopped and the command that resumes).
#[tokio::test]
async fn status_tells_a_running_backfill_from_an_interrupted_one() {
    let db = example_db(400).await;
    planner(&db.url).args(["apply", PLAN, "--phase", "expand"]).assert().success();
    let mut child = std::process::Command::cargo_bin("planner")
        .unwrap()
        .current_dir(root())
        .env("DATABASE_URL", &db.url)
        .args(["backfill", PLAN, "--batch", "10", "--sleep", "200ms", "--progress", "none"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut done = 0i64;
    for _ in 0..300 {
        done = sqlx::query_scalar("SELECT coalesce(max(rows_done), 0) FROM planner.backfill_progress")
            .fetch_one(&db.pool)
            .await
            .unwrap_or(0);
        if done >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done >= 20, "the backfill started");
    let out = planner(&db.url).args(["status", PLAN]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("public.users: running: ") && text.contains("rows/s on average"), "{text}");

    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(1), "interrupted is exit 1");
    let out = planner(&db.url).args(["status"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("public.users: interrupted (no planner is running it): "), "{text}");
    assert!(
        text.contains("stopped after key [\"")
            && text.contains("resume: planner backfill plans/rename_users_name"),
        "{text}"
    );

    planner(&db.url).args(["backfill", PLAN]).assert().success();
    let out = planner(&db.url).args(["status", PLAN]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("public.users: 400 rows in") && text.contains("finished"), "{text}");
    db.drop().await;
}
