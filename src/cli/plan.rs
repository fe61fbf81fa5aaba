//! `planner plan`: change + current schema -> plans/<name>/.

use clap::Args;

#[derive(Debug, Args)]
pub struct PlanArgs {}

pub fn run(_args: PlanArgs) -> anyhow::Result<()> {
    anyhow::bail!("plan is not implemented yet")
}
