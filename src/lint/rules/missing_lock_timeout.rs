//! missing-lock-timeout
use super::prelude::*;
use super::takes_blocking_lock;

pub struct MissingLockTimeout;

pub static META: RuleMeta = RuleMeta {
    id: "missing-lock-timeout",
    severity: Severity::Warning,
    summary: "Locking DDL without a lock_timeout can stall all traffic on the table",
    docs: "\
## Problem
`ALTER TABLE users ADD COLUMN note text` with no `SET lock_timeout` before it.

## Why it matters
Even an instant ALTER needs ACCESS EXCLUSIVE. If a long query holds the table, the ALTER waits, and
every query that arrives after it queues behind the ALTER: the table is down until the long query
ends.

## What to do
`SET lock_timeout = '2s';` before the DDL (retry on failure); `SET LOCAL` inside a transaction.
planner's executor does this (and retries) for every step.
",
};

impl Rule for MissingLockTimeout {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        // One finding per file, at the first unprotected statement.
        if cx.unprotected_locks.first() != Some(&stmt.index) {
            return;
        }
        if let Some(what) = takes_blocking_lock(stmt, cx) {
            out.report(&META, format!("{what} waits for its lock with no lock_timeout: queries queue behind it meanwhile (reported once per file)"))
                .help("put `SET lock_timeout = '2s';` at the top of the migration and retry when it times out");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    const ID: &str = "missing-lock-timeout";

    #[test]
    fn flags_alter_without_timeout() {
        assert_eq!(count("ALTER TABLE t ADD COLUMN n text;", ID), 1);
        // Once per file, counting the others.
        let f = findings("ALTER TABLE t ADD COLUMN n text;\nALTER TABLE t ADD COLUMN m text;\nDROP TABLE u;", ID);
        assert_eq!(f.len(), 1);
        // SET LOCAL ends with the transaction.
        assert_eq!(count("BEGIN;\nSET LOCAL lock_timeout = '2s';\nCOMMIT;\nALTER TABLE t ADD COLUMN n text;", ID), 1);
    }

    #[test]
    fn timeout_set_or_new_table_is_fine() {
        assert_eq!(count("SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN n text;", ID), 0);
        assert_eq!(count("BEGIN;\nSET LOCAL lock_timeout TO '1s';\nALTER TABLE t ADD COLUMN n text;\nCOMMIT;", ID), 0);
        assert_eq!(count("CREATE TABLE n (a int);\nALTER TABLE n ADD COLUMN b text;", ID), 0);
        assert_eq!(count("SET lock_timeout = 0;\nALTER TABLE t VALIDATE CONSTRAINT c;", ID), 0);
    }
}
