//! `planner export --to sqlx`, run by sqlx's own `migrate::Migrator` against a real database:
//! expand applies and planner's state shows it; the contract refuses before the backfill,
//! changing nothing; after `planner backfill` it applies and the schema is the one `planner apply`
//! produces; the down migrations restore the schema from before the expand.

mod common;
mod exec_support;

use std::path::Path;

use assert_cmd::Command;
use exec_support::{example_db, pg_dump_schema};
use planner::plan::PhaseKind;

fn planner(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("planner")
        .expect("binary built")
        .current_dir(exec_support::root())
        .args(args)
        .output()
        .expect("runs")
}

fn export(plan: &str, out: &Path) {
    let out_s = out.display().to_string();
    let o = planner(&[
        "export",
        &format!("plans/{plan}"),
        "--to",
        "sqlx",
        "--out",
        &out_s,
        "--version-base",
        "20260101000000",
    ]);
    assert!(o.status.success(), "export: {}", String::from_utf8_lossy(&o.stderr));
}

async fn migrator(dir: &Path) -> sqlx::migrate::Migrator {
    sqlx::migrate::Migrator::new(dir).await.expect("sqlx reads the exported folder")
}

/// A connection of its own for each migrator run, as a deploy step has: sqlx keeps its
/// session advisory lock on the connection when a migration fails (the process would exit).
async fn conn(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.expect("connect")
}

#[tokio::test]
async fn sqlx_runs_expand_refuses_contract_until_backfill_then_contracts_and_undoes() {
    let db = example_db(300).await;
    let dir = tempfile::tempdir().unwrap();
    export("add_users_email_verified", dir.path());
    let m = migrator(dir.path()).await;
    // sqlx's own bookkeeping table is not part of what the downs must restore.
    m.run_to(0, &db.pool).await.expect("sqlx creates _sqlx_migrations");
    let before = pg_dump_schema(&db.url);
    let expand_versions: Vec<i64> =
        m.iter().filter(|x| x.description.contains("expand")).map(|x| x.version).collect();
    assert!(!expand_versions.is_empty());

    // Release N: the expand migrations only.
    m.run_to(*expand_versions.last().unwrap(), &mut conn(&db.url).await)
        .await
        .expect("expand applies through sqlx");
    assert_eq!(
        exec_support::phase_status(&db, "add_users_email_verified", PhaseKind::Expand).await.as_deref(),
        Some("done")
    );
    let status = planner(&["status", "--database-url", &db.url]);
    let status_text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.status.success(), "status: {}", String::from_utf8_lossy(&status.stderr));
    assert!(status_text.contains("add_users_email_verified"), "{status_text}");
    assert!(status_text.contains("sqlx migration"), "status names who applied it: {status_text}");
    let expanded = pg_dump_schema(&db.url);

    // Release N+1 too early: the contract refuses with the reason and changes nothing.
    let err = m.run(&mut conn(&db.url).await).await.expect_err("contract refuses before the backfill");
    let msg = format!("{err:?}");
    assert!(msg.contains("Cannot contract"), "{msg}");
    assert!(msg.contains("NULL values still exist in users.email_verified (e.g. id=1, 2, 3)"), "{msg}");
    assert!(msg.contains("planner backfill plans/add_users_email_verified"), "{msg}");
    assert_eq!(pg_dump_schema(&db.url), expanded, "a refused contract changes nothing");
    assert_eq!(exec_support::phase_status(&db, "add_users_email_verified", PhaseKind::Contract).await, None);

    // The backfill job between the releases, then the contract applies.
    let o = planner(&["backfill", "plans/add_users_email_verified", "--database-url", &db.url]);
    assert!(o.status.success(), "backfill: {}", String::from_utf8_lossy(&o.stderr));
    m.run(&mut conn(&db.url).await).await.expect("contract applies after the backfill");
    for phase in PhaseKind::ALL {
        assert_eq!(
            exec_support::phase_status(&db, "add_users_email_verified", phase).await.as_deref(),
            Some("done"),
            "{phase}"
        );
    }
    let verify = planner(&["verify", "plans/add_users_email_verified", "--database-url", &db.url]);
    assert!(verify.status.success(), "verify: {}", String::from_utf8_lossy(&verify.stdout));

    // The planned schema: what planner apply itself leaves.
    let reference = example_db(300).await;
    m.run_to(0, &reference.pool).await.expect("the same bookkeeping table");
    let plan = exec_support::plan("add_users_email_verified");
    for phase in PhaseKind::ALL {
        exec_support::apply(&reference, &plan, phase).await.unwrap_or_else(|e| panic!("{phase}: {e:#}"));
    }
    assert_eq!(pg_dump_schema(&db.url), pg_dump_schema(&reference.url), "sqlx left the planned schema");
    reference.drop().await;

    // The down migrations: contract's undo, then expand's.
    m.undo(&mut conn(&db.url).await, 0).await.expect("down migrations run");
    assert_eq!(pg_dump_schema(&db.url), before, "the downs restore the schema from before the expand");
    assert_eq!(
        exec_support::phase_status(&db, "add_users_email_verified", PhaseKind::Expand).await.as_deref(),
        Some("rolled_back")
    );
    db.drop().await;
}

/// A plan whose expand builds indexes CONCURRENTLY: each such statement is a `-- no-transaction`
/// migration of its own (sqlx sends a file as one query), and the whole flow still works,
/// including `planner rollback` of a phase the tool applied.
#[tokio::test]
async fn sqlx_concurrent_index_steps_run_alone_and_planner_rolls_back_what_sqlx_applied() {
    let db = example_db(200).await;
    let dir = tempfile::tempdir().unwrap();
    export("rename_users_name", dir.path());
    let alone: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .filter(|text| text.lines().any(|l| l.starts_with("CREATE INDEX CONCURRENTLY")))
        .collect();
    assert!(!alone.is_empty());
    for text in &alone {
        assert!(text.starts_with("-- no-transaction"), "{text}");
        let sql: String = text.lines().filter(|l| !l.starts_with("--")).collect();
        assert_eq!(sql.matches(';').count(), 1, "alone in its file: {text}");
    }
    let m = migrator(dir.path()).await;
    m.run_to(0, &db.pool).await.expect("sqlx creates _sqlx_migrations");
    let before = pg_dump_schema(&db.url);
    let last_expand = m.iter().filter(|x| x.description.contains("expand")).map(|x| x.version).max().unwrap();
    m.run_to(last_expand, &db.pool).await.expect("expand applies through sqlx");
    assert_eq!(
        exec_support::phase_status(&db, "rename_users_name", PhaseKind::Expand).await.as_deref(),
        Some("done")
    );
    let o = planner(&["rollback", "plans/rename_users_name", "--database-url", &db.url]);
    assert!(
        o.status.success(),
        "rollback: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(pg_dump_schema(&db.url), before, "planner rollback undoes what sqlx applied");
    db.drop().await;
}

/// A type change exported to sqlx: the expand refuses inside the database while a row does not
/// convert (with its key, changing nothing); the contract refuses while the converted copy differs
/// from the conversion of a row; once both hold, the flow ends with the column of the new type.
#[tokio::test]
async fn sqlx_type_change_refuses_rows_that_do_not_convert_and_a_wrong_copy() {
    use sqlx::Row;
    let plan = "change_type_tickets_code";
    let db = example_db(10).await;
    db.exec(
        "INSERT INTO tickets (code, opened_at) SELECT ' ' || (1000 + g) || ' ', now() FROM generate_series(1, 50) g;
         UPDATE tickets SET code = 'A-7' WHERE id = 7;",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    export(plan, dir.path());
    let m = migrator(dir.path()).await;
    m.run_to(0, &db.pool).await.expect("sqlx creates _sqlx_migrations");
    let before = pg_dump_schema(&db.url);
    let expand_last =
        m.iter().filter(|x| x.description.contains("expand")).map(|x| x.version).max().expect("expand");

    let err = m.run_to(expand_last, &mut conn(&db.url).await).await.expect_err("expand refuses row 7");
    let msg = format!("{err:?}");
    assert!(msg.contains("Cannot expand"), "{msg}");
    assert!(msg.contains("1 row of public.tickets cannot be converted"), "{msg}");
    assert!(msg.contains("e.g. id=7"), "{msg}");
    assert_eq!(pg_dump_schema(&db.url), before, "a refused expand changes nothing");

    db.exec("UPDATE tickets SET code = '7' WHERE id = 7").await;
    m.run_to(expand_last, &mut conn(&db.url).await).await.expect("expand applies once every row converts");
    let o = planner(&["backfill", &format!("plans/{plan}"), "--database-url", &db.url]);
    assert!(o.status.success(), "backfill: {}", String::from_utf8_lossy(&o.stderr));

    // A copy that went wrong behind the trigger's back (the test's own session skips triggers).
    db.exec(
        "SET session_replication_role = replica; UPDATE tickets SET code_planner = -1 WHERE id = 12;
         RESET session_replication_role;",
    )
    .await;
    let expanded = pg_dump_schema(&db.url);
    let err = m.run(&mut conn(&db.url).await).await.expect_err("contract refuses the wrong copy");
    let msg = format!("{err:?}");
    assert!(msg.contains("Cannot contract"), "{msg}");
    assert!(msg.contains("1 row of public.tickets where code_planner differs from"), "{msg}");
    assert!(msg.contains("e.g. id=12"), "{msg}");
    assert_eq!(pg_dump_schema(&db.url), expanded, "a refused contract changes nothing");

    db.exec("UPDATE tickets SET code_planner = 1012 WHERE id = 12").await;
    m.run(&mut conn(&db.url).await).await.expect("contract applies");
    let row = sqlx::query(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'tickets'::regclass AND attname = 'code'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>(0), "integer");
    let seven: i32 =
        sqlx::query_scalar("SELECT code FROM tickets WHERE id = 7").fetch_one(&db.pool).await.unwrap();
    assert_eq!(seven, 7);
    db.drop().await;
}
