//! `status --format json` and `verify --format json`: versioned documents CI can read, with the
//! same exit codes as the human output.

mod common;

use std::path::PathBuf;

use assert_cmd::Command;
use common::TestDb;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn planner(url: &str) -> Command {
    let mut cmd = Command::cargo_bin("planner").expect("binary built");
    cmd.current_dir(root()).env("DATABASE_URL", url);
    cmd
}

fn json(out: &assert_cmd::assert::Assert) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

#[tokio::test]
async fn status_and_verify_as_json() {
    let db = TestDb::new().await;
    let schema = std::fs::read_to_string(root().join("examples/schema.sql")).expect("schema");
    let seed = std::fs::read_to_string(root().join("tests/fixtures/seed.sql")).expect("seed");
    db.exec(&schema).await;
    db.exec(&seed).await;
    let dir = "plans/rename_users_name";

    let out = planner(&db.url).args(["status", "--format", "json"]).assert().success();
    let doc = json(&out);
    assert_eq!((doc["format"].as_str(), doc["version"].as_u64()), (Some("planner.status"), Some(1)));
    assert_eq!(doc["targets"][0]["ok"], true);
    assert_eq!(doc["targets"][0]["plans"].as_array().map(Vec::len), Some(0));

    planner(&db.url).args(["apply", dir, "--phase", "expand"]).assert().success();

    // Not ready: the backfill has not run. Exit 1, and the document says why.
    let out = planner(&db.url).args(["verify", dir, "--format", "json"]).assert().code(1);
    let doc = json(&out);
    assert_eq!((doc["format"].as_str(), doc["version"].as_u64()), (Some("planner.verify"), Some(1)));
    assert_eq!(doc["plan"], "rename_users_name");
    assert_eq!(doc["phase"], "contract");
    assert_eq!(doc["ready"], false);
    assert!(!doc["failures"].as_array().expect("failures").is_empty(), "{doc}");
    let pre = doc["preconditions"].as_array().expect("preconditions");
    let no_nulls = pre.iter().find(|p| p["check"] == "no_nulls").expect("a no_nulls precondition");
    assert_eq!(no_nulls["ok"], false, "{doc}");
    assert!(no_nulls["reason"].as_str().is_some_and(|r| r.contains("NULL values")), "{doc}");
    assert!(pre.iter().any(|p| p["check"] == "trigger_present" && p["ok"] == true), "{doc}");

    let out = planner(&db.url).args(["status", dir, "--format", "json"]).assert().success();
    let doc = json(&out);
    let plan = &doc["targets"][0]["plans"][0];
    assert_eq!(plan["name"], "rename_users_name");
    assert_eq!(plan["phases"][0]["phase"], "expand");
    assert_eq!(plan["phases"][0]["status"], "done");
    assert_eq!(plan["phases"][1]["status"], "pending");
    assert_eq!(plan["next_phase"], "backfill");
    assert_eq!(plan["drift"], false);

    planner(&db.url).args(["backfill", dir]).assert().success();
    let out = planner(&db.url).args(["verify", dir, "--format", "json"]).assert().success();
    let doc = json(&out);
    assert_eq!(doc["ready"], true, "{doc}");
    assert_eq!(doc["failures"].as_array().map(Vec::len), Some(0));
    assert!(doc["preconditions"].as_array().expect("preconditions").iter().all(|p| p["ok"] == true), "{doc}");
    db.drop().await;
}
