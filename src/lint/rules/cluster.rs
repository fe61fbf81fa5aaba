//! cluster
use super::prelude::*;

pub struct Cluster;

pub static META: RuleMeta = RuleMeta {
    id: "cluster",
    severity: Severity::Error,
    summary: "CLUSTER rewrites the table under ACCESS EXCLUSIVE",
    docs: "\
## Problem
`CLUSTER orders USING orders_created_idx`

## Why it matters
It rewrites the table in index order while no query can read or write it.

## What to do
Use `pg_repack --order-by` to reorder online, or drop the statement.
",
};

impl Rule for Cluster {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, _cx: &FileCx, out: &mut Findings) {
        // sqlparser has no PostgreSQL CLUSTER: recognised by its leading keyword.
        if stmt.starts_with(&["CLUSTER"]) {
            out.report(&META, "CLUSTER rewrites the table under ACCESS EXCLUSIVE: no reads or writes meanwhile")
                .help("use pg_repack --order-by to reorder online");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    #[test]
    fn flags_cluster() {
        assert_eq!(count("CLUSTER orders USING orders_created_idx;", "cluster"), 1);
    }

    #[test]
    fn a_column_named_cluster_is_not_the_command() {
        assert_eq!(count("SELECT cluster FROM nodes;", "cluster"), 0);
    }
}
