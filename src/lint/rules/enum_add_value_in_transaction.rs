//! enum-add-value-in-transaction
use super::prelude::*;

pub struct EnumAddValueInTransaction;

pub static META: RuleMeta = RuleMeta {
    id: "enum-add-value-in-transaction",
    severity: Severity::Error,
    summary: "ALTER TYPE ... ADD VALUE inside a transaction fails before PostgreSQL 12",
    docs: "\
## Problem
```sql
BEGIN;
ALTER TYPE order_status ADD VALUE 'refunded';
COMMIT;
```

## Why it matters
Before PG 12 it fails: `ALTER TYPE ... ADD cannot run inside a transaction block`. From PG 12 it
runs, but the new value cannot be used until the transaction commits.

## What to do
Before PG 12, run it in a migration without a transaction. From PG 12, do not use the value in
the same transaction.
",
};

impl Rule for EnumAddValueInTransaction {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let Some(Statement::AlterType(at)) = stmt.ast() else { return };
        if !matches!(at.operation, sqlparser::ast::AlterTypeOperation::AddValue(_)) {
            return;
        }
        if cx.at(stmt.index).in_transaction && cx.pg_version < 12 {
            out.report(&META, format!("ALTER TYPE {} ADD VALUE cannot run inside a transaction block before PostgreSQL 12", at.name))
                .help("run it in a migration without a transaction");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    const ID: &str = "enum-add-value-in-transaction";
    const SQL: &str = "BEGIN;\nALTER TYPE s ADD VALUE 'x';\nCOMMIT;";

    #[test]
    fn flags_in_transaction_on_old_servers() {
        assert_eq!(findings_with(SQL, ID, &pg(11)).len(), 1);
    }

    #[test]
    fn fine_on_pg12_or_outside_a_transaction() {
        assert_eq!(count(SQL, ID), 0);
        assert_eq!(findings_with("ALTER TYPE s ADD VALUE 'x';", ID, &pg(11)).len(), 0);
    }
}
