//! `planner verify PLAN_DIR`: are the contract preconditions met? Exit 0 ready, 1 not ready.

use std::path::PathBuf;

use clap::Args;

use super::args::TargetArgs;
use super::fleet::{print_single, FleetArgs, Report};
use super::json::OutputFormat;
use crate::error::Refusal;
use crate::exec::{self, LoadedPlan, Session};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The plan folder written by `planner plan`.
    pub plan_dir: PathBuf,
    /// Output format: human, or json (a versioned document, see README "JSON output").
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

pub async fn run(args: VerifyArgs, target: &TargetArgs) -> anyhow::Result<()> {
    let loaded = LoadedPlan::load(&args.plan_dir)?;
    let json = args.format == OutputFormat::Json;
    if let Some((url, schemas)) = args.fleet.schemas(target).await? {
        exec::tenants::source_schema(&loaded.plan)?;
        let one_at_a_time = super::fleet::schema_fleet(&args.fleet);
        let run = super::fleet::Run {
            command: "verify",
            doc_format: "planner.verify",
            format: args.format,
            fleet: &one_at_a_time,
        };
        let targets = schemas.into_iter().map(|s| (s, Ok(url.clone()))).collect();
        let loaded = std::sync::Arc::new(loaded);
        return super::fleet::run(run, targets, move |schema, url| {
            let loaded = loaded.clone();
            async move {
                match exec::tenants::retarget(&loaded, &schema) {
                    Ok(aimed) => verify_one(&aimed, &url, json).await,
                    Err(e) => Report::failed("planner.verify", e),
                }
            }
        })
        .await;
    }
    if args.fleet.is_fleet() {
        let targets = args.fleet.select(target)?;
        let loaded = std::sync::Arc::new(loaded);
        let run = super::fleet::Run {
            command: "verify",
            doc_format: "planner.verify",
            format: args.format,
            fleet: &args.fleet,
        };
        return super::fleet::run(run, targets, move |_name, url| {
            let loaded = loaded.clone();
            async move { verify_one(&loaded, &url, json).await }
        })
        .await;
    }
    let url = target.resolve_url()?;
    print_single(args.format, verify_one(&loaded, &url, json).await)
}

/// Verify one database: the report (human and JSON) and the verdict (not ready = exit 1).
async fn verify_one(loaded: &LoadedPlan, url: &str, json: bool) -> Report {
    match verify_inner(loaded, url, json).await {
        Ok(report) => report,
        Err(e) => Report::failed("planner.verify", e),
    }
}

/// The report and the per-precondition checks (JSON only) of one database.
async fn verify_checks(
    loaded: &LoadedPlan,
    url: &str,
    json: bool,
) -> anyhow::Result<(exec::verify::VerifyReport, Option<anyhow::Result<Vec<serde_json::Value>>>)> {
    exec::mysql::check_url(&loaded.plan, url)?;
    if loaded.plan.dialect.is_mysql_family() {
        let mut session = exec::mysql::observe(url).await?;
        let result = exec::mysql::preconditions::verify_plan(session.conn(), loaded).await;
        let checks = match &result {
            Ok(r) if json && !r.already_applied => {
                Some(exec::mysql::preconditions::checks(session.conn(), loaded, r.phase).await)
            }
            _ => None,
        };
        session.close().await?;
        return Ok((result?, checks));
    }
    let label = format!("planner/{}/verify", loaded.plan.name);
    let mut session = Session::observe_as(url, &label).await?;
    let result = exec::verify::verify_plan(&mut session, loaded).await;
    let checks = match &result {
        Ok(r) if json && !r.already_applied => {
            Some(super::json::precondition_checks(&mut session, &loaded.plan, r.phase).await)
        }
        _ => None,
    };
    session.close().await?;
    Ok((result?, checks))
}

async fn verify_inner(loaded: &LoadedPlan, url: &str, json: bool) -> anyhow::Result<Report> {
    let (report, checks) = verify_checks(loaded, url, json).await?;
    let phase = report.phase;
    let preconditions = match checks {
        Some(c) => c?,
        None => Vec::new(),
    };
    let ready = report.already_applied || report.failures.is_empty();
    let doc = super::json::VerifyDoc {
        format: "planner.verify",
        version: super::json::VERSION,
        plan: loaded.plan.name.clone(),
        phase: phase.as_str().to_string(),
        ready,
        already_applied: report.already_applied,
        preconditions,
        failures: report.failures.clone(),
    };
    let name = &loaded.plan.name;
    let (text, summary, verdict) = if report.already_applied {
        let line = format!("{phase} of plan {name} is already applied; nothing to verify");
        (format!("{line}\n"), line, Ok(()))
    } else if ready {
        let line = format!("ready: every precondition of {phase} holds for plan {name}");
        (format!("{line}\n"), line, Ok(()))
    } else {
        let refusal = exec::apply::refusal_lines(phase, &report.failures);
        let summary = format!("not ready: {} failing precondition(s)", report.failures.len());
        // Human: the reasons are the error (stderr, once); JSON: the document says why.
        let err = if json { Refusal::new(summary.clone()) } else { Refusal::new(refusal) };
        (String::new(), summary, Err(err.into()))
    };
    Ok(Report { text, json: serde_json::to_value(&doc)?, summary, verdict })
}
