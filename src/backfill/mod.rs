//! The backfill engine: keyset batches, a checkpoint in each batch's transaction, throttling.

use std::time::Duration;

use sqlx::PgPool;

use crate::plan::Plan;

/// How fast and how big. Built from the command line's throttle flags.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    pub batch: u32,
    pub sleep: Duration,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        BackfillOptions { batch: 1000, sleep: Duration::ZERO }
    }
}

/// What a finished (or interrupted) backfill did.
#[derive(Debug, Clone, Default)]
pub struct BackfillReport {
    pub rows: u64,
    pub batches: u64,
    pub elapsed: Duration,
    /// False when stopped early (Ctrl-C / SIGTERM); the checkpoint is saved.
    pub completed: bool,
}

/// Run every backfill task of `plan`'s backfill phase to completion (or until interrupted),
/// checkpointing in `planner.backfill_progress` (key: plan name, `QualifiedName::display_short`).
pub async fn run(_pool: &PgPool, _plan: &Plan, _opts: &BackfillOptions) -> anyhow::Result<BackfillReport> {
    anyhow::bail!("backfill engine not implemented yet")
}
