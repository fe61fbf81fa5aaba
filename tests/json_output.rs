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

#[tokio::test]
async fn apply_next_backfill_and_rollback_as_json() {
    let db = TestDb::new().await;
    let schema = std::fs::read_to_string(root().join("examples/schema.sql")).expect("schema");
    let seed = std::fs::read_to_string(root().join("tests/fixtures/seed.sql")).expect("seed");
    db.exec(&schema).await;
    db.exec(&seed).await;
    let dir = "plans/rename_users_name";

    let out =
        planner(&db.url).args(["apply", dir, "--phase", "expand", "--format", "json"]).assert().success();
    let doc = json(&out);
    assert_eq!((doc["format"].as_str(), doc["version"].as_u64()), (Some("planner.apply"), Some(1)));
    assert_eq!((doc["ok"].as_bool(), doc["result"].as_str()), (Some(true), Some("applied")), "{doc}");
    assert_eq!((doc["phase"].as_str(), doc["steps"].as_u64()), (Some("expand"), Some(8)));
    assert_eq!(doc["next_phase"], "backfill");
    let units = doc["units"].as_array().expect("units");
    assert_eq!(units.first().map(|u| u["first_step"].as_u64()), Some(Some(1)), "{doc}");
    assert_eq!(units.last().map(|u| u["last_step"].as_u64()), Some(Some(8)), "{doc}");
    assert!(units.iter().all(|u| u["ok"] == true && u["elapsed_ms"].is_u64()), "{doc}");

    // Again: already done, nothing ran.
    let out =
        planner(&db.url).args(["apply", dir, "--phase", "expand", "--format", "json"]).assert().success();
    let doc = json(&out);
    assert_eq!(doc["result"], "already_done");
    assert_eq!(doc["units"].as_array().map(Vec::len), Some(0));

    // Refused out of order (contract before backfill): exit 1, and the document says why.
    let out = planner(&db.url)
        .args(["apply", dir, "--phase", "contract", "--yes", "--format", "json"])
        .assert()
        .code(1);
    let doc = json(&out);
    assert_eq!(
        (doc["ok"].as_bool(), doc["result"].as_str(), doc["exit_code"].as_i64()),
        (Some(false), Some("failed"), Some(1))
    );
    assert!(doc["error"].as_str().is_some_and(|e| e.contains("Cannot contract")), "{doc}");

    let out = planner(&db.url).args(["backfill", dir, "--format", "json"]).assert().success();
    let doc = json(&out);
    assert_eq!(
        (doc["format"].as_str(), doc["result"].as_str()),
        (Some("planner.backfill"), Some("applied")),
        "{doc}"
    );
    let backfill = &doc["backfill"];
    assert_eq!(backfill["completed"], true, "{doc}");
    let seeded: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&db.pool).await.unwrap();
    assert_eq!(backfill["rows"].as_i64(), Some(seeded), "{doc}");
    assert_eq!(backfill["tables"][0]["table"], "public.users", "{doc}");
    assert_eq!(backfill["tables"][0]["finished"], true, "{doc}");
    assert_eq!(doc["next_phase"], "contract");

    let out = planner(&db.url).args(["next", dir, "--yes", "--format", "json"]).assert().success();
    let doc = json(&out);
    assert_eq!(
        (doc["format"].as_str(), doc["phase"].as_str()),
        (Some("planner.next"), Some("contract")),
        "{doc}"
    );
    assert_eq!(doc["next_phase"], serde_json::Value::Null);

    // Contract is irreversible: rollback is refused, in JSON too.
    let out = planner(&db.url).args(["rollback", dir, "--format", "json"]).assert().code(1);
    let doc = json(&out);
    assert_eq!(
        (doc["format"].as_str(), doc["ok"].as_bool()),
        (Some("planner.rollback"), Some(false)),
        "{doc}"
    );
    assert!(doc["error"].as_str().is_some_and(|e| e.contains("cannot be undone")), "{doc}");

    // An unreachable server: still one document, exit 3.
    let out = planner("postgres://postgres@127.0.0.1:1/x")
        .args(["apply", dir, "--phase", "expand", "--format", "json"])
        .assert()
        .code(3);
    let doc = json(&out);
    assert_eq!((doc["ok"].as_bool(), doc["exit_code"].as_i64()), (Some(false), Some(3)), "{doc}");
    db.drop().await;
}

#[tokio::test]
async fn rollback_as_json_names_the_phase_and_its_units() {
    let db = TestDb::new().await;
    let schema = std::fs::read_to_string(root().join("examples/schema.sql")).expect("schema");
    db.exec(&schema).await;
    let dir = "plans/rename_users_name";
    planner(&db.url).args(["apply", dir, "--phase", "expand"]).assert().success();
    let out = planner(&db.url).args(["rollback", dir, "--format", "json"]).assert().success();
    let doc = json(&out);
    assert_eq!(
        (doc["result"].as_str(), doc["phase"].as_str()),
        (Some("rolled_back"), Some("expand")),
        "{doc}"
    );
    assert!(!doc["units"].as_array().expect("units").is_empty(), "{doc}");
    db.drop().await;
}
