//! Add a column, NOT NULL included, without a table rewrite or a long lock.
//!
//! With a constant default (or nullable without one) it is a single catalog-only step on
//! PostgreSQL 11+. With a computed value (`backfill`) or a volatile default: expand adds it nullable
//! with a trigger filling it on every write, backfill fills existing rows, and contract makes it
//! NOT NULL through a validated CHECK and drops the trigger.
//!
//! What each app version's writes do to the column from expand until contract (the table's sync
//! function, [`crate::sql::ddl::SyncPart::Fill`]):
//! - old app INSERT (does not know the column): it is computed from the row.
//! - any UPDATE that does not set it and changes a column the expression reads: recomputed, so a
//!   value derived from `verified_at` follows every later write of `verified_at`.
//! - an UPDATE that sets it (the new app, the backfill): the written value is kept.
//! - a volatile default (`gen_random_uuid()`) reads no column: only rows without a value get one.
//! - after contract the trigger is gone: the new app writes it; with NOT NULL and no default the
//!   old app's inserts would fail, so it must be gone.

use serde::Deserialize;

use super::common;
use super::{ChangeError, ChangeKind, ChangePhases, PlanCx};
use crate::model::{Column, SchemaModel};
use crate::plan::{AppAccess, AppCompat, Assignment, BackfillTask, Lock, Precondition, Step};
use crate::sql::ident::short;
use crate::sql::ddl::{Ddl, DefaultExpr};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddColumn {
    pub table: String,
    pub column: String,
    #[serde(rename = "type")]
    pub data_type: String,
    #[serde(default)]
    pub not_null: bool,
    /// SQL expression for new rows (`false`, `0`, `'pending'`, `now()`); YAML scalars are taken as SQL.
    #[serde(default, deserialize_with = "sql_scalar")]
    pub default: Option<String>,
    /// SQL expression over the row that fills existing rows (and rows the old app writes).
    #[serde(default)]
    pub backfill: Option<String>,
}

/// `default: false` / `default: 0` / `default: "'x'"`: any YAML scalar, kept as SQL text.
fn sql_scalar<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = serde_yaml_ng::Value::deserialize(d)?;
    match value {
        serde_yaml_ng::Value::Null => Ok(None),
        serde_yaml_ng::Value::Bool(b) => Ok(Some(b.to_string())),
        serde_yaml_ng::Value::Number(n) => Ok(Some(n.to_string())),
        serde_yaml_ng::Value::String(s) => Ok(Some(s)),
        _ => Err(serde::de::Error::custom("default must be an SQL expression (a scalar)")),
    }
}

impl ChangeKind for AddColumn {
    fn default_name(&self) -> String {
        super::derived_plan_name(&["add", &self.table, &self.column])
    }

    fn apply_to_model(&self, model: &mut SchemaModel) {
        let Ok(t) = super::resolve_table(model, &self.table, "table").map(|t| t.name.clone()) else { return };
        let (Ok(name), Ok(data_type)) = (super::new_ident(&self.column, "column"), common::resolve_type(model, &self.data_type)) else {
            return;
        };
        if let Some(table) = model.table_mut(&t) {
            table.columns.push(Column { name, data_type, not_null: self.not_null, default: self.default.clone(), generated: None, props: Default::default() });
        }
    }

    fn compile(&self, model: &SchemaModel, cx: &PlanCx) -> Result<ChangePhases, ChangeError> {
        let table = super::resolve_table(model, &self.table, "table")?;
        let t = &table.name;
        let c = super::new_ident(&self.column, "column")?;
        if table.has_column(&c) {
            return Err(ChangeError::new("column", format!("column {} already exists in table {}", short(&c), t.display_short()))
                .help("pick another name, or use set_not_null to change the existing column"));
        }
        let data_type = common::resolve_type(model, &self.data_type)?;
        let default = self.default.as_deref().map(|d| common::parse_expr(d, "default", cx)).transpose()?;
        if let Some(d) = &default {
            common::check_expr_columns(table, d, "default")?;
        }
        let backfill = self.backfill.as_deref().map(|b| common::parse_expr(b, "backfill", cx)).transpose()?;
        if let Some(b) = &backfill {
            common::check_expr_columns(table, b, "backfill")?;
        }
        let cs = short(&c);
        let description = format!("add column {}.{} {}{}", t.display_short(), cs, data_type, if self.not_null { " NOT NULL" } else { "" });
        let volatile_default = default.as_ref().is_some_and(common::is_volatile);

        // Cheapest path: one catalog-only ALTER (PostgreSQL 11+ stores a constant default once).
        if backfill.is_none() && !volatile_default {
            if self.not_null && default.is_none() {
                return Err(ChangeError::new("not_null", format!("{}.{} is NOT NULL but has no default and no backfill: existing rows would have no value", t.display_short(), cs))
                    .help("add `default: <constant>` (instant) or `backfill: <expression over the row>`"));
            }
            let step = Step::new(
                format!("add {cs}{}: catalog-only on PostgreSQL 11+, no table rewrite", if default.is_some() { " with a constant default" } else { "" }),
                Ddl::AddColumn { table: t.clone(), column: c.clone(), data_type: data_type.clone(), collation: None, default: default.clone().map(DefaultExpr::Expr), not_null: self.not_null },
                Lock::AccessExclusiveBrief,
                t,
            )
            .undo(drop_new(t, &c));
            return Ok(ChangePhases {
                description,
                expand: vec![step],
                compat: Some(single_step_compat(&cs)),
                tables: vec![t.clone()],
                ..Default::default()
            });
        }

        let key = common::backfill_key(table, "add a primary key first, or add the column with a constant default")?;
        // Existing rows get the backfill expression, or the (volatile) default evaluated per row.
        let fill = match (&backfill, &default) {
            (Some(b), _) => b.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) => unreachable!("the cheap path handles no backfill and no default"),
        };
        let mut expand = vec![Step::new(
            format!("add {cs} nullable and without default: catalog-only, no rewrite"),
            Ddl::AddColumn { table: t.clone(), column: c.clone(), data_type: data_type.clone(), collation: None, default: None, not_null: false },
            Lock::AccessExclusiveBrief,
            t,
        )
        .undo(drop_new(t, &c))];
        if let Some(d) = &default {
            expand.push(Step::new("default for new rows (SET DEFAULT does not touch existing rows)", Ddl::SetDefault { table: t.clone(), column: c.clone(), default: DefaultExpr::Expr(d.clone()) }, Lock::AccessExclusiveBrief, t)
                .undo(Step::new(format!("drop the default of {cs}"), Ddl::DropDefault { table: t.clone(), column: c.clone() }, Lock::AccessExclusiveBrief, t)));
        }
        // A value computed from other columns is recomputed whenever they change; a per-row
        // generator (a volatile default) only fills rows that have no value.
        let part = common::fill_part(table, &c, &fill, backfill.is_some());

        let mut contract_pre = vec![Precondition::BackfillDone { table: t.clone() }];
        let mut contract = Vec::new();
        if self.not_null {
            contract_pre.push(Precondition::NoNulls { table: t.clone(), column: c.clone() });
            contract.extend(cx.dialect.not_null_without_long_lock(t, &c, &common::not_null_check_name(t, &c), "column")?);
        }
        contract_pre.push(Precondition::ColumnsMatch { table: t.clone() });

        let old_after_contract = if self.not_null && default.is_none() {
            AppAccess { writes: false, reads: true, note: format!("inserts would fail: {cs} is NOT NULL with no default and the fill trigger is gone") }
        } else {
            AppAccess::full(format!("does not know {cs}; new rows get the default"))
        };
        Ok(ChangePhases {
            description,
            expand,
            sync: vec![(t.clone(), part)],
            backfill: vec![BackfillTask {
                table: t.clone(),
                key,
                set: vec![Assignment { column: c.clone(), expr: fill.to_string() }],
                pending: format!("{c} IS NULL"),
            }],
            contract_preconditions: contract_pre,
            contract,
            contract_after_sync: Vec::new(),
            expand_preconditions: Vec::new(),
            expand_after_sync: Vec::new(),
            compat: Some([
                AppCompat {
                    old_app: AppAccess::full(format!("does not know {cs}; the sync trigger fills it on its inserts and recomputes it when its updates change a column it is computed from")),
                    new_app: AppAccess { writes: true, reads: false, note: format!("may write {cs} (an explicit value is kept until a later write changes a column it is computed from); reads of {cs} are complete only after backfill") },
                },
                AppCompat {
                    old_app: AppAccess::full(format!("does not know {cs}; the sync trigger keeps it computed on its writes")),
                    new_app: AppAccess::full(format!("reads and writes {cs}")),
                },
                AppCompat { old_app: old_after_contract, new_app: AppAccess::full(format!("reads and writes {cs}")) },
            ]),
            tables: vec![t.clone()],
        })
    }
}

fn drop_new(t: &crate::sql::QualifiedName, c: &crate::sql::Ident) -> Step {
    Step::new(format!("drop {}", short(c)), Ddl::DropColumn { table: t.clone(), column: c.clone(), if_exists: true }, Lock::AccessExclusiveBrief, t)
}

fn single_step_compat(cs: &str) -> [AppCompat; 3] {
    let compat = AppCompat {
        old_app: AppAccess::full(format!("does not know {cs}; new rows get the default")),
        new_app: AppAccess::full(format!("reads and writes {cs}")),
    };
    [compat.clone(), compat.clone(), compat]
}
