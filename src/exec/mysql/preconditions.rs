//! A MySQL plan's preconditions, checked against information_schema and the tables themselves:
//! one match arm each, read-only, every failure naming the table (and column) and what to do.

use sqlx::MySqlConnection;

use crate::error::InputError;
use crate::exec::state::{PhaseRecord, PhaseStatus};
use crate::exec::verify::thousands;
use crate::mysql::introspect::without_display_width;
use crate::mysql::quote_ident;
use crate::plan::{ColumnShape, Phase, PhaseKind, Plan, Precondition, TableShape};
use crate::sql::{Ident, QualifiedName};

/// Every reason `phase` cannot run now: earlier phases not applied, then its preconditions
/// (which talk about objects the first phase creates, so they wait for it).
pub async fn failing(
    conn: &mut MySqlConnection,
    plan: &Plan,
    phase: &Phase,
    records: &[PhaseRecord],
    dir: &str,
) -> anyhow::Result<Vec<String>> {
    let mut failures = Vec::new();
    for earlier in plan.phases.iter().take_while(|p| p.phase < phase.phase) {
        if !records.iter().any(|r| r.phase == earlier.phase && r.status == PhaseStatus::Done) {
            failures.push(format!(
                "phase {} has not been applied yet (planner apply {dir} --phase {})",
                earlier.phase, earlier.phase
            ));
        }
    }
    if !failures.is_empty() {
        return Ok(failures);
    }
    for pre in &phase.preconditions {
        if let Some(reason) = check(conn, plan, pre, records, dir).await? {
            failures.push(reason);
        }
    }
    Ok(failures)
}

/// One precondition: `None` when it holds, otherwise why not.
pub async fn check(
    conn: &mut MySqlConnection,
    plan: &Plan,
    pre: &Precondition,
    records: &[PhaseRecord],
    dir: &str,
) -> anyhow::Result<Option<String>> {
    match pre {
        Precondition::BackfillDone { table } => {
            let progress = crate::mysql::backfill::progress(conn, &plan.name, table.name.as_str()).await?;
            Ok(match progress {
                Some(p) if p.finished => None,
                Some(p) => Some(format!(
                    "backfill of {} has not finished ({} rows done so far, last key {}); run `planner backfill {dir}` to resume it",
                    table.name.as_str(),
                    thousands(p.rows_visited),
                    p.last_key.as_deref().unwrap_or("none yet")
                )),
                None => Some(format!(
                    "backfill of {} has not run; run `planner backfill {dir}`",
                    table.name.as_str()
                )),
            })
        }
        Precondition::NoNulls { table, column } => {
            let sql = format!(
                "SELECT COUNT(*) FROM {} WHERE {} IS NULL",
                quote_ident(table.name.as_str()),
                quote_ident(column.as_str())
            );
            let nulls: i64 = sqlx::query_scalar(crate::mysql::dynamic(sql)).fetch_one(&mut *conn).await?;
            Ok((nulls > 0).then(|| {
                format!(
                    "{}.{} has {} NULL row(s); the backfill fills them (planner backfill {dir}), or fix them by hand",
                    table.name.as_str(),
                    column.as_str(),
                    thousands(nulls)
                )
            }))
        }
        Precondition::IndexValid { table, index } => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.STATISTICS
                  WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ?",
            )
            .bind(table.name.as_str())
            .bind(index.as_str())
            .fetch_one(&mut *conn)
            .await?;
            Ok((n == 0).then(|| {
                format!(
                    "index {} on {} does not exist (expand builds it); roll back and apply expand again",
                    index.as_str(),
                    table.name.as_str()
                )
            }))
        }
        Precondition::TriggerPresent { table, trigger } => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.TRIGGERS
                  WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ? AND TRIGGER_NAME = ?",
            )
            .bind(table.name.as_str())
            .bind(trigger.as_str())
            .fetch_one(&mut *conn)
            .await?;
            Ok((n == 0).then(|| {
                format!(
                    "trigger {} on {} is missing: it keeps both app versions' writes in sync, so rows written \
                     without it may be wrong; roll back and apply expand again (planner rollback {dir})",
                    trigger.as_str(),
                    table.name.as_str()
                )
            }))
        }
        Precondition::NoDependents { table, column } => no_dependents(conn, table, column).await,
        Precondition::ColumnsMatch { table } => columns_match(conn, plan, table, records).await,
        Precondition::AssignsCleanly { table, expr, data_type } => {
            assigns_cleanly(conn, plan, table, expr, data_type).await
        }
        other => Err(InputError::new(format!(
            "plan `{}` carries precondition `{}`, a PostgreSQL check that has no meaning on {}",
            plan.name,
            serde_json::to_value(other)
                .ok()
                .and_then(|v| v["check"].as_str().map(str::to_string))
                .unwrap_or_default(),
            plan.dialect.product()
        ))
        .help("plan the change again with `planner plan --dialect mariadb|mysql`")
        .into()),
    }
}

/// What still reads `table.column` besides what goes with it: views (the server stores their
/// definitions fully qualified), foreign keys from other tables, generated columns, and the
/// application's triggers (planner's own are dropped in the same phase).
async fn no_dependents(
    conn: &mut MySqlConnection,
    table: &QualifiedName,
    column: &Ident,
) -> anyhow::Result<Option<String>> {
    let (t, c) = (table.name.as_str(), column.as_str());
    let mut found: Vec<String> = Vec::new();
    let views: Vec<String> = sqlx::query_scalar(
        "SELECT TABLE_NAME FROM information_schema.VIEWS
          WHERE TABLE_SCHEMA = DATABASE() AND LOCATE(CONCAT(?, '.', ?), VIEW_DEFINITION) > 0 ORDER BY TABLE_NAME",
    )
    .bind(quote_ident(t))
    .bind(quote_ident(c))
    .fetch_all(&mut *conn)
    .await?;
    found.extend(views.into_iter().map(|v| format!("view {v}")));
    let fks: Vec<(String, String)> = sqlx::query_as(
        "SELECT TABLE_NAME, CONSTRAINT_NAME FROM information_schema.KEY_COLUMN_USAGE
          WHERE REFERENCED_TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME = ? AND REFERENCED_COLUMN_NAME = ?
          ORDER BY TABLE_NAME, CONSTRAINT_NAME",
    )
    .bind(t)
    .bind(c)
    .fetch_all(&mut *conn)
    .await?;
    found.extend(fks.into_iter().map(|(table, fk)| format!("foreign key {fk} of {table}")));
    let generated: Vec<String> = sqlx::query_scalar(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS
          WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME <> ?
            AND LOCATE(?, COALESCE(GENERATION_EXPRESSION, '')) > 0 ORDER BY COLUMN_NAME",
    )
    .bind(t)
    .bind(c)
    .bind(quote_ident(c))
    .fetch_all(&mut *conn)
    .await?;
    found.extend(generated.into_iter().map(|g| format!("generated column {t}.{g}")));
    let triggers: Vec<(String, String)> = sqlx::query_as(
        "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS
          WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ? AND TRIGGER_NAME NOT LIKE 'planner\\_%'",
    )
    .bind(t)
    .fetch_all(&mut *conn)
    .await?;
    let lower = c.to_lowercase();
    for (name, body) in triggers {
        let body = body.to_lowercase();
        let reads = ["new.", "old."]
            .iter()
            .any(|row| body.contains(&format!("{row}{lower}")) || body.contains(&format!("{row}`{lower}`")));
        if reads {
            found.push(format!("trigger {name}"));
        }
    }
    Ok((!found.is_empty()).then(|| {
        format!(
            "{t}.{c} is still used by {}; change or drop them first (the contract would fail or break them)",
            found.join(", ")
        )
    }))
}

/// The columns of `table` now, as plan.yaml spells them.
pub async fn current_columns(conn: &mut MySqlConnection, table: &str) -> anyhow::Result<Vec<ColumnShape>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS
          WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(name, column_type, nullable)| {
            Ok(ColumnShape {
                name: Ident::new(&name).map_err(|e| anyhow::anyhow!("column `{name}`: {e}"))?,
                data_type: without_display_width(&column_type),
                not_null: nullable == "NO",
            })
        })
        .collect()
}

/// The shapes of the plan's tables now (recorded when a phase is done, for the next one).
pub async fn table_shapes(conn: &mut MySqlConnection, plan: &Plan) -> anyhow::Result<Vec<TableShape>> {
    let mut out = Vec::new();
    for t in &plan.tables {
        out.push(TableShape {
            table: t.table.clone(),
            columns: current_columns(conn, t.table.name.as_str()).await?,
        });
    }
    Ok(out)
}

async fn columns_match(
    conn: &mut MySqlConnection,
    plan: &Plan,
    table: &QualifiedName,
    records: &[PhaseRecord],
) -> anyhow::Result<Option<String>> {
    let current = current_columns(conn, table.name.as_str()).await?;
    if current.is_empty() {
        return Ok(Some(format!(
            "table {} does not exist in this database (is this the database the plan was made for?)",
            table.name.as_str()
        )));
    }
    let Some((expected, source)) = crate::exec::verify::expected_shape(plan, table, records) else {
        return Ok(None);
    };
    let diffs = differences(&expected, &current);
    Ok((!diffs.is_empty()).then(|| {
        format!(
            "{} changed since {source}: {}; re-plan against the current schema",
            table.name.as_str(),
            diffs.join("; ")
        )
    }))
}

/// How `current` differs from `expected`, column by column (pure).
pub fn differences(expected: &[ColumnShape], current: &[ColumnShape]) -> Vec<String> {
    let mut diffs = Vec::new();
    let null = |not_null: bool| if not_null { "NOT NULL" } else { "nullable" };
    for e in expected {
        match current.iter().find(|c| c.name == e.name) {
            None => diffs.push(format!("column {} is gone", e.name.as_str())),
            Some(c) if c.data_type != e.data_type => diffs.push(format!(
                "column {} is {} (expected {})",
                e.name.as_str(),
                c.data_type,
                e.data_type
            )),
            Some(c) if c.not_null != e.not_null => diffs.push(format!(
                "column {} is {} (expected {})",
                e.name.as_str(),
                null(c.not_null),
                null(e.not_null)
            )),
            Some(_) => {}
        }
    }
    for c in current.iter().filter(|c| !expected.iter().any(|e| e.name == c.name)) {
        diffs.push(format!("column {} was added", c.name.as_str()));
    }
    diffs
}

/// `planner verify`: the preconditions of the plan's contract phase (or of its last phase).
pub async fn verify_plan(
    conn: &mut MySqlConnection,
    loaded: &crate::exec::LoadedPlan,
) -> anyhow::Result<crate::exec::verify::VerifyReport> {
    let plan = &loaded.plan;
    super::apply::check_registered(conn, loaded).await?;
    let records = crate::mysql::state::phase_records(conn, &plan.name).await?;
    let phase = plan
        .phase(PhaseKind::Contract)
        .or_else(|| plan.phases.last())
        .ok_or_else(|| InputError::new(format!("plan `{}` has no phases", plan.name)))?;
    let already_applied = records.iter().any(|r| r.phase == phase.phase && r.status == PhaseStatus::Done);
    let failures = if already_applied {
        Vec::new()
    } else {
        failing(conn, plan, phase, &records, &loaded.dir.display().to_string()).await?
    };
    Ok(crate::exec::verify::VerifyReport { phase: phase.phase, failures, already_applied })
}

/// Each precondition of `phase` as plan.yaml has it, with `ok` and `reason` (`verify --format json`).
pub async fn checks(
    conn: &mut MySqlConnection,
    loaded: &crate::exec::LoadedPlan,
    phase: PhaseKind,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let plan = &loaded.plan;
    let records = crate::mysql::state::phase_records(conn, &plan.name).await?;
    let dir = loaded.dir.display().to_string();
    let mut out = Vec::new();
    for pre in plan.phase(phase).map(|p| p.preconditions.as_slice()).unwrap_or_default() {
        let reason = check(conn, plan, pre, &records, &dir).await?;
        out.push(crate::exec::verify::precondition_doc(pre, reason)?);
    }
    Ok(out)
}

/// Assign `expr` of every row to a temporary `data_type` column as the triggers will (strict mode,
/// the server's sql_mode), in key order, under READ COMMITTED so the scan takes no row locks; the
/// first row the server refuses is named by its key.
async fn assigns_cleanly(
    conn: &mut MySqlConnection,
    plan: &Plan,
    table: &QualifiedName,
    expr: &str,
    data_type: &str,
) -> anyhow::Result<Option<String>> {
    let t = quote_ident(table.name.as_str());
    let key: Vec<String> = plan.backfill_key(table).iter().map(|k| quote_ident(k.as_str())).collect();
    let order = if key.is_empty() { String::new() } else { format!(" ORDER BY {}", key.join(", ")) };
    let probe = "`planner_convert_probe`";
    let setup = format!(
        "SET @planner_mode = @@SESSION.sql_mode;
         SET SESSION sql_mode = @@GLOBAL.sql_mode;
         DROP TEMPORARY TABLE IF EXISTS {probe};
         CREATE TEMPORARY TABLE {probe} (v {data_type}) ENGINE=InnoDB"
    );
    sqlx::raw_sql(crate::mysql::dynamic(setup)).execute(&mut *conn).await?;
    let copied = sqlx::raw_sql(crate::mysql::dynamic(format!(
        // SET TRANSACTION (no SESSION) holds for the next transaction only: the INSERT.
        "SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
         INSERT INTO {probe} (v) SELECT {expr} FROM {t}{order}"
    )))
    .execute(&mut *conn)
    .await;
    let restore = format!(
        "DROP TEMPORARY TABLE IF EXISTS {probe};
         SET SESSION sql_mode = @planner_mode"
    );
    sqlx::raw_sql(crate::mysql::dynamic(restore)).execute(&mut *conn).await?;
    let err = match copied {
        Ok(_) => return Ok(None),
        Err(sqlx::Error::Database(e)) => e,
        Err(other) => return Err(other.into()),
    };
    let message = err.message().to_string();
    // "… at row N": the N-th row in key order.
    let row: Option<u64> = message.rsplit("at row ").next().and_then(|n| n.trim().parse().ok());
    let which = match (row, key.is_empty()) {
        (Some(n), false) if n > 0 => {
            let sql = format!(
                "SELECT CAST(CONCAT_WS(', ', {}) AS CHAR) FROM {t}{order} LIMIT {}, 1",
                key.join(", "),
                n - 1
            );
            let found: Option<String> =
                sqlx::query_scalar(crate::mysql::dynamic(sql)).fetch_optional(&mut *conn).await?;
            found.map(|k| format!(" (first at key {k})")).unwrap_or_default()
        }
        _ => String::new(),
    };
    Ok(Some(format!(
        "a row of {} cannot become {data_type}{which}: the server says \"{message}\"; the converting triggers \
         would fail every write of such a row. Fix those rows, or give `using:` an expression that converts them",
        table.name.as_str()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str, not_null: bool) -> ColumnShape {
        ColumnShape { name: Ident::new(name).unwrap(), data_type: ty.into(), not_null }
    }

    #[test]
    fn differences_name_each_column() {
        let expected =
            [col("id", "bigint", true), col("email", "varchar(255)", false), col("x", "int", false)];
        let current = [col("id", "bigint", true), col("email", "varchar(255)", true), col("y", "int", false)];
        assert_eq!(
            differences(&expected, &current),
            ["column email is NOT NULL (expected nullable)", "column x is gone", "column y was added"]
        );
        assert!(differences(&expected, &expected).is_empty());
    }
}
