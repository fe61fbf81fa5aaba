//! vacuum-full
use super::prelude::*;

pub struct VacuumFull;

pub static META: RuleMeta = RuleMeta {
    id: "vacuum-full",
    severity: Severity::Error,
    summary: "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE",
    docs: "\
## Problem
`VACUUM FULL orders`

## Why it matters
It copies the whole table and rebuilds its indexes while no query can read or write it.

## What to do
Plain `VACUUM` (no exclusive lock) is usually enough; to reclaim space online use `pg_repack` or
`pg_squeeze`.
",
};

impl Rule for VacuumFull {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, _cx: &FileCx, out: &mut Findings) {
        let target = match stmt.ast() {
            Some(Statement::Vacuum(v)) if v.full => {
                Some(v.table_name.as_ref().map(|t| format!(" {t}")).unwrap_or_else(|| " (every table)".into()))
            }
            // `VACUUM (FULL, ANALYZE) t`: sqlparser has no option-list form; read the leading words.
            None if stmt.starts_with(&["VACUUM"]) && stmt.words.iter().any(|w| w == "FULL") => Some(String::new()),
            _ => None,
        };
        if let Some(target) = target {
            out.report(&META, format!("VACUUM FULL{target} rewrites under ACCESS EXCLUSIVE: no reads or writes meanwhile"))
                .help("use plain VACUUM, or pg_repack / pg_squeeze to reclaim space online");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    #[test]
    fn flags_vacuum_full() {
        assert_eq!(count("VACUUM FULL orders;", "vacuum-full"), 1);
        assert_eq!(count("VACUUM (FULL, ANALYZE) orders;", "vacuum-full"), 1);
    }

    #[test]
    fn plain_vacuum_is_fine() {
        assert_eq!(count("VACUUM orders;\nVACUUM (ANALYZE, VERBOSE) orders;", "vacuum-full"), 0);
        assert_eq!(count("VACUUM (ANALYZE, VERBOSE) orders;", "unparsed-statement"), 0);
    }
}
