//! algorithm-refused
use super::prelude::*;

pub struct AlgorithmRefused;

pub static META: RuleMeta = RuleMeta {
    id: "algorithm-refused",
    severity: Severity::Error,
    summary: "The ALGORITHM named is one the server refuses for this operation",
    docs: "\
## Problem
`ALTER TABLE users DROP COLUMN legacy, ALGORITHM=INSTANT` when `legacy` is indexed, or
`ALGORITHM=NOCOPY` on a `MODIFY … NOT NULL`, or `ALGORITHM=NOCOPY` on MySQL (a MariaDB keyword).

## Why it matters
The server refuses the statement at once (error 1845/1846, measured on MariaDB 10.11): nothing
is blocked, but the migration fails in production after passing on an empty development table
whose shape differed.

## What to do
Use the algorithm the finding names, or split the statement (an index build next to an instant
change makes the whole statement a rebuild).
",
};

impl MyRule for AlgorithmRefused {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, s: &MyStmt, cx: &MyCx, out: &mut Findings) {
        let (table, algorithm, lock) = match &s.read.kind {
            Kind::AlterTable { table, algorithm, lock, .. }
            | Kind::CreateIndex { table, algorithm, lock, .. }
            | Kind::DropIndex { table, algorithm, lock, .. } => (table, *algorithm, *lock),
            _ => return,
        };
        if algorithm == Algorithm::NoCopy && !cx.dialect.is_mariadb() {
            out.report(&META, format!("ALGORITHM=NOCOPY is MariaDB syntax: {} rejects it", cx.dialect))
                .suggest("use `ALGORITHM=INPLACE, LOCK=NONE`");
            return;
        }
        let Some(v) = cx.cost(s) else { return };
        let allowed = match algorithm {
            Algorithm::Instant => Cost::Instant,
            Algorithm::NoCopy => Cost::InPlace,
            Algorithm::Inplace if lock == LockMode::None => Cost::Rebuild,
            _ => return,
        };
        if v.cost > allowed {
            let needed = if v.cost == Cost::BlocksWrites { "none: no online algorithm exists".to_string() } else { format!("`{}`", cx.clause_for(v.cost)) };
            let named = match algorithm {
                Algorithm::Instant => "ALGORITHM=INSTANT",
                Algorithm::NoCopy => "ALGORITHM=NOCOPY",
                _ => "ALGORITHM=INPLACE, LOCK=NONE",
            };
            out.report(&META, format!("the server refuses {named} on {} (error 1845/1846) and the migration fails: {}", table.shown, v.why))
                .help(format!("what the operation allows: {needed}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::dialect::{LintDialect, DEFAULT_MYSQL};
    use crate::lint::mysql::rules::testing::*;

    #[test]
    fn predicts_the_servers_refusal() {
        let f = findings_on(USERS, "ALTER TABLE users DROP COLUMN legacy, ALGORITHM=INSTANT;", "algorithm-refused", &mariadb());
        assert_eq!(f.len(), 1, "indexed column: NOCOPY, not INSTANT");
        assert!(f[0].help.as_deref().unwrap_or("").contains("NOCOPY"));
        let ok = "ALTER TABLE users DROP COLUMN qty, ALGORITHM=INSTANT;";
        assert!(findings_on(USERS, ok, "algorithm-refused", &mariadb()).is_empty());
        let mysql = with(LintDialect::MySql(DEFAULT_MYSQL));
        assert_eq!(findings_on(USERS, "ALTER TABLE users ADD INDEX i (email), ALGORITHM=NOCOPY, LOCK=NONE;", "algorithm-refused", &mysql).len(), 1);
    }
}
