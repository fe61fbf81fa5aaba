//! Drop a column without breaking the app version still running.
//!
//! expand: make the column stop mattering (drop NOT NULL when it has no default) so the new app
//! can insert rows without it. contract, once the old app is gone: check nothing depends on it,
//! then drop it (catalog only).

use serde::Deserialize;

use super::common;
use super::{ChangeError, ChangeKind, ChangePhases, PlanCx};
use crate::model::SchemaModel;
use crate::plan::{AppAccess, AppCompat, Lock, Precondition, Step};
use crate::sql::ident::short;
use crate::sql::ddl::Ddl;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropColumn {
    pub table: String,
    pub column: String,
}

impl ChangeKind for DropColumn {
    fn default_name(&self) -> String {
        super::derived_plan_name(&["drop", &self.table, &self.column])
    }

    fn apply_to_model(&self, model: &mut SchemaModel) {
        let Ok(t) = super::resolve_table(model, &self.table, "table").map(|t| t.name.clone()) else { return };
        let Ok(c) = super::new_ident(&self.column, "column") else { return };
        if let Some(table) = model.table_mut(&t) {
            table.columns.retain(|col| col.name != c);
            table.indexes.retain(|i| !i.uses_column(&c));
            table.constraints.retain(|k| !k.columns.contains(&c));
        }
    }

    fn compile(&self, model: &SchemaModel, cx: &PlanCx) -> Result<ChangePhases, ChangeError> {
        let table = super::resolve_table(model, &self.table, "table")?;
        let t = &table.name;
        let column = super::resolve_column(table, &self.column, "column")?;
        let c = &column.name;
        let cs = short(c);
        if table.primary_key().is_some_and(|pk| pk.columns.contains(c)) {
            return Err(ChangeError::new("column", format!("{}.{cs} is part of the primary key", t.display_short()))
                .help("replace the primary key first; planner does not drop primary-key columns"));
        }
        if let Some(view) = model.views_using(t, c).first() {
            return Err(ChangeError::new("column", format!("view {} reads {}.{cs}", view.name.display_short(), t.display_short()))
                .help("drop or redefine the view without the column first, then plan the drop"));
        }
        if let Some((other, fk)) = model.foreign_keys_referencing(t, c).iter().find(|(o, _)| &o.name != t) {
            return Err(ChangeError::new("column", format!(
                "foreign key {} on {} references {}.{cs}",
                short(&fk.name),
                other.name.display_short(),
                t.display_short()
            ))
            .help("drop that foreign key first (in its own migration)"));
        }

        let mut expand = Vec::new();
        if column.not_null && column.default.is_none() && column.generated.is_none() {
            // Undone the safe way: CHECK NOT VALID + VALIDATE + SET NOT NULL, never one scan under
            // ACCESS EXCLUSIVE (it fails, changing nothing, once the new app inserted NULLs).
            let check = common::not_null_check_name(t, c);
            expand.push(
                Step::new(
                    format!("drop NOT NULL on {cs} so the new app can insert rows without it (catalog only)"),
                    Ddl::DropNotNull { table: t.clone(), column: c.clone() },
                    Lock::AccessExclusiveBrief,
                    t,
                )
                .undo_by(cx.dialect.not_null_without_long_lock(t, c, &check, "column")?),
            );
        }
        let contract = vec![Step::new(
            format!("drop column {cs} (catalog only; its indexes and constraints go with it)"),
            Ddl::DropColumn { table: t.clone(), column: c.clone(), if_exists: false },
            Lock::AccessExclusiveBrief,
            t,
        )
        .irreversible(format!("the data in {cs} is deleted; restore it from a backup if needed"))];
        Ok(ChangePhases {
            description: format!("drop column {}.{cs}", t.display_short()),
            expand,
            backfill: Vec::new(),
            sync: Vec::new(),
            expand_preconditions: Vec::new(),
            expand_after_sync: Vec::new(),
            contract_after_sync: Vec::new(),
            contract_preconditions: vec![
                Precondition::NoDependents { table: t.clone(), column: c.clone() },
                Precondition::ColumnsMatch { table: t.clone() },
            ],
            contract,
            compat: Some([
                AppCompat {
                    old_app: AppAccess::full(format!("still reads and writes {cs}")),
                    new_app: AppAccess::full(format!("must not read or write {cs}")),
                },
                AppCompat {
                    old_app: AppAccess::full(format!("still reads and writes {cs}")),
                    new_app: AppAccess::full(format!("must not read or write {cs}")),
                },
                AppCompat {
                    old_app: AppAccess::none(format!("column {cs} no longer exists")),
                    new_app: AppAccess::full(format!("does not use {cs}")),
                },
            ]),
            tables: vec![t.clone()],
        })
    }
}
