//! Add a column, NOT NULL included, without a table rewrite or a long lock.
//!
//! With a constant default (or nullable without one) it is a single catalog-only step on
//! PostgreSQL 11+. With a computed value (`backfill`) or a volatile default: expand adds it nullable
//! with a trigger filling it on every write, backfill fills existing rows, and contract makes it
//! NOT NULL through a validated CHECK and drops the trigger.

use serde::Deserialize;

use super::common::{self, Names};
use super::{ChangeError, ChangeKind, ChangePhases, PlanCx};
use crate::model::{Column, SchemaModel};
use crate::plan::{AppAccess, AppCompat, Assignment, BackfillTask, Lock, Precondition, Step};
use crate::sql::ident::short;
use crate::sql::render;

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
            table.columns.push(Column { name, data_type, not_null: self.not_null, default: self.default.clone(), generated: None });
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
        let default = self.default.as_deref().map(|d| common::parse_expr(d, "default")).transpose()?;
        if let Some(d) = &default {
            common::check_expr_columns(table, d, "default")?;
        }
        let backfill = self.backfill.as_deref().map(|b| common::parse_expr(b, "backfill")).transpose()?;
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
                render::add_column(t, &c, &data_type, default.as_ref().map(|d| d.as_str()), self.not_null),
                Lock::AccessExclusiveBrief,
                t,
            )
            .undo(render::drop_column_if_exists(t, &c));
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
        let names = Names::new(t, &c, "fill");
        let mut expand = vec![Step::new(
            format!("add {cs} nullable and without default: catalog-only, no rewrite"),
            render::add_column(t, &c, &data_type, None, false),
            Lock::AccessExclusiveBrief,
            t,
        )
        .undo(render::drop_column_if_exists(t, &c))];
        if let Some(d) = &default {
            expand.push(Step::new("default for new rows (SET DEFAULT does not touch existing rows)", render::set_default(t, &c, d.as_str()), Lock::AccessExclusiveBrief, t)
                .undo(render::drop_default(t, &c)));
        }
        expand.extend(common::fill_trigger_steps(t, &c, &fill, &names));

        let mut contract_pre = vec![
            Precondition::BackfillDone { table: t.clone() },
            Precondition::TriggerPresent { table: t.clone(), trigger: names.trigger.clone() },
        ];
        let mut contract = Vec::new();
        if self.not_null {
            contract_pre.push(Precondition::NoNulls { table: t.clone(), column: c.clone() });
            contract.extend(common::not_null_via_check(t, &c, &names.not_null_check, cx.pg_version));
        }
        contract_pre.push(Precondition::ColumnsMatch { table: t.clone() });
        contract.extend(common::drop_trigger_steps(t, &names.function, &names.trigger, &common::fill_body(&c, &fill)));

        let old_after_contract = if self.not_null && default.is_none() {
            AppAccess { writes: false, reads: true, note: format!("inserts would fail: {cs} is NOT NULL with no default and the fill trigger is gone") }
        } else {
            AppAccess::full(format!("does not know {cs}; new rows get the default"))
        };
        Ok(ChangePhases {
            description,
            expand,
            backfill: vec![BackfillTask {
                table: t.clone(),
                key,
                set: vec![Assignment { column: c.clone(), expr: fill.to_string() }],
                pending: format!("{c} IS NULL"),
            }],
            contract_preconditions: contract_pre,
            contract,
            compat: Some([
                AppCompat {
                    old_app: AppAccess::full(format!("does not know {cs}; the trigger fills it on its writes")),
                    new_app: AppAccess { writes: true, reads: false, note: format!("may write {cs}; reads of {cs} are complete only after backfill") },
                },
                AppCompat {
                    old_app: AppAccess::full(format!("does not know {cs}; the trigger fills it on its writes")),
                    new_app: AppAccess::full(format!("reads and writes {cs}")),
                },
                AppCompat { old_app: old_after_contract, new_app: AppAccess::full(format!("reads and writes {cs}")) },
            ]),
            tables: vec![t.clone()],
        })
    }
}

fn single_step_compat(cs: &str) -> [AppCompat; 3] {
    let compat = AppCompat {
        old_app: AppAccess::full(format!("does not know {cs}; new rows get the default")),
        new_app: AppAccess::full(format!("reads and writes {cs}")),
    };
    [compat.clone(), compat.clone(), compat]
}
