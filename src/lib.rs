//! planner: zero-downtime schema changes for PostgreSQL (expand -> backfill -> contract).
//!
//! Layout: the pure core (`flavour`, `sql`, `model`, `plan`, `dialect`, `change`, `lint`) does no
//! I/O; only `backend`, `exec`, `backfill`, `mysql` and `model::introspect` talk to a database.
//!
//! Layers, lowest first (a module imports only from its own layer or below; `error`, `flavour`
//! and `config` are shared leaves): `sql` < `model` < `plan` (the plan format) < `dialect` (pure
//! per-family planning) < `change` (change kinds and the compiler) < `backend` (per-family
//! runtime: connect, lock, state) < `backfill` < `exec` < `cli`. `mysql` is the MySQL/MariaDB
//! runtime, not yet behind `backend`.

pub mod backend;
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
pub mod mysql;
pub mod plan;
pub mod report;
pub mod sql;
