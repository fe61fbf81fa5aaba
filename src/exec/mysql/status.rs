//! A MySQL database's plans as `status` shows them (read-only).

use sqlx::MySqlConnection;

use crate::exec::plan_state::PlanState;
use crate::exec::state::BackfillLiveness;
use crate::exec::LoadedPlan;
use crate::mysql::state;

/// Every plan registered on the database at `url` (only `only`'s when given; then also when it
/// was never applied there).
pub async fn plan_states(url: &str, only: Option<&LoadedPlan>) -> anyhow::Result<Vec<PlanState>> {
    let mut session = super::observe(url).await?;
    let result = read(session.conn(), only).await;
    session.close().await?;
    result
}

async fn read(conn: &mut MySqlConnection, only: Option<&LoadedPlan>) -> anyhow::Result<Vec<PlanState>> {
    let found = crate::exec::plan_state::select(state::all_plans(conn).await?, only)?;
    let mut out = Vec::new();
    for (plan, record) in found {
        let phases = state::phase_records(conn, &plan.name).await?;
        let mut backfill = Vec::new();
        for b in state::backfill_records(conn, &plan.name).await? {
            let live = match b.finished_at {
                Some(_) => None,
                None => Some(liveness(conn, &plan.name, &b.table).await?),
            };
            backfill.push((b, live));
        }
        out.push(PlanState { plan, record, phases, backfill });
    }
    Ok(out)
}

/// Is a planner filling `table` right now (its runner lock is held), where it stopped, its mean
/// rate, the table's estimated size.
async fn liveness(conn: &mut MySqlConnection, plan: &str, table: &str) -> anyhow::Result<BackfillLiveness> {
    let database: String = sqlx::query_scalar("SELECT DATABASE()").fetch_one(&mut *conn).await?;
    let lock = crate::mysql::backfill::runner_lock_name(&database, plan, table);
    type Row = (i64, Option<String>, Option<f64>, Option<f64>);
    let (running, last_key, rows_per_s, estimate): Row = sqlx::query_as(
        "SELECT CAST(IS_USED_LOCK(?) IS NOT NULL AS SIGNED), p.last_key,
                CAST(IF(p.updated_at > p.started_at,
                        p.rows_visited / (TIMESTAMPDIFF(MICROSECOND, p.started_at, p.updated_at) / 1e6), NULL) AS DOUBLE),
                (SELECT CAST(t.TABLE_ROWS AS DOUBLE) FROM information_schema.TABLES t
                  WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_NAME = p.table_name)
           FROM planner_backfill_progress p WHERE p.plan = ? AND p.table_name = ?",
    )
    .bind(&lock)
    .bind(plan)
    .bind(table)
    .fetch_one(&mut *conn)
    .await?;
    Ok(BackfillLiveness { running: running == 1, last_key, rows_per_s, estimate })
}
