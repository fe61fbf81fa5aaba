//! constraint-without-not-valid
use super::prelude::*;

pub struct ConstraintWithoutNotValid;

pub static META: RuleMeta = RuleMeta {
    id: "constraint-without-not-valid",
    severity: Severity::Error,
    summary: "Adding a FOREIGN KEY or CHECK constraint validates every row under a blocking lock",
    docs: "\
## Problem
`ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id)`

## Why it matters
The constraint is checked against every existing row while the table is locked (ACCESS
EXCLUSIVE for CHECK; SHARE ROW EXCLUSIVE on both tables for a FOREIGN KEY, which blocks writes).
`ADD COLUMN c int CHECK (c > 0)` does the same: the new column's check is verified on every row.

## What to do
Add it `NOT VALID` (instant; new rows are checked), then `VALIDATE CONSTRAINT` in a separate
statement: it scans without blocking reads or writes.
```sql
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;
```
",
};

impl Rule for ConstraintWithoutNotValid {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let Some((at, table)) = populated_alter_table(stmt, cx) else { return };
        for op in &at.operations {
            let (kind, name) = match op {
                AlterTableOperation::AddConstraint { constraint: TableConstraint::ForeignKey(fk), not_valid: false } => {
                    ("FOREIGN KEY", fk.name.as_ref().map(|n| n.to_string()))
                }
                AlterTableOperation::AddConstraint { constraint: TableConstraint::Check(c), not_valid: false } => {
                    ("CHECK", c.name.as_ref().map(|n| n.to_string()))
                }
                // A new column referencing another table: all NULL, but the FK still locks both tables.
                AlterTableOperation::AddColumn { column_def, .. }
                    if column_def.options.iter().any(|o| matches!(o.option, ColumnOption::ForeignKey(_)))
                        && column_def.options.iter().any(|o| matches!(o.option, ColumnOption::Default(_))) =>
                {
                    ("FOREIGN KEY", None)
                }
                // A new column with a CHECK: PostgreSQL checks every row while it holds ACCESS EXCLUSIVE.
                AlterTableOperation::AddColumn { column_def, .. }
                    if column_def.options.iter().any(|o| matches!(o.option, ColumnOption::Check(_))) =>
                {
                    let col = &column_def.name;
                    out.report(&META, format!("adding column {table}.{col} with a CHECK checks every row of {table} under ACCESS EXCLUSIVE"))
                        .help(format!(
                            "add the column without the check, then add it NOT VALID and validate it:\nALTER TABLE {table} ADD CONSTRAINT {}_{}_check CHECK (...) NOT VALID;\nALTER TABLE {table} VALIDATE CONSTRAINT {}_{}_check;",
                            bare_table_name(&at.name), col.value, bare_table_name(&at.name), col.value
                        ));
                    continue;
                }
                _ => continue,
            };
            let name = name.unwrap_or_else(|| "<constraint>".to_string());
            out.report(&META, format!("adding {kind} constraint on {table} checks every row under a lock that blocks writes"))
                .help(format!(
                    "add it NOT VALID, then validate without blocking:\nALTER TABLE {table} ADD CONSTRAINT {name} ... NOT VALID;\nALTER TABLE {table} VALIDATE CONSTRAINT {name};"
                ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    const ID: &str = "constraint-without-not-valid";

    #[test]
    fn flags_validated_fk_and_check() {
        assert_eq!(count("ALTER TABLE o ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);", ID), 1);
        assert_eq!(count("ALTER TABLE o ADD CONSTRAINT c CHECK (amount > 0);", ID), 1);
    }

    #[test]
    fn a_new_column_with_a_check_scans() {
        assert_eq!(count("ALTER TABLE o ADD COLUMN qty int CHECK (qty > 0);", ID), 1);
        assert_eq!(count("CREATE TABLE o (a int);\nALTER TABLE o ADD COLUMN qty int CHECK (qty > 0);", ID), 0);
    }

    #[test]
    fn not_valid_then_validate_is_fine() {
        let sql = "ALTER TABLE o ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id) NOT VALID;\nALTER TABLE o VALIDATE CONSTRAINT fk;";
        assert_eq!(count(sql, ID), 0);
    }
}
