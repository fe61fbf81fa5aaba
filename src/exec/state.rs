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
