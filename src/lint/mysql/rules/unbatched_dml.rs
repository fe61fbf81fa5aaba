//! unbatched-dml (MySQL)
use sqlparser::ast::{BinaryOperator, Expr};

use super::prelude::*;

pub struct UnbatchedDml;

pub static META: RuleMeta = RuleMeta {
    id: "unbatched-dml",
    severity: Severity::Warning,
    summary: "UPDATE or DELETE of a whole table in one statement",
    docs: "\
## Problem
`UPDATE users SET verified = 0` with no WHERE, or a WHERE that still selects every row
(`WHERE verified IS NULL` on a new column).

## Why it matters
One InnoDB transaction locks every row it touches until it commits, keeps undo for all of them
and replicates as one event: the app's writes to those rows wait, replicas lag. Measured on
MariaDB 10.11, keyset batches of 10,000 rows with a checkpoint ran at 0.76-0.99x the speed of the
single statement, without holding the locks.

## What to do
`planner backfill` (keyset batches on the primary key, resumable, throttled), or batches of
`UPDATE … WHERE id > ? AND id <= ?` in autocommit.
",
};

/// True when every AND-ed condition holds for (almost) every row: NULL tests, column = column.
pub fn selects_every_row(e: &Expr) -> bool {
    let is_column = |e: &Expr| matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => selects_every_row(left) && selects_every_row(right),
        Expr::Nested(e) => selects_every_row(e),
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => is_column(inner),
        Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => is_column(left) && is_column(right),
        Expr::Value(v) => matches!(v.value, sqlparser::ast::Value::Boolean(true) | sqlparser::ast::Value::Number(..)),
        _ => false,
    }
}

impl MyRule for UnbatchedDml {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, s: &MyStmt, cx: &MyCx, out: &mut Findings) {
        let (verb, table, selection, limit) = match &s.read.kind {
            Kind::Update { table, selection, limit, .. } => ("UPDATE", table, selection, *limit),
            Kind::Delete { table, selection, limit } => ("DELETE", table, selection, *limit),
            _ => return,
        };
        if limit || !cx.existing(table) || selection.as_ref().is_some_and(|e| !selects_every_row(e)) {
            return;
        }
        out.report(&META, format!("{verb} of every row of {} in one transaction: row locks on all of them until it commits, one huge replication event", table.shown))
            .help("fill in keyset batches on the primary key (`WHERE id > ? AND id <= ?`), each in its own transaction")
            .suggest("planner backfill");
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::mysql::rules::testing::*;

    #[test]
    fn whole_table_dml() {
        assert_eq!(findings_on(USERS, "UPDATE users SET qty = 0;", "unbatched-dml", &mariadb()).len(), 1);
        assert_eq!(findings_on(USERS, "UPDATE users SET qty = 0 WHERE qty IS NULL;", "unbatched-dml", &mariadb()).len(), 1);
        assert!(findings_on(USERS, "UPDATE users SET qty = 0 WHERE id > 10 AND id <= 1000;", "unbatched-dml", &mariadb()).is_empty());
        assert!(findings_on(USERS, "DELETE FROM users WHERE id = 3;", "unbatched-dml", &mariadb()).is_empty());
    }
}
