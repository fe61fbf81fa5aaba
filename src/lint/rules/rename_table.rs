//! rename-table
use super::prelude::*;

pub struct RenameTable;

pub static META: RuleMeta = RuleMeta {
    id: "rename-table",
    severity: Severity::Error,
    summary: "Renaming a table breaks the app version that is still running",
    docs: "\
## Problem
`ALTER TABLE users RENAME TO accounts`

## Why it matters
Every query of the running app names the old table and fails as soon as the rename commits.

## What to do
Rename in two releases: rename the table and create a view with the old name
(`CREATE VIEW users AS SELECT * FROM accounts`, simple views are updatable), deploy the app that
uses the new name, then drop the view.
",
};

impl Rule for RenameTable {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let Some(at) = existing_alter(stmt, cx) else { return };
        for op in &at.operations {
            if let AlterTableOperation::RenameTable { table_name } = op {
                let new = match table_name {
                    sqlparser::ast::RenameTableNameKind::As(n) | sqlparser::ast::RenameTableNameKind::To(n) => n,
                };
                out.report(&META, format!("renaming table {} breaks queries of the running app", at.name))
                    .help(format!(
                        "in the same transaction: `ALTER TABLE {} RENAME TO {new}; CREATE VIEW {} AS SELECT * FROM {new};` and drop the view after the deploy",
                        at.name, at.name
                    ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    #[test]
    fn flags_rename() {
        assert_eq!(count("ALTER TABLE users RENAME TO accounts;", "rename-table"), 1);
    }

    #[test]
    fn new_table_is_exempt() {
        assert_eq!(count("CREATE TABLE t (a int);\nALTER TABLE t RENAME TO u;", "rename-table"), 0);
    }
}
