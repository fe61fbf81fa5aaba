//! Step sequences several change kinds share.

use crate::plan::KeyColumn;
use crate::sql::ddl::SyncPart;
use crate::sql::render::generated_name;
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

/// The name of the NOT NULL check planner adds (and drops) for `table.column`.
pub fn not_null_check_name(table: &QualifiedName, column: &Ident) -> Ident {
    generated_name(&[table.name.as_str(), column.as_str(), "not_null"])
}

/// One change's part in its table's sync function (see [`crate::sql::ddl::SyncPart`]).
pub fn fill_part(table: &crate::model::Table, column: &Ident, expr: &SqlExpr, recompute: bool) -> SyncPart {
    let sources: Vec<Ident> = crate::sql::rewrite::referenced_columns(expr.as_str())
        .into_iter()
        .filter_map(|name| Ident::new(name).ok())
        .filter(|c| table.has_column(c) && c != column)
        .collect();
    SyncPart::Fill {
        column: column.clone(),
        expr: expr.clone(),
        recompute: recompute && !sources.is_empty(),
        sources,
    }
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
pub fn parse_expr(
    text: &str,
    field: &'static str,
    cx: &super::PlanCx,
) -> Result<SqlExpr, super::ChangeError> {
    SqlExpr::parse_allowing(text, &cx.allow_functions).map_err(|e| {
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

/// A type's name and modifiers: `character varying(200)` -> (`character varying`, [200]);
/// `timestamp(3) without time zone` -> (`timestamp without time zone`, [3]).
pub fn split_type(t: &str) -> (String, Vec<u32>) {
    match (t.find('('), t.find(')')) {
        (Some(i), Some(j)) if j > i => {
            let mods = t[i + 1..j].split(',').filter_map(|m| m.trim().parse().ok()).collect();
            let name = format!("{}{}", &t[..i], &t[j + 1..]);
            (name.trim().to_string(), mods)
        }
        _ => (t.to_string(), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::is_volatile;
    use crate::sql::SqlExpr;

    #[test]
    fn volatile_and_unknown_functions_are_volatile_known_stable_ones_are_not() {
        let allowed = ["txid_current".to_string(), "gen_random_bytes".into(), "my_fn".into()];
        let volatile = |text: &str| is_volatile(&SqlExpr::parse_allowing(text, &allowed).unwrap());
        for text in ["gen_random_uuid()", "nextval('s')", "txid_current()", "gen_random_bytes(8)", "my_fn(1)"]
        {
            assert!(volatile(text), "{text}");
        }
        for text in ["now()", "lower('A')", "0", "'x'::text"] {
            assert!(!volatile(text), "{text}");
        }
    }
}
