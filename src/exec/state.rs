//! planner's own state, kept in the target database in schema `planner`.

/// Versioned DDL for the state schema. Entry N migrates version N-1 to N; never edit an
/// entry once released, append a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: plans, phases, backfill checkpoints
    r#"
CREATE TABLE IF NOT EXISTS planner.plans (
    name          text PRIMARY KEY,
    plan_sha256   text NOT NULL,
    plan_yaml     text NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    registered_by text NOT NULL DEFAULT current_user
);
CREATE TABLE IF NOT EXISTS planner.phases (
    plan        text NOT NULL REFERENCES planner.plans (name) ON DELETE CASCADE,
    phase       text NOT NULL CHECK (phase IN ('expand', 'backfill', 'contract')),
    status      text NOT NULL CHECK (status IN ('running', 'done', 'failed', 'rolled_back')),
    checksums   jsonb NOT NULL DEFAULT '{}'::jsonb,
    applied_by  text NOT NULL DEFAULT current_user,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    error       text,
    PRIMARY KEY (plan, phase)
);
CREATE TABLE IF NOT EXISTS planner.backfill_progress (
    plan        text NOT NULL,
    table_name  text NOT NULL,
    last_key    jsonb,
    rows_done   bigint NOT NULL DEFAULT 0,
    batches     bigint NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (plan, table_name)
);
"#,
];

/// Create schema `planner` and bring it to the latest version. Safe to call concurrently:
/// serialized by a transaction-scoped advisory lock.
pub async fn ensure_schema(conn: &mut sqlx::PgConnection) -> anyhow::Result<()> {
    use anyhow::Context;
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('planner.state_schema'))").execute(&mut *tx).await?;
    sqlx::raw_sql(
        "CREATE SCHEMA IF NOT EXISTS planner;
         CREATE TABLE IF NOT EXISTS planner.state_version (version int NOT NULL);",
    )
    .execute(&mut *tx)
    .await
    .context("creating schema planner")?;
    let current: Option<i32> =
        sqlx::query_scalar("SELECT max(version) FROM planner.state_version").fetch_one(&mut *tx).await?;
    let current = current.unwrap_or(0) as usize;
    if current > MIGRATIONS.len() {
        anyhow::bail!(
            "schema planner is at version {current}, newer than this planner understands ({}); upgrade planner",
            MIGRATIONS.len()
        );
    }
    for (i, ddl) in MIGRATIONS.iter().enumerate().skip(current) {
        sqlx::raw_sql(*ddl)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("state schema migration {}", i + 1))?;
        sqlx::query("INSERT INTO planner.state_version (version) VALUES ($1)")
            .bind((i + 1) as i32)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
