//! unbatched-dml
use super::prelude::*;

pub struct UnbatchedDml;

pub static META: RuleMeta = RuleMeta {
    id: "unbatched-dml",
    severity: Severity::Warning,
    summary: "UPDATE or DELETE of a whole table in one transaction",
    docs: "\
## Problem
`UPDATE users SET email_verified = (verified_at IS NOT NULL)` with no WHERE.

## Why it matters
One statement locks every row it touches until it commits (blocking the app's writes to them),
bloats the table, and lags replicas. On a big table that is minutes of blocked writes.

## What to do
Fill in short batches: `planner backfill --batch 1000 --sleep 100ms` (keyset pagination, resumable,
throttled), or plan it with `planner plan add-column ... --backfill EXPR`.
",
};

impl Rule for UnbatchedDml {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let (verb, table) = match stmt.ast() {
            Some(Statement::Update(u)) if u.selection.is_none() && u.from.is_none() => match &u.table.relation {
                sqlparser::ast::TableFactor::Table { name, .. } => ("UPDATE", name),
                _ => return,
            },
            Some(Statement::Delete(d)) if d.selection.is_none() && d.using.is_none() => {
                let tables = match &d.from {
                    sqlparser::ast::FromTable::WithFromKeyword(t) | sqlparser::ast::FromTable::WithoutKeyword(t) => t,
                };
                match tables.first().map(|t| &t.relation) {
                    Some(sqlparser::ast::TableFactor::Table { name, .. }) => ("DELETE", name),
                    _ => return,
                }
            }
            _ => return,
        };
        if cx.is_new_table(table, stmt.index) {
            return;
        }
        let finding = out
            .report(&META, format!("{verb} of every row of {table} in one transaction locks them all until it commits"))
            .help("process the table in short batches, each its own transaction");
        if verb == "UPDATE" {
            finding.suggest("planner backfill --batch 1000 --sleep 100ms");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    const ID: &str = "unbatched-dml";

    #[test]
    fn flags_whole_table_update_and_delete() {
        assert_eq!(count("UPDATE users SET a = 1;\nDELETE FROM users;", ID), 2);
    }

    #[test]
    fn where_clause_or_new_table_is_fine() {
        assert_eq!(count("UPDATE users SET a = 1 WHERE id = 3;\nCREATE TABLE n (a int);\nUPDATE n SET a = 2;", ID), 0);
    }
}
