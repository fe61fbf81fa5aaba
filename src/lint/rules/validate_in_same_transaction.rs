//! validate-in-same-transaction
use super::prelude::*;

pub struct ValidateInSameTransaction;

pub static META: RuleMeta = RuleMeta {
    id: "validate-in-same-transaction",
    severity: Severity::Error,
    summary: "VALIDATE CONSTRAINT in the transaction that added it NOT VALID keeps the first lock",
    docs: "\
## Problem
```sql
BEGIN;
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;
COMMIT;
```

## Why it matters
`ADD CONSTRAINT ... NOT VALID` takes a lock that blocks writes (ACCESS EXCLUSIVE for a CHECK,
SHARE ROW EXCLUSIVE on both tables for a FOREIGN KEY) and a transaction keeps every lock until it
ends. The validation scan then runs while that lock is still held: the same outage as adding the
constraint without NOT VALID.

## What to do
Commit between the two statements (or put VALIDATE in the next migration), so the scan runs
under VALIDATE's own SHARE UPDATE EXCLUSIVE lock, which lets reads and writes through.
",
};

impl Rule for ValidateInSameTransaction {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let Some((at, table)) = populated_alter_table(stmt, cx) else { return };
        for op in &at.operations {
            let AlterTableOperation::ValidateConstraint { name } = op else { continue };
            if cx.not_valid_in_same_transaction(&at.name, &column_key(name), stmt.index).is_some() {
                out.report(&META, format!("VALIDATE CONSTRAINT {name} runs in the transaction that added it NOT VALID: the scan holds that statement's write-blocking lock on {table}"))
                    .help("COMMIT after the ADD CONSTRAINT ... NOT VALID, then validate in a transaction of its own");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    const ID: &str = "validate-in-same-transaction";
    const ADD: &str = "ALTER TABLE o ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id) NOT VALID;";
    const VALIDATE: &str = "ALTER TABLE o VALIDATE CONSTRAINT fk;";

    #[test]
    fn flags_validate_in_the_same_transaction() {
        assert_eq!(count(&format!("BEGIN;\n{ADD}\n{VALIDATE}\nCOMMIT;"), ID), 1);
        let wrapped = crate::lint::LintOptions { assume_in_transaction: true, ..Default::default() };
        assert_eq!(findings_with(&format!("{ADD}\n{VALIDATE}"), ID, &wrapped).len(), 1);
    }

    #[test]
    fn one_do_block_is_one_transaction() {
        assert_eq!(count(&format!("DO $$\nBEGIN\n  {ADD}\n  {VALIDATE}\nEND $$;"), ID), 1);
        assert_eq!(count(&format!("DO $$ BEGIN {ADD} END $$;\nDO $$ BEGIN {VALIDATE} END $$;"), ID), 0);
    }

    #[test]
    fn a_commit_between_them_or_autocommit_is_fine() {
        assert_eq!(count(&format!("BEGIN;\n{ADD}\nCOMMIT;\nBEGIN;\n{VALIDATE}\nCOMMIT;"), ID), 0);
        assert_eq!(count(&format!("{ADD}\n{VALIDATE}"), ID), 0);
    }
}
