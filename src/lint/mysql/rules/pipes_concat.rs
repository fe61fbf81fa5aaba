//! pipes-concat
use super::prelude::*;

pub struct PipesConcat;

pub static META: RuleMeta = RuleMeta {
    id: "pipes-concat",
    severity: Severity::Warning,
    summary: "`||` means OR or concatenation depending on the session's sql_mode",
    docs: "\
## Problem
`UPDATE users SET display = first_name || ' ' || last_name`, or `||` in a default, generated
column or trigger body.

## Why it matters
In MySQL's and MariaDB's default sql_mode `||` is logical OR (`'a' || 'b'` is 0); under
`PIPES_AS_CONCAT` or `ANSI` (sqlx sets it on every connection) it concatenates. A trigger keeps
the sql_mode of the session that created it (measured: a trigger created under PIPES_AS_CONCAT
concatenated even when fired from a session where `||` is OR). The same migration gives
different data depending on who runs it.

## What to do
`CONCAT(a, b)` (or `OR` for logic): the same in every mode.
",
};

impl MyRule for PipesConcat {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, s: &MyStmt, _cx: &MyCx, out: &mut Findings) {
        if s.read.pipes {
            out.report(&META, "`||` is OR in the default sql_mode and concatenation under PIPES_AS_CONCAT/ANSI: the result depends on the session that runs it")
                .suggest("CONCAT(a, b)");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::mysql::rules::testing::*;

    #[test]
    fn pipes_anywhere_but_strings() {
        assert_eq!(findings("UPDATE t SET a = b || c WHERE id = 1;", "pipes-concat").len(), 1);
        assert!(findings("UPDATE t SET a = CONCAT(b, '||') WHERE id = 1;", "pipes-concat").is_empty());
    }
}
