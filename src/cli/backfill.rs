//! `planner backfill PLAN_DIR`: run the backfill phase with throttling and progress.

use std::path::PathBuf;

use clap::Args;

use super::args::TargetArgs;

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The plan folder written by `planner plan`.
    pub plan_dir: PathBuf,
    /// Rows per batch.
    #[arg(long, default_value_t = 1000)]
    pub batch: u32,
    #[command(flatten)]
    pub target: TargetArgs,
}

pub async fn run(_args: BackfillArgs) -> anyhow::Result<()> {
    anyhow::bail!("backfill is not implemented yet")
}
