//! Running plans against a live database: sessions, state, preconditions, apply and rollback.

pub mod apply;
pub mod dry_run;
pub mod mysql;
pub mod plan_state;
pub mod progress;
pub mod rollback;
pub mod session;
pub mod table_stats;
pub mod tenants;
pub mod type_checks;
pub mod verify;

// Moved below `exec` (into the PostgreSQL backend) so `backfill` uses them without importing
// `exec`; the old paths stay.
pub use crate::backend::postgres::{connect, failure, state};

pub use apply::{
    apply_next, apply_next_run, apply_phase, apply_phase_run, ApplyOptions, ApplyOutcome, LoadedPlan,
    PhaseRun,
};
pub use rollback::rollback_latest;
pub use session::{Session, SessionOptions, UnitRun};
