//! The backfill engine against a real PostgreSQL: key shapes, resume after kill -9 and SIGTERM,
//! concurrent writers, throttle limits, refusals.

mod backfill_support;
mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use backfill_support::{plan, task};
use common::TestDb;
use planner::backfill::{self, BackfillOptions, ProgressMode, ThrottleSettings};
use planner::plan::Plan;

fn opts(batch: u32) -> BackfillOptions {
    BackfillOptions {
        throttle: ThrottleSettings { batch, min_batch: 1, ..Default::default() },
        progress: ProgressMode::None,
        ..Default::default()
    }
}

async fn prepare(db: &TestDb) {
    let mut conn = db.pool.acquire().await.unwrap();
    planner::exec::state::ensure_schema(&mut conn).await.unwrap();
}

async fn scalar_i64(db: &TestDb, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&db.pool).await.unwrap()
}

/// md5 of every row of `table` in key order: equal checksums mean equal contents.
async fn checksum(db: &TestDb, table: &str, order: &str) -> String {
    sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
        "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY {order})), '') FROM {table} t"
    )))
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

async fn progress_row(db: &TestDb, plan: &str, table: &str) -> (i64, i64, bool) {
    sqlx::query_as(
        "SELECT rows_done, batches, finished_at IS NOT NULL FROM planner.backfill_progress
         WHERE plan = $1 AND table_name = $2",
    )
    .bind(plan)
    .bind(table)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

async fn progress_row_opt(db: &TestDb, plan: &str, table: &str) -> Option<(i64, i64, bool)> {
    sqlx::query_as(
        "SELECT rows_done, batches, finished_at IS NOT NULL FROM planner.backfill_progress
         WHERE plan = $1 AND table_name = $2",
    )
    .bind(plan)
    .bind(table)
    .fetch_optional(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn integer_key_with_gaps_fills_every_row_once_and_rerun_is_a_no_op() {
    let db = TestDb::new().await;
    prepare(&db).await;
    // Keys with gaps: multiples of 7 up to 70,000, minus every 5th; negative keys too.
    db.exec(
        "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, doubled int);
         INSERT INTO items SELECT g * 7, g, NULL FROM generate_series(-50, 10000) g WHERE g % 5 <> 0;",
    )
    .await;
    let total = scalar_i64(&db, "SELECT count(*) FROM items").await;
    let p = plan(
        "double_v",
        vec![task("items", &[("id", "bigint")], &[("doubled", "\"v\" * 2")], "\"doubled\" IS NULL")],
    );
    let report = backfill::run(&db.pool, &p, &opts(333)).await.unwrap();
    assert!(report.completed);
    assert_eq!(report.rows as i64, total, "every key visited exactly once");
    assert_eq!(report.rows_updated as i64, total);
    assert_eq!(report.batches as i64, (total + 332) / 333);
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM items WHERE doubled IS DISTINCT FROM v * 2").await, 0);
    assert_eq!(progress_row(&db, "double_v", "public.items").await, (total, report.batches as i64, true));

    let again = backfill::run(&db.pool, &p, &opts(333)).await.unwrap();
    assert!(again.completed && again.tables[0].already_done);
    assert_eq!(again.rows, 0);
    db.drop().await;
}

#[tokio::test]
async fn composite_and_text_keys_reach_every_row() {
    let db = TestDb::new().await;
    prepare(&db).await;
    // Text keys that sort and escape awkwardly, and a composite key in a quoted, mixed-case table.
    db.exec(
        r#"CREATE TABLE "Odd Keys" ("Tenant" text NOT NULL, "n" int NOT NULL, "a""b" text,
                                    PRIMARY KEY ("Tenant", n));
           INSERT INTO "Odd Keys" SELECT t, n, NULL
             FROM unnest(ARRAY['', ' ', 'a', 'A', 'a b', 'é', 'it''s', 'back\slash', 'zz', '"q"', '日本']) t,
                  generate_series(1, 37) n;
           CREATE TABLE words (w text PRIMARY KEY, len int);
           INSERT INTO words SELECT md5(g::text) || chr(65 + g % 50), NULL FROM generate_series(1, 3000) g;"#,
    )
    .await;
    let p = plan(
        "odd",
        vec![
            task(
                "\"Odd Keys\"",
                &[("Tenant", "text"), ("n", "integer")],
                &[("a\"b", "\"Tenant\" || ':' || \"n\"")],
                "\"a\"\"b\" IS NULL",
            ),
            task("words", &[("w", "text")], &[("len", "length(\"w\")")], "\"len\" IS NULL"),
        ],
    );
    let report = backfill::run(&db.pool, &p, &opts(10)).await.unwrap();
    assert!(report.completed);
    assert_eq!(report.tables.len(), 2);
    assert_eq!(report.tables[0].rows, 11 * 37);
    assert_eq!(report.tables[1].rows, 3000);
    assert_eq!(
        scalar_i64(
            &db,
            r#"SELECT count(*) FROM "Odd Keys" WHERE "a""b" IS DISTINCT FROM "Tenant" || ':' || n"#
        )
        .await,
        0
    );
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM words WHERE len IS DISTINCT FROM length(w)").await, 0);
    assert!(progress_row(&db, "odd", "public.\"Odd Keys\"").await.2);
    db.drop().await;
}

#[tokio::test]
async fn empty_table_finishes_at_once() {
    let db = TestDb::new().await;
    prepare(&db).await;
    db.exec("CREATE TABLE empty (id int PRIMARY KEY, x int)").await;
    let p = plan("empty", vec![task("empty", &[("id", "integer")], &[("x", "1")], "\"x\" IS NULL")]);
    let report = backfill::run(&db.pool, &p, &opts(100)).await.unwrap();
    assert!(report.completed);
    assert_eq!((report.rows, report.batches), (0, 0));
    assert_eq!(progress_row(&db, "empty", "public.empty").await, (0, 0, true));
    db.drop().await;
}

#[tokio::test]
async fn table_without_primary_key_is_refused_with_a_clear_message() {
    let db = TestDb::new().await;
    prepare(&db).await;
    db.exec("CREATE TABLE heap (a int, b int); INSERT INTO heap VALUES (1, NULL)").await;
    let p = plan("nokey", vec![task("heap", &[], &[("b", "\"a\"")], "\"b\" IS NULL")]);
    let err = backfill::run(&db.pool, &p, &opts(100)).await.unwrap_err();
    assert!(err.downcast_ref::<planner::error::Refusal>().is_some(), "{err:#}");
    assert!(err.to_string().contains("public.heap: it has no primary key"), "{err:#}");
    assert_eq!(planner::error::exit_code(&err), 1);
    // A nullable key column is refused too: rows with a NULL key cannot be paged.
    let p = plan("nullkey", vec![task("heap", &[("a", "integer")], &[("b", "\"a\"")], "\"b\" IS NULL")]);
    let err = backfill::run(&db.pool, &p, &opts(100)).await.unwrap_err();
    assert!(err.to_string().contains("key column \"a\" allows NULL"), "{err:#}");
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM heap WHERE b IS NULL").await, 1, "nothing was touched");
    db.drop().await;
}

#[tokio::test]
async fn max_rate_bounds_the_rate_and_caps_the_batch() {
    let db = TestDb::new().await;
    prepare(&db).await;
    db.exec("CREATE TABLE r (id int PRIMARY KEY, x int); INSERT INTO r SELECT g, NULL FROM generate_series(1, 600) g")
        .await;
    let p = plan("rate", vec![task("r", &[("id", "integer")], &[("x", "\"id\"")], "\"x\" IS NULL")]);
    let mut o = opts(1000);
    o.throttle.max_rate = Some(200.0);
    let report = backfill::run(&db.pool, &p, &o).await.unwrap();
    assert!(report.completed);
    // A batch holds at most one second of rows (200), and batch i+1 starts no earlier than
    // (rows so far) / rate: 600 rows in 3 batches take at least 400 / 200 = 2 s.
    assert_eq!(report.batches, 3);
    assert!(report.elapsed >= Duration::from_secs(2), "600 rows at <=200 rows/s took {:?}", report.elapsed);
    db.drop().await;
}

/// Rename-style backfill racing an old app (writes `name`) and a new app (writes `full_name`)
/// through a sync trigger: every row must end with the value last written, in both columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_are_never_overwritten_with_stale_values() {
    let db = TestDb::new().await;
    prepare(&db).await;
    db.exec(
        "CREATE TABLE users (id int PRIMARY KEY, name text);
         INSERT INTO users SELECT g, 'orig-' || g FROM generate_series(1, 20000) g;
         ALTER TABLE users ADD COLUMN full_name text;
         CREATE FUNCTION sync_name() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF TG_OP = 'INSERT' THEN
             NEW.full_name := coalesce(NEW.full_name, NEW.name);
             NEW.name := coalesce(NEW.name, NEW.full_name);
           ELSIF NEW.name IS DISTINCT FROM OLD.name THEN
             NEW.full_name := NEW.name;
           ELSIF NEW.full_name IS DISTINCT FROM OLD.full_name THEN
             NEW.name := NEW.full_name;
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER sync_name BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION sync_name();",
    )
    .await;
    let p = plan(
        "rename",
        vec![task(
            "users",
            &[("id", "integer")],
            &[("full_name", "\"name\"")],
            "\"full_name\" IS DISTINCT FROM \"name\"",
        )],
    );
    // Four writers, each owning the ids with id % 4 == w, so the last value per id is known.
    let mut writers = Vec::new();
    for w in 0..4i32 {
        let pool = db.pool.clone();
        writers.push(tokio::spawn(async move {
            let mut last: HashMap<i32, String> = HashMap::new();
            let mut seq = 0;
            for i in 0..600 {
                seq += 1;
                let id = ((i * 7919 + w * 31) % 5000) * 4 + w + 1;
                let value = format!("w{w}-{seq}");
                let column = if i % 2 == 0 { "name" } else { "full_name" };
                sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE users SET {column} = $1 WHERE id = $2")))
                    .bind(&value)
                    .bind(id)
                    .execute(&pool)
                    .await
                    .expect("app write");
                last.insert(id, value);
                if i % 50 == 0 {
                    let new_id = 100_000 + w * 1000 + i;
                    let value = format!("new-{new_id}");
                    sqlx::query("INSERT INTO users (id, name) VALUES ($1, $2)")
                        .bind(new_id)
                        .bind(&value)
                        .execute(&pool)
                        .await
                        .expect("app insert");
                    last.insert(new_id, value);
                }
            }
            last
        }));
    }
    let report = backfill::run(&db.pool, &p, &opts(50)).await.unwrap();
    assert!(report.completed);
    let mut expected: HashMap<i32, String> = (1..=20000).map(|g| (g, format!("orig-{g}"))).collect();
    for w in writers {
        expected.extend(w.await.unwrap());
    }
    let rows: Vec<(i32, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT id, name, full_name FROM users").fetch_all(&db.pool).await.unwrap();
    assert_eq!(rows.len(), expected.len());
    for (id, name, full_name) in rows {
        let want = expected.get(&id).unwrap_or_else(|| panic!("unexpected row {id}"));
        assert_eq!(name.as_deref(), Some(want.as_str()), "name of id {id}");
        assert_eq!(full_name.as_deref(), Some(want.as_str()), "full_name of id {id}");
    }
    db.drop().await;
}

/// The plan folder as `planner plan` writes it (plan.yaml and its files) into `dir` itself.
fn write_plan_dir(dir: &Path, p: &Plan) {
    let mut p = p.clone();
    for (name, text) in planner::plan::files::render(&mut p) {
        std::fs::write(dir.join(name), text).unwrap();
    }
    std::fs::write(dir.join("plan.yaml"), planner::plan::write::plan_yaml(&p).unwrap()).unwrap();
}

fn planner_backfill(dir: &Path, url: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_planner"));
    cmd.arg("backfill").arg(dir).args(["--database-url", url, "--progress", "plain"]).args(extra);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// kill -9 at random moments, resume each time, then compare with one plain UPDATE of a copy.
/// The expression is not idempotent (`n + 1` on every row): a row done twice or skipped shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_then_resume_gives_the_same_table_as_one_update() {
    let db = TestDb::new().await;
    prepare(&db).await;
    db.exec(
        "CREATE TABLE acct (region text NOT NULL, id int NOT NULL, n int NOT NULL, tag text,
                            PRIMARY KEY (region, id));
         INSERT INTO acct SELECT r, g, g % 97, NULL FROM unnest(ARRAY['eu', 'us', 'ap']) r,
           generate_series(1, 12000) g WHERE g % 13 <> 0;
         CREATE TABLE acct_ref AS SELECT * FROM acct;
         UPDATE acct_ref SET n = n + 1, tag = md5(region || id);",
    )
    .await;
    let total = scalar_i64(&db, "SELECT count(*) FROM acct").await;
    let p = plan(
        "kill9",
        vec![task(
            "acct",
            &[("region", "text"), ("id", "integer")],
            &[("n", "\"n\" + 1"), ("tag", "md5(\"region\" || \"id\")")],
            "true",
        )],
    );
    let dir = tempfile::tempdir().unwrap();
    write_plan_dir(dir.path(), &p);
    let mut kills = 0;
    for round in 0..8 {
        let mut child =
            planner_backfill(dir.path(), &db.url, &["--batch", "150", "--sleep", "3ms"]).spawn().unwrap();
        let wait_ms = 100 + rand::random::<u64>() % 300;
        std::thread::sleep(Duration::from_millis(wait_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let out = child.wait_with_output().unwrap();
        // A kill during start-up (connect, TLS, state schema) leaves no checkpoint row yet.
        let (done, _, finished) = progress_row_opt(&db, "kill9", "public.acct").await.unwrap_or_default();
        eprintln!("round {round}: killed after {wait_ms}ms, {done} rows done, exit {:?}", out.status.code());
        if finished {
            break;
        }
    }
    assert!(kills >= 2, "the backfill finished before it could be killed twice; make the table bigger");
    // A killed client's backend ends only when the server notices the closed socket (after its
    // statement): until then it still holds the one-planner lock and the final run is refused.
    for _ in 0..200 {
        let left = scalar_i64(
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
               AND pid <> pg_backend_pid() AND application_name LIKE 'planner%'",
        )
        .await;
        if left == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = planner_backfill(dir.path(), &db.url, &["--batch", "150"]).output().unwrap();
    assert!(out.status.success(), "final run: {}", String::from_utf8_lossy(&out.stderr));
    let (done, _, finished) = progress_row(&db, "kill9", "public.acct").await;
    assert!(finished);
    assert_eq!(done, total, "keys visited over all runs");
    assert_eq!(checksum(&db, "acct", "region, id").await, checksum(&db, "acct_ref", "region, id").await);
    db.drop().await;
}

/// SIGTERM: the batch in flight finishes, the checkpoint is saved, the exit code is non-zero and
/// the message says how to resume; resuming completes with the right contents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_batch_saves_and_says_how_to_resume() {
    let db = TestDb::new().await;
    prepare(&db).await;
    db.exec(
        "CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL);
         INSERT INTO t SELECT g, g FROM generate_series(1, 20000) g;
         CREATE TABLE t_ref AS SELECT * FROM t; UPDATE t_ref SET n = n * 3 + 1;",
    )
    .await;
    let p = plan("term", vec![task("t", &[("id", "integer")], &[("n", "\"n\" * 3 + 1")], "true")]);
    let dir = tempfile::tempdir().unwrap();
    write_plan_dir(dir.path(), &p);
    let child =
        planner_backfill(dir.path(), &db.url, &["--batch", "100", "--sleep", "20ms"]).spawn().unwrap();
    // Wait for a few batches, then ask politely.
    for _ in 0..200 {
        let started: Option<i64> =
            sqlx::query_scalar("SELECT batches FROM planner.backfill_progress WHERE plan = 'term'")
                .fetch_optional(&db.pool)
                .await
                .ok()
                .flatten();
        if started.unwrap_or(0) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("resume with"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("terminated (SIGTERM)"));
    let (done, _, finished) = progress_row(&db, "term", "public.t").await;
    assert!(!finished && done > 0 && done < 20000, "stopped part-way: {done}");
    // The saved checkpoint matches the data exactly: rows up to it are done, none after.
    assert_eq!(
        scalar_i64(&db, "SELECT count(*) FROM t JOIN t_ref USING (id) WHERE t.n = t_ref.n").await,
        done
    );

    let out = planner_backfill(dir.path(), &db.url, &["--batch", "1000"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(checksum(&db, "t", "id").await, checksum(&db, "t_ref", "id").await);
    db.drop().await;
}

#[test]
fn cli_reports_a_missing_plan_folder_as_bad_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_planner"))
        .args(["backfill", "/nonexistent/plan", "--database-url", "postgres://127.0.0.1:1/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/plan/plan.yaml"));
}

#[test]
fn cli_help_lists_the_throttle_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_planner")).args(["backfill", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--batch",
        "--sleep",
        "--max-rate",
        "--target-batch-time",
        "--min-batch",
        "--max-batch",
        "--max-replication-lag",
        "--max-lock-wait",
        "--max-transaction-age",
        "--control",
        "--progress",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

/// Two runners of one plan at once (an operator starting it twice, or the server still finishing
/// a killed client's last batch): the second waits for the first, so no row is done twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_of_one_plan_never_double_apply() {
    let db = TestDb::new().await;
    prepare(&db).await;
    db.exec(
        "CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL);
         INSERT INTO t SELECT g, 0 FROM generate_series(1, 3000) g;",
    )
    .await;
    let p = plan("twice", vec![task("t", &[("id", "integer")], &[("n", "\"n\" + 1")], "true")]);
    let mut o = opts(100);
    o.throttle.sleep = Duration::from_millis(5);
    let (pool_a, plan_a, opts_a) = (db.pool.clone(), p.clone(), o.clone());
    let a = tokio::spawn(async move { backfill::run(&pool_a, &plan_a, &opts_a).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let b = backfill::run(&db.pool, &p, &o).await.unwrap();
    let a = a.await.unwrap().unwrap();
    assert!(a.completed && b.completed);
    assert_eq!(a.rows + b.rows, 3000, "a: {a}\nb: {b}");
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM t WHERE n <> 1").await, 0, "every row exactly once");
    db.drop().await;
}
