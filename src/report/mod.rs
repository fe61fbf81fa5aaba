//! Reporters for lint findings: one file per output format.
