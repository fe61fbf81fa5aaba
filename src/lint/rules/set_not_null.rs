//! set-not-null
use super::prelude::*;

pub struct SetNotNull;

pub static META: RuleMeta = RuleMeta {
    id: "set-not-null",
    severity: Severity::Error,
    summary: "SET NOT NULL scans the whole table under an exclusive lock",
    docs: "\
## Problem
`ALTER TABLE users ALTER COLUMN email SET NOT NULL`

## Why it matters
PostgreSQL scans every row to prove there is no NULL while holding ACCESS EXCLUSIVE: no reads or
writes meanwhile. From PG 12 the scan is skipped when a validated `CHECK (email IS NOT NULL)`
already proves it.

## What to do
`planner plan set-not-null users.email`, or by hand:
```sql
ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;  -- no exclusive lock
ALTER TABLE users ALTER COLUMN email SET NOT NULL;            -- PG 12+: no scan
ALTER TABLE users DROP CONSTRAINT users_email_not_null;
```
",
};

impl Rule for SetNotNull {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let Some((at, table)) = populated_alter_table(stmt, cx) else { return };
        for op in &at.operations {
            let AlterTableOperation::AlterColumn { column_name, op: AlterColumnOperation::SetNotNull } = op else {
                continue;
            };
            let column = column_key(column_name);
            let proven = cx.has_validated_not_null_check(&at.name, &column, stmt.index);
            if proven && cx.pg_version >= 12 {
                continue;
            }
            let constraint = format!("{}_{}_not_null", bare_table_name(&at.name), column_name.value);
            let safe = format!(
                "ALTER TABLE {table} ADD CONSTRAINT {constraint} CHECK ({column_name} IS NOT NULL) NOT VALID;\n\
                 ALTER TABLE {table} VALIDATE CONSTRAINT {constraint};\n\
                 ALTER TABLE {table} ALTER COLUMN {column_name} SET NOT NULL;\n\
                 ALTER TABLE {table} DROP CONSTRAINT {constraint};"
            );
            let suggest = format!("planner plan set-not-null {}", shell_arg(&format!("{table}.{column_name}")));
            if let Some(check) = cx.unvalidated_not_null_check(&at.name, &column, stmt.index).filter(|_| cx.pg_version >= 12) {
                out.report(&META, format!("SET NOT NULL on {table}.{column_name} scans the table under ACCESS EXCLUSIVE: the CHECK {check} before it is NOT VALID, so it proves nothing"))
                    .help(format!("validate it first (no exclusive lock):\nALTER TABLE {table} VALIDATE CONSTRAINT {check};"))
                    .suggest(suggest);
                continue;
            }
            let message = if cx.pg_version < 12 {
                format!("SET NOT NULL on {table}.{column_name} scans the table under ACCESS EXCLUSIVE (before PG 12 even a validated CHECK does not help)")
            } else {
                format!("SET NOT NULL on {table}.{column_name} scans the table under ACCESS EXCLUSIVE: no validated CHECK ({column_name} IS NOT NULL) precedes it")
            };
            out.report(&META, message)
                .help(format!("add the check NOT VALID, validate it (no exclusive lock), then SET NOT NULL uses it (PG 12+):\n{safe}"))
                .suggest(suggest);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    const ID: &str = "set-not-null";

    #[test]
    fn flags_bare_set_not_null_with_the_safe_form() {
        let f = findings("ALTER TABLE users ALTER COLUMN email SET NOT NULL;", ID);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].suggestion.as_deref(), Some("planner plan set-not-null users.email"));
        assert!(f[0].help.as_deref().unwrap_or_default().contains("VALIDATE CONSTRAINT users_email_not_null"));
    }

    #[test]
    fn validated_check_earlier_makes_it_safe_on_pg12() {
        let sql = "ALTER TABLE users ADD CONSTRAINT c CHECK (email IS NOT NULL) NOT VALID;\n\
                   ALTER TABLE users VALIDATE CONSTRAINT c;\n\
                   ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
        assert_eq!(count(sql, ID), 0);
        assert_eq!(findings_with(sql, ID, &pg(11)).len(), 1);
        // Not validated: still a scan, and the help names the missing VALIDATE.
        let f = findings("ALTER TABLE users ADD CONSTRAINT c CHECK (email IS NOT NULL) NOT VALID;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;", ID);
        assert_eq!(f.len(), 1);
        assert!(f[0].help.as_deref().unwrap_or_default().contains("VALIDATE CONSTRAINT c;"), "{:?}", f[0].help);
    }
}
