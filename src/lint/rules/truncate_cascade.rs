//! truncate-cascade
use super::prelude::*;

pub struct TruncateCascade;

pub static META: RuleMeta = RuleMeta {
    id: "truncate-cascade",
    severity: Severity::Error,
    summary: "TRUNCATE ... CASCADE also empties every table that references it",
    docs: "\
## Problem
`TRUNCATE users CASCADE`

## Why it matters
Every table with a foreign key to `users` (and theirs, recursively) is emptied too, under ACCESS
EXCLUSIVE locks. The list is decided by the live schema, not by what the author saw.

## What to do
Name every table to truncate explicitly, without CASCADE, so a new reference makes it fail instead
of deleting data.
",
};

impl Rule for TruncateCascade {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, _cx: &FileCx, out: &mut Findings) {
        if let Some(Statement::Truncate(t)) = stmt.ast() {
            if matches!(t.cascade, Some(sqlparser::ast::CascadeOption::Cascade)) {
                let names: Vec<String> = t.table_names.iter().map(|n| n.name.to_string()).collect();
                out.report(&META, format!("TRUNCATE {} CASCADE also empties every table that references it", names.join(", ")))
                    .help("list the tables to truncate explicitly and drop CASCADE");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    #[test]
    fn flags_cascade() {
        assert_eq!(count("TRUNCATE users CASCADE;", "truncate-cascade"), 1);
    }

    #[test]
    fn plain_truncate_is_fine() {
        assert_eq!(count("TRUNCATE users, orders;", "truncate-cascade"), 0);
    }
}
