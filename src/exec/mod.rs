//! Running plans against a live database: sessions, state, preconditions.

pub mod state;
