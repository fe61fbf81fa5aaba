//! `planner status`.

use std::path::PathBuf;

use clap::Args;

use super::args::TargetArgs;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The plan folder written by `planner plan`.
    pub plan_dir: Option<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
}

pub async fn run(_args: StatusArgs) -> anyhow::Result<()> {
    anyhow::bail!("status is not implemented yet")
}
