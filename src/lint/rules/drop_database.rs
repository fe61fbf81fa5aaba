//! drop-database
use super::prelude::*;

pub struct DropDatabase;

pub static META: RuleMeta = RuleMeta {
    id: "drop-database",
    severity: Severity::Error,
    summary: "Dropping a database from a migration loses all of it",
    docs: "\
## Problem
`DROP DATABASE analytics`

## Why it matters
A migration that drops a database is almost always a mistake copied from a setup script.

## What to do
Remove it from the migration; drop databases by hand, deliberately.
",
};

impl Rule for DropDatabase {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, _cx: &FileCx, out: &mut Findings) {
        if let Some(Statement::Drop { object_type: ObjectType::Database, names, .. }) = stmt.ast() {
            for name in names {
                out.report(&META, format!("dropping database {name} from a migration"))
                    .help("drop databases by hand, not from a migration");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    #[test]
    fn flags_drop_database() {
        assert_eq!(count("DROP DATABASE analytics;", "drop-database"), 1);
    }

    #[test]
    fn drop_view_is_not_a_database() {
        assert_eq!(count("DROP VIEW v;", "drop-database"), 0);
    }
}
