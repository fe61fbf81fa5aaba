//! `--format json` for `status` and `verify`: one JSON document on stdout with a `format` name and
//! a `version`, bumped when a field changes meaning or goes away (new fields may appear anytime).
//! The shapes are documented in the README ("JSON output").

use serde::Serialize;

use crate::exec::apply::next_pending;
use crate::exec::plan_state::PlanState;
use crate::exec::state;
use crate::exec::{LoadedPlan, Session};
use crate::plan::Plan;

/// Version of the documents below.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Serialize)]
pub struct StatusDoc {
    pub format: &'static str,
    pub version: u32,
    pub targets: Vec<TargetStatus>,
}

#[derive(Debug, Serialize)]
pub struct TargetStatus {
    /// planner.yaml target name; null for --database-url / DATABASE_URL.
    pub target: Option<String>,
    pub ok: bool,
    /// Why the target could not be read (ok = false).
    pub error: Option<String>,
    pub plans: Vec<PlanStatus>,
}

#[derive(Debug, Serialize)]
pub struct PlanStatus {
    pub name: String,
    /// null when the plan folder given has not been applied to this database yet
    pub registered_at: Option<String>,
    pub registered_by: Option<String>,
    /// plan.yaml on disk differs from the applied one (only with a plan folder)
    pub drift: bool,
    pub phases: Vec<PhaseStatusJson>,
    pub backfill: Vec<BackfillStatus>,
    /// The next phase to apply, null when every phase is applied.
    pub next_phase: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PhaseStatusJson {
    pub phase: String,
    /// pending, running, done, failed, rolled_back (as stored)
    pub status: String,
    pub applied_by: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BackfillStatus {
    pub table: String,
    pub rows_done: i64,
    pub batches: i64,
    pub finished: bool,
    pub updated_at: String,
    /// Set while a running backfill is paused: why (replication lag, slot lag, WAL rate,
    /// vacuum, long transaction, requested) and since when.
    pub paused: Option<PausedNowJson>,
}

#[derive(Debug, Serialize)]
pub struct PausedNowJson {
    pub reason: String,
    pub since: String,
}

/// One target's status as data (the same sources as the human report).
pub async fn target_status(url: &str, only: Option<&LoadedPlan>) -> anyhow::Result<Vec<PlanStatus>> {
    if let Some(l) = only {
        crate::exec::mysql::check_url(&l.plan, url)?;
    }
    if crate::exec::mysql::is_mysql_url(url) {
        return Ok(plans(crate::exec::mysql::status::plan_states(url, only).await?, only));
    }
    let mut session = Session::observe(url).await?;
    let result = super::status::pg_plan_states(&mut session, only, false).await;
    session.close().await?;
    Ok(plans(result?, only))
}

fn plans(states: Vec<PlanState>, only: Option<&LoadedPlan>) -> Vec<PlanStatus> {
    let mut out = Vec::new();
    for PlanState { plan, record, phases: records, backfill } in states {
        let drift = record.as_ref().is_some_and(|r| only.is_some_and(|l| l.sha256 != r.plan_sha256));
        let phases = plan
            .phases
            .iter()
            .map(|p| match records.iter().find(|r| r.phase == p.phase) {
                None => PhaseStatusJson {
                    phase: p.phase.as_str().to_string(),
                    status: "pending".to_string(),
                    applied_by: None,
                    started_at: None,
                    finished_at: None,
                    error: None,
                },
                Some(r) => PhaseStatusJson {
                    phase: p.phase.as_str().to_string(),
                    status: r.status.as_str().to_string(),
                    applied_by: Some(r.applied_by.clone()),
                    started_at: Some(r.started_at.clone()),
                    finished_at: r.finished_at.clone(),
                    error: r.error.clone(),
                },
            })
            .collect();
        out.push(PlanStatus {
            name: plan.name.clone(),
            registered_at: record.as_ref().map(|r| r.registered_at.clone()),
            registered_by: record.as_ref().map(|r| r.registered_by.clone()),
            drift,
            phases,
            backfill: backfill
                .into_iter()
                .map(|(b, _)| BackfillStatus {
                    table: b.table,
                    rows_done: b.rows_done,
                    batches: b.batches,
                    finished: b.finished_at.is_some(),
                    updated_at: b.updated_at,
                    paused: b.paused.map(|(reason, since)| PausedNowJson { reason, since }),
                })
                .collect(),
            next_phase: next_pending(&plan, &records).map(|k| k.as_str().to_string()),
        });
    }
    out
}

#[derive(Debug, Serialize)]
pub struct VerifyDoc {
    pub format: &'static str,
    pub version: u32,
    pub plan: String,
    /// The phase whose preconditions were checked (contract, or the plan's last phase).
    pub phase: String,
    /// Every precondition holds (exit 0); false = exit 1.
    pub ready: bool,
    pub already_applied: bool,
    /// Each precondition the plan names for that phase (as in plan.yaml) with `ok` and, when it
    /// fails, `reason` with its figures. Empty when the phase is already applied.
    pub preconditions: Vec<serde_json::Value>,
    /// Every failing reason, with its figures (NULL counts, example keys, ...).
    pub failures: Vec<String>,
}

/// Every precondition of `phase` checked one by one: its plan.yaml form plus `ok` / `reason`.
pub async fn precondition_checks(
    session: &mut Session,
    plan: &Plan,
    phase: crate::plan::PhaseKind,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let records = state::phase_records(session.conn(), &plan.name).await?;
    let mut out = Vec::new();
    for pre in plan.phase(phase).map(|p| p.preconditions.as_slice()).unwrap_or_default() {
        let reason = crate::exec::verify::check(session.conn(), plan, pre, &records).await?;
        out.push(crate::exec::verify::precondition_doc(pre, reason)?);
    }
    Ok(out)
}

pub fn print<T: Serialize>(doc: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(doc)?);
    Ok(())
}

/// `planner.apply` / `planner.next` / `planner.backfill` v1: one phase run on one database.
#[derive(Debug, Serialize)]
pub struct PhaseRunDoc {
    pub format: &'static str,
    pub version: u32,
    /// The run did what was asked (exit 0).
    pub ok: bool,
    pub plan: String,
    /// The phase that ran (for `next`: the one it chose); null when it failed before choosing.
    pub phase: Option<String>,
    /// applied, already_done, interrupted (backfill stopped early, checkpoint saved) or failed.
    pub result: &'static str,
    /// Steps of the phase.
    pub steps: usize,
    /// The units this run executed, with their timings.
    pub units: Vec<crate::exec::UnitRun>,
    /// The backfill's figures when this run backfilled.
    pub backfill: Option<BackfillJson>,
    /// The phase to apply next, null when the plan is complete.
    pub next_phase: Option<String>,
    /// What each app version may do now (after an applied phase).
    pub old_app: Option<String>,
    pub new_app: Option<String>,
    /// Why it failed (result = failed or interrupted).
    pub error: Option<String>,
    pub exit_code: i32,
}

/// `planner.rollback` v1.
#[derive(Debug, Serialize)]
pub struct RollbackDoc {
    pub format: &'static str,
    pub version: u32,
    pub ok: bool,
    pub plan: String,
    /// The phase that was undone.
    pub phase: Option<String>,
    /// rolled_back or failed.
    pub result: &'static str,
    pub units: Vec<crate::exec::UnitRun>,
    pub error: Option<String>,
    pub exit_code: i32,
}

/// What a backfill run did, as in its human summary.
#[derive(Debug, Serialize)]
pub struct BackfillJson {
    pub completed: bool,
    /// Why it stopped early (Ctrl-C, SIGTERM).
    pub stopped: Option<String>,
    pub rows: u64,
    pub rows_updated: u64,
    pub batches: u64,
    pub elapsed_s: f64,
    pub rows_per_s: f64,
    pub tables: Vec<BackfillTableJson>,
    pub pauses: Vec<PauseJson>,
}

#[derive(Debug, Serialize)]
pub struct BackfillTableJson {
    pub table: String,
    pub rows: u64,
    pub rows_updated: u64,
    pub batches: u64,
    pub elapsed_s: f64,
    /// Finished by an earlier run.
    pub already_done: bool,
    pub finished: bool,
    /// The checkpoint (key values) when the run ended.
    pub last_key: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct PauseJson {
    pub table: String,
    /// `replication lag`, `lock waits`, `long transaction` or `requested` (the human summary's words).
    pub reason: &'static str,
    /// The reason with its figures.
    pub detail: String,
    pub duration_s: f64,
}

impl From<&crate::backfill::BackfillReport> for BackfillJson {
    fn from(r: &crate::backfill::BackfillReport) -> Self {
        BackfillJson {
            completed: r.completed,
            stopped: r.stopped.clone(),
            rows: r.rows,
            rows_updated: r.rows_updated,
            batches: r.batches,
            elapsed_s: r.elapsed.as_secs_f64(),
            rows_per_s: r.rate(),
            tables: r
                .tables
                .iter()
                .map(|t| BackfillTableJson {
                    table: t.table.clone(),
                    rows: t.rows,
                    rows_updated: t.rows_updated,
                    batches: t.batches,
                    elapsed_s: t.elapsed.as_secs_f64(),
                    already_done: t.already_done,
                    finished: t.finished,
                    last_key: t.last_key.clone(),
                })
                .collect(),
            pauses: r
                .pauses
                .iter()
                .map(|p| PauseJson {
                    table: p.table.clone(),
                    reason: p.reason.kind(),
                    detail: p.reason.to_string(),
                    duration_s: p.duration.as_secs_f64(),
                })
                .collect(),
        }
    }
}

/// What a command prints in JSON when it could not produce its own document (bad config, an
/// unreachable server): `{format, version, ok: false, error, exit_code}`.
#[derive(Debug, Serialize)]
pub struct ErrorDoc {
    pub format: &'static str,
    pub version: u32,
    pub ok: bool,
    pub error: String,
    pub exit_code: i32,
}

impl ErrorDoc {
    pub fn new(format: &'static str, err: &anyhow::Error) -> ErrorDoc {
        ErrorDoc {
            format,
            version: VERSION,
            ok: false,
            error: crate::exec::failure::render(err),
            exit_code: crate::error::exit_code(err),
        }
    }
}
