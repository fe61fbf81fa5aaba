//! `planner rollback`.

use std::path::PathBuf;

use clap::Args;

use super::args::TargetArgs;

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The plan folder written by `planner plan`.
    pub plan_dir: Option<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
}

pub async fn run(_args: RollbackArgs) -> anyhow::Result<()> {
    anyhow::bail!("rollback is not implemented yet")
}
