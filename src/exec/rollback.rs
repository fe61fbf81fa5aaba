//! Undoing the latest applied phase of a plan.

use super::apply::{undo, LoadedPlan};
use super::session::Session;
use super::state::{self, PhaseRecord, PhaseStatus};
use crate::error::Refusal;
use crate::plan::{Phase, PhaseKind};

/// The latest phase that is applied (or was interrupted/failed half-way), with its plan phase;
/// refused when there is none or it is irreversible and done. Pure over the state records, so
/// both backends share it.
pub(crate) fn phase_to_roll_back<'a>(
    loaded: &'a LoadedPlan,
    records: &'a [PhaseRecord],
) -> anyhow::Result<(&'a PhaseRecord, &'a Phase)> {
    let plan = &loaded.plan;
    let Some(latest) = records.iter().filter(|r| r.status != PhaseStatus::RolledBack).max_by_key(|r| r.phase)
    else {
        return Err(Refusal::new(format!("plan `{}` has no applied phase to roll back", plan.name)).into());
    };
    let phase = loaded.phase(latest.phase)?;
    if latest.status == PhaseStatus::Done {
        if let Some(why) = &phase.irreversible {
            return Err(Refusal::new(format!(
                "phase {} of plan `{}` was applied and cannot be undone: {why}",
                latest.phase, plan.name
            ))
            .into());
        }
    }
    Ok((latest, phase))
}

/// Undo the latest phase that is applied (or was interrupted/failed half-way) and record it.
/// Returns the phase rolled back.
pub async fn rollback_latest(session: &mut Session, loaded: &LoadedPlan) -> anyhow::Result<PhaseKind> {
    let plan = &loaded.plan;
    state::register_plan(session.conn(), plan, &loaded.sha256, &loaded.yaml).await?;
    let records = state::phase_records(session.conn(), &plan.name).await?;
    let (latest, phase) = phase_to_roll_back(loaded, &records)?;
    let kind = latest.phase;
    // A phase that stopped half-way may have undone part of itself already: tolerate "already gone".
    // A rollback killed half-way left part of its undo done: undo again, tolerating what is gone.
    let tolerant = latest.status != PhaseStatus::Done
        || state::rollback_interrupted(session.conn(), &plan.name, kind).await?;
    // A failed phase already undid its committed steps, unless it says otherwise.
    let already_undone = latest.status == PhaseStatus::Failed;
    state::log(session.conn(), &plan.name, kind, "rollback", "running", None).await?;
    // Only what committed is undone: a phase killed (or failed) half-way recorded how many of its
    // steps committed; the one in flight outside a transaction (CREATE INDEX CONCURRENTLY) may
    // have left something behind, so its undo runs too (tolerantly). An irreversible step that
    // never ran does not block the way back.
    let ran: &[crate::plan::Step] = if latest.status == PhaseStatus::Done {
        &phase.steps
    } else {
        let done = latest.steps_done.min(phase.steps.len());
        let in_flight =
            phase.steps.get(done).is_some_and(|s| s.transaction == crate::plan::TxMode::NoTransaction);
        &phase.steps[..if in_flight { done + 1 } else { done }]
    };
    let result = if already_undone { Ok(()) } else { undo(session, ran, tolerant).await };
    if let Err(e) = result {
        let msg = format!("{e:#}");
        state::log(session.conn(), &plan.name, kind, "rollback", "failed", Some(&msg)).await?;
        return Err(e.context(format!("rolling back phase {kind} of plan `{}`", plan.name)));
    }
    if kind == PhaseKind::Backfill {
        state::reset_backfill(session.conn(), &plan.name).await?;
    }
    state::finish_phase(session.conn(), &plan.name, kind, PhaseStatus::RolledBack, None, None).await?;
    Ok(kind)
}
