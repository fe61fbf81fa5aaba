//! The headline test: for each change kind, an "old app" and a "new app" write and read
//! concurrently while expand -> backfill -> verify -> contract run on a 50,000-row table. Each app
//! runs only in the phases the plan's `compat` promises; neither may see a single error, every read
//! returns the value last written, and at the end no row is lost and every row holds its last value.

mod common;
mod exec_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exec_support::*;
use planner::plan::{AppCompat, PhaseKind};
use sqlx::PgPool;
use tokio::sync::RwLock;

const ROWS: i64 = 50_000;

/// How one app version talks to `users`. `$1` = value, `$2` = email (insert) or id (update).
struct Shape {
    label: &'static str,
    insert: &'static str,
    update: &'static str,
    /// `$1` = id -> (the app's value, whether every column the app relies on is filled).
    read: &'static str,
}

const OLD_NAME: Shape = Shape {
    label: "old app",
    insert: "INSERT INTO users (email, name, legacy_flag) VALUES ($2, $1, false) RETURNING id",
    update: "UPDATE users SET name = $1 WHERE id = $2",
    read: "SELECT name::text, true FROM users WHERE id = $1",
};

#[derive(Clone, Copy, Debug, PartialEq)]
struct Access {
    reads: bool,
    writes: bool,
}

impl Access {
    const NONE: Access = Access { reads: false, writes: false };
    const FULL: Access = Access { reads: true, writes: true };
    fn meet(self, other: Access) -> Access {
        Access { reads: self.reads && other.reads, writes: self.writes && other.writes }
    }
}

/// Value last written per id, with a version bumped before and after each write so a reader can
/// tell whether a write raced with its read.
#[derive(Default)]
struct Entry {
    version: u64,
    in_flight: bool,
    value: String,
}
type Expected = Arc<Mutex<HashMap<i64, Entry>>>;

#[derive(Default, Debug)]
struct Report {
    writes: u64,
    reads: u64,
    inserted: Vec<i64>,
    errors: Vec<String>,
}

struct App {
    shape: &'static Shape,
    gate: Arc<RwLock<Access>>,
    /// Ids this app updates (even for the old app, odd for the new one), so the two never race
    /// on a row and "last written" is well defined.
    parity: i64,
}

async fn run_app(pool: PgPool, app: Arc<App>, expected: Expected, stop: Arc<AtomicBool>) -> Report {
    let mut report = Report::default();
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let guard = app.gate.read().await;
        let access = *guard;
        if access == Access::NONE {
            drop(guard);
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        n += 1;
        let phase_note = format!("{} (access {access:?})", app.shape.label);
        if access.writes && n.is_multiple_of(5) {
            let value = format!("{}-insert-{n}", app.shape.label);
            let email = format!("{}-{n}@apps.example", app.shape.label.replace(' ', "-"));
            match sqlx::query_scalar::<_, i64>(app.shape.insert)
                .bind(&value)
                .bind(&email)
                .fetch_one(&pool)
                .await
            {
                Ok(id) => {
                    report.writes += 1;
                    report.inserted.push(id);
                    expected.lock().unwrap().insert(id, Entry { version: 1, in_flight: false, value });
                }
                Err(e) => report.errors.push(format!("{phase_note}: insert: {e}")),
            }
        } else if access.writes && n % 5 < 3 {
            let id = random_id(app.parity);
            let value = format!("{}-update-{n}", app.shape.label);
            mark(&expected, id, None);
            let res = sqlx::query(app.shape.update).bind(&value).bind(id).execute(&pool).await;
            match res {
                Ok(done) if done.rows_affected() == 1 => {
                    report.writes += 1;
                    mark(&expected, id, Some(value.clone()));
                    if access.reads {
                        read_and_check(&pool, &app, id, &expected, &mut report, &phase_note).await;
                    }
                }
                Ok(done) => report
                    .errors
                    .push(format!("{phase_note}: update of id {id} hit {} rows", done.rows_affected())),
                Err(e) => report.errors.push(format!("{phase_note}: update id {id}: {e}")),
            }
            if res_failed(&expected, id) {
                // A failed write leaves the old value: clear the in-flight mark without changing it.
                mark(&expected, id, None);
                expected.lock().unwrap().entry(id).or_default().in_flight = false;
            }
        } else if access.reads {
            let id = 1 + (rand::random::<u64>() % ROWS as u64) as i64;
            read_and_check(&pool, &app, id, &expected, &mut report, &phase_note).await;
        }
        drop(guard);
        tokio::task::yield_now().await;
    }
    report
}

fn res_failed(expected: &Expected, id: i64) -> bool {
    expected.lock().unwrap().get(&id).is_some_and(|e| e.in_flight)
}

fn random_id(parity: i64) -> i64 {
    let id = 1 + (rand::random::<u64>() % (ROWS as u64 - 1)) as i64;
    if id % 2 == parity {
        id
    } else {
        id + 1
    }
}

/// Before a write: mark in flight. After: store the value and clear the mark.
fn mark(expected: &Expected, id: i64, value: Option<String>) {
    let mut map = expected.lock().unwrap();
    let entry = map.entry(id).or_default();
    entry.version += 1;
    match value {
        None => entry.in_flight = true,
        Some(v) => {
            entry.value = v;
            entry.in_flight = false;
        }
    }
}

async fn read_and_check(
    pool: &PgPool,
    app: &App,
    id: i64,
    expected: &Expected,
    report: &mut Report,
    phase_note: &str,
) {
    let before = snapshot(expected, id);
    let row =
        sqlx::query_as::<_, (Option<String>, Option<bool>)>(app.shape.read).bind(id).fetch_one(pool).await;
    let after = snapshot(expected, id);
    match row {
        Ok((value, complete)) => {
            report.reads += 1;
            if complete != Some(true) {
                report.errors.push(format!("{phase_note}: id {id} is missing a value this app relies on"));
            }
            if let (Some((v1, false, want)), Some((v2, false, _))) = (&before, &after) {
                if v1 == v2 && value.as_deref() != Some(want.as_str()) {
                    report
                        .errors
                        .push(format!("{phase_note}: id {id} read {value:?}, last written {want:?}"));
                }
            }
        }
        Err(e) => report.errors.push(format!("{phase_note}: read id {id}: {e}")),
    }
}

fn snapshot(expected: &Expected, id: i64) -> Option<(u64, bool, String)> {
    expected.lock().unwrap().get(&id).map(|e| (e.version, e.in_flight, e.value.clone()))
}

fn access_of(compat: &AppCompat) -> (Access, Access) {
    (
        Access { reads: compat.old_app.reads, writes: compat.old_app.writes },
        Access { reads: compat.new_app.reads, writes: compat.new_app.writes },
    )
}

async fn set_gate(gate: &RwLock<Access>, access: Access) {
    // Taking the write lock waits for the app's in-flight operation to finish.
    *gate.write().await = access;
}

/// Step `plan_name` through every phase with both apps running; `final_read` reads an id
/// through the final shape.
async fn zero_downtime(plan_name: &str, old: &'static Shape, new: &'static Shape, final_read: &str) {
    let db = example_db(ROWS as u32).await;
    let plan = plan(plan_name);
    let expected: Expected = Arc::new(Mutex::new(
        (1..=ROWS)
            .map(|id| (id, Entry { version: 0, in_flight: false, value: format!("user-{id}") }))
            .collect(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let old_app = Arc::new(App { shape: old, gate: Arc::new(RwLock::new(Access::FULL)), parity: 0 });
    let new_app = Arc::new(App { shape: new, gate: Arc::new(RwLock::new(Access::NONE)), parity: 1 });
    let apps_pool = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&db.url).await.unwrap();
    let old_task = tokio::spawn(run_app(apps_pool.clone(), old_app.clone(), expected.clone(), stop.clone()));
    let new_task = tokio::spawn(run_app(apps_pool.clone(), new_app.clone(), expected.clone(), stop.clone()));

    let (mut old_access, mut new_access) = (Access::FULL, Access::NONE);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for phase in &plan.plan.phases {
        let (old_next, new_next) = access_of(&phase.compat);
        // An app that the next phase does not support stops before it runs.
        set_gate(&old_app.gate, old_access.meet(old_next)).await;
        set_gate(&new_app.gate, new_access.meet(new_next)).await;
        if phase.phase == PhaseKind::Contract {
            assert_eq!(verify(&db, &plan).await, Vec::<String>::new(), "{plan_name}: verify before contract");
        }
        if phase.phase == PhaseKind::Backfill {
            apply_backfill(&db, &plan).await;
        } else {
            apply(&db, &plan, phase.phase)
                .await
                .unwrap_or_else(|e| panic!("{plan_name}: apply {}: {e:#}", phase.phase));
        }
        (old_access, new_access) = (old_next, new_next);
        set_gate(&old_app.gate, old_access).await;
        set_gate(&new_app.gate, new_access).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let old_report = old_task.await.unwrap();
    let new_report = new_task.await.unwrap();
    eprintln!(
        "{plan_name}: old app {} writes / {} reads, new app {} writes / {} reads, 0 errors expected",
        old_report.writes, old_report.reads, new_report.writes, new_report.reads
    );
    assert_eq!(old_report.errors, Vec::<String>::new(), "{plan_name}: old app errors");
    assert_eq!(new_report.errors, Vec::<String>::new(), "{plan_name}: new app errors");
    assert!(old_report.writes > 20 && old_report.reads > 20, "{plan_name}: old app ran: {old_report:?}");
    assert!(new_report.writes > 20 && new_report.reads > 20, "{plan_name}: new app ran: {new_report:?}");

    // No row lost, every row holds the value last written through either app.
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&db.pool).await.unwrap();
    let inserted = (old_report.inserted.len() + new_report.inserted.len()) as i64;
    assert_eq!(count, ROWS + inserted, "{plan_name}: row count");
    let rows: Vec<(i64, Option<String>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(final_read.to_string())).fetch_all(&db.pool).await.unwrap();
    let expected: HashMap<i64, String> =
        expected.lock().unwrap().iter().map(|(id, e)| (*id, e.value.clone())).collect();
    let mut wrong = Vec::new();
    for (id, value) in &rows {
        match expected.get(id) {
            Some(e) if value.as_deref() == Some(e.as_str()) => {}
            Some(e) => wrong.push(format!("id {id}: {value:?}, last written {e:?}")),
            None => wrong.push(format!("id {id}: unexpected row")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{plan_name}: {} rows differ, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert_eq!(rows.len(), expected.len(), "{plan_name}: every written row is there");
    apps_pool.close().await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_column_with_both_apps_running() {
    static NEW: Shape = Shape {
        label: "new app",
        insert: "INSERT INTO users (email, full_name, legacy_flag) VALUES ($2, $1, false) RETURNING id",
        update: "UPDATE users SET full_name = $1 WHERE id = $2",
        read: "SELECT full_name::text, true FROM users WHERE id = $1",
    };
    zero_downtime("rename_users_name", &OLD_NAME, &NEW, "SELECT id, full_name::text FROM users").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_not_null_column_with_computed_backfill_with_both_apps_running() {
    static NEW: Shape = Shape {
        label: "new app",
        insert: "INSERT INTO users (email, name, legacy_flag, email_verified) VALUES ($2, $1, false, false) RETURNING id",
        update: "UPDATE users SET name = $1, email_verified = true WHERE id = $2",
        read: "SELECT name::text, email_verified IS NOT NULL FROM users WHERE id = $1",
    };
    zero_downtime("add_users_email_verified", &OLD_NAME, &NEW, "SELECT id, name::text FROM users").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_column_with_both_apps_running() {
    static NEW: Shape = Shape {
        label: "new app",
        insert: "INSERT INTO users (email, name) VALUES ($2, $1) RETURNING id",
        update: "UPDATE users SET name = $1 WHERE id = $2",
        read: "SELECT name::text, true FROM users WHERE id = $1",
    };
    zero_downtime("drop_users_legacy_flag", &OLD_NAME, &NEW, "SELECT id, name::text FROM users").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_not_null_with_both_apps_running() {
    // The old app never sets email (NULLIF($2, $2) is NULL); the fill trigger covers it.
    static OLD: Shape = Shape {
        label: "old app",
        insert:
            "INSERT INTO users (email, name, legacy_flag) VALUES (NULLIF($2, $2), $1, false) RETURNING id",
        update: "UPDATE users SET name = $1 WHERE id = $2",
        read: "SELECT name::text, true FROM users WHERE id = $1",
    };
    static NEW: Shape = Shape {
        label: "new app",
        insert: "INSERT INTO users (email, name, legacy_flag) VALUES ($2, $1, false) RETURNING id",
        update: "UPDATE users SET name = $1 WHERE id = $2",
        read: "SELECT name::text, email IS NOT NULL FROM users WHERE id = $1",
    };
    zero_downtime("set_not_null_users_email", &OLD, &NEW, "SELECT id, name::text FROM users").await;
}
