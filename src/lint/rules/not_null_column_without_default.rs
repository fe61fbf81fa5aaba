//! not-null-column-without-default
use super::prelude::*;

pub struct NotNullColumnWithoutDefault;

pub static META: RuleMeta = RuleMeta {
    id: "not-null-column-without-default",
    severity: Severity::Error,
    summary: "Adding a NOT NULL column without a default fails on a table with rows",
    docs: "\
## Problem
`ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL`

## Why it matters
Existing rows have no value: the statement fails on any non-empty table. Even when it succeeds
(empty table in staging), the running app's INSERTs, which do not name the column, start failing.

## What to do
Add it with a constant default (instant from PG 11), or with
`planner plan add-column users.email_verified boolean --not-null --backfill EXPR`: nullable first,
filled by a trigger and a throttled backfill, NOT NULL set through a validated CHECK.
",
};

impl Rule for NotNullColumnWithoutDefault {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let Some(at) = existing_alter(stmt, cx) else { return };
        // A second such column on a table already required to be empty adds nothing.
        if cx.required_empty(&at.name, stmt.index).is_some() {
            return;
        }
        for op in &at.operations {
            let AlterTableOperation::AddColumn { column_def: c, .. } = op else { continue };
            let has = |f: fn(&ColumnOption) -> bool| c.options.iter().any(|o| f(&o.option));
            let not_null = has(|o| matches!(o, ColumnOption::NotNull | ColumnOption::PrimaryKey(_)));
            // serial and identity columns fill themselves.
            let fills_itself = has(|o| matches!(o, ColumnOption::Default(_) | ColumnOption::Generated { .. }))
                || c.data_type.to_string().to_lowercase().contains("serial");
            if not_null && !fills_itself {
                let table = table_arg(&at.name);
                out.report(&META, format!("column {table}.{} is NOT NULL without a default: fails on existing rows and breaks the running app's INSERTs", c.name))
                    .help("add a constant DEFAULT (instant from PG 11), or add it nullable, backfill, then set NOT NULL")
                    .suggest(format!("planner plan add-column {} {} --not-null --backfill EXPR", shell_arg(&format!("{table}.{}", c.name)), shell_arg(&c.data_type.to_string().to_lowercase())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    #[test]
    fn flags_not_null_without_default() {
        let f = findings("ALTER TABLE users ADD COLUMN verified boolean NOT NULL;", "not-null-column-without-default");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].suggestion.as_deref(), Some("planner plan add-column users.verified boolean --not-null --backfill EXPR"));
    }

    #[test]
    fn default_or_nullable_is_fine() {
        assert_eq!(count("ALTER TABLE users ADD COLUMN v boolean NOT NULL DEFAULT false;", "not-null-column-without-default"), 0);
        assert_eq!(count("ALTER TABLE users ADD COLUMN v boolean;", "not-null-column-without-default"), 0);
    }
}
