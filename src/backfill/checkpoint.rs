//! The checkpoint row of one table in `planner.backfill_progress`.
//!
//! The batch statement itself advances it (see `keyset`); this module opens and closes it.

use anyhow::Context;
use sqlx::PgConnection;

/// Where a table's backfill stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Every key up to and including this one is done; `None` before the first batch.
    pub last_key: Option<Vec<String>>,
    /// Keys visited so far (over all runs).
    pub rows_done: i64,
    pub batches: i64,
    pub finished: bool,
}

/// Read the checkpoint of (`plan`, `table`), creating an empty one on the first run.
pub async fn open(conn: &mut PgConnection, plan: &str, table: &str) -> anyhow::Result<Checkpoint> {
    sqlx::query(
        "INSERT INTO planner.backfill_progress (plan, table_name) VALUES ($1, $2)
         ON CONFLICT (plan, table_name) DO NOTHING",
    )
    .bind(plan)
    .bind(table)
    .execute(&mut *conn)
    .await
    .with_context(|| format!("creating the backfill checkpoint of {table}"))?;
    let (last_key, rows_done, batches, finished): (Option<serde_json::Value>, i64, i64, bool) =
        sqlx::query_as(
            "SELECT last_key, rows_done, batches, finished_at IS NOT NULL
         FROM planner.backfill_progress WHERE plan = $1 AND table_name = $2",
        )
        .bind(plan)
        .bind(table)
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("reading the backfill checkpoint of {table}"))?;
    let last_key = match last_key {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(parse_key(&v).with_context(|| {
            format!(
                "planner.backfill_progress.last_key of ({plan}, {table}) is not a list of key values: {v}"
            )
        })?),
    };
    Ok(Checkpoint { last_key, rows_done, batches, finished })
}

pub(crate) fn parse_key(v: &serde_json::Value) -> anyhow::Result<Vec<String>> {
    let items = v.as_array().context("expected a JSON array")?;
    items.iter().map(|i| i.as_str().map(str::to_string).context("expected text values")).collect()
}

/// Mark the table done: a re-run is a no-op.
pub async fn finish(conn: &mut PgConnection, plan: &str, table: &str) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE planner.backfill_progress SET finished_at = now(), updated_at = now()
         WHERE plan = $1 AND table_name = $2",
    )
    .bind(plan)
    .bind(table)
    .execute(&mut *conn)
    .await
    .with_context(|| format!("marking the backfill of {table} finished"))?;
    Ok(())
}

/// One runner per (plan, table): a session advisory lock held while the table is backfilled.
/// Besides refusing a second `planner backfill`, it closes a subtle gap: after a kill -9 the
/// server finishes the killed client's last statement (and commits it) before it notices the
/// client is gone. Waiting for this lock, then reading the checkpoint, sees that batch.
pub async fn try_lock(conn: &mut PgConnection, plan: &str, table: &str) -> anyhow::Result<bool> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('planner.backfill'), hashtext($1 || '/' || $2))")
        .bind(plan)
        .bind(table)
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("taking the backfill lock of {table}"))
}

pub async fn unlock(conn: &mut PgConnection, plan: &str, table: &str) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_advisory_unlock(hashtext('planner.backfill'), hashtext($1 || '/' || $2))")
        .bind(plan)
        .bind(table)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("releasing the backfill lock of {table}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_json_arrays_of_text() {
        assert_eq!(parse_key(&serde_json::json!(["a", "1"])).unwrap(), vec!["a", "1"]);
        assert!(parse_key(&serde_json::json!([1])).is_err());
        assert!(parse_key(&serde_json::json!({"k": "1"})).is_err());
    }
}
