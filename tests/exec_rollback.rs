//! Rollback of every phase of every golden plan, under an old-app workload: the app's writes (with
//! lock_timeout 1s) never fail and never wait past lock_timeout + 2 s, the schema comes back
//! exactly (pg_dump), and every row holds the last value the app wrote. Errors and the slowest
//! write name the stage (which apply or rollback) they happened in.

mod common;
mod exec_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exec_support::*;
use sqlx::postgres::PgPoolOptions;
use sqlx::Executor;

const ROWS: i64 = 2_000;

struct Workload {
    last: HashMap<i64, String>,
    errors: Vec<String>,
    max_latency: Duration,
    /// The stage the slowest write happened in.
    slowest_during: String,
    writes: u64,
}

/// The old app: updates `users.name` of random rows, one at a time, until stopped.
async fn old_app(url: String, stop: Arc<AtomicBool>, stage: Arc<Mutex<String>>) -> Workload {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET lock_timeout = '1s'; SET statement_timeout = '5s'").await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .expect("old app connects");
    let mut w = Workload {
        last: HashMap::new(),
        errors: Vec::new(),
        max_latency: Duration::ZERO,
        slowest_during: String::new(),
        writes: 0,
    };
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let id = 1 + (rand::random::<u64>() % ROWS as u64) as i64;
        let value = format!("old app {n}");
        let started = Instant::now();
        match sqlx::query("UPDATE users SET name = $1 WHERE id = $2")
            .bind(&value)
            .bind(id)
            .execute(&pool)
            .await
        {
            Ok(_) => {
                w.last.insert(id, value);
                w.writes += 1;
            }
            Err(e) => w.errors.push(format!("update {id} during {}: {e}", stage.lock().unwrap())),
        }
        if started.elapsed() > w.max_latency {
            w.max_latency = started.elapsed();
            w.slowest_during = stage.lock().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    pool.close().await;
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_phase_of_every_golden_plan_rolls_back_under_an_old_app_workload() {
    let mut names: Vec<String> = std::fs::read_dir(root().join("plans"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        let plan = plan(&name);
        if plan.plan.phases.iter().all(|p| p.irreversible.is_some()) {
            continue; // nothing to roll back (a catalog-only widening: narrowing back would rewrite)
        }
        let db = example_db(ROWS as u32).await;
        let before = pg_dump_schema(&db.url);
        let stop = Arc::new(AtomicBool::new(false));
        let stage = Arc::new(Mutex::new("start".to_string()));
        let set_stage = |s: String| *stage.lock().unwrap() = s;
        let app = tokio::spawn(old_app(db.url.clone(), stop.clone(), stage.clone()));
        tokio::time::sleep(Duration::from_millis(100)).await;

        // Apply every phase that can be undone, then undo them one by one, newest first.
        let mut applied = Vec::new();
        for phase in plan.plan.phases.iter().filter(|p| p.irreversible.is_none()) {
            set_stage(format!("apply {}", phase.phase));
            apply(&db, &plan, phase.phase)
                .await
                .unwrap_or_else(|e| panic!("{name}: apply {}: {e:#}", phase.phase));
            applied.push(phase.phase);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for phase in applied.iter().rev() {
            set_stage(format!("rollback {phase}"));
            let undone =
                rollback(&db, &plan).await.unwrap_or_else(|e| panic!("{name}: rollback {phase}: {e:#}"));
            assert_eq!(undone, *phase, "{name}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.store(true, Ordering::Relaxed);
        let w = app.await.unwrap();

        assert_eq!(w.errors, Vec::<String>::new(), "{name}: old app errors");
        assert!(w.writes > 20, "{name}: the old app ran ({} writes)", w.writes);
        // lock_timeout 1 s bounds any lock wait (an error above); the extra 2 s is for a loaded
        // CI machine's commit flushes, never for a lock held by planner.
        assert!(
            w.max_latency < Duration::from_secs(3),
            "{name}: a write waited {:?} during {}",
            w.max_latency,
            w.slowest_during
        );
        assert_eq!(pg_dump_schema(&db.url), before, "{name}: rollback restores the schema exactly");
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, name::text FROM users").fetch_all(&db.pool).await.unwrap();
        assert_eq!(rows.len() as i64, ROWS, "{name}: no row lost");
        for (id, value) in rows {
            let want = w.last.get(&id).cloned().unwrap_or_else(|| format!("user-{id}"));
            assert_eq!(value, want, "{name}: id {id}");
        }
        db.drop().await;
    }
}
