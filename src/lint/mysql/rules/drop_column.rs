//! drop-column (MySQL)
use super::prelude::*;

pub struct DropColumn;

pub static META: RuleMeta = RuleMeta {
    id: "drop-column",
    severity: Severity::Error,
    summary: "Dropping a column breaks the app version that still uses it",
    docs: "\
## Problem
`ALTER TABLE users DROP COLUMN legacy_flag`

## Why it matters
The drop is instant (0.08 s on 1M rows; NOCOPY when indexed, measured on MariaDB 10.11), but the
running app's queries naming the column fail, the data is gone, and the server silently breaks
views (error 1356) and triggers (1054) that read it and silently drops CHECK constraints on it
(measured).

## What to do
`planner plan drop-column users.legacy_flag`: expand gives a NOT NULL column a default so the new
app can stop writing it, contract drops it once the old app is gone, after checking no view,
trigger, generated column or CHECK uses it.
",
};

impl MyRule for DropColumn {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, s: &MyStmt, cx: &MyCx, out: &mut Findings) {
        let Some((table, actions)) = existing_alter(s, cx) else { return };
        for a in actions {
            if let Action::DropColumn { name } = a {
                out.report(&META, format!("dropping column {}.{name} breaks the running app's queries and silently breaks views and triggers that read it", table.shown))
                    .help("stop the app from using the column first; drop it in a later deploy")
                    .suggest(format!("planner plan drop-column {}", super::arg(table, name)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::mysql::rules::testing::*;

    #[test]
    fn each_dropped_column_is_reported() {
        let f = findings_on(USERS, "ALTER TABLE users DROP COLUMN legacy, DROP qty, ALGORITHM=NOCOPY, LOCK=NONE;", "drop-column", &mariadb());
        assert_eq!(f.len(), 2);
        assert!(findings("CREATE TABLE t (a INT, b INT);\nALTER TABLE t DROP COLUMN b;", "drop-column").is_empty());
    }
}
