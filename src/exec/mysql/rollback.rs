//! Undoing the latest phase of a MySQL plan: its done statements in reverse, each through its
//! step's `undo` statements, each step recorded `rolled_back` as soon as it is undone, so a
//! rollback that stops half way goes on from there when run again.

use super::{effects, Run};
use crate::exec::apply::LoadedPlan;
use crate::exec::rollback::phase_to_roll_back;
use crate::exec::state::PhaseStatus;
use crate::mysql::ddl::DdlStatement;
use crate::mysql::state::{self, StepStatus};
use crate::plan::PhaseKind;

/// Undo the latest phase that is applied (or stopped half way). Returns the phase rolled back.
pub async fn rollback_latest(run: &mut Run, loaded: &LoadedPlan) -> anyhow::Result<PhaseKind> {
    let plan = &loaded.plan;
    let session = &mut run.session;
    super::apply::check_registered(session.conn(), loaded).await?;
    let records = state::phase_records(session.conn(), &plan.name).await?;
    let (latest, phase) = phase_to_roll_back(loaded, &records)?;
    let kind = latest.phase;
    let (name, phase_name) = (plan.name.as_str(), kind.as_str());
    state::log(session.conn(), name, phase_name, None, "rollback", "running", None).await?;
    // A statement in flight when the last run stopped: undo it unless the catalog shows it never
    // took effect.
    for r in state::step_records(session.conn(), name, phase_name).await? {
        if r.status != StepStatus::Running {
            continue;
        }
        let Some(step) = phase.steps.get(r.step as usize - 1) else { continue };
        effects::refuse_if_running(session.conn(), r.step, &step.op).await?;
        let took_effect = effects::present(session.conn(), &step.op).await? != Some(false);
        let status = if took_effect { StepStatus::Done } else { StepStatus::Failed };
        state::finish_step(session.conn(), name, phase_name, r.step, status, Some("interrupted")).await?;
    }
    let records = state::step_records(session.conn(), name, phase_name).await?;
    for number in state::undo_order(&records) {
        let Some(step) = phase.steps.get(number as usize - 1) else { continue };
        if step.undo.is_empty() {
            if let Some(why) = &step.irreversible {
                anyhow::bail!("step {number} (`{}`) of {kind} cannot be undone: {why}", step.why);
            }
        }
        for undo in &step.undo {
            // Undone already by a rollback that stopped after this statement: skip it.
            if effects::present(session.conn(), &undo.op).await? == Some(true) {
                continue;
            }
            let sql = undo.sql();
            let mut ddl = DdlStatement::new(&sql);
            if let Some(t) = &undo.table {
                ddl = ddl.on(t.name.as_str());
            }
            if undo.scans_table {
                ddl = ddl.scanning();
            }
            if let Err(e) = session.run_ddl(&ddl).await {
                let msg = e.message.clone();
                let _ = state::log(
                    session.conn(),
                    name,
                    phase_name,
                    Some(number),
                    "rollback",
                    "failed",
                    Some(&msg),
                )
                .await;
                return Err(anyhow::Error::new(e).context(format!(
                    "rolling back phase {kind} of plan `{name}` stopped at step {number}; the steps after it are \
                     undone, the ones before are not: fix the cause and run `planner rollback {}` again",
                    loaded.dir.display()
                )));
            }
        }
        state::finish_step(session.conn(), name, phase_name, number, StepStatus::RolledBack, None).await?;
    }
    if kind == PhaseKind::Backfill {
        state::reset_backfill(session.conn(), name).await?;
    }
    state::finish_phase(session.conn(), name, phase_name, PhaseStatus::RolledBack, None, None).await?;
    Ok(kind)
}
