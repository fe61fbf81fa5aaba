//! Add a column on MySQL/MariaDB (§9.2).
//!
//! Nullable or with a constant default: one INSTANT `ADD COLUMN` (0.06 s on 1M rows measured).
//! NOT NULL without a default or backfill: refused (the old app's inserts fail with 1364 in
//! strict mode). A volatile default (`UUID()`): refused (MariaDB adds it only by copying the table).
//! Computed (`backfill:`): expand adds it nullable with BEFORE INSERT/UPDATE triggers computing
//! it, backfill fills existing rows, contract makes it NOT NULL with `MODIFY … INPLACE` — the one
//! online table rebuild, run while the triggers still fill every write (a NULL written during the
//! rebuild would abort it at the end) — then drops the triggers.
//!
//! What each app version's writes do from expand until contract:
//! - INSERT that leaves it NULL (the old app): computed from the row.
//! - UPDATE that sets it to a value (the new app, the backfill): kept.
//! - any other UPDATE: recomputed when it is NULL or a column it is computed from changed.

use super::{alter, backfill_key, new_col, new_column, old_col, step, trigger_pair, Cx, Parts};
use crate::change::{AddColumn, ChangeError};
use crate::model::{Column, SchemaModel};
use crate::plan::{AppAccess, AppCompat, Assignment, BackfillTask, Lock, Precondition};
use crate::sql::mysql_ddl::{quote_ident, Algorithm, AlterClause, ColumnDefinition, TriggerAssignment};
use crate::sql::mysql_expr::MySqlExpr;

/// A type as the user wrote it, in MySQL's spelling (`boolean` is `tinyint(1)`).
pub fn mysql_type(text: &str) -> Result<String, ChangeError> {
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;
    let parsed = Parser::new(&MySqlDialect {})
        .try_with_sql(text)
        .and_then(|mut p| {
            let t = p.parse_data_type()?;
            p.expect_token(&sqlparser::tokenizer::Token::EOF)?;
            Ok(t)
        })
        .map_err(|e| ChangeError::new("type", format!("`{text}` is not a MySQL type: {e}")))?;
    let spelled = parsed.to_string().to_lowercase();
    Ok(match spelled.as_str() {
        "boolean" | "bool" => "tinyint(1)".to_string(),
        _ => spelled,
    })
}

pub fn compile(change: &AddColumn, cx: &Cx<'_>) -> Result<(Parts, SchemaModel), ChangeError> {
    let model = cx.model;
    let table = super::resolve_table(model, &change.table)?;
    let t = &table.name;
    let tn = t.name.as_str();
    let c = new_column(table, &change.column, "column")?;
    let cs = c.as_str().to_string();
    let column_type = mysql_type(&change.data_type)?;
    let columns: Vec<_> = table.columns.iter().map(|c| c.name.clone()).collect();
    let default = change
        .default
        .as_deref()
        .map(|d| {
            MySqlExpr::parse(d, &columns)
                .map_err(|e| ChangeError::new("default", format!("default `{d}`: {e}")))
        })
        .transpose()?;
    if let Some(d) = &default {
        if !d.is_constant() {
            return Err(ChangeError::new("default", format!(
                "default `{}` is not a constant: MariaDB adds a column with a computed or volatile default (UUID(), RAND()) only by copying the table, blocking writes",
                d.over_row()
            ))
            .help("use `backfill:` with the expression and let the app supply the value for new rows"));
        }
    }
    let backfill = change
        .backfill
        .as_deref()
        .map(|b| {
            MySqlExpr::parse(b, &columns)
                .map_err(|e| ChangeError::new("backfill", format!("backfill `{b}`: {e}")))
        })
        .transpose()?;
    let description =
        format!("add column {tn}.{cs} {column_type}{}", if change.not_null { " NOT NULL" } else { "" });
    let def = |not_null: bool| ColumnDefinition {
        column_type: column_type.clone(),
        charset: None,
        collation: None,
        not_null,
        default: default.as_ref().map(|d| d.over_row()),
        on_update: None,
        comment: None,
    };
    let add = |not_null: bool| {
        alter(
            t,
            vec![AlterClause::AddColumn { column: c.clone(), definition: def(not_null), after: None }],
            Algorithm::Instant,
        )
    };
    let drop = || {
        step(
            format!("drop {cs}"),
            alter(t, vec![AlterClause::DropColumn { column: c.clone() }], Algorithm::Instant),
            Lock::MdlExclusiveBrief,
            t,
        )
    };
    let mut next = model.clone();
    let push_column = |next: &mut SchemaModel, not_null: bool| {
        if let Some(tb) = next.tables.get_mut(t) {
            tb.columns.push(Column {
                name: c.clone(),
                data_type: column_type.clone(),
                not_null,
                default: default.as_ref().map(|d| d.over_row()),
                generated: None,
                props: Default::default(),
            });
        }
    };

    let Some(fill) = backfill else {
        if change.not_null && default.is_none() {
            return Err(ChangeError::new("not_null", format!(
                "{tn}.{cs} is NOT NULL but has no default and no backfill: existing rows would have no value, and the old app's inserts would fail (1364 in strict mode)"
            ))
            .help("add `default: <constant>` (instant) or `backfill: <expression over the row>`"));
        }
        push_column(&mut next, change.not_null);
        let compat = AppCompat {
            old_app: AppAccess::full(format!(
                "does not know {cs}; new rows get {}",
                if default.is_some() { "the default" } else { "NULL" }
            )),
            new_app: AppAccess::full(format!("reads and writes {cs}")),
        };
        return Ok((
            Parts {
                description,
                expand: vec![step(
                    format!(
                        "add {cs}{} (instant: metadata only)",
                        if default.is_some() { " with a constant default" } else { "" }
                    ),
                    add(change.not_null),
                    Lock::MdlExclusiveBrief,
                    t,
                )
                .undo(drop())],
                compat: Some([compat.clone(), compat.clone(), compat]),
                table: Some(t.clone()),
                ..Default::default()
            },
            next,
        ));
    };

    let key = backfill_key(table)?;
    let mut expand = vec![step(
        format!("add {cs} nullable (instant: metadata only)"),
        add(false),
        Lock::MdlExclusiveBrief,
        t,
    )
    .undo(drop())];
    // The value is recomputed when a column it is computed from changes, unless the write set it.
    let changed: Vec<String> =
        fill.columns.iter().map(|s| format!("NOT ({} <=> {})", new_col(s), old_col(s))).collect();
    let recompute = if changed.is_empty() { String::new() } else { format!(" OR {}", changed.join(" OR ")) };
    let insert = vec![TriggerAssignment {
        column: c.clone(),
        expr: format!("COALESCE({}, {})", new_col(&c), fill.over("NEW")),
    }];
    let update = vec![TriggerAssignment {
        column: c.clone(),
        expr: format!(
            "IF(NOT ({nc} <=> {oc}) AND {nc} IS NOT NULL, {nc}, IF({nc} IS NULL{recompute}, {e}, {nc}))",
            nc = new_col(&c),
            oc = old_col(&c),
            e = fill.over("NEW")
        ),
    }];
    let triggers = trigger_pair(cx, &mut next, t, &format!("compute {cs}"), insert, update);
    expand.extend(triggers.create);

    let mut contract = Vec::new();
    let mut pre = vec![Precondition::BackfillDone { table: t.clone() }];
    if change.not_null {
        pre.push(Precondition::NoNulls { table: t.clone(), column: c.clone() });
        contract.push(
            step(
                format!("make {cs} NOT NULL: an online table rebuild (writes continue; the triggers keep new rows filled, a NULL written meanwhile would abort it at the end)"),
                alter(t, vec![AlterClause::ModifyColumn { column: c.clone(), definition: def(true) }], Algorithm::Inplace),
                Lock::OnlineRebuild,
                t,
            )
            .scans()
            .undo(step(
                format!("make {cs} nullable again (an online rebuild too)"),
                alter(t, vec![AlterClause::ModifyColumn { column: c.clone(), definition: def(false) }], Algorithm::Inplace),
                Lock::OnlineRebuild,
                t,
            )
            .scans()),
        );
    }
    contract.extend(triggers.drop);
    pre.extend(triggers.present);
    pre.push(Precondition::ColumnsMatch { table: t.clone() });
    push_column(&mut next, change.not_null);
    let q = quote_ident(&c);
    let old_after = if change.not_null && default.is_none() {
        AppAccess {
            writes: false,
            reads: true,
            note: format!("inserts would fail: {cs} is NOT NULL without default and the triggers are gone"),
        }
    } else {
        AppAccess::full(format!("does not know {cs}; new rows get the default"))
    };
    Ok((
        Parts {
            description,
            expand,
            expand_preconditions: Vec::new(),
            backfill: vec![BackfillTask {
                table: t.clone(),
                key,
                set: vec![Assignment { column: c.clone(), expr: fill.over_row() }],
                pending: format!("{q} IS NULL"),
            }],
            contract_preconditions: pre,
            contract,
            compat: Some([
                AppCompat {
                    old_app: AppAccess::full(format!(
                        "does not know {cs}; the triggers compute it on its writes"
                    )),
                    new_app: AppAccess {
                        writes: true,
                        reads: false,
                        note: format!("may write {cs}; reads of {cs} are complete only after backfill"),
                    },
                },
                AppCompat {
                    old_app: AppAccess::full(format!("does not know {cs}; the triggers keep it computed")),
                    new_app: AppAccess::full(format!("reads and writes {cs}")),
                },
                AppCompat { old_app: old_after, new_app: AppAccess::full(format!("reads and writes {cs}")) },
            ]),
            table: Some(t.clone()),
        },
        next,
    ))
}
