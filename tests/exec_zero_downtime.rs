//! The headline test: for each change kind (and a two-change plan on one table), an "old app" and
//! a "new app" write the same rows concurrently while expand -> backfill -> verify -> contract run
//! on a 50,000-row table. Their connections run with `lock_timeout` and `statement_timeout`, so a
//! step that blocks them is an error, not a slow query. Each app runs only in the phases the
//! plan's `compat` promises; per phase it must have done work, never failed, and never waited
//! longer than its lock_timeout + 1 s. Half of the updates go to rows just above the key the
//! backfill has reached (read from planner.backfill_progress). At the end every row's **new**
//! column must hold what the plan's rules say: the renamed column's last write, the fill
//! expression over the last written sources, or the new app's explicit value.

mod common;
mod exec_support;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exec_support::*;
use planner::plan::{AppCompat, PhaseKind};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool};
use tokio::sync::RwLock;

const ROWS: i64 = 50_000;
/// The apps' own limits: a planner step that holds them longer is an error they would see.
const APP_LOCK_TIMEOUT: Duration = Duration::from_secs(1);
const APP_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Row locks the test takes so that "the last write of a row" is well defined (writes to one row
/// are serialized by the test; rows, apps and planner still run concurrently).
const STRIPES: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Old,
    New,
}

/// What the new column of a row must hold, and the sources it is computed from.
#[derive(Clone, Debug, Default)]
struct Row {
    /// The text the final query must return for this row.
    expected: String,
    /// Whatever else a case tracks per row (whether the source is set); empty for a new row.
    source: String,
}

/// One app version's statements. Update: `$1` value, `$2` id. Insert: `$1` value, `$2` email.
struct Shape {
    insert: &'static str,
    update: &'static str,
}

/// A plan, the two apps' shapes, and the rules the final state must satisfy.
struct Case {
    plan: &'static str,
    old: Shape,
    new: Shape,
    /// The row's state before any app wrote it.
    initial: fn(id: i64) -> Row,
    /// How a write of `value` by `who` changes the row's expected state.
    write: fn(row: &mut Row, who: Who, value: &str, id: i64),
    /// `SELECT id, <new column as text>` over every row after contract.
    final_query: &'static str,
}

#[derive(Default, Debug, Clone)]
struct PhaseStats {
    writes: u64,
    max_latency: Duration,
}

#[derive(Default, Debug)]
struct Report {
    by_phase: BTreeMap<usize, PhaseStats>,
    inserted: Vec<i64>,
    errors: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Access {
    writes: bool,
}

struct Shared {
    rows: Mutex<HashMap<i64, Row>>,
    stripes: Vec<tokio::sync::Mutex<()>>,
    /// Index into PHASE_NAMES of the phase being applied (or just applied).
    phase: AtomicUsize,
    /// The key the backfill has reached (0 before it starts).
    backfill_key: AtomicI64,
    stop: AtomicBool,
}

const PHASE_NAMES: [&str; 7] =
    ["before", "expand", "after expand", "backfill", "after backfill", "contract", "after contract"];

async fn run_app(
    pool: PgPool,
    who: Who,
    case: &'static Case,
    gate: Arc<RwLock<Access>>,
    shared: Arc<Shared>,
) -> Report {
    let shape = if who == Who::Old { &case.old } else { &case.new };
    let label = if who == Who::Old { "old app" } else { "new app" };
    let mut report = Report::default();
    let mut n: u64 = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        let guard = gate.read().await;
        if !guard.writes {
            drop(guard);
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        n += 1;
        let phase = shared.phase.load(Ordering::Relaxed);
        let started = Instant::now();
        let value = format!("{label}-{n}");
        let outcome = if n.is_multiple_of(5) {
            let email = format!("{}-{n}@apps.example", label.replace(' ', "-"));
            match sqlx::query_scalar::<_, i64>(shape.insert).bind(&value).bind(&email).fetch_one(&pool).await
            {
                Ok(id) => {
                    let mut row = Row::default();
                    (case.write)(&mut row, who, &value, id);
                    shared.rows.lock().unwrap().insert(id, row);
                    report.inserted.push(id);
                    Ok(())
                }
                Err(e) => Err(format!("insert: {e}")),
            }
        } else {
            let id = pick_row(&shared);
            let _row_lock = shared.stripes[(id as usize) % STRIPES].lock().await;
            match sqlx::query(shape.update).bind(&value).bind(id).execute(&pool).await {
                Ok(done) if done.rows_affected() == 1 => {
                    let mut rows = shared.rows.lock().unwrap();
                    let row = rows.entry(id).or_insert_with(|| (case.initial)(id));
                    (case.write)(row, who, &value, id);
                    Ok(())
                }
                Ok(done) => Err(format!("update of id {id} hit {} rows", done.rows_affected())),
                Err(e) => Err(format!("update id {id}: {e}")),
            }
        };
        let elapsed = started.elapsed();
        let stats = report.by_phase.entry(phase).or_default();
        stats.max_latency = stats.max_latency.max(elapsed);
        match outcome {
            Ok(()) => stats.writes += 1,
            Err(e) => report.errors.push(format!("{label} during {}: {e}", PHASE_NAMES[phase])),
        }
        drop(guard);
        tokio::task::yield_now().await;
    }
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

/// Follow the backfill's checkpoint so the apps can aim at the rows it is about to fill.
async fn watch_backfill(pool: PgPool, plan: &'static str, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        let key: Option<Option<String>> =
            sqlx::query_scalar("SELECT last_key ->> 0 FROM planner.backfill_progress WHERE plan = $1")
                .bind(plan)
                .fetch_optional(&pool)
                .await
                .unwrap_or(None);
        if let Some(k) = key.flatten().and_then(|k| k.parse::<i64>().ok()) {
            shared.backfill_key.store(k, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn writes_of(compat: &AppCompat) -> (Access, Access) {
    (Access { writes: compat.old_app.writes }, Access { writes: compat.new_app.writes })
}

/// The apps' pool: every connection has the apps' lock_timeout and statement_timeout.
async fn app_pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(4)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "SET lock_timeout = '{}ms'; SET statement_timeout = '{}ms'",
                    APP_LOCK_TIMEOUT.as_millis(),
                    APP_STATEMENT_TIMEOUT.as_millis()
                )))
                .await?;
                Ok(())
            })
        })
        .connect(url)
        .await
        .expect("apps' pool")
}

async fn zero_downtime(case: &'static Case) {
    let db = example_db(ROWS as u32).await;
    let plan = plan(case.plan);
    let shared = Arc::new(Shared {
        rows: Mutex::new(HashMap::new()),
        stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        phase: AtomicUsize::new(0),
        backfill_key: AtomicI64::new(0),
        stop: AtomicBool::new(false),
    });
    let old_gate = Arc::new(RwLock::new(Access { writes: true }));
    let new_gate = Arc::new(RwLock::new(Access { writes: false }));
    let pool = app_pool(&db.url).await;
    let old_task = tokio::spawn(run_app(pool.clone(), Who::Old, case, old_gate.clone(), shared.clone()));
    let new_task = tokio::spawn(run_app(pool.clone(), Who::New, case, new_gate.clone(), shared.clone()));
    let watcher = tokio::spawn(watch_backfill(db.pool.clone(), case.plan, shared.clone()));

    // Which app may write in each window of PHASE_NAMES (the gate of the phase being applied is
    // the meet of before and after: an app the next phase does not support stops first).
    let mut promised: Vec<(Access, Access)> = vec![(Access { writes: true }, Access { writes: false })];
    let (mut old_access, mut new_access) = (Access { writes: true }, Access { writes: false });
    tokio::time::sleep(Duration::from_millis(300)).await;
    for phase in &plan.plan.phases {
        let index = match phase.phase {
            PhaseKind::Expand => 1,
            PhaseKind::Backfill => 3,
            PhaseKind::Contract => 5,
        };
        let (old_next, new_next) = writes_of(&phase.compat);
        let during = (
            Access { writes: old_access.writes && old_next.writes },
            Access { writes: new_access.writes && new_next.writes },
        );
        *old_gate.write().await = during.0;
        *new_gate.write().await = during.1;
        // Windows of phases this plan does not have are never entered: nothing promised there.
        while promised.len() < index {
            promised.push((Access { writes: false }, Access { writes: false }));
        }
        promised.push(during);
        shared.phase.store(index, Ordering::Relaxed);
        if phase.phase == PhaseKind::Contract {
            assert_eq!(
                verify(&db, &plan).await,
                Vec::<String>::new(),
                "{}: verify before contract",
                case.plan
            );
        }
        if phase.phase == PhaseKind::Backfill {
            apply_backfill(&db, &plan).await;
        } else {
            apply(&db, &plan, phase.phase)
                .await
                .unwrap_or_else(|e| panic!("{}: apply {}: {e:#}", case.plan, phase.phase));
        }
        (old_access, new_access) = (old_next, new_next);
        *old_gate.write().await = old_access;
        *new_gate.write().await = new_access;
        promised.push((old_access, new_access));
        shared.phase.store(index + 1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    shared.stop.store(true, Ordering::Relaxed);
    let old = old_task.await.unwrap();
    let new = new_task.await.unwrap();
    watcher.await.unwrap();

    for (who, report) in [("old app", &old), ("new app", &new)] {
        eprintln!(
            "{}: {who}: {:?}",
            case.plan,
            report
                .by_phase
                .iter()
                .map(|(p, s)| (PHASE_NAMES[*p], s.writes, s.max_latency))
                .collect::<Vec<_>>()
        );
        assert_eq!(report.errors, Vec::<String>::new(), "{}: {who} errors", case.plan);
        for (window, stats) in &report.by_phase {
            assert!(
                stats.max_latency < APP_LOCK_TIMEOUT + Duration::from_secs(1),
                "{}: {who} waited {:?} during {}",
                case.plan,
                stats.max_latency,
                PHASE_NAMES[*window]
            );
        }
    }
    // Every window where an app is promised to write, it did (a gate that never opened would pass
    // every other check).
    for (window, (old_promise, new_promise)) in promised.iter().enumerate() {
        for (who, promise, report) in [("old app", old_promise, &old), ("new app", new_promise, &new)] {
            let writes = report.by_phase.get(&window).map(|s| s.writes).unwrap_or(0);
            if promise.writes && PHASE_NAMES[window] != "before" {
                assert!(writes > 0, "{}: {who} made no write during {}", case.plan, PHASE_NAMES[window]);
            }
        }
    }

    // No row lost; every row's new column holds what the rules say.
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&db.pool).await.unwrap();
    let inserted = (old.inserted.len() + new.inserted.len()) as i64;
    assert_eq!(count, ROWS + inserted, "{}: row count", case.plan);
    let rows: Vec<(i64, Option<String>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(case.final_query)).fetch_all(&db.pool).await.unwrap();
    let model: HashMap<i64, Row> = shared.rows.lock().unwrap().clone();
    let mut wrong = Vec::new();
    for (id, value) in &rows {
        let want = model.get(id).map(|r| r.expected.clone()).unwrap_or_else(|| (case.initial)(*id).expected);
        if value.as_deref() != Some(want.as_str()) {
            wrong.push(format!("id {id}: {value:?}, rules say {want:?}"));
        }
    }
    let touched = model.len();
    assert!(
        wrong.is_empty(),
        "{}: {} of {} rows wrong, e.g. {:?}",
        case.plan,
        wrong.len(),
        rows.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert!(touched > 100, "{}: the apps wrote only {touched} rows", case.plan);
    pool.close().await;
    db.drop().await;
}

/// The example data: `user-<id>`, verified when the id is even (see exec_support::example_db).
fn user_name(id: i64) -> Row {
    Row { expected: format!("user-{id}"), source: String::new() }
}

fn last_name(row: &mut Row, _who: Who, value: &str, _id: i64) {
    row.expected = value.to_string();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_column_with_both_apps_writing_the_same_rows() {
    static CASE: Case = Case {
        plan: "rename_users_name",
        old: Shape {
            insert: "INSERT INTO users (email, name, legacy_flag) VALUES ($2, $1, false) RETURNING id",
            update: "UPDATE users SET name = $1 WHERE id = $2",
        },
        new: Shape {
            insert: "INSERT INTO users (email, full_name, legacy_flag) VALUES ($2, $1, false) RETURNING id",
            update: "UPDATE users SET full_name = $1 WHERE id = $2",
        },
        initial: user_name,
        write: last_name,
        final_query: "SELECT id, full_name::text FROM users",
    };
    zero_downtime(&CASE).await;
}

/// email_verified = (verified_at IS NOT NULL), recomputed on every old-app write of verified_at;
/// the new app's explicit value is kept until a later write changes verified_at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_derived_not_null_column_follows_every_old_app_write_of_its_source() {
    fn initial(id: i64) -> Row {
        let verified = id % 2 == 0;
        Row { expected: verified.to_string(), source: if verified { "set" } else { "clear" }.into() }
    }
    fn write(row: &mut Row, who: Who, value: &str, _id: i64) {
        let odd = value.rsplit('-').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0) % 2 == 1;
        match who {
            // Sets verified_at (to now(): a new value every time) for odd n, clears it for even n.
            // Only a change of the source recomputes: NULL -> NULL leaves an explicit value alone.
            Who::Old => {
                let source = if odd { "set" } else { "clear" };
                if source == "set" || row.source != source || row.expected.is_empty() {
                    row.expected = odd.to_string();
                }
                row.source = source.into();
            }
            // Writes email_verified explicitly (true for odd n); verified_at untouched.
            Who::New => {
                row.expected = odd.to_string();
                if row.source.is_empty() {
                    row.source = "clear".into();
                }
            }
        }
    }
    static CASE: Case = Case {
        plan: "add_users_email_verified",
        old: Shape {
            insert: "INSERT INTO users (email, name, legacy_flag, verified_at)
                     VALUES ($2, $1, false, CASE WHEN split_part($1, '-', 2)::int % 2 = 1 THEN now() END) RETURNING id",
            update: "UPDATE users SET verified_at = CASE WHEN split_part($1, '-', 2)::int % 2 = 1 THEN now() END, name = $1 WHERE id = $2",
        },
        new: Shape {
            insert: "INSERT INTO users (email, name, legacy_flag, email_verified)
                     VALUES ($2, $1, false, split_part($1, '-', 2)::int % 2 = 1) RETURNING id",
            update: "UPDATE users SET email_verified = split_part($1, '-', 2)::int % 2 = 1, name = $1 WHERE id = $2",
        },
        initial,
        write,
        final_query: "SELECT id, email_verified::text FROM users",
    };
    zero_downtime(&CASE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_column_with_both_apps_writing_the_same_rows() {
    static CASE: Case = Case {
        plan: "drop_users_legacy_flag",
        old: Shape {
            insert: "INSERT INTO users (email, name, legacy_flag) VALUES ($2, $1, false) RETURNING id",
            update: "UPDATE users SET name = $1, legacy_flag = NOT legacy_flag WHERE id = $2",
        },
        new: Shape {
            insert: "INSERT INTO users (email, name) VALUES ($2, $1) RETURNING id",
            update: "UPDATE users SET name = $1 WHERE id = $2",
        },
        initial: user_name,
        write: last_name,
        final_query: "SELECT id, name::text FROM users",
    };
    zero_downtime(&CASE).await;
}

/// NULL writes of email (the old app's) are filled with the backfill expression over the row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_not_null_fills_every_null_write_of_either_app() {
    fn initial(id: i64) -> Row {
        let email =
            if id % 3 == 0 { format!("unknown+{id}@example.invalid") } else { format!("u{id}@example.com") };
        Row { expected: email, source: String::new() }
    }
    fn write(row: &mut Row, who: Who, value: &str, id: i64) {
        row.expected = match who {
            Who::Old => format!("unknown+{id}@example.invalid"),
            Who::New => format!("{value}@new.example"),
        };
    }
    static CASE: Case = Case {
        plan: "set_not_null_users_email",
        old: Shape {
            insert: "INSERT INTO users (email, name, legacy_flag) VALUES (NULLIF($2, $2), $1, false) RETURNING id",
            update: "UPDATE users SET email = NULL, name = $1 WHERE id = $2",
        },
        new: Shape {
            insert: "INSERT INTO users (email, name, legacy_flag) VALUES ($1 || '@new.example', $1, false) RETURNING id",
            update: "UPDATE users SET email = $1 || '@new.example', name = $1 WHERE id = $2",
        },
        initial,
        write,
        final_query: "SELECT id, email::text FROM users",
    };
    zero_downtime(&CASE).await;
}

/// Two changes on one table: the rename's part runs first, so name_len follows every write of
/// name (old app) and of full_name (new app).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_and_a_column_derived_from_it_in_one_plan() {
    fn initial(id: i64) -> Row {
        let name = format!("user-{id}");
        Row { expected: format!("{name}|{}", name.len()), source: String::new() }
    }
    fn write(row: &mut Row, _who: Who, value: &str, _id: i64) {
        row.expected = format!("{value}|{}", value.chars().count());
    }
    static CASE: Case = Case {
        plan: "rename_users_name_with_length",
        old: Shape {
            insert: "INSERT INTO users (email, name, legacy_flag) VALUES ($2, $1, false) RETURNING id",
            update: "UPDATE users SET name = $1 WHERE id = $2",
        },
        // The new app knows name_len: once contract drops the trigger, nobody else fills it.
        new: Shape {
            insert: "INSERT INTO users (email, full_name, name_len, legacy_flag) VALUES ($2, $1, length($1), false) RETURNING id",
            update: "UPDATE users SET full_name = $1, name_len = length($1) WHERE id = $2",
        },
        initial,
        write,
        final_query: "SELECT id, full_name || '|' || name_len FROM users",
    };
    zero_downtime(&CASE).await;
}
