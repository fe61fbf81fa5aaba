//! Step sequences several change kinds share.

use crate::plan::{KeyColumn, Lock, Step, TxMode};
use crate::sql::render::{self, generated_name};
use crate::sql::{Ident, QualifiedName, SqlExpr};

/// The key the backfill walks `table` by (see `Table::backfill_key`), or the refusal every
/// change kind gives when there is none; `help` says what to do for that kind.
pub fn backfill_key(table: &crate::model::Table, help: &str) -> Result<Vec<KeyColumn>, super::ChangeError> {
    let key = table.backfill_key();
    if key.is_empty() {
        return Err(super::ChangeError::new(
            "table",
            format!(
                "table {} has no primary key (nor a unique index on NOT NULL columns); the backfill walks rows by such a key",
                table.name.display_short()
            ),
        )
        .help(help));
    }
    Ok(key.iter().map(|k| KeyColumn { column: k.name.clone(), data_type: k.data_type.clone() }).collect())
}

/// Deterministic names of the objects planner creates for `table.column`.
pub struct Names {
    pub trigger: Ident,
    pub function: QualifiedName,
    pub not_null_check: Ident,
}

impl Names {
    pub fn new(table: &QualifiedName, column: &Ident, purpose: &str) -> Self {
        let t = table.name.as_str();
        let c = column.as_str();
        Names {
            trigger: generated_name(&["planner", purpose, c]),
            function: render::function_name(table, &generated_name(&["planner", t, c, purpose])),
            not_null_check: generated_name(&[t, c, "not_null"]),
        }
    }
}

/// SET NOT NULL without a long ACCESS EXCLUSIVE scan: CHECK NOT VALID (brief lock), VALIDATE
/// (SHARE UPDATE EXCLUSIVE: traffic continues), then SET NOT NULL, which PostgreSQL 12+ proves
/// from the validated check without scanning, and drop the now-redundant check.
/// On PostgreSQL 11 SET NOT NULL would scan under ACCESS EXCLUSIVE, so the check stays instead.
pub fn not_null_via_check(
    table: &QualifiedName,
    column: &Ident,
    check: &Ident,
    pg_version: u32,
) -> Vec<Step> {
    let mut steps = vec![
        Step::new(
            format!("guard new rows: CHECK ({} IS NOT NULL) NOT VALID, no scan", column.as_str()),
            render::add_check_not_valid(table, check, &render::not_null_check_expr(column)),
            Lock::AccessExclusiveBrief,
            table,
        )
        .undo(render::drop_constraint_if_exists(table, check)),
        Step::new(
            "validate existing rows (scans the table; reads and writes continue)",
            render::validate_constraint(table, check),
            Lock::ShareUpdateExclusive,
            table,
        )
        .tx(TxMode::OwnTransaction)
        .scans(),
    ];
    if pg_version >= 12 {
        steps.push(
            Step::new(
                "SET NOT NULL proven by the validated check (PostgreSQL 12+: no scan)",
                render::set_not_null(table, column),
                Lock::AccessExclusiveBrief,
                table,
            )
            .undo(render::drop_not_null(table, column)),
        );
        steps.push(Step::new(
            "drop the check, now redundant",
            render::drop_constraint(table, check),
            Lock::AccessExclusiveBrief,
            table,
        ));
    }
    steps
}

/// BEFORE INSERT OR UPDATE trigger that fills `column` from `expr` whenever a write leaves it
/// NULL, so rows written by the old app (which does not know the column) get a value.
pub fn fill_trigger_steps(table: &QualifiedName, column: &Ident, expr: &SqlExpr, names: &Names) -> Vec<Step> {
    trigger_steps(table, &names.function, &names.trigger, &fill_body(column, expr), "fills it")
}

/// Function + trigger creation, each with its undo.
pub fn trigger_steps(
    table: &QualifiedName,
    function: &QualifiedName,
    trigger: &Ident,
    body: &str,
    what: &str,
) -> Vec<Step> {
    vec![
        Step::new(
            format!("trigger function that {what} for writes from either app version"),
            render::create_trigger_function(function, body),
            Lock::None,
            table,
        )
        .undo(render::drop_function_if_exists(function)),
        Step::new(
            "attach the trigger (blocks writes for milliseconds)",
            render::create_row_trigger(trigger, table, function),
            Lock::ShareRowExclusiveBrief,
            table,
        )
        .undo(render::drop_trigger_if_exists(trigger, table)),
    ]
}

/// Contract steps that remove a trigger and its function; undo recreates them.
pub fn drop_trigger_steps(
    table: &QualifiedName,
    function: &QualifiedName,
    trigger: &Ident,
    body: &str,
) -> Vec<Step> {
    vec![
        Step::new(
            "drop the trigger: both shapes no longer need to be kept in sync",
            render::drop_trigger(trigger, table),
            Lock::AccessExclusiveBrief,
            table,
        )
        .undo(render::create_row_trigger(trigger, table, function)),
        Step::new("drop the trigger function", render::drop_function(function), Lock::None, table)
            .undo(render::create_trigger_function(function, body)),
    ]
}

/// The fill trigger's body, shared by expand (create) and contract (undo of the drop).
pub fn fill_body(column: &Ident, expr: &SqlExpr) -> String {
    format!("  IF NEW.{column} IS NULL THEN\n    NEW.{column} := (SELECT {expr} FROM (SELECT NEW.*) AS planner_row);\n  END IF;")
}

/// Is the expression volatile (evaluated per row)? Unknown functions count as volatile: the safe side.
pub fn is_volatile(expr: &SqlExpr) -> bool {
    use sqlparser::ast::{visit_expressions, Expr};
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;
    use std::ops::ControlFlow;

    use crate::sql::expr::{STABLE_FUNCTIONS, VOLATILE_FUNCTIONS};
    /// Stable functions the planner knows of besides [`STABLE_FUNCTIONS`].
    const MORE_STABLE: &[&str] = &["length", "concat", "abs", "round", "current_setting"];
    let Ok(parsed) =
        Parser::new(&PostgreSqlDialect {}).try_with_sql(expr.as_str()).and_then(|mut p| p.parse_expr())
    else {
        return true;
    };
    visit_expressions(&parsed, |e| {
        if let Expr::Function(f) = e {
            let name = f.name.to_string().to_lowercase();
            let bare = name.rsplit('.').next().unwrap_or(&name).trim_matches('"').to_string();
            if VOLATILE_FUNCTIONS.contains(&bare.as_str())
                || (!STABLE_FUNCTIONS.contains(&bare.as_str()) && !MORE_STABLE.contains(&bare.as_str()))
            {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })
    .is_break()
}

/// Check that every column an expression uses exists on the table (with a "did you mean").
pub fn check_expr_columns(
    table: &crate::model::Table,
    expr: &SqlExpr,
    field: &'static str,
) -> Result<(), super::ChangeError> {
    for name in crate::sql::rewrite::referenced_columns(expr.as_str()) {
        // Keywords sqlparser reads as identifiers when unquoted.
        if matches!(
            name.as_str(),
            "current_timestamp"
                | "current_date"
                | "current_time"
                | "current_user"
                | "localtimestamp"
                | "localtime"
                | "session_user"
        ) {
            continue;
        }
        let Ok(ident) = Ident::new(name.clone()) else { continue };
        if !table.has_column(&ident) {
            let err = table.column(&ident).err().map(|e| e.to_string()).unwrap_or_default();
            return Err(super::ChangeError::new(
                field,
                format!("expression refers to a missing column: {err}"),
            )
            .help("expressions are evaluated over the row's own columns"));
        }
    }
    Ok(())
}

/// Parse a user expression for `field`, with a helpful error.
pub fn parse_expr(text: &str, field: &'static str) -> Result<SqlExpr, super::ChangeError> {
    SqlExpr::parse(text).map_err(|e| {
        super::ChangeError::new(field, format!("`{text}` is {e}"))
            .help("give one SQL expression over the row, e.g. `verified_at IS NOT NULL` or `'unknown'`")
    })
}

/// Resolve a user type name against the model.
pub fn resolve_type(model: &crate::model::SchemaModel, text: &str) -> Result<String, super::ChangeError> {
    if let Some(resolved) = model.resolve_type(text) {
        return Ok(resolved);
    }
    const KNOWN: &[&str] = &[
        "boolean",
        "integer",
        "bigint",
        "smallint",
        "text",
        "varchar",
        "numeric",
        "real",
        "double precision",
        "date",
        "timestamp",
        "timestamptz",
        "interval",
        "uuid",
        "json",
        "jsonb",
        "bytea",
        "inet",
    ];
    let mut candidates: Vec<String> = KNOWN.iter().map(|s| s.to_string()).collect();
    candidates.extend(model.user_types.iter().map(|t| t.display_short()));
    let suggestion = crate::model::closest(text, candidates.iter().map(|s| s.as_str()));
    Err(super::ChangeError::new(
        "type",
        format!(
            "unknown type `{text}`{}",
            suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default()
        ),
    )
    .help("use a built-in PostgreSQL type or one the schema defines with CREATE TYPE / CREATE DOMAIN"))
}

#[cfg(test)]
mod tests {
    use super::is_volatile;
    use crate::sql::SqlExpr;

    #[test]
    fn volatile_and_unknown_functions_are_volatile_known_stable_ones_are_not() {
        let volatile = |text: &str| is_volatile(&SqlExpr::parse(text).unwrap());
        for text in ["gen_random_uuid()", "nextval('s')", "txid_current()", "gen_random_bytes(8)", "my_fn(1)"]
        {
            assert!(volatile(text), "{text}");
        }
        for text in ["now()", "lower('A')", "0", "'x'::text"] {
            assert!(!volatile(text), "{text}");
        }
    }
}
