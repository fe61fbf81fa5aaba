//! drop-table
use super::prelude::*;
use crate::lint::context::Birth;

pub struct DropTable;

pub static META: RuleMeta = RuleMeta {
    id: "drop-table",
    severity: Severity::Warning,
    summary: "Dropping a table loses its data and breaks the app that still uses it",
    docs: "\
## Problem
`DROP TABLE audit_log`

## Why it matters
The app version still running during the deploy fails on every query of the table, and the data
cannot be restored. Whether it still uses the table depends on the deploy, which the migration
files do not show, so the finding is a warning: safe when the release before this one already
stopped using the table.

It is an error when the history shows database code that still reads the table whatever the
deploy order: a view naming it (the drop fails, or with CASCADE takes the view with it) or a
trigger on another table whose function names it (an audit or counter table: every write to the
other table fails once it is gone). Views and trigger functions are followed through the whole
run (created, replaced, dropped); the reading is word-level.

A table created earlier in the same file is exempt (no data, no traffic yet), and so is one a
later statement of the file replaces by renaming another table into its name (copy-then-rename:
the rows live on). A table the file drops and creates again is reported as info: its rows are
gone, which is right for a table the migration rebuilds from scratch.

## What to do
Two releases: deploy an app that no longer uses the table, keep the table for a release (or
rename it to `<name>_deprecated` after the deploy), then drop it. Drop or replace the view or
trigger function that reads it first. `severity: { drop-table: error }` gates every drop.
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
                if let Some(reader) = cx.still_read(stmt.index, name, None) {
                    out.report(&META, format!("dropping table {name} while {reader}: the database breaks whatever the deploy order"))
                        .help("drop or replace the view or trigger function first; the data cannot be restored")
                        .severity(Severity::Error);
                    continue;
                }
                out.report(&META, format!("dropping table {name} loses its data and breaks queries that use it"))
                    .help("two releases: drop it a release after the app stopped using it; the data cannot be restored");
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
    fn an_error_only_while_a_view_or_trigger_reads_the_table() {
        use crate::lint::Severity;
        assert_eq!(findings("DROP TABLE audit_log;", "drop-table")[0].severity, Severity::Warning);
        let view = "CREATE VIEW recent AS SELECT * FROM audit_log;\nDROP TABLE audit_log CASCADE;";
        assert_eq!(findings(view, "drop-table")[0].severity, Severity::Error);
        let trigger = "CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit_log VALUES (NEW.id); RETURN NEW; END $$;\n\
                       CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION audit();\n\
                       DROP TABLE audit_log;";
        assert_eq!(findings(trigger, "drop-table")[0].severity, Severity::Error);
        let untriggered = trigger.replace("DROP TABLE audit_log", "DROP TRIGGER orders_audit ON orders;\nDROP TABLE audit_log");
        assert_eq!(findings(&untriggered, "drop-table")[0].severity, Severity::Warning);
    }

    #[test]
    fn table_created_in_the_file_is_exempt() {
        assert_eq!(count("CREATE TABLE tmp (a int);\nDROP TABLE tmp;", "drop-table"), 0);
    }
}
