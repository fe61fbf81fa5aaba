//! Helpers for the backfill tests: plans made of backfill tasks, without a plan folder.
#![allow(dead_code)]

use std::collections::BTreeMap;

use planner::plan::{
    AppAccess, AppCompat, Assignment, BackfillTask, KeyColumn, Phase, PhaseKind, Plan, PLAN_FORMAT_VERSION,
};
use planner::sql::{Ident, QualifiedName};

/// A task on `table` (in `public` unless qualified): key columns and assignments as
/// `(column, type)` and `(column, SQL expression)` pairs, `pending` the SQL of rows still to fill.
pub fn task(table: &str, key: &[(&str, &str)], set: &[(&str, &str)], pending: &str) -> BackfillTask {
    BackfillTask {
        table: QualifiedName::from_user(table, "public").unwrap(),
        key: key
            .iter()
            .map(|(c, t)| KeyColumn { column: Ident::new(*c).unwrap(), data_type: t.to_string() })
            .collect(),
        set: set
            .iter()
            .map(|(c, e)| Assignment { column: Ident::new(*c).unwrap(), expr: e.to_string() })
            .collect(),
        pending: pending.to_string(),
    }
}

/// A plan named `name` whose one phase is a backfill of `tasks`.
pub fn plan(name: &str, tasks: Vec<BackfillTask>) -> Plan {
    let access = AppAccess { writes: true, reads: true, note: String::new() };
    Plan {
        planner_plan: PLAN_FORMAT_VERSION,
        name: name.to_string(),
        dialect: planner::flavour::Flavour::Postgresql,
        server_version: planner::flavour::ServerVersion::major(15),
        description: vec![],
        tables: vec![],
        phases: vec![Phase {
            phase: PhaseKind::Backfill,
            up_file: None,
            down_file: None,
            preconditions: vec![],
            steps: vec![],
            backfill: tasks,
            compat: AppCompat { old_app: access.clone(), new_app: access },
            irreversible: None,
        }],
        files: BTreeMap::new(),
    }
}
