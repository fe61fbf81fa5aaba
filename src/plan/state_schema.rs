//! The DDL of planner's state schema `planner`, as data: the executor runs it through sqlx
//! (`exec::state::ensure_schema`) and exported migrations embed the same text, so a database
//! migrated by a team's own tool gets exactly the tables planner itself would create.

/// Serializes concurrent creators of the state schema (transaction-scoped advisory lock).
pub const SCHEMA_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('planner.state_schema'))";

/// Run before [`MIGRATIONS`]: the schema and the table that records which entries ran.
pub const BOOTSTRAP: &str = "CREATE SCHEMA IF NOT EXISTS planner;
CREATE TABLE IF NOT EXISTS planner.state_version (version int NOT NULL);";

/// planner's advisory lock key pair ("plan" as int4, 1): one planner at a time per database.
pub const LOCK_KEY1: i32 = 0x706c_616e;
pub const LOCK_KEY2: i32 = 1;

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
    // 2: the columns of the plan's tables after each phase (contract compares against them),
    //    and an append-only history of every apply/rollback for `planner status`.
    r#"
ALTER TABLE planner.phases ADD COLUMN IF NOT EXISTS table_shapes jsonb;
CREATE TABLE IF NOT EXISTS planner.history (
    id       bigserial PRIMARY KEY,
    plan     text NOT NULL,
    phase    text NOT NULL,
    action   text NOT NULL,
    status   text NOT NULL,
    actor    text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    detail   text
);
"#,
    // 3: a phase whose failure could not be undone is recorded as such (typed, not read from
    //    the error text).
    r#"
ALTER TABLE planner.phases DROP CONSTRAINT IF EXISTS phases_status_check;
ALTER TABLE planner.phases ADD CONSTRAINT phases_status_check
    CHECK (status IN ('running', 'done', 'failed', 'partial', 'rolled_back'));
"#,
    // 4: how many steps of a running phase have committed, recorded in the same transaction as
    //    each unit, so a killed phase resumes from its first unfinished step or is undone from its
    //    last finished one.
    r#"
ALTER TABLE planner.phases ADD COLUMN IF NOT EXISTS steps_done int NOT NULL DEFAULT 0;
"#,
    // 5: a running backfill's health: why it is paused (for `planner status`, written by the
    //    engine as pauses start and end), and the row the latency probe writes so that each
    //    probe commits a real write (a WAL flush, as the app's transactions do).
    r#"
ALTER TABLE planner.backfill_progress ADD COLUMN IF NOT EXISTS paused_reason text;
ALTER TABLE planner.backfill_progress ADD COLUMN IF NOT EXISTS paused_since timestamptz;
CREATE TABLE IF NOT EXISTS planner.probe (
    pid int PRIMARY KEY,
    at  timestamptz NOT NULL
);
"#,
];
