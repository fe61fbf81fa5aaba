//! The zero-downtime claim on MariaDB, the way it fails in production (the twin of
//! tests/exec_zero_downtime.rs): an "old app" and a "new app", each on its own connection with
//! the server's own sql_mode and `lock_wait_timeout = 1, innodb_lock_wait_timeout = 2` (so a
//! planner step that blocks them longer is an error, not a slow query), write the SAME rows of a
//! 25,000-row table (updates of random existing ids, inserts) while the real `planner` binary
//! plans from the live database and applies expand, backfill and contract. Each app runs only in
//! the windows the plan's `compat` promises (the old app stops before a contract that breaks its
//! writes; the new app starts writing after expand and trusts its reads after backfill), and in
//! those windows it must never fail and every read of its own column must return what the last
//! writer of the row meant. At the end every row's NEW column is compared with what it must hold:
//! the renamed column's last write, or the fill expression over the last written source, or the
//! new app's explicit value.

mod mysql_support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_support::TestDb;
use planner::plan::{AppCompat, PhaseKind, Plan};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Executor, MySqlConnection};
use tokio::sync::RwLock;

const ROWS: i64 = 25_000;
/// What the apps' sessions run with: a metadata-lock wait over 1 s or a row-lock wait over 2 s is
/// an error the app would see.
const APP_SESSION: &str = "SET SESSION sql_mode = @@GLOBAL.sql_mode, time_zone = @@GLOBAL.time_zone, \
                           lock_wait_timeout = 1, innodb_lock_wait_timeout = 2";
/// Row locks the test takes so that "the last write of a row" is well defined (writes to one row
/// are serialized by the test; rows, apps and planner still run concurrently).
const STRIPES: usize = 512;
/// Small batches, so the apps' writes meet the backfill many times on 25,000 rows.
const BACKFILL_FLAGS: [&str; 4] = ["--batch", "500", "--sleep", "10ms"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Old,
    New,
}

/// What the new column of a row must hold, and the source it is computed from.
#[derive(Clone, Debug, Default)]
struct Row {
    /// The text the final query (and the apps' reads) must return for this row.
    expected: String,
    /// Whatever else a case tracks per row (whether the source is set); empty for a new row.
    source: String,
}

/// A statement parameter.
#[derive(Clone, Debug)]
enum P {
    Int(i64),
    Text(String),
    Null,
}

/// One write an app makes: its `value` (`<app>-<n>`), `n`, and the row (0 for an insert).
struct Write<'a> {
    value: &'a str,
    n: u64,
    id: i64,
}

/// One app version's statements and the parameters each takes.
struct Shape {
    insert: &'static str,
    update: &'static str,
    params: fn(&Write) -> Vec<P>,
    /// `SELECT <its view of the changed column as text> FROM users WHERE id = ?`, where the app has one.
    read: Option<&'static str>,
}

/// A change, the two apps' shapes, and the rules the final state must satisfy.
struct Case {
    name: &'static str,
    /// `planner plan` arguments after `plan`.
    change: &'static [&'static str],
    old: Shape,
    new: Shape,
    /// The row's state before any app wrote it.
    initial: fn(id: i64) -> Row,
    /// How a write of `value` by `who` changes the row's expected state.
    write: fn(row: &mut Row, who: Who, value: &str),
    /// `SELECT id, <new column as text>` over every row after contract.
    final_query: &'static str,
}

/// Per window: operations, errors and latencies of one app.
#[derive(Default, Debug, Clone)]
struct WindowStats {
    writes: u64,
    reads: u64,
    errors: u64,
    latencies_us: Vec<u64>,
}

impl WindowStats {
    fn percentile_ms(&self, p: f64) -> f64 {
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        match v.len() {
            0 => 0.0,
            n => v[((n as f64 - 1.0) * p).round() as usize] as f64 / 1000.0,
        }
    }
}

#[derive(Default, Debug)]
struct Report {
    by_window: BTreeMap<usize, WindowStats>,
    inserted: Vec<i64>,
    errors: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Access {
    writes: bool,
    reads: bool,
}

const NOTHING: Access = Access { writes: false, reads: false };

impl Access {
    fn of(access: &planner::plan::AppAccess) -> Access {
        Access { writes: access.writes, reads: access.reads }
    }
    fn and(self, other: Access) -> Access {
        Access { writes: self.writes && other.writes, reads: self.reads && other.reads }
    }
}

struct Shared {
    rows: Mutex<HashMap<i64, Row>>,
    stripes: Vec<tokio::sync::Mutex<()>>,
    /// Index into WINDOWS of the phase being applied (or just applied).
    window: AtomicUsize,
    /// The key the backfill has reached (0 before it starts).
    backfill_key: AtomicI64,
    stop: AtomicBool,
}

const WINDOWS: [&str; 7] =
    ["before", "expand", "after expand", "backfill", "after backfill", "contract", "after contract"];

/// An app's own connection, with the app's session settings.
async fn app_conn(db: &TestDb) -> MySqlConnection {
    let opts: MySqlConnectOptions = db.url.parse().expect("a URL");
    let mut conn = opts.connect().await.unwrap_or_else(|e| panic!("connect {}: {e}", db.url));
    conn.execute(APP_SESSION).await.expect("the apps' session settings");
    conn
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments>,
    params: Vec<P>,
) -> sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments> {
    for p in params {
        q = match p {
            P::Int(i) => q.bind(i),
            P::Text(t) => q.bind(t),
            P::Null => q.bind(None::<i64>),
        };
    }
    q
}

async fn run_app(
    mut conn: MySqlConnection,
    who: Who,
    case: &'static Case,
    gate: Arc<RwLock<Access>>,
    shared: Arc<Shared>,
) -> Report {
    let shape = if who == Who::Old { &case.old } else { &case.new };
    let label = if who == Who::Old { "old-app" } else { "new-app" };
    let mut report = Report::default();
    let mut n: u64 = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        let guard = gate.read().await;
        let access = *guard;
        let can_read = access.reads && shape.read.is_some();
        if !access.writes && !can_read {
            drop(guard);
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        n += 1;
        let window = shared.window.load(Ordering::Relaxed);
        let started = Instant::now();
        let value = format!("{label}-{n}");
        let read = shape.read.filter(|_| can_read && (!access.writes || n.is_multiple_of(3)));
        let outcome = if let Some(read) = read {
            let id = pick_row(&shared);
            let _row_lock = shared.stripes[(id as usize) % STRIPES].lock().await;
            match sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(read))
                .bind(id)
                .fetch_one(&mut conn)
                .await
            {
                Ok(got) => {
                    let want = shared
                        .rows
                        .lock()
                        .unwrap()
                        .get(&id)
                        .map(|r| r.expected.clone())
                        .unwrap_or_else(|| (case.initial)(id).expected);
                    let got = got.unwrap_or_else(|| "NULL".into());
                    if got == want {
                        Ok(false)
                    } else {
                        Err(format!("read of id {id} returned {got:?}, the last write meant {want:?}"))
                    }
                }
                Err(e) => Err(format!("read id {id}: {e}")),
            }
        } else if n.is_multiple_of(5) {
            let params = (shape.params)(&Write { value: &value, n, id: 0 });
            let q = bind_all(sqlx::query(sqlx::AssertSqlSafe(shape.insert)), params);
            match q.execute(&mut conn).await {
                Ok(done) => {
                    let id = done.last_insert_id() as i64;
                    let mut row = Row::default();
                    (case.write)(&mut row, who, &value);
                    shared.rows.lock().unwrap().insert(id, row);
                    report.inserted.push(id);
                    Ok(true)
                }
                Err(e) => Err(format!("insert: {e}")),
            }
        } else {
            let id = pick_row(&shared);
            let _row_lock = shared.stripes[(id as usize) % STRIPES].lock().await;
            let params = (shape.params)(&Write { value: &value, n, id });
            let q = bind_all(sqlx::query(sqlx::AssertSqlSafe(shape.update)), params);
            match q.execute(&mut conn).await {
                Ok(done) if done.rows_affected() == 1 => {
                    let mut rows = shared.rows.lock().unwrap();
                    let row = rows.entry(id).or_insert_with(|| (case.initial)(id));
                    (case.write)(row, who, &value);
                    Ok(true)
                }
                Ok(done) => Err(format!("update of id {id} hit {} rows", done.rows_affected())),
                Err(e) => Err(format!("update id {id}: {e}")),
            }
        };
        let stats = report.by_window.entry(window).or_default();
        stats.latencies_us.push(started.elapsed().as_micros() as u64);
        match outcome {
            Ok(true) => stats.writes += 1,
            Ok(false) => stats.reads += 1,
            Err(e) => {
                stats.errors += 1;
                report.errors.push(format!("{label} during {}: {e}", WINDOWS[window]));
            }
        }
        drop(guard);
        tokio::task::yield_now().await;
    }
    let _ = sqlx::Connection::close(conn).await;
    report
}

/// Half the time a row just above the backfill's position (where its batches and the apps'
/// writes meet), otherwise any existing row.
fn pick_row(shared: &Shared) -> i64 {
    let at = shared.backfill_key.load(Ordering::Relaxed);
    if at > 0 && rand::random::<bool>() {
        (at + 1 + (rand::random::<u64>() % 200) as i64).min(ROWS)
    } else {
        1 + (rand::random::<u64>() % ROWS as u64) as i64
    }
}

/// Follow the backfill's checkpoint (`["<key>"]`) so the apps can aim at the rows it is about to fill.
async fn watch_backfill(db_url: String, plan: &'static str, shared: Arc<Shared>) {
    let opts: MySqlConnectOptions = db_url.parse().expect("a URL");
    let mut conn = opts.connect().await.expect("watcher connection");
    while !shared.stop.load(Ordering::Relaxed) {
        let key: Option<Option<String>> =
            sqlx::query_scalar("SELECT last_key FROM planner_backfill_progress WHERE plan = ?")
                .bind(plan)
                .fetch_optional(&mut conn)
                .await
                .unwrap_or(None);
        let key = key.flatten().and_then(|k| serde_json::from_str::<Vec<String>>(&k).ok());
        if let Some(k) = key.and_then(|k| k.first().and_then(|k| k.parse::<i64>().ok())) {
            shared.backfill_key.store(k, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The example shop (examples/schema.mysql.sql) with ROWS users: `user-<id>`, a third without
/// email, every even id verified (at 2025-01-01 + id seconds).
async fn example_db() -> TestDb {
    let db = TestDb::new().await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let schema = std::fs::read_to_string(root.join("examples/schema.mysql.sql")).expect("schema.mysql.sql");
    db.exec(&schema).await;
    db.exec(&format!(
        "INSERT INTO users (id, email, name, legacy_flag, verified_at)
         SELECT seq, IF(seq % 3 = 0, NULL, CONCAT('u', seq, '@example.com')), CONCAT('user-', seq), seq % 2,
                IF(seq % 2 = 0, TIMESTAMP'2025-01-01 00:00:00' + INTERVAL seq SECOND, NULL)
           FROM seq_1_to_{ROWS};
         INSERT INTO orders (user_id, total_cents) SELECT seq, seq FROM seq_1_to_100;
         ANALYZE TABLE users;"
    ))
    .await;
    db
}

/// Run the release-or-debug `planner` binary of this build; its output on failure.
async fn planner(url: &str, args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_planner"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .await
        .map_err(|e| format!("running planner: {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("planner {} exited {}:\n{text}", args.join(" "), out.status))
    }
}

/// Apply one phase with the CLI, as a DBA would.
async fn apply(url: &str, dir: &Path, phase: PhaseKind) -> Result<String, String> {
    let dir = dir.to_str().expect("utf-8 temp dir");
    if phase == PhaseKind::Backfill {
        let mut args = vec!["backfill", dir];
        args.extend_from_slice(&BACKFILL_FLAGS);
        planner(url, &args).await
    } else if phase == PhaseKind::Contract {
        // What a DBA runs first: the contract's preconditions, then the irreversible phase.
        planner(url, &["verify", dir]).await?;
        planner(url, &["apply", dir, "--phase", "contract", "--yes"]).await
    } else {
        planner(url, &["apply", dir, "--phase", phase.as_str()]).await
    }
}

/// Something the test does between two phases: the hook to break the behaviour on purpose.
type Between = fn(&'static Case, PhaseKind, &Path) -> Option<String>;

fn no_sabotage(_: &'static Case, _: PhaseKind, _: &Path) -> Option<String> {
    None
}

fn print_table(case: &Case, old: &Report, new: &Report) {
    println!("{}: per window, ops (writes+reads), errors, p99 / max latency in ms", case.name);
    println!(
        "{:<16} {:>7} {:>4} {:>7} {:>7}   {:>7} {:>4} {:>7} {:>7}",
        "window", "old ops", "err", "p99", "max", "new ops", "err", "p99", "max"
    );
    for (i, window) in WINDOWS.iter().enumerate() {
        let cell = |r: &Report| {
            r.by_window.get(&i).map_or_else(
                || format!("{:>7} {:>4} {:>7} {:>7}", "-", "-", "-", "-"),
                |s| {
                    format!(
                        "{:>7} {:>4} {:>7.1} {:>7.1}",
                        s.writes + s.reads,
                        s.errors,
                        s.percentile_ms(0.99),
                        s.percentile_ms(1.0)
                    )
                },
            )
        };
        println!("{window:<16} {}   {}", cell(old), cell(new));
    }
}

async fn zero_downtime(case: &'static Case, between: Between) {
    let db = example_db().await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().to_str().expect("utf-8 temp dir");
    let mut plan_args = vec!["plan"];
    plan_args.extend_from_slice(case.change);
    plan_args.extend_from_slice(&["--out", out, "--name", case.name]);
    planner(&db.url, &plan_args).await.unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let dir = tmp.path().join(case.name);
    let plan = read_plan(&dir);

    let shared = Arc::new(Shared {
        rows: Mutex::new(HashMap::new()),
        stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        window: AtomicUsize::new(0),
        backfill_key: AtomicI64::new(0),
        stop: AtomicBool::new(false),
    });
    let before = Access { writes: true, reads: true };
    let old_gate = Arc::new(RwLock::new(before));
    let new_gate = Arc::new(RwLock::new(NOTHING));
    let old_task =
        tokio::spawn(run_app(app_conn(&db).await, Who::Old, case, old_gate.clone(), shared.clone()));
    let new_task =
        tokio::spawn(run_app(app_conn(&db).await, Who::New, case, new_gate.clone(), shared.clone()));
    let watcher = tokio::spawn(watch_backfill(db.url.clone(), case.name, shared.clone()));

    // What each app is promised in each window of WINDOWS (the gate while a phase is applied is
    // the meet of before and after: an app the next phase does not support stops first).
    let mut promised: Vec<(Access, Access)> = vec![(before, NOTHING)];
    let (mut old_access, mut new_access) = (before, NOTHING);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for phase in &plan.phases {
        let index = match phase.phase {
            PhaseKind::Expand => 1,
            PhaseKind::Backfill => 3,
            PhaseKind::Contract => 5,
        };
        let (old_next, new_next) = writes_of(&phase.compat);
        let during = (old_access.and(old_next), new_access.and(new_next));
        *old_gate.write().await = during.0;
        *new_gate.write().await = during.1;
        while promised.len() < index {
            promised.push((NOTHING, NOTHING));
        }
        promised.push(during);
        shared.window.store(index, Ordering::Relaxed);
        apply(&db.url, &dir, phase.phase)
            .await
            .unwrap_or_else(|e| panic!("{}: apply {}: {e}", case.name, phase.phase.as_str()));
        (old_access, new_access) = (old_next, new_next);
        *old_gate.write().await = old_access;
        *new_gate.write().await = new_access;
        promised.push((old_access, new_access));
        shared.window.store(index + 1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(400)).await;
        if let Some(sql) = between(case, phase.phase, &dir) {
            db.exec(&sql).await;
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    let old = old_task.await.unwrap();
    let new = new_task.await.unwrap();
    watcher.await.unwrap();
    print_table(case, &old, &new);

    for (who, report) in [("old app", &old), ("new app", &new)] {
        assert_eq!(
            report.errors[..report.errors.len().min(10)],
            Vec::<String>::new(),
            "{}: {who}: {} errors",
            case.name,
            report.errors.len()
        );
    }
    // Every window where an app is promised to write, it did (a gate that never opened would pass
    // every other check).
    for (window, (old_promise, new_promise)) in promised.iter().enumerate() {
        for (who, promise, report) in [("old app", old_promise, &old), ("new app", new_promise, &new)] {
            let stats = report.by_window.get(&window).cloned().unwrap_or_default();
            if promise.writes && WINDOWS[window] != "before" {
                assert!(stats.writes > 0, "{}: {who} made no write during {}", case.name, WINDOWS[window]);
            }
        }
    }

    // No row lost; every row's new column holds what the rules say.
    let inserted = (old.inserted.len() + new.inserted.len()) as i64;
    assert_eq!(db.count("SELECT COUNT(*) FROM users").await, ROWS + inserted, "{}: row count", case.name);
    let rows: Vec<(i64, Option<String>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(case.final_query)).fetch_all(&db.pool).await.unwrap();
    let model: HashMap<i64, Row> = shared.rows.lock().unwrap().clone();
    let mut wrong = Vec::new();
    for (id, value) in &rows {
        let want = model.get(id).map(|r| r.expected.clone()).unwrap_or_else(|| (case.initial)(*id).expected);
        if value.as_deref() != Some(want.as_str()) {
            wrong.push(format!("id {id}: {value:?}, the rules say {want:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{}: {} of {} rows wrong, e.g. {:?}",
        case.name,
        wrong.len(),
        rows.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert!(model.len() > 100, "{}: the apps wrote only {} rows", case.name, model.len());
    db.drop().await;
}

/// The plan as written (its phases' compat and backfill tasks).
fn read_plan(dir: &Path) -> Plan {
    let path = dir.join("plan.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn writes_of(compat: &AppCompat) -> (Access, Access) {
    (Access::of(&compat.old_app), Access::of(&compat.new_app))
}

fn last_write(row: &mut Row, _who: Who, value: &str) {
    row.expected = value.to_string();
}

/// The rename: both apps write the same email column under its two names; the triggers keep them
/// equal until contract drops `email`.
static RENAME: Case = Case {
    name: "zd_rename_users_email",
    change: &["rename", "users.email", "email_address"],
    old: Shape {
        insert: "INSERT INTO users (email, name, legacy_flag) VALUES (?, ?, 0)",
        update: "UPDATE users SET email = ? WHERE id = ?",
        params: value_then_id,
        read: Some("SELECT email FROM users WHERE id = ?"),
    },
    new: Shape {
        insert: "INSERT INTO users (email_address, name, legacy_flag) VALUES (?, ?, 0)",
        update: "UPDATE users SET email_address = ? WHERE id = ?",
        params: value_then_id,
        read: Some("SELECT email_address FROM users WHERE id = ?"),
    },
    initial: initial_email,
    write: last_write,
    final_query: "SELECT id, COALESCE(email_address, 'NULL') FROM users",
};

/// Update: (value, id); insert: (value, a name).
fn value_then_id(w: &Write) -> Vec<P> {
    let second = if w.id == 0 { P::Text(format!("name of {}", w.value)) } else { P::Int(w.id) };
    vec![P::Text(w.value.to_string()), second]
}

fn initial_email(id: i64) -> Row {
    let expected = if id % 3 == 0 { "NULL".to_string() } else { format!("u{id}@example.com") };
    Row { expected, source: String::new() }
}

/// `n` of a value `<app>-<n>`.
fn n_of(value: &str) -> u64 {
    value.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// email_verified = (verified_at IS NOT NULL), recomputed on every old-app write that changes
/// verified_at; the new app's explicit value is kept until a later write changes verified_at.
static ADD_COMPUTED: Case = Case {
    name: "zd_add_users_email_verified",
    change: &[
        "add-column",
        "users.email_verified",
        "boolean",
        "--not-null",
        "--backfill",
        "verified_at IS NOT NULL",
    ],
    // Sets verified_at (to a time no other write uses) for odd n, clears it for even n.
    old: Shape {
        insert: "INSERT INTO users (name, legacy_flag, verified_at)
                 VALUES (?, 0, TIMESTAMP'2026-01-01 00:00:00' + INTERVAL ? SECOND)",
        update: "UPDATE users SET name = ?, verified_at = TIMESTAMP'2026-01-01 00:00:00' + INTERVAL ? SECOND
                 WHERE id = ?",
        params: |w| {
            let at = if w.n % 2 == 1 { P::Int(w.n as i64) } else { P::Null };
            let mut p = vec![P::Text(w.value.to_string()), at];
            if w.id != 0 {
                p.push(P::Int(w.id));
            }
            p
        },
        read: None,
    },
    // Writes email_verified explicitly (true for odd n); verified_at untouched.
    new: Shape {
        insert: "INSERT INTO users (name, legacy_flag, email_verified) VALUES (?, 0, ?)",
        update: "UPDATE users SET name = ?, email_verified = ? WHERE id = ?",
        params: |w| {
            let mut p = vec![P::Text(w.value.to_string()), P::Int((w.n % 2) as i64)];
            if w.id != 0 {
                p.push(P::Int(w.id));
            }
            p
        },
        read: Some("SELECT CAST(email_verified AS CHAR) FROM users WHERE id = ?"),
    },
    initial: |id| {
        let verified = id % 2 == 0;
        Row { expected: (verified as u8).to_string(), source: if verified { "set" } else { "clear" }.into() }
    },
    write: |row, who, value| {
        let odd = n_of(value) % 2 == 1;
        match who {
            // A set is always a change (a new time); a clear only when the source was set.
            Who::Old => {
                let source = if odd { "set" } else { "clear" };
                if source == "set" || row.source != source || row.expected.is_empty() {
                    row.expected = (odd as u8).to_string();
                }
                row.source = source.into();
            }
            Who::New => {
                row.expected = (odd as u8).to_string();
                if row.source.is_empty() {
                    row.source = "clear".into();
                }
            }
        }
    },
    final_query: "SELECT id, CAST(email_verified AS CHAR) FROM users",
};

/// A type change (VARCHAR(200) -> TEXT copies the table on MariaDB): both apps keep reading and
/// writing `name` in its old type; the triggers convert every write into the shadow column the
/// backfill races with, and contract swaps it in. The final query fails every row unless `name`
/// is TEXT.
static CHANGE_TYPE: Case = Case {
    name: "zd_change_type_users_name",
    change: &["change-type", "users.name", "text"],
    old: Shape {
        insert: "INSERT INTO users (name, email, legacy_flag) VALUES (?, ?, 0)",
        update: "UPDATE users SET name = ? WHERE id = ?",
        params: value_then_id,
        read: Some("SELECT name FROM users WHERE id = ?"),
    },
    new: Shape {
        insert: "INSERT INTO users (name, email, legacy_flag) VALUES (?, ?, 0)",
        update: "UPDATE users SET name = ? WHERE id = ?",
        params: value_then_id,
        read: Some("SELECT name FROM users WHERE id = ?"),
    },
    initial: |id| Row { expected: format!("user-{id}"), source: String::new() },
    write: last_write,
    final_query: "SELECT id, IF(c.DATA_TYPE = 'text', u.name, CONCAT('not text: ', c.DATA_TYPE)) FROM users u
                  JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = 'users'
                   AND c.COLUMN_NAME = 'name'",
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_type_with_both_apps_writing_the_same_rows() {
    zero_downtime(&CHANGE_TYPE, no_sabotage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_with_both_apps_writing_the_same_rows() {
    zero_downtime(&RENAME, no_sabotage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_computed_column_follows_every_old_app_write_of_its_source() {
    zero_downtime(&ADD_COMPUTED, no_sabotage).await;
}
