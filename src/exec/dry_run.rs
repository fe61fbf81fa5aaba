//! `--dry-run`: exactly the statements a phase would run, with the locks they take.

use std::fmt::Write as _;

use super::session::SessionOptions;
use crate::plan::{Phase, Plan};

/// The SQL script `apply --phase` would run for `phase`, as psql-runnable text with comments
/// naming each step's lock. Changes nothing; needs no database.
pub fn render(plan: &Plan, phase: &Phase, opts: &SessionOptions) -> String {
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
    // The same script the executor runs, with this run's timeouts.
    let timeouts =
        crate::plan::script::Timeouts { lock: opts.lock_timeout, statement: opts.statement_timeout };
    out.push_str(&crate::plan::script::Script::build(&phase.steps, timeouts).text());
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
        ServerVersion { at_least } => format!("server is PostgreSQL {at_least} or newer"),
        ConvertsCleanly { table, expr, data_type } => {
            format!("every row of {} converts: {expr} as {data_type}", table.display_short())
        }
        AssignsCleanly { table, expr, data_type } => {
            format!("every row of {} converts: {expr} assigned to {data_type}", table.display_short())
        }
        ColumnEqualsExpr { table, column, expr, .. } => {
            format!("{}.{} = {expr} on every row", table.display_short(), crate::sql::ident::short(column))
        }
    }
}
