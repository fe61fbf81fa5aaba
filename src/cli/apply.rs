//! `planner apply PLAN_DIR --phase P` and `planner next PLAN_DIR`.

use std::path::PathBuf;

use std::io::IsTerminal;

use clap::Args;

use crate::error::InputError;

use super::args::{LockArgs, TargetArgs};
use super::backfill::ThrottleArgs;
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
    #[arg(long)]
    pub dry_run: bool,
    /// Apply an IRREVERSIBLE phase without asking (needed when stdin is not a terminal, e.g. in CI).
    #[arg(long)]
    pub yes: bool,
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
    #[command(flatten)]
    pub lock: LockArgs,
    #[command(flatten, next_help_heading = "Backfill throttling")]
    pub throttle: ThrottleArgs,
}

pub async fn run(args: ApplyArgs, target: &TargetArgs) -> anyhow::Result<()> {
    let opts = apply_options(&args.throttle, &args.lock, args.phase == PhaseKind::Backfill && !args.dry_run)?;
    let loaded = LoadedPlan::load(&args.plan_dir)?;
    if args.dry_run {
        let phase = loaded.phase(args.phase)?;
        print!("{}", exec::dry_run::render(&loaded.plan, phase, &args.lock.session_options()));
        return dry_run_checks(&loaded, args.phase, target).await;
    }
    confirm_irreversible(&loaded, loaded.phase(args.phase)?, args.yes)?;
    let url = target.resolve_url()?;
    let label = format!("planner/{}/{}", loaded.plan.name, args.phase);
    let mut session = Session::open_as(&url, args.lock.session_options(), &label).await?;
    let outcome = exec::apply_phase(&mut session, &loaded, args.phase, &opts).await;
    finish(&loaded, session.close_after(outcome).await?)
}

pub async fn run_next(args: NextArgs, target: &TargetArgs) -> anyhow::Result<()> {
    let opts = apply_options(&args.throttle, &args.lock, true)?;
    let loaded = LoadedPlan::load(&args.plan_dir)?;
    let url = target.resolve_url()?;
    let label = format!("planner/{}/next", loaded.plan.name);
    let mut session = Session::open_as(&url, args.lock.session_options(), &label).await?;
    // Which phase is next is known only from the database.
    let records = exec::state::phase_records(session.conn(), &loaded.plan.name).await;
    let next = records.map(|r| exec::apply::next_pending(&loaded.plan, &r));
    if let Ok(Some(kind)) = next {
        let confirmed = loaded.phase(kind).and_then(|p| confirm_irreversible(&loaded, p, args.yes));
        if confirmed.is_err() {
            return session.close_after(confirmed).await;
        }
    }
    let outcome = exec::apply_next(&mut session, &loaded, &opts).await;
    finish(&loaded, session.close_after(outcome).await?)
}

/// Report, and make an interrupted backfill exit 1 like `planner backfill` (not done is not ok).
fn finish(loaded: &LoadedPlan, outcome: ApplyOutcome) -> anyhow::Result<()> {
    let interrupted = matches!(outcome, ApplyOutcome::Interrupted { .. });
    report(loaded, outcome);
    if interrupted {
        return Err(crate::error::Refusal::new(format!(
            "backfill of plan {} stopped before the end",
            loaded.plan.name
        ))
        .into());
    }
    Ok(())
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
/// of killing the process; DDL phases keep the default behaviour.
pub fn apply_options(
    throttle: &ThrottleArgs,
    lock: &LockArgs,
    backfill_signals: bool,
) -> Result<ApplyOptions, crate::error::InputError> {
    throttle.validate()?;
    let mut backfill = throttle.to_options();
    backfill.lock_timeout = Some(lock.lock_timeout);
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
    Ok(ApplyOptions { backfill, print_backfill_report: true })
}

pub fn report(loaded: &LoadedPlan, outcome: ApplyOutcome) {
    let name = &loaded.plan.name;
    match outcome {
        ApplyOutcome::Applied { phase, steps } => {
            println!("applied {phase} of plan {name} ({steps} step{})", if steps == 1 { "" } else { "s" });
            if let Some(p) = loaded.plan.phase(phase) {
                println!("  old app: {}\n  new app: {}", p.compat.old_app.note, p.compat.new_app.note);
            }
            match loaded.plan.phases.iter().find(|p| p.phase > phase) {
                Some(next) => {
                    println!("  next: planner apply {} --phase {}", loaded.dir.display(), next.phase)
                }
                None => println!("  plan {name} is complete"),
            }
        }
        ApplyOutcome::AlreadyDone { phase } => {
            println!("{phase} of plan {name} is already applied; nothing to do")
        }
        ApplyOutcome::Interrupted { phase, .. } => {
            println!("{phase} of plan {name} stopped early; its checkpoint is saved, run the same command to resume")
        }
    }
}
