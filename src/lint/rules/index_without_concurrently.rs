//! index-without-concurrently
use super::prelude::*;

pub struct IndexWithoutConcurrently;

pub static META: RuleMeta = RuleMeta {
    id: "index-without-concurrently",
    severity: Severity::Error,
    summary: "CREATE, DROP or REINDEX INDEX without CONCURRENTLY blocks writes",
    docs: "\
## Problem
`CREATE INDEX orders_user_idx ON orders (user_id)` (also `DROP INDEX`, `REINDEX`)

## Why it matters
CREATE INDEX holds SHARE (writes wait for the whole build); REINDEX holds ACCESS EXCLUSIVE on the
index and SHARE on the table for the whole rebuild.

`DROP INDEX` holds ACCESS EXCLUSIVE on the table only for an instant; the risk is the lock queue:
while it waits behind a long query, every query on the table waits behind it. With a
`lock_timeout` in force it gives up instead (retry it), so it is not reported then; without one
it is a warning, not an error. An index on a table created in the same file, or on one the file
proved empty, is built instantly and not reported.

## What to do
Use `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX ... CONCURRENTLY` (PG 12+),
outside a transaction block. A failed concurrent build leaves an INVALID index: drop and retry.
",
};

impl Rule for IndexWithoutConcurrently {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let concurrently = stmt.words.iter().any(|w| w == "CONCURRENTLY");
        if stmt.starts_with(&["REINDEX"]) && concurrently && cx.pg_version < 12 {
            out.report(&META, "REINDEX CONCURRENTLY does not exist before PostgreSQL 12: the migration fails")
                .help("CREATE INDEX CONCURRENTLY a copy, DROP INDEX CONCURRENTLY the old one, then rename the copy");
            return;
        }
        if stmt.starts_with(&["REINDEX"]) && !concurrently {
            let msg = "REINDEX without CONCURRENTLY locks the table against writes (and the index against reads)";
            let help = if cx.pg_version >= 12 {
                "use REINDEX ... CONCURRENTLY outside a transaction block"
            } else {
                "before PG 12: CREATE INDEX CONCURRENTLY a copy, then DROP INDEX CONCURRENTLY the old one and rename"
            };
            out.report(&META, msg).help(help);
            return;
        }
        match stmt.ast() {
            Some(Statement::CreateIndex(ci)) if !ci.concurrently && !cx.has_no_rows(&ci.table_name, stmt.index) => {
                let name = ci.name.as_ref().map(|n| format!("{n} ")).unwrap_or_default();
                out.report(&META, format!("CREATE INDEX {name}on {} blocks writes to the table for the whole build", ci.table_name))
                    .help("use CREATE INDEX CONCURRENTLY, outside a transaction block");
            }
            Some(Statement::Drop { object_type: ObjectType::Index, names, .. })
                if names.iter().any(|n| !cx.is_new_index(n, stmt.index)) && !cx.at(stmt.index).lock_timeout_set =>
            {
                let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
                out.report(&META, format!("DROP INDEX {} waits for ACCESS EXCLUSIVE on its table with no lock_timeout: queued behind a long query, it blocks every query on the table", names.join(", ")))
                    .help("set `lock_timeout` before it (the drop itself is instant), or use DROP INDEX CONCURRENTLY outside a transaction block")
                    .severity(Severity::Warning);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    const ID: &str = "index-without-concurrently";

    #[test]
    fn flags_plain_create_drop_and_reindex() {
        assert_eq!(count("CREATE INDEX i ON t (a);\nDROP INDEX old;\nREINDEX INDEX i;", ID), 3);
    }

    #[test]
    fn drop_index_is_a_warning_and_fine_under_lock_timeout() {
        let f = findings("DROP INDEX old;", ID);
        assert_eq!(f[0].severity, crate::lint::Severity::Warning);
        assert_eq!(count("SET lock_timeout = '2s';\nDROP INDEX old;", ID), 0);
    }

    #[test]
    fn index_on_a_table_proved_empty_is_not_reported_again() {
        let sql = "ALTER TABLE t ADD COLUMN a int NOT NULL;\nCREATE INDEX i ON t (a);";
        assert_eq!(count(sql, ID), 0);
        assert_eq!(count(sql, "not-null-column-without-default"), 1);
    }

    #[test]
    fn reindex_concurrently_needs_pg12() {
        assert_eq!(findings_with("REINDEX INDEX CONCURRENTLY i;", ID, &pg(11)).len(), 1);
    }

    #[test]
    fn concurrently_or_new_table_is_fine() {
        let sql = "CREATE INDEX CONCURRENTLY i ON t (a);\nDROP INDEX CONCURRENTLY i;\nREINDEX INDEX CONCURRENTLY i;\n\
                   CREATE TABLE n (a int);\nCREATE INDEX j ON n (a);\nDROP INDEX j;";
        assert_eq!(count(sql, ID), 0);
    }
}
