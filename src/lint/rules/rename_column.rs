//! rename-column
use super::prelude::*;

pub struct RenameColumn;

pub static META: RuleMeta = RuleMeta {
    id: "rename-column",
    severity: Severity::Error,
    summary: "Renaming a column breaks the app version that is still running",
    docs: "\
## Problem
`ALTER TABLE users RENAME COLUMN name TO full_name`

## Why it matters
The rename is instant, but during a deploy the old app still reads and writes `name`: every query
it sends fails until it is replaced.

## What to do
`planner plan rename users.name full_name`: expand adds `full_name` with a sync trigger so old and
new app run side by side, backfill copies, contract drops `name` once the old app is gone.
",
};

impl Rule for RenameColumn {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let Some(at) = existing_alter(stmt, cx) else { return };
        for op in &at.operations {
            if let AlterTableOperation::RenameColumn { old_column_name, new_column_name } = op {
                let table = table_arg(&at.name);
                out.report(&META, format!("renaming column {table}.{old_column_name} breaks queries of the running app"))
                    .help("add the new column, keep both in sync while old and new app run, drop the old one last")
                    .suggest(format!("planner plan rename {} {}", shell_arg(&format!("{table}.{old_column_name}")), shell_arg(&new_column_name.to_string())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    #[test]
    fn flags_rename_with_the_planner_command() {
        let f = findings("ALTER TABLE users RENAME COLUMN name TO full_name;", "rename-column");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].suggestion.as_deref(), Some("planner plan rename users.name full_name"));
    }

    #[test]
    fn new_table_is_exempt() {
        assert_eq!(count("CREATE TABLE t (a int);\nALTER TABLE t RENAME COLUMN a TO b;", "rename-column"), 0);
    }
}
