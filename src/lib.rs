//! planner: zero-downtime schema changes for PostgreSQL (expand -> backfill -> contract).
//!
//! Layout: the pure core (`sql`, `model`, `change`, `plan`, `lint`) does no I/O; only `exec`,
//! `backfill` and `model::introspect` talk to a database.

pub mod backfill;
pub mod change;
pub mod cli;
pub mod config;
pub mod convert;
pub mod dialect;
pub mod error;
pub mod exec;
pub mod export;
pub mod flavour;
pub mod lint;
pub mod model;
pub mod plan;
pub mod report;
pub mod sql;
