//! The plan folder's lifecycle as a user meets it: no silent overwrite, the applied plan written
//! back from the database, rollback despite an edited folder, read-only status and verify, and
//! user expressions that are refused before anything is planned.

mod common;
mod exec_support;

use assert_cmd::Command;
use exec_support::{catalog, example_db, root};

fn planner(url: Option<&str>) -> Command {
    let mut cmd = Command::cargo_bin("planner").expect("binary built");
    cmd.current_dir(root()).env_remove("DATABASE_URL");
    if let Some(url) = url {
        cmd.env("DATABASE_URL", url);
    }
    cmd
}

fn text(out: &assert_cmd::assert::Assert) -> String {
    let o = out.get_output();
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn planning_twice_refuses_to_overwrite_the_folder_without_force() {
    let out = tempfile::tempdir().unwrap();
    let plan = |extra: &[&str]| {
        let mut cmd = planner(None);
        cmd.args(["plan", "rename", "users.name", "full_name", "--schema", "examples/schema.sql", "--out"])
            .arg(out.path())
            .args(extra);
        cmd
    };
    plan(&[]).assert().success();
    let first = std::fs::read_to_string(out.path().join("rename_users_name/plan.yaml")).unwrap();
    let refused = plan(&[]).assert().code(2);
    assert!(text(&refused).contains("already holds plan `rename_users_name`"), "{}", text(&refused));
    assert!(text(&refused).contains("--force"), "{}", text(&refused));
    assert_eq!(std::fs::read_to_string(out.path().join("rename_users_name/plan.yaml")).unwrap(), first);
    plan(&["--force"]).assert().success();
}

#[tokio::test]
async fn an_applied_plan_comes_back_from_the_database_and_rolls_back_despite_an_edited_folder() {
    let db = example_db(200).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("rename_users_name");
    let out = planner(Some(&db.url))
        .args(["plan", "rename", "users.name", "full_name", "--out"])
        .arg(work.path())
        .assert()
        .success();
    let _ = out;
    let before = catalog(&db).await;
    planner(Some(&db.url)).args(["apply"]).arg(&dir).args(["--phase", "expand"]).assert().success();

    // Planning the same name against the database again is refused: it is registered there.
    let again = tempfile::tempdir().unwrap();
    let refused = planner(Some(&db.url))
        .args(["plan", "rename", "users.name", "display_name", "--name", "rename_users_name", "--out"])
        .arg(again.path())
        .assert()
        .code(2);
    assert!(text(&refused).contains("already registered in the target database"), "{}", text(&refused));

    // The applied plan's files, written back from planner.plans, are byte for byte the folder.
    let back = tempfile::tempdir().unwrap();
    planner(Some(&db.url))
        .args(["plan", "--from-database", "rename_users_name", "--out"])
        .arg(back.path())
        .assert()
        .success();
    for file in ["plan.yaml", "expand.up.sql", "expand.down.sql", "backfill.sql", "contract.up.sql"] {
        assert_eq!(
            std::fs::read(back.path().join("rename_users_name").join(file)).unwrap(),
            std::fs::read(dir.join(file)).unwrap(),
            "{file}"
        );
    }

    // A reviewer's comment in contract.up.sql: apply refuses (exit 2, naming the line) ...
    let contract = dir.join("contract.up.sql");
    let edited = format!("{}\n-- looks good to me\n", std::fs::read_to_string(&contract).unwrap());
    std::fs::write(&contract, edited).unwrap();
    let refused =
        planner(Some(&db.url)).args(["apply"]).arg(&dir).args(["--phase", "backfill"]).assert().code(2);
    assert!(
        text(&refused).contains("contract.up.sql differs from what planner renders"),
        "{}",
        text(&refused)
    );
    // ... but rollback undoes what ran, from the registered copy, and says so.
    let rolled = planner(Some(&db.url)).args(["rollback"]).arg(&dir).assert().success();
    assert!(
        text(&rolled).contains("rolling back with plan `rename_users_name` as registered"),
        "{}",
        text(&rolled)
    );
    assert_eq!(catalog(&db).await, before, "expand undone exactly");
    db.drop().await;
}

#[tokio::test]
async fn status_and_verify_never_write() {
    let db = example_db(10).await;
    let has_schema = || async {
        sqlx::query_scalar::<_, bool>("SELECT to_regnamespace('planner') IS NOT NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    };
    let out = planner(Some(&db.url)).args(["status"]).assert().success();
    assert!(text(&out).contains("no plans here"), "{}", text(&out));
    planner(Some(&db.url)).args(["verify", "plans/rename_users_name"]).assert().code(1);
    assert!(!has_schema().await, "status and verify created schema planner");
    db.drop().await;
}

/// Expressions are data: comments, separators, dollar quotes, subqueries and functions with side
/// effects are refused (exit 2) before a plan is written.
#[test]
fn unsafe_expressions_are_refused_with_exit_2() {
    for (flag, expr, says) in [
        ("--default", "0 -- x", "comment"),
        ("--backfill", "true /* x */", "comment"),
        ("--backfill", "true; DROP TABLE users", "one expression"),
        ("--backfill", "$x$t$x$ = ''", "dollar-quoted"),
        ("--backfill", "(SELECT true)", "subquery"),
        ("--backfill", "id IN (SELECT id FROM orders)", "subquery"),
        ("--backfill", "pg_terminate_backend(pg_backend_pid())", "pg_terminate_backend"),
        ("--default", "pg_sleep(10) IS NULL", "pg_sleep"),
        ("--backfill", "dblink_exec('x') = ''", "dblink_exec"),
    ] {
        let out = tempfile::tempdir().unwrap();
        let assert = planner(None)
            .args(["plan", "add-column", "users.flag2", "boolean", "--not-null", flag, expr])
            .args(["--schema", "examples/schema.sql", "--out"])
            .arg(out.path())
            .assert()
            .code(2);
        assert!(text(&assert).contains(says), "{expr}: {}", text(&assert));
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "{expr}: nothing written");
    }
    // A function the user vouches for is accepted.
    let out = tempfile::tempdir().unwrap();
    planner(None)
        .args(["plan", "add-column", "users.flag2", "boolean", "--not-null"])
        .args([
            "--backfill",
            "my_flag(id)",
            "--allow-function",
            "my_flag",
            "--schema",
            "examples/schema.sql",
            "--out",
        ])
        .arg(out.path())
        .assert()
        .success();
}

/// A dry run with a database makes the real run's checks, read-only: exit 1 where the run would
/// refuse, 0 where it would proceed, and nothing is written either way.
#[tokio::test]
async fn dry_run_checks_preconditions_and_exits_1_where_the_run_would_refuse() {
    let db = example_db(10).await;
    let dry = |phase: &str| {
        let mut cmd = planner(Some(&db.url));
        cmd.args(["apply", "plans/rename_users_name", "--phase", phase, "--dry-run"]);
        cmd
    };
    let refused = dry("contract").assert().code(1);
    assert!(text(&refused).contains("phase expand has not been applied yet"), "{}", text(&refused));
    let ready = dry("expand").assert().success();
    assert!(text(&ready).contains("every precondition holds"), "{}", text(&ready));
    db.exec("ALTER TABLE users ADD COLUMN surprise int").await;
    let drifted = dry("expand").assert().code(1);
    assert!(text(&drifted).contains("surprise"), "{}", text(&drifted));
    let schema: bool = sqlx::query_scalar("SELECT to_regnamespace('planner') IS NOT NULL")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(!schema, "a dry run wrote schema planner");
    db.drop().await;
}

/// set-not-null without a backfill, planned from a live table that has NULLs: refused at plan time
/// with the count and what to pass (not later, by contract).
#[tokio::test]
async fn set_not_null_over_nulls_says_how_many_and_what_to_pass() {
    let db = example_db(30).await;
    let out = tempfile::tempdir().unwrap();
    let refused = planner(Some(&db.url))
        .args(["plan", "set-not-null", "users.email", "--out"])
        .arg(out.path())
        .assert()
        .code(2);
    assert!(text(&refused).contains("public.users.email has 10 NULL value(s)"), "{}", text(&refused));
    assert!(text(&refused).contains("--backfill"), "{}", text(&refused));
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    db.drop().await;
}

/// Two plans on one table: the refusal caused by the other plan's change names it and the way out
/// (re-planning cannot help while it is in flight).
#[tokio::test]
async fn a_refusal_caused_by_another_plan_names_it() {
    let db = example_db(30).await;
    planner(Some(&db.url))
        .args(["apply", "plans/add_users_email_verified", "--phase", "expand"])
        .assert()
        .success();
    let refused = planner(Some(&db.url))
        .args(["apply", "plans/rename_users_name", "--phase", "expand"])
        .assert()
        .code(1);
    let message = text(&refused);
    assert!(message.contains("email_verified"), "{message}");
    assert!(message.contains("plan `add_users_email_verified` also changes public.users"), "{message}");
    assert!(!message.contains("re-plan"), "{message}");
    db.drop().await;
}

/// One byte changed in the plan registered in the database: refused, nothing runs.
#[tokio::test]
async fn a_tampered_registered_plan_is_refused() {
    let db = example_db(30).await;
    planner(Some(&db.url)).args(["apply", "plans/rename_users_name", "--phase", "expand"]).assert().success();
    let before = catalog(&db).await;
    db.exec("UPDATE planner.plans SET plan_yaml = replace(plan_yaml, 'lock: none', 'lock: share')").await;
    for args in [
        &["apply", "plans/rename_users_name", "--phase", "backfill"][..],
        &["rollback", "plans/rename_users_name"],
    ] {
        let refused = planner(Some(&db.url)).args(args).assert().code(1);
        assert!(
            text(&refused).contains("registered in planner.plans was changed"),
            "{args:?}: {}",
            text(&refused)
        );
    }
    assert_eq!(catalog(&db).await, before);
    db.drop().await;
}

/// Rename keeps what makes the column behave as it does: collation (sort order, uniqueness),
/// comment, statistics target and storage, read from the live database and carried to the copy.
#[tokio::test]
async fn rename_keeps_collation_comment_statistics_and_storage() {
    let db = common::TestDb::new().await;
    db.exec(
        "CREATE TABLE people (id bigint PRIMARY KEY, nick text COLLATE \"C\");
         COMMENT ON COLUMN people.nick IS 'what friends call them';
         ALTER TABLE people ALTER COLUMN nick SET STATISTICS 500;
         ALTER TABLE people ALTER COLUMN nick SET STORAGE external;
         INSERT INTO people SELECT i, 'n' || i FROM generate_series(1, 10) i;",
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    planner(Some(&db.url))
        .args(["plan", "rename", "people.nick", "handle", "--out"])
        .arg(work.path())
        .assert()
        .success();
    planner(Some(&db.url))
        .args(["apply"])
        .arg(work.path().join("rename_people_nick"))
        .args(["--phase", "expand"])
        .assert()
        .success();
    let props = |column: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_as::<_, (Option<String>, Option<String>, i32, String)>(
                "SELECT co.collname::text, col_description(a.attrelid, a.attnum), a.attstattarget::int, a.attstorage::text
                   FROM pg_attribute a LEFT JOIN pg_collation co ON co.oid = a.attcollation
                  WHERE a.attrelid = 'people'::regclass AND a.attname = $1",
            )
            .bind(column)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let old = props("nick").await;
    assert_eq!(old, (Some("C".into()), Some("what friends call them".into()), 500, "e".into()));
    assert_eq!(props("handle").await, old, "the copy behaves like the original");
    db.drop().await;
}

/// From a live database the server says which functions are free of side effects
/// (pg_proc.provolatile): an IMMUTABLE user function is accepted, a VOLATILE one refused by name.
#[tokio::test]
async fn a_live_database_says_which_functions_are_side_effect_free() {
    let db = example_db(10).await;
    db.exec(
        "CREATE FUNCTION is_corporate(email text) RETURNS boolean IMMUTABLE LANGUAGE sql AS $$ SELECT email LIKE '%@corp.example' $$;
         CREATE FUNCTION audit_and_flag(email text) RETURNS boolean VOLATILE LANGUAGE sql AS $$ SELECT true $$;",
    )
    .await;
    let out = tempfile::tempdir().unwrap();
    let plan = |expr: &str| {
        let mut cmd = planner(Some(&db.url));
        cmd.args([
            "plan",
            "add-column",
            "users.corporate",
            "boolean",
            "--not-null",
            "--backfill",
            expr,
            "--out",
        ])
        .arg(out.path());
        cmd
    };
    plan("is_corporate(email)").assert().success();
    let refused = plan("audit_and_flag(email)").assert().code(2);
    assert!(text(&refused).contains("audit_and_flag"), "{}", text(&refused));
    db.drop().await;
}
