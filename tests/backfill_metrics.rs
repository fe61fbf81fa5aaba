//! `planner backfill` as a DBA runs it on a busy primary: `--metrics-addr` scraped with a plain
//! HTTP client while it runs, a pause's reason in `status --format json`, and a pause longer than
//! `--max-pause` ending the run with exit code 4 and the resume command, which then finishes.

mod common;
mod exec_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use exec_support::{example_db, root};
use sqlx::{Connection, PgConnection};

fn planner(url: &str) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("planner").expect("binary built");
    cmd.current_dir(root()).env("DATABASE_URL", url);
    cmd
}

/// GET /metrics over a bare TCP connection; None while nothing listens yet.
fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    assert!(head.starts_with("HTTP/1.") && head.contains(" 200 "), "{head}");
    Some(body.to_string())
}

/// `name{labels}` -> value, for every sample line.
fn parse(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample line: {l}"));
            (name.to_string(), value.parse::<f64>().unwrap_or_else(|e| panic!("{l}: {e}")))
        })
        .collect()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pause_reason_in_status_and_max_pause_exit_code() {
    let db = example_db(20_000).await;
    let dir = "plans/rename_users_name";
    planner(&db.url).args(["apply", dir, "--phase", "expand"]).assert().success();

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let args = [
        "backfill",
        dir,
        "--batch",
        "500",
        "--max-rate",
        "1000",
        "--max-transaction-age",
        "1s",
        "--max-pause",
        "3s",
        "--progress",
        "plain",
        "--metrics-addr",
    ];
    let bin = assert_cmd::cargo::cargo_bin("planner");
    let child = Process::new(&bin)
        .current_dir(root())
        .env("DATABASE_URL", &db.url)
        .args(args)
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Running: rows, rate, batch size and a batch duration histogram.
    let mut m = BTreeMap::new();
    wait_for("batches in the metrics", || {
        m = scrape(port).map(|b| parse(&b)).unwrap_or_default();
        m.get("planner_backfill_rows_done{table=\"public.users\"}").is_some_and(|v| *v > 0.0)
    });
    assert_eq!(m.get("planner_backfill_rows_total{table=\"public.users\"}"), Some(&20_000.0), "{m:#?}");
    assert_eq!(m.get("planner_backfill_batch_size"), Some(&500.0), "{m:#?}");
    assert!(m.get("planner_backfill_batch_duration_seconds_count").is_some_and(|n| *n >= 1.0), "{m:#?}");
    assert!(m.contains_key("planner_backfill_batch_duration_seconds_bucket{le=\"0.001\"}"), "{m:#?}");
    assert!(m.get("planner_backfill_rows_per_second").is_some_and(|r| *r > 0.0), "{m:#?}");
    assert_eq!(m.get("planner_backfill_throttle_state{state=\"running\",reason=\"\"}"), Some(&1.0));

    // A transaction left open: after a second it holds back vacuum, so the backfill pauses.
    let mut long = PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN; SELECT txid_current();").execute(&mut long).await.unwrap();
    wait_for("the pause in the metrics", || {
        m = scrape(port).map(|b| parse(&b)).unwrap_or_default();
        m.get("planner_backfill_throttle_state{state=\"paused\",reason=\"long_transaction\"}") == Some(&1.0)
    });
    assert_eq!(m.get("planner_backfill_pauses_total{reason=\"long_transaction\"}"), Some(&1.0), "{m:#?}");
    assert_eq!(m.get("planner_backfill_throttle_state{state=\"running\",reason=\"\"}"), Some(&0.0));

    // `status` names the pause and its reason, human and JSON.
    let out = planner(&db.url).args(["status", dir, "--format", "json"]).assert().success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let paused = &doc["targets"][0]["plans"][0]["backfill"][0]["paused"];
    let reason = paused["reason"].as_str().unwrap_or_else(|| panic!("no pause in {doc:#}"));
    assert!(reason.contains("has been open") && reason.contains("holds back vacuum"), "{reason}");
    assert!(paused["since"].as_str().is_some_and(|s| s.ends_with(" UTC")), "{paused}");
    let out = planner(&db.url).args(["status", dir]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("public.users: PAUSED since") && text.contains("holds back vacuum"), "{text}");

    // The pause outlasts --max-pause: exit 4, checkpoint saved, the command to resume.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("paused longer than --max-pause 3s"), "{err}");
    let resume = err
        .lines()
        .skip_while(|l| !l.contains("resume with:"))
        .nth(1)
        .unwrap_or_else(|| panic!("no resume command in:\n{err}"))
        .trim()
        .to_string();
    assert!(resume.contains("backfill") && resume.contains(dir), "{resume}");
    let out = planner(&db.url).args(["status", dir, "--format", "json"]).assert().success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(doc["targets"][0]["plans"][0]["backfill"][0]["paused"].is_null(), "cleared: {doc:#}");

    // Once the transaction ends, the printed command finishes the job.
    sqlx::raw_sql("COMMIT").execute(&mut long).await.unwrap();
    let mut words = resume.split_whitespace();
    words.next(); // the binary as it was invoked
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let words: Vec<String> = words
        .map(|w| if w.starts_with("127.0.0.1:") { format!("127.0.0.1:{free}") } else { w.to_string() })
        .collect();
    planner(&db.url).args(&words).assert().success();
    let wrong: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE full_name IS DISTINCT FROM name")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(wrong, 0);
    db.drop().await;
}
