//! planner.yaml: named targets (one database per service), `${ENV}` expansion, `.env.<env>` files.

use crate::cli::args::TargetArgs;
use crate::error::InputError;

/// Resolve the database URL from flags, environment and config.
pub fn resolve_database_url(args: &TargetArgs) -> anyhow::Result<String> {
    if let Some(url) = &args.database_url {
        return Ok(url.clone());
    }
    Err(InputError::new("no database given")
        .help("pass --database-url URL, set DATABASE_URL, or name a --target from planner.yaml")
        .into())
}
