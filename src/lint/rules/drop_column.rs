//! drop-column
use super::prelude::*;

pub struct DropColumn;

pub static META: RuleMeta = RuleMeta {
    id: "drop-column",
    severity: Severity::Warning,
    summary: "Dropping a column breaks the app version that still uses it",
    docs: "\
## Problem
`ALTER TABLE users DROP COLUMN legacy_flag`

## Why it matters
The app version still running during the deploy may select or insert the column (ORMs often
name every column), and the data is gone: there is no rollback. Whether it still does depends
on the deploy, which the migration files do not show, so the finding is a warning: safe when
the release before this one already stopped using the column (the two-release procedure below).

It is an error when the history shows database code that still reads the column whatever the
deploy order: a view naming it (the drop fails, or with CASCADE takes the view the app reads
with it) or a trigger on the table whose function reads it (`NEW.legacy_flag`: every write to
the table fails once the column is gone). Views and trigger functions are followed through the
whole run (created, replaced, dropped). The reading is word-level, so a view naming the table and
a column of the same name elsewhere counts too. A column of a table created earlier in the same
file is exempt.

## What to do
Two releases: first deploy an app that no longer reads or writes the column, then drop it.
`planner plan drop-column users.legacy_flag` does both steps: expand makes the column optional
for the new app, contract drops it after checking no view, index or constraint depends on it.
Drop or replace the view or trigger function that reads the column before the column itself.
A team that deploys with downtime can set `severity: { drop-column: info }`; one that wants
every drop gated sets `severity: { drop-column: error }`.
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
                    let suggestion = format!("planner plan drop-column {}", shell_arg(&format!("{table}.{col}")));
                    if let Some(reader) = cx.still_read(stmt.index, &at.name, Some(&column_key(col))) {
                        out.report(&META, format!("dropping column {table}.{col} while {reader}: the database breaks whatever the deploy order"))
                            .help("drop or replace the view or trigger function first; the data cannot be restored")
                            .suggest(suggestion)
                            .severity(Severity::Error);
                        continue;
                    }
                    out.report(&META, format!("dropping column {table}.{col} breaks the app version that still uses it"))
                        .help("two releases: deploy an app that no longer reads or writes the column, then drop it; the data cannot be restored")
                        .suggest(suggestion);
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
    fn an_error_only_while_a_view_or_trigger_reads_the_column() {
        let f = findings("ALTER TABLE users DROP COLUMN legacy_flag;", "drop-column");
        assert_eq!(f[0].severity, crate::lint::Severity::Warning);
        let view = "CREATE VIEW active AS SELECT id FROM users WHERE NOT legacy_flag;\nALTER TABLE users DROP COLUMN legacy_flag CASCADE;";
        let f = findings(view, "drop-column");
        assert_eq!(f[0].severity, crate::lint::Severity::Error, "{}", f[0].message);
        assert!(f[0].message.contains("view public.active"), "{}", f[0].message);
        let replaced = "CREATE VIEW active AS SELECT id FROM users WHERE NOT legacy_flag;\nDROP VIEW active;\nALTER TABLE users DROP COLUMN legacy_flag;";
        assert_eq!(findings(replaced, "drop-column")[0].severity, crate::lint::Severity::Warning);
        let trigger = "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.seen_at := now(); RETURN NEW; END $$;\n\
                       CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();\n\
                       ALTER TABLE users DROP COLUMN seen_at;";
        assert_eq!(findings(trigger, "drop-column")[0].severity, crate::lint::Severity::Error);
    }

    #[test]
    fn new_table_is_exempt() {
        assert_eq!(count("CREATE TABLE t (a int, b int);\nALTER TABLE t DROP COLUMN b;", "drop-column"), 0);
    }
}
