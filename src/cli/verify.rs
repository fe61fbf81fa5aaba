//! `planner verify`.

use std::path::PathBuf;

use clap::Args;

use super::args::TargetArgs;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The plan folder written by `planner plan`.
    pub plan_dir: Option<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
}

pub async fn run(_args: VerifyArgs) -> anyhow::Result<()> {
    anyhow::bail!("verify is not implemented yet")
}
