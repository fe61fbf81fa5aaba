//! Make an existing column NOT NULL without a long ACCESS EXCLUSIVE scan.
//!
//! With `backfill`: expand adds a trigger that fills NULLs on every write, backfill fills existing
//! NULLs. contract (after checking no NULL is left): CHECK NOT VALID, VALIDATE, SET NOT NULL (no scan
//! on PostgreSQL 12+), drop the check and the trigger.
//!
//! Writes from expand until contract: a write of NULL by either app is replaced by the backfill
//! expression over the row (the sync function's fill part, NULLs only); any other value is kept.
//! Without `backfill` nothing is filled, and contract refuses while a NULL is left.

use serde::Deserialize;

use super::common;
use super::{ChangeError, ChangeKind, ChangePhases, PlanCx};
use crate::model::SchemaModel;
use crate::plan::{AppAccess, AppCompat, Assignment, BackfillTask, Precondition};
use crate::sql::ident::short;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetNotNull {
    pub table: String,
    pub column: String,
    /// SQL expression over the row for rows that are NULL (and for NULL writes until contract).
    #[serde(default)]
    pub backfill: Option<String>,
}

impl ChangeKind for SetNotNull {
    fn default_name(&self) -> String {
        super::derived_plan_name(&["set_not_null", &self.table, &self.column])
    }

    fn apply_to_model(&self, model: &mut SchemaModel) {
        let Ok(t) = super::resolve_table(model, &self.table, "table").map(|t| t.name.clone()) else { return };
        let Ok(c) = super::new_ident(&self.column, "column") else { return };
        if let Some(table) = model.table_mut(&t) {
            for col in table.columns.iter_mut().filter(|col| col.name == c) {
                col.not_null = true;
            }
        }
    }

    fn compile(&self, model: &SchemaModel, cx: &PlanCx) -> Result<ChangePhases, ChangeError> {
        let table = super::resolve_table(model, &self.table, "table")?;
        let t = &table.name;
        let column = super::resolve_column(table, &self.column, "column")?;
        let c = &column.name;
        let cs = short(c);
        if column.not_null {
            return Err(ChangeError::new("column", format!("{}.{cs} is already NOT NULL", t.display_short()))
                .help("nothing to do"));
        }
        let backfill = self.backfill.as_deref().map(|b| common::parse_expr(b, "backfill", cx)).transpose()?;
        if let Some(b) = &backfill {
            common::check_expr_columns(table, b, "backfill")?;
        }
        let mut phases = ChangePhases {
            description: format!("set {}.{cs} NOT NULL", t.display_short()),
            tables: vec![t.clone()],
            ..Default::default()
        };
        let mut contract_pre = Vec::new();
        if let Some(fill) = &backfill {
            let key = common::backfill_key(
                table,
                "add a primary key first, or fill the NULLs yourself and plan without `backfill`",
            )?;
            // Only NULL writes are filled: the column exists and both apps may write it.
            phases.sync = vec![(t.clone(), common::fill_part(table, c, fill, false))];
            phases.backfill = vec![BackfillTask {
                table: t.clone(),
                key,
                set: vec![Assignment { column: c.clone(), expr: fill.to_string() }],
                pending: format!("{c} IS NULL"),
            }];
            contract_pre.push(Precondition::BackfillDone { table: t.clone() });
        }
        contract_pre.push(Precondition::NoNulls { table: t.clone(), column: c.clone() });
        contract_pre.push(Precondition::ColumnsMatch { table: t.clone() });
        phases.contract_preconditions = contract_pre;
        phases.contract = cx.dialect.not_null_without_long_lock(t, c, &common::not_null_check_name(t, c), "column")?;
        let filled = if backfill.is_some() { "; the trigger fills NULL writes" } else { "; it must stop writing NULL before contract" };
        phases.compat = Some([
            AppCompat {
                old_app: AppAccess::full(format!("may still write NULL to {cs}{filled}")),
                new_app: AppAccess {
                    writes: true,
                    reads: false,
                    note: format!("always writes {cs}; rows not yet backfilled may still hold NULL"),
                },
            },
            AppCompat {
                old_app: AppAccess::full(format!("may still write NULL to {cs}{filled}")),
                new_app: AppAccess::full(format!("always writes {cs}")),
            },
            AppCompat {
                old_app: AppAccess { writes: false, reads: true, note: format!("writes of NULL to {cs} now fail") },
                new_app: AppAccess::full(format!("always writes {cs}")),
            },
        ]);
        Ok(phases)
    }
}
