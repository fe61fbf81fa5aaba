//! change_type under traffic: integer -> bigint on `tickets.id` (serial primary key) which
//! `ticket_events.ticket_id` references with ON DELETE CASCADE. Two apps write both tables through
//! every phase (expand, backfill, verify, contract) with lock_timeout and statement_timeout on
//! their connections, on sqlx's prepared statements (extended protocol): inserts that use the
//! sequence, updates of both tables (an event moved to another ticket), deletes that cascade.
//! Each app owns its rows, so the last write of every row is known: at the end every row holds
//! it, no row is lost or left behind, no event is an orphan, both columns are bigint, the sequence
//! is ahead of every id and an id above 2^31 is accepted. Other tests kill the backfill with
//! SIGKILL half-way through each table, resume it and compare checksums with an uninterrupted run,
//! and check the refusals (rows that do not convert, converted values that differ, bad input).

mod common;
mod exec_support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use exec_support::*;
use planner::plan::PhaseKind;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool};

const TICKETS: i64 = 20_000;
const EVENTS: i64 = 40_000;
const PLAN: &str = "change_type_tickets_id";

async fn ticket_db() -> common::TestDb {
    let db = example_db(10).await;
    db.exec(&format!(
        "INSERT INTO tickets (code, opened_at) SELECT ' ' || g || ' ', timestamp '2025-01-01' + g * interval '1 minute'
           FROM generate_series(1, {TICKETS}) g;
         INSERT INTO ticket_events (ticket_id, note) SELECT (g % {TICKETS}) + 1, 'e' || g FROM generate_series(1, {EVENTS}) g;
         ANALYZE tickets; ANALYZE ticket_events;"
    ))
    .await;
    db
}

async fn app_pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET lock_timeout = '1s'; SET statement_timeout = '5s'").await?;
                Ok(())
            })
        })
        .connect(url)
        .await
        .expect("app pool")
}

/// What one app wrote last to the rows it owns.
#[derive(Default)]
struct Model {
    tickets: HashMap<i64, String>,
    events: HashMap<i64, i64>,
    deleted_tickets: HashSet<i64>,
    deleted_events: HashSet<i64>,
    /// Its own inserted tickets still alive (the only ones it deletes).
    own: Vec<i64>,
    writes: usize,
    errors: Vec<String>,
}

/// App `parity` (0 or 1) owns the initial tickets and events whose id has that parity, and the
/// rows it inserts; its events only ever point at its own tickets.
async fn run_app(pool: PgPool, parity: i64, stop: Arc<AtomicBool>, phase: Arc<AtomicUsize>) -> Model {
    let mut m = Model::default();
    let mut n: i64 = 0;
    let phases = ["before", "expand", "backfill", "contract", "after"];
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let during = phases[phase.load(Ordering::Relaxed)];
        let initial_ticket = || {
            let k = (rand::random::<u64>() % (TICKETS as u64 / 2)) as i64;
            2 * k + if parity == 0 { 2 } else { 1 }
        };
        let result: Result<(), String> = match n % 6 {
            0 => {
                let code = format!("app{parity}-{n}");
                match sqlx::query_scalar::<_, i64>(
                    "INSERT INTO tickets (code) VALUES ($1) RETURNING id::bigint",
                )
                .bind(&code)
                .fetch_one(&pool)
                .await
                {
                    Ok(id) => {
                        m.tickets.insert(id, code);
                        m.own.push(id);
                        Ok(())
                    }
                    Err(e) => Err(format!("insert ticket: {e}")),
                }
            }
            1 => {
                let target = match m.own.last() {
                    Some(t) if n % 4 == 1 => *t,
                    _ => initial_ticket(),
                };
                let note = format!("app{parity}-{n}");
                match sqlx::query_scalar::<_, i64>(
                    "INSERT INTO ticket_events (ticket_id, note) VALUES ($1, $2) RETURNING id::bigint",
                )
                .bind(target)
                .bind(&note)
                .fetch_one(&pool)
                .await
                {
                    Ok(id) => {
                        m.events.insert(id, target);
                        Ok(())
                    }
                    Err(e) => Err(format!("insert event: {e}")),
                }
            }
            2 | 3 => {
                let id = initial_ticket();
                let code = format!("app{parity}-{n}");
                match sqlx::query("UPDATE tickets SET code = $1 WHERE id = $2")
                    .bind(&code)
                    .bind(id)
                    .execute(&pool)
                    .await
                {
                    Ok(r) if r.rows_affected() == 1 => {
                        m.tickets.insert(id, code);
                        Ok(())
                    }
                    Ok(r) => Err(format!("update ticket {id} hit {} rows", r.rows_affected())),
                    Err(e) => Err(format!("update ticket {id}: {e}")),
                }
            }
            4 => {
                // Move one of its initial events to another of its initial tickets.
                let k = (rand::random::<u64>() % (EVENTS as u64 / 2)) as i64;
                let event = 2 * k + if parity == 0 { 2 } else { 1 };
                let target = initial_ticket();
                match sqlx::query("UPDATE ticket_events SET ticket_id = $1 WHERE id = $2")
                    .bind(target)
                    .bind(event)
                    .execute(&pool)
                    .await
                {
                    Ok(r) if r.rows_affected() == 1 => {
                        m.events.insert(event, target);
                        Ok(())
                    }
                    Ok(r) => Err(format!("update event {event} hit {} rows", r.rows_affected())),
                    Err(e) => Err(format!("update event {event}: {e}")),
                }
            }
            _ => match m.own.pop() {
                // Delete its oldest-but-one inserted ticket: the cascade takes its events along.
                Some(id) => {
                    match sqlx::query("DELETE FROM tickets WHERE id = $1").bind(id).execute(&pool).await {
                        Ok(r) if r.rows_affected() == 1 => {
                            m.tickets.remove(&id);
                            m.deleted_tickets.insert(id);
                            let gone: Vec<i64> =
                                m.events.iter().filter(|(_, t)| **t == id).map(|(e, _)| *e).collect();
                            for e in gone {
                                m.events.remove(&e);
                                m.deleted_events.insert(e);
                            }
                            Ok(())
                        }
                        Ok(r) => Err(format!("delete ticket {id} hit {} rows", r.rows_affected())),
                        Err(e) => Err(format!("delete ticket {id}: {e}")),
                    }
                }
                None => Ok(()),
            },
        };
        match result {
            Ok(()) => m.writes += 1,
            Err(e) => m.errors.push(format!("app {parity} during {during}: {e}")),
        }
        tokio::task::yield_now().await;
    }
    m
}

/// The swap locks two tables that the apps lock in both orders (an event insert checks its
/// ticket; a ticket delete cascades to its events): planner's lock_timeout must stay below the
/// apps' (1s here) so that planner, not an app, gives up and retries when they meet.
fn swap_locks() -> planner::exec::SessionOptions {
    planner::exec::SessionOptions { lock_timeout: Duration::from_millis(200), retries: 30, ..fast_locks() }
}

async fn apply_with(db: &common::TestDb, plan: &planner::exec::LoadedPlan, phase: PhaseKind) {
    let mut s = planner::exec::Session::open(&db.url, swap_locks()).await.expect("session");
    planner::exec::apply_phase(&mut s, plan, phase, &planner::exec::ApplyOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{phase}: {e:#}"));
    s.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serial_key_and_its_foreign_key_become_bigint_while_both_tables_are_written() {
    let db = ticket_db().await;
    let plan = plan(PLAN);
    let stop = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(AtomicUsize::new(0));
    let apps: Vec<_> = (0..2)
        .map(|parity| {
            let (stop, phase, url) = (stop.clone(), phase.clone(), db.url.clone());
            tokio::spawn(async move { run_app(app_pool(&url).await, parity, stop, phase).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    phase.store(1, Ordering::Relaxed);
    apply_with(&db, &plan, PhaseKind::Expand).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    phase.store(2, Ordering::Relaxed);
    apply_backfill(&db, &plan).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    phase.store(3, Ordering::Relaxed);
    let failures = verify(&db, &plan).await;
    assert!(failures.is_empty(), "verify before contract: {failures:?}");
    apply_with(&db, &plan, PhaseKind::Contract).await;
    phase.store(4, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut models = Vec::new();
    for app in apps {
        models.push(app.await.expect("app task"));
    }
    let errors: Vec<&String> = models.iter().flat_map(|m| &m.errors).collect();
    assert!(errors.is_empty(), "app errors: {errors:#?}");
    for (i, m) in models.iter().enumerate() {
        assert!(m.writes > 200, "app {i} wrote only {} times", m.writes);
    }

    // Every row holds its last write; nothing lost, nothing extra.
    let tickets: Vec<(i64, String)> = sqlx::query_as("SELECT id, code FROM tickets ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .expect("tickets");
    let events: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id::bigint, ticket_id FROM ticket_events ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .expect("events");
    let owner = |id: i64| &models[(id % 2 == 1) as usize];
    let mut expected_tickets: HashMap<i64, String> = (1..=TICKETS)
        .map(|id| (id, owner(id).tickets.get(&id).cloned().unwrap_or(format!(" {id} "))))
        .collect();
    let mut expected_events: HashMap<i64, i64> = (1..=EVENTS)
        .map(|id| (id, owner(id).events.get(&id).copied().unwrap_or((id % TICKETS) + 1)))
        .collect();
    for m in &models {
        expected_tickets.extend(m.tickets.iter().map(|(k, v)| (*k, v.clone())));
        for (e, t) in &m.events {
            if *e > EVENTS || expected_events.contains_key(e) {
                expected_events.insert(*e, *t);
            }
        }
        for d in &m.deleted_tickets {
            expected_tickets.remove(d);
        }
        for d in &m.deleted_events {
            expected_events.remove(d);
        }
    }
    // Initial events pointing at an initial ticket are never deleted (apps delete their own
    // inserted tickets only); an app's own event that pointed at its deleted ticket went with it.
    let actual_tickets: HashMap<i64, String> = tickets.into_iter().collect();
    let actual_events: HashMap<i64, i64> = events.into_iter().collect();
    assert_eq!(actual_tickets.len(), expected_tickets.len(), "ticket count");
    for (id, code) in &expected_tickets {
        assert_eq!(actual_tickets.get(id), Some(code), "ticket {id}");
    }
    assert_eq!(actual_events.len(), expected_events.len(), "event count");
    for (id, t) in &expected_events {
        assert_eq!(actual_events.get(id), Some(t), "event {id}");
    }
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ticket_events e LEFT JOIN tickets t ON t.id = e.ticket_id WHERE t.id IS NULL",
    )
    .fetch_one(&db.pool)
    .await
    .expect("orphans");
    assert_eq!(orphans, 0, "events without their ticket");

    // The new shape, and ids past the old type's limit.
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT attrelid::regclass::text || '.' || attname, format_type(atttypid, atttypmod) FROM pg_attribute
          WHERE attrelid IN ('tickets'::regclass, 'ticket_events'::regclass) AND attname IN ('id', 'ticket_id')
            AND NOT attisdropped ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .expect("types");
    assert_eq!(
        types,
        [
            ("ticket_events.id".to_string(), "integer".to_string()),
            ("ticket_events.ticket_id".to_string(), "bigint".to_string()),
            ("tickets.id".to_string(), "bigint".to_string()),
        ]
    );
    let valid: Vec<(String, bool)> = sqlx::query_as(
        "SELECT conname::text, convalidated FROM pg_constraint WHERE conrelid IN ('tickets'::regclass, 'ticket_events'::regclass) AND contype IN ('p', 'f') ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .expect("constraints");
    assert_eq!(
        valid,
        [
            ("ticket_events_pkey".to_string(), true),
            ("ticket_events_ticket_id_fkey".to_string(), true),
            ("tickets_pkey".to_string(), true),
        ]
    );
    let (next, max): (i64, i64) =
        sqlx::query_as("SELECT nextval('tickets_id_seq'), (SELECT max(id) FROM tickets)")
            .fetch_one(&db.pool)
            .await
            .expect("sequence");
    assert!(next > max, "sequence ({next}) must be ahead of every id ({max})");
    let big = (1i64 << 31) + 5;
    db.exec(&format!("INSERT INTO tickets (id, code) VALUES ({big}, 'big'); INSERT INTO ticket_events (ticket_id) VALUES ({big})")).await;
    sqlx::query("SELECT setval('tickets_id_seq', 2147483647)").execute(&db.pool).await.expect("setval");
    let past: i64 = sqlx::query_scalar("INSERT INTO tickets (code) VALUES ('past') RETURNING id")
        .fetch_one(&db.pool)
        .await
        .expect("id past 2^31 from the sequence");
    assert!(past > i32::MAX as i64);
    db.drop().await;
}

/// A checksum of what the backfill writes: every shadow value of both tables.
async fn shadow_checksum(db: &common::TestDb) -> (String, String) {
    let t: String = sqlx::query_scalar("SELECT md5(string_agg(id::text || ':' || coalesce(id_planner::text, '-'), ',' ORDER BY id)) FROM tickets")
        .fetch_one(&db.pool)
        .await
        .expect("tickets checksum");
    let e: String = sqlx::query_scalar("SELECT md5(string_agg(id::text || ':' || coalesce(ticket_id_planner::text, '-'), ',' ORDER BY id)) FROM ticket_events")
        .fetch_one(&db.pool)
        .await
        .expect("events checksum");
    (t, e)
}

#[tokio::test]
async fn backfill_killed_with_sigkill_resumes_to_the_same_checksums() {
    let reference = ticket_db().await;
    let plan = plan(PLAN);
    apply(&reference, &plan, PhaseKind::Expand).await.expect("expand");
    apply_backfill(&reference, &plan).await;
    let expected = shadow_checksum(&reference).await;
    reference.drop().await;

    let db = ticket_db().await;
    apply(&db, &plan, PhaseKind::Expand).await.expect("expand");
    let dir = root().join("plans").join(PLAN);
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_planner"))
            .current_dir(root())
            .env("DATABASE_URL", &db.url)
            .args(["backfill"])
            .arg(&dir)
            .args(["--batch", "500", "--sleep", "20ms", "--progress", "plain"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("planner backfill starts")
    };
    // Kill it half-way through each table in turn: tickets first, then ticket_events.
    for (table, total) in [("public.tickets", TICKETS), ("public.ticket_events", EVENTS)] {
        let mut child = spawn();
        let mut done = 0i64;
        for _ in 0..800 {
            tokio::time::sleep(Duration::from_millis(25)).await;
            done = sqlx::query_scalar(
                "SELECT coalesce(max(rows_done), 0)::int8 FROM planner.backfill_progress WHERE plan = $1 AND table_name = $2",
            )
            .bind(PLAN)
            .bind(table)
            .fetch_one(&db.pool)
            .await
            .unwrap_or(0);
            if done >= 2_000 {
                break;
            }
        }
        kill9(child.id());
        let _ = child.wait();
        assert!(done >= 2_000 && done < total, "{table}: killed half-way ({done} rows done)");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_planner"))
        .current_dir(root())
        .env("DATABASE_URL", &db.url)
        .args(["backfill"])
        .arg(&dir)
        .args(["--progress", "plain"])
        .output()
        .expect("planner backfill resumes");
    assert!(out.status.success(), "resume: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(shadow_checksum(&db).await, expected, "resumed backfill = uninterrupted one");
    let failures = verify(&db, &plan).await;
    assert!(failures.is_empty(), "{failures:?}");
    db.drop().await;
}

/// SIGKILL without a libc dependency: `kill -9 PID`.
fn kill9(pid: u32) {
    let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
}

#[tokio::test]
async fn expand_refuses_while_a_row_does_not_convert_and_names_it() {
    let db = ticket_db().await;
    db.exec("UPDATE tickets SET code = 'x7' WHERE id IN (3, 9)").await;
    let plan = plan("change_type_tickets_code");
    let err = apply(&db, &plan, PhaseKind::Expand).await.expect_err("expand must refuse");
    let text = format!("{err:#}");
    assert!(text.contains("2 rows of public.tickets cannot be converted"), "{text}");
    assert!(text.contains("id=3, 9"), "{text}");
    let shadow: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_attribute WHERE attrelid = 'tickets'::regclass AND attname = 'code_planner'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("catalog");
    assert_eq!(shadow, 0, "nothing changed");
    db.exec("UPDATE tickets SET code = '7' WHERE id IN (3, 9)").await;
    apply(&db, &plan, PhaseKind::Expand).await.expect("expand once every row converts");
    db.drop().await;
}

fn plan_cli(args: &[&str], dir: &std::path::Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_planner"))
        .current_dir(root())
        .env_remove("DATABASE_URL")
        .arg("plan")
        .args(args)
        .args(["--schema", "examples/schema.sql", "--out"])
        .arg(dir)
        .output()
        .expect("planner runs");
    (
        out.status.code(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn bad_change_type_input_is_named_with_a_did_you_mean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out) = plan_cli(&["change-type", "tickets.idd", "bigint"], dir.path());
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("column idd does not exist in table public.tickets (did you mean id?)"), "{out}");
    let (code, out) = plan_cli(&["change-type", "ticket.id", "bigint"], dir.path());
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("did you mean public.tickets?"), "{out}");
    // A plain view over the column is re-created in the swap; the plan says so.
    let planned = tempfile::tempdir().expect("tempdir");
    let (code, out) = plan_cli(
        &["change-type", "users.email", "varchar(100)", "--using", "email::varchar(100)"],
        planned.path(),
    );
    assert_eq!(code, Some(0), "{out}");
    let plan_yaml =
        std::fs::read_to_string(planned.path().join("change_type_users_email/plan.yaml")).expect("plan.yaml");
    assert!(plan_yaml.contains("re-creates view public.verified_users"), "{plan_yaml}");
    let (code, out) = plan_cli(&["change-type", "tickets.id", "integer"], dir.path());
    assert_eq!((code, out.contains("already integer")), (Some(2), true), "{out}");

    let file = dir.path().join("c.yaml");
    std::fs::write(
        &file,
        "name: t\nchanges:\n  - change_type:\n      table: tickets\n      column: id\n      type: bigitn\n",
    )
    .expect("write");
    let (code, out) = plan_cli(&[file.to_str().expect("utf-8")], dir.path());
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("c.yaml:6:") && out.contains("unknown type `bigitn` (did you mean bigint?)"),
        "{out}"
    );
    std::fs::write(&file, "changes:\n  - change_type: { table: tickets, column: code, type: integer, using: \"code::integer; drop table x\" }\n").expect("write");
    let (code, out) = plan_cli(&[file.to_str().expect("utf-8")], dir.path());
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("c.yaml:2:"), "{out}");
    // Nothing was written for any of them.
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "only c.yaml");
}

#[test]
fn shorthand_plans_what_the_change_file_plans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out) =
        plan_cli(&["change-type", "tickets.id", "bigint", "--name", "change_type_tickets_id"], dir.path());
    assert_eq!(code, Some(0), "{out}");
    for file in ["plan.yaml", "expand.up.sql", "contract.up.sql"] {
        let made = std::fs::read_to_string(dir.path().join(PLAN).join(file)).expect("written");
        let golden = std::fs::read_to_string(root().join("plans").join(PLAN).join(file)).expect("golden");
        assert!(made == golden, "{file} differs from plans/{PLAN}/{file}");
    }
}

#[tokio::test]
async fn identity_key_becomes_bigint_and_keeps_counting_after_every_id() {
    let db = ticket_db().await;
    let plan = plan("change_type_ticket_events_id");
    apply(&db, &plan, PhaseKind::Expand).await.expect("expand");
    // Rows written between expand and contract get ids from the old column's identity.
    db.exec("INSERT INTO ticket_events (ticket_id, note) SELECT 1, 'meanwhile' FROM generate_series(1, 50)")
        .await;
    apply_backfill(&db, &plan).await;
    apply(&db, &plan, PhaseKind::Contract).await.expect("contract");
    let (kind, ty): (String, String) = sqlx::query_as(
        "SELECT attidentity::text, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'ticket_events'::regclass AND attname = 'id'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("column");
    assert_eq!((kind.as_str(), ty.as_str()), ("a", "bigint"), "GENERATED ALWAYS AS IDENTITY, bigint");
    let max: i64 =
        sqlx::query_scalar("SELECT max(id) FROM ticket_events").fetch_one(&db.pool).await.expect("max");
    assert_eq!(max, EVENTS + 50);
    let next: i64 = sqlx::query_scalar("INSERT INTO ticket_events (ticket_id) VALUES (1) RETURNING id")
        .fetch_one(&db.pool)
        .await
        .expect("insert");
    assert!(next > max, "identity continues after every id ({next} <= {max})");
    let explicit =
        sqlx::query("INSERT INTO ticket_events (id, ticket_id) VALUES (1, 1)").execute(&db.pool).await;
    assert!(explicit.is_err(), "GENERATED ALWAYS refuses an explicit id, as before");
    db.drop().await;
}

#[tokio::test]
async fn contract_refuses_while_a_converted_value_differs_and_names_the_first_keys() {
    let db = ticket_db().await;
    let plan = plan(PLAN);
    apply(&db, &plan, PhaseKind::Expand).await.expect("expand");
    apply_backfill(&db, &plan).await;
    // A write that bypassed the sync trigger (replica role skips triggers), in two key chunks.
    db.exec(
        "SET session_replication_role = replica;
         UPDATE ticket_events SET ticket_id_planner = ticket_id_planner + 1 WHERE id IN (3, 30000);
         RESET session_replication_role;",
    )
    .await;
    let failures = verify(&db, &plan).await;
    let text = failures.join("\n");
    assert!(
        text.contains("2 rows of public.ticket_events where ticket_id_planner differs")
            && text.contains("id=3, 30000"),
        "{text}"
    );
    assert!(apply(&db, &plan, PhaseKind::Contract).await.is_err(), "contract refused");
    db.exec("UPDATE ticket_events SET ticket_id_planner = ticket_id WHERE id IN (3, 30000)").await;
    assert_eq!(verify(&db, &plan).await, Vec::<String>::new());
    db.drop().await;
}

#[tokio::test]
async fn planning_from_the_live_database_names_rows_that_do_not_convert() {
    let db = ticket_db().await;
    db.exec("UPDATE tickets SET code = 'n/a' WHERE id IN (4, 8)").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, "changes:\n  - change_type: { table: tickets, column: code, type: integer, using: \"trim(code)::integer\" }\n")
        .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_planner"))
        .current_dir(root())
        .env("DATABASE_URL", &db.url)
        .arg("plan")
        .arg(&file)
        .arg("--out")
        .arg(dir.path())
        .output()
        .expect("planner runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("c.yaml:2:") && text.contains("2 rows of public.tickets cannot be converted"),
        "{text}"
    );
    assert!(text.contains("id=4, 8"), "{text}");
    db.drop().await;
}

/// The view ticket_openings reads tickets.opened_at (timestamp -> timestamptz): it is dropped and
/// re-created inside the swap transaction. A writer (inserts, updates of opened_at) and a reader of
/// the view, both with lock_timeout, run through every phase without one error; afterwards the view
/// exists, returns timestamptz and exactly the rows of the table (the initial ones and the writer's
/// last values).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_view_over_the_column_is_recreated_in_the_swap_while_apps_write_and_read_it() {
    let db = ticket_db().await;
    let plan = plan("change_type_tickets_opened_at");
    let before: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ticket_openings").fetch_one(&db.pool).await.expect("view");
    assert_eq!(before, TICKETS);
    let stop = Arc::new(AtomicBool::new(false));
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET lock_timeout = '1s'; SET statement_timeout = '5s'; SET TimeZone = 'UTC'")
                    .await?;
                Ok(())
            })
        })
        .connect(&db.url)
        .await
        .expect("app pool");
    let writer = {
        let (pool, stop) = (pool.clone(), stop.clone());
        tokio::spawn(async move {
            // id -> opened_at (epoch seconds) of the tickets it inserted, last value written.
            let mut own: HashMap<i64, i64> = HashMap::new();
            let mut errors = Vec::new();
            let mut n: i64 = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let at = 1_800_000_000 + n;
                let target = own.keys().nth((n as usize) % own.len().max(1)).copied();
                let result = match target {
                    Some(id) if n % 2 == 0 => sqlx::query("UPDATE tickets SET opened_at = to_timestamp($1) WHERE id = $2")
                        .bind(at as f64)
                        .bind(id)
                        .execute(&pool)
                        .await
                        .map(|_| {
                            own.insert(id, at);
                        }),
                    _ => sqlx::query_scalar::<_, i64>(
                        "INSERT INTO tickets (code, opened_at) VALUES ('w', to_timestamp($1)) RETURNING id::bigint",
                    )
                    .bind(at as f64)
                    .fetch_one(&pool)
                    .await
                    .map(|id| {
                        own.insert(id, at);
                    }),
                };
                if let Err(e) = result {
                    errors.push(format!("write {n}: {e}"));
                }
                tokio::task::yield_now().await;
            }
            (own, errors, n)
        })
    };
    let reader = {
        let (pool, stop) = (pool.clone(), stop.clone());
        tokio::spawn(async move {
            let mut errors = Vec::new();
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                // Unnamed statement: a cached prepared statement on the view gets the documented
                // one-time `cached plan must not change result type` after the swap.
                match sqlx::query_scalar::<_, i64>("SELECT count(*) FROM ticket_openings WHERE recent")
                    .persistent(false)
                    .fetch_one(&pool)
                    .await
                {
                    Ok(_) => reads += 1,
                    Err(e) => errors.push(format!("read {reads}: {e}")),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (errors, reads)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    apply_with(&db, &plan, PhaseKind::Expand).await;
    apply_backfill(&db, &plan).await;
    let failures = verify(&db, &plan).await;
    assert!(failures.is_empty(), "verify before contract: {failures:?}");
    apply_with(&db, &plan, PhaseKind::Contract).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let (own, write_errors, writes) = writer.await.expect("writer");
    let (read_errors, reads) = reader.await.expect("reader");
    assert!(write_errors.is_empty(), "writer errors: {write_errors:#?}");
    assert!(read_errors.is_empty(), "reader errors: {read_errors:#?}");
    assert!(writes > 100 && reads > 10, "writes {writes}, reads {reads}");

    let ty: String = sqlx::query_scalar(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'ticket_openings'::regclass AND attname = 'opened_at'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("the view exists after contract");
    assert_eq!(ty, "timestamp with time zone");
    let mut expected: Vec<(i64, bool)> = (1..=TICKETS).map(|g| (1_735_689_600 + g * 60, true)).collect();
    expected.extend(own.values().map(|at| (*at, true)));
    expected.sort();
    let mut rows: Vec<(i64, bool)> =
        sqlx::query_as("SELECT extract(epoch FROM opened_at)::int8, recent FROM ticket_openings")
            .fetch_all(&db.pool)
            .await
            .expect("view rows");
    rows.sort();
    assert_eq!(rows.len(), expected.len(), "view row count");
    assert!(rows == expected, "the view returns every ticket's opened_at");
    db.drop().await;
}
