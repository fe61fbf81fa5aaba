//! Applying one phase of a plan: order checks, preconditions, steps in units, undo on failure.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::session::Session;
use super::state::{self, PhaseRecord, PhaseStatus};
use super::verify;
use crate::backfill::BackfillOptions;
use crate::error::{InputError, Refusal};
use crate::plan::script::{undo_steps, Script, Unit};
use crate::plan::{Phase, PhaseKind, Plan, Precondition, Step};

/// A plan folder read from disk, with the identity recorded in the state schema.
#[derive(Debug, Clone)]
pub struct LoadedPlan {
    pub dir: PathBuf,
    pub plan: Plan,
    /// sha256 of plan.yaml.
    pub sha256: String,
    pub yaml: String,
}

/// Whether this build can run a plan for its dialect (the dialect seam says).
fn runnable(plan: &Plan) -> Result<(), InputError> {
    let dialect = crate::dialect::Dialect::new(plan.dialect, plan.server_version);
    dialect.execution().map_err(|why| {
        InputError::new(format!(
            "plan `{}` is for {} {}: {why}",
            plan.name,
            plan.dialect.product(),
            plan.server_version
        ))
        .help("plan the change for PostgreSQL, or use a planner build with MySQL/MariaDB execution")
    })
}

impl LoadedPlan {
    /// Read `dir/plan.yaml`, refusing SQL files edited after planning.
    pub fn load(dir: &Path) -> anyhow::Result<LoadedPlan> {
        // A MySQL/MariaDB plan's files are the MySQL compiler's; everything else is read as before.
        if let Some(loaded) = super::mysql::load::load_if_mysql(dir)? {
            runnable(&loaded.plan)?;
            return Ok(loaded);
        }
        let (plan, yaml) = crate::plan::read_dir(dir)?;
        runnable(&plan)?;
        let sha256 = crate::plan::sha256_hex(yaml.as_bytes());
        Ok(LoadedPlan { dir: dir.to_path_buf(), plan, sha256, yaml })
    }

    /// The plan as registered in the database (the one that was applied), for when the folder
    /// was edited since: rollback undoes what ran, not what the folder now says.
    pub async fn registered(
        conn: &mut sqlx::PgConnection,
        dir: &Path,
        name: &str,
    ) -> anyhow::Result<LoadedPlan> {
        let record = state::plan_record(conn, name)
            .await?
            .ok_or_else(|| Refusal::new(format!("plan `{name}` is not registered in this database")))?;
        let (plan, _) =
            crate::plan::load::from_yaml(&record.plan_yaml, &format!("registered plan `{name}`"))?;
        Ok(LoadedPlan { dir: dir.to_path_buf(), plan, sha256: record.plan_sha256, yaml: record.plan_yaml })
    }

    pub fn phase(&self, kind: PhaseKind) -> anyhow::Result<&Phase> {
        self.plan.phase(kind).ok_or_else(|| {
            let has: Vec<&str> = self.plan.phases.iter().map(|p| p.phase.as_str()).collect();
            InputError::new(format!(
                "plan `{}` has no {kind} phase (it has: {})",
                self.plan.name,
                if has.is_empty() { "none".to_string() } else { has.join(", ") }
            ))
            .into()
        })
    }
}

/// What `apply_phase` does besides the SQL steps.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Throttling for the backfill phase's tasks.
    pub backfill: BackfillOptions,
    /// Print the backfill's summary (rows, batches, rate, pauses) on stdout (the CLI does).
    pub print_backfill_report: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    Applied {
        phase: PhaseKind,
        steps: usize,
    },
    /// The phase was already done: nothing ran.
    AlreadyDone {
        phase: PhaseKind,
    },
    /// The backfill was stopped early (Ctrl-C); its checkpoint is saved, run again to resume.
    Interrupted {
        phase: PhaseKind,
        /// Stopped because a pause outlasted `--max-pause` (not by a signal).
        paused_too_long: bool,
    },
}

/// A phase run with what the JSON report needs besides the outcome.
#[derive(Debug, Clone)]
pub struct PhaseRun {
    pub outcome: ApplyOutcome,
    /// The backfill's summary, when this run backfilled (None: no backfill ran).
    pub backfill: Option<crate::backfill::BackfillReport>,
}

/// The first phase of the plan that is not done yet.
pub fn next_pending(plan: &Plan, records: &[PhaseRecord]) -> Option<PhaseKind> {
    plan.phases
        .iter()
        .map(|p| p.phase)
        .find(|k| !records.iter().any(|r| r.phase == *k && r.status == PhaseStatus::Done))
}

/// Apply the next pending phase.
pub async fn apply_next(
    session: &mut Session,
    loaded: &LoadedPlan,
    opts: &ApplyOptions,
) -> anyhow::Result<ApplyOutcome> {
    Ok(apply_next_run(session, loaded, opts).await?.outcome)
}

/// [`apply_next`] with the backfill's report.
pub async fn apply_next_run(
    session: &mut Session,
    loaded: &LoadedPlan,
    opts: &ApplyOptions,
) -> anyhow::Result<PhaseRun> {
    state::register_plan(session.conn(), &loaded.plan, &loaded.sha256, &loaded.yaml).await?;
    let records = state::phase_records(session.conn(), &loaded.plan.name).await?;
    match next_pending(&loaded.plan, &records) {
        Some(kind) => apply_phase_run(session, loaded, kind, opts).await,
        None => Err(Refusal::new(format!(
            "every phase of plan `{}` is already applied; nothing to do",
            loaded.plan.name
        ))
        .into()),
    }
}

/// Apply one phase: refuse out-of-order or drifted plans, check preconditions in this session,
/// run the steps (undoing the committed ones if a later one fails), record the result.
pub async fn apply_phase(
    session: &mut Session,
    loaded: &LoadedPlan,
    kind: PhaseKind,
    opts: &ApplyOptions,
) -> anyhow::Result<ApplyOutcome> {
    Ok(apply_phase_run(session, loaded, kind, opts).await?.outcome)
}

/// [`apply_phase`] with the backfill's report (the units and their timings are in
/// [`Session::take_units`], also after an error).
pub async fn apply_phase_run(
    session: &mut Session,
    loaded: &LoadedPlan,
    kind: PhaseKind,
    opts: &ApplyOptions,
) -> anyhow::Result<PhaseRun> {
    let plan = &loaded.plan;
    let phase = loaded.phase(kind)?;
    let done = |outcome| PhaseRun { outcome, backfill: None };
    let resume_from = match preflight(session, loaded, kind).await? {
        Preflight::AlreadyDone => return Ok(done(ApplyOutcome::AlreadyDone { phase: kind })),
        Preflight::Resume(n) => Some(n.min(phase.steps.len())),
        Preflight::Ready => None,
    };
    state::register_plan(session.conn(), plan, &loaded.sha256, &loaded.yaml).await?;

    match resume_from {
        Some(n) => {
            tracing::info!(
                target: "planner",
                "resuming phase {kind} of plan `{}` after step {n} of {} (an earlier run was interrupted; its committed steps stay)",
                plan.name,
                phase.steps.len()
            );
            state::log(
                session.conn(),
                &plan.name,
                kind,
                "resume",
                "running",
                Some(&format!("after step {n}")),
            )
            .await?;
        }
        None => {
            let checksums = state::phase_checksums(plan, &loaded.sha256, phase);
            state::start_phase(session.conn(), &plan.name, kind, &checksums).await?;
        }
    }
    let start = resume_from.unwrap_or(0);

    let mut backfill_report = None;
    if kind == PhaseKind::Backfill && !phase.backfill.is_empty() {
        match run_backfill(session, plan, opts).await {
            Ok(None) => {}
            Ok(Some(report)) if report.completed => backfill_report = Some(report),
            Ok(Some(report)) => {
                return Ok(PhaseRun {
                    outcome: ApplyOutcome::Interrupted {
                        phase: kind,
                        paused_too_long: report.paused_too_long,
                    },
                    backfill: Some(report),
                })
            }
            Err(e) => {
                let msg = format!("{e:#}");
                // The main session may be what failed (terminated): the cause is the error to
                // report, not the failure to record it.
                if let Err(not_recorded) = state::finish_phase(
                    session.conn(),
                    &plan.name,
                    kind,
                    PhaseStatus::Failed,
                    Some(&msg),
                    None,
                )
                .await
                {
                    tracing::warn!(
                        target: "planner",
                        "could not record the failure in planner.phases: {not_recorded:#}"
                    );
                }
                return Err(e.context(format!(
                    "backfill of plan `{}` failed; its checkpoint is kept, run again to resume",
                    plan.name
                )));
            }
        }
    }

    let progress = Progress { plan: &plan.name, phase: kind, offset: start };
    if let Err(e) = Box::pin(run_steps_inner(session, &phase.steps[start..], Some(progress))).await {
        let msg = format!("{e:#}");
        let status = if e.downcast_ref::<PartiallyApplied>().is_some() {
            PhaseStatus::Partial
        } else {
            PhaseStatus::Failed
        };
        state::finish_phase(session.conn(), &plan.name, kind, status, Some(&msg), None).await?;
        return Err(e);
    }
    let shapes = verify::table_shapes(session.conn(), plan).await?;
    state::finish_phase(session.conn(), &plan.name, kind, PhaseStatus::Done, None, Some(shapes)).await?;
    Ok(PhaseRun {
        outcome: ApplyOutcome::Applied { phase: kind, steps: phase.steps.len() },
        backfill: backfill_report,
    })
}

/// What a phase would meet if it ran now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preflight {
    Ready,
    AlreadyDone,
    /// A run of this phase was killed after its first N steps committed: the next run resumes.
    Resume(usize),
}

/// Every check `apply` makes before it changes anything, read-only (a `--dry-run` runs exactly
/// these): the plan registered in the database, the order of phases, an interrupted phase, every
/// precondition and, before the first phase, schema drift. A refusal is an error (exit 1).
pub async fn preflight(
    session: &mut Session,
    loaded: &LoadedPlan,
    kind: PhaseKind,
) -> anyhow::Result<Preflight> {
    let plan = &loaded.plan;
    let phase = loaded.phase(kind)?;
    state::check_registered(session.conn(), plan, &loaded.sha256).await?;
    let records = state::phase_records(session.conn(), &plan.name).await?;
    let record = records.iter().find(|r| r.phase == kind);
    match record.map(|r| r.status) {
        Some(PhaseStatus::Done) => return Ok(Preflight::AlreadyDone),
        Some(PhaseStatus::Running) if kind != PhaseKind::Backfill => {
            return Ok(Preflight::Resume(record.map(|r| r.steps_done).unwrap_or(0)));
        }
        Some(PhaseStatus::Partial) if kind != PhaseKind::Backfill => {
            return Err(Refusal::new(format!(
                "phase {kind} of plan `{}` was interrupted (started {} by {}); run `planner rollback {}` \
                 to undo what it did, then apply it again",
                plan.name,
                record.map(|r| r.started_at.as_str()).unwrap_or("?"),
                record.map(|r| r.applied_by.as_str()).unwrap_or("?"),
                loaded.dir.display()
            ))
            .into())
        }
        _ => {}
    }
    refuse_out_of_order(plan, &records, kind)?;
    let mut failures = verify::failing_preconditions(session.conn(), plan, phase, &records).await?;
    let checks_columns = phase.preconditions.iter().any(|p| matches!(p, Precondition::ColumnsMatch { .. }));
    if kind == plan.phases.first().map(|p| p.phase).unwrap_or(kind) && !checks_columns {
        failures.extend(schema_drift(session, plan).await?);
    }
    if !failures.is_empty() {
        return Err(Refusal::new(refusal_lines(kind, &failures)).into());
    }
    Ok(Preflight::Ready)
}

/// Refuse `kind` when a later phase of `plan` is applied (or half-applied): phases run in order.
/// Pure over the state records, so both backends share it.
pub(crate) fn refuse_out_of_order(
    plan: &Plan,
    records: &[PhaseRecord],
    kind: PhaseKind,
) -> Result<(), Refusal> {
    match records
        .iter()
        .find(|r| r.phase > kind && r.status != PhaseStatus::RolledBack && plan.phase(r.phase).is_some())
    {
        Some(later) => Err(Refusal::new(format!(
            "phase {} of plan `{}` is already {}; phases run in order",
            later.phase,
            plan.name,
            later.status.as_str()
        ))),
        None => Ok(()),
    }
}

/// Run the backfill tasks unless every table already finished (None). The report says whether
/// it completed or was interrupted.
async fn run_backfill(
    session: &mut Session,
    plan: &Plan,
    opts: &ApplyOptions,
) -> anyhow::Result<Option<crate::backfill::BackfillReport>> {
    let progress = state::backfill_records(session.conn(), &plan.name).await?;
    let tasks = &plan.phase(PhaseKind::Backfill).map(|p| p.backfill.clone()).unwrap_or_default();
    let all_done = tasks
        .iter()
        .all(|t| progress.iter().any(|p| p.table == t.table.display_short() && p.finished_at.is_some()));
    if all_done {
        return Ok(None);
    }
    let label = format!("planner/{}/backfill", plan.name);
    let pool = super::connect::pool(&session.url, &label, 2).await.context("connecting the backfill pool")?;
    let mut backfill = opts.backfill.clone();
    backfill.owner_pid = Some(session.backend_pid().await?);
    let report = crate::backfill::run(&pool, plan, &backfill).await;
    pool.close().await;
    let report = report?;
    if opts.print_backfill_report {
        // Not println!: a closed stdout (`planner backfill | head`) must not end the process
        // between finishing the work and recording it.
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), "{report}");
    }
    Ok(Some(report))
}

/// A phase failed and undoing the steps that had run failed too (typed, so the state records it).
#[derive(Debug, thiserror::Error)]
#[error("PARTIALLY APPLIED: undoing the steps that had run also failed: {0}; run `planner rollback` once the cause is fixed")]
pub struct PartiallyApplied(pub String);

/// Run steps unit by unit (the phase's script with this session's timeouts); if one fails, undo
/// the units that committed (newest first), so the phase is either fully applied or not at all.
pub async fn run_steps(session: &mut Session, steps: &[Step]) -> anyhow::Result<()> {
    Box::pin(run_steps_inner(session, steps, None)).await
}

/// Fault injection for the fault tests: with `PLANNER_FAULT_ABORT_AFTER_UNITS=N`, the process
/// aborts (no cleanup, like kill -9) right after its N-th unit committed. Unset in real use.
fn fault_point() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static UNITS: AtomicUsize = AtomicUsize::new(0);
    let Some(limit) =
        std::env::var("PLANNER_FAULT_ABORT_AFTER_UNITS").ok().and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    if UNITS.fetch_add(1, Ordering::SeqCst) + 1 >= limit {
        std::process::abort();
    }
}

/// Which phase's `steps_done` to record, and how many of its steps ran before `steps`.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub plan: &'a str,
    pub phase: PhaseKind,
    pub offset: usize,
}

async fn run_steps_inner(
    session: &mut Session,
    steps: &[Step],
    progress: Option<Progress<'_>>,
) -> anyhow::Result<()> {
    let script = Script::build(steps, session.timeouts());
    let mut done = progress.map(|p| p.offset).unwrap_or(0);
    for (i, unit) in script.units.iter().enumerate() {
        let first = done + 1;
        done += unit.statements.len();
        let record = progress.map(|p| (p.plan, p.phase, done));
        let started = std::time::Instant::now();
        if session.opts.report_steps {
            for s in &unit.statements {
                let n = progress.map(|p| p.offset).unwrap_or(0) + s.number;
                tracing::info!(
                    target: "planner",
                    "step {n}/{}: {}",
                    progress.map(|p| p.offset).unwrap_or(0) + steps.len(),
                    s.step.why
                );
            }
        }
        let result = session.run_unit_recorded(unit, record).await;
        if result.is_ok() {
            fault_point();
        }
        let elapsed_ms = started.elapsed().as_millis() as u64;
        if session.opts.report_steps {
            let outcome = if result.is_ok() { "done" } else { "failed" };
            tracing::info!(target: "planner", "  steps {first}-{done} {outcome} in {elapsed_ms} ms");
        }
        {
            session.units.push(super::session::UnitRun {
                first_step: first,
                last_step: done,
                steps: unit.statements.iter().map(|s| s.step.why.clone()).collect(),
                elapsed_ms,
                ok: result.is_ok(),
            });
        }
        if let Err(err) = result {
            let offset = progress.map(|p| p.offset).unwrap_or(0);
            if i == 0 && offset == 0 {
                return Err(err);
            }
            if i == 0 {
                return Err(err.context(PartiallyApplied(format!(
                    "this run resumed after step {offset}; those steps stay applied"
                ))));
            }
            let committed: Vec<Step> =
                script.units[..i].iter().flat_map(|u| u.statements.iter().map(|s| s.step.clone())).collect();
            return match undo(session, &committed, false).await {
                Ok(()) if offset == 0 => Err(
                    err.context("nothing of this phase is left applied (the steps that had run were undone)")
                ),
                Ok(()) => {
                    if let Some(p) = progress {
                        state::set_steps_done(session.conn(), p.plan, p.phase, offset).await?;
                    }
                    Err(err.context(PartiallyApplied(format!(
                        "the steps this run made were undone; the {offset} steps before it (an earlier, interrupted run) stay applied"
                    ))))
                }
                Err(undo_err) => Err(err.context(PartiallyApplied(format!("{undo_err:#}")))),
            };
        }
    }
    Ok(())
}

/// Undo `steps` (as applied, oldest first) in reverse order. With `tolerant`, errors whose
/// SQLSTATE says the object is already gone are ignored (undoing a phase interrupted half-way).
pub async fn undo(session: &mut Session, steps: &[Step], tolerant: bool) -> anyhow::Result<()> {
    if let Some(step) = steps.iter().rev().find(|s| s.undo.is_empty() && s.irreversible.is_some()) {
        anyhow::bail!(
            "step `{}` cannot be undone: {}",
            step.why,
            step.irreversible.as_deref().unwrap_or_default()
        );
    }
    let reversed = undo_steps(steps);
    if !tolerant {
        // The undo is itself a sequence of steps with undos: if one fails half-way (VALIDATE over
        // rows the new app wrote), what it had done is undone too, leaving the schema as it was.
        return run_steps(session, &reversed).await;
    }
    let script = Script::build(&reversed, session.timeouts());
    for unit in &script.units {
        for statement in &unit.statements {
            let single = Unit { tx: unit.tx, statements: vec![statement.clone()] };
            if let Err(e) = session.run_unit(&single).await {
                let gone = matches!(
                    super::session::sqlstate(&e).as_deref(),
                    Some("42703" | "42704" | "42P01" | "42883" | "42710" | "42701")
                );
                if !gone {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// Before the first phase: the live tables must still have the columns the plan was made from.
async fn schema_drift(session: &mut Session, plan: &Plan) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for t in &plan.tables {
        let current = verify::current_columns(session.conn(), &t.table).await?;
        if current.is_empty() {
            out.push(format!("table {} does not exist", t.table.display_short()));
            continue;
        }
        let diffs = verify::shape_differences(session.conn(), &t.columns, &current).await?;
        if !diffs.is_empty() {
            out.push(format!(
                "{} changed since the plan was made: {}; re-plan against the current schema",
                t.table.display_short(),
                diffs.join("; ")
            ));
        }
    }
    Ok(out)
}

/// "Cannot contract: reason" per failing precondition, one per line.
pub fn refusal_lines(kind: PhaseKind, failures: &[String]) -> String {
    failures.iter().map(|f| format!("Cannot {kind}: {f}")).collect::<Vec<_>>().join("\n")
}
