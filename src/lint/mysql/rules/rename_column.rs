//! rename-column (MySQL)
use super::prelude::*;

pub struct RenameColumn;

pub static META: RuleMeta = RuleMeta {
    id: "rename-column",
    severity: Severity::Error,
    summary: "Renaming a column breaks the app version that is still running",
    docs: "\
## Problem
`ALTER TABLE users RENAME COLUMN name TO full_name`, or `CHANGE name full_name VARCHAR(100)`.

## Why it matters
The rename is instant (0.07 s on 1M rows, also when indexed, measured on MariaDB 10.11), but the
old app still reads and writes `name` during the deploy: each of its queries fails until it is
replaced. The server also lets the rename break views (error 1356) and triggers (1054) that read
the column. `RENAME COLUMN` needs MariaDB 10.5+ / MySQL 8.0+ (older servers: `CHANGE`).

## What to do
`planner plan rename users.name full_name`: expand adds `full_name` with sync triggers so old
and new app run side by side, backfill copies, contract drops `name` once the old app is gone.
",
};

impl MyRule for RenameColumn {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, s: &MyStmt, cx: &MyCx, out: &mut Findings) {
        let Some((table, actions)) = existing_alter(s, cx) else { return };
        for a in actions {
            let (from, to, syntax) = match a {
                Action::RenameColumn { from, to } => (from, to, true),
                Action::Change { from, to, .. } if from != to => (from, to, false),
                _ => continue,
            };
            let mut msg = format!("renaming column {}.{from} to {to} breaks queries of the running app", table.shown);
            if syntax && !cx.dialect.at_least((10, 5), (8, 0, 0)) {
                msg.push_str(&format!("; and {} has no RENAME COLUMN syntax (use CHANGE)", cx.dialect));
            }
            out.report(&META, msg)
                .help("add the new column, keep both in sync while old and new app run, drop the old one last")
                .suggest(format!("planner plan rename {} {}", super::arg(table, from), shell_arg(to)));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::dialect::{LintDialect, ServerVersion};
    use crate::lint::mysql::rules::testing::*;

    #[test]
    fn rename_and_change_with_a_new_name() {
        let f = findings_on(USERS, "ALTER TABLE users RENAME COLUMN name TO full_name, ALGORITHM=INSTANT;", "rename-column", &mariadb());
        assert_eq!(f[0].suggestion.as_deref(), Some("planner plan rename users.name full_name"));
        assert_eq!(findings_on(USERS, "ALTER TABLE users CHANGE name full_name VARCHAR(100) NOT NULL DEFAULT '';", "rename-column", &mariadb()).len(), 1);
        assert!(findings_on(USERS, "ALTER TABLE users CHANGE name name VARCHAR(100) NOT NULL DEFAULT '';", "rename-column", &mariadb()).is_empty());
        let old = with(LintDialect::MariaDb(ServerVersion::new(10, 4, 0)));
        let f = findings_on(USERS, "ALTER TABLE users RENAME COLUMN name TO n;", "rename-column", &old);
        assert!(f[0].message.contains("no RENAME COLUMN syntax"), "{f:?}");
    }
}
