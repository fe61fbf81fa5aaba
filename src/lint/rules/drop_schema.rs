//! drop-schema
use super::prelude::*;

pub struct DropSchema;

pub static META: RuleMeta = RuleMeta {
    id: "drop-schema",
    severity: Severity::Error,
    summary: "Dropping a schema loses every object in it",
    docs: "\
## Problem
`DROP SCHEMA reporting CASCADE`

## Why it matters
Every table, view and function in the schema is gone, with its data; apps using them fail.

## What to do
Drop the objects one by one in releases after the app stopped using them, or mark a deliberate
drop with `-- planner:ignore drop-schema <reason>`.
",
};

impl Rule for DropSchema {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, _cx: &FileCx, out: &mut Findings) {
        if let Some(Statement::Drop { object_type: ObjectType::Schema, names, .. }) = stmt.ast() {
            for name in names {
                out.report(&META, format!("dropping schema {name} loses every object and row in it"))
                    .help("remove its objects after the app stopped using them; mark a deliberate drop with `-- planner:ignore drop-schema <reason>`");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    #[test]
    fn flags_drop_schema() {
        assert_eq!(count("DROP SCHEMA reporting CASCADE;", "drop-schema"), 1);
    }

    #[test]
    fn create_schema_is_fine() {
        assert_eq!(count("CREATE SCHEMA reporting;", "drop-schema"), 0);
    }
}
