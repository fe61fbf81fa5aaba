//! `planner verify PLAN_DIR`: are the contract preconditions met? Exit 0 ready, 1 not ready.

use std::path::PathBuf;

use clap::Args;

use super::args::TargetArgs;
use crate::error::Refusal;
use crate::exec::{self, LoadedPlan, Session, SessionOptions};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The plan folder written by `planner plan`.
    pub plan_dir: PathBuf,
}

pub async fn run(args: VerifyArgs, target: &TargetArgs) -> anyhow::Result<()> {
    let loaded = LoadedPlan::load(&args.plan_dir)?;
    let url = target.resolve_url()?;
    let label = format!("planner/{}/verify", loaded.plan.name);
    let mut session = Session::open_as(&url, SessionOptions::default(), &label).await?;
    let result = exec::verify::verify_plan(&mut session, &loaded).await;
    session.close().await?;
    let report = result?;
    let phase = report.phase;
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
