//! Multi-tenant schemas: one plan made for `public` applied to every `tenant_*` schema of one
//! database, each schema with its own state (`<plan>@<schema>`), other schemas untouched.

mod common;
mod exec_support;

use assert_cmd::Command;
use common::TestDb;
use exec_support::root;

const PLAN: &str = "plans/rename_users_name";
const TENANTS: [&str; 3] = ["tenant_a", "tenant_b", "tenant_c"];

fn planner(url: &str) -> Command {
    let mut cmd = Command::cargo_bin("planner").expect("binary built");
    cmd.current_dir(root()).env("DATABASE_URL", url);
    cmd
}

fn stdout(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stdout).to_string()
}

/// The users table of examples/schema.sql, in `schema`, with `rows` rows.
fn users_in(schema: &str, rows: u32) -> String {
    format!(
        "CREATE SCHEMA {schema};
         CREATE TABLE {schema}.users (
             id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             email       text,
             name        varchar(200) NOT NULL DEFAULT '' CHECK (length(name) <= 200),
             verified_at timestamptz,
             legacy_flag boolean NOT NULL,
             created_at  timestamptz NOT NULL DEFAULT now()
         );
         CREATE INDEX users_name_idx ON {schema}.users (name);
         CREATE INDEX users_lower_name_idx ON {schema}.users (lower(name)) WHERE verified_at IS NOT NULL;
         CREATE UNIQUE INDEX users_email_key ON {schema}.users (email);
         INSERT INTO {schema}.users (email, name, legacy_flag)
              SELECT '{schema}' || g || '@example.com', '{schema} user ' || g, g % 2 = 0
                FROM generate_series(1, {rows}) AS g;"
    )
}

async fn columns(db: &TestDb, schema: &str) -> Vec<(String, bool)> {
    sqlx::query_as(
        "SELECT attname::text, attnotnull FROM pg_attribute
          WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    )
    .bind(format!("{schema}.users"))
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn one_plan_applied_to_every_tenant_schema() {
    let db = TestDb::new().await;
    for (i, schema) in TENANTS.iter().chain(["other_x"].iter()).enumerate() {
        db.exec(&users_in(schema, 100 + 50 * i as u32)).await;
    }
    let glob = "tenant_*";

    let out =
        planner(&db.url).args(["apply", PLAN, "--phase", "expand", "--schemas", glob]).assert().success();
    let text = stdout(&out);
    for t in TENANTS {
        assert!(text.contains(&format!("== schema {t}: ok")), "{text}");
        assert!(columns(&db, t).await.iter().any(|(c, _)| c == "full_name"), "{t}: {text}");
    }
    assert!(text.contains("3 schema(s): 3 ok, 0 failed, 0 not run"), "{text}");
    assert!(!columns(&db, "other_x").await.iter().any(|(c, _)| c == "full_name"), "other_x untouched");
    let plans: Vec<String> = sqlx::query_scalar("SELECT DISTINCT plan FROM planner.phases ORDER BY plan")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(plans, TENANTS.map(|t| format!("rename_users_name@{t}")));

    // The old app keeps writing `name` in one tenant: that schema's own sync trigger fills full_name.
    db.exec("INSERT INTO tenant_b.users (email, name, legacy_flag) VALUES ('late@b', 'late writer', true)")
        .await;
    let synced: Option<String> =
        sqlx::query_scalar("SELECT full_name::text FROM tenant_b.users WHERE email = 'late@b'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(synced.as_deref(), Some("late writer"));

    // Per-schema state: a second expand is already done everywhere; the backfill runs each schema.
    let out =
        planner(&db.url).args(["apply", PLAN, "--phase", "expand", "--schemas", glob]).assert().success();
    assert_eq!(stdout(&out).matches("is already applied; nothing to do").count(), 3, "{}", stdout(&out));
    let out =
        planner(&db.url).args(["backfill", PLAN, "--schemas", glob, "--format", "json"]).assert().success();
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let rows: Vec<u64> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["report"]["backfill"]["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [100, 151, 200], "each schema's own rows (tenant_b has the late one): {doc}");

    planner(&db.url).args(["verify", PLAN, "--schemas", glob]).assert().success();
    planner(&db.url)
        .args(["apply", PLAN, "--phase", "contract", "--yes", "--schemas", glob])
        .assert()
        .success();
    for t in TENANTS {
        let cols = columns(&db, t).await;
        assert!(
            cols.contains(&("full_name".to_string(), true)) && !cols.iter().any(|(c, _)| c == "name"),
            "{t}: {cols:?}"
        );
        let missing: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {t}.users WHERE full_name IS DISTINCT FROM '{t} user ' || id AND email <> 'late@b'"
        )))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(missing, 0, "{t}: every row kept its value");
    }
    assert!(columns(&db, "other_x").await.iter().any(|(c, _)| c == "name"), "other_x untouched");

    let out = planner(&db.url).args(["status", PLAN, "--schemas", glob]).assert().success();
    assert_eq!(
        stdout(&out).matches("\n  next: nothing, every phase is applied").count(),
        3,
        "{}",
        stdout(&out)
    );

    // A glob that matches nothing is bad input, not an empty success.
    let out = planner(&db.url)
        .args(["apply", PLAN, "--phase", "expand", "--schemas", "tenantz_*"])
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("no schema of this database matches"));
    db.drop().await;
}
