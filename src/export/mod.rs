//! `planner export`: a plan's phases as migrations of the team's own tool (sequelize-cli, sqlx,
//! dbmate, Django, Alembic, knex, node-pg-migrate, Flyway, golang-migrate, goose, Rails).
//!
//! Pure: the typed plan in, file names and contents out. [`migration`] cuts the phases into
//! tool-neutral migrations (what runs in which transaction, with planner's state and
//! preconditions around the steps); one file per tool under [`tools`] writes them in that tool's
//! naming, ordering and transaction conventions.

pub mod migration;
pub mod state_sql;
pub mod tools;

use std::fmt;

pub use migration::{Migration, Packing, Selection};
pub use state_sql::StateCx;

use crate::plan::Plan;

/// The migration tools planner exports to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    Sqlx,
    Sequelize,
    Dbmate,
    Django,
    Alembic,
    Knex,
    NodePgMigrate,
    Flyway,
    GolangMigrate,
    Goose,
    Rails,
}

impl Tool {
    pub const ALL: [Tool; 11] = [
        Tool::Sqlx,
        Tool::Sequelize,
        Tool::Dbmate,
        Tool::Django,
        Tool::Alembic,
        Tool::Knex,
        Tool::NodePgMigrate,
        Tool::Flyway,
        Tool::GolangMigrate,
        Tool::Goose,
        Tool::Rails,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Sqlx => "sqlx",
            Tool::Sequelize => "sequelize",
            Tool::Dbmate => "dbmate",
            Tool::Django => "django",
            Tool::Alembic => "alembic",
            Tool::Knex => "knex",
            Tool::NodePgMigrate => "node-pg-migrate",
            Tool::Flyway => "flyway",
            Tool::GolangMigrate => "golang-migrate",
            Tool::Goose => "goose",
            Tool::Rails => "rails",
        }
    }

    /// Does the tool send a migration file to the server as one query?
    pub fn packing(self) -> Packing {
        match self {
            Tool::Sqlx | Tool::Dbmate | Tool::GolangMigrate => Packing::OneQueryPerMigration,
            _ => Packing::QueryPerBlock,
        }
    }

    /// Versions are timestamps (YYYYMMDDHHMMSS) by the tool's convention, not sequence numbers.
    pub fn timestamped(self) -> bool {
        !matches!(self, Tool::Django | Tool::Flyway | Tool::GolangMigrate)
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `planner export` was asked for.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub tool: Tool,
    pub selection: Selection,
    /// Version of the first exported migration; the next ones count up from it.
    pub version_base: u64,
    /// The plan folder as commands should name it (`planner backfill <plan_dir>`).
    pub plan_dir: String,
    /// The migration the first exported one comes after, where the tool links migrations
    /// (Django `dependencies`, Alembic `down_revision`).
    pub after: Option<String>,
    /// Django app label (the app whose `migrations/` folder receives the files).
    pub app_label: String,
}

/// One file to write, relative to the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    pub path: String,
    pub contents: String,
}

/// Render the plan as the tool's migration files.
pub fn export(plan: &Plan, plan_yaml: &str, opts: &ExportOptions) -> Vec<ExportFile> {
    let sha = crate::plan::sha256_hex(plan_yaml.as_bytes());
    let cx =
        StateCx { plan, plan_yaml, plan_sha256: &sha, plan_dir: &opts.plan_dir, tool: opts.tool.as_str() };
    let migrations = migration::build(&cx, opts.tool.packing(), &opts.selection);
    tools::render(&cx, &migrations, opts)
}
