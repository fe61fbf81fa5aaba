//! drop-table
use super::prelude::*;

pub struct DropTable;

pub static META: RuleMeta = RuleMeta {
    id: "drop-table",
    severity: Severity::Error,
    summary: "Dropping a table loses its data and breaks the app that still uses it",
    docs: "\
## Problem
`DROP TABLE audit_log`

## Why it matters
The running app fails on every query of the table, and the data cannot be restored.

## What to do
Deploy an app that no longer uses the table, keep the table for a release (or rename it to
`<name>_deprecated` after the deploy), then drop it with `-- planner:ignore drop-table <reason>`.
",
};

impl Rule for DropTable {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        if let Some(Statement::Drop { object_type: ObjectType::Table, names, .. }) = stmt.ast() {
            for name in names.iter().filter(|n| !cx.is_new_table(n, stmt.index)) {
                out.report(&META, format!("dropping table {name} loses its data and breaks queries that use it"))
                    .help("drop it a release after the app stopped using it; mark the statement `-- planner:ignore drop-table <reason>`");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    #[test]
    fn flags_drop_table() {
        assert_eq!(count("DROP TABLE IF EXISTS audit_log, other;", "drop-table"), 2);
    }

    #[test]
    fn table_created_in_the_file_is_exempt() {
        assert_eq!(count("CREATE TABLE tmp (a int);\nDROP TABLE tmp;", "drop-table"), 0);
    }
}
