//! Helpers for the executor tests: the example schema with many rows, the golden plans, a
//! catalog fingerprint, and a stand-in for the backfill engine.
#![allow(dead_code)]

use std::path::PathBuf;

use planner::exec::{self, ApplyOptions, ApplyOutcome, LoadedPlan, Session, SessionOptions};
use planner::plan::PhaseKind;

use super::common::TestDb;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example schema with `rows` users (ids 1..=rows, name `user-<id>`, a third without email,
/// half verified) and a few orders.
pub async fn example_db(rows: u32) -> TestDb {
    let db = TestDb::new().await;
    let schema = std::fs::read_to_string(root().join("examples/schema.sql")).expect("examples/schema.sql");
    db.exec(&schema).await;
    db.exec(&format!(
        "INSERT INTO users (email, name, legacy_flag, verified_at)
         SELECT CASE WHEN i % 3 = 0 THEN NULL ELSE 'u' || i || '@example.com' END, 'user-' || i, i % 2 = 0,
                CASE WHEN i % 2 = 0 THEN now() END
           FROM generate_series(1, {rows}) AS i;
         INSERT INTO orders (\"user\", total_cents) SELECT i, i FROM generate_series(1, least({rows}, 100)) AS i;
         ANALYZE users;"
    ))
    .await;
    db
}

pub fn plan(name: &str) -> LoadedPlan {
    LoadedPlan::load(&root().join("plans").join(name))
        .unwrap_or_else(|e| panic!("loading plan {name}: {e:#}"))
}

pub fn fast_locks() -> SessionOptions {
    SessionOptions {
        lock_timeout: std::time::Duration::from_secs(2),
        statement_timeout: std::time::Duration::from_secs(60),
        retries: 5,
        backoff: std::time::Duration::from_millis(50),
        report_steps: false,
    }
}

pub async fn session(db: &TestDb) -> Session {
    Session::open(&db.url, fast_locks()).await.expect("open session")
}

/// Apply one phase in a session of its own (as `planner apply --phase` does).
pub async fn apply(db: &TestDb, plan: &LoadedPlan, phase: PhaseKind) -> anyhow::Result<ApplyOutcome> {
    let mut s = session(db).await;
    let out = exec::apply_phase(&mut s, plan, phase, &ApplyOptions::default()).await;
    s.close().await?;
    out
}

pub async fn rollback(db: &TestDb, plan: &LoadedPlan) -> anyhow::Result<PhaseKind> {
    let mut s = session(db).await;
    let out = exec::rollback_latest(&mut s, plan).await;
    s.close().await?;
    out
}

pub async fn verify(db: &TestDb, plan: &LoadedPlan) -> Vec<String> {
    let mut s = session(db).await;
    let failures = exec::verify::verify_plan(&mut s, plan).await.expect("verify runs").failures;
    s.close().await.expect("close");
    failures
}

/// Apply the backfill phase: the real engine (keyset batches, checkpoints) fills the rows.
pub async fn apply_backfill(db: &TestDb, plan: &LoadedPlan) -> ApplyOutcome {
    apply(db, plan, PhaseKind::Backfill).await.unwrap_or_else(|e| panic!("apply backfill: {e:#}"))
}

/// Columns, defaults, indexes, constraints, triggers and functions of schema public: what a
/// rollback must restore exactly.
pub async fn catalog(db: &TestDb) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(
        r#"
        SELECT format('column %s.%s #%s %s notnull=%s default=%s', c.relname, a.attname, a.attnum,
                      format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v') AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT format('index %s valid=%s', pg_get_indexdef(i.indexrelid), i.indisvalid) FROM pg_index i
        JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
        UNION ALL
        SELECT format('constraint %s %s %s valid=%s', c.relname, k.conname, pg_get_constraintdef(k.oid), k.convalidated)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public'
        UNION ALL
        SELECT format('trigger %s', tgname) FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL
        SELECT format('function %s', p.proname) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public'
        ORDER BY 1"#,
    )
    .fetch_all(&db.pool)
    .await
    .expect("catalog query");
    rows.into_iter().map(|r| r.0).collect()
}

/// `pg_dump --schema-only` of the database without planner's own schema: what a rollback must
/// give back exactly. pg_dump 15.14+ writes a random \restrict key per run; it is not schema.
pub fn pg_dump_schema(url: &str) -> String {
    let out = std::process::Command::new("pg_dump")
        .args(["--schema-only", "--exclude-schema=planner", "-d", url])
        .output()
        .expect("pg_dump is installed");
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The status of each phase of a plan in planner.phases.
pub async fn phase_status(db: &TestDb, plan: &str, phase: PhaseKind) -> Option<String> {
    sqlx::query_scalar("SELECT status FROM planner.phases WHERE plan = $1 AND phase = $2")
        .bind(plan)
        .bind(phase.as_str())
        .fetch_optional(&db.pool)
        .await
        .expect("phase status")
}

/// [`pg_dump_schema`] without some tables (a migration tool's own bookkeeping table).
pub fn pg_dump_schema_excluding(url: &str, tables: &[&str]) -> String {
    let mut args = vec!["--schema-only".to_string(), "--exclude-schema=planner".to_string()];
    args.extend(tables.iter().map(|t| format!("--exclude-table={t}")));
    args.extend(["-d".to_string(), url.to_string()]);
    let out = std::process::Command::new("pg_dump").args(&args).output().expect("pg_dump is installed");
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}
