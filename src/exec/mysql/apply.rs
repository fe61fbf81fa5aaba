//! Applying one phase of a MySQL plan: the plan registered as reviewed, phase order,
//! preconditions, then the statements one by one through `mysql::state::run_steps` (each recorded
//! before and after), or the backfill tasks through `mysql::backfill`.

use std::time::{Duration, Instant};

use sqlx::MySqlConnection;

use super::{effects, load, preconditions, Run};
use crate::backfill::{BackfillReport, TableReport};
use crate::error::{InputError, Refusal};
use crate::exec::apply::{
    refusal_lines, refuse_out_of_order, ApplyOptions, ApplyOutcome, LoadedPlan, PhaseRun,
};
use crate::exec::state::PhaseStatus;
use crate::mysql::ddl::DdlStatement;
use crate::mysql::state::{self, PhaseOutcome, Resume, StepStatus};
use crate::mysql::MySession;
use crate::plan::{PhaseKind, Step};

/// What a phase would meet if it ran now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preflight {
    Ready,
    AlreadyDone,
    /// An earlier run started it and stopped (killed, failed half way): the next run resumes it.
    Resume,
}

/// Every check `apply` makes before it changes anything, read-only (`--dry-run` runs exactly
/// these). A refusal is an error (exit 1).
pub async fn preflight(
    conn: &mut MySqlConnection,
    loaded: &LoadedPlan,
    kind: PhaseKind,
) -> anyhow::Result<Preflight> {
    let plan = &loaded.plan;
    let phase = loaded.phase(kind)?;
    check_registered(conn, loaded).await?;
    let records = state::phase_records(conn, &plan.name).await?;
    if let Some(r) = records.iter().find(|r| r.phase == kind) {
        match r.status {
            PhaseStatus::Done => return Ok(Preflight::AlreadyDone),
            PhaseStatus::Running | PhaseStatus::Partial => return Ok(Preflight::Resume),
            PhaseStatus::Failed if r.steps_done > 0 => return Ok(Preflight::Resume),
            _ => {}
        }
    }
    refuse_out_of_order(plan, &records, kind)?;
    let dir = loaded.dir.display().to_string();
    let failures = preconditions::failing(conn, plan, phase, &records, &dir).await?;
    if !failures.is_empty() {
        return Err(Refusal::new(refusal_lines(kind, &failures)).into());
    }
    Ok(Preflight::Ready)
}

/// Refuse a plan whose registered copy differs from this one once a phase of it was applied
/// (the PostgreSQL executor's rule and wording). `Ok(true)`: exactly this plan is registered.
pub async fn check_registered(conn: &mut MySqlConnection, loaded: &LoadedPlan) -> anyhow::Result<bool> {
    let plan = &loaded.plan;
    let Some(existing) = state::plan_record(conn, &plan.name).await? else { return Ok(false) };
    if crate::plan::sha256_hex(existing.plan_yaml.as_bytes()) != existing.plan_sha256 {
        return Err(Refusal::new(format!(
            "the copy of plan `{}` registered in planner_plans was changed: its text no longer has the sha256 recorded with it ({}); \
             planner will not run or undo from it. Restore it, or ask who edited planner_plans",
            plan.name, existing.plan_sha256
        ))
        .into());
    }
    if existing.plan_sha256 == loaded.sha256 {
        return Ok(true);
    }
    let records = state::phase_records(conn, &plan.name).await?;
    let Some(first) = records.iter().find(|r| r.status != PhaseStatus::RolledBack) else { return Ok(false) };
    let changed = changed_file(&existing.plan_yaml, loaded);
    let help = format!(
        "the applied plan is in planner_plans (`SELECT plan_yaml FROM planner_plans WHERE name = '{}'`); \
         finish or roll back that plan with its files, or give the new plan another name",
        plan.name
    );
    Err(Refusal::new(crate::exec::state::plan_changed_message(
        &plan.name,
        &changed,
        first,
        &existing.plan_sha256,
        &loaded.sha256,
        &help,
    ))
    .into())
}

fn changed_file(registered_yaml: &str, loaded: &LoadedPlan) -> String {
    let files = |yaml: &str| {
        load::from_yaml(yaml, "plan.yaml").ok().map(|(_, mut files)| {
            files.insert("plan.yaml".into(), yaml.to_string());
            files
        })
    };
    match (files(registered_yaml), files(&loaded.yaml)) {
        (Some(then), Some(now)) => crate::exec::state::first_changed_file(&then, &now),
        _ => "plan.yaml".to_string(),
    }
}

/// Register the plan as reviewed (or replace a registration no phase was applied with).
async fn register(conn: &mut MySqlConnection, loaded: &LoadedPlan) -> anyhow::Result<()> {
    if !check_registered(conn, loaded).await? {
        state::store_plan(conn, &loaded.plan.name, &loaded.sha256, &loaded.yaml).await?;
    }
    Ok(())
}

/// The first phase of the plan not applied yet on this database.
pub async fn next_pending(
    conn: &mut MySqlConnection,
    loaded: &LoadedPlan,
) -> anyhow::Result<Option<PhaseKind>> {
    let records = state::phase_records(conn, &loaded.plan.name).await?;
    Ok(crate::exec::apply::next_pending(&loaded.plan, &records))
}

/// Apply one phase: checks, then its statements (or its backfill), recorded as they go.
pub async fn apply_phase_run(
    run: &mut Run,
    loaded: &LoadedPlan,
    kind: PhaseKind,
    opts: &ApplyOptions,
) -> anyhow::Result<PhaseRun> {
    let plan = &loaded.plan;
    let phase = loaded.phase(kind)?;
    let session = &mut run.session;
    let resuming = match preflight(session.conn(), loaded, kind).await? {
        Preflight::AlreadyDone => {
            return Ok(PhaseRun { outcome: ApplyOutcome::AlreadyDone { phase: kind }, backfill: None })
        }
        Preflight::Resume => true,
        Preflight::Ready => false,
    };
    register(session.conn(), loaded).await?;
    if resuming {
        tracing::info!(
            target: "planner",
            "resuming phase {kind} of plan `{}`: an earlier run stopped; what it committed stays",
            plan.name
        );
    }
    state::start_phase(session.conn(), &plan.name, kind.as_str()).await?;

    let mut report = None;
    if kind == PhaseKind::Backfill && !phase.backfill.is_empty() {
        match run_backfill(session, loaded, opts).await {
            Ok(r) if r.completed => report = Some(r),
            Ok(r) => {
                return Ok(PhaseRun {
                    outcome: ApplyOutcome::Interrupted { phase: kind, paused_too_long: r.paused_too_long },
                    backfill: Some(r),
                })
            }
            Err(e) => {
                let msg = format!("{e:#}");
                if let Err(not_recorded) = state::finish_phase(
                    session.conn(),
                    &plan.name,
                    kind.as_str(),
                    PhaseStatus::Failed,
                    Some(&msg),
                    None,
                )
                .await
                {
                    tracing::warn!(target: "planner", "could not record the failure in planner_phases: {not_recorded:#}");
                }
                return Err(e.context(format!(
                    "backfill of plan `{}` failed; its checkpoint is kept, run again to resume",
                    plan.name
                )));
            }
        }
    }

    if let Err(e) = run_statements(session, loaded, kind, &phase.steps).await {
        let records =
            state::step_records(session.conn(), &plan.name, kind.as_str()).await.unwrap_or_default();
        let done = records.iter().filter(|r| r.status == StepStatus::Done).count();
        // A step still `running` was interrupted and not yet resolved (its statement may still
        // run on the server): the phase is resumed, never started afresh with its preconditions.
        let unresolved = records.iter().any(|r| r.status == StepStatus::Running);
        let status = if done > 0 || unresolved { PhaseStatus::Partial } else { PhaseStatus::Failed };
        let msg = format!("{e:#}");
        let _ =
            state::finish_phase(session.conn(), &plan.name, kind.as_str(), status, Some(&msg), None).await;
        let dir = loaded.dir.display();
        let what = if done > 0 {
            format!(
                "phase {kind} of plan `{}` stopped with {done} of {} statements applied (MySQL DDL commits \
                 statement by statement, so they stay); fix the cause and resume: planner apply {dir} --phase {kind}; \
                 or undo them: planner rollback {dir}",
                plan.name,
                phase.steps.len()
            )
        } else if unresolved {
            format!(
                "phase {kind} of plan `{}` was interrupted and whether its statement took effect is not known yet; \
                 run the same command again once the cause is gone",
                plan.name
            )
        } else {
            format!("phase {kind} of plan `{}` failed; nothing of it is applied", plan.name)
        };
        return Err(e.context(what));
    }
    let shapes = serde_json::to_string(&preconditions::table_shapes(session.conn(), plan).await?)?;
    state::finish_phase(session.conn(), &plan.name, kind.as_str(), PhaseStatus::Done, None, Some(&shapes))
        .await?;
    Ok(PhaseRun {
        outcome: ApplyOutcome::Applied { phase: kind, steps: phase.steps.len() },
        backfill: report,
    })
}

/// The statements a phase's steps run, exactly as its reviewed `.up.sql` file has them.
pub fn statements(loaded: &LoadedPlan, kind: PhaseKind, steps: &[Step]) -> anyhow::Result<Vec<String>> {
    let sqls: Vec<String> = steps.iter().map(Step::sql).collect();
    let (_, files) = load::from_yaml(&loaded.yaml, "plan.yaml")?;
    let file = loaded.phase(kind)?.up_file.as_ref().and_then(|f| files.get(f));
    if let Some(file) = file {
        let mut rest = file.as_str();
        for sql in &sqls {
            let Some(at) = rest.find(&format!("\n{sql};\n")) else {
                anyhow::bail!("internal error: `{sql}` is not in the reviewed {kind} file; nothing was run");
            };
            rest = &rest[at + sql.len()..];
        }
    }
    Ok(sqls)
}

async fn run_statements(
    session: &mut MySession,
    loaded: &LoadedPlan,
    kind: PhaseKind,
    steps: &[Step],
) -> anyhow::Result<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let plan = &loaded.plan.name;
    let sqls = statements(loaded, kind, steps)?;
    let ddl: Vec<DdlStatement<'_>> = steps
        .iter()
        .zip(&sqls)
        .map(|(step, sql)| {
            let mut s = DdlStatement::new(sql);
            if let Some(t) = &step.table {
                s = s.on(t.name.as_str());
            }
            if step.scans_table {
                s = s.scanning();
            }
            s
        })
        .collect();
    loop {
        match state::run_steps(session, plan, kind.as_str(), &ddl).await? {
            PhaseOutcome::Complete { .. } => return Ok(()),
            PhaseOutcome::NeedsResolution(Resume::Interrupted { step }) => {
                resolve_interrupted(session, plan, kind, step, &steps[step as usize - 1]).await?;
            }
            PhaseOutcome::NeedsResolution(Resume::Changed { step, recorded_sha256, planned_sha256 }) => {
                return Err(Refusal::new(format!(
                    "step {step} of phase {kind} of plan `{plan}` was recorded with another statement (sha256 \
                     {recorded_sha256}, now {planned_sha256}); refusing to mix two versions of a plan"
                ))
                .into())
            }
            PhaseOutcome::NeedsResolution(other) => anyhow::bail!("unexpected resume point {other:?}"),
        }
    }
}

/// A step an earlier run sent but never saw finish: done if its effect is in the catalog,
/// otherwise marked failed so it runs again.
pub async fn resolve_interrupted(
    session: &mut MySession,
    plan: &str,
    kind: PhaseKind,
    step: u32,
    planned: &Step,
) -> anyhow::Result<bool> {
    effects::refuse_if_running(session.conn(), step, &planned.op).await?;
    let present = effects::present(session.conn(), &planned.op).await?;
    let (status, note) = match present {
        Some(true) => (StepStatus::Done, "interrupted; its effect is in the catalog"),
        _ => (StepStatus::Failed, "interrupted before it took effect; run again"),
    };
    tracing::info!(target: "planner", "step {step} of {kind} was interrupted by an earlier run: {note}");
    state::finish_step(session.conn(), plan, kind.as_str(), step, status, Some(note)).await?;
    Ok(status == StepStatus::Done)
}

/// Every backfill task of the plan, each on a session of its own, as one report.
async fn run_backfill(
    session: &mut MySession,
    loaded: &LoadedPlan,
    opts: &ApplyOptions,
) -> anyhow::Result<BackfillReport> {
    let plan = &loaded.plan;
    let tasks = &loaded.phase(PhaseKind::Backfill)?.backfill;
    let b = &opts.backfill;
    let throttle = &b.throttle;
    if throttle.hold_latency.is_some() {
        tracing::warn!(
            target: "planner",
            "on MySQL/MariaDB the backfill honours --batch, --sleep, --max-rate, --target-batch-time and \
             --control; --hold-latency is not applied yet"
        );
    }
    let started = Instant::now();
    let mut report = BackfillReport { completed: true, ..BackfillReport::default() };
    for task in tasks {
        let [key] = task.key.as_slice() else {
            return Err(InputError::new(format!(
                "backfill of {} walks a key of {} columns; on MySQL/MariaDB planner walks one-column keys only",
                task.table.name.as_str(),
                task.key.len()
            ))
            .into());
        };
        let job = crate::mysql::backfill::KeysetBackfill {
            plan: &plan.name,
            table: task.table.name.as_str(),
            key: key.column.as_str(),
            set: task.set.iter().map(|a| (a.column.as_str(), a.expr.as_str())).collect(),
            pending: Some(&task.pending),
            throttle: crate::backfill::ThrottleSettings { hold_latency: None, ..throttle.clone() },
            control: b.control_file.as_deref(),
            max_transaction_age: b.pauses.max_transaction_age,
            max_pause: b.pauses.max_pause,
            stop: Some(b.stop.clone()),
        };
        let mut worker = MySession::open_with(session.config.clone(), session.limits.clone()).await?;
        let table_started = Instant::now();
        let result = crate::mysql::backfill::run(&mut worker, &job).await;
        let progress = match &result {
            Ok(_) => {
                crate::mysql::backfill::progress(worker.conn(), &plan.name, job.table).await.ok().flatten()
            }
            Err(_) => None,
        };
        let _ = worker.close().await;
        let run = result?;
        let finished = run.stopped.is_none();
        report.rows += run.rows_visited;
        report.rows_updated += run.rows_changed;
        report.batches += run.batches;
        report.tables.push(TableReport {
            table: job.table.to_string(),
            rows: run.rows_visited,
            rows_updated: run.rows_changed,
            batches: run.batches,
            elapsed: table_started.elapsed(),
            already_done: run.already_finished,
            finished,
            last_key: progress.and_then(|p| p.last_key).map(|k| vec![k]),
        });
        if let Some(why) = run.stopped {
            report.completed = false;
            report.paused_too_long = run.paused_too_long;
            report.stopped = Some(why);
            break;
        }
    }
    report.elapsed = started.elapsed().max(Duration::from_micros(1));
    if opts.print_backfill_report {
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), "{report}");
    }
    Ok(report)
}

/// `apply --dry-run` for a MySQL plan: the reviewed file of the phase (what runs, byte for
/// byte) under a header saying how it runs. Needs no database.
pub fn dry_run(
    loaded: &LoadedPlan,
    kind: PhaseKind,
    limits: &crate::mysql::SessionLimits,
) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let phase = loaded.phase(kind)?;
    let (_, files) = load::from_yaml(&loaded.yaml, "plan.yaml")?;
    let mut out = String::new();
    let _ =
        writeln!(out, "-- planner dry run: plan {}, phase {kind} (nothing was executed)", loaded.plan.name);
    let _ = writeln!(
        out,
        "-- each statement runs with lock_wait_timeout = {} s (the file's own SET is for running it by hand) and is retried up to {} times on a lock wait, with backoff and jitter; each is recorded before and after it runs",
        crate::mysql::connect::whole_seconds(limits.lock_timeout),
        limits.retries
    );
    for pre in &phase.preconditions {
        let _ = writeln!(out, "-- precondition checked first: {}", serde_json::to_string(pre)?);
    }
    match phase.up_file.as_ref().and_then(|f| files.get(f)) {
        Some(file) => out.push_str(file),
        None => {
            let _ = writeln!(out, "-- (this phase has no statements)");
        }
    }
    Ok(out)
}
