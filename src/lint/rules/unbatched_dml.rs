//! unbatched-dml
use sqlparser::ast::{BinaryOperator, Expr, FromTable, TableFactor};

use super::prelude::*;

pub struct UnbatchedDml;

pub static META: RuleMeta = RuleMeta {
    id: "unbatched-dml",
    severity: Severity::Warning,
    summary: "UPDATE or DELETE of a whole table in one transaction",
    docs: "\
## Problem
`UPDATE users SET email_verified = (verified_at IS NOT NULL)` with no WHERE, and backfills whose
WHERE still selects every row: `UPDATE orders SET total_cents = total * 100 WHERE total_cents IS
NULL` (a new column is NULL everywhere) or `UPDATE orders o SET region = u.region FROM users u
WHERE o.user_id = u.id` (a join filters nothing).

## Why it matters
One statement locks every row it touches until it commits (blocking the app's writes to them),
bloats the table, and lags replicas. On a big table that is minutes of blocked writes.

Not reported: a WHERE that compares a column with a constant (`WHERE id = 1`, `WHERE key IN
('a', 'b')`, a range), tables created in the same file or proved empty by it, and tables guarded
to hold one row (`CHECK (id = 1)` on the key, or a unique index on a constant). A table whose name
says it holds settings (`settings`, `config`, `preferences`, ...) is reported as info.

## What to do
Fill in short batches: `planner backfill --batch 1000 --sleep 100ms` (keyset pagination, resumable,
throttled), or plan it with `planner plan add-column ... --backfill EXPR`.
",
};

/// Name endings of tables that hold a few configuration rows.
const CONFIG_NAMES: &[&str] =
    &["settings", "setting", "config", "configs", "configuration", "configurations", "preferences", "singleton"];

/// True when every AND-ed condition of `e` holds for (almost) every row: NULL tests (a new
/// column is NULL everywhere), join equalities between two columns, `true`.
fn selects_every_row(e: &Expr) -> bool {
    let is_column = |e: &Expr| matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => selects_every_row(left) && selects_every_row(right),
        Expr::Nested(e) => selects_every_row(e),
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => is_column(inner),
        Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => is_column(left) && is_column(right),
        Expr::IsDistinctFrom(l, r) => is_column(l) && is_column(r),
        Expr::Value(v) => matches!(v.value, sqlparser::ast::Value::Boolean(true)),
        _ => false,
    }
}

impl Rule for UnbatchedDml {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let (verb, table, selection) = match stmt.ast() {
            Some(Statement::Update(u)) => match &u.table.relation {
                TableFactor::Table { name, .. } => ("UPDATE", name, u.selection.as_ref()),
                _ => return,
            },
            Some(Statement::Delete(d)) => {
                let tables = match &d.from {
                    FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
                };
                match tables.first().map(|t| &t.relation) {
                    Some(TableFactor::Table { name, .. }) => ("DELETE", name, d.selection.as_ref()),
                    _ => return,
                }
            }
            _ => return,
        };
        if cx.has_no_rows(table, stmt.index) || cx.is_single_row(table) {
            return;
        }
        let message = match selection {
            None => format!("{verb} of every row of {table} in one transaction locks them all until it commits"),
            Some(w) if selects_every_row(w) => format!(
                "{verb} of {table} WHERE {w} still touches every row (NULL tests and join keys filter nothing) in one transaction, locking them all until it commits"
            ),
            Some(_) => return,
        };
        let bare = bare_table_name(table).to_lowercase();
        let config = CONFIG_NAMES.iter().any(|n| bare == *n || bare.ends_with(&format!("_{n}")));
        let finding = out.report(&META, message).help("process the table in short batches, each its own transaction");
        let finding = if verb == "UPDATE" { finding.suggest("planner backfill --batch 1000 --sleep 100ms") } else { finding };
        if config {
            finding
                .severity(Severity::Info)
                .help(format!("{table} looks like a settings table (by its name): fine if it holds a few rows; otherwise process it in short batches"));
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

    #[test]
    fn backfills_that_filter_nothing_are_flagged() {
        let sql = "UPDATE orders SET cents = total * 100 WHERE cents IS NULL;\n\
                   UPDATE orders o SET region = u.region FROM users u WHERE o.user_id = u.id;\n\
                   UPDATE orders o SET region = u.region FROM users u WHERE o.user_id = u.id AND o.region IS NULL;\n\
                   DELETE FROM orders USING users u WHERE orders.user_id = u.id;";
        assert_eq!(count(sql, ID), 4);
        let bounded = "UPDATE orders SET cents = 0 WHERE cents IS NULL AND id < 1000;\n\
                       UPDATE orders o SET region = u.region FROM users u WHERE o.user_id = u.id AND u.id = 7;";
        assert_eq!(count(bounded, ID), 0);
    }

    #[test]
    fn single_row_and_settings_tables() {
        let guarded = "CREATE TABLE app_state (id int PRIMARY KEY CHECK (id = 1), v text);\nCOMMIT;\n";
        let opts = crate::lint::LintOptions::default();
        let mut known = crate::lint::KnownSchema::default();
        let mut report = crate::lint::LintReport::default();
        report.lint_source("1.sql", guarded, &opts, &mut known);
        report.lint_source("2.sql", "UPDATE app_state SET v = 'x';", &opts, &mut known);
        assert!(report.findings.iter().all(|f| f.rule != ID), "{:?}", report.findings);
        let f = findings("UPDATE site_settings SET v = 'x';", ID);
        assert_eq!(f[0].severity, crate::lint::Severity::Info);
    }
}
