//! ddl-in-transaction
use super::prelude::*;

pub struct DdlInTransaction;

pub static META: RuleMeta = RuleMeta {
    id: "ddl-in-transaction",
    severity: Severity::Error,
    summary: "DDL inside a transaction commits it: a later ROLLBACK undoes nothing",
    docs: "\
## Problem
```sql
START TRANSACTION;
UPDATE accounts SET plan = 'free' WHERE plan IS NULL;
ALTER TABLE accounts ADD COLUMN tier INT NULL;
ROLLBACK;
```
or any DDL in a file the migration tool wraps in a transaction (`--assume-in-transaction`).

## Why it matters
MySQL and MariaDB commit the open transaction before (and after) every DDL statement: measured,
`START TRANSACTION; INSERT; ALTER TABLE …; INSERT; ROLLBACK` kept both rows. The tool's or the
file's ROLLBACK after a failure silently undoes nothing, and a migration can stop half way.

## What to do
One DDL per migration step, outside any transaction; make each step safe to re-run (MariaDB:
`ADD COLUMN IF NOT EXISTS`, `DROP COLUMN IF EXISTS`).
",
};

impl MyRule for DdlInTransaction {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, s: &MyStmt, cx: &MyCx, out: &mut Findings) {
        if !s.is_ddl() || !cx.session.in_tx {
            return;
        }
        let whose = if cx.session.tool_tx { "the migration tool's transaction" } else { "the transaction this file opened" };
        out.report(&META, format!("this DDL implicitly commits {whose}: a later ROLLBACK undoes nothing (measured)"))
            .help("run DDL outside transactions, one step per migration");
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::mysql::rules::testing::*;

    #[test]
    fn ddl_after_begin_and_not_after_commit() {
        let sql = "START TRANSACTION;\nUPDATE users SET qty = 1 WHERE id = 1;\nALTER TABLE users ADD COLUMN a INT, ALGORITHM=INSTANT;\nALTER TABLE users ADD COLUMN b INT, ALGORITHM=INSTANT;";
        let f = findings_on(USERS, sql, "ddl-in-transaction", &mariadb());
        assert_eq!(f.iter().map(|f| f.start.line).collect::<Vec<_>>(), vec![3], "the first ALTER ended the transaction");
        let wrapped = crate::lint::LintOptions { assume_in_transaction: true, ..mariadb() };
        assert_eq!(findings_on(USERS, "ALTER TABLE users ADD COLUMN a INT, ALGORITHM=INSTANT;", "ddl-in-transaction", &wrapped).len(), 1);
    }
}
