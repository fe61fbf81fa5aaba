//! plan.yaml format 1 (before `dialect` / `server_version`): a folder written by an older planner
//! still loads, passes the byte-compare and applies on real PostgreSQL. The fixture is
//! plans/rename_users_name exactly as format 1 wrote it.

mod common;
mod exec_support;

use std::path::PathBuf;

use assert_cmd::Command;
use exec_support::{example_db, root};
use planner::flavour::{Flavour, ServerVersion};

fn fixture() -> PathBuf {
    root().join("tests/fixtures/plan_format_1/rename_users_name")
}

#[test]
fn a_format_1_plan_loads_as_postgresql_and_renders_the_same_sql_as_today() {
    let (plan, text) = planner::plan::read_dir(&fixture()).expect("format-1 plan loads");
    assert_eq!(plan.planner_plan, 1);
    assert!(text.contains("\npg_version: 15\n"), "the fixture is format 1");
    assert_eq!((plan.dialect, plan.server_version), (Flavour::Postgresql, ServerVersion::major(15)));
    // Written back as format 1, byte for byte (the loader's own check, repeated here).
    assert_eq!(planner::plan::write::plan_yaml(&plan).expect("yaml"), text);
    // The SQL files of today's format-2 golden plan are the same bytes.
    let current = planner::plan::load_dir(&root().join("plans/rename_users_name")).expect("golden");
    assert_eq!(current.planner_plan, planner::plan::PLAN_FORMAT_VERSION);
    assert_eq!(current.files, plan.files, "same SQL files, same sha256");

    // An edit is still refused, and a format-1 file cannot carry format-2 fields.
    let edited = text.replace("pg_version: 15", "pg_version: 14");
    let err = planner::plan::load::from_yaml(&edited, "plan.yaml").unwrap_err().to_string();
    assert!(err.contains("differs from what planner renders"), "{err}");
    let mixed = text.replace("pg_version: 15", "dialect: postgresql\nserver_version: 15");
    let err = planner::plan::load::from_yaml(&mixed, "plan.yaml").unwrap_err().to_string();
    assert!(err.contains("format-1 plan has `pg_version`"), "{err}");
}

#[tokio::test]
async fn a_format_1_plan_applies_on_postgresql() {
    let db = example_db(200).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("rename_users_name");
    std::fs::create_dir(&dir).expect("dir");
    for entry in std::fs::read_dir(fixture()).expect("fixture") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, dir.join(path.file_name().expect("name"))).expect("copy");
    }
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM users ORDER BY id").fetch_all(&db.pool).await.expect("names");
    for _ in 0..3 {
        Command::cargo_bin("planner")
            .expect("binary")
            .env("DATABASE_URL", &db.url)
            .args(["next", dir.to_str().expect("utf-8 path"), "--yes"])
            .assert()
            .success();
    }
    let renamed: Vec<String> = sqlx::query_scalar("SELECT full_name FROM users ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .expect("full_name exists after contract");
    assert_eq!(renamed, names);
    let old: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'name'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("count");
    assert_eq!(old, 0, "contract dropped the old column");
    let phases: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM planner.phases WHERE plan = 'rename_users_name' AND status = 'done'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("state");
    assert_eq!(phases, 3);
    db.drop().await;
}

/// A PostgreSQL plan relabelled `dialect: mariadb` is no MariaDB plan: its steps are PostgreSQL
/// statements, so loading it is bad input (exit 2), before any connection.
#[test]
fn a_postgresql_plan_relabelled_for_mariadb_is_refused() {
    let mut plan = planner::plan::load_dir(&root().join("plans/rename_users_name")).expect("golden");
    plan.dialect = Flavour::Mariadb;
    plan.server_version = ServerVersion::major_minor(10, 11);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = planner::plan::write_plan_dir(tmp.path(), &mut plan).expect("write");
    let yaml = std::fs::read_to_string(dir.join("plan.yaml")).expect("plan.yaml");
    assert!(yaml.contains("\ndialect: mariadb\nserver_version: '10.11'\n"), "{yaml}");
    let out = Command::cargo_bin("planner")
        .expect("binary")
        .env("DATABASE_URL", "mariadb://127.0.0.1:1/nothing")
        .args(["apply", dir.to_str().expect("utf-8"), "--phase", "expand"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("plan `rename_users_name` is for MariaDB but step")
            && stderr.contains("is not a MySQL statement"),
        "{stderr}"
    );
}
