//! set-logged
use super::prelude::*;

pub struct SetLogged;

pub static META: RuleMeta = RuleMeta {
    id: "set-logged",
    severity: Severity::Error,
    summary: "SET LOGGED / SET UNLOGGED rewrites the table under ACCESS EXCLUSIVE",
    docs: "\
## Problem
`ALTER TABLE events SET LOGGED`

## Why it matters
Switching persistence copies the whole table (and, for SET LOGGED, writes all of it to the WAL)
while no query can read or write it.

## What to do
Create a new table with the wanted persistence, copy rows in batches (`planner backfill`), and
swap names in a short transaction; or do it in a maintenance window.
",
};

impl Rule for SetLogged {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let Some(at) = existing_alter(stmt, cx) else { return };
        for op in &at.operations {
            let what = match op {
                AlterTableOperation::SetLogged => "SET LOGGED",
                AlterTableOperation::SetUnlogged => "SET UNLOGGED",
                _ => continue,
            };
            out.report(&META, format!("{what} rewrites {} under ACCESS EXCLUSIVE: no reads or writes meanwhile", at.name))
                .help("copy into a new table in batches and swap names, or run it in a maintenance window");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    #[test]
    fn flags_persistence_switch() {
        assert_eq!(count("ALTER TABLE events SET LOGGED;\nALTER TABLE events SET UNLOGGED;", "set-logged"), 2);
    }

    #[test]
    fn new_table_is_exempt() {
        assert_eq!(count("CREATE UNLOGGED TABLE e (a int);\nALTER TABLE e SET LOGGED;", "set-logged"), 0);
    }
}
