//! `planner apply PLAN_DIR --phase P` and `planner next PLAN_DIR`.

use std::path::PathBuf;

use std::io::IsTerminal;

use clap::Args;

use crate::error::InputError;

use super::args::{LockArgs, TargetArgs};
use super::backfill::ThrottleArgs;
use super::fleet::{print_single, FleetArgs, Report};
use super::json::{OutputFormat, PhaseRunDoc};
use super::log::Verbosity;
use crate::backfill::ProgressMode;
use crate::exec::{self, ApplyOptions, ApplyOutcome, LoadedPlan, Session};
use crate::plan::PhaseKind;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The plan folder written by `planner plan` (e.g. plans/rename_users_name).
    pub plan_dir: PathBuf,
    /// The phase to apply: expand, backfill or contract.
    #[arg(long)]
    pub phase: PhaseKind,
    /// Print exactly the statements the phase would run and the locks they take; change nothing.
    /// With a database named, also make every check the real run makes and exit 1 where it would refuse.
    #[arg(long, conflicts_with_all = ["format", "all_targets", "targets"])]
    pub dry_run: bool,
    /// Apply an IRREVERSIBLE phase without asking (needed when stdin is not a terminal, e.g. in CI).
    #[arg(long)]
    pub yes: bool,
    /// Output format: human, or json (a versioned document on stdout, see README "JSON output").
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub lock: LockArgs,
    #[command(flatten, next_help_heading = "Backfill throttling")]
    pub throttle: ThrottleArgs,
}

#[derive(Debug, Args)]
pub struct NextArgs {
    /// The plan folder written by `planner plan`.
    pub plan_dir: PathBuf,
    /// Apply an IRREVERSIBLE phase without asking (needed when stdin is not a terminal, e.g. in CI).
    #[arg(long)]
    pub yes: bool,
    /// Output format: human, or json (a versioned document on stdout, see README "JSON output").
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub lock: LockArgs,
    #[command(flatten, next_help_heading = "Backfill throttling")]
    pub throttle: ThrottleArgs,
}

pub async fn run(args: ApplyArgs, target: &TargetArgs, verbosity: Verbosity) -> anyhow::Result<()> {
    // Ctrl-C / SIGTERM are planner's to handle (a backfill stops after its batch, a DDL phase
    // cancels its statement and says how to go on), except in a dry run.
    let opts = apply_options(&args.throttle, &args.lock, !args.dry_run, verbosity, &args.fleet)?;
    let loaded = LoadedPlan::load(&args.plan_dir)?;
    if args.dry_run {
        if loaded.plan.dialect.is_mysql_family() {
            let limits = exec::mysql::limits(&args.lock.session_options());
            print!("{}", exec::mysql::apply::dry_run(&loaded, args.phase, &limits)?);
            return dry_run_checks(&loaded, args.phase, target).await;
        }
        let phase = loaded.phase(args.phase)?;
        print!("{}", exec::dry_run::render(&loaded.plan, phase, &args.lock.session_options()));
        return dry_run_checks(&loaded, args.phase, target).await;
    }
    confirm_irreversible(&loaded, loaded.phase(args.phase)?, args.yes)?;
    let job = PhaseJob {
        loaded,
        which: Which::Phase(args.phase),
        session: args.lock.session_options(),
        opts,
        yes: args.yes,
        command: "apply",
        resume_hint: false,
    };
    run_job(job, target, args.format, &args.fleet).await
}

pub async fn run_next(args: NextArgs, target: &TargetArgs, verbosity: Verbosity) -> anyhow::Result<()> {
    let opts = apply_options(&args.throttle, &args.lock, true, verbosity, &args.fleet)?;
    let loaded = LoadedPlan::load(&args.plan_dir)?;
    let job = PhaseJob {
        loaded,
        which: Which::Next,
        session: args.lock.session_options(),
        opts,
        yes: args.yes,
        command: "next",
        resume_hint: false,
    };
    run_job(job, target, args.format, &args.fleet).await
}

/// Which phase a run applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Phase(PhaseKind),
    /// The first one not applied yet on that database.
    Next,
}

/// One phase run as `apply`, `next` and `backfill` do it, on any number of targets.
#[derive(Clone)]
pub struct PhaseJob {
    pub loaded: LoadedPlan,
    pub which: Which,
    pub session: crate::exec::SessionOptions,
    pub opts: ApplyOptions,
    pub yes: bool,
    /// apply, next or backfill: the JSON format is `planner.<command>`.
    pub command: &'static str,
    /// Print the command that resumes an interrupted backfill (single target).
    pub resume_hint: bool,
}

impl PhaseJob {
    /// The same run with the plan re-aimed at `schema` (`--schemas`).
    pub fn for_schema(&self, schema: &str) -> anyhow::Result<PhaseJob> {
        Ok(PhaseJob { loaded: exec::tenants::retarget(&self.loaded, schema)?, ..self.clone() })
    }

    pub fn doc_format(&self) -> &'static str {
        match self.command {
            "next" => "planner.next",
            "backfill" => "planner.backfill",
            _ => "planner.apply",
        }
    }
}

/// On one target (the --database-url / --target one) or on a fleet.
pub async fn run_job(
    job: PhaseJob,
    target: &TargetArgs,
    format: OutputFormat,
    fleet: &FleetArgs,
) -> anyhow::Result<()> {
    let doc_format = job.doc_format();
    let command = job.command;
    if let Some((url, schemas)) = fleet.schemas(target).await? {
        // Bad input for the whole run, before any schema is touched.
        exec::tenants::source_schema(&job.loaded.plan)?;
        let one_at_a_time = super::fleet::schema_fleet(fleet);
        let run = super::fleet::Run { command, doc_format, format, fleet: &one_at_a_time };
        let targets = schemas.into_iter().map(|s| (s, Ok(url.clone()))).collect();
        let job = std::sync::Arc::new(job);
        return super::fleet::run(run, targets, move |schema, url| {
            let job = job.clone();
            async move {
                match job.for_schema(&schema) {
                    Ok(job) => run_phase(&job, &url).await,
                    Err(e) => Report::failed(doc_format, e),
                }
            }
        })
        .await;
    }
    if fleet.is_fleet() {
        let targets = fleet.select(target)?;
        let job = std::sync::Arc::new(job);
        let run = super::fleet::Run { command, doc_format, format, fleet };
        return super::fleet::run(run, targets, move |_name, url| {
            let job = job.clone();
            async move { run_phase(&job, &url).await }
        })
        .await;
    }
    let url = match target.resolve_url() {
        Ok(url) => url,
        Err(e) => return print_single(format, Report::failed(doc_format, e)),
    };
    let report = run_phase(&job, &url).await;
    let interrupted = report.json["result"] == "interrupted";
    let result = print_single(format, report);
    if interrupted && job.resume_hint {
        let resume: Vec<String> = std::env::args().map(|a| super::backfill::hide_password(&a)).collect();
        tracing::info!(target: "planner", "the checkpoint is saved; resume with:\n  {}", resume.join(" "));
    }
    result
}

/// The phase run on one database, as text, JSON and a verdict.
pub async fn run_phase(job: &PhaseJob, url: &str) -> Report {
    let loaded = &job.loaded;
    // A plan and a database of different families never meet; MySQL plans take their executor.
    if let Err(e) = exec::mysql::check_url(&loaded.plan, url) {
        return phase_report(job, None, Vec::new(), Err(e.into()));
    }
    if loaded.plan.dialect.is_mysql_family() {
        return run_phase_mysql(job, url).await;
    }
    let phase_name = match job.which {
        Which::Phase(kind) => kind.as_str().to_string(),
        Which::Next => "next".to_string(),
    };
    let label = format!("planner/{}/{phase_name}", loaded.plan.name);
    let mut session = match Session::open_as(url, job.session.clone(), &label).await {
        Ok(s) => s,
        Err(e) => return phase_report(job, None, Vec::new(), Err(e)),
    };
    let kind = match job.which {
        Which::Phase(kind) => Ok(kind),
        Which::Next => next_phase(&mut session, job).await,
    };
    let kind = match kind {
        Ok(kind) => kind,
        Err(e) => {
            let _ = session.close().await;
            return phase_report(job, None, Vec::new(), Err(e));
        }
    };
    // A backfill stops after its batch on Ctrl-C / SIGTERM (and saves). A DDL phase stops now:
    // its running statement is cancelled and the units that committed stay recorded, as after
    // kill -9, with one line that says how to go on.
    let pid = session.backend_pid().await.ok();
    let stop = job.opts.backfill.stop.clone();
    let interrupted =
        unless_stopped(kind, &stop, exec::apply_phase_run(&mut session, loaded, kind, &job.opts)).await;
    let result = match interrupted {
        Ok(result) => result,
        Err(why) => {
            if let Some(pid) = pid {
                exec::connect::cancel_backend(url, pid).await;
            }
            let units = session.take_units();
            // Not closed: its connection was cut mid-statement; dropping it ends the server
            // session, which rolls back the open unit and releases planner's lock.
            drop(session);
            let dir = loaded.dir.display();
            let e = crate::error::Refusal::new(format!(
                "{why}: phase {kind} of plan `{}` stopped; the steps that had committed stay applied \
                 (planner status shows where); resume: planner apply {dir} --phase {kind}; undo: planner rollback {dir}",
                loaded.plan.name
            ));
            return phase_report(job, Some(kind), units, Err(e.into()));
        }
    };
    let units = session.take_units();
    let result = session.close_after(result).await;
    phase_report(job, Some(kind), units, result)
}

/// [`run_phase`] on MySQL/MariaDB. Ctrl-C / SIGTERM during a DDL phase kills the statement in
/// flight (`KILL QUERY`); what committed stays recorded, as after kill -9.
async fn run_phase_mysql(job: &PhaseJob, url: &str) -> Report {
    let loaded = &job.loaded;
    let mut run = match exec::mysql::Run::open(url, exec::mysql::limits(&job.session)).await {
        Ok(run) => run,
        Err(e) => return phase_report(job, None, Vec::new(), Err(e)),
    };
    let kind = match job.which {
        Which::Phase(kind) => Ok(kind),
        Which::Next => match exec::mysql::apply::next_pending(run.session.conn(), loaded).await {
            Ok(next) => pending_or_refuse(job, next),
            Err(e) => Err(e),
        },
    };
    let kind = match kind {
        Ok(kind) => kind,
        Err(e) => return phase_report(job, None, Vec::new(), run.close_after(Err(e)).await),
    };
    let connection_id = run.session.connection_id;
    let stop = job.opts.backfill.stop.clone();
    let stopped =
        unless_stopped(kind, &stop, exec::mysql::apply::apply_phase_run(&mut run, loaded, kind, &job.opts))
            .await;
    match stopped {
        Ok(result) => phase_report(job, Some(kind), Vec::new(), run.close_after(result).await),
        Err(why) => {
            exec::mysql::cancel(url, connection_id).await;
            // Not closed: dropping the connections releases planner's lock on the server.
            drop(run);
            let dir = loaded.dir.display();
            let e = crate::error::Refusal::new(format!(
                "{why}: phase {kind} of plan `{}` stopped; the statements that had committed stay applied \
                 (planner status shows where); resume: planner apply {dir} --phase {kind}; undo: planner rollback {dir}",
                loaded.plan.name
            ));
            phase_report(job, Some(kind), Vec::new(), Err(e.into()))
        }
    }
}

/// The next phase if there is one (confirmed when irreversible), else "nothing to do".
fn pending_or_refuse(job: &PhaseJob, next: Option<PhaseKind>) -> anyhow::Result<PhaseKind> {
    let loaded = &job.loaded;
    let Some(kind) = next else {
        return Err(crate::error::Refusal::new(format!(
            "every phase of plan `{}` is already applied; nothing to do",
            loaded.plan.name
        ))
        .into());
    };
    confirm_irreversible(loaded, loaded.phase(kind)?, job.yes)?;
    Ok(kind)
}

/// `next`: which phase is next is known only from the database; confirm it if irreversible.
async fn next_phase(session: &mut Session, job: &PhaseJob) -> anyhow::Result<PhaseKind> {
    let loaded = &job.loaded;
    let records = exec::state::phase_records(session.conn(), &loaded.plan.name).await?;
    pending_or_refuse(job, exec::apply::next_pending(&loaded.plan, &records))
}

fn outcome_phase(outcome: &ApplyOutcome) -> PhaseKind {
    match outcome {
        ApplyOutcome::Applied { phase, .. }
        | ApplyOutcome::AlreadyDone { phase }
        | ApplyOutcome::Interrupted { phase, .. } => *phase,
    }
}

fn phase_report(
    job: &PhaseJob,
    phase: Option<PhaseKind>,
    units: Vec<crate::exec::UnitRun>,
    result: anyhow::Result<exec::PhaseRun>,
) -> Report {
    let loaded = &job.loaded;
    let plan = &loaded.plan;
    let steps = phase.and_then(|k| plan.phase(k)).map(|p| p.steps.len()).unwrap_or(0);
    let mut doc = PhaseRunDoc {
        format: job.doc_format(),
        version: super::json::VERSION,
        ok: false,
        plan: plan.name.clone(),
        phase: phase.map(|k| k.as_str().to_string()),
        result: "failed",
        steps,
        units,
        backfill: None,
        next_phase: None,
        old_app: None,
        new_app: None,
        error: None,
        exit_code: 0,
    };
    let run = match result {
        Ok(run) => run,
        Err(e) => {
            doc.error = Some(crate::exec::failure::render(&e));
            doc.exit_code = crate::error::exit_code(&e);
            return Report {
                text: String::new(),
                json: serde_json::to_value(&doc).unwrap_or_default(),
                summary: crate::exec::failure::render(&e),
                verdict: Err(e),
            };
        }
    };
    let kind = outcome_phase(&run.outcome);
    doc.backfill = run.backfill.as_ref().map(super::json::BackfillJson::from);
    let mut text = run.backfill.as_ref().map(|r| format!("{r}\n")).unwrap_or_default();
    text.push_str(&report_text(loaded, &run.outcome));
    let interrupted = matches!(run.outcome, ApplyOutcome::Interrupted { .. });
    let next = plan.phases.iter().map(|p| p.phase).find(|k| if interrupted { *k >= kind } else { *k > kind });
    doc.next_phase = next.map(|k| k.as_str().to_string());
    if let Some(p) = plan.phase(kind) {
        doc.old_app = Some(p.compat.old_app.note.clone());
        doc.new_app = Some(p.compat.new_app.note.clone());
    }
    let (result, summary, verdict): (&'static str, String, anyhow::Result<()>) = match run.outcome {
        ApplyOutcome::Applied { steps, .. } => {
            let summary = match &run.backfill {
                Some(b) => format!(
                    "applied {kind}: {} rows in {} batches",
                    crate::backfill::progress::thousands(b.rows),
                    crate::backfill::progress::thousands(b.batches)
                ),
                None => format!("applied {kind} ({steps} step{})", if steps == 1 { "" } else { "s" }),
            };
            ("applied", summary, Ok(()))
        }
        ApplyOutcome::AlreadyDone { .. } => ("already_done", format!("{kind} already applied"), Ok(())),
        ApplyOutcome::Interrupted { paused_too_long, .. } => {
            // Not done is exit 1 like `planner backfill` (not ready), not a failure to run (3);
            // a pause past --max-pause is exit 4 so a scheduler knows to resume later.
            let e: anyhow::Error = if paused_too_long {
                crate::error::PausedTooLong(format!(
                    "backfill of plan {} paused longer than --max-pause and stopped",
                    plan.name
                ))
                .into()
            } else {
                crate::error::Refusal::new(format!("backfill of plan {} stopped before the end", plan.name))
                    .into()
            };
            ("interrupted", format!("{kind} interrupted; run again to resume"), Err(e))
        }
    };
    doc.result = result;
    doc.ok = verdict.is_ok();
    if let Err(e) = &verdict {
        doc.error = Some(crate::exec::failure::render(e));
        doc.exit_code = crate::error::exit_code(e);
    }
    Report { text, json: serde_json::to_value(&doc).unwrap_or_default(), summary, verdict }
}

/// An IRREVERSIBLE phase (the data of a dropped column is gone) needs a human's yes: the plan's name
/// typed on a terminal, or `--yes` where there is no terminal (CI).
fn confirm_irreversible(loaded: &LoadedPlan, phase: &crate::plan::Phase, yes: bool) -> anyhow::Result<()> {
    let Some(why) = &phase.irreversible else { return Ok(()) };
    if yes {
        return Ok(());
    }
    let name = &loaded.plan.name;
    if !std::io::stdin().is_terminal() {
        return Err(InputError::new(format!(
            "phase {} of plan `{name}` is IRREVERSIBLE: {why}",
            phase.phase
        ))
        .help("pass --yes to apply it (stdin is not a terminal to ask on)")
        .into());
    }
    eprint!(
        "phase {} of plan `{name}` is IRREVERSIBLE: {why}.\nType the plan name to apply it: ",
        phase.phase
    );
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim() != name {
        return Err(crate::error::Refusal::new(format!(
            "not confirmed; phase {} of plan `{name}` was not applied",
            phase.phase
        ))
        .into());
    }
    Ok(())
}

/// With a database named, a dry run also makes every check the real run makes, read-only, and
/// fails (exit 1) where the real run would refuse. Without one it says the checks were skipped.
async fn dry_run_checks(loaded: &LoadedPlan, kind: PhaseKind, target: &TargetArgs) -> anyhow::Result<()> {
    if !target.names_a_database() {
        println!(
            "-- preconditions not checked: no database named (--database-url / DATABASE_URL / --target)"
        );
        return Ok(());
    }
    let url = target.resolve_url()?;
    exec::mysql::check_url(&loaded.plan, &url)?;
    if loaded.plan.dialect.is_mysql_family() {
        let mut session = exec::mysql::observe(&url).await?;
        let result = exec::mysql::apply::preflight(session.conn(), loaded, kind).await;
        session.close().await?;
        let line = match result? {
            exec::mysql::apply::Preflight::Ready => {
                "-- every precondition holds on this database: the real run would proceed".to_string()
            }
            exec::mysql::apply::Preflight::Resume => format!(
                "-- an earlier run of {kind} stopped half way: the real run would resume it (planner status shows where)"
            ),
            exec::mysql::apply::Preflight::AlreadyDone => {
                format!("-- {kind} is already applied on this database: the real run would do nothing")
            }
        };
        println!("{line}");
        return Ok(());
    }
    let mut session = Session::observe(&url).await?;
    let result = exec::apply::preflight(&mut session, loaded, kind).await;
    session.close().await?;
    match result? {
        exec::apply::Preflight::Ready => {
            println!("-- every precondition holds on this database: the real run would proceed")
        }
        exec::apply::Preflight::Resume(n) => println!(
            "-- an earlier run of {kind} was interrupted after step {n}: the real run would resume after it"
        ),
        exec::apply::Preflight::AlreadyDone => {
            println!("-- {kind} is already applied on this database: the real run would do nothing")
        }
    }
    Ok(())
}

/// Backfill throttling plus the lock timeout each batch waits with. With `backfill_signals`,
/// Ctrl-C / SIGTERM stop the backfill after its current batch (and save the checkpoint) instead
/// of killing the process; DDL phases keep the default behaviour. `-q` turns the progress
/// display off, and so do parallel targets (their bars would overwrite each other).
pub fn apply_options(
    throttle: &ThrottleArgs,
    lock: &LockArgs,
    backfill_signals: bool,
    verbosity: Verbosity,
    fleet: &FleetArgs,
) -> Result<ApplyOptions, crate::error::InputError> {
    throttle.validate()?;
    let mut backfill = throttle.to_options();
    backfill.lock_timeout = Some(lock.lock_timeout);
    if backfill.progress == ProgressMode::Auto {
        if verbosity == Verbosity::Quiet {
            backfill.progress = ProgressMode::None;
        } else if fleet.is_fleet() && fleet.parallel > 1 {
            backfill.progress = ProgressMode::Plain;
        }
    }
    if backfill_signals {
        backfill.stop.listen_for_signals();
        if let Some(addr) = throttle.metrics_addr {
            let telemetry = crate::backfill::telemetry::Telemetry::default();
            let bound = crate::backfill::telemetry::serve(addr, telemetry.clone()).map_err(|e| {
                crate::error::InputError::new(format!("--metrics-addr {addr}: {e}"))
                    .help("pick a free port, or leave --metrics-addr out")
            })?;
            eprintln!("metrics: http://{bound}/metrics");
            backfill.telemetry = Some(telemetry);
        }
    }
    // The CLI prints the backfill's summary itself, with the rest of the target's report.
    Ok(ApplyOptions { backfill, print_backfill_report: false })
}

/// The human report of a phase run (stdout).
pub fn report_text(loaded: &LoadedPlan, outcome: &ApplyOutcome) -> String {
    use std::fmt::Write as _;
    let name = &loaded.plan.name;
    let mut out = String::new();
    match *outcome {
        ApplyOutcome::Applied { phase, steps } => {
            let _ = writeln!(
                out,
                "applied {phase} of plan {name} ({steps} step{})",
                if steps == 1 { "" } else { "s" }
            );
            if let Some(p) = loaded.plan.phase(phase) {
                let _ = writeln!(
                    out,
                    "  old app: {}\n  new app: {}",
                    p.compat.old_app.note, p.compat.new_app.note
                );
            }
            match loaded.plan.phases.iter().find(|p| p.phase > phase) {
                Some(next) => {
                    let _ = writeln!(
                        out,
                        "  next: planner apply {} --phase {}",
                        loaded.dir.display(),
                        next.phase
                    );
                }
                None => {
                    let _ = writeln!(out, "  plan {name} is complete");
                }
            }
        }
        ApplyOutcome::AlreadyDone { phase } => {
            let _ = writeln!(out, "{phase} of plan {name} is already applied; nothing to do");
        }
        ApplyOutcome::Interrupted { phase, .. } => {
            let _ = writeln!(
                out,
                "{phase} of plan {name} stopped early; its checkpoint is saved, run the same command to resume"
            );
        }
    }
    out
}

/// Run a phase's `work`, abandoning it (its running statement cancelled) when a stop is requested,
/// with the reason; a backfill is never abandoned: it stops itself after its batch.
async fn unless_stopped<F: std::future::Future>(
    kind: PhaseKind,
    stop: &crate::backfill::StopSignal,
    work: F,
) -> Result<F::Output, String> {
    if kind == PhaseKind::Backfill {
        return Ok(work.await);
    }
    tokio::select! {
        result = work => Ok(result),
        _ = stop.wait() => Err(stop.requested().unwrap_or_else(|| "interrupted".into())),
    }
}
