//! One command on several databases (planner.yaml targets): two reachable databases and one
//! that is not (a closed port). The unreachable one is reported and counted, never skipped; the
//! run stops at the first failure unless --keep-going; state stays per database.

mod common;
mod exec_support;

use assert_cmd::Command;
use exec_support::{example_db, root};

const PLAN: &str = "plans/rename_users_name";

fn planner(dir: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("planner").expect("binary built");
    cmd.current_dir(dir).env_remove("DATABASE_URL");
    for var in ["PGHOST", "PGHOSTADDR", "PGDATABASE", "PGPORT", "PGUSER", "PGSSLMODE"] {
        cmd.env_remove(var);
    }
    cmd
}

fn stdout(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stdout).to_string()
}

fn stderr(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).to_string()
}

fn json(out: &assert_cmd::assert::Assert) -> serde_json::Value {
    let text = stdout(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The phase statuses planner recorded in one database (empty without a planner schema).
async fn phases(pool: &sqlx::PgPool) -> Vec<(String, String)> {
    let has_schema: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'planner')")
            .fetch_one(pool)
            .await
            .unwrap();
    if !has_schema {
        return Vec::new();
    }
    sqlx::query_as("SELECT phase, status FROM planner.phases ORDER BY phase").fetch_all(pool).await.unwrap()
}

fn row<'a>(table: &'a str, target: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(&format!("{target} ")))
        .unwrap_or_else(|| panic!("no row {target}:\n{table}"))
}

#[tokio::test]
async fn three_targets_one_unreachable() {
    let a = example_db(300).await;
    let c = example_db(200).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = root().join(PLAN);
    let plan = plan.to_str().unwrap();
    // Name order is run order: a, b (nothing listens there), c.
    std::fs::write(
        dir.path().join("planner.yaml"),
        format!(
            "targets:\n  a:\n    url: {}\n  b:\n    url: postgres://postgres@127.0.0.1:{}/nothing?connect_timeout=5\n  c:\n    url: {}\n",
            a.url,
            free_port(),
            c.url
        ),
    )
    .unwrap();

    // Stops at the first failure: a applied, b failed (counted), c not run; exit 3 (b could not be reached).
    let out =
        planner(dir.path()).args(["apply", plan, "--phase", "expand", "--all-targets"]).assert().code(3);
    let text = stdout(&out);
    assert!(
        text.contains("== target a: ok") && text.contains("applied expand of plan rename_users_name"),
        "{text}"
    );
    assert!(text.contains("== target b: FAILED") && text.contains("connection refused"), "{text}");
    assert!(!text.contains("== target c"), "{text}");
    assert!(row(&text, "a").contains("ok") && row(&text, "a").contains("applied expand (8 steps)"), "{text}");
    assert!(row(&text, "b").contains("FAILED"), "{text}");
    assert!(row(&text, "c").contains("not run"), "{text}");
    assert!(text.contains("3 target(s): 1 ok, 1 failed, 1 not run"), "{text}");
    assert!(stderr(&out).contains("apply failed on 1 of 3 target(s): b"), "{}", stderr(&out));
    // Progress lines name their target.
    assert!(stderr(&out).contains("[a] step 1/8:"), "{}", stderr(&out));
    assert_eq!(phases(&a.pool).await, [("expand".to_string(), "done".to_string())]);
    assert_eq!(phases(&c.pool).await, []);

    // --keep-going, two at a time, JSON: every target has its entry, b still failed and counted.
    let out = planner(dir.path())
        .args(["apply", plan, "--phase", "expand", "--all-targets", "--keep-going", "--parallel", "2"])
        .args(["--format", "json"])
        .assert()
        .code(3);
    let doc = json(&out);
    assert_eq!((doc["format"].as_str(), doc["version"].as_u64()), (Some("planner.fleet"), Some(1)), "{doc}");
    assert_eq!(doc["command"], "apply");
    assert_eq!(doc["ok"], false);
    assert_eq!(
        doc["summary"],
        serde_json::json!({"targets": 3, "ok": 2, "failed": 1, "not_run": 0}),
        "{doc}"
    );
    let targets = doc["targets"].as_array().unwrap();
    let by_name = |n: &str| targets.iter().find(|t| t["target"] == n).unwrap_or_else(|| panic!("{n}: {doc}"));
    assert_eq!(by_name("a")["report"]["result"], "already_done", "{doc}");
    assert_eq!(by_name("c")["report"]["result"], "applied", "{doc}");
    assert_eq!(by_name("c")["report"]["format"], "planner.apply", "{doc}");
    assert_eq!(
        (by_name("b")["result"].as_str(), by_name("b")["exit_code"].as_i64()),
        (Some("failed"), Some(3))
    );
    assert!(by_name("b")["error"].as_str().is_some_and(|e| e.contains("connection refused")), "{doc}");
    assert_eq!(phases(&c.pool).await, [("expand".to_string(), "done".to_string())]);

    // Only the reachable two: verify is not ready on either (the backfill has not run): exit 1.
    let out = planner(dir.path()).args(["verify", plan, "--targets", "a,c", "--keep-going"]).assert().code(1);
    let text = stdout(&out);
    assert!(row(&text, "a").contains("not ready") && row(&text, "c").contains("not ready"), "{text}");

    // Backfill both; each database keeps its own checkpoint.
    let out = planner(dir.path())
        .args(["backfill", plan, "--targets", "c,a", "--format", "json"])
        .assert()
        .success();
    let doc = json(&out);
    let rows: Vec<(String, u64)> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (t["target"].as_str().unwrap().to_string(), t["report"]["backfill"]["rows"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(rows, [("c".to_string(), 200), ("a".to_string(), 300)], "{doc}");
    planner(dir.path()).args(["verify", plan, "--targets", "a,c"]).assert().success();

    // status reads every target whatever happens (it changes nothing) and exits 3 for b.
    let out = planner(dir.path()).args(["status", "--all-targets"]).assert().code(3);
    let text = stdout(&out);
    assert!(text.contains("== target a: ok") && text.contains("== target c: ok"), "{text}");
    assert!(
        row(&text, "b").contains("FAILED") && text.contains("3 target(s): 2 ok, 1 failed, 0 not run"),
        "{text}"
    );

    // An unknown name is bad input for the whole run, before anything runs.
    let out = planner(dir.path()).args(["next", plan, "--targets", "a,d", "--yes"]).assert().code(2);
    assert!(stderr(&out).contains("no target named `d`"), "{}", stderr(&out));
    assert_eq!(phases(&a.pool).await.len(), 2, "expand and backfill only: next did not run");
    a.drop().await;
    c.drop().await;
}
