//! Option groups shared by several subcommands (flattened with clap).

use std::path::PathBuf;

use clap::Args;

/// Where the database is: a URL, or a named target from planner.yaml.
#[derive(Debug, Clone, Args, Default)]
pub struct TargetArgs {
    /// PostgreSQL connection URL (e.g. postgres://postgres@127.0.0.1:5432/app).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, conflicts_with = "target")]
    pub database_url: Option<String>,
    /// A named target from planner.yaml (one database per service).
    #[arg(long)]
    pub target: Option<String>,
    /// Environment: loads `.env.<ENV>` then `.env` before resolving `${VARS}` in planner.yaml.
    #[arg(long = "env")]
    pub env: Option<String>,
    /// Config file (default: ./planner.yaml when present).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl TargetArgs {
    /// The connection URL these flags point at.
    pub fn resolve_url(&self) -> anyhow::Result<String> {
        crate::config::resolve_database_url(self)
    }
}
