//! refresh-without-concurrently
use super::prelude::*;

pub struct RefreshWithoutConcurrently;

pub static META: RuleMeta = RuleMeta {
    id: "refresh-without-concurrently",
    severity: Severity::Warning,
    summary: "REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks reads of the view",
    docs: "\
## Problem
`REFRESH MATERIALIZED VIEW daily_sales`

## Why it matters
The refresh holds ACCESS EXCLUSIVE on the view for its whole run: every query reading the view
waits until the refresh finishes.

## What to do
`REFRESH MATERIALIZED VIEW CONCURRENTLY daily_sales` (needs a unique index on the view; reads go on
during the refresh). A view created in the same migration is exempt: nobody reads it yet.
",
};

impl Rule for RefreshWithoutConcurrently {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let Some(Statement::RefreshMaterializedView(r)) = stmt.ast() else { return };
        // WITH NO DATA empties the view: CONCURRENTLY is not allowed there, and it is quick.
        if !r.concurrently && r.with_data != Some(false) && !cx.is_new_table(&r.name, stmt.index) {
            out.report(&META, format!("REFRESH MATERIALIZED VIEW {} blocks every read of the view until it finishes", r.name))
                .help(format!("REFRESH MATERIALIZED VIEW CONCURRENTLY {} (needs a unique index on the view)", r.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    const ID: &str = "refresh-without-concurrently";

    #[test]
    fn flags_plain_refresh() {
        assert_eq!(count("REFRESH MATERIALIZED VIEW daily_sales;", ID), 1);
    }

    #[test]
    fn concurrently_is_fine() {
        assert_eq!(count("REFRESH MATERIALIZED VIEW CONCURRENTLY daily_sales;", ID), 0);
        let created_here = "CREATE MATERIALIZED VIEW mv AS SELECT 1 AS a;\nREFRESH MATERIALIZED VIEW mv;";
        assert_eq!(count(created_here, ID), 0);
    }
}
