//! `planner apply PLAN_DIR --phase P` and `planner next PLAN_DIR`.

use std::path::PathBuf;

use clap::Args;

use super::args::TargetArgs;
use crate::plan::PhaseKind;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The plan folder written by `planner plan` (e.g. plans/rename_users_name).
    pub plan_dir: PathBuf,
    /// The phase to apply: expand, backfill or contract.
    #[arg(long)]
    pub phase: PhaseKind,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
pub struct NextArgs {
    /// The plan folder written by `planner plan`.
    pub plan_dir: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
}

pub async fn run(_args: ApplyArgs) -> anyhow::Result<()> {
    anyhow::bail!("apply is not implemented yet")
}

pub async fn run_next(_args: NextArgs) -> anyhow::Result<()> {
    anyhow::bail!("next is not implemented yet")
}
