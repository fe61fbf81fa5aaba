//! concurrently-in-transaction
use super::prelude::*;

pub struct ConcurrentlyInTransaction;

pub static META: RuleMeta = RuleMeta {
    id: "concurrently-in-transaction",
    severity: Severity::Error,
    summary: "CONCURRENTLY cannot run inside a transaction block",
    docs: "\
## Problem
```sql
BEGIN;
CREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id);
COMMIT;
```

## Why it matters
PostgreSQL refuses it (`cannot run inside a transaction block`), so the migration fails at deploy
time. Most migration tools wrap each file in a transaction: pass `--assume-in-transaction` (or set
`check.assume_in_transaction`) when yours does.

## What to do
Put the statement in its own migration without a transaction (sqlx: `-- no-transaction`, Rails:
`disable_ddl_transaction!`, golang-migrate: its own file; Flyway: `executeInTransaction=false`).
",
};

impl Rule for ConcurrentlyInTransaction {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        if !cx.at(stmt.index).in_transaction {
            return;
        }
        let concurrent = match stmt.ast() {
            Some(Statement::CreateIndex(ci)) => ci.concurrently,
            _ => {
                (stmt.starts_with(&["REINDEX"]) || stmt.starts_with(&["DROP", "INDEX"]))
                    && stmt.words.iter().any(|w| w == "CONCURRENTLY")
            }
        };
        if concurrent {
            out.report(&META, "CONCURRENTLY inside a transaction block fails: `cannot run inside a transaction block`")
                .help("move it to a migration that runs without a transaction");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    const ID: &str = "concurrently-in-transaction";

    #[test]
    fn flags_concurrently_inside_begin() {
        assert_eq!(count("BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (a);\nCOMMIT;", ID), 1);
        let opts = crate::lint::LintOptions { assume_in_transaction: true, ..Default::default() };
        assert_eq!(findings_with("DROP INDEX CONCURRENTLY i;", ID, &opts).len(), 1);
    }

    #[test]
    fn sqlx_no_transaction_header_opts_out() {
        let opts = crate::lint::LintOptions { assume_in_transaction: true, ..Default::default() };
        let sql = "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);";
        assert_eq!(findings_with(sql, ID, &opts).len(), 0);
    }

    #[test]
    fn outside_a_transaction_is_fine() {
        assert_eq!(count("BEGIN;\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON t (a);", ID), 0);
    }
}
