//! The executor against the real PostgreSQL with the golden plans: phase order, state, verify,
//! rollback, checksum drift, lock timeouts, one planner at a time.

mod common;
mod exec_support;

use exec_support::*;
use planner::exec::{self, ApplyOutcome, LoadedPlan, Session, SessionOptions};
use planner::plan::PhaseKind::{Backfill, Contract, Expand};

#[tokio::test]
async fn rename_steps_through_every_phase_in_order() {
    let db = example_db(2_000).await;
    let plan = plan("rename_users_name");

    let err = apply(&db, &plan, Contract).await.unwrap_err().to_string();
    assert!(err.contains("Cannot contract: phase expand has not been applied yet"), "{err}");
    assert!(err.contains("Cannot contract: phase backfill has not been applied yet"), "{err}");

    assert_eq!(apply(&db, &plan, Expand).await.unwrap(), ApplyOutcome::Applied { phase: Expand, steps: 8 });
    assert_eq!(apply(&db, &plan, Expand).await.unwrap(), ApplyOutcome::AlreadyDone { phase: Expand });
    assert_eq!(phase_status(&db, "rename_users_name", Expand).await.as_deref(), Some("done"));

    // Not ready: the backfill has not run, and full_name is NULL in every old row.
    let failures = verify(&db, &plan).await;
    assert!(failures.iter().any(|f| f.contains("backfill of public.users has not run")), "{failures:?}");
    assert!(
        failures
            .iter()
            .any(|f| f.contains("2,000 NULL values still exist in users.full_name (e.g. id=1, 2, 3)")),
        "{failures:?}"
    );

    assert_eq!(apply_backfill(&db, &plan).await, ApplyOutcome::Applied { phase: Backfill, steps: 0 });
    assert_eq!(verify(&db, &plan).await, Vec::<String>::new());

    let status = planner::cli::status::status_text(&db.url, None).await.unwrap();
    assert!(status.contains("plan rename_users_name"), "{status}");
    assert!(status.contains("expand    done"), "{status}");
    assert!(status.contains("backfill  done"), "{status}");
    assert!(status.contains("public.users: 2,000 rows"), "{status}");
    assert!(status.contains("contract  pending"), "{status}");
    assert!(status.contains("next: planner apply <plan dir> --phase contract"), "{status}");

    assert_eq!(
        apply(&db, &plan, Contract).await.unwrap(),
        ApplyOutcome::Applied { phase: Contract, steps: 12 }
    );
    let names: Vec<String> =
        sqlx::query_scalar("SELECT full_name::text FROM users WHERE id IN (1, 2000) ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(names, ["user-1", "user-2000"]);
    let err = rollback(&db, &plan).await.unwrap_err().to_string();
    assert!(err.contains("cannot be undone"), "{err}");
    let status = planner::cli::status::status_text(&db.url, None).await.unwrap();
    assert!(status.contains("next: nothing, every phase is applied"), "{status}");
    db.drop().await;
}

/// For each change kind: rollback from each phase leaves the original catalog and keeps every
/// row written in between (through the old app's shape).
#[tokio::test]
async fn rollback_from_each_phase_restores_the_schema_and_keeps_rows() {
    for name in [
        "rename_users_name",
        "add_users_email_verified",
        "drop_users_legacy_flag",
        "set_not_null_users_email",
    ] {
        let db = example_db(1_000).await;
        let plan = plan(name);
        let before = catalog(&db).await;

        apply(&db, &plan, Expand).await.unwrap();
        db.exec(
            "INSERT INTO users (email, name, legacy_flag) VALUES ('during-expand@x', 'written during expand', true);
             UPDATE users SET name = 'updated during expand' WHERE id = 7;",
        )
        .await;
        assert_eq!(rollback(&db, &plan).await.unwrap(), Expand, "{name}");
        assert_eq!(catalog(&db).await, before, "{name}: rollback of expand restores the catalog");
        assert_eq!(phase_status(&db, name, Expand).await.as_deref(), Some("rolled_back"));

        apply(&db, &plan, Expand).await.unwrap();
        if plan.plan.phase(Backfill).is_some() {
            apply_backfill(&db, &plan).await;
            db.exec("UPDATE users SET name = 'updated during backfill' WHERE id = 8").await;
            assert_eq!(rollback(&db, &plan).await.unwrap(), Backfill, "{name}");
            let progress: i64 = sqlx::query_scalar("SELECT count(*) FROM planner.backfill_progress")
                .fetch_one(&db.pool)
                .await
                .unwrap();
            assert_eq!(progress, 0, "{name}: rolling back backfill forgets its checkpoints");
        }
        assert_eq!(rollback(&db, &plan).await.unwrap(), Expand, "{name}");
        assert_eq!(catalog(&db).await, before, "{name}: rollback after backfill restores the catalog");
        let err = rollback(&db, &plan).await.unwrap_err().to_string();
        assert!(err.contains("no applied phase to roll back"), "{err}");

        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT count(*), string_agg(name, '|' ORDER BY id) FILTER (WHERE id IN (7, 8) OR email = 'during-expand@x') FROM users",
        )
        .fetch_one(&db.pool)
        .await
        .map(|r: (i64, Option<String>)| vec![(r.0, r.1.unwrap_or_default())])
        .unwrap();
        let expected_last =
            if plan.plan.phase(Backfill).is_some() { "updated during backfill" } else { "user-8" };
        assert_eq!(
            rows,
            [(1_001, format!("updated during expand|{expected_last}|written during expand"))],
            "{name}: no row lost, last writes kept"
        );
        db.drop().await;
    }
}

#[tokio::test]
async fn verify_and_contract_refuse_a_null_written_behind_the_triggers_back() {
    let db = example_db(3_000).await;
    let plan = plan("add_users_email_verified");
    apply(&db, &plan, Expand).await.unwrap();
    apply_backfill(&db, &plan).await;
    assert_eq!(verify(&db, &plan).await, Vec::<String>::new());

    // A misbehaving writer that bypasses triggers (replication role) re-inserts NULLs.
    db.exec(
        "BEGIN; SET LOCAL session_replication_role = replica;
         UPDATE users SET email_verified = NULL WHERE id IN (17, 93, 2012, 2999); COMMIT;",
    )
    .await;
    let failures = verify(&db, &plan).await;
    assert_eq!(failures, ["4 NULL values still exist in users.email_verified (e.g. id=17, 93, 2012)"]);
    let err = apply(&db, &plan, Contract).await.unwrap_err();
    assert_eq!(planner::error::exit_code(&err), 1);
    assert_eq!(
        err.to_string(),
        "Cannot contract: 4 NULL values still exist in users.email_verified (e.g. id=17, 93, 2012)"
    );
    assert_eq!(phase_status(&db, "add_users_email_verified", Contract).await, None, "contract never started");

    db.exec("UPDATE users SET email_verified = verified_at IS NOT NULL WHERE email_verified IS NULL").await;
    apply(&db, &plan, Contract).await.unwrap();
    let not_null: bool = sqlx::query_scalar(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email_verified'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(not_null);
    db.drop().await;
}

#[tokio::test]
async fn drop_column_refuses_while_a_view_depends_on_it() {
    let db = example_db(100).await;
    let plan = plan("drop_users_legacy_flag");
    apply(&db, &plan, Expand).await.unwrap();
    db.exec("CREATE VIEW legacy_users AS SELECT id FROM users WHERE legacy_flag").await;
    let err = apply(&db, &plan, Contract).await.unwrap_err().to_string();
    assert!(err.starts_with("Cannot contract: 1 object still depends on public.users.legacy_flag"), "{err}");
    assert!(err.contains("legacy_users"), "{err}");
    db.exec("DROP VIEW legacy_users").await;
    apply(&db, &plan, Contract).await.unwrap();
    db.drop().await;
}

#[tokio::test]
async fn a_plan_changed_after_apply_is_refused_naming_the_file() {
    let db = example_db(100).await;
    let dir = tempfile::tempdir().unwrap();
    let plan_dir = dir.path().join("rename_users_name");
    std::fs::create_dir(&plan_dir).unwrap();
    for entry in std::fs::read_dir(root().join("plans/rename_users_name")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), plan_dir.join(entry.file_name())).unwrap();
    }
    let plan = LoadedPlan::load(&plan_dir).unwrap();
    apply(&db, &plan, Expand).await.unwrap();

    // One byte changed anywhere (a statement in plan.yaml, a SQL file) is refused before anything
    // connects, naming the file and the first differing line; the database is unchanged.
    let applied = catalog(&db).await;
    let yaml_path = plan_dir.join("plan.yaml");
    let yaml = std::fs::read_to_string(&yaml_path).unwrap();
    let up = plan_dir.join("expand.up.sql");
    let original = std::fs::read_to_string(&up).unwrap();
    let tampers: Vec<(std::path::PathBuf, String, &str)> = vec![
        (
            yaml_path.clone(),
            yaml.replacen("character varying(200)", "character varying(201)", 1),
            "plan.yaml",
        ),
        (yaml_path.clone(), yaml.replacen("access_exclusive_brief", "none", 1), "plan.yaml"),
        (up.clone(), original.replacen("'2s'", "'9s'", 1), "expand.up.sql"),
        (up.clone(), format!("{original}\n-- a reviewer's note\n"), "expand.up.sql"),
        (up.clone(), original.replacen("\"full_name\"", "\"full_nam\"", 1), "expand.up.sql"),
    ];
    for (path, text, file) in tampers {
        let good = std::fs::read_to_string(&path).unwrap();
        assert_ne!(good, text, "the tamper of {file} changes something");
        std::fs::write(&path, &text).unwrap();
        let err = LoadedPlan::load(&plan_dir).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains(file) && message.contains("differs from what planner renders"), "{message}");
        assert!(message.contains("first at line"), "{message}");
        assert_eq!(planner::error::exit_code(&err), 2);
        std::fs::write(&path, good).unwrap();
    }
    assert_eq!(catalog(&db).await, applied);

    // Re-planned under the same name with a different change: the folder is consistent, but the
    // plan registered in the database when expand ran differs -> refused, naming the line.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_planner"))
        .current_dir(root())
        .args(["plan", "rename", "users.name", "display_name", "--schema", "examples/schema.sql"])
        .args(["--name", "rename_users_name", "--out"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let replanned = LoadedPlan::load(&other.join("rename_users_name")).unwrap();
    let err = apply(&db, &replanned, Backfill).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("plan `rename_users_name`: backfill.sql (line"), "{message}");
    assert!(message.contains("changed since phase expand was applied"), "{message}");
    assert_eq!(planner::error::exit_code(&err), 1);
    assert_eq!(catalog(&db).await, applied);
    db.drop().await;
}

#[tokio::test]
async fn a_held_lock_makes_apply_give_up_cleanly_naming_the_blocker() {
    let db = example_db(100).await;
    let plan = plan("rename_users_name");
    let before = catalog(&db).await;

    let mut blocker = db.pool.acquire().await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE users IN ACCESS SHARE MODE").execute(&mut *blocker).await.unwrap();
    let blocker_pid: i32 =
        sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *blocker).await.unwrap();

    let opts = SessionOptions {
        lock_timeout: std::time::Duration::from_millis(100),
        retries: 2,
        backoff: std::time::Duration::from_millis(10),
        ..SessionOptions::default()
    };
    let mut session = Session::open(&db.url, opts).await.unwrap();
    let err = exec::apply_phase(&mut session, &plan, Expand, &Default::default()).await.unwrap_err();
    session.close().await.unwrap();
    let msg = format!("{err:#}");
    assert!(msg.contains("gave up after 3 attempts"), "{msg}");
    assert!(msg.contains(&format!("pid {blocker_pid} holds AccessShareLock (idle in transaction")), "{msg}");
    assert_eq!(planner::error::exit_code(&err), 1);
    assert_eq!(catalog(&db).await, before, "nothing half applied");
    assert_eq!(phase_status(&db, "rename_users_name", Expand).await.as_deref(), Some("failed"));

    sqlx::raw_sql("ROLLBACK").execute(&mut *blocker).await.unwrap();
    drop(blocker);
    assert_eq!(apply(&db, &plan, Expand).await.unwrap(), ApplyOutcome::Applied { phase: Expand, steps: 8 });
    db.drop().await;
}

#[tokio::test]
async fn a_failing_later_step_undoes_the_steps_that_committed() {
    let db = example_db(100).await;
    let plan = plan("rename_users_name");
    let before = catalog(&db).await;
    // The first index copy will collide with an existing relation of the same name.
    db.exec("CREATE TABLE users_name_idx_planner (x int)").await;
    let before_with_blocker = catalog(&db).await;
    let err = apply(&db, &plan, Expand).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("nothing of this phase is left applied"), "{msg}");
    assert!(msg.contains("copy index users_name_idx onto full_name"), "{msg}");
    assert_eq!(catalog(&db).await, before_with_blocker);
    db.exec("DROP TABLE users_name_idx_planner").await;
    assert_eq!(catalog(&db).await, before);
    // After a failed (and undone) phase, rollback has nothing to undo but records it; apply works.
    apply(&db, &plan, Expand).await.unwrap();
    db.drop().await;
}

#[tokio::test]
async fn only_one_planner_at_a_time_per_database() {
    let db = example_db(10).await;
    let first = Session::open(&db.url, SessionOptions::default()).await.unwrap();
    let err = Session::open(&db.url, SessionOptions::default()).await.err().expect("second planner refused");
    assert!(
        err.to_string().contains("another planner is already running against this database: pid"),
        "{err}"
    );
    // Who holds it, as a DBA finds it: the server's pid, the holder's application_name and client.
    let msg = err.to_string();
    assert!(msg.contains("the server backend's pid") && msg.contains("application_name `planner`"), "{msg}");
    assert!(msg.contains("client 127.0.0.1:"), "{msg}");
    // status only reads: it works while another planner runs.
    planner::cli::status::status_text(&db.url, None).await.unwrap();
    first.close().await.unwrap();
    Session::open(&db.url, SessionOptions::default()).await.unwrap().close().await.unwrap();
    db.drop().await;
}

#[test]
fn dry_run_prints_statements_and_locks() {
    let plan = plan("rename_users_name");
    let text =
        exec::dry_run::render(&plan.plan, plan.plan.phase(Expand).unwrap(), &SessionOptions::default());
    assert!(text.contains("BEGIN;\nSET LOCAL lock_timeout = '2s';"), "{text}");
    assert!(
        text.contains("--    lock: ACCESS EXCLUSIVE, brief (catalog-only, milliseconds) on public.users"),
        "{text}"
    );
    assert!(
        text.contains("--    runs outside a transaction (CONCURRENTLY)\nSET lock_timeout = '2s';"),
        "{text}"
    );
    // The dry run is the files' script: the same statements in the same order.
    let file = std::fs::read_to_string(root().join("plans/rename_users_name/expand.up.sql")).unwrap();
    let body = file.split_once("\n\n").unwrap().1;
    assert!(text.contains(body), "dry run and expand.up.sql differ:\n{text}");
    assert!(text.contains("CREATE INDEX CONCURRENTLY \"users_name_idx_planner\""), "{text}");
    assert!(text.contains("-- precondition checked first: columns of public.users unchanged"), "{text}");
}

/// A hand-built plan whose CREATE UNIQUE INDEX CONCURRENTLY fails on duplicates: the invalid index
/// it leaves is dropped and the committed step before it is undone.
#[tokio::test]
async fn a_failed_concurrent_index_build_leaves_no_invalid_index_behind() {
    use planner::plan::*;
    use planner::sql::ddl::Ddl;
    use planner::sql::{Ident, QualifiedName};
    let col = |name: &str| Ident::new(name).unwrap();
    let db = example_db(100).await;
    let users = QualifiedName::from_user("users", "public").unwrap();
    let access = |note: &str| AppAccess { writes: true, reads: true, note: note.into() };
    let plan = Plan {
        planner_plan: PLAN_FORMAT_VERSION,
        name: "unique_flag".into(),
        dialect: planner::flavour::Flavour::Postgresql,
        server_version: planner::flavour::ServerVersion::major(15),
        description: vec!["hand-built".into()],
        tables: vec![],
        phases: vec![Phase {
            phase: PhaseKind::Expand,
            up_file: None,
            down_file: None,
            preconditions: vec![],
            steps: vec![
                Step::new(
                    "add a column",
                    Ddl::AddColumn {
                        table: users.clone(),
                        column: col("flag_copy"),
                        data_type: "boolean".into(),
                        collation: None,
                        default: None,
                        not_null: false,
                    },
                    Lock::AccessExclusiveBrief,
                    &users,
                )
                .undo(Step::new(
                    "drop it",
                    Ddl::DropColumn { table: users.clone(), column: col("flag_copy"), if_exists: true },
                    Lock::AccessExclusiveBrief,
                    &users,
                )),
                Step::new(
                    "unique index on a column with duplicates",
                    Ddl::CreateIndexConcurrently {
                        table: users.clone(),
                        index: col("users_flag_uniq"),
                        unique: true,
                        method: "btree".into(),
                        keys: vec!["\"legacy_flag\"".into()],
                        include: vec![],
                        predicate: None,
                    },
                    Lock::ShareUpdateExclusive,
                    &users,
                )
                .tx(TxMode::NoTransaction)
                .scans()
                .undo(
                    Step::new(
                        "drop it",
                        Ddl::DropIndexConcurrently { table: users.clone(), index: col("users_flag_uniq") },
                        Lock::ShareUpdateExclusive,
                        &users,
                    )
                    .tx(TxMode::NoTransaction),
                ),
            ],
            backfill: vec![],
            compat: AppCompat { old_app: access("old"), new_app: access("new") },
            irreversible: None,
        }],
        files: Default::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut plan = plan;
    let written = write_plan_dir(dir.path(), &mut plan).unwrap();
    let loaded = LoadedPlan::load(&written).unwrap();
    let before = catalog(&db).await;

    let err = format!("{:#}", apply(&db, &loaded, Expand).await.unwrap_err());
    assert!(err.contains("could not create unique index"), "{err}");
    assert!(err.contains("nothing of this phase is left applied"), "{err}");
    assert_eq!(catalog(&db).await, before, "no invalid index, no added column");
    assert_eq!(phase_status(&db, "unique_flag", Expand).await.as_deref(), Some("failed"));

    // Fix the data and retry: the phase applies.
    db.exec(
        "ALTER TABLE users ALTER COLUMN legacy_flag DROP NOT NULL;
         UPDATE users SET legacy_flag = NULL WHERE id > 2; UPDATE users SET legacy_flag = (id = 1) WHERE id <= 2",
    )
    .await;
    let err = apply(&db, &loaded, Expand).await;
    assert!(err.is_ok(), "{err:?}");
    db.drop().await;
}

/// A planner killed in the middle of expand leaves the phase `running` with the count of steps
/// that committed: apply resumes after them, rollback undoes exactly them.
#[tokio::test]
async fn an_interrupted_phase_resumes_or_rolls_back_from_its_committed_steps() {
    let db = example_db(100).await;
    let plan = plan("rename_users_name");
    let before = catalog(&db).await;
    apply(&db, &plan, Expand).await.unwrap();
    let applied = catalog(&db).await;
    // Simulate kill -9 after the first transaction (steps 1-5: column, sync function, triggers,
    // check copy): the index copies never ran, state says running after step 5.
    db.exec(
        "DROP INDEX users_name_idx_planner; DROP INDEX users_lower_name_idx_planner;
         ALTER TABLE users DROP CONSTRAINT users_name_check_planner;
         UPDATE planner.phases SET status = 'running', finished_at = NULL, steps_done = 5;",
    )
    .await;
    db.exec("ALTER TABLE users ADD CONSTRAINT users_name_check_planner CHECK (length(full_name) <= 200) NOT VALID").await;
    // Resume: only steps 6-8 run.
    assert_eq!(apply(&db, &plan, Expand).await.unwrap(), ApplyOutcome::Applied { phase: Expand, steps: 8 });
    assert_eq!(catalog(&db).await, applied);
    // Again interrupted after step 5; rollback undoes those five and nothing else fails.
    db.exec(
        "DROP INDEX users_name_idx_planner; DROP INDEX users_lower_name_idx_planner;
         ALTER TABLE users VALIDATE CONSTRAINT users_name_check_planner;
         UPDATE planner.phases SET status = 'running', finished_at = NULL, steps_done = 5;",
    )
    .await;
    assert_eq!(rollback(&db, &plan).await.unwrap(), Expand);
    assert_eq!(catalog(&db).await, before);
    apply(&db, &plan, Expand).await.unwrap();
    db.drop().await;
}

/// Rows the new app wrote through full_name while the rename was expanded survive a rollback:
/// the sync trigger put them in name too.
#[tokio::test]
async fn rolling_back_a_rename_keeps_what_the_new_app_wrote() {
    let db = example_db(100).await;
    let plan = plan("rename_users_name");
    let before = catalog(&db).await;
    apply(&db, &plan, Expand).await.unwrap();
    db.exec(
        "INSERT INTO users (email, full_name, legacy_flag) VALUES ('new-app@x', 'inserted by the new app', false);
         UPDATE users SET full_name = 'updated by the new app' WHERE id = 9;",
    )
    .await;
    apply_backfill(&db, &plan).await;
    db.exec("UPDATE users SET full_name = 'updated by the new app after backfill' WHERE id = 10").await;
    rollback(&db, &plan).await.unwrap();
    rollback(&db, &plan).await.unwrap();
    assert_eq!(catalog(&db).await, before);
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name::text FROM users WHERE id IN (9, 10) OR email = 'new-app@x' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        names,
        ["updated by the new app", "updated by the new app after backfill", "inserted by the new app"]
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&db.pool).await.unwrap();
    assert_eq!(count, 101);
    db.drop().await;
}

/// After the new app inserted rows without legacy_flag, expand of the drop cannot be undone
/// (NOT NULL cannot come back over NULLs): rollback refuses without changing anything.
#[tokio::test]
async fn rollback_of_a_drop_refuses_cleanly_when_new_rows_lack_the_column() {
    let db = example_db(100).await;
    let plan = plan("drop_users_legacy_flag");
    apply(&db, &plan, Expand).await.unwrap();
    db.exec("INSERT INTO users (email, name) VALUES ('new-app@x', 'new app row')").await;
    let after_expand = catalog(&db).await;
    let err = format!("{:#}", rollback(&db, &plan).await.unwrap_err());
    assert!(err.contains("rolling back phase expand of plan `drop_users_legacy_flag`"), "{err}");
    assert!(err.contains("is violated by some row"), "{err}");
    assert_eq!(catalog(&db).await, after_expand);
    assert_eq!(phase_status(&db, "drop_users_legacy_flag", Expand).await.as_deref(), Some("done"));
    db.exec("UPDATE users SET legacy_flag = false WHERE legacy_flag IS NULL").await;
    rollback(&db, &plan).await.unwrap();
    db.drop().await;
}

/// The state schema is versioned: opening twice migrates once; a newer schema is refused.
#[tokio::test]
async fn the_state_schema_is_versioned() {
    let db = example_db(1).await;
    Session::open(&db.url, SessionOptions::default()).await.unwrap().close().await.unwrap();
    Session::open(&db.url, SessionOptions::default()).await.unwrap().close().await.unwrap();
    let versions: Vec<i32> = sqlx::query_scalar("SELECT version FROM planner.state_version ORDER BY version")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(versions, (1..=exec::state::MIGRATIONS.len() as i32).collect::<Vec<_>>());
    db.exec("INSERT INTO planner.state_version VALUES (99)").await;
    let err = Session::open(&db.url, SessionOptions::default()).await.err().expect("refused");
    assert!(
        format!("{err:#}").contains("schema planner is at version 99, newer than this planner understands"),
        "{err:#}"
    );
    db.drop().await;
}

/// A reversible contract (set NOT NULL) rolls back to exactly what backfill left.
#[tokio::test]
async fn a_reversible_contract_rolls_back_to_the_backfilled_schema() {
    let db = example_db(500).await;
    let plan = plan("set_not_null_users_email");
    apply(&db, &plan, Expand).await.unwrap();
    apply_backfill(&db, &plan).await;
    let after_backfill = catalog(&db).await;
    apply(&db, &plan, Contract).await.unwrap();
    assert_ne!(catalog(&db).await, after_backfill);
    assert_eq!(rollback(&db, &plan).await.unwrap(), Contract);
    assert_eq!(catalog(&db).await, after_backfill);
    assert_eq!(verify(&db, &plan).await, Vec::<String>::new());
    apply(&db, &plan, Contract).await.unwrap();
    db.drop().await;
}
