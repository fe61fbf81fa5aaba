//! planner's own state, kept in the target database in schema `planner`.

pub use crate::plan::state_schema::MIGRATIONS;

/// Create schema `planner` and bring it to the latest version. Safe to call concurrently:
/// serialized by a transaction-scoped advisory lock.
pub async fn ensure_schema(conn: &mut sqlx::PgConnection) -> anyhow::Result<()> {
    use anyhow::Context;
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    sqlx::query(crate::plan::state_schema::SCHEMA_LOCK).execute(&mut *tx).await?;
    sqlx::raw_sql(crate::plan::state_schema::BOOTSTRAP)
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

use std::collections::BTreeMap;

use sqlx::PgConnection;

use crate::error::Refusal;
use crate::plan::{Phase, PhaseKind, Plan};

/// Where one phase of a plan stands in the target database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseStatus {
    Running,
    Done,
    Failed,
    /// Failed, and undoing what had run failed too: part of the phase is applied.
    Partial,
    RolledBack,
}

impl PhaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Running => "running",
            PhaseStatus::Done => "done",
            PhaseStatus::Failed => "failed",
            PhaseStatus::Partial => "partial",
            PhaseStatus::RolledBack => "rolled_back",
        }
    }

    fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "running" => PhaseStatus::Running,
            "done" => PhaseStatus::Done,
            "failed" => PhaseStatus::Failed,
            "partial" => PhaseStatus::Partial,
            "rolled_back" => PhaseStatus::RolledBack,
            other => anyhow::bail!("unknown phase status `{other}` in planner.phases"),
        })
    }
}

#[derive(Debug, Clone)]
pub struct PhaseRecord {
    pub phase: PhaseKind,
    pub status: PhaseStatus,
    /// File name -> sha256 of what was applied (plan.yaml and the phase's SQL files).
    pub checksums: BTreeMap<String, String>,
    pub applied_by: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    /// Table (short name) -> columns, taken when the phase finished.
    pub table_shapes: Option<serde_json::Value>,
    /// Steps of the phase that committed (all of them once done).
    pub steps_done: usize,
}

#[derive(Debug, Clone)]
pub struct PlanRecord {
    pub name: String,
    pub plan_sha256: String,
    pub plan_yaml: String,
    pub registered_at: String,
    pub registered_by: String,
}

#[derive(Debug, Clone)]
pub struct BackfillRecord {
    pub table: String,
    pub rows_done: i64,
    pub batches: i64,
    pub updated_at: String,
    pub finished_at: Option<String>,
    /// Why the running backfill is paused right now (replication lag, vacuum, ...), and since when.
    pub paused: Option<(String, String)>,
}

/// Who is running planner: OS user and host, plus the database role (added in SQL).
pub fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .or_else(|_| std::env::var("USERNAME"))
        .or_else(|_| whoami::username())
        .unwrap_or_else(|_| "unknown".into());
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
        .unwrap_or_else(|| "unknown-host".into());
    format!("{user}@{host}")
}

/// The checksums recorded with a phase: plan.yaml and the phase's own SQL files.
pub fn phase_checksums(plan: &Plan, plan_sha: &str, phase: &Phase) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([("plan.yaml".to_string(), plan_sha.to_string())]);
    for file in phase.up_file.iter().chain(phase.down_file.iter()) {
        if let Some(sha) = plan.files.get(file) {
            out.insert(file.clone(), sha.clone());
        }
    }
    out
}

/// Columns of `planner.plans` in [`PlanRecord`] order (read as a tuple: no sqlx derive feature).
const PLAN_COLUMNS: &str = "SELECT name, plan_sha256, plan_yaml, \
     to_char(registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', registered_by FROM planner.plans";

type PlanRow = (String, String, String, String, String);

impl From<PlanRow> for PlanRecord {
    fn from((name, plan_sha256, plan_yaml, registered_at, registered_by): PlanRow) -> Self {
        PlanRecord { name, plan_sha256, plan_yaml, registered_at, registered_by }
    }
}

/// Does this database have planner's state schema? `status` and `verify` only read: on a database
/// planner never ran against (or a read-only replica of one) they report "no plans here".
pub async fn exists(conn: &mut PgConnection) -> anyhow::Result<bool> {
    let found: bool =
        sqlx::query_scalar("SELECT to_regclass('planner.phases') IS NOT NULL").fetch_one(&mut *conn).await?;
    Ok(found)
}

pub async fn plan_record(conn: &mut PgConnection, name: &str) -> anyhow::Result<Option<PlanRecord>> {
    if !exists(conn).await? {
        return Ok(None);
    }
    let row: Option<PlanRow> =
        sqlx::query_as(crate::backend::dynamic(format!("{PLAN_COLUMNS} WHERE name = $1")))
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(PlanRecord::from))
}

pub async fn all_plans(conn: &mut PgConnection) -> anyhow::Result<Vec<PlanRecord>> {
    if !exists(conn).await? {
        return Ok(Vec::new());
    }
    let rows: Vec<PlanRow> =
        sqlx::query_as(crate::backend::dynamic(format!("{PLAN_COLUMNS} ORDER BY registered_at, name")))
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().map(PlanRecord::from).collect())
}

pub async fn phase_records(conn: &mut PgConnection, plan: &str) -> anyhow::Result<Vec<PhaseRecord>> {
    if !exists(conn).await? {
        return Ok(Vec::new());
    }
    #[allow(clippy::type_complexity)]
    let rows: Vec<(String, String, serde_json::Value, String, String, Option<String>, Option<String>, Option<serde_json::Value>, i32)> =
        sqlx::query_as(
            "SELECT phase, status, checksums, applied_by, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', error, table_shapes, steps_done
               FROM planner.phases WHERE plan = $1",
        )
        .bind(plan)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::new();
    for (phase, status, checksums, applied_by, started_at, finished_at, error, table_shapes, steps_done) in
        rows
    {
        out.push(PhaseRecord {
            phase: phase.parse().map_err(|e: String| anyhow::anyhow!(e))?,
            status: PhaseStatus::parse(&status)?,
            checksums: serde_json::from_value(checksums).unwrap_or_default(),
            applied_by,
            started_at,
            finished_at,
            error,
            table_shapes,
            steps_done: steps_done.max(0) as usize,
        });
    }
    out.sort_by_key(|r| r.phase);
    Ok(out)
}

/// Read-only: refuse when a plan of the same name was applied with different files.
/// `Ok(true)` when the database already holds exactly this plan.
pub async fn check_registered(conn: &mut PgConnection, plan: &Plan, plan_sha: &str) -> anyhow::Result<bool> {
    let Some(existing) = plan_record(conn, &plan.name).await? else { return Ok(false) };
    if crate::plan::sha256_hex(existing.plan_yaml.as_bytes()) != existing.plan_sha256 {
        return Err(Refusal::new(format!(
            "the copy of plan `{}` registered in planner.plans was changed: its text no longer has the sha256 recorded with it ({}); \
             planner will not run or undo from it. Restore it, or ask who edited planner.plans",
            plan.name, existing.plan_sha256
        ))
        .into());
    }
    if existing.plan_sha256 == plan_sha {
        return Ok(true);
    }
    let records = phase_records(conn, &plan.name).await?;
    let applied: Vec<&PhaseRecord> = records.iter().filter(|r| r.status != PhaseStatus::RolledBack).collect();
    if let Some(first) = applied.first() {
        return Err(changed_refusal(&existing, plan, plan_sha, first).into());
    }
    Ok(false)
}

fn changed_refusal(existing: &PlanRecord, plan: &Plan, plan_sha: &str, first: &PhaseRecord) -> Refusal {
    let changed = changed_file(existing, plan);
    let help = format!(
        "`planner plan --from-database {} --out DIR` writes the applied plan's files back; \
         finish or roll back that plan with them, or give the new plan another name",
        plan.name
    );
    Refusal::new(plan_changed_message(&plan.name, &changed, first, &existing.plan_sha256, plan_sha, &help))
}

/// The refusal every backend gives for a plan whose files changed after a phase was applied.
pub fn plan_changed_message(
    name: &str,
    changed: &str,
    first: &PhaseRecord,
    recorded_sha: &str,
    plan_sha: &str,
    help: &str,
) -> String {
    format!(
        "plan `{name}`: {changed} changed since phase {} was applied by {} at {} \
         (recorded plan sha256 {recorded_sha}, now {plan_sha}); refusing to mix two versions of a plan\n  \
         help: {help}",
        first.phase, first.applied_by, first.started_at
    )
}

/// Record the plan, or refuse when a plan of the same name was applied with different files.
pub async fn register_plan(
    conn: &mut PgConnection,
    plan: &Plan,
    plan_sha: &str,
    plan_yaml: &str,
) -> anyhow::Result<()> {
    ensure_schema(conn).await?;
    if check_registered(conn, plan, plan_sha).await? {
        return Ok(());
    }
    // Not registered yet, or registered but never applied (then the new version replaces it).
    if plan_record(conn, &plan.name).await?.is_some() {
        sqlx::query("UPDATE planner.plans SET plan_sha256 = $2, plan_yaml = $3 WHERE name = $1")
            .bind(&plan.name)
            .bind(plan_sha)
            .bind(plan_yaml)
            .execute(&mut *conn)
            .await?;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO planner.plans (name, plan_sha256, plan_yaml, registered_by)
         VALUES ($1, $2, $3, $4 || ' as ' || current_user)",
    )
    .bind(&plan.name)
    .bind(plan_sha)
    .bind(plan_yaml)
    .bind(actor())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Name the file that differs between what was applied and what is on disk now.
/// Name the first differing line between the plan registered in the database and the one on disk.
fn changed_file(existing: &PlanRecord, plan: &Plan) -> String {
    let mut now = plan.clone();
    let mut files_now = crate::plan::files::render(&mut now);
    let yaml_now = crate::plan::write::plan_yaml(&now).unwrap_or_default();
    files_now.insert("plan.yaml".into(), yaml_now);
    let Ok((registered, mut files_then)) =
        crate::plan::load::from_yaml(&existing.plan_yaml, "the registered plan")
    else {
        return "plan.yaml".to_string();
    };
    files_then.insert("plan.yaml".into(), crate::plan::write::plan_yaml(&registered).unwrap_or_default());
    first_changed_file(&files_then, &files_now)
}

/// The first file (SQL files before plan.yaml) that differs between the registered plan's files
/// and the ones on disk, with its first differing line.
pub fn first_changed_file(
    files_then: &BTreeMap<String, String>,
    files_now: &BTreeMap<String, String>,
) -> String {
    // SQL files first: they say what would run differently.
    let mut names: Vec<&String> = files_then.keys().chain(files_now.keys()).collect();
    names.sort_by_key(|n| (n.as_str() == "plan.yaml", n.as_str()));
    names.dedup();
    for name in names {
        let then = files_then.get(name).map(String::as_str).unwrap_or("");
        let current = files_now.get(name).map(String::as_str).unwrap_or("");
        if let Some(d) = crate::plan::load::first_difference(name, then, current) {
            return format!("{name} (line {}: registered {}, now {})", d.line, d.expected, d.found);
        }
    }
    "plan.yaml".to_string()
}

/// Record that the first `done` steps of a running phase committed; the executor runs it inside each
/// unit's own transaction (or right after a unit that runs outside one).
pub async fn set_steps_done(
    conn: &mut PgConnection,
    plan: &str,
    phase: PhaseKind,
    done: usize,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE planner.phases SET steps_done = $3 WHERE plan = $1 AND phase = $2")
        .bind(plan)
        .bind(phase.as_str())
        .bind(done as i32)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn start_phase(
    conn: &mut PgConnection,
    plan: &str,
    phase: PhaseKind,
    checksums: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO planner.phases (plan, phase, status, checksums, applied_by, started_at)
         VALUES ($1, $2, 'running', $3, $4 || ' as ' || current_user, now())
         ON CONFLICT (plan, phase) DO UPDATE SET status = 'running', checksums = EXCLUDED.checksums,
             applied_by = EXCLUDED.applied_by, started_at = now(), finished_at = NULL, error = NULL, table_shapes = NULL,
             steps_done = 0",
    )
    .bind(plan)
    .bind(phase.as_str())
    .bind(serde_json::to_value(checksums)?)
    .bind(actor())
    .execute(&mut *conn)
    .await?;
    log(conn, plan, phase, "apply", "running", None).await
}

pub async fn finish_phase(
    conn: &mut PgConnection,
    plan: &str,
    phase: PhaseKind,
    status: PhaseStatus,
    error: Option<&str>,
    table_shapes: Option<serde_json::Value>,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE planner.phases SET status = $3, finished_at = now(), error = $4, table_shapes = $5
          WHERE plan = $1 AND phase = $2",
    )
    .bind(plan)
    .bind(phase.as_str())
    .bind(status.as_str())
    .bind(error)
    .bind(table_shapes)
    .execute(&mut *conn)
    .await?;
    let action = if status == PhaseStatus::RolledBack { "rollback" } else { "apply" };
    log(conn, plan, phase, action, status.as_str(), error).await
}

/// Append to planner.history.
/// Did the last rollback of this phase stop half-way (killed: it logged `running`, never an end)?
pub async fn rollback_interrupted(
    conn: &mut PgConnection,
    plan: &str,
    phase: PhaseKind,
) -> anyhow::Result<bool> {
    let last: Option<String> = sqlx::query_scalar(
        "SELECT status FROM planner.history WHERE plan = $1 AND phase = $2 AND action = 'rollback' ORDER BY id DESC LIMIT 1",
    )
    .bind(plan)
    .bind(phase.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(last.as_deref() == Some("running"))
}

pub async fn log(
    conn: &mut PgConnection,
    plan: &str,
    phase: PhaseKind,
    action: &str,
    status: &str,
    detail: Option<&str>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO planner.history (plan, phase, action, status, actor, detail)
         VALUES ($1, $2, $3, $4, $5 || ' as ' || current_user, $6)",
    )
    .bind(plan)
    .bind(phase.as_str())
    .bind(action)
    .bind(status)
    .bind(actor())
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn backfill_records(conn: &mut PgConnection, plan: &str) -> anyhow::Result<Vec<BackfillRecord>> {
    if !exists(conn).await? {
        return Ok(Vec::new());
    }
    // The pause columns through to_jsonb: a state schema older than migration 5 (a read-only
    // `status` does not migrate) has none, and reads as not paused.
    #[allow(clippy::type_complexity)]
    let rows: Vec<(String, i64, i64, String, Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT table_name, rows_done, batches, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC',
                to_jsonb(p) ->> 'paused_reason',
                to_char((to_jsonb(p) ->> 'paused_since')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC'
           FROM planner.backfill_progress AS p WHERE plan = $1 ORDER BY table_name",
    )
    .bind(plan)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(table, rows_done, batches, updated_at, finished_at, reason, since)| BackfillRecord {
            table,
            rows_done,
            batches,
            updated_at,
            finished_at,
            paused: reason.map(|r| (r, since.unwrap_or_default())),
        })
        .collect())
}

/// An unfinished backfill as `status` shows it: is a planner running it right now (its per-table
/// runner lock is held), where it stopped, its mean rate since it started, the table's size.
#[derive(Debug, Clone)]
pub struct BackfillLiveness {
    pub running: bool,
    /// The checkpoint: key values of the last row done (JSON array as text).
    pub last_key: Option<String>,
    /// rows_done over the time between the checkpoint's start and its last update.
    pub rows_per_s: Option<f64>,
    /// pg_class.reltuples of the table (an estimate; None when never analyzed).
    pub estimate: Option<f64>,
}

pub async fn backfill_liveness(
    conn: &mut PgConnection,
    plan: &str,
    table: &str,
) -> anyhow::Result<BackfillLiveness> {
    // The runner lock is the one src/backfill/checkpoint.rs takes: (hashtext('planner.backfill'),
    // hashtext(plan/table)), a two-key advisory lock (objsubid 2).
    /// running, last_key, rows/s, reltuples
    type Row = (bool, Option<String>, Option<f64>, Option<f32>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM pg_locks l
                         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                           AND l.classid = hashtext('planner.backfill')::oid
                           AND l.objid = hashtext(p.plan || '/' || p.table_name)::oid),
                p.last_key::text,
                CASE WHEN p.updated_at > p.started_at
                     THEN p.rows_done / extract(epoch FROM p.updated_at - p.started_at)::float8 END,
                NULLIF(c.reltuples, -1)
           FROM planner.backfill_progress p
           LEFT JOIN pg_class c ON c.oid = to_regclass(p.table_name)
          WHERE p.plan = $1 AND p.table_name = $2",
    )
    .bind(plan)
    .bind(table)
    .fetch_optional(&mut *conn)
    .await?;
    let (running, last_key, rows_per_s, estimate) = row.unwrap_or((false, None, None, None));
    Ok(BackfillLiveness { running, last_key, rows_per_s, estimate: estimate.map(f64::from) })
}

/// Forget backfill checkpoints (rolling back the backfill phase means it runs again from the start).
pub async fn reset_backfill(conn: &mut PgConnection, plan: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM planner.backfill_progress WHERE plan = $1")
        .bind(plan)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
