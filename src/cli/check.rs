//! `planner check PATH...`: lint SQL migrations.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// SQL files, directories (walked for *.sql) or `-` for stdin.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

pub fn run(_args: CheckArgs) -> anyhow::Result<()> {
    anyhow::bail!("check is not implemented yet")
}
