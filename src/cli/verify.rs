//! `planner verify PLAN_DIR`: are the contract preconditions met? Exit 0 ready, 1 not ready.

use std::path::PathBuf;

use clap::Args;

use super::args::TargetArgs;
use crate::error::Refusal;
use crate::exec::{self, LoadedPlan, Session};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The plan folder written by `planner plan`.
    pub plan_dir: PathBuf,
    /// Output format: human, or json (a versioned document, see README "JSON output").
    #[arg(long, value_enum, default_value_t = super::json::OutputFormat::Human)]
    pub format: super::json::OutputFormat,
}

pub async fn run(args: VerifyArgs, target: &TargetArgs) -> anyhow::Result<()> {
    let loaded = LoadedPlan::load(&args.plan_dir)?;
    let url = target.resolve_url()?;
    let label = format!("planner/{}/verify", loaded.plan.name);
    let mut session = Session::observe_as(&url, &label).await?;
    let result = exec::verify::verify_plan(&mut session, &loaded).await;
    let checks = match &result {
        Ok(r) if args.format == super::json::OutputFormat::Json && !r.already_applied => {
            Some(super::json::precondition_checks(&mut session, &loaded.plan, r.phase).await)
        }
        _ => None,
    };
    session.close().await?;
    let report = result?;
    let phase = report.phase;
    if args.format == super::json::OutputFormat::Json {
        let preconditions = match checks {
            Some(c) => c?,
            None => Vec::new(),
        };
        let ready = report.already_applied || report.failures.is_empty();
        super::json::print(&super::json::VerifyDoc {
            format: "planner.verify",
            version: super::json::VERSION,
            plan: loaded.plan.name.clone(),
            phase: phase.as_str().to_string(),
            ready,
            already_applied: report.already_applied,
            preconditions,
            failures: report.failures.clone(),
        })?;
        if !ready {
            // The document says why; the error line is for the terminal.
            return Err(Refusal::new(format!(
                "not ready: {} failing precondition(s)",
                report.failures.len()
            ))
            .into());
        }
        return Ok(());
    }
    if report.already_applied {
        println!("{phase} of plan {} is already applied; nothing to verify", loaded.plan.name);
        return Ok(());
    }
    if report.failures.is_empty() {
        println!("ready: every precondition of {phase} holds for plan {}", loaded.plan.name);
        return Ok(());
    }
    Err(Refusal::new(exec::apply::refusal_lines(phase, &report.failures)).into())
}
