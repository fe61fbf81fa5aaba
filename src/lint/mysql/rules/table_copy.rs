//! table-copy
use super::prelude::*;

pub struct TableCopy;

pub static META: RuleMeta = RuleMeta {
    id: "table-copy",
    severity: Severity::Error,
    summary: "The statement copies the table (or locks it) and blocks writes for its whole run",
    docs: "\
## Problem
Operations with no online form on the target version: a column type change (`INT -> BIGINT`,
narrowing, `VARCHAR` growth across the 255-byte length boundary from more than 127 bytes, a
character set change), an `ENUM` reorder, a `STORED` generated column, `DEFAULT (UUID())`, a
FULLTEXT/SPATIAL index, `CONVERT TO CHARACTER SET`, `DROP PRIMARY KEY`; and any statement that
asks for `ALGORITHM=COPY` or `LOCK=SHARED|EXCLUSIVE`. (Foreign keys and CHECKs have their own
rules.)

## Why it matters
The server copies the table row by row while writes wait: 11.8-17.0 s per 1M rows on MariaDB
10.11 (measured, 16.5 s for `DEFAULT (UUID())`); reads continue. `ALGORITHM=INPLACE, LOCK=NONE`
on these statements is refused (error 1845/1846, checked against the server by planner's tests).

## What to do
Keep the old column and add a new one: `planner plan change-type t.c TYPE` (new column, sync
triggers, throttled backfill, a swap by instant RENAME COLUMN), or run the change with a
shadow-copy tool (gh-ost, Spirit, pt-online-schema-change).
",
};

impl MyRule for TableCopy {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, s: &MyStmt, cx: &MyCx, out: &mut Findings) {
        let table = match &s.read.kind {
            Kind::AlterTable { table, .. } | Kind::CreateIndex { table, .. } | Kind::DropIndex { table, .. } => table,
            _ => return,
        };
        if !cx.existing(table) {
            return;
        }
        if let Some(forced) = super::super::cost::forced_blocking(&s.read.kind) {
            out.report(&META, format!("{}: {forced}; writes wait for the whole statement", table.shown))
                .help("name the online algorithm the operation allows (`ALGORITHM=INSTANT` / `NOCOPY|INPLACE, LOCK=NONE`): the server refuses rather than blocks");
            return;
        }
        let Some(v) = cx.cost(s) else { return };
        if v.cost != Cost::BlocksWrites || v.why.starts_with("ADD FOREIGN KEY") || v.why.contains("CHECK") {
            return;
        }
        let mut d = out
            .report(&META, format!("{}: {}; writes wait until it finishes (table copies: 11.8-17.0 s per 1M rows on MariaDB 10.11, measured)", table.shown, v.why))
            .help("no online algorithm exists for this on the target version: keep the old column and add a new one, or use gh-ost / Spirit / pt-online-schema-change");
        if let Kind::AlterTable { actions, .. } = &s.read.kind {
            if let Some(Action::Change { from, spec, .. }) = actions.iter().find(|a| matches!(a, Action::Change { .. })) {
                d = d.suggest(format!("planner plan change-type {} {}", super::arg(table, from), shell_arg(&spec.ty)));
            }
        }
        let _ = d;
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::mysql::rules::testing::*;

    #[test]
    fn type_changes_and_forced_copies_are_flagged() {
        let f = findings_on(USERS, "ALTER TABLE users MODIFY qty BIGINT NULL, ALGORITHM=INPLACE, LOCK=NONE;", "table-copy", &mariadb());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].suggestion.as_deref(), Some("planner plan change-type users.qty bigint"));
        assert_eq!(findings_on(USERS, "ALTER TABLE users ADD COLUMN x INT, ALGORITHM=COPY;", "table-copy", &mariadb()).len(), 1);
        assert_eq!(findings_on(USERS, "ALTER TABLE users ADD COLUMN u CHAR(36) DEFAULT (UUID());", "table-copy", &mariadb()).len(), 1);
    }

    #[test]
    fn instant_widening_is_not_a_copy() {
        // email VARCHAR(50) utf8mb4 = 200 bytes -> 63 chars = 252 bytes: instant (measured).
        assert!(findings_on(USERS, "ALTER TABLE users MODIFY email VARCHAR(63) NULL, ALGORITHM=INSTANT;", "table-copy", &mariadb()).is_empty());
        assert_eq!(findings_on(USERS, "ALTER TABLE users MODIFY email VARCHAR(100) NULL;", "table-copy", &mariadb()).len(), 1);
    }
}
