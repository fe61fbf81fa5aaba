//! table-rebuild
use super::prelude::*;

pub struct TableRebuild;

pub static META: RuleMeta = RuleMeta {
    id: "table-rebuild",
    severity: Severity::Warning,
    summary: "Online, but the statement rewrites the whole table",
    docs: "\
## Problem
`MODIFY … NOT NULL` / `MODIFY … NULL` (flipping nullability), `ADD PRIMARY KEY` or replacing it,
`ADD COLUMN` together with `ADD INDEX` in one statement, `FORCE`, `ENGINE=InnoDB`,
`OPTIMIZE TABLE`.

## Why it matters
Writes continue (`ALGORITHM=INPLACE, LOCK=NONE`), but the table is rewritten: 6.4-9.7 s per 1M
rows on MariaDB 10.11 (measured), replicas replay it serially after the primary finished, and a
concurrent write that violates the new definition aborts it at the very end ('Data truncated'
after 7.1-7.8 s when a NULL was inserted during `MODIFY … NOT NULL`, measured): all work lost.
Unlike PostgreSQL, `DROP NOT NULL` is not catalog-only.

## What to do
`planner plan set-not-null t.c` (triggers fill the column before the one rebuild, so no NULL
arrives during it); split ADD COLUMN and ADD INDEX into two statements (instant + NOCOPY); for
`drop-column`, set a default instead of dropping NOT NULL.
",
};

impl MyRule for TableRebuild {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, s: &MyStmt, cx: &MyCx, out: &mut Findings) {
        if let Kind::Optimize { tables } = &s.read.kind {
            if tables.iter().any(|t| cx.existing(t)) {
                out.report(&META, "OPTIMIZE TABLE rebuilds the table (on InnoDB it is ALTER TABLE … FORCE)")
                    .help("rarely needed on InnoDB; if it is, run it off-peak and watch replica lag");
            }
            return;
        }
        let table = match &s.read.kind {
            Kind::AlterTable { table, .. } => table,
            _ => return,
        };
        if !cx.existing(table) || super::super::cost::forced_blocking(&s.read.kind).is_some() {
            return;
        }
        let Some(v) = cx.cost(s) else { return };
        if v.cost != Cost::Rebuild {
            return;
        }
        let mut d = out
            .report(&META, format!("{}: {}; online, but the whole table is rewritten (6.4-9.7 s per 1M rows, measured) and replicas replay it serially", table.shown, v.why))
            .help("a concurrent write that violates the new definition aborts the rebuild at its end");
        if let Kind::AlterTable { actions, .. } = &s.read.kind {
            for a in actions.iter() {
                if let Action::Change { from, spec, .. } = a {
                    let was_null = cx.schema.table(&table.key).and_then(|t| t.column(from)).is_some_and(|c| !c.not_null);
                    if spec.not_null && was_null {
                        d = d.suggest(format!("planner plan set-not-null {}", super::arg(table, from)));
                        break;
                    }
                }
            }
        }
        let _ = d;
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::mysql::rules::testing::*;

    #[test]
    fn nullability_flips_rebuild() {
        let f = findings_on(USERS, "ALTER TABLE users MODIFY email VARCHAR(50) NOT NULL, ALGORITHM=INPLACE, LOCK=NONE;", "table-rebuild", &mariadb());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].suggestion.as_deref(), Some("planner plan set-not-null users.email"));
        let f = findings_on(USERS, "ALTER TABLE users ADD COLUMN c INT NULL, ADD INDEX ix_c (c);", "table-rebuild", &mariadb());
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(findings_on(USERS, "ALTER TABLE users MODIFY email VARCHAR(50) NULL COMMENT 'x';", "table-rebuild", &mariadb()).is_empty());
    }
}
