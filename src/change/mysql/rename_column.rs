//! Rename a column on MySQL/MariaDB without breaking the app version still running (§9.2).
//!
//! expand: add the new column next to the old one (INSTANT; NOT NULL columns get a placeholder
//! default — the old one's, or `''`/`0` — so contract needs no rebuild), BEFORE INSERT/UPDATE
//! triggers keeping both equal, copies of the old column's indexes (online, no rebuild).
//! backfill: copy the rows that differ. contract: drop the triggers, then one ALTER drops the old
//! column with its indexes and gives the copies the original names.
//!
//! What each app version's writes do, from expand until contract:
//! - INSERT: a given new column (not NULL, not the placeholder) wins; otherwise it takes the old
//!   column's value. Then the old column takes the new one's (the old app's insert sets the old
//!   column, so both end equal either way).
//! - UPDATE that changes only the new column (the new app, the backfill): the old column follows.
//! - any other UPDATE (the old app, or both changed, or neither): the new column follows the old.
//! - after contract only the new column exists.

use super::{
    alter, backfill_key, child_foreign_key, definition, index_copies, new_col, new_column, old_col,
    readers_of, resolve, step, trigger_pair, zero_value, Cx, Parts,
};
use crate::change::{ChangeError, RenameColumn};
use crate::model::{IndexPart, SchemaModel};
use crate::plan::{AppAccess, AppCompat, Assignment, BackfillTask, Lock, Precondition};
use crate::sql::mysql_ddl::{quote_ident, Algorithm, AlterClause, TriggerAssignment};

pub fn compile(change: &RenameColumn, cx: &Cx<'_>) -> Result<(Parts, SchemaModel), ChangeError> {
    let model = cx.model;
    let (table, old) = resolve(model, &change.table, &change.from, "from")?;
    let t = &table.name;
    let tn = t.name.as_str();
    let o = old.name.clone();
    let n = new_column(table, &change.to, "to")?;
    let key = backfill_key(table)?;
    if key.iter().any(|k| k.column == o) {
        return Err(ChangeError::new("from", format!("{tn}.{} is part of the primary key (the key the backfill walks); planner does not rename key columns", o.as_str()))
            .help("rename primary keys in a maintenance window"));
    }
    if old.generated.is_some() {
        return Err(ChangeError::new(
            "from",
            format!("{tn}.{} is a generated column; a trigger cannot keep a copy of it in sync", o.as_str()),
        ));
    }
    if let Some((other, fk)) = model.foreign_keys_referencing(t, &o).first() {
        return Err(ChangeError::new("from", format!(
            "foreign key {} on {} references {tn}.{}; the old column cannot be dropped while it does (and FK cascades do not fire triggers)",
            fk.name.as_str(), other.name.name.as_str(), o.as_str()
        ))
        .help("point the foreign key at another key first, or rename in a maintenance window"));
    }
    if let Some(fk) = child_foreign_key(table, &o) {
        return Err(ChangeError::new("from", format!(
            "{tn}.{} is the child column of foreign key {}; copying a foreign key (added with foreign_key_checks=0, validated by an anti-join) is not planned for MySQL yet",
            o.as_str(), fk.name.as_str()
        )));
    }
    readers_of(model, table, &o, "rename", "from")?;
    for ix in table.indexes_using(&o) {
        if ix.keys.iter().any(|k| matches!(k.part, IndexPart::Expression(_))) {
            return Err(ChangeError::new(
                "from",
                format!(
                    "index {} on {tn} is functional; planner copies only column indexes on MySQL",
                    ix.name.as_str()
                ),
            ));
        }
    }

    // The new column: same definition; NOT NULL keeps a placeholder default so the old app's
    // inserts (which do not name it) succeed and contract needs no NOT NULL rebuild.
    let mut def = definition(old);
    let mut placeholder = None;
    let mut old_gets_default = None;
    if old.not_null {
        let d = match &old.default {
            Some(d) => d.clone(),
            None => {
                let zero = zero_value(&old.data_type).ok_or_else(|| {
                    ChangeError::new("from", format!(
                        "{tn}.{} is NOT NULL without a default and of type {}, which has no neutral placeholder value",
                        o.as_str(), old.data_type
                    ))
                    .help("give the column a default first (ALTER TABLE … ALTER COLUMN … SET DEFAULT …, ALGORITHM=INSTANT)")
                })?;
                old_gets_default = Some(zero.to_string());
                zero.to_string()
            }
        };
        def.default = Some(d.clone());
        placeholder = Some(d);
    } else {
        def.default = None;
    }
    let mut add =
        vec![AlterClause::AddColumn { column: n.clone(), definition: def.clone(), after: Some(o.clone()) }];
    let mut remove = vec![AlterClause::DropColumn { column: n.clone() }];
    if let Some(zero) = &old_gets_default {
        add.push(AlterClause::SetDefault { column: o.clone(), default: zero.clone() });
        remove.push(AlterClause::DropDefault { column: o.clone() });
    }
    let why_default = match (&placeholder, &old_gets_default) {
        (Some(d), None) => format!(", NOT NULL DEFAULT {d} like {}", o.as_str()),
        (Some(d), Some(_)) => format!(
            ", NOT NULL DEFAULT {d} as placeholder; {} gets the same default so the new app may leave it out",
            o.as_str()
        ),
        _ => String::new(),
    };
    let mut expand = vec![step(
        format!("add {} after {} with its definition{why_default} (instant)", n.as_str(), o.as_str()),
        alter(t, add, Algorithm::Instant),
        Lock::MdlExclusiveBrief,
        t,
    )
    .undo(step(
        format!("drop {}", n.as_str()),
        alter(t, remove, Algorithm::Instant),
        Lock::MdlExclusiveBrief,
        t,
    ))];

    // Triggers (§3): compare with <=>; on UPDATE the side the statement changed wins.
    let not_given = match &placeholder {
        Some(d) => format!("{nn} IS NULL OR {nn} <=> {d}", nn = new_col(&n)),
        None => format!("{} IS NULL", new_col(&n)),
    };
    let insert = vec![
        TriggerAssignment {
            column: n.clone(),
            expr: format!("IF({not_given}, {}, {})", new_col(&o), new_col(&n)),
        },
        TriggerAssignment { column: o.clone(), expr: new_col(&n) },
    ];
    let update = vec![
        TriggerAssignment {
            column: o.clone(),
            expr: format!(
                "IF(NOT ({} <=> {}) AND {} <=> {}, {}, {})",
                new_col(&n),
                old_col(&n),
                new_col(&o),
                old_col(&o),
                new_col(&n),
                new_col(&o)
            ),
        },
        TriggerAssignment { column: n.clone(), expr: new_col(&o) },
    ];
    let mut next = model.clone();
    let triggers = trigger_pair(
        cx,
        &mut next,
        t,
        &format!("keep {} and {} equal", o.as_str(), n.as_str()),
        insert,
        update,
    );
    expand.extend(triggers.create);

    // Index copies: one online build each, never in an ALTER with instant clauses. A UNIQUE copy of
    // a column with a placeholder would collide on it until the backfill ends: it is built at the
    // start of contract (the original still enforces uniqueness, the triggers keep both equal).
    let copies = index_copies(cx, table, &o, &n, placeholder.is_some(), |prefix| prefix);
    expand.extend(copies.expand);
    let mut contract = copies.contract;
    let mut contract_pre = vec![Precondition::BackfillDone { table: t.clone() }];
    contract_pre.extend(copies.valid);
    let mut final_clauses = copies.drop_originals;
    let renames = copies.renames;
    contract.extend(triggers.drop);
    final_clauses.push(AlterClause::DropColumn { column: o.clone() });
    match (&old.default, old.not_null) {
        (None, true) => final_clauses.push(AlterClause::DropDefault { column: n.clone() }),
        (Some(d), false) => {
            final_clauses.push(AlterClause::SetDefault { column: n.clone(), default: d.clone() })
        }
        _ => {}
    }
    let drops_index = !renames.is_empty();
    final_clauses.extend(renames);
    let algorithm = if drops_index { cx.target.no_rebuild() } else { Algorithm::Instant };
    contract.push(
        step(
            format!(
                "drop {}{}{} (one statement: all or nothing; no rebuild)",
                o.as_str(),
                if drops_index { " with its indexes, give the copies their names" } else { "" },
                if old.default.is_none() && old.not_null { ", drop the placeholder default" } else { "" }
            ),
            alter(t, final_clauses, algorithm),
            Lock::MdlExclusiveBrief,
            t,
        )
        .irreversible(format!("the data of {tn}.{} is dropped", o.as_str())),
    );
    contract_pre.extend(triggers.present);
    contract_pre.push(Precondition::NoDependents { table: t.clone(), column: o.clone() });
    contract_pre.push(Precondition::ColumnsMatch { table: t.clone() });

    let q = |c: &crate::sql::Ident| quote_ident(c);
    let (os, ns) = (o.as_str(), n.as_str());
    if let Some(tb) = next.tables.get_mut(t) {
        for c in tb.columns.iter_mut().filter(|c| c.name == o) {
            c.name = n.clone();
        }
        for ix in tb.indexes.iter_mut() {
            for k in ix.keys.iter_mut() {
                if k.part == IndexPart::Column(o.clone()) {
                    k.part = IndexPart::Column(n.clone());
                }
            }
        }
    }
    Ok((
        Parts {
            description: format!("rename column {tn}.{os} to {ns}"),
            expand,
            expand_preconditions: Vec::new(),
            backfill: vec![BackfillTask {
                table: t.clone(),
                key,
                set: vec![Assignment { column: n.clone(), expr: q(&o) }],
                pending: format!("NOT ({} <=> {})", q(&n), q(&o)),
            }],
            contract_preconditions: contract_pre,
            contract,
            compat: Some([
                AppCompat {
                    old_app: AppAccess::full(format!(
                        "reads and writes {os}; the triggers copy its writes to {ns}"
                    )),
                    new_app: AppAccess {
                        writes: true,
                        reads: false,
                        note: format!("may write {ns}; reads of {ns} are complete only after backfill"),
                    },
                },
                AppCompat {
                    old_app: AppAccess::full(format!("reads and writes {os}")),
                    new_app: AppAccess::full(format!("reads and writes {ns}")),
                },
                AppCompat {
                    old_app: AppAccess::none(format!("{os} is gone: stop the old app before contract")),
                    new_app: AppAccess::full(format!("reads and writes {ns}")),
                },
            ]),
            table: Some(t.clone()),
        },
        next,
    ))
}
