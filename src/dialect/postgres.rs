//! PostgreSQL behind the dialect seam: today's planner. Rendering is `sql::render` (through
//! [`Ddl::render`]); the tactics are the ones the change kinds used directly before the seam.

use super::{Flavour, IdentLimit, IndexCopy, ServerVersion, SqlDialect, SyncSteps};
use crate::error::ChangeError;
use crate::model::{Index, IndexPart};
use crate::plan::{Lock, Precondition, Step, TxMode};
use crate::sql::ddl::{Ddl, SyncPart, TriggerEvent};
use crate::sql::ident::{short, MAX_IDENT_BYTES};
use crate::sql::render::{self, generated_name};
use crate::sql::{rewrite, Ident, QualifiedName};

/// PostgreSQL of one major version (11+; the compiler refuses older ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Postgres {
    pub major: u32,
}

impl SqlDialect for Postgres {
    fn flavour(&self) -> Flavour {
        Flavour::Postgresql
    }

    fn version(&self) -> ServerVersion {
        ServerVersion::major(self.major)
    }

    fn parser(&self) -> Box<dyn sqlparser::dialect::Dialect> {
        Box::new(sqlparser::dialect::PostgreSqlDialect {})
    }

    fn quote_ident(&self, name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }

    fn ident_limit(&self) -> IdentLimit {
        IdentLimit::Bytes(MAX_IDENT_BYTES)
    }

    fn canonical_type(&self, text: &str) -> Option<String> {
        crate::model::types::canonicalize(text)
    }

    fn render(&self, ddl: &Ddl) -> Result<String, ChangeError> {
        Ok(ddl.render())
    }

    fn not_null_without_long_lock(
        &self,
        table: &QualifiedName,
        column: &Ident,
        check: &Ident,
        _field: &'static str,
    ) -> Result<Vec<Step>, ChangeError> {
        Ok(not_null_via_check(table, column, check, self.major))
    }

    fn sync_columns(
        &self,
        plan: &str,
        parts: &[(QualifiedName, SyncPart)],
    ) -> Result<SyncSteps, ChangeError> {
        Ok(sync_steps(plan, parts))
    }

    fn copy_index(
        &self,
        table: &QualifiedName,
        index: &Index,
        from: &Ident,
        to: &Ident,
        field: &'static str,
    ) -> Result<IndexCopy, ChangeError> {
        copy_index_concurrently(table, index, from, to, field)
    }

    fn execution(&self) -> Result<(), String> {
        Ok(())
    }
}

/// CREATE INDEX CONCURRENTLY of `index` with `from` replaced by `to` (keys, INCLUDE, expressions
/// and predicate), outside a transaction: reads and writes continue. A failed build leaves an
/// invalid index, so contract requires the copy to be valid.
fn copy_index_concurrently(
    t: &QualifiedName,
    index: &Index,
    from: &Ident,
    to: &Ident,
    field: &'static str,
) -> Result<IndexCopy, ChangeError> {
    let tmp = generated_name(&[index.name.as_str(), "planner"]);
    let mut keys = Vec::new();
    for k in &index.keys {
        let part = match &k.part {
            IndexPart::Column(c) if c == from => to.to_string(),
            IndexPart::Column(c) => c.to_string(),
            IndexPart::Expression(e) => {
                format!("({})", rewrite::rename_column(e, from, to).map_err(|e| ChangeError::new(field, e))?)
            }
        };
        keys.push(if k.options.is_empty() { part } else { format!("{part} {}", k.options) });
    }
    let include: Vec<Ident> =
        index.include.iter().map(|c| if c == from { to.clone() } else { c.clone() }).collect();
    let predicate = index
        .predicate
        .as_deref()
        .map(|p| rewrite::rename_column(p, from, to))
        .transpose()
        .map_err(|e| ChangeError::new(field, e))?;
    let build = Step::new(
        format!(
            "copy index {} onto {} (CONCURRENTLY: reads and writes continue)",
            short(&index.name),
            short(to)
        ),
        Ddl::CreateIndexConcurrently {
            table: t.clone(),
            index: tmp.clone(),
            unique: index.unique,
            method: index.method.clone(),
            keys,
            include,
            predicate,
        },
        Lock::ShareUpdateExclusive,
        t,
    )
    .tx(TxMode::NoTransaction)
    .scans()
    .undo(
        Step::new(
            format!("drop the copy {} (CONCURRENTLY)", short(&tmp)),
            Ddl::DropIndexConcurrently { table: t.clone(), index: tmp.clone() },
            Lock::ShareUpdateExclusive,
            t,
        )
        .tx(TxMode::NoTransaction),
    );
    let ready = Precondition::IndexValid { table: t.clone(), index: tmp.clone() };
    Ok(IndexCopy { name: tmp, build, ready })
}

/// SET NOT NULL without a long ACCESS EXCLUSIVE scan: CHECK NOT VALID (brief lock), VALIDATE
/// (SHARE UPDATE EXCLUSIVE: traffic continues), then SET NOT NULL, which PostgreSQL 12+ proves
/// from the validated check without scanning, and drop the now-redundant check.
/// On PostgreSQL 11 SET NOT NULL would scan under ACCESS EXCLUSIVE, so the check stays instead.
pub(crate) fn not_null_via_check(
    table: &QualifiedName,
    column: &Ident,
    check: &Ident,
    pg_version: u32,
) -> Vec<Step> {
    let drop_check = |why: &str| {
        Step::new(
            why,
            Ddl::DropConstraint { table: table.clone(), constraint: check.clone(), if_exists: true },
            Lock::AccessExclusiveBrief,
            table,
        )
    };
    let mut steps = vec![
        Step::new(
            format!("guard new rows: CHECK ({} IS NOT NULL) NOT VALID, no scan", column.as_str()),
            Ddl::AddCheckNotValid {
                table: table.clone(),
                constraint: check.clone(),
                check: render::not_null_check_expr(column),
            },
            Lock::AccessExclusiveBrief,
            table,
        )
        .undo(drop_check("drop the NOT NULL check")),
        Step::new(
            "validate existing rows (scans the table; reads and writes continue)",
            Ddl::ValidateConstraint { table: table.clone(), constraint: check.clone() },
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
                Ddl::SetNotNull { table: table.clone(), column: column.clone() },
                Lock::AccessExclusiveBrief,
                table,
            )
            .undo(Step::new(
                format!("drop NOT NULL on {} (catalog only)", column.as_str()),
                Ddl::DropNotNull { table: table.clone(), column: column.clone() },
                Lock::AccessExclusiveBrief,
                table,
            )),
        );
        // No undo: undoing SET NOT NULL drops NOT NULL, and the first step's undo drops the check.
        steps.push(drop_check("drop the check, now redundant"));
    }
    steps
}

/// One sync function per table with every change's part in change order, an INSERT trigger and
/// an UPDATE trigger that fires only when some part has work (see `render::sync_when`).
pub(crate) fn sync_steps(plan: &str, parts: &[(QualifiedName, SyncPart)]) -> SyncSteps {
    let mut by_table: Vec<(QualifiedName, Vec<SyncPart>)> = Vec::new();
    for (table, part) in parts {
        match by_table.iter_mut().find(|(t, _)| t == table) {
            Some((_, list)) => list.push(part.clone()),
            None => by_table.push((table.clone(), vec![part.clone()])),
        }
    }
    let mut out = SyncSteps { create: Vec::new(), drop: Vec::new(), present: Vec::new() };
    for (t, list) in by_table {
        let function = render::function_name(&t, &generated_name(&["planner", plan, t.name.as_str()]));
        let what: Vec<String> = list.iter().map(describe_part).collect();
        let create_function = Ddl::CreateSyncFunction { function: function.clone(), parts: list.clone() };
        let triggers = [
            (TriggerEvent::Insert, generated_name(&["planner", plan, "insert"]), None),
            (
                TriggerEvent::Update,
                generated_name(&["planner", plan, "update"]),
                Some(render::sync_when(&list)),
            ),
        ];
        out.create.push(
            Step::new(
                format!("sync function for both app versions' writes, in change order: {}", what.join("; ")),
                create_function.clone(),
                Lock::None,
                &t,
            )
            .undo(Step::new(
                "drop the sync function",
                Ddl::DropFunction { function: function.clone(), if_exists: true },
                Lock::None,
                &t,
            )),
        );
        for (event, trigger, when) in &triggers {
            let create = Ddl::CreateTrigger {
                trigger: trigger.clone(),
                table: t.clone(),
                function: function.clone(),
                event: *event,
                when: when.clone(),
            };
            let on = match event {
                TriggerEvent::Insert => "insert",
                TriggerEvent::Update => "update (only rows with work to do)",
            };
            out.create.push(
                Step::new(
                    format!("attach the sync trigger on {on} (blocks writes for milliseconds)"),
                    create.clone(),
                    Lock::ShareRowExclusiveBrief,
                    &t,
                )
                .undo(Step::new(
                    format!("detach the {on} sync trigger"),
                    Ddl::DropTrigger { trigger: trigger.clone(), table: t.clone(), if_exists: true },
                    Lock::AccessExclusiveBrief,
                    &t,
                )),
            );
            out.drop.push(
                Step::new(
                    format!("drop the {on} sync trigger: both shapes no longer need to be kept in sync"),
                    Ddl::DropTrigger { trigger: trigger.clone(), table: t.clone(), if_exists: false },
                    Lock::AccessExclusiveBrief,
                    &t,
                )
                .undo(Step::new(
                    format!("attach the {on} sync trigger again"),
                    create,
                    Lock::ShareRowExclusiveBrief,
                    &t,
                )),
            );
            out.present.push(Precondition::TriggerPresent { table: t.clone(), trigger: trigger.clone() });
        }
        out.drop.push(
            Step::new(
                "drop the sync function",
                Ddl::DropFunction { function: function.clone(), if_exists: false },
                Lock::None,
                &t,
            )
            .undo(Step::new("create the sync function again", create_function, Lock::None, &t)),
        );
    }
    out
}

fn describe_part(part: &SyncPart) -> String {
    match part {
        SyncPart::Rename { from, to } => format!("{} <-> {}", short(from), short(to)),
        SyncPart::Fill { column, recompute: true, .. } => format!("compute {}", short(column)),
        SyncPart::Convert { from, to, copy_back: true, .. } => {
            format!("{} <-> {} (converted)", short(from), short(to))
        }
        SyncPart::Convert { from, to, .. } => format!("{} -> {} (converted)", short(from), short(to)),
        SyncPart::Fill { column, .. } => format!("fill NULL {}", short(column)),
    }
}
