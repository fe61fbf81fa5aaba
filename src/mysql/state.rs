//! planner's state in the target database: `planner_state`, `planner_backfill_progress`,
//! `planner_history`, versioned by `planner_schema_version`.
//!
//! MySQL's DDL is not transactional (every statement commits on its own, and a ROLLBACK after it
//! silently undoes nothing), so a phase is recorded statement by statement: a step is marked
//! `running` before it is sent and `done` after. A phase that stopped half way is then resumed
//! from its first step not done, or undone by running the completed steps' inverses in reverse.
//! A step left `running` is the one case where the record cannot tell: the caller resolves it
//! by checking whether its effect is present (or by re-running an idempotent form).
//!
//! The tables live in the target database (MySQL's schema): a separate `planner` database would
//! need CREATE DATABASE rights the application's user rarely has.

use anyhow::Context;
use sha2::Digest;
use sqlx::MySqlConnection;

use super::connect::MySession;
use super::ddl::DdlStatement;
use crate::exec::state::{BackfillRecord, PhaseRecord, PhaseStatus, PlanRecord};

/// Created first, so the version of everything else can be read.
const BOOTSTRAP: &str = "CREATE TABLE IF NOT EXISTS planner_schema_version (
    version INT NOT NULL PRIMARY KEY,
    applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/// Migration i+1, one statement each (a DDL statement commits on its own, so a migration is one
/// statement plus its version row; `IF NOT EXISTS` makes a migration interrupted between the two
/// safe to run again).
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS planner_state (
        plan VARCHAR(191) NOT NULL,
        phase VARCHAR(32) NOT NULL,
        step INT NOT NULL,
        status VARCHAR(16) NOT NULL CHECK (status IN ('running', 'done', 'failed', 'rolled_back')),
        sql_sha256 CHAR(64) NOT NULL,
        statement LONGTEXT NOT NULL,
        applied_by VARCHAR(255) NOT NULL,
        started_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
        finished_at DATETIME(6) NULL,
        error TEXT NULL,
        PRIMARY KEY (plan, phase, step)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS planner_backfill_progress (
        plan VARCHAR(191) NOT NULL,
        table_name VARCHAR(64) NOT NULL,
        key_column VARCHAR(64) NOT NULL,
        last_key TEXT NULL,
        rows_visited BIGINT NOT NULL DEFAULT 0,
        rows_changed BIGINT NOT NULL DEFAULT 0,
        batches BIGINT NOT NULL DEFAULT 0,
        started_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
        updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
        finished_at DATETIME(6) NULL,
        PRIMARY KEY (plan, table_name)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS planner_history (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        plan VARCHAR(191) NOT NULL,
        phase VARCHAR(32) NOT NULL,
        step INT NULL,
        action VARCHAR(32) NOT NULL,
        status VARCHAR(32) NOT NULL,
        actor VARCHAR(255) NOT NULL,
        at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
        detail TEXT NULL,
        KEY planner_history_plan (plan, phase)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    // The plan as it was reviewed and first applied: a plan of the same name whose sha256
    // differs is refused, and rollback can undo from this copy when the folder was edited.
    "CREATE TABLE IF NOT EXISTS planner_plans (
        name VARCHAR(191) NOT NULL PRIMARY KEY,
        plan_sha256 CHAR(64) NOT NULL,
        plan_yaml LONGTEXT NOT NULL,
        registered_at DATETIME(6) NOT NULL,
        registered_by VARCHAR(255) NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    // Where each phase stands as a whole (its statements are in planner_state); `table_shapes`
    // is what columns_match compares the next phase against.
    "CREATE TABLE IF NOT EXISTS planner_phases (
        plan VARCHAR(191) NOT NULL,
        phase VARCHAR(32) NOT NULL,
        status VARCHAR(16) NOT NULL CHECK (status IN ('running', 'done', 'failed', 'partial', 'rolled_back')),
        applied_by VARCHAR(255) NOT NULL,
        started_at DATETIME(6) NOT NULL,
        finished_at DATETIME(6) NULL,
        error TEXT NULL,
        table_shapes LONGTEXT NULL,
        PRIMARY KEY (plan, phase)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
];

/// Create the state tables and bring them to the latest version. Call it holding the
/// [`PlannerLock`](super::PlannerLock): that is what keeps two planners from migrating at once.
pub async fn ensure_schema(session: &mut MySession) -> anyhow::Result<()> {
    session.run_ddl(&DdlStatement::new(BOOTSTRAP).on("planner_schema_version")).await?;
    let current: Option<i32> = sqlx::query_scalar("SELECT MAX(version) FROM planner_schema_version")
        .fetch_one(&mut session.conn)
        .await?;
    let current = current.unwrap_or(0).max(0) as usize;
    if current > MIGRATIONS.len() {
        anyhow::bail!(
            "planner's state tables are at version {current}, newer than this planner understands ({}); upgrade planner",
            MIGRATIONS.len()
        );
    }
    for (i, ddl) in MIGRATIONS.iter().enumerate().skip(current) {
        session
            .run_ddl(&DdlStatement::new(ddl))
            .await
            .with_context(|| format!("state table migration {}", i + 1))?;
        sqlx::query("INSERT IGNORE INTO planner_schema_version (version) VALUES (?)")
            .bind((i + 1) as i32)
            .execute(&mut session.conn)
            .await?;
    }
    Ok(())
}

/// Does this database hold planner's state tables? (Read-only callers ask before reading.)
pub async fn exists(conn: &mut MySqlConnection) -> anyhow::Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'planner_state'",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// Where one statement of a phase stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    /// Sent (or about to be) and not known to have finished: the process stopped in between.
    Running,
    Done,
    /// Failed; one statement is atomic, so nothing of it is applied.
    Failed,
    /// Undone by its inverse.
    RolledBack,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Running => "running",
            StepStatus::Done => "done",
            StepStatus::Failed => "failed",
            StepStatus::RolledBack => "rolled_back",
        }
    }

    fn parse(s: &str) -> anyhow::Result<StepStatus> {
        Ok(match s {
            "running" => StepStatus::Running,
            "done" => StepStatus::Done,
            "failed" => StepStatus::Failed,
            "rolled_back" => StepStatus::RolledBack,
            other => anyhow::bail!("unknown step status `{other}` in planner_state"),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// 1-based, in the phase's order.
    pub step: u32,
    pub status: StepStatus,
    pub sql_sha256: String,
    pub statement: String,
    pub applied_by: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
}

pub fn sha256_hex(sql: &str) -> String {
    hex::encode(sha2::Sha256::digest(sql.as_bytes()))
}

/// Mark step `step` of (`plan`, `phase`) running, before its statement is sent.
pub async fn begin_step(
    conn: &mut MySqlConnection,
    plan: &str,
    phase: &str,
    step: u32,
    sql: &str,
) -> anyhow::Result<()> {
    let actor = actor(conn).await?;
    sqlx::query(
        "INSERT INTO planner_state (plan, phase, step, status, sql_sha256, statement, applied_by, started_at)
         VALUES (?, ?, ?, 'running', ?, ?, ?, CURRENT_TIMESTAMP(6))
         ON DUPLICATE KEY UPDATE status = 'running', sql_sha256 = VALUES(sql_sha256), statement = VALUES(statement),
             applied_by = VALUES(applied_by), started_at = CURRENT_TIMESTAMP(6), finished_at = NULL, error = NULL",
    )
    .bind(plan)
    .bind(phase)
    .bind(step)
    .bind(sha256_hex(sql))
    .bind(sql)
    .bind(&actor)
    .execute(&mut *conn)
    .await
    .with_context(|| format!("recording step {step} of {plan}/{phase} as running"))?;
    log(conn, plan, phase, Some(step), "apply", "running", None).await
}

/// Record how step `step` ended (`Done`, `Failed` with the error, or `RolledBack`).
pub async fn finish_step(
    conn: &mut MySqlConnection,
    plan: &str,
    phase: &str,
    step: u32,
    status: StepStatus,
    error: Option<&str>,
) -> anyhow::Result<()> {
    let done = sqlx::query(
        "UPDATE planner_state SET status = ?, finished_at = CURRENT_TIMESTAMP(6), error = ?
          WHERE plan = ? AND phase = ? AND step = ?",
    )
    .bind(status.as_str())
    .bind(error)
    .bind(plan)
    .bind(phase)
    .bind(step)
    .execute(&mut *conn)
    .await
    .with_context(|| format!("recording step {step} of {plan}/{phase} as {}", status.as_str()))?;
    anyhow::ensure!(done.rows_affected() == 1, "step {step} of {plan}/{phase} was never recorded as started");
    let action = if status == StepStatus::RolledBack { "rollback" } else { "apply" };
    log(conn, plan, phase, Some(step), action, status.as_str(), error).await
}

/// The recorded steps of (`plan`, `phase`), in step order.
pub async fn step_records(
    conn: &mut MySqlConnection,
    plan: &str,
    phase: &str,
) -> anyhow::Result<Vec<StepRecord>> {
    type Row = (i32, String, String, String, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT step, status, sql_sha256, statement, applied_by, CAST(started_at AS CHAR),
                CAST(finished_at AS CHAR), error
           FROM planner_state WHERE plan = ? AND phase = ? ORDER BY step",
    )
    .bind(plan)
    .bind(phase)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(step, status, sql_sha256, statement, applied_by, started_at, finished_at, error)| {
            Ok(StepRecord {
                step: step.max(0) as u32,
                status: StepStatus::parse(&status)?,
                sql_sha256,
                statement,
                applied_by,
                started_at,
                finished_at,
                error,
            })
        })
        .collect()
}

/// Append to `planner_history`.
pub async fn log(
    conn: &mut MySqlConnection,
    plan: &str,
    phase: &str,
    step: Option<u32>,
    action: &str,
    status: &str,
    detail: Option<&str>,
) -> anyhow::Result<()> {
    let actor = actor(conn).await?;
    sqlx::query(
        "INSERT INTO planner_history (plan, phase, step, action, status, actor, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(plan)
    .bind(phase)
    .bind(step)
    .bind(action)
    .bind(status)
    .bind(actor)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `os-user@host as db-user@client`.
async fn actor(conn: &mut MySqlConnection) -> anyhow::Result<String> {
    let db_user: String = sqlx::query_scalar("SELECT CURRENT_USER()").fetch_one(&mut *conn).await?;
    Ok(format!("{} as {db_user}", crate::exec::state::actor()))
}

/// Where a phase stands against the statements it is planned to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Run from this 0-based statement index on (0: nothing applied yet).
    From(usize),
    /// Step `step` (1-based) was sent but never recorded as finished: check whether its effect is
    /// present (then [`finish_step`] it as done) or re-run it, before going on.
    Interrupted { step: u32 },
    /// Every statement is done.
    Complete,
    /// The statement recorded for `step` is not the one planned now: refuse to mix two versions.
    Changed { step: u32, recorded_sha256: String, planned_sha256: String },
}

/// Compare the records with the planned statements (pure).
pub fn resume_point(records: &[StepRecord], planned: &[&str]) -> Resume {
    for (i, sql) in planned.iter().enumerate() {
        let step = i as u32 + 1;
        let Some(r) = records.iter().find(|r| r.step == step) else { return Resume::From(i) };
        let planned_sha256 = sha256_hex(sql);
        if r.sql_sha256 != planned_sha256 && r.status != StepStatus::RolledBack {
            return Resume::Changed { step, recorded_sha256: r.sql_sha256.clone(), planned_sha256 };
        }
        match r.status {
            StepStatus::Done => continue,
            StepStatus::Running => return Resume::Interrupted { step },
            StepStatus::Failed | StepStatus::RolledBack => return Resume::From(i),
        }
    }
    Resume::Complete
}

/// The steps to undo, last applied first: every step that is done (a `running` one must be
/// resolved first, see [`Resume::Interrupted`]).
pub fn undo_order(records: &[StepRecord]) -> Vec<u32> {
    let mut done: Vec<u32> =
        records.iter().filter(|r| r.status == StepStatus::Done).map(|r| r.step).collect();
    done.sort_unstable_by(|a, b| b.cmp(a));
    done
}

/// What [`run_steps`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseOutcome {
    /// Every statement is done (`ran` of them in this call).
    Complete { ran: usize },
    /// Stopped before running anything: a step was interrupted earlier (see [`Resume`]).
    NeedsResolution(Resume),
}

/// Run the statements of (`plan`, `phase`) from where the records say it stopped, recording each
/// as running before and done (or failed) after. A failed statement stops the phase with its
/// error; the steps before it stay done (undo them with their inverses, see [`undo_order`]).
pub async fn run_steps(
    session: &mut MySession,
    plan: &str,
    phase: &str,
    statements: &[DdlStatement<'_>],
) -> anyhow::Result<PhaseOutcome> {
    let records = step_records(&mut session.conn, plan, phase).await?;
    let planned: Vec<&str> = statements.iter().map(|s| s.sql).collect();
    let start = match resume_point(&records, &planned) {
        Resume::From(i) => i,
        Resume::Complete => return Ok(PhaseOutcome::Complete { ran: 0 }),
        other => return Ok(PhaseOutcome::NeedsResolution(other)),
    };
    for (i, statement) in statements.iter().enumerate().skip(start) {
        let step = i as u32 + 1;
        begin_step(&mut session.conn, plan, phase, step, statement.sql).await?;
        match session.run_ddl(statement).await {
            Ok(_) => finish_step(&mut session.conn, plan, phase, step, StepStatus::Done, None).await?,
            Err(e) => {
                // A lost connection cannot record anything: the step stays `running`, which is
                // exactly what is known about it.
                if e.kind != super::ErrorKind::ConnectionLost {
                    finish_step(&mut session.conn, plan, phase, step, StepStatus::Failed, Some(&e.message))
                        .await?;
                }
                return Err(anyhow::Error::new(e).context(format!("{plan}/{phase} step {step}")));
            }
        }
    }
    Ok(PhaseOutcome::Complete { ran: statements.len() - start })
}

// ---- plans and phases (what `status`, `verify` and the phase order read) ----

/// `2026-12-02 07:31:19 UTC`: the timestamps below are stored in UTC (UTC_TIMESTAMP), as the
/// PostgreSQL state prints them.
const UTC: &str = "'%Y-%m-%d %H:%i:%s UTC'";

fn utc(column: &str) -> String {
    format!("DATE_FORMAT({column}, {UTC})")
}

type PlanRow = (String, String, String, String, String);

fn plan_columns() -> String {
    format!("SELECT name, plan_sha256, plan_yaml, {}, registered_by FROM planner_plans", utc("registered_at"))
}

fn plan_from_row((name, plan_sha256, plan_yaml, registered_at, registered_by): PlanRow) -> PlanRecord {
    PlanRecord { name, plan_sha256, plan_yaml, registered_at, registered_by }
}

/// Does this database hold the plan registry (state migration 4)?
async fn has_plans(conn: &mut MySqlConnection) -> anyhow::Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'planner_phases'",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// The registered copy of plan `name`.
pub async fn plan_record(conn: &mut MySqlConnection, name: &str) -> anyhow::Result<Option<PlanRecord>> {
    if !has_plans(conn).await? {
        return Ok(None);
    }
    let row: Option<PlanRow> = sqlx::query_as(super::dynamic(format!("{} WHERE name = ?", plan_columns())))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(plan_from_row))
}

/// Every registered plan, oldest first.
pub async fn all_plans(conn: &mut MySqlConnection) -> anyhow::Result<Vec<PlanRecord>> {
    if !has_plans(conn).await? {
        return Ok(Vec::new());
    }
    let rows: Vec<PlanRow> =
        sqlx::query_as(super::dynamic(format!("{} ORDER BY registered_at, name", plan_columns())))
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().map(plan_from_row).collect())
}

/// Register `name` (or replace a registration no phase was applied with).
pub async fn store_plan(
    conn: &mut MySqlConnection,
    name: &str,
    plan_sha256: &str,
    plan_yaml: &str,
) -> anyhow::Result<()> {
    let actor = actor(conn).await?;
    sqlx::query(
        "INSERT INTO planner_plans (name, plan_sha256, plan_yaml, registered_at, registered_by)
         VALUES (?, ?, ?, UTC_TIMESTAMP(6), ?)
         ON DUPLICATE KEY UPDATE plan_sha256 = VALUES(plan_sha256), plan_yaml = VALUES(plan_yaml)",
    )
    .bind(name)
    .bind(plan_sha256)
    .bind(plan_yaml)
    .bind(actor)
    .execute(&mut *conn)
    .await
    .with_context(|| format!("registering plan {name}"))?;
    Ok(())
}

type PhaseRow = (String, String, String, String, Option<String>, Option<String>, Option<String>);

/// The phases of `plan` that ever ran, in phase order, with how many of their steps are done.
pub async fn phase_records(conn: &mut MySqlConnection, plan: &str) -> anyhow::Result<Vec<PhaseRecord>> {
    if !has_plans(conn).await? {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT p.phase, p.status, p.applied_by, {}, {}, p.error, p.table_shapes FROM planner_phases p WHERE p.plan = ?",
        utc("p.started_at"),
        utc("p.finished_at")
    );
    let rows: Vec<PhaseRow> = sqlx::query_as(super::dynamic(sql)).bind(plan).fetch_all(&mut *conn).await?;
    let mut out = Vec::new();
    for (phase, status, applied_by, started_at, finished_at, error, shapes) in rows {
        let steps = step_records(conn, plan, &phase).await?;
        out.push(PhaseRecord {
            phase: phase.parse().map_err(|e: String| anyhow::anyhow!(e))?,
            status: parse_phase_status(&status)?,
            checksums: Default::default(),
            applied_by,
            started_at,
            finished_at,
            error,
            table_shapes: shapes.and_then(|s| serde_json::from_str(&s).ok()),
            steps_done: steps.iter().filter(|r| r.status == StepStatus::Done).count(),
        });
    }
    out.sort_by_key(|r| r.phase);
    Ok(out)
}

fn parse_phase_status(s: &str) -> anyhow::Result<PhaseStatus> {
    Ok(match s {
        "running" => PhaseStatus::Running,
        "done" => PhaseStatus::Done,
        "failed" => PhaseStatus::Failed,
        "partial" => PhaseStatus::Partial,
        "rolled_back" => PhaseStatus::RolledBack,
        other => anyhow::bail!("unknown phase status `{other}` in planner_phases"),
    })
}

/// Mark (`plan`, `phase`) running. A phase resumed after an interruption keeps its start.
pub async fn start_phase(conn: &mut MySqlConnection, plan: &str, phase: &str) -> anyhow::Result<()> {
    let actor = actor(conn).await?;
    // Assignments run left to right: `started_at` reads the status before it is overwritten.
    sqlx::query(
        "INSERT INTO planner_phases (plan, phase, status, applied_by, started_at)
         VALUES (?, ?, 'running', ?, UTC_TIMESTAMP(6))
         ON DUPLICATE KEY UPDATE
             started_at = IF(status IN ('running', 'partial'), started_at, VALUES(started_at)),
             applied_by = VALUES(applied_by), status = 'running', finished_at = NULL, error = NULL",
    )
    .bind(plan)
    .bind(phase)
    .bind(&actor)
    .execute(&mut *conn)
    .await
    .with_context(|| format!("recording phase {phase} of {plan} as running"))?;
    log(conn, plan, phase, None, "apply", "running", None).await
}

/// Record how (`plan`, `phase`) ended; `shapes` (JSON) when it is done.
pub async fn finish_phase(
    conn: &mut MySqlConnection,
    plan: &str,
    phase: &str,
    status: PhaseStatus,
    error: Option<&str>,
    shapes: Option<&str>,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE planner_phases SET status = ?, finished_at = UTC_TIMESTAMP(6), error = ?,
                table_shapes = COALESCE(?, table_shapes)
          WHERE plan = ? AND phase = ?",
    )
    .bind(status.as_str())
    .bind(error)
    .bind(shapes)
    .bind(plan)
    .bind(phase)
    .execute(&mut *conn)
    .await
    .with_context(|| format!("recording phase {phase} of {plan} as {}", status.as_str()))?;
    let action = if status == PhaseStatus::RolledBack { "rollback" } else { "apply" };
    log(conn, plan, phase, None, action, status.as_str(), error).await
}

/// Every table's backfill checkpoint of `plan`.
pub async fn backfill_records(conn: &mut MySqlConnection, plan: &str) -> anyhow::Result<Vec<BackfillRecord>> {
    if !exists(conn).await? {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT table_name, rows_visited, batches, DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s'),
                DATE_FORMAT(finished_at, '%Y-%m-%d %H:%i:%s')
           FROM planner_backfill_progress WHERE plan = ? ORDER BY table_name"
    );
    let rows: Vec<(String, i64, i64, String, Option<String>)> =
        sqlx::query_as(super::dynamic(sql)).bind(plan).fetch_all(&mut *conn).await?;
    Ok(rows
        .into_iter()
        .map(|(table, rows_done, batches, updated_at, finished_at)| BackfillRecord {
            table,
            rows_done,
            batches,
            updated_at,
            finished_at,
            paused: None,
        })
        .collect())
}

/// Forget `plan`'s backfill checkpoints (its backfill phase was rolled back: a new run starts over).
pub async fn reset_backfill(conn: &mut MySqlConnection, plan: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM planner_backfill_progress WHERE plan = ?")
        .bind(plan)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(step: u32, status: StepStatus, sql: &str) -> StepRecord {
        StepRecord {
            step,
            status,
            sql_sha256: sha256_hex(sql),
            statement: sql.into(),
            applied_by: "t".into(),
            started_at: "now".into(),
            finished_at: None,
            error: None,
        }
    }

    #[test]
    fn resume_points() {
        let planned = ["A", "B", "C"];
        assert_eq!(resume_point(&[], &planned), Resume::From(0));
        let r = [rec(1, StepStatus::Done, "A"), rec(2, StepStatus::Running, "B")];
        assert_eq!(resume_point(&r, &planned), Resume::Interrupted { step: 2 });
        let r = [rec(1, StepStatus::Done, "A"), rec(2, StepStatus::Failed, "B")];
        assert_eq!(resume_point(&r, &planned), Resume::From(1));
        let r = [rec(1, StepStatus::Done, "A"), rec(2, StepStatus::Done, "B"), rec(3, StepStatus::Done, "C")];
        assert_eq!(resume_point(&r, &planned), Resume::Complete);
        let r = [rec(1, StepStatus::Done, "A2")];
        assert!(matches!(resume_point(&r, &planned), Resume::Changed { step: 1, .. }));
    }

    #[test]
    fn undo_runs_done_steps_backwards() {
        let r = [
            rec(1, StepStatus::Done, "A"),
            rec(2, StepStatus::Done, "B"),
            rec(3, StepStatus::Failed, "C"),
            rec(4, StepStatus::RolledBack, "D"),
        ];
        assert_eq!(undo_order(&r), vec![2, 1]);
    }

    #[test]
    fn sha_matches_mysqls_sha2() {
        // the FIPS 180-2 test vector; SHA2(…, 256) on MariaDB gives the same hex (measured)
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
