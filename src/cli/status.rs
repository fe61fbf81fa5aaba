//! `planner status [PLAN_DIR]`: every known plan on the target, phase by phase.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::args::TargetArgs;
use crate::exec::apply::next_pending;
use crate::exec::plan_state::PlanState;
use crate::exec::state::{self, PhaseStatus};
use crate::exec::{LoadedPlan, Session};
use crate::plan::PhaseKind;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Show only this plan folder (also when it has not been applied anywhere yet).
    pub plan_dir: Option<PathBuf>,
    /// Output format: human, or json (a versioned document, see README "JSON output").
    #[arg(long, value_enum, default_value_t = super::json::OutputFormat::Human)]
    pub format: super::json::OutputFormat,
    /// Several targets: status reads every one of them (it changes nothing, so --keep-going is
    /// implied), then prints the summary table.
    #[command(flatten)]
    pub fleet: super::fleet::FleetArgs,
}

pub async fn run(args: StatusArgs, target: &TargetArgs) -> anyhow::Result<()> {
    let loaded = args.plan_dir.as_deref().map(LoadedPlan::load).transpose()?;
    if args.fleet.schemas.is_some() {
        return run_schemas(&args, target, loaded).await;
    }
    if args.format == super::json::OutputFormat::Json {
        return run_json(&args, target, loaded.as_ref()).await;
    }
    if args.fleet.is_fleet() {
        let targets = args.fleet.select(target)?;
        let fleet = super::fleet::FleetArgs { keep_going: true, ..args.fleet.clone() };
        let run = super::fleet::Run {
            command: "status",
            doc_format: "planner.status",
            format: args.format,
            fleet: &fleet,
        };
        let loaded = std::sync::Arc::new(loaded);
        return super::fleet::run(run, targets, move |_name, url| {
            let loaded = loaded.clone();
            async move {
                match status_text(&url, loaded.as_ref().as_ref()).await {
                    Ok(text) => {
                        let summary = summarize(&text);
                        super::fleet::Report { text, json: serde_json::Value::Null, summary, verdict: Ok(()) }
                    }
                    Err(e) => super::fleet::Report::failed("planner.status", e),
                }
            }
        })
        .await;
    }
    let url = target.resolve_url()?;
    print!("{}", status_text(&url, loaded.as_ref()).await?);
    Ok(())
}

/// `status PLAN_DIR --schemas 'tenant_*'`: the plan's state in each schema.
async fn run_schemas(
    args: &StatusArgs,
    target: &TargetArgs,
    loaded: Option<LoadedPlan>,
) -> anyhow::Result<()> {
    let Some(loaded) = loaded else {
        return Err(crate::error::InputError::new("status --schemas needs the plan folder")
            .help("without one, `planner status` lists every plan, each schema's as <plan>@<schema>")
            .into());
    };
    if args.format == super::json::OutputFormat::Json {
        return Err(crate::error::InputError::new("status --schemas prints no JSON yet")
            .help("use verify --schemas --format json, or status --format json (every <plan>@<schema>)")
            .into());
    }
    crate::exec::tenants::source_schema(&loaded.plan)?;
    let Some((url, schemas)) = args.fleet.schemas(target).await? else { return Ok(()) };
    let fleet = super::fleet::FleetArgs { keep_going: true, ..super::fleet::schema_fleet(&args.fleet) };
    let run = super::fleet::Run {
        command: "status",
        doc_format: "planner.status",
        format: args.format,
        fleet: &fleet,
    };
    let targets = schemas.into_iter().map(|s| (s, Ok(url.clone()))).collect();
    let loaded = std::sync::Arc::new(loaded);
    super::fleet::run(run, targets, move |schema, url| {
        let loaded = loaded.clone();
        async move {
            let text = match crate::exec::tenants::retarget(&loaded, &schema) {
                Ok(aimed) => status_text(&url, Some(&aimed)).await,
                Err(e) => Err(e),
            };
            match text {
                Ok(text) => {
                    let summary = summarize(&text);
                    super::fleet::Report { text, json: serde_json::Value::Null, summary, verdict: Ok(()) }
                }
                Err(e) => super::fleet::Report::failed("planner.status", e),
            }
        }
    })
    .await
}

/// The summary-table line of a target's status: its plans and what is next for each.
fn summarize(text: &str) -> String {
    let plans: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("plan "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if plans.is_empty() {
        return text.lines().next().unwrap_or("no plans").to_string();
    }
    let next: Vec<&str> = text.lines().filter_map(|l| l.trim_start().strip_prefix("next: ")).collect();
    plans
        .iter()
        .zip(next.iter().chain(std::iter::repeat(&"?")))
        .map(|(p, n)| format!("{p}: next {}", n.strip_prefix("planner apply ").unwrap_or(n)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `status --format json`: one document whatever happens to each target (an unreachable one is
/// `ok: false` with its error, and the exit code is 3 as for the human report).
async fn run_json(args: &StatusArgs, target: &TargetArgs, loaded: Option<&LoadedPlan>) -> anyhow::Result<()> {
    use super::json::{StatusDoc, TargetStatus};
    let targets: Vec<(Option<String>, anyhow::Result<String>)> = if args.fleet.is_fleet() {
        args.fleet.select(target)?.into_iter().map(|(n, u)| (Some(n), u)).collect()
    } else {
        vec![(target.target.clone(), Ok(target.resolve_url()?))]
    };
    let mut doc = StatusDoc { format: "planner.status", version: super::json::VERSION, targets: Vec::new() };
    for (name, url) in targets {
        let status = match url {
            Ok(url) => super::json::target_status(&url, loaded).await,
            Err(e) => Err(e),
        };
        doc.targets.push(match status {
            Ok(plans) => TargetStatus { target: name, ok: true, error: None, plans },
            Err(e) if !args.fleet.is_fleet() => return Err(e),
            Err(e) => TargetStatus {
                target: name,
                ok: false,
                error: Some(crate::exec::failure::render(&e)),
                plans: Vec::new(),
            },
        });
    }
    super::json::print(&doc)?;
    let failed: Vec<&str> =
        doc.targets.iter().filter(|t| !t.ok).filter_map(|t| t.target.as_deref()).collect();
    if !failed.is_empty() {
        return Err(crate::error::CannotRun {
            message: format!(
                "status failed on {} of {} target(s): {}",
                failed.len(),
                doc.targets.len(),
                failed.join(", ")
            ),
            help: None,
        }
        .into());
    }
    Ok(())
}

/// The status report of one database (optionally only one plan).
pub async fn status_text(url: &str, only: Option<&LoadedPlan>) -> anyhow::Result<String> {
    if let Some(l) = only {
        crate::exec::mysql::check_url(&l.plan, url)?;
    }
    if crate::exec::mysql::is_mysql_url(url) {
        let mut session = crate::exec::mysql::observe(url).await?;
        let fresh = only.is_none() && !crate::mysql::state::exists(session.conn()).await?;
        session.close().await?;
        if fresh {
            return Ok(NO_PLANS_HERE.into());
        }
        return Ok(render(crate::exec::mysql::status::plan_states(url, only).await?, only));
    }
    let mut session = Session::observe(url).await?;
    let result = pg_status(&mut session, only).await;
    session.close().await?;
    result
}

const NO_PLANS_HERE: &str =
    "no plans here: this database has no planner schema (no plan was ever applied to it)\n";

async fn pg_status(session: &mut Session, only: Option<&LoadedPlan>) -> anyhow::Result<String> {
    if only.is_none() && !state::exists(session.conn()).await? {
        return Ok(NO_PLANS_HERE.into());
    }
    Ok(render(pg_plan_states(session, only, true).await?, only))
}

/// A PostgreSQL database's plans (only `only`'s when given); `liveness` for unfinished backfills.
pub async fn pg_plan_states(
    session: &mut Session,
    only: Option<&LoadedPlan>,
    liveness: bool,
) -> anyhow::Result<Vec<PlanState>> {
    let found = crate::exec::plan_state::select(state::all_plans(session.conn()).await?, only)?;
    let mut out = Vec::new();
    for (plan, record) in found {
        let phases = state::phase_records(session.conn(), &plan.name).await?;
        let mut backfill = Vec::new();
        for b in state::backfill_records(session.conn(), &plan.name).await? {
            let live = match b.finished_at {
                None if liveness => {
                    Some(state::backfill_liveness(session.conn(), &plan.name, &b.table).await?)
                }
                _ => None,
            };
            backfill.push((b, live));
        }
        out.push(PlanState { plan, record, phases, backfill });
    }
    Ok(out)
}

/// The human report of a database's plans, whichever backend read them.
fn render(states: Vec<PlanState>, only: Option<&LoadedPlan>) -> String {
    let mut out = String::new();
    if states.is_empty() {
        out.push_str("no plans have been applied to this database\n");
    }
    for PlanState { plan, record, phases: records, backfill } in states {
        let registered = match &record {
            Some(r) => format!("registered {} by {}", r.registered_at, r.registered_by),
            None => "not applied to this database yet".to_string(),
        };
        let drift = record.as_ref().and_then(|record| {
            only.filter(|l| l.sha256 != record.plan_sha256).map(|l| {
                format!(
                    "plan.yaml in {} differs from the applied one (sha256 {})",
                    l.dir.display(),
                    record.plan_sha256
                )
            })
        });
        let _ = writeln!(out, "plan {} ({registered})", plan.name);
        for line in &plan.description {
            let _ = writeln!(out, "  {line}");
        }
        if let Some(d) = drift {
            let _ = writeln!(out, "  WARNING: {d}");
        }
        for phase in &plan.phases {
            let record = records.iter().find(|r| r.phase == phase.phase);
            let line = match record {
                None => "pending".to_string(),
                Some(r) => format!(
                    "{:<11} {} by {}{}",
                    r.status.as_str(),
                    r.finished_at.as_deref().unwrap_or(&r.started_at),
                    r.applied_by,
                    r.error
                        .as_deref()
                        .map(|e| format!("\n              error: {}", first_line(e)))
                        .unwrap_or_default()
                ),
            };
            let _ = writeln!(out, "  {:<9} {line}", phase.phase.as_str());
            let dir =
                only.map(|l| l.dir.display().to_string()).unwrap_or_else(|| format!("plans/{}", plan.name));
            if let Some(r) = record.filter(|_| phase.phase != PhaseKind::Backfill) {
                let total = phase.steps.len();
                match r.status {
                    PhaseStatus::Running => {
                        let _ = writeln!(
                            out,
                            "              interrupted after step {} of {total} (unless a planner is still running it); resume: planner apply {dir} --phase {}; or undo the {} committed step(s): planner rollback {dir}",
                            r.steps_done, phase.phase, r.steps_done
                        );
                    }
                    PhaseStatus::Partial => {
                        let _ = writeln!(
                            out,
                            "              partly applied ({} of {total} steps); undo it: planner rollback {dir}",
                            r.steps_done
                        );
                    }
                    _ => {}
                }
            }
            if phase.phase == PhaseKind::Backfill {
                for (b, live) in &backfill {
                    if b.finished_at.is_some() {
                        let _ = writeln!(
                            out,
                            "              {}: {} rows in {} batches, finished ({})",
                            b.table,
                            crate::exec::verify::thousands(b.rows_done),
                            b.batches,
                            b.finished_at.as_deref().unwrap_or(&b.updated_at)
                        );
                        continue;
                    }
                    let Some(live) = live else { continue };
                    let done = crate::exec::verify::thousands(b.rows_done);
                    let pct = live
                        .estimate
                        .filter(|e| *e > 0.0)
                        .map(|e| format!(" (~{:.0}%)", (100.0 * b.rows_done as f64 / e).min(100.0)))
                        .unwrap_or_default();
                    if live.running {
                        let rate = live.rows_per_s.filter(|r| *r > 0.0);
                        let eta = match (rate, live.estimate) {
                            (Some(r), Some(e)) if e > b.rows_done as f64 => {
                                format!(", ETA ~{:.0}s", (e - b.rows_done as f64) / r)
                            }
                            _ => String::new(),
                        };
                        let _ = writeln!(
                            out,
                            "              {}: running: {done} rows done{pct} in {} batches, {} rows/s on average{eta} (last batch {})",
                            b.table,
                            b.batches,
                            rate.map(|r| crate::exec::verify::thousands(r as i64)).unwrap_or_else(|| "?".into()),
                            b.updated_at
                        );
                    } else {
                        let dir = only
                            .map(|l| l.dir.display().to_string())
                            .unwrap_or_else(|| format!("plans/{}", plan.name));
                        let _ = writeln!(
                            out,
                            "              {}: interrupted (no planner is running it): {done} rows done{pct}, stopped after key {} ({}); resume: planner backfill {dir}",
                            b.table,
                            live.last_key.as_deref().unwrap_or("(none yet)"),
                            b.updated_at
                        );
                    }
                    if let Some((reason, since)) = &b.paused {
                        let _ = writeln!(out, "              {}: PAUSED since {since}: {reason}", b.table);
                    }
                }
            }
        }
        let latest_done = plan
            .phases
            .iter()
            .rfind(|p| records.iter().any(|r| r.phase == p.phase && r.status == PhaseStatus::Done));
        match latest_done {
            None => {
                let _ = writeln!(out, "  apps now: old app only (nothing applied yet)");
            }
            Some(p) => {
                let _ = writeln!(
                    out,
                    "  apps now: old app {} ({}); new app {} ({})",
                    access(p.compat.old_app.reads, p.compat.old_app.writes),
                    p.compat.old_app.note,
                    access(p.compat.new_app.reads, p.compat.new_app.writes),
                    p.compat.new_app.note
                );
            }
        }
        match next_pending(&plan, &records) {
            Some(next) => {
                let dir = only.map(|l| l.dir.display().to_string()).unwrap_or_else(|| "<plan dir>".into());
                let _ = writeln!(out, "  next: planner apply {dir} --phase {next}");
            }
            None => {
                let _ = writeln!(out, "  next: nothing, every phase is applied");
            }
        }
    }
    out
}

fn access(reads: bool, writes: bool) -> &'static str {
    match (reads, writes) {
        (true, true) => "may read and write",
        (true, false) => "may read only",
        (false, true) => "may write only",
        (false, false) => "must not run",
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}
