//! drop-column
use super::prelude::*;

pub struct DropColumn;

pub static META: RuleMeta = RuleMeta {
    id: "drop-column",
    severity: Severity::Error,
    summary: "Dropping a column breaks the app version that still uses it",
    docs: "\
## Problem
`ALTER TABLE users DROP COLUMN legacy_flag`

## Why it matters
The running app may still select or insert the column (ORMs often name every column), and the data
is gone: there is no rollback.

## What to do
`planner plan drop-column users.legacy_flag`: expand makes the column optional for the new app,
contract drops it after checking no view, index or constraint depends on it.
",
};

impl Rule for DropColumn {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let Some(at) = existing_alter(stmt, cx) else { return };
        for op in &at.operations {
            if let AlterTableOperation::DropColumn { column_names, .. } = op {
                for col in column_names {
                    let table = table_arg(&at.name);
                    out.report(&META, format!("dropping column {table}.{col} breaks the app version that still uses it"))
                        .help("deploy an app that no longer reads or writes the column first; the data cannot be restored")
                        .suggest(format!("planner plan drop-column {}", shell_arg(&format!("{table}.{col}"))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    #[test]
    fn flags_each_dropped_column() {
        let f = findings("ALTER TABLE users DROP COLUMN legacy_flag;", "drop-column");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].suggestion.as_deref(), Some("planner plan drop-column users.legacy_flag"));
    }

    #[test]
    fn new_table_is_exempt() {
        assert_eq!(count("CREATE TABLE t (a int, b int);\nALTER TABLE t DROP COLUMN b;", "drop-column"), 0);
    }
}
