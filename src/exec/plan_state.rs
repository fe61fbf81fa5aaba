//! What `status` reports about one plan on one database, whichever backend read it: the
//! registered copy, the phase records and the backfill checkpoints with their liveness.

use super::state::{BackfillLiveness, BackfillRecord, PhaseRecord, PlanRecord};
use crate::plan::Plan;

#[derive(Debug, Clone)]
pub struct PlanState {
    pub plan: Plan,
    /// `None` when the plan folder given has not been applied to this database yet.
    pub record: Option<PlanRecord>,
    pub phases: Vec<PhaseRecord>,
    /// Each table's checkpoint; the liveness only for unfinished ones.
    pub backfill: Vec<(BackfillRecord, Option<BackfillLiveness>)>,
}

/// The registered plans a report covers: `only`'s (also when it was never applied there, then
/// without a record) or every one, each parsed from its registered copy.
pub fn select(
    records: Vec<PlanRecord>,
    only: Option<&super::LoadedPlan>,
) -> anyhow::Result<Vec<(Plan, Option<PlanRecord>)>> {
    let mut found = Vec::new();
    for record in records {
        if only.is_some_and(|l| l.plan.name != record.name) {
            continue;
        }
        let plan: Plan = serde_yaml_ng::from_str(&record.plan_yaml)?;
        found.push((plan, Some(record)));
    }
    if let Some(l) = only {
        if found.is_empty() {
            found.push((l.plan.clone(), None));
        }
    }
    Ok(found)
}
