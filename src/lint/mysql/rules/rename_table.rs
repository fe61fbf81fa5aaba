//! rename-table (MySQL)
use super::prelude::*;

pub struct RenameTable;

pub static META: RuleMeta = RuleMeta {
    id: "rename-table",
    severity: Severity::Error,
    summary: "Renaming a table breaks the app version that is still running",
    docs: "\
## Problem
`RENAME TABLE orders TO purchases` or `ALTER TABLE orders RENAME TO purchases`.

## Why it matters
The rename is instant, but every query of the running app that names the old table fails until
the app is replaced; views and triggers naming it break too.

## What to do
Deploy an app that works with both names first (for example through a view named like the old
table once the rename is done), or keep the name. Renaming a table this file just created (the
copy-then-swap pattern) is not reported.
",
};

impl MyRule for RenameTable {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, s: &MyStmt, cx: &MyCx, out: &mut Findings) {
        let renames: Vec<(&str, String)> = match &s.read.kind {
            Kind::RenameTable { pairs } => {
                pairs.iter().filter(|(from, _)| cx.existing(from)).map(|(f, t)| (f.shown.as_str(), t.shown.clone())).collect()
            }
            Kind::AlterTable { table, actions, .. } if cx.existing(table) => actions
                .iter()
                .filter_map(|a| match a {
                    Action::RenameTable { to } => Some((table.shown.as_str(), to.clone())),
                    _ => None,
                })
                .collect(),
            _ => return,
        };
        for (from, to) in renames {
            out.report(&META, format!("renaming table {from} to {to} breaks every query of the running app that names {from}"))
                .help("keep the name, or make the app work with both names before renaming");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::mysql::rules::testing::*;

    #[test]
    fn renames_of_existing_tables() {
        assert_eq!(findings_on(USERS, "RENAME TABLE users TO people;", "rename-table", &mariadb()).len(), 1);
        assert_eq!(findings_on(USERS, "ALTER TABLE users RENAME TO people, ALGORITHM=INSTANT;", "rename-table", &mariadb()).len(), 1);
        assert!(findings("CREATE TABLE t_new (id INT);\nRENAME TABLE t_new TO t2;", "rename-table").is_empty());
    }
}
