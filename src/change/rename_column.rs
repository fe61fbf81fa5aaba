//! Rename a column without breaking the app version still running.
//!
//! expand: add the new column, a trigger that keeps both columns equal on every write (so the old
//! app using `from` and the new app using `to` run side by side), copies of the old column's
//! CHECK/FK constraints (NOT VALID, then VALIDATE without blocking) and indexes (CONCURRENTLY).
//! backfill: copy existing rows. contract: NOT NULL via a validated check, the default, drop the
//! trigger and the old column, and give the copies the original names. The copy keeps the old
//! column's collation, comment, statistics target, storage and compression.
//!
//! What each app version's writes do to the other's column, from expand until contract (the
//! table's sync function, [`SyncPart::Rename`]):
//! - old app INSERT (sets `from` only): `to` := `from`.
//! - new app INSERT (sets `to`; `from` gets its default or NULL): a non-NULL `to` wins, `from` := `to`.
//! - UPDATE that changes `to` (new app, or the backfill): `from` := `to`.
//! - any other UPDATE (old app writing `from`, or neither): `to` := `from`.
//! - after contract `from` is gone; only the new app runs.

use serde::Deserialize;

use super::common;
use super::{ChangeError, ChangeKind, ChangePhases, PlanCx};
use crate::model::{ConstraintKind, SchemaModel};
use crate::plan::{AppAccess, AppCompat, Assignment, BackfillTask, Lock, Precondition, Step, TxMode};
use crate::sql::ident::short;
use crate::sql::ddl::{Ddl, DefaultExpr, SyncPart};
use crate::sql::render::{self, generated_name};
use crate::sql::{rewrite, Ident};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameColumn {
    pub table: String,
    pub from: String,
    pub to: String,
}

impl ChangeKind for RenameColumn {
    fn default_name(&self) -> String {
        super::derived_plan_name(&["rename", &self.table, &self.from])
    }

    fn apply_to_model(&self, model: &mut SchemaModel) {
        let Ok(t) = super::resolve_table(model, &self.table, "table").map(|t| t.name.clone()) else { return };
        let (Ok(from), Ok(to)) = (Ident::from_user(&self.from), Ident::from_user(&self.to)) else { return };
        if let Some(table) = model.table_mut(&t) {
            for c in table.columns.iter_mut().filter(|c| c.name == from) {
                c.name = to.clone();
            }
        }
    }

    fn compile(&self, model: &SchemaModel, cx: &PlanCx) -> Result<ChangePhases, ChangeError> {
        let table = super::resolve_table(model, &self.table, "table")?;
        let t = &table.name;
        let old = super::resolve_column(table, &self.from, "from")?;
        let o = &old.name;
        let n = super::new_ident(&self.to, "to")?;
        if table.has_column(&n) {
            return Err(ChangeError::new("to", format!("column {} already exists in table {}", short(&n), t.display_short()))
                .help("pick a name that is not in use"));
        }
        let key = common::backfill_key(
            table,
            "add a primary key first (CREATE UNIQUE INDEX CONCURRENTLY, then ADD PRIMARY KEY USING INDEX)",
        )?;
        if key.iter().any(|k| &k.column == o) {
            return Err(ChangeError::new("from", format!("{}.{} is part of the primary key (the key the backfill walks); planner does not rename key columns", t.display_short(), short(o)))
                .help("primary keys are referenced by foreign keys and the backfill itself; rename them in a maintenance window"));
        }
        if old.generated.is_some() {
            return Err(ChangeError::new("from", format!("{}.{} is a generated or identity column; it cannot be kept in sync by a trigger", t.display_short(), short(o))));
        }
        if let Some((other, fk)) = model.foreign_keys_referencing(t, o).first() {
            return Err(ChangeError::new("from", format!(
                "foreign key {} on {} references {}.{}; the old column cannot be dropped while it does",
                short(&fk.name), other.name.display_short(), t.display_short(), short(o)
            )).help("point the foreign key at another key first, or rename in a maintenance window"));
        }
        if let Some(view) = model.views_using(t, o).first() {
            return Err(ChangeError::new("from", format!(
                "view {} reads {}.{}; contract could not drop the old column",
                view.name.display_short(), t.display_short(), short(o)
            )).help("drop or redefine the view without the column first, then plan the rename"));
        }

        if let Some(compression) = &old.props.compression {
            if cx.pg_version() < 14 {
                return Err(ChangeError::new("from", format!(
                    "{}.{} uses compression {compression}, which PostgreSQL {} cannot set on the copy",
                    t.display_short(), short(o), cx.pg_version()
                )));
            }
        }
        let mut expand = vec![Step::new(
            format!("add {} next to {} (nullable, no default: instant)", short(&n), short(o)),
            Ddl::AddColumn { table: t.clone(), column: n.clone(), data_type: old.data_type.clone(), collation: old.props.collation.clone(), default: None, not_null: false },
            Lock::AccessExclusiveBrief,
            t,
        )
        .undo(Step::new(format!("drop {}", short(&n)), Ddl::DropColumn { table: t.clone(), column: n.clone(), if_exists: true }, Lock::AccessExclusiveBrief, t))];
        // Properties a copy must keep so it behaves like the old column (catalog only).
        let props = &old.props;
        if let Some(target) = props.statistics {
            expand.push(Step::new(format!("carry the statistics target {target} over"), Ddl::SetStatistics { table: t.clone(), column: n.clone(), target }, Lock::ShareUpdateExclusive, t));
        }
        if let Some(storage) = &props.storage {
            expand.push(Step::new(format!("carry storage {storage} over"), Ddl::SetStorage { table: t.clone(), column: n.clone(), storage: storage.clone() }, Lock::AccessExclusiveBrief, t));
        }
        if let Some(compression) = &props.compression {
            expand.push(Step::new(format!("carry compression {compression} over"), Ddl::SetCompression { table: t.clone(), column: n.clone(), compression: compression.clone() }, Lock::AccessExclusiveBrief, t));
        }
        if let Some(comment) = &props.comment {
            expand.push(Step::new("carry the column comment over", Ddl::CommentOnColumn { table: t.clone(), column: n.clone(), comment: Some(comment.clone()) }, Lock::ShareUpdateExclusive, t));
        }

        let mut contract_pre = vec![Precondition::BackfillDone { table: t.clone() }];
        let mut after_sync = Vec::new();
        // Renames that give copies the original names back, after the old column is gone.
        let mut renames: Vec<Step> = Vec::new();
        let drop_copy = |tmp: &crate::sql::Ident, what: &str| Step::new(format!("drop the copy of {what}"), Ddl::DropConstraint { table: t.clone(), constraint: tmp.clone(), if_exists: true }, Lock::AccessExclusiveBrief, t);

        for c in table.constraints_using(o) {
            let tmp = generated_name(&[c.name.as_str(), "planner"]);
            match &c.kind {
                ConstraintKind::Check { expr } => {
                    let rewritten = rewrite::rename_column(expr, o, &n).map_err(|e| ChangeError::new("from", e))?;
                    after_sync.push(
                        Step::new(format!("copy CHECK {} onto {} (NOT VALID: no scan)", short(&c.name), short(&n)),
                            Ddl::AddCheckNotValid { table: t.clone(), constraint: tmp.clone(), check: rewritten }, Lock::AccessExclusiveBrief, t)
                        .undo(drop_copy(&tmp, short(&c.name).as_str())),
                    );
                }
                ConstraintKind::ForeignKey { references, ref_columns, on_delete, on_update } => {
                    let cols: Vec<Ident> = c.columns.iter().map(|x| if x == o { n.clone() } else { x.clone() }).collect();
                    after_sync.push(
                        Step::new(format!("copy FOREIGN KEY {} onto {} (NOT VALID: no scan)", short(&c.name), short(&n)),
                            Ddl::AddForeignKeyNotValid { table: t.clone(), constraint: tmp.clone(), columns: cols, references: references.clone(), ref_columns: ref_columns.clone(), on_delete: on_delete.clone(), on_update: on_update.clone() },
                            Lock::ShareRowExclusiveBrief, t)
                        .undo(drop_copy(&tmp, short(&c.name).as_str())),
                    );
                }
                // UNIQUE is copied through its index below; anything else we cannot rewrite.
                ConstraintKind::Unique => continue,
                ConstraintKind::PrimaryKey => unreachable!("primary key columns are refused above"),
                ConstraintKind::Other { definition } => {
                    return Err(ChangeError::new("from", format!(
                        "constraint {} ({definition}) uses {}.{}; planner cannot copy it",
                        short(&c.name), t.display_short(), short(o)
                    )));
                }
            }
            if c.validated {
                after_sync.push(
                    Step::new(format!("validate the copy of {} (scans; reads and writes continue)", short(&c.name)),
                        Ddl::ValidateConstraint { table: t.clone(), constraint: tmp.clone() }, Lock::ShareUpdateExclusive, t)
                    .tx(TxMode::OwnTransaction)
                    .scans(),
                );
                contract_pre.push(Precondition::ConstraintValid { table: t.clone(), constraint: tmp.clone() });
            }
            renames.push(Step::new(format!("give the copy the original name {}", short(&c.name)),
                Ddl::RenameConstraint { table: t.clone(), from: tmp.clone(), to: c.name.clone() }, Lock::AccessExclusiveBrief, t)
                .undo(Step::new(format!("give the copy its planner name {}", short(&tmp)), Ddl::RenameConstraint { table: t.clone(), from: c.name.clone(), to: tmp.clone() }, Lock::AccessExclusiveBrief, t)));
        }

        for index in table.indexes_using(o) {
            let copy = cx.dialect.copy_index(t, index, o, &n, "from")?;
            let tmp = copy.name;
            after_sync.push(copy.build);
            contract_pre.push(copy.ready);
            renames.push(match &index.constraint {
                Some(constraint) => Step::new(format!("turn the copy into constraint {}", short(constraint)),
                    Ddl::AddUniqueUsingIndex { table: t.clone(), constraint: constraint.clone(), index: tmp.clone() }, Lock::AccessExclusiveBrief, t),
                None => Step::new(format!("give the copy the original name {}", short(&index.name)),
                    Ddl::RenameIndex { table: t.clone(), from: tmp.clone(), to: index.name.clone() }, Lock::ShareUpdateExclusive, t),
            });
        }

        if old.not_null {
            contract_pre.push(Precondition::NoNulls { table: t.clone(), column: n.clone() });
        }
        contract_pre.push(Precondition::NoDependents { table: t.clone(), column: o.clone() });
        contract_pre.push(Precondition::ColumnsMatch { table: t.clone() });

        let gone = format!("drops column {} and its data; to go back, plan a rename of {} to {}", short(o), short(&n), short(o));
        let mut contract = Vec::new();
        if old.not_null {
            contract.extend(cx.dialect.not_null_without_long_lock(t, &n, &common::not_null_check_name(t, &n), "from")?);
        }
        if let Some(default) = &old.default {
            contract.push(Step::new(format!("carry the default of {} over", short(o)), Ddl::SetDefault { table: t.clone(), column: n.clone(), default: DefaultExpr::Catalog(default.clone()) }, Lock::AccessExclusiveBrief, t)
                .undo(Step::new(format!("drop the default of {}", short(&n)), Ddl::DropDefault { table: t.clone(), column: n.clone() }, Lock::AccessExclusiveBrief, t)));
        }
        // A serial column's sequence belongs to the old column and would be dropped with it.
        if let Some(sequence) = old.default.as_deref().and_then(render::nextval_sequence) {
            contract.push(Step::new(
                format!("hand the sequence {sequence} over to {}", short(&n)),
                Ddl::SequenceOwnedBy { sequence: sequence.to_string(), table: t.clone(), column: n.clone() },
                Lock::AccessExclusiveBrief,
                t,
            ).undo(Step::new(format!("hand the sequence {sequence} back to {}", short(o)), Ddl::SequenceOwnedBy { sequence: sequence.to_string(), table: t.clone(), column: o.clone() }, Lock::AccessExclusiveBrief, t)));
        }
        let mut contract_after_sync = vec![Step::new(format!("drop the old column {} (catalog only; its indexes and constraints go with it)", short(o)),
            Ddl::DropColumn { table: t.clone(), column: o.clone(), if_exists: false }, Lock::AccessExclusiveBrief, t).irreversible(gone)];
        contract_after_sync.extend(renames);

        let (os, ns) = (short(o), short(&n));
        Ok(ChangePhases {
            description: format!("rename column {}.{} to {}", t.display_short(), os, ns),
            expand,
            sync: vec![(t.clone(), SyncPart::Rename { from: o.clone(), to: n.clone() })],
            expand_preconditions: Vec::new(),
            expand_after_sync: after_sync,
            contract_after_sync,
            backfill: vec![BackfillTask {
                table: t.clone(),
                key,
                set: vec![Assignment { column: n.clone(), expr: o.to_string() }],
                pending: format!("{n} IS DISTINCT FROM {o}"),
            }],
            contract_preconditions: contract_pre,
            contract,
            compat: Some([
                AppCompat {
                    old_app: AppAccess::full(format!("reads and writes {os}; the sync trigger copies each write of {os} to {ns}")),
                    new_app: AppAccess { writes: true, reads: false, note: format!("may write {ns} (copied to {os}: on insert a non-NULL {ns} wins, on update the column the statement changed wins); reads of {ns} are complete only after backfill") },
                },
                AppCompat {
                    old_app: AppAccess::full(format!("reads and writes {os}")),
                    new_app: AppAccess::full(format!("reads and writes {ns}")),
                },
                AppCompat {
                    old_app: AppAccess::none(format!("column {os} no longer exists")),
                    new_app: AppAccess::full(format!("reads and writes {ns}")),
                },
            ]),
            tables: vec![t.clone()],
        })
    }
}
