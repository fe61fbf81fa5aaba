//! Preconditions: one match arm each, checked in the session that is about to run the phase.

use sqlx::PgConnection;

use super::state::{self, PhaseRecord, PhaseStatus};
use crate::plan::{ColumnShape, Phase, PhaseKind, Plan, Precondition, TableShape};
use crate::sql::{Ident, QualifiedName};

/// Every failing precondition of `phase`, as one human sentence each (empty = ready).
pub async fn failing_preconditions(
    conn: &mut PgConnection,
    plan: &Plan,
    phase: &Phase,
    records: &[PhaseRecord],
) -> anyhow::Result<Vec<String>> {
    let mut failures = Vec::new();
    for earlier in plan.phases.iter().take_while(|p| p.phase < phase.phase) {
        let done = records.iter().any(|r| r.phase == earlier.phase && r.status == PhaseStatus::Done);
        if !done {
            failures.push(format!("phase {} has not been applied yet", earlier.phase));
        }
    }
    let first_done = plan.phases.first().is_none_or(|first| {
        first.phase == phase.phase
            || records.iter().any(|r| r.phase == first.phase && r.status == PhaseStatus::Done)
    });
    if !first_done {
        // The objects the preconditions talk about do not exist before the first phase ran.
        return Ok(failures);
    }
    for pre in &phase.preconditions {
        if let Some(reason) = check(conn, plan, pre, records).await? {
            failures.push(reason);
        }
    }
    Ok(failures)
}

/// Check one precondition: `None` when it holds, otherwise why not.
pub async fn check(
    conn: &mut PgConnection,
    plan: &Plan,
    pre: &Precondition,
    records: &[PhaseRecord],
) -> anyhow::Result<Option<String>> {
    match pre {
        Precondition::BackfillDone { table } => {
            let row: Option<(i64, Option<String>)> = sqlx::query_as(
                "SELECT rows_done, to_char(finished_at, 'YYYY-MM-DD HH24:MI:SS') FROM planner.backfill_progress WHERE plan = $1 AND table_name = $2",
            )
            .bind(&plan.name)
            .bind(table.display_short())
            .fetch_optional(&mut *conn)
            .await?;
            Ok(match row {
                Some((_, Some(_))) => None,
                Some((rows, None)) => Some(format!(
                    "backfill of {} has not finished ({} rows done so far); run `planner apply --phase backfill` to resume it",
                    table.display_short(),
                    thousands(rows)
                )),
                None => Some(format!("backfill of {} has not run", table.display_short())),
            })
        }
        Precondition::NoNulls { table, column } => no_nulls(conn, table, column).await,
        Precondition::ServerVersion { at_least } => {
            let num: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
                .fetch_one(&mut *conn)
                .await?;
            let major = (num / 10_000) as u32;
            Ok((major < *at_least).then(|| {
                format!(
                    "the server runs PostgreSQL {major}, the plan was made for {at_least}+ (e.g. SET NOT NULL proven by a validated check needs 12+; on older servers it scans under ACCESS EXCLUSIVE); re-plan with --pg-version {major} or against this database"
                )
            }))
        }
        Precondition::ConstraintValid { table, constraint } => {
            let valid: Option<bool> = sqlx::query_scalar(
                "SELECT convalidated FROM pg_constraint WHERE conrelid = to_regclass($1) AND conname = $2",
            )
            .bind(table.to_string())
            .bind(constraint.as_str())
            .fetch_optional(&mut *conn)
            .await?;
            Ok(match valid {
                Some(true) => None,
                Some(false) => Some(format!(
                    "constraint {} on {} is NOT VALID; the backfill phase validates it",
                    constraint,
                    table.display_short()
                )),
                None => {
                    Some(format!("constraint {} on {} does not exist", constraint, table.display_short()))
                }
            })
        }
        Precondition::IndexValid { table, index } => {
            let valid: Option<bool> = sqlx::query_scalar(
                "SELECT i.indisvalid AND i.indisready FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                  WHERE i.indrelid = to_regclass($1) AND c.relname = $2",
            )
            .bind(table.to_string())
            .bind(index.as_str())
            .fetch_optional(&mut *conn)
            .await?;
            Ok(match valid {
                Some(true) => None,
                Some(false) => Some(format!(
                    "index {} on {} is invalid (a CREATE INDEX CONCURRENTLY failed); roll back and re-apply expand to rebuild it",
                    index,
                    table.display_short()
                )),
                None => Some(format!("index {} on {} does not exist", index, table.display_short())),
            })
        }
        Precondition::TriggerPresent { table, trigger } => {
            let enabled: Option<String> = sqlx::query_scalar(
                "SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2 AND NOT tgisinternal",
            )
            .bind(table.to_string())
            .bind(trigger.as_str())
            .fetch_optional(&mut *conn)
            .await?;
            Ok(match enabled.as_deref() {
                Some("D") => Some(format!(
                    "trigger {} on {} is disabled; writes of one app version are not reaching the other's columns",
                    trigger,
                    table.display_short()
                )),
                Some(_) => None,
                None => Some(format!("trigger {} on {} is missing", trigger, table.display_short())),
            })
        }
        Precondition::NoDependents { table, column } => no_dependents(conn, table, column).await,
        Precondition::ColumnsMatch { table } => columns_match(conn, plan, table, records).await,
        Precondition::ConvertsCleanly { table, expr, data_type } => {
            let key = primary_key(conn, table).await?;
            super::type_checks::converts_cleanly(conn, table, expr, data_type, &key).await
        }
        Precondition::ColumnEqualsExpr { table, key, column, expr } => {
            super::type_checks::column_equals_expr(conn, table, key, column, expr).await
        }
        Precondition::AssignsCleanly { .. } => Err(crate::error::InputError::new(format!(
            "plan `{}` carries a MySQL/MariaDB check (assigns_cleanly); it cannot run on PostgreSQL",
            plan.name
        ))
        .help("plan the change again for PostgreSQL (without --dialect)")
        .into()),
    }
}

/// Of `names`, the functions whose every overload is IMMUTABLE or STABLE on this server.
pub async fn stable_functions(conn: &mut PgConnection, names: &[String]) -> anyhow::Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT proname::text FROM pg_proc WHERE proname = ANY($1)
          GROUP BY proname HAVING bool_and(provolatile IN ('i', 's'))",
    )
    .bind(names)
    .fetch_all(&mut *conn)
    .await?)
}

/// Rows where `column` is NULL (a full scan: for planning and contract checks, not hot paths).
pub async fn count_nulls(
    conn: &mut PgConnection,
    table: &QualifiedName,
    column: &Ident,
) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(super::session::dynamic(format!(
        "SELECT count(*) FROM {table} WHERE {column} IS NULL"
    )))
    .fetch_one(&mut *conn)
    .await?)
}

async fn no_nulls(
    conn: &mut PgConnection,
    table: &QualifiedName,
    column: &Ident,
) -> anyhow::Result<Option<String>> {
    let count = count_nulls(conn, table, column).await?;
    if count == 0 {
        return Ok(None);
    }
    let key = primary_key(conn, table).await?;
    let (label, expr, order) = if key.is_empty() {
        ("ctid".to_string(), "ctid::text".to_string(), "ctid".to_string())
    } else {
        let names: Vec<String> = key.iter().map(crate::sql::ident::short).collect();
        let cols: Vec<String> = key.iter().map(|k| format!("{k}::text")).collect();
        let order: Vec<String> = key.iter().map(|k| k.to_string()).collect();
        let label = if key.len() == 1 { names[0].clone() } else { format!("({})", names.join(", ")) };
        let expr = if key.len() == 1 {
            cols[0].clone()
        } else {
            format!("'(' || concat_ws(', ', {}) || ')'", cols.join(", "))
        };
        (label, expr, order.join(", "))
    };
    let examples: Vec<String> = sqlx::query_scalar(super::session::dynamic(format!(
        "SELECT {expr} AS planner_key FROM {table} WHERE {column} IS NULL ORDER BY {order} LIMIT 3"
    )))
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(format!(
        "{} NULL value{} still exist{} in {}.{} (e.g. {label}={})",
        thousands(count),
        if count == 1 { "" } else { "s" },
        if count == 1 { "s" } else { "" },
        crate::sql::ident::short(&table.name),
        crate::sql::ident::short(column),
        examples.join(", ")
    )))
}

async fn primary_key(conn: &mut PgConnection, table: &QualifiedName) -> anyhow::Result<Vec<Ident>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_index i
           CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
          WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY k.ord",
    )
    .bind(table.to_string())
    .fetch_all(&mut *conn)
    .await?;
    Ok(names.into_iter().filter_map(|n| Ident::new(n).ok()).collect())
}

async fn no_dependents(
    conn: &mut PgConnection,
    table: &QualifiedName,
    column: &Ident,
) -> anyhow::Result<Option<String>> {
    let exists: Option<i16> = sqlx::query_scalar(
        "SELECT attnum FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
    )
    .bind(table.to_string())
    .bind(column.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(attnum) = exists else {
        return Ok(Some(format!(
            "column {}.{} does not exist",
            table.display_short(),
            crate::sql::ident::short(column)
        )));
    };
    // Objects that go away with the column (indexes of this table, which the plan copied where
    // needed; constraints of this table on this column alone; its default; an owned sequence;
    // planner's own triggers) are fine. Views, rules, foreign keys from elsewhere are not.
    let blockers: Vec<String> = sqlx::query_scalar(crate::sql::catalog::COLUMN_BLOCKERS)
        .bind(table.to_string())
        .bind(attnum)
        .fetch_all(&mut *conn)
        .await?;
    if blockers.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "{} object{} still depend{} on {}.{}: {}; drop or change {} first",
        blockers.len(),
        if blockers.len() == 1 { "" } else { "s" },
        if blockers.len() == 1 { "s" } else { "" },
        table.display_short(),
        crate::sql::ident::short(column),
        blockers.join(", "),
        if blockers.len() == 1 { "it" } else { "them" }
    )))
}

/// The table's columns now, as `format_type` prints them.
pub async fn current_columns(
    conn: &mut PgConnection,
    table: &QualifiedName,
) -> anyhow::Result<Vec<ColumnShape>> {
    let rows: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
          WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    )
    .bind(table.to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(name, data_type, not_null)| Ok(ColumnShape { name: Ident::new(name)?, data_type, not_null }))
        .collect()
}

/// Snapshot of the plan's tables, stored with each finished phase.
pub async fn table_shapes(conn: &mut PgConnection, plan: &Plan) -> anyhow::Result<serde_json::Value> {
    let mut shapes = Vec::new();
    for t in &plan.tables {
        shapes.push(TableShape { table: t.table.clone(), columns: current_columns(conn, &t.table).await? });
    }
    Ok(serde_json::to_value(shapes)?)
}

/// One precondition as plan.yaml has it, plus `ok` and `reason` (None: it holds): the form
/// `verify --format json` reports for every backend.
pub fn precondition_doc(pre: &Precondition, reason: Option<String>) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(pre)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("ok".into(), serde_json::Value::Bool(reason.is_none()));
        map.insert("reason".into(), reason.map(serde_json::Value::String).unwrap_or(serde_json::Value::Null));
    }
    Ok(value)
}

/// The columns `table` should have now, and where that expectation comes from: what the latest
/// applied phase (short of contract) left, or, before any phase, the shape the plan was made
/// from. None: the plan does not know the table. Pure over the records; both backends use it.
pub(crate) fn expected_shape(
    plan: &Plan,
    table: &QualifiedName,
    records: &[PhaseRecord],
) -> Option<(Vec<ColumnShape>, &'static str)> {
    let snapshot = records
        .iter()
        .filter(|r| r.status == PhaseStatus::Done && r.phase != PhaseKind::Contract)
        .max_by_key(|r| r.phase)
        .and_then(|r| r.table_shapes.clone())
        .and_then(|v| serde_json::from_value::<Vec<TableShape>>(v).ok())
        .and_then(|shapes| shapes.into_iter().find(|s| &s.table == table));
    match snapshot {
        Some(s) => Some((s.columns, "the last applied phase left it")),
        None => plan
            .tables
            .iter()
            .find(|t| &t.table == table)
            .map(|t| (t.columns.clone(), "the plan was made from")),
    }
}

/// Compare the table with what the latest applied phase left (or, before any phase, with the
/// shape the plan was made from).
async fn columns_match(
    conn: &mut PgConnection,
    plan: &Plan,
    table: &QualifiedName,
    records: &[PhaseRecord],
) -> anyhow::Result<Option<String>> {
    let current = current_columns(conn, table).await?;
    if current.is_empty() {
        return Ok(Some(format!(
            "table {} does not exist in this database (is this the database the plan was made for?)",
            table.display_short()
        )));
    }
    let Some((expected, source)) = expected_shape(plan, table, records) else { return Ok(None) };
    let diffs = shape_differences(conn, &expected, &current).await?;
    if diffs.is_empty() {
        return Ok(None);
    }
    // Re-planning cannot help when another plan's change is what moved the table: name it.
    let others = other_plans_on(conn, &plan.name, table).await?;
    let way_out = if others.is_empty() {
        "re-plan against the current schema".to_string()
    } else {
        format!(
            "plan {} also changes {} and is not finished: finish or roll back one plan first (planner status shows both)",
            others.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", "),
            table.display_short()
        )
    };
    Ok(Some(format!("{} changed since {source}: {}; {way_out}", table.display_short(), diffs.join("; "))))
}

/// Plans registered here, other than `this`, with a phase applied but not all of them, and the
/// tables each touches.
pub async fn plans_in_flight(
    conn: &mut PgConnection,
    this: &str,
) -> anyhow::Result<Vec<(String, Vec<QualifiedName>)>> {
    let mut out = Vec::new();
    for record in state::all_plans(conn).await? {
        if record.name == this {
            continue;
        }
        let Ok(other) = serde_yaml_ng::from_str::<Plan>(&record.plan_yaml) else { continue };
        let phases = state::phase_records(conn, &record.name).await?;
        let applied = phases.iter().any(|r| r.status != PhaseStatus::RolledBack);
        let finished = other
            .phases
            .iter()
            .all(|p| phases.iter().any(|r| r.phase == p.phase && r.status == PhaseStatus::Done));
        if applied && !finished {
            out.push((record.name, other.tables.into_iter().map(|t| t.table).collect()));
        }
    }
    Ok(out)
}

/// Other plans in flight that touch `table`.
async fn other_plans_on(
    conn: &mut PgConnection,
    this: &str,
    table: &QualifiedName,
) -> anyhow::Result<Vec<String>> {
    Ok(plans_in_flight(conn, this)
        .await?
        .into_iter()
        .filter(|(_, tables)| tables.contains(table))
        .map(|(name, _)| name)
        .collect())
}

/// Differences between two column lists; type names are compared by the server so that
/// `int4` and `integer` are the same type.
pub async fn shape_differences(
    conn: &mut PgConnection,
    expected: &[ColumnShape],
    current: &[ColumnShape],
) -> anyhow::Result<Vec<String>> {
    let mut diffs = Vec::new();
    for e in expected {
        let name = crate::sql::ident::short(&e.name);
        match current.iter().find(|c| c.name == e.name) {
            None => diffs.push(format!("column {name} is gone")),
            Some(c) => {
                if c.data_type != e.data_type && !same_type(conn, &c.data_type, &e.data_type).await? {
                    diffs.push(format!("column {name} is {} (expected {})", c.data_type, e.data_type));
                }
                if c.not_null != e.not_null {
                    diffs.push(format!(
                        "column {name} is {} (expected {})",
                        if c.not_null { "NOT NULL" } else { "nullable" },
                        if e.not_null { "NOT NULL" } else { "nullable" }
                    ));
                }
            }
        }
    }
    for c in current {
        if !expected.iter().any(|e| e.name == c.name) {
            diffs.push(format!("column {} was added", crate::sql::ident::short(&c.name)));
        }
    }
    Ok(diffs)
}

async fn same_type(conn: &mut PgConnection, a: &str, b: &str) -> anyhow::Result<bool> {
    let same: Option<bool> = sqlx::query_scalar("SELECT to_regtype($1) = to_regtype($2)")
        .bind(a)
        .bind(b)
        .fetch_one(&mut *conn)
        .await
        .unwrap_or(None);
    Ok(same.unwrap_or(false))
}

/// 1204 -> "1,204".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Records of a plan, for callers that only have a connection.
pub async fn records(conn: &mut PgConnection, plan: &Plan) -> anyhow::Result<Vec<PhaseRecord>> {
    state::phase_records(conn, &plan.name).await
}

/// What `planner verify` found.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// The phase whose preconditions were checked (contract, or the plan's last phase).
    pub phase: PhaseKind,
    /// Every failing precondition; empty = ready.
    pub failures: Vec<String>,
    /// The phase is already applied: nothing to verify.
    pub already_applied: bool,
}

/// Check the preconditions of the plan's contract phase (or of its last phase when it has no
/// contract): every failing reason.
pub async fn verify_plan(
    session: &mut super::Session,
    loaded: &super::LoadedPlan,
) -> anyhow::Result<VerifyReport> {
    let plan = &loaded.plan;
    // Read-only: verify never writes (it runs on replicas and with read-only roles).
    state::check_registered(session.conn(), plan, &loaded.sha256).await?;
    let records = state::phase_records(session.conn(), &plan.name).await?;
    let phase = plan
        .phase(PhaseKind::Contract)
        .or_else(|| plan.phases.last())
        .ok_or_else(|| crate::error::InputError::new(format!("plan `{}` has no phases", plan.name)))?;
    if records.iter().any(|r| r.phase == phase.phase && r.status == PhaseStatus::Done) {
        return Ok(VerifyReport { phase: phase.phase, failures: vec![], already_applied: true });
    }
    let failures = failing_preconditions(session.conn(), plan, phase, &records).await?;
    Ok(VerifyReport { phase: phase.phase, failures, already_applied: false })
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1204), "1,204");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
