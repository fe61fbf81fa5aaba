//! drop-table
use super::prelude::*;
use crate::lint::context::Birth;

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

A table created earlier in the same file is exempt (no data, no traffic yet), and so is one a
later statement of the file replaces by renaming another table into its name (copy-then-rename:
the rows live on). A table the file drops and creates again is reported as info: its rows are
gone, which is right for a table the migration rebuilds from scratch.

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
                match cx.replaced_later(name, stmt.index) {
                    Some((_, Birth::RenamedInto | Birth::RenamedFromNew)) => continue,
                    Some((_, Birth::Created)) => {
                        out.report(&META, format!("table {name} is dropped and created again later in this file: its rows are gone"))
                            .help("fine for a table the migration rebuilds; copy the rows first if they matter")
                            .severity(Severity::Info);
                        continue;
                    }
                    None => {}
                }
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
    fn table_renamed_into_place_is_exempt_and_recreated_is_info() {
        let swap = "CREATE TABLE t_new (a int);\nINSERT INTO t_new SELECT * FROM t;\nDROP TABLE t;\nALTER TABLE t_new RENAME TO t;";
        assert_eq!(count(swap, "drop-table"), 0);
        let moved = "DROP TABLE t;\nALTER TABLE t_old RENAME TO t;";
        assert_eq!(count(moved, "drop-table"), 0);
        let f = findings("DROP TABLE IF EXISTS t;\nCREATE TABLE t (a int);", "drop-table");
        assert_eq!(f[0].severity, crate::lint::Severity::Info);
    }

    #[test]
    fn table_created_in_the_file_is_exempt() {
        assert_eq!(count("CREATE TABLE tmp (a int);\nDROP TABLE tmp;", "drop-table"), 0);
    }
}
