//! Running MySQL/MariaDB plans through the real CLI binary against the machine's MariaDB
//! (127.0.0.1:3306, root): every golden plan expand → backfill → contract and rolled back phase by
//! phase with the schema checked after each rollback; a metadata lock held by an idle transaction
//! (planner gives up within its bound, the application's queries keep running, nothing applied);
//! kill -9 while a statement of a phase waits (status, resume, rollback); kill -9 during the
//! backfill; an edited plan and a plan aimed at the wrong family refused.

mod mysql_support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use mysql_support::TestDb;
use sqlx::{Connection, Executor, MySqlConnection, Row};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const ROWS: &str = "
INSERT INTO users (id, email, name, nickname, verified_at, legacy_flag) VALUES
  (1, 'ann@x', 'Ann', 'a', '2025-03-01 10:00:00', 1),
  (2, NULL, 'Bob', NULL, NULL, 0),
  (3, 'cy@x', '', 'c', NULL, 1),
  (4, NULL, 'Dee', NULL, '2025-04-01 09:00:00', 0);
INSERT INTO orders (id, user_id, status, total_cents, currency) VALUES
  (1, 1, 'PAID', 1200, 'EUR'), (2, 2, 'pending', 15000, NULL), (3, 1, 'Shipped', 0, 'USD');
INSERT INTO order_lines (id, order_id, quantity, sku) VALUES
  (1, 1, 2, 'mug-blue'), (2, 1, 2147483647, 'tee-m'), (3, 2, -5, 'mug-red');";

/// A fresh database with the example schema and rows.
async fn seeded() -> TestDb {
    let db = TestDb::new().await;
    db.exec(&std::fs::read_to_string(root().join("examples/schema.mysql.sql")).expect("schema")).await;
    db.exec(ROWS).await;
    db
}

/// A copy of golden plan `name` in a temp dir (the test may edit it).
fn plan_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(name);
    std::fs::create_dir(&dir).expect("mkdir");
    for f in std::fs::read_dir(root().join("plans-mariadb").join(name)).expect("golden plan") {
        let f = f.expect("entry").path();
        std::fs::copy(&f, dir.join(f.file_name().expect("name"))).expect("copy");
    }
    (tmp, dir)
}

fn planner(db: &TestDb) -> Command {
    let mut cmd = Command::cargo_bin("planner").expect("binary built");
    cmd.env("DATABASE_URL", &db.url).env_remove("PLANNER_TARGET").arg("--quiet");
    cmd
}

fn run(db: &TestDb, args: &[&str]) -> Output {
    planner(db).args(args).output().expect("planner runs")
}

/// Run and require exit 0.
fn ok(db: &TestDb, args: &[&str]) -> String {
    let out = run(db, args);
    assert!(
        out.status.success(),
        "planner {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Every application table's SHOW CREATE TABLE (AUTO_INCREMENT counter removed, key lines
/// sorted: a rename through a copy changes their order) and every trigger.
async fn schema(db: &TestDb) -> String {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()
            AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME NOT LIKE 'planner\\_%' ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .expect("tables");
    let mut out = String::new();
    for t in tables {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SHOW CREATE TABLE `{t}`")))
            .fetch_one(&db.pool)
            .await
            .expect("show create");
        let create: String = row.try_get(1).expect("text");
        let mut keys = Vec::new();
        let mut lines = Vec::new();
        for line in create.lines() {
            let l = line.trim().trim_end_matches(',').to_string();
            if l.starts_with(") ENGINE") {
                lines.push(
                    l.split(' ').filter(|w| !w.starts_with("AUTO_INCREMENT=")).collect::<Vec<_>>().join(" "),
                );
            } else if ["KEY ", "UNIQUE KEY", "PRIMARY KEY", "CONSTRAINT"].iter().any(|k| l.starts_with(k)) {
                keys.push(l);
            } else {
                lines.push(l);
            }
        }
        keys.sort();
        out.push_str(&[lines, keys].concat().join("\n"));
        out.push('\n');
    }
    let triggers: Vec<(String, String)> = sqlx::query_as(
        "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .expect("triggers");
    for (name, body) in triggers {
        out.push_str(&format!("trigger {name}: {body}\n"));
    }
    out
}

/// Rows of a query as tab-separated text (every column cast to text).
async fn rows(db: &TestDb, sql: &str) -> String {
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).fetch_all(&db.pool).await.expect(sql);
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.try_get::<Option<String>, _>(i).ok().flatten().unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every column of users and order_lines, as text: nothing of the application's data may change through
/// an expand + backfill that is rolled back.
const ALL_DATA: &str = "SELECT t FROM (
      SELECT 1 AS k, id, CAST(CONCAT_WS('|', id, email, name, nickname, verified_at, legacy_flag) AS CHAR) AS t FROM users
      UNION ALL SELECT 2, id, CONCAT_WS('|', id, order_id, quantity, sku) FROM order_lines) d ORDER BY k, id";

/// What each plan must leave once contract ran.
fn final_check(plan: &str) -> (&'static str, &'static str) {
    match plan {
        "mariadb_rename_users_name" => {
            ("SELECT CONCAT(id, ':', full_name) FROM users ORDER BY id", "1:Ann\n2:Bob\n3:\n4:Dee")
        }
        "mariadb_rename_users_email" => (
            "SELECT CONCAT(id, ':', COALESCE(contact_email, 'NULL')) FROM users ORDER BY id",
            "1:ann@x\n2:NULL\n3:cy@x\n4:NULL",
        ),
        "mariadb_add_users_email_verified" => {
            ("SELECT CONCAT(id, ':', email_verified) FROM users ORDER BY id", "1:1\n2:0\n3:0\n4:1")
        }
        "mariadb_add_orders_gift_wrap" => {
            ("SELECT CONCAT(id, ':', gift_wrap) FROM orders ORDER BY id", "1:0\n2:0\n3:0")
        }
        "mariadb_drop_users_legacy_flag" => (
            "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.COLUMNS
              WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'legacy_flag'",
            "0",
        ),
        "mariadb_set_not_null_users_email" => (
            "SELECT CONCAT(id, ':', email) FROM users ORDER BY id",
            "1:ann@x\n2:unknown+2@example.invalid\n3:cy@x\n4:unknown+4@example.invalid",
        ),
        "mariadb_change_type_order_lines_quantity" => (
            "SELECT CONCAT(id, ':', quantity * 4, ':', DATA_TYPE) FROM order_lines, information_schema.COLUMNS
              WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'order_lines' AND COLUMN_NAME = 'quantity' ORDER BY id",
            "1:8:bigint\n2:8589934588:bigint\n3:-20:bigint",
        ),
        "mariadb_change_type_order_lines_sku" => {
            ("SELECT CONCAT(id, ':', sku) FROM order_lines ORDER BY id", "1:MUG-BLUE\n2:TEE-M\n3:MUG-RED")
        }
        "mariadb_change_type_users_nickname" => (
            "SELECT COLUMN_TYPE FROM information_schema.COLUMNS
              WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'nickname'",
            "varchar(60)",
        ),
        other => panic!("no final check for {other}: add one"),
    }
}

fn golden_plans() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("plans-mariadb"))
        .expect("plans-mariadb")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

fn has_phase(dir: &Path, phase: &str) -> bool {
    std::fs::read_to_string(dir.join("plan.yaml"))
        .expect("plan.yaml")
        .contains(&format!("- phase: {phase}\n"))
}

#[tokio::test]
async fn every_golden_plan_runs_through_the_cli_and_rolls_back_phase_by_phase() {
    for name in golden_plans() {
        let db = seeded().await;
        let (_tmp, dir) = plan_copy(&name);
        let d = dir.to_str().expect("utf-8");
        let backfill = has_phase(&dir, "backfill");
        let contract = has_phase(&dir, "contract");
        let original = schema(&db).await;
        let data = rows(&db, ALL_DATA).await;

        // expand (+ backfill), rolled back phase by phase: each rollback restores the schema
        // the phase started from, and no value of the application's changes.
        ok(&db, &["apply", d, "--phase", "expand", "--yes"]);
        let expanded = schema(&db).await;
        assert_ne!(expanded, original, "{name}: expand changed nothing");
        let status = ok(&db, &["status", d]);
        assert!(status.contains("expand    done"), "{name}: {status}");
        if backfill {
            ok(&db, &["backfill", d]);
            assert_eq!(schema(&db).await, expanded, "{name}: the backfill changes data only");
            let out = ok(&db, &["rollback", d]);
            assert!(out.contains("rolled back backfill"), "{name}: {out}");
        }
        let expand_reversible = !std::fs::read_to_string(dir.join("expand.down.sql"))
            .expect("expand.down.sql")
            .contains("CANNOT BE UNDONE");
        if !expand_reversible {
            // A metadata-only type change: going back would copy the table; refused, nothing changes.
            let out = run(&db, &["rollback", d]);
            assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
            assert!(stderr(&out).contains("cannot be undone"), "{name}: {}", stderr(&out));
            assert_eq!(schema(&db).await, expanded, "{name}: a refused rollback changed the schema");
            let (query, expected) = final_check(&name);
            assert_eq!(rows(&db, query).await, expected, "{name}: values after expand");
            assert_eq!(rows(&db, ALL_DATA).await, data, "{name}: data after expand");
            db.drop().await;
            continue;
        }
        let out = ok(&db, &["rollback", d]);
        assert!(out.contains("rolled back expand"), "{name}: {out}");
        assert_eq!(schema(&db).await, original, "{name}: rollback of expand");
        // set_not_null's backfill fills the column itself: its values stay (no row is lost).
        if name != "mariadb_set_not_null_users_email" {
            assert_eq!(rows(&db, ALL_DATA).await, data, "{name}: data after rollback");
        }
        let out = run(&db, &["rollback", d]);
        assert_eq!(out.status.code(), Some(1), "{name}: nothing left to roll back");

        // Forward again, every phase, through `next` and `apply`.
        ok(&db, &["next", d]);
        if backfill {
            ok(&db, &["apply", d, "--phase", "backfill", "--batch", "2"]);
        }
        let before_contract = schema(&db).await;
        if contract {
            let verify = ok(&db, &["verify", d]);
            assert!(verify.contains("ready"), "{name}: {verify}");
            ok(&db, &["apply", d, "--phase", "contract", "--yes"]);
        }
        let (query, expected) = final_check(&name);
        assert_eq!(rows(&db, query).await, expected, "{name}: values after every phase");
        let json = ok(&db, &["status", d, "--format", "json"]);
        let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
        let phases = &doc["targets"][0]["plans"][0]["phases"];
        assert!(phases.as_array().expect("phases").iter().all(|p| p["status"] == "done"), "{name}: {json}");
        assert_eq!(doc["targets"][0]["plans"][0]["next_phase"], serde_json::Value::Null, "{name}");

        // A contract that can be undone comes back to the schema before it; one that cannot says so.
        if contract {
            let out = run(&db, &["rollback", d]);
            let irreversible = std::fs::read_to_string(dir.join("contract.down.sql"))
                .expect("contract.down.sql")
                .contains("CANNOT BE UNDONE");
            if irreversible {
                assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
                assert!(stderr(&out).contains("cannot be undone"), "{name}: {}", stderr(&out));
            } else {
                assert!(out.status.success(), "{name}: {}", stderr(&out));
                assert_eq!(schema(&db).await, before_contract, "{name}: rollback of contract");
            }
        }
        db.drop().await;
    }
}

/// The real binary in the background (to be killed), on the test database, output discarded.
fn spawn_planner(db: &TestDb, args: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("planner"))
        .env("DATABASE_URL", &db.url)
        .arg("--quiet")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn planner")
}

/// Poll until connection `id` runs no statement (a killed planner's request the server finished).
async fn wait_until_idle(watch: &mut MySqlConnection, id: i64) {
    let busy = format!("SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = {id} AND INFO IS NOT NULL");
    for _ in 0..600 {
        let running: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(busy.clone()))
            .fetch_optional(&mut *watch)
            .await
            .expect("ps");
        if running.is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Poll until `sql` returns a row (no timed assertion: a bounded wait for a state to appear).
async fn wait_for(conn: &mut MySqlConnection, sql: &str, what: &str) -> i64 {
    for _ in 0..600 {
        if let Some(v) = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_optional(&mut *conn)
            .await
            .expect(sql)
        {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never saw {what}");
}

async fn connection_id(conn: &mut MySqlConnection) -> i64 {
    sqlx::query_scalar("SELECT CAST(CONNECTION_ID() AS SIGNED)").fetch_one(&mut *conn).await.expect("id")
}

/// The processlist row of a statement waiting for a metadata lock in this test's database.
fn waiting(db: &TestDb, info_like: &str) -> String {
    format!(
        "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST WHERE DB = '{}' AND STATE LIKE 'Waiting for table metadata lock' AND INFO LIKE '{info_like}' LIMIT 1",
        db.name
    )
}

#[tokio::test]
async fn an_idle_transaction_holding_the_table_makes_planner_give_up_while_the_app_keeps_running() {
    let db = seeded().await;
    let (_tmp, dir) = plan_copy("mariadb_rename_users_name");
    let original = schema(&db).await;
    let mut idle = db.conn().await;
    let idle_id = connection_id(&mut idle).await;
    idle.execute("BEGIN").await.expect("begin");
    idle.execute("SELECT COUNT(*) FROM users").await.expect("read: takes the metadata lock");

    // The application: its own short lock_wait_timeout, querying the table the whole time.
    let url = db.url.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut conn = MySqlConnection::connect(&url).await.expect("app connects");
            conn.execute("SET SESSION lock_wait_timeout = 2").await.expect("app session");
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                match conn.execute("SELECT COUNT(*) FROM users WHERE id > 0").await {
                    Ok(_) => ok += 1,
                    Err(e) => failed.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (ok, failed)
        })
    };
    let d = dir.to_string_lossy().to_string();
    let db_url = db.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::cargo_bin("planner")
            .expect("binary")
            .env("DATABASE_URL", db_url)
            .args(["apply", &d, "--phase", "expand", "--lock-timeout", "1s", "--retries", "2"])
            .output()
            .expect("planner runs")
    })
    .await
    .expect("join");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (app_ok, app_failed) = app.await.expect("app");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("gave up after 3 attempts"), "{err}");
    assert!(err.contains(&format!("thread {idle_id}")) && err.contains(&format!("KILL {idle_id}")), "{err}");
    assert!(app_failed.is_empty(), "the app's queries failed: {app_failed:?}");
    assert!(app_ok > 0, "the app never ran a query");
    idle.execute("ROLLBACK").await.expect("rollback");
    assert_eq!(schema(&db).await, original, "nothing of the phase is applied");
    let status = ok(&db, &["status", dir.to_str().expect("utf-8")]);
    assert!(status.contains("expand    failed"), "{status}");
    db.drop().await;
}

/// Start `planner apply --phase expand` of the rename plan while `first` holds the table, get its
/// first statement through and its second one waiting behind `second`, then kill -9 it. Returns
/// the connection id of the statement left waiting on the server.
async fn kill_during_expand(
    db: &TestDb,
    dir: &Path,
    first: &mut MySqlConnection,
    second: &mut MySqlConnection,
) -> i64 {
    let mut watch = db.conn().await;
    first.execute("BEGIN").await.expect("begin");
    first.execute("SELECT COUNT(*) FROM users").await.expect("hold the metadata lock");
    let mut child = spawn_planner(
        db,
        &["apply", dir.to_str().expect("utf-8"), "--phase", "expand", "--lock-timeout", "60s"],
    );
    // Statement 1 (ALTER) waits behind `first`; queue `second`'s read behind the ALTER, then let
    // the ALTER through: `second` gets the lock next and holds it, so statement 2 waits.
    wait_for(&mut watch, &waiting(db, "ALTER TABLE `users` ADD COLUMN%"), "the ALTER waiting").await;
    second.execute("BEGIN").await.expect("begin");
    let read = second.execute("SELECT COUNT(*) FROM users");
    let release = async {
        wait_for(&mut watch, &waiting(db, "SELECT COUNT(*) FROM users"), "the read queued").await;
        first.execute("COMMIT").await.expect("commit");
    };
    let (read, ()) = tokio::join!(read, release);
    read.expect("the read gets the lock after the ALTER");
    let zombie = wait_for(&mut watch, &waiting(db, "CREATE TRIGGER%"), "statement 2 waiting").await;
    let step: String =
        sqlx::query_scalar("SELECT status FROM planner_state WHERE phase = 'expand' AND step = 2")
            .fetch_one(&mut watch)
            .await
            .expect("step 2 recorded");
    assert_eq!(step, "running");
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    zombie
}

#[tokio::test]
async fn kill_9_while_a_statement_waits_then_status_resume_and_rollback() {
    // Resume: the statement left waiting on the server is refused until it is gone; then the
    // phase completes from where it stopped and equals a clean run's schema.
    let clean = seeded().await;
    let (_tmp, dir) = plan_copy("mariadb_rename_users_name");
    let d = dir.to_str().expect("utf-8");
    ok(&clean, &["apply", d, "--phase", "expand"]);
    let expanded = schema(&clean).await;
    clean.drop().await;

    let db = seeded().await;
    let (mut first, mut second) = (db.conn().await, db.conn().await);
    let zombie = kill_during_expand(&db, &dir, &mut first, &mut second).await;
    let status = ok(&db, &["status", d]);
    assert!(
        status.contains("expand    running") && status.contains("interrupted after step 1 of 4"),
        "{status}"
    );
    let out = run(&db, &["apply", d, "--phase", "expand"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("KILL {zombie}")), "{}", stderr(&out));
    // The killed planner's statement runs once the lock is free (the server never noticed the
    // client go): the resume must see its effect and not run it twice.
    second.execute("COMMIT").await.expect("commit");
    let mut watch = db.conn().await;
    wait_until_idle(&mut watch, zombie).await;
    ok(&db, &["apply", d, "--phase", "expand"]);
    assert_eq!(schema(&db).await, expanded, "resumed expand equals a clean one");
    db.drop().await;

    // Rollback after the kill: the waiting statement ended by KILL (it never took effect), the
    // done statement undone, the schema as before.
    let db = seeded().await;
    let original = schema(&db).await;
    let (mut first, mut second) = (db.conn().await, db.conn().await);
    let zombie = kill_during_expand(&db, &dir, &mut first, &mut second).await;
    let mut admin = db.conn().await;
    admin.execute(sqlx::AssertSqlSafe(format!("KILL {zombie}"))).await.expect("kill the waiting statement");
    second.execute("COMMIT").await.expect("commit");
    let out = ok(&db, &["rollback", d]);
    assert!(out.contains("rolled back expand"), "{out}");
    assert_eq!(schema(&db).await, original, "rollback after kill -9");
    db.drop().await;
}

#[tokio::test]
async fn kill_9_during_the_backfill_then_resume_fills_every_row_right() {
    let db = seeded().await;
    db.exec(
        "INSERT INTO users (id, email, name, legacy_flag)
           SELECT seq + 10, IF(seq % 3 = 0, CONCAT('u', seq, '@x'), NULL), CONCAT('n', seq), 0 FROM seq_1_to_60000",
    )
    .await;
    let (_tmp, dir) = plan_copy("mariadb_set_not_null_users_email");
    let d = dir.to_str().expect("utf-8");
    ok(&db, &["apply", d, "--phase", "expand"]);
    let mut child = spawn_planner(&db, &["backfill", d, "--batch", "500", "--sleep", "20ms"]);
    let mut watch = db.conn().await;
    wait_for(
        &mut watch,
        "SELECT batches FROM planner_backfill_progress WHERE batches >= 5 AND finished_at IS NULL",
        "batches done",
    )
    .await;
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let (done, finished): (i64, i64) = sqlx::query_as(
        "SELECT rows_visited, CAST(finished_at IS NOT NULL AS SIGNED) FROM planner_backfill_progress",
    )
    .fetch_one(&mut watch)
    .await
    .expect("checkpoint");
    assert_eq!(finished, 0, "killed before the end");
    assert!(done > 0 && done < 60_004, "{done}");
    let status = ok(&db, &["status", d]);
    assert!(status.contains("users: ") && status.contains("rows done"), "{status}");
    // The killed client's last batch may still be finishing on the server: the resume waits
    // for its runner lock, then continues from the checkpoint.
    ok(&db, &["backfill", d]);
    let wrong = db
        .count(
            "SELECT COUNT(*) FROM users WHERE email IS NULL
                OR (id > 10 AND (id - 10) % 3 = 0 AND email <> CONCAT('u', id - 10, '@x'))
                OR (id > 10 AND (id - 10) % 3 <> 0 AND email <> CONCAT('unknown+', id, '@example.invalid'))",
        )
        .await;
    assert_eq!(wrong, 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM users").await, 60_004);
    ok(&db, &["apply", d, "--phase", "contract"]);
    db.drop().await;
}

#[tokio::test]
async fn an_edited_plan_and_a_plan_for_the_other_family_are_refused() {
    let db = seeded().await;
    let (_tmp, dir) = plan_copy("mariadb_add_users_email_verified");
    let d = dir.to_str().expect("utf-8");
    ok(&db, &["apply", d, "--phase", "expand"]);
    let expanded = schema(&db).await;

    // A reviewer's edit to a statement: refused on load, exit 2, nothing runs.
    let up = dir.join("contract.up.sql");
    let text = std::fs::read_to_string(&up).expect("read");
    std::fs::write(&up, text.replace("ALGORITHM=INPLACE", "ALGORITHM=COPY")).expect("write");
    let out = run(&db, &["apply", d, "--phase", "backfill"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("contract.up.sql differs from what planner renders"), "{}", stderr(&out));
    std::fs::write(&up, text).expect("restore");

    // The same plan name planned again differently (a consistent folder): refused, exit 1.
    let (_tmp2, other) = plan_copy("mariadb_set_not_null_users_email");
    let yaml = std::fs::read_to_string(other.join("plan.yaml")).expect("yaml");
    let renamed = planner::plan::load_dir(&other).err();
    assert!(renamed.is_some(), "a MariaDB plan is not a PostgreSQL plan");
    let mut plan: planner::plan::Plan = serde_yaml_ng::from_str(&yaml).expect("plan");
    plan.name = "mariadb_add_users_email_verified".into();
    let mut mysql = planner::change::mysql::MySqlPlan {
        target: planner::change::mysql::MySqlTarget::MARIADB_DEFAULT,
        plan,
    };
    let tmp3 = tempfile::tempdir().expect("tempdir");
    let changed = planner::change::mysql::files::write_plan_dir(tmp3.path(), &mut mysql).expect("write");
    let out = run(&db, &["apply", changed.to_str().expect("utf-8"), "--phase", "backfill"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("refusing to mix two versions of a plan"), "{}", stderr(&out));
    assert_eq!(schema(&db).await, expanded, "nothing changed");
    let progress = db.count("SELECT COUNT(*) FROM planner_backfill_progress").await;
    assert_eq!(progress, 0, "no backfill started");

    // A MariaDB plan with a PostgreSQL URL, a PostgreSQL plan with a MariaDB URL: exit 2 naming both.
    let out = planner(&db)
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        .args(["apply", d, "--phase", "backfill"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("is for MariaDB 10.11") && e.contains("is a PostgreSQL database"), "{e}");
    let pg = root().join("plans/rename_users_name");
    let out = run(&db, &["apply", pg.to_str().expect("utf-8"), "--phase", "expand"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("is for PostgreSQL") && e.contains("is a MySQL/MariaDB database"), "{e}");
    db.drop().await;
}

#[tokio::test]
async fn planner_yaml_targets_with_mariadb_urls_run_as_a_fleet() {
    let (a, b) = (seeded().await, seeded().await);
    let (_tmp, dir) = plan_copy("mariadb_rename_users_email");
    let d = dir.to_str().expect("utf-8");
    let conf = tempfile::tempdir().expect("tempdir");
    let b_url = b.url.replacen("mysql://", "mariadb://", 1);
    std::fs::write(
        conf.path().join("planner.yaml"),
        format!("targets:\n  a:\n    url: {}\n  b:\n    url: {b_url}\n", a.url),
    )
    .expect("planner.yaml");
    let fleet = |args: &[&str]| {
        let out = Command::cargo_bin("planner")
            .expect("binary")
            .current_dir(conf.path())
            .env_remove("DATABASE_URL")
            .args(args)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{args:?}: {}\n{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    fleet(&["apply", d, "--phase", "expand", "--all-targets"]);
    let json = fleet(&["next", d, "--all-targets", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(doc["summary"]["ok"], 2, "{doc}");
    assert!(
        doc["targets"].as_array().expect("targets").iter().all(|t| t["report"]["phase"] == "backfill"),
        "{doc}"
    );
    fleet(&["verify", d, "--all-targets"]);
    let status = fleet(&["status", "--all-targets"]);
    assert!(status.contains("== target a: ok") && status.contains("== target b: ok"), "{status}");
    for db in [&a, &b] {
        assert_eq!(db.count("SELECT COUNT(*) FROM users WHERE NOT (contact_email <=> email)").await, 0);
    }
    a.drop().await;
    b.drop().await;
}

#[tokio::test]
async fn a_type_change_some_row_cannot_take_is_refused_before_expand_changes_anything() {
    // order_lines row 2 holds 2147483647, beyond SMALLINT: the converting triggers would fail
    // every later update of it, so expand refuses first, naming the row, and changes nothing.
    let db = seeded().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().to_str().expect("utf-8");
    let schema_file = root().join("examples/schema.mysql.sql");
    let schema_path = schema_file.to_str().expect("utf-8");
    ok(
        &db,
        &[
            "plan",
            "change-type",
            "order_lines.quantity",
            "smallint",
            "--dialect",
            "mariadb",
            "--schema",
            schema_path,
            "--out",
            out,
            "--name",
            "narrow",
        ],
    );
    let d = tmp.path().join("narrow");
    let d = d.to_str().expect("utf-8");
    let before = schema(&db).await;
    let data = rows(&db, ALL_DATA).await;
    let refused = run(&db, &["apply", d, "--phase", "expand"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let why = stderr(&refused);
    assert!(why.contains("cannot become smallint NOT NULL (first at key 2)"), "{why}");
    assert!(why.contains("Out of range"), "{why}");
    assert_eq!(schema(&db).await, before, "a refused expand changed the schema");
    assert_eq!(rows(&db, ALL_DATA).await, data);

    // Once the row fits, the same plan applies.
    db.exec("UPDATE order_lines SET quantity = 30000 WHERE id = 2").await;
    ok(&db, &["apply", d, "--phase", "expand"]);
    assert_ne!(schema(&db).await, before);
    db.drop().await;
}

/// `N batches` from planner backfill's report.
fn batches_of(report: &str) -> u64 {
    let at = report.find(" batches").unwrap_or_else(|| panic!("no batch count in {report}"));
    let digits: String = report[..at].chars().rev().take_while(|c| c.is_ascii_digit() || *c == ',').collect();
    digits.chars().rev().filter(char::is_ascii_digit).collect::<String>().parse().expect("a count")
}

#[tokio::test]
async fn the_backfill_adapts_its_batch_size_and_follows_the_control_file() {
    // 20,000 users; the same plan backfilled three ways on fresh copies.
    let mut counts = Vec::new();
    for how in ["fixed", "target", "control"] {
        let db = seeded().await;
        db.exec(
            "INSERT INTO users (id, name, legacy_flag, verified_at)
             SELECT seq, CONCAT('u', seq), 0, IF(seq % 2 = 0, NOW(), NULL) FROM seq_5_to_20000",
        )
        .await;
        let (_tmp, dir) = plan_copy("mariadb_add_users_email_verified");
        let d = dir.to_str().expect("utf-8");
        ok(&db, &["apply", d, "--phase", "expand"]);
        let control = dir.join("throttle.conf");
        std::fs::write(&control, "batch = 700\n").expect("control file");
        let c = control.to_str().expect("utf-8");
        let args: Vec<&str> = match how {
            "fixed" => vec!["backfill", d, "--batch", "100"],
            // A 100-row batch takes far less than 200 ms: the size doubles up to --max-batch.
            "target" => {
                vec!["backfill", d, "--batch", "100", "--target-batch-time", "200ms", "--max-batch", "5000"]
            }
            _ => vec!["backfill", d, "--batch", "100", "--control", c],
        };
        let report = ok(&db, &args);
        counts.push(batches_of(&report));
        let wrong = rows(&db, "SELECT CAST(COUNT(*) AS CHAR) FROM users WHERE NOT (email_verified <=> (verified_at IS NOT NULL))").await;
        assert_eq!(wrong, "0", "{how}: every row filled");
        db.drop().await;
    }
    assert_eq!(counts[0], 200, "fixed: 20,000 rows in batches of 100 ({counts:?})");
    assert!(counts[1] < 40, "target batch time: batches grew ({counts:?})");
    assert_eq!(counts[2], 29, "control file: batches of 700 ({counts:?})");
}

#[tokio::test]
async fn kill_9_while_the_locked_swap_waits_then_resume_completes_it() {
    // change_type's contract is one locked group (LOCK TABLES, the trigger drops, the swap). Killed
    // while LOCK TABLES waits behind an idle transaction: the group left on the server is refused
    // until it is gone (PROCESSLIST shows only the part it is at), then the resume completes the
    // swap once, and the schema and values equal a clean run's.
    let name = "mariadb_change_type_order_lines_quantity";
    let clean = seeded().await;
    let (_tmp, dir) = plan_copy(name);
    let d = dir.to_str().expect("utf-8");
    for phase in ["expand", "backfill", "contract"] {
        ok(&clean, &["apply", d, "--phase", phase, "--yes"]);
    }
    let done = schema(&clean).await;
    clean.drop().await;

    let db = seeded().await;
    ok(&db, &["apply", d, "--phase", "expand"]);
    ok(&db, &["backfill", d]);
    let mut holder = db.conn().await;
    holder.execute("BEGIN").await.expect("begin");
    holder.execute("SELECT COUNT(*) FROM order_lines").await.expect("hold the metadata lock");
    let mut child =
        spawn_planner(&db, &["apply", d, "--phase", "contract", "--yes", "--lock-timeout", "60s"]);
    let mut watch = db.conn().await;
    let zombie = wait_for(&mut watch, &waiting(&db, "LOCK TABLES%"), "the locked swap waiting").await;
    child.kill().expect("kill -9");
    child.wait().expect("reaped");

    let out = run(&db, &["apply", d, "--phase", "contract", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("KILL {zombie}")), "{}", stderr(&out));
    holder.execute("COMMIT").await.expect("commit");
    wait_until_idle(&mut watch, zombie).await;
    ok(&db, &["apply", d, "--phase", "contract", "--yes"]);
    assert_eq!(schema(&db).await, done, "resumed contract equals a clean one");
    let (query, expected) = final_check(name);
    assert_eq!(rows(&db, query).await, expected);
    // The session is usable afterwards: no LOCK TABLES left behind on the server.
    let mut app = db.conn().await;
    app.execute("SET SESSION lock_wait_timeout = 1").await.expect("set");
    app.execute("INSERT INTO order_lines (order_id, quantity, sku) VALUES (3, 5000000000, 'big')")
        .await
        .expect("a BIGINT value goes in, unblocked");
    db.drop().await;
}

#[tokio::test]
async fn the_backfill_holds_off_while_a_long_transaction_is_open() {
    // An idle transaction that has read users: InnoDB cannot purge what it may still read, so the
    // backfill waits; past --max-pause it stops (exit 4, checkpoint saved, the connection named);
    // once the transaction ends the same command finishes every row.
    let db = seeded().await;
    let (_tmp, dir) = plan_copy("mariadb_add_users_email_verified");
    let d = dir.to_str().expect("utf-8");
    ok(&db, &["apply", d, "--phase", "expand"]);
    let mut holder = db.conn().await;
    holder.execute("BEGIN").await.expect("begin");
    holder.execute("SELECT COUNT(*) FROM orders").await.expect("a read: the transaction starts");
    let holder_id: i64 = sqlx::query_scalar("SELECT CAST(CONNECTION_ID() AS SIGNED)")
        .fetch_one(&mut holder)
        .await
        .expect("id");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let out = run(&db, &["backfill", d, "--max-transaction-age", "1s", "--max-pause", "1s"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(all.contains(&format!("transaction of connection {holder_id} has been open")), "{all}");
    let filled = rows(&db, "SELECT CAST(COUNT(*) AS CHAR) FROM users WHERE email_verified IS NOT NULL").await;
    assert_eq!(filled, "0", "no batch ran while the transaction was open");
    holder.execute("COMMIT").await.expect("commit");
    ok(&db, &["backfill", d]);
    let wrong = rows(
        &db,
        "SELECT CAST(COUNT(*) AS CHAR) FROM users WHERE NOT (email_verified <=> (verified_at IS NOT NULL))",
    )
    .await;
    assert_eq!(wrong, "0");
    db.drop().await;
}
