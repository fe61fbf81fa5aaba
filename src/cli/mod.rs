//! The command line: one module per subcommand, each with its `Args` and `run`.

pub mod apply;
pub mod args;
pub mod backfill;
pub mod check;
pub mod convert;
pub mod export;
pub mod fleet;
pub mod json;
pub mod log;
pub mod plan;
pub mod rollback;
pub mod status;
pub mod verify;

use clap::{CommandFactory, Parser, Subcommand};

/// Zero-downtime schema changes for PostgreSQL: expand -> backfill -> contract.
#[derive(Debug, Parser)]
#[command(name = "planner", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub target: args::TargetArgs,
    /// Also log every SQL statement planner sends, with its duration (stderr).
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Only errors on stderr: no progress lines, no warnings (results still go to stdout).
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Turn a schema change into phased, reviewed migrations (no database needed with --schema).
    Plan(plan::PlanArgs),
    /// Apply one phase of a plan to the target database.
    Apply(apply::ApplyArgs),
    /// Apply the next pending phase of a plan.
    Next(apply::NextArgs),
    /// Show every known plan on the target: phase, when, by whom, backfill progress, what's next.
    Status(status::StatusArgs),
    /// Check contract preconditions against the database: exit 0 ready, 1 not ready.
    Verify(verify::VerifyArgs),
    /// Undo the latest applied phase of a plan.
    Rollback(rollback::RollbackArgs),
    /// Fill existing rows in small throttled batches; resumable after a crash.
    Backfill(backfill::BackfillArgs),
    /// Lint SQL migrations for statements that break a running app or block traffic.
    Check(check::CheckArgs),
    /// Print the database's table sizes and write traffic as JSON, for `planner check --stats FILE`.
    Stats(check::StatsArgs),
    /// Write a plan's phases as migrations of your migration tool (sequelize, sqlx, dbmate, ...).
    Export(export::ExportArgs),
    /// Turn an unsafe ORM-generated migration (rename, ADD COLUMN NOT NULL, DROP COLUMN, SET NOT NULL) into a change file for `planner plan`.
    Convert(convert::ConvertArgs),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Run a parsed command line. Builds the tokio runtime only for commands that need one.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let verbosity = log::Verbosity::from_flags(cli.verbose, cli.quiet);
    log::install(verbosity);
    let target = cli.target;
    match cli.command {
        Command::Plan(args) => plan::run(args, &target),
        Command::Check(args) => check::run(args, &target),
        Command::Export(args) => export::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "planner", &mut std::io::stdout());
            Ok(())
        }
        Command::Apply(args) => runtime()?.block_on(apply::run(args, &target, verbosity)),
        Command::Next(args) => runtime()?.block_on(apply::run_next(args, &target, verbosity)),
        Command::Status(args) => runtime()?.block_on(status::run(args, &target)),
        Command::Verify(args) => runtime()?.block_on(verify::run(args, &target)),
        Command::Rollback(args) => runtime()?.block_on(rollback::run(args, &target, verbosity)),
        Command::Backfill(args) => runtime()?.block_on(backfill::run(args, &target, verbosity)),
        Command::Stats(args) => runtime()?.block_on(check::run_stats(args, &target)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
