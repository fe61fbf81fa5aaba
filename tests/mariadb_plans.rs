//! MariaDB plans: every example in examples/changes-mariadb/, planned against
//! examples/schema.mysql.sql, must produce exactly the files in plans-mariadb/ (PLANNER_BLESS=1
//! rewrites them), and those files must do what they say on the machine's MariaDB
//! (127.0.0.1:3306, root), run with the real `mariadb` client: up files in order with both app
//! versions writing in between (every value checked), the final schema equal to the naive
//! migration's, and the downs bringing the schema (SHOW CREATE TABLE) and the data back.
//!
//! MySQL goldens live in their own folder, not in plans/: the PostgreSQL suites (golden_plans,
//! psql_apply, exec_rollback, export_golden) iterate every folder of plans/ as a PostgreSQL plan,
//! and a separate folder keeps both sides free of dialect checks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use planner::change::mysql::{self, files, MySqlTarget};
use planner::change::parse_change_file;
use planner::model::from_mysql_sql::parse_mysql_schema;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn examples() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("examples/changes-mariadb"))
        .expect("examples/changes-mariadb")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    out.sort();
    out
}

fn plan_example(change: &Path, out: &Path) -> PathBuf {
    let sql = std::fs::read_to_string(root().join("examples/schema.mysql.sql")).expect("schema");
    let model = parse_mysql_schema(&sql, "schema.mysql.sql").expect("example schema parses");
    let located = parse_change_file(change).unwrap_or_else(|e| panic!("{}: {e}", change.display()));
    let name = located.file.name.clone().expect("examples are named");
    let mut plan = mysql::compile(&model, &located.file.changes, &name, MySqlTarget::MARIADB_DEFAULT)
        .unwrap_or_else(|e| panic!("{}: {:?}", change.display(), e.error));
    files::write_plan_dir(out, &mut plan).expect("write plan")
}

fn read_dir_files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("entry").path();
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read_to_string(&p).expect("utf-8"),
            )
        })
        .collect()
}

#[test]
fn generated_mariadb_plans_match_the_golden_files() {
    let bless = std::env::var("PLANNER_BLESS").is_ok_and(|v| v == "1");
    let tmp = tempfile::tempdir().expect("tempdir");
    let golden_root = root().join("plans-mariadb");
    let mut names = Vec::new();
    for change in examples() {
        let dir = plan_example(&change, tmp.path());
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        names.push(name.clone());
        if bless {
            plan_example(&change, &golden_root);
            continue;
        }
        let golden = golden_root.join(&name);
        assert!(golden.exists(), "no golden plan for {}: run with PLANNER_BLESS=1", change.display());
        let (generated, expected) = (read_dir_files(&dir), read_dir_files(&golden));
        assert_eq!(
            generated.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{name}: file list"
        );
        for (file, content) in &generated {
            assert!(
                content == &expected[file],
                "plans-mariadb/{name}/{file} is out of date (PLANNER_BLESS=1 regenerates it)"
            );
        }
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(&golden_root)
        .expect("plans-mariadb/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with('.'))
        .collect();
    on_disk.sort();
    names.sort();
    assert_eq!(on_disk, names, "stale folders in plans-mariadb/");
}

// ---- against the real server, through the real client ----

/// A database for one test, dropped at the end (kept for inspection when the test fails).
struct MariaDb {
    name: String,
}

impl MariaDb {
    fn new() -> MariaDb {
        let name = format!("planner_test_{:016x}", rand::random::<u64>());
        client(None, &format!("CREATE DATABASE `{name}`"))
            .unwrap_or_else(|e| panic!("is MariaDB running on 127.0.0.1:3306? {e}"));
        MariaDb { name }
    }
    fn run(&self, sql: &str) -> String {
        client(Some(&self.name), sql).unwrap_or_else(|e| panic!("{e}\nwhile running:\n{sql}"))
    }
    fn try_run(&self, sql: &str) -> Result<String, String> {
        client(Some(&self.name), sql)
    }
    fn file(&self, path: &Path) -> Result<String, String> {
        let sql = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        client(Some(&self.name), &sql)
    }
    /// Every table's SHOW CREATE TABLE (AUTO_INCREMENT counters aside) and every trigger.
    fn schema(&self) -> String {
        let mut out = String::new();
        for t in self.run("SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'").lines() {
            let t = t.split('\t').next().unwrap();
            let create = self.run(&format!("SHOW CREATE TABLE `{t}`"));
            let create = create.split_once('\t').map(|(_, c)| c.to_string()).unwrap_or(create);
            out.push_str(&normalize(&create));
            out.push('\n');
        }
        out.push_str(&self.run(
            "SELECT trigger_name, action_timing, event_manipulation, action_order FROM information_schema.triggers WHERE trigger_schema = DATABASE() ORDER BY 1",
        ));
        out
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: MariaDB database {} kept for inspection", self.name);
        } else {
            let _ = client(None, &format!("DROP DATABASE IF EXISTS `{}`", self.name));
        }
    }
}

/// `SHOW CREATE TABLE` with the AUTO_INCREMENT counter removed and key lines sorted (their order
/// is creation order, which a rename through copies changes; the set of keys is what counts).
fn normalize(create: &str) -> String {
    let text = create.replace("\\n", "\n");
    let mut columns = Vec::new();
    let mut keys = Vec::new();
    let mut tail = Vec::new();
    for line in text.lines() {
        let l = line.trim().trim_end_matches(',').to_string();
        if l.starts_with(") ENGINE") {
            let l: Vec<&str> = l.split(' ').filter(|w| !w.starts_with("AUTO_INCREMENT=")).collect();
            tail.push(l.join(" "));
        } else if l.starts_with("KEY ")
            || l.starts_with("UNIQUE KEY")
            || l.starts_with("PRIMARY KEY")
            || l.starts_with("CONSTRAINT")
        {
            keys.push(l);
        } else {
            columns.push(l);
        }
    }
    keys.sort();
    [columns, keys, tail].concat().join("\n")
}

fn client(database: Option<&str>, sql: &str) -> Result<String, String> {
    use std::io::Write as _;
    let mut cmd = Command::new("mariadb");
    cmd.args(["-h", "127.0.0.1", "-P", "3306", "-u", "root", "--batch", "--skip-column-names"]);
    if let Some(db) = database {
        cmd.arg(format!("--database={db}"));
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the mariadb client: {e}"))?;
    child.stdin.take().expect("stdin").write_all(sql.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
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
fn seeded() -> MariaDb {
    let db = MariaDb::new();
    let schema = std::fs::read_to_string(root().join("examples/schema.mysql.sql")).expect("schema");
    db.run(&schema);
    db.run(ROWS);
    db
}

/// How each example is checked: what the naive one-line migration is, which writes the old and
/// the new app make between expand and backfill, and what every value must be at the end.
struct Case {
    plan: &'static str,
    /// The naive migration whose final schema planner must reach.
    naive: &'static str,
    /// Writes of both app versions while expand is applied (old app shape and new app shape).
    writes: &'static str,
    /// A query and its expected output once every phase ran.
    check: (&'static str, &'static str),
    /// A query on the original columns whose output must survive expand + backfill + rollback.
    kept: &'static str,
}

const CASES: &[Case] = &[
    Case {
        plan: "mariadb_rename_users_name",
        naive: "ALTER TABLE users RENAME COLUMN name TO full_name;",
        // old app insert, new app insert (name not given: NOT NULL DEFAULT ''), old app update,
        // new app update, an update of neither column, an update that sets both.
        writes: "INSERT INTO users (id, name, legacy_flag) VALUES (10, 'old-app', 0);
                 INSERT INTO users (id, full_name, legacy_flag) VALUES (11, 'new-app', 0);
                 UPDATE users SET name = 'Ann B' WHERE id = 1;
                 UPDATE users SET full_name = 'Bob C' WHERE id = 2;
                 UPDATE users SET nickname = 'd' WHERE id = 4;
                 UPDATE users SET name = 'x1', full_name = 'y1' WHERE id = 3;
                 SELECT COUNT(*) FROM users WHERE NOT (name <=> full_name) AND id IN (1, 2, 3, 10, 11);",
        check: ("SELECT id, full_name FROM users ORDER BY id", "1\tAnn B\n2\tBob C\n3\tx1\n4\tDee\n10\told-app\n11\tnew-app"),
        kept: "SELECT id, name FROM users ORDER BY id",
    },
    Case {
        plan: "mariadb_rename_users_email",
        naive: "ALTER TABLE users RENAME COLUMN email TO contact_email;",
        writes: "INSERT INTO users (id, email, name, legacy_flag) VALUES (10, 'old@x', 'o', 0);
                 INSERT INTO users (id, contact_email, name, legacy_flag) VALUES (11, 'new@x', 'n', 0);
                 UPDATE users SET contact_email = 'ann2@x' WHERE id = 1;
                 UPDATE users SET email = 'bob@x' WHERE id = 2;
                 SELECT COUNT(*) FROM users WHERE NOT (email <=> contact_email) AND id IN (1, 2, 10, 11);",
        check: ("SELECT id, contact_email FROM users ORDER BY id", "1\tann2@x\n2\tbob@x\n3\tcy@x\n4\tNULL\n10\told@x\n11\tnew@x"),
        kept: "SELECT id, email FROM users ORDER BY id",
    },
    Case {
        plan: "mariadb_add_users_email_verified",
        naive: "ALTER TABLE users ADD COLUMN email_verified TINYINT(1) NULL;
                UPDATE users SET email_verified = verified_at IS NOT NULL;
                ALTER TABLE users MODIFY COLUMN email_verified TINYINT(1) NOT NULL;",
        // old app insert (computed), old app update of the source (recomputed), new app's
        // explicit value (kept), an unrelated update (unchanged).
        writes: "INSERT INTO users (id, name, verified_at, legacy_flag) VALUES (10, 'o', NOW(), 0);
                 UPDATE users SET verified_at = NULL WHERE id = 1;
                 INSERT INTO users (id, name, legacy_flag, email_verified) VALUES (11, 'n', 0, 1);
                 UPDATE users SET nickname = 'q' WHERE id = 11;
                 SELECT COUNT(*) FROM users WHERE email_verified IS NULL AND id IN (1, 10, 11);",
        check: ("SELECT id, email_verified FROM users ORDER BY id", "1\t0\n2\t0\n3\t0\n4\t1\n10\t1\n11\t1"),
        kept: "SELECT id, name, verified_at FROM users ORDER BY id",
    },
    Case {
        plan: "mariadb_add_orders_gift_wrap",
        naive: "ALTER TABLE orders ADD COLUMN gift_wrap TINYINT(1) NOT NULL DEFAULT 0;",
        writes: "INSERT INTO orders (id, user_id, total_cents) VALUES (10, 1, 5);
                 INSERT INTO orders (id, user_id, total_cents, gift_wrap) VALUES (11, 1, 5, 1);
                 SELECT 0;",
        check: ("SELECT id, gift_wrap, status FROM orders ORDER BY id", "1\t0\tpaid\n2\t0\tpending\n3\t0\tshipped\n10\t0\tpending\n11\t1\tpending"),
        kept: "SELECT id, status, total_cents FROM orders ORDER BY id",
    },
    Case {
        plan: "mariadb_drop_users_legacy_flag",
        naive: "ALTER TABLE users DROP COLUMN legacy_flag;",
        // The new app inserts without the column (the expand default makes it legal).
        writes: "INSERT INTO users (id, name) VALUES (10, 'new-app');
                 INSERT INTO users (id, name, legacy_flag) VALUES (11, 'old-app', 1);
                 SELECT 0;",
        check: ("SELECT id, name FROM users WHERE id >= 10 ORDER BY id", "10\tnew-app\n11\told-app"),
        kept: "SELECT id, legacy_flag FROM users ORDER BY id",
    },
    Case {
        plan: "mariadb_set_not_null_users_email",
        naive: "UPDATE users SET email = CONCAT('unknown+', id, '@example.invalid') WHERE email IS NULL;
                ALTER TABLE users MODIFY COLUMN email VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;",
        // The old app still writes NULL: the trigger turns it into the placeholder.
        writes: "INSERT INTO users (id, name, legacy_flag) VALUES (10, 'o', 0);
                 UPDATE users SET email = NULL WHERE id = 1;
                 SELECT COUNT(*) FROM users WHERE email IS NULL AND id IN (1, 10);",
        check: (
            "SELECT id, email FROM users ORDER BY id",
            "1\tunknown+1@example.invalid\n2\tunknown+2@example.invalid\n3\tcy@x\n4\tunknown+4@example.invalid\n10\tunknown+10@example.invalid",
        ),
        kept: "SELECT id, name, email IS NULL OR email LIKE 'unknown+%' FROM users ORDER BY id",
    },
    Case {
        plan: "mariadb_change_type_order_lines_quantity",
        naive: "ALTER TABLE order_lines MODIFY COLUMN quantity BIGINT NOT NULL;",
        // The old app inserts and updates quantity; a value beyond INT fails (it is still INT);
        // the shadow column follows every write.
        writes: "INSERT INTO order_lines (id, order_id, quantity, sku) VALUES (10, 3, 7, 'pen');
                 UPDATE order_lines SET quantity = quantity + 1 WHERE id = 1;
                 UPDATE order_lines SET sku = 'tee-l' WHERE id = 2;
                 SELECT COUNT(*) FROM order_lines WHERE NOT (quantity <=> quantity_planner) AND id IN (1, 2, 10);",
        check: ("SELECT id, quantity, quantity * 4 FROM order_lines ORDER BY id", "1\t3\t12\n2\t2147483647\t8589934588\n3\t-5\t-20\n10\t7\t28"),
        kept: "SELECT id, quantity, sku FROM order_lines ORDER BY id",
    },
    Case {
        plan: "mariadb_change_type_order_lines_sku",
        naive: "UPDATE order_lines SET sku = UPPER(LEFT(sku, 32));
                ALTER TABLE order_lines MODIFY COLUMN sku VARCHAR(32) NOT NULL;",
        writes: "INSERT INTO order_lines (id, order_id, quantity, sku) VALUES (10, 3, 1, 'pen-black');
                 UPDATE order_lines SET sku = 'tee-xl' WHERE id = 2;
                 UPDATE order_lines SET quantity = 9 WHERE id = 3;
                 SELECT COUNT(*) FROM order_lines WHERE NOT (sku_planner <=> UPPER(LEFT(sku, 32))) AND id IN (2, 3, 10);",
        check: ("SELECT id, sku FROM order_lines ORDER BY id", "1\tMUG-BLUE\n2\tTEE-XL\n3\tMUG-RED\n10\tPEN-BLACK"),
        kept: "SELECT id, quantity, sku FROM order_lines ORDER BY id",
    },
    Case {
        plan: "mariadb_change_type_users_nickname",
        naive: "ALTER TABLE users MODIFY COLUMN nickname VARCHAR(60) NULL;",
        writes: "UPDATE users SET nickname = REPEAT('n', 60) WHERE id = 2;
                 SELECT 0;",
        check: ("SELECT id, CHAR_LENGTH(nickname) FROM users ORDER BY id", "1\t1\n2\t60\n3\t1\n4\tNULL"),
        kept: "SELECT id, nickname FROM users ORDER BY id",
    },
];

fn case(plan: &str) -> &'static Case {
    CASES
        .iter()
        .find(|c| c.plan == plan)
        .unwrap_or_else(|| panic!("no test case for plan {plan}: add one to CASES"))
}

fn up(db: &MariaDb, dir: &Path, file: &str) {
    let path = dir.join(file);
    if path.exists() {
        db.file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn every_mariadb_plan_applies_with_the_client_reaches_the_naive_schema_and_rolls_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let examples = examples();
    assert!(examples.len() >= 4, "one example per change kind at least");
    for change in examples {
        let dir = plan_example(&change, tmp.path());
        let plan = dir.file_name().unwrap().to_string_lossy().to_string();
        let c = case(&plan);

        // The naive migration's end state, on the same schema and rows.
        let naive = seeded();
        naive.run(c.naive);
        let naive_schema = naive.schema();
        drop(naive);

        // Forward: expand, both apps write, backfill, contract.
        let db = seeded();
        up(&db, &dir, "expand.up.sql");
        let unsynced = db.run(c.writes);
        assert_eq!(
            unsynced.lines().last(),
            Some("0"),
            "{plan}: the triggers left rows out of sync after expand"
        );
        up(&db, &dir, "backfill.sql");
        up(&db, &dir, "contract.up.sql");
        assert_eq!(db.schema(), naive_schema, "{plan}: final schema differs from the naive migration's");
        assert_eq!(db.run(c.check.0), c.check.1, "{plan}: values after every phase");

        // Backward from the end: a reversible contract comes back; an irreversible one refuses
        // and changes nothing.
        let contract_down = dir.join("contract.down.sql");
        let reversible = contract_down.exists()
            && !std::fs::read_to_string(&contract_down).unwrap().contains("SIGNAL SQLSTATE");
        if contract_down.exists() && !reversible {
            let before = db.schema();
            let err = db.file(&contract_down).expect_err("an irreversible down must fail");
            assert!(err.contains("cannot be undone"), "{plan}: {err}");
            assert_eq!(db.schema(), before, "{plan}: a refused down changed the schema");
        }
        drop(db);

        // An irreversible expand (a metadata-only type change: going back is a copy) refuses its
        // down and changes nothing.
        let expand_down = std::fs::read_to_string(dir.join("expand.down.sql")).unwrap_or_default();
        if expand_down.contains("SIGNAL SQLSTATE") {
            let db = seeded();
            up(&db, &dir, "expand.up.sql");
            let before = db.schema();
            let err = db.file(&dir.join("expand.down.sql")).expect_err("an irreversible down must fail");
            assert!(err.contains("cannot be undone"), "{plan}: {err}");
            assert_eq!(db.schema(), before, "{plan}: a refused down changed the schema");
            continue;
        }

        // Backward through every down: expand (+ contract when reversible), then the downs in
        // reverse; schema and the original columns' data come back.
        let db = seeded();
        let schema0 = db.schema();
        let kept0 = db.run(c.kept);
        up(&db, &dir, "expand.up.sql");
        up(&db, &dir, "backfill.sql");
        if reversible {
            up(&db, &dir, "contract.up.sql");
            up(&db, &dir, "contract.down.sql");
        }
        up(&db, &dir, "expand.down.sql");
        assert_eq!(db.schema(), schema0, "{plan}: the downs did not bring the schema back");
        assert_eq!(db.run(c.kept), kept0, "{plan}: the downs lost data");
    }
}

#[test]
fn null_writes_after_the_backfill_are_filled_so_the_not_null_rebuild_succeeds() {
    // MODIFY … NOT NULL fails on a NULL row, and aborts when one arrives during the rebuild (§1,
    // measured; no timing-based test here). Until the triggers go, an app's NULL becomes the
    // backfill value, so a NULL written after the backfill does not make contract fail.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = plan_example(&root().join("examples/changes-mariadb/set_not_null.yaml"), tmp.path());
    let db = seeded();
    up(&db, &dir, "expand.up.sql");
    up(&db, &dir, "backfill.sql");
    db.run("INSERT INTO users (id, name, email, legacy_flag) VALUES (20, 'late', NULL, 0);");
    up(&db, &dir, "contract.up.sql");
    assert_eq!(db.run("SELECT email FROM users WHERE id = 20"), "unknown+20@example.invalid");
    let err = db
        .try_run("INSERT INTO users (id, name, email, legacy_flag) VALUES (21, 'after', NULL, 0)")
        .expect_err("NOT NULL holds");
    assert!(err.contains("cannot be null"), "{err}");
}

#[test]
fn the_cli_writes_a_mariadb_plan_and_refuses_what_it_cannot_plan() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let schema = root().join("examples/schema.mysql.sql");
    let out = assert_cmd::Command::cargo_bin("planner")
        .expect("binary")
        .args([
            "plan",
            "rename",
            "users.name",
            "full_name",
            "--dialect",
            "mariadb",
            "--server-version",
            "10.11",
        ])
        .arg("--schema")
        .arg(&schema)
        .arg("--out")
        .arg(tmp.path())
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Plan rename_users_name (MariaDB 10.11)"));
    let expand =
        std::fs::read_to_string(tmp.path().join("rename_users_name/expand.up.sql")).expect("expand file");
    assert!(expand.contains("Generated by planner for MariaDB 10.11"), "{expand}");
    assert!(expand.contains("ALGORITHM=INSTANT"));
    let yaml = std::fs::read_to_string(tmp.path().join("rename_users_name/plan.yaml")).expect("plan.yaml");
    assert!(yaml.contains("dialect: mariadb\nserver_version: '10.11'\n"), "{yaml}");

    // A refusal names the reason and exits 2 (bad input); nothing is written.
    for (args, why) in [
        (vec!["rename", "orders.status", "state"], "trigger orders_status_bi"),
        (vec!["add-column", "users.flag", "boolean", "--not-null"], "1364"),
        (vec!["change-type", "orders.total_cents", "int"], "view recent_orders"),
        (vec!["change-type", "users.id", "int"], "gh-ost"),
    ] {
        let out = assert_cmd::Command::cargo_bin("planner")
            .expect("binary")
            .arg("plan")
            .args(&args)
            .args(["--dialect", "mysql"])
            .arg("--schema")
            .arg(&schema)
            .arg("--out")
            .arg(tmp.path().join("refused"))
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }
    assert!(!tmp.path().join("refused").exists());
    // A mistake in a change file is reported at its file:line:column.
    let change = tmp.path().join("bad.yaml");
    std::fs::write(&change, "name: bad\nchanges:\n  - rename_column: { table: users, from: nmae, to: x }\n")
        .unwrap();
    let out = assert_cmd::Command::cargo_bin("planner")
        .expect("binary")
        .arg("plan")
        .arg(&change)
        .args(["--dialect", "mariadb"])
        .arg("--schema")
        .arg(&schema)
        .arg("--out")
        .arg(tmp.path().join("refused"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.yaml:3:") && stderr.contains("did you mean name?"), "{stderr}");
    let out = assert_cmd::Command::cargo_bin("planner")
        .expect("binary")
        .args([
            "plan",
            "drop-column",
            "users.legacy_flag",
            "--dialect",
            "mariadb",
            "--server-version",
            "10.3",
        ])
        .arg("--schema")
        .arg(&schema)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MariaDB 10.4+"));
}

#[test]
fn renaming_a_column_of_a_composite_and_a_descending_index_swaps_both_indexes() {
    // DROP COLUMN alone would shrink a composite index instead of dropping it; contract drops the
    // original explicitly and renames the copy in the same statement.
    let schema = "CREATE TABLE ev (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(20) NOT NULL,
                    at DATETIME NULL, note TEXT NULL, KEY ev_kind_at (kind, at), KEY ev_at_desc (at DESC, id));";
    let model = parse_mysql_schema(schema, "ev.sql").expect("parses");
    let changes = planner::change::parse_change_text(
        "changes:\n  - rename_column: { table: ev, from: at, to: happened_at }\n",
        "c.yaml",
    )
    .expect("change")
    .file
    .changes;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut plan =
        mysql::compile(&model, &changes, "ev_rename", MySqlTarget::MARIADB_DEFAULT).expect("plans");
    let dir = files::write_plan_dir(tmp.path(), &mut plan).expect("writes");
    let seed = |db: &MariaDb| {
        db.run(schema);
        db.run(
            "INSERT INTO ev (kind, at, note) VALUES ('a', '2025-01-01 00:00:00', 'x'), ('b', NULL, NULL);",
        );
    };
    let naive = MariaDb::new();
    seed(&naive);
    naive.run("ALTER TABLE ev RENAME COLUMN at TO happened_at;");
    let db = MariaDb::new();
    seed(&db);
    for f in ["expand.up.sql", "backfill.sql", "contract.up.sql"] {
        up(&db, &dir, f);
    }
    assert_eq!(db.schema(), naive.schema());
    assert_eq!(
        db.run("SELECT id, kind, happened_at FROM ev ORDER BY id"),
        naive.run("SELECT id, kind, happened_at FROM ev ORDER BY id")
    );
}

/// Planning against the live database (`--database-url mariadb://…`) reads the schema from
/// information_schema and the flavour and version from the server; on the example schema it must
/// write exactly the plan the schema file gives (the golden), for every example. Nothing changes
/// in the database, and a --dialect that contradicts the server is refused.
#[test]
fn planning_from_the_live_database_writes_the_golden_plans() {
    let db = seeded();
    let before = db.schema();
    let url = format!("mariadb://root@127.0.0.1:3306/{}", db.name);
    let version = db.run("SELECT VERSION()");
    let tmp = tempfile::tempdir().expect("tempdir");
    for change in examples() {
        let out = assert_cmd::Command::cargo_bin("planner")
            .expect("binary")
            .args(["plan", "--database-url", &url, "--out"])
            .arg(tmp.path())
            .arg(&change)
            .output()
            .expect("planner runs");
        assert!(out.status.success(), "{}: {}", change.display(), String::from_utf8_lossy(&out.stderr));
        let name = parse_change_file(&change).expect("example").file.name.expect("named");
        let live = read_dir_files(&tmp.path().join(&name));
        let golden = read_dir_files(&root().join("plans-mariadb").join(&name));
        if !version.starts_with("10.11.") {
            continue; // the goldens are for MariaDB 10.11; other servers plan their own version
        }
        assert_eq!(live.keys().collect::<Vec<_>>(), golden.keys().collect::<Vec<_>>(), "{name}");
        for (file, text) in &golden {
            assert_eq!(&live[file], text, "plans-mariadb/{name}/{file}: the live database planned otherwise");
        }
    }
    assert_eq!(db.schema(), before, "planning changed the database");

    let out = assert_cmd::Command::cargo_bin("planner")
        .expect("binary")
        .args(["plan", "rename", "users.name", "full_name", "--database-url", &url, "--dialect", "mysql"])
        .arg("--out")
        .arg(tmp.path().join("other"))
        .output()
        .expect("planner runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--dialect mysql does not match the server"), "{stderr}");
}

/// planner's own MariaDB files pass planner's own MySQL check: every finding is fixed or carries
/// an explained `planner:ignore` (the swap's LOCK TABLES, drops where no app uses the column, the
/// refusals of irreversible downs, the by-hand backfill file).
#[test]
fn planner_check_passes_on_every_generated_mariadb_file() {
    let out = assert_cmd::Command::cargo_bin("planner")
        .expect("binary")
        .current_dir(root())
        .args(["check", "--dialect", "mariadb", "plans-mariadb/", "--format", "json"])
        .output()
        .expect("planner runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "planner check plans-mariadb/ failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json report");
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(0), "{stdout}");
    assert!(
        report["summary"]["suppressed"].as_u64().unwrap_or(0) >= 20,
        "the ignores are what passes it: {stdout}"
    );
}
