//! lock-tables
use super::prelude::*;

pub struct LockTables;

pub static META: RuleMeta = RuleMeta {
    id: "lock-tables",
    severity: Severity::Error,
    summary: "LOCK TABLES in a migration blocks the app",
    docs: "\
## Problem
`LOCK TABLES orders WRITE;` (or `READ`) around migration steps.

## Why it matters
`WRITE` blocks every read and write of the table from other sessions until `UNLOCK TABLES`;
`READ` blocks every write. The lock is held across all the statements in between, and DDL under
it still commits implicitly.

## What to do
Remove it: online DDL (`ALGORITHM=INSTANT` / `NOCOPY|INPLACE, LOCK=NONE`) needs no table lock,
and backfills in keyset batches lock only their rows.
",
};

impl MyRule for LockTables {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, s: &MyStmt, _cx: &MyCx, out: &mut Findings) {
        if let Kind::LockTables { write } = s.read.kind {
            let what = if write { "every read and write" } else { "every write" };
            out.report(&META, format!("LOCK TABLES blocks {what} of the locked tables from other sessions until UNLOCK TABLES"))
                .help("online DDL and batched backfills need no table lock: remove it");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::mysql::rules::testing::*;

    #[test]
    fn lock_tables_is_flagged() {
        assert_eq!(findings("LOCK TABLES t WRITE;\nUNLOCK TABLES;", "lock-tables").len(), 1);
    }
}
