//! `planner rollback PLAN_DIR`: undo the latest applied phase.

use std::path::PathBuf;

use clap::Args;

use super::args::{LockArgs, TargetArgs};
use crate::exec::{self, LoadedPlan, Session};

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The plan folder written by `planner plan`.
    pub plan_dir: PathBuf,
    #[command(flatten)]
    pub lock: LockArgs,
}

pub async fn run(args: RollbackArgs, target: &TargetArgs) -> anyhow::Result<()> {
    let loaded = LoadedPlan::load(&args.plan_dir)?;
    let url = target.resolve_url()?;
    let label = format!("planner/{}/rollback", loaded.plan.name);
    let mut session = Session::open_as(&url, args.lock.session_options(), &label).await?;
    let result = exec::rollback_latest(&mut session, &loaded).await;
    session.close().await?;
    let phase = result?;
    println!("rolled back {phase} of plan {}", loaded.plan.name);
    Ok(())
}
