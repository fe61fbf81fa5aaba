//! `--dry-run`: exactly the statements a phase would run, with the locks they take.

use std::fmt::Write as _;

use super::session::{units, SessionOptions};
use crate::plan::{Phase, Plan, TxMode};

/// The SQL script `apply --phase` would run for `phase`, as psql-runnable text with comments
/// naming each step's lock. Changes nothing; needs no database.
pub fn render(plan: &Plan, phase: &Phase, opts: &SessionOptions) -> String {
    let lock_ms = opts.lock_timeout.as_millis();
    let mut out = String::new();
    let _ =
        writeln!(out, "-- planner dry run: plan {}, phase {} (nothing was executed)", plan.name, phase.phase);
    let _ = writeln!(
        out,
        "-- each unit is retried up to {} times on lock timeout, with backoff and jitter",
        opts.retries
    );
    for pre in &phase.preconditions {
        let _ = writeln!(out, "-- precondition checked first: {}", describe(pre));
    }
    for task in &phase.backfill {
        let sets: Vec<String> = task.set.iter().map(|a| format!("{} = {}", a.column, a.expr)).collect();
        let key: Vec<String> = task.key.iter().map(|k| k.column.to_string()).collect();
        let _ = writeln!(
            out,
            "-- backfill (engine, batches in ({}) order, a checkpoint per batch; row locks only):\n--   UPDATE {} SET {} WHERE {};",
            key.join(", "),
            task.table,
            sets.join(", "),
            task.pending
        );
    }
    for unit in units(&phase.steps) {
        out.push('\n');
        let in_tx = unit.tx != TxMode::NoTransaction;
        if in_tx {
            let _ = writeln!(out, "BEGIN;\nSET LOCAL lock_timeout = '{lock_ms}ms';");
        } else {
            let _ = writeln!(out, "-- outside a transaction\nSET lock_timeout = '{lock_ms}ms';");
        }
        for step in &unit.steps {
            let on = step.table.as_ref().map(|t| format!(" on {}", t.display_short())).unwrap_or_default();
            let _ = writeln!(out, "-- {}\n-- lock: {}{on}", step.why, step.lock);
            let st = if step.scans_table { 0 } else { opts.statement_timeout.as_millis() };
            let _ = writeln!(out, "SET {}statement_timeout = '{st}ms';", if in_tx { "LOCAL " } else { "" });
            let sql = step.sql.trim_end();
            let _ = writeln!(out, "{sql}{}", if sql.ends_with(';') { "" } else { ";" });
        }
        if in_tx {
            let _ = writeln!(out, "COMMIT;");
        }
    }
    if phase.steps.is_empty() && phase.backfill.is_empty() {
        let _ = writeln!(out, "-- (this phase has no statements)");
    }
    out
}

fn describe(pre: &crate::plan::Precondition) -> String {
    use crate::plan::Precondition::*;
    match pre {
        BackfillDone { table } => format!("backfill of {} finished", table.display_short()),
        NoNulls { table, column } => {
            format!("no NULL in {}.{}", table.display_short(), crate::sql::ident::short(column))
        }
        ConstraintValid { table, constraint } => {
            format!("constraint {constraint} on {} validated", table.display_short())
        }
        IndexValid { table, index } => format!("index {index} on {} valid", table.display_short()),
        TriggerPresent { table, trigger } => {
            format!("trigger {trigger} on {} present", table.display_short())
        }
        NoDependents { table, column } => {
            format!("nothing else depends on {}.{}", table.display_short(), crate::sql::ident::short(column))
        }
        ColumnsMatch { table } => format!("columns of {} unchanged", table.display_short()),
    }
}
