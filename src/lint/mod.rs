//! `planner check`: rules over parsed SQL migrations. Pure: no I/O beyond what callers pass in.
