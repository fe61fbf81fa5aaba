//! change list + schema model -> Plan. Pure: same input, same plan.

use super::{
    AppAccess, AppCompat, ColumnShape, Phase, PhaseKind, Plan, Precondition, Step, TableShape,
    PLAN_FORMAT_VERSION,
};
use crate::change::{Change, ChangeError, ChangePhases, PlanCx};
use crate::model::{SchemaModel, MIN_PG_VERSION};
use crate::sql::QualifiedName;

/// A compile error: which change (index in the file) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub change: usize,
    pub error: ChangeError,
}

/// Compile `changes` against `model` into a plan named `name`. Files are not rendered here:
/// `Plan::files` is filled by [`super::files::render`].
pub fn compile(model: &SchemaModel, changes: &[Change], name: &str) -> Result<Plan, CompileError> {
    if model.pg_version < MIN_PG_VERSION {
        return Err(CompileError {
            change: 0,
            error: ChangeError::new(
                "table",
                format!(
                    "PostgreSQL {} is not supported; planner needs {MIN_PG_VERSION} or newer",
                    model.pg_version
                ),
            ),
        });
    }
    let cx = PlanCx { pg_version: model.pg_version };
    let mut current = model.clone();
    let mut parts: Vec<ChangePhases> = Vec::new();
    for (index, change) in changes.iter().enumerate() {
        let phases = change.compile(&current, &cx).map_err(|error| CompileError { change: index, error })?;
        change.apply_to_model(&mut current);
        parts.push(phases);
    }

    let mut tables: Vec<QualifiedName> = Vec::new();
    for p in &parts {
        for t in &p.tables {
            if !tables.contains(t) {
                tables.push(t.clone());
            }
        }
    }
    let table_shapes = tables
        .iter()
        .filter_map(|t| model.tables.get(t))
        .map(|t| TableShape {
            table: t.name.clone(),
            columns: t
                .columns
                .iter()
                .map(|c| ColumnShape {
                    name: c.name.clone(),
                    data_type: c.data_type.clone(),
                    not_null: c.not_null,
                })
                .collect(),
        })
        .collect();

    let mut phases = Vec::new();
    let expand_steps: Vec<Step> = parts.iter().flat_map(|p| p.expand.clone()).collect();
    phases.push(Phase {
        phase: PhaseKind::Expand,
        up_file: None,
        down_file: None,
        preconditions: dedup(
            tables.iter().map(|t| Precondition::ColumnsMatch { table: t.clone() }).collect(),
        ),
        irreversible: first_irreversible(&expand_steps),
        steps: expand_steps,
        backfill: Vec::new(),
        compat: merge_compat(&parts, 0),
    });
    let backfill: Vec<_> = parts.iter().flat_map(|p| p.backfill.clone()).collect();
    if !backfill.is_empty() {
        phases.push(Phase {
            phase: PhaseKind::Backfill,
            up_file: None,
            down_file: None,
            preconditions: Vec::new(),
            steps: Vec::new(),
            backfill,
            compat: merge_compat(&parts, 1),
            irreversible: None,
        });
    }
    let contract_steps: Vec<Step> = parts.iter().flat_map(|p| p.contract.clone()).collect();
    if !contract_steps.is_empty() {
        phases.push(Phase {
            phase: PhaseKind::Contract,
            up_file: None,
            down_file: None,
            preconditions: dedup(parts.iter().flat_map(|p| p.contract_preconditions.clone()).collect()),
            irreversible: first_irreversible(&contract_steps),
            steps: contract_steps,
            backfill: Vec::new(),
            compat: merge_compat(&parts, 2),
        });
    }

    Ok(Plan {
        planner_plan: PLAN_FORMAT_VERSION,
        name: name.to_string(),
        pg_version: model.pg_version,
        description: parts.iter().map(|p| p.description.clone()).collect(),
        tables: table_shapes,
        phases,
        files: Default::default(),
    })
}

fn dedup(items: Vec<Precondition>) -> Vec<Precondition> {
    let mut out: Vec<Precondition> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn first_irreversible(steps: &[Step]) -> Option<String> {
    let reasons: Vec<&str> = steps.iter().filter_map(|s| s.irreversible.as_deref()).collect();
    if reasons.is_empty() {
        None
    } else {
        Some(reasons.join("; "))
    }
}

/// An app may do something after a phase only if every change allows it.
fn merge_compat(parts: &[ChangePhases], phase: usize) -> AppCompat {
    let merge = |pick: fn(&AppCompat) -> &AppAccess| {
        let all: Vec<&AppAccess> =
            parts.iter().filter_map(|p| p.compat.as_ref()).map(|c| pick(&c[phase])).collect();
        AppAccess {
            writes: all.iter().all(|a| a.writes),
            reads: all.iter().all(|a| a.reads),
            note: all.iter().map(|a| a.note.as_str()).collect::<Vec<_>>().join("; "),
        }
    };
    AppCompat { old_app: merge(|c| &c.old_app), new_app: merge(|c| &c.new_app) }
}
