//! Change a column's type without the table rewrite `ALTER COLUMN … TYPE` does under ACCESS
//! EXCLUSIVE (hours on a large table), including integer → bigint primary keys that other tables
//! reference.
//!
//! Three paths, chosen from the two types and the server version (the plan says which and why):
//! - **catalog only** (one transaction of milliseconds): `varchar(n)` → `varchar(m ≥ n)`, `text`
//!   or `varchar`; `text` ↔ `varchar`; `numeric(p,s)` → `numeric(q ≥ p, s)` or `numeric`; `cidr` →
//!   `inet`; `timestamp` → `timestamptz` on PostgreSQL 12+ with `TimeZone` UTC for a column no index
//!   uses (PostgreSQL rebuilds such an index under the lock, so an indexed column takes the rewrite
//!   path). A CHECK on the column would be re-verified by a scan under the lock: it is swapped for a
//!   NOT VALID copy around the ALTER and validated after (SHARE UPDATE EXCLUSIVE).
//! - **length limit** (`text` → `varchar(n)`, `varchar(n)` → `varchar(m < n)`): PostgreSQL
//!   rewrites the table for these even when every value fits (measured on 15), so the limit becomes
//!   `CHECK (char_length(c) <= n)` added NOT VALID and validated; the column keeps its type. Give
//!   `using:` to get the exact type through the rewrite path instead.
//! - **rewrite** (anything else, or `using:` given): expand adds a shadow column of the new type
//!   and one sync trigger per table (the old app's writes are converted into it; writes of the
//!   shadow column are assigned back where that round trip is exact), copies of the column's
//!   indexes (CONCURRENTLY), CHECK and FOREIGN KEY constraints (NOT VALID, then VALIDATE);
//!   backfill converts existing rows; contract verifies every row in key-ordered chunks, then one
//!   short transaction (one LOCK TABLE of every table involved, under lock_timeout and retries)
//!   sets NOT NULL (proven by a validated check), moves the default and the sequence, drops the old
//!   column, renames the shadow column into its place and gives indexes and constraints their
//!   names (a primary key through `ADD CONSTRAINT … PRIMARY KEY USING INDEX`).
//!
//! A key that foreign keys reference: each referencing column of the same old type changes type
//! in the same plan (its own shadow column, sync trigger, backfill and index copies); the foreign
//! keys are dropped in the swap and re-created NOT VALID, then validated.

use serde::Deserialize;

use super::common::{self, split_type};
use super::{ChangeError, ChangeKind, ChangePhases, PlanCx};
use crate::model::{Column, ConstraintKind, Generated, SchemaModel, Table, View};
use crate::plan::{AppAccess, AppCompat, Assignment, BackfillTask, Lock, Precondition, Step, TxMode};
use crate::sql::ddl::{Ddl, DefaultExpr, SyncPart};
use crate::sql::ident::short;
use crate::sql::render::{self, generated_name};
use crate::sql::{rewrite, Ident, QualifiedName, SqlExpr};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeType {
    pub table: String,
    pub column: String,
    #[serde(rename = "type")]
    pub data_type: String,
    /// SQL expression over the row giving the new value (default: a plain cast of the column).
    #[serde(default)]
    pub using: Option<String>,
}

/// Which way the type changes (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Path {
    /// One catalog update; `utc`: needs `TimeZone` UTC in its transaction.
    Catalog { why: String, utc: bool },
    /// A `char_length` CHECK instead of a shorter varchar limit.
    LengthCheck { limit: u32 },
    /// Shadow column, sync, backfill, swap; `why` says what makes the cheap paths impossible.
    Rewrite { why: String },
}

fn is_text_like(t: &str) -> bool {
    matches!(split_type(t), (name, _) if name == "text" || name == "character varying")
}

fn integer_rank(t: &str) -> Option<u8> {
    match t {
        "smallint" => Some(1),
        "integer" => Some(2),
        "bigint" => Some(3),
        _ => None,
    }
}

/// Does every value the old type holds convert to the new one (no row can fail)?
fn always_converts(from: &str, to: &str) -> bool {
    let widening = matches!((integer_rank(from), integer_rank(to)), (Some(a), Some(b)) if b > a);
    widening || to == "text" || to == "character varying"
}

/// Can a value written to the new column be assigned back to the old one and convert to the
/// same value again (new → old → new is the identity, or the write fails)? Then both columns may
/// be written until contract. Integer widening (an out-of-range value fails the write) and
/// text → integer types or uuid (the integer's text converts back to it) qualify.
fn exact_round_trip(from: &str, to: &str, plain_cast: bool) -> bool {
    if !plain_cast {
        return false;
    }
    let widening = matches!((integer_rank(from), integer_rank(to)), (Some(a), Some(b)) if b > a);
    widening || (from == "text" && (integer_rank(to).is_some() || to == "uuid"))
}

fn choose_path(from: &str, to: &str, pg_version: u32, indexed: bool, using: bool) -> Path {
    if using {
        return Path::Rewrite { why: "a `using` expression computes every value: every row is rewritten".into() };
    }
    let (fname, fmods) = split_type(from);
    let (tname, tmods) = split_type(to);
    let varchar = "character varying";
    if is_text_like(from) && is_text_like(to) {
        match (fmods.first(), tmods.first()) {
            (_, None) => {
                return Path::Catalog {
                    why: format!("{from} -> {to} is binary coercible: no rewrite, indexes kept"),
                    utc: false,
                }
            }
            (Some(n), Some(m)) if m >= n && fname == varchar && tname == varchar => {
                return Path::Catalog {
                    why: format!("a longer varchar limit ({n} -> {m}) only changes the catalog: no rewrite, indexes kept"),
                    utc: false,
                }
            }
            (_, Some(m)) => return Path::LengthCheck { limit: *m },
        }
    }
    if fname == "numeric" && tname == "numeric" {
        match (fmods.as_slice(), tmods.as_slice()) {
            ([_, ..], []) => {
                return Path::Catalog { why: format!("{from} -> numeric only drops the limit: no rewrite"), utc: false }
            }
            ([p, rest @ ..], [q, trest @ ..]) if q >= p && rest.first().unwrap_or(&0) == trest.first().unwrap_or(&0) => {
                return Path::Catalog {
                    why: format!("a larger numeric precision at the same scale ({p} -> {q}) only changes the catalog: no rewrite"),
                    utc: false,
                }
            }
            _ => {}
        }
    }
    if from == "cidr" && to == "inet" {
        return Path::Catalog { why: "cidr -> inet is binary coercible: no rewrite, indexes kept".into(), utc: false };
    }
    let same_precision = fmods == tmods;
    if fname == "timestamp without time zone" && tname == "timestamp with time zone" && same_precision {
        if pg_version < 12 {
            return Path::Rewrite { why: format!("timestamp -> timestamptz rewrites the table before PostgreSQL 12 (planning for {pg_version})") };
        }
        if indexed {
            return Path::Rewrite {
                why: "timestamp -> timestamptz with TimeZone UTC skips the table rewrite, but PostgreSQL rebuilds every index on the column under ACCESS EXCLUSIVE; the copies are built CONCURRENTLY instead".into(),
            };
        }
        return Path::Catalog {
            why: "timestamp -> timestamptz with TimeZone UTC only changes the catalog on PostgreSQL 12+ (existing values are read as UTC; for another zone give `using: \"c AT TIME ZONE '…'\"`)".into(),
            utc: true,
        };
    }
    Path::Rewrite { why: format!("{from} -> {to} converts every value: PostgreSQL would rewrite the table and every index under ACCESS EXCLUSIVE") }
}

impl ChangeKind for ChangeType {
    fn default_name(&self) -> String {
        super::derived_plan_name(&["change_type", &self.table, &self.column])
    }

    fn apply_to_model(&self, model: &mut SchemaModel) {
        let Ok(table) = super::resolve_table(model, &self.table, "table") else { return };
        let t = table.name.clone();
        let Ok(column) = super::resolve_column(table, &self.column, "column") else { return };
        let (c, from) = (column.name.clone(), column.data_type.clone());
        let Ok(to) = common::resolve_type(model, &self.data_type) else { return };
        if matches!(choose_path(&from, &to, model.pg_version, true, self.using.is_some()), Path::LengthCheck { .. }) {
            return; // the type stays; a CHECK holds the limit
        }
        let referencing: Vec<(QualifiedName, Ident)> = model
            .foreign_keys_referencing(&t, &c)
            .into_iter()
            .filter_map(|(r, fk)| fk.columns.first().map(|rc| (r.name.clone(), rc.clone())))
            .collect();
        let mut set = |table: &QualifiedName, column: &Ident, only_from: Option<&str>| {
            if let Some(tab) = model.table_mut(table) {
                for col in tab.columns.iter_mut().filter(|x| &x.name == column) {
                    if only_from.is_none_or(|f| f == col.data_type) {
                        col.data_type = to.clone();
                    }
                }
            }
        };
        set(&t, &c, None);
        for (r, rc) in referencing {
            set(&r, &rc, Some(from.as_str()));
        }
    }

    fn compile(&self, model: &SchemaModel, cx: &PlanCx) -> Result<ChangePhases, ChangeError> {
        let table = super::resolve_table(model, &self.table, "table")?;
        let t = &table.name;
        let column = super::resolve_column(table, &self.column, "column")?;
        let c = &column.name;
        let to = common::resolve_type(model, &self.data_type)?;
        let from = column.data_type.clone();
        let name = format!("{}.{}", t.display_short(), short(c));
        if from == to {
            return Err(ChangeError::new("type", format!("{name} is already {to}")).help("nothing to do"));
        }
        if let Some(Generated::Stored(_)) = &column.generated {
            return Err(ChangeError::new("column", format!("{name} is a generated column; its type follows its expression"))
                .help("drop and re-add the generated column with the new type"));
        }
        let using = match &self.using {
            Some(text) => {
                let e = common::parse_expr(text, "using", cx)?;
                common::check_expr_columns(table, &e, "using")?;
                Some(e)
            }
            None => None,
        };
        let generated: Vec<String> = table
            .columns
            .iter()
            .filter(|x| matches!(&x.generated, Some(Generated::Stored(e)) if rewrite::references_column(e, c)))
            .map(|x| short(&x.name))
            .collect();
        if !generated.is_empty() {
            return Err(ChangeError::new("column", format!("{name} is read by generated column{} {}; PostgreSQL cannot change the type of a column a generated column uses", if generated.len() == 1 { "" } else { "s" }, generated.join(", ")))
                .help("drop the generated columns, change the type, then add them again"));
        }
        let indexed = !table.indexes_using(c).is_empty();
        let description = format!("change type of {name} from {from} to {to}");
        match choose_path(&from, &to, cx.pg_version(), indexed, using.is_some()) {
            Path::Catalog { why, utc } => {
                let views = views_to_recreate(model, &[(t.clone(), c.clone())])?;
                Ok(catalog_only(table, column, &to, &why, utc, description, &views))
            }
            Path::LengthCheck { limit } => length_check(table, column, &to, limit, description),
            Path::Rewrite { why } => {
                let plain_cast = using.is_none();
                let expr = match using {
                    Some(e) => e,
                    None => default_using(c, &from, &to)?,
                };
                rewrite_plan(model, cx, table, column, &to, expr, plain_cast, &why, description)
            }
        }
    }
}

/// A plain cast, or for timestamp -> timestamptz the explicit UTC reading (immutable, so the sync
/// trigger does not depend on any session's TimeZone).
fn default_using(c: &Ident, from: &str, to: &str) -> Result<SqlExpr, ChangeError> {
    let text = if split_type(from).0 == "timestamp without time zone" && split_type(to).0 == "timestamp with time zone" {
        format!("{c} AT TIME ZONE 'UTC'")
    } else {
        format!("{c}::{to}")
    };
    SqlExpr::parse(&text).map_err(|e| ChangeError::new("type", format!("cannot cast to {to}: {e}")).help("give `using:` an expression that converts the column"))
}

/// The catalog-only ALTER in one transaction, with every CHECK on the column swapped for a NOT
/// VALID copy around it (PostgreSQL re-verifies a valid CHECK by scanning under the lock).
fn catalog_only(table: &Table, column: &Column, to: &str, why: &str, utc: bool, description: String, views: &[&View]) -> ChangePhases {
    let t = &table.name;
    let c = &column.name;
    let cs = short(c);
    let mut steps = Vec::new();
    if utc {
        steps.push(Step::new("read timestamp values as UTC in this transaction (what makes the change catalog-only)", Ddl::SetLocalTimeZone { zone: "UTC".into() }, Lock::None, t));
    }
    let checks: Vec<(&Ident, &String, bool)> = table
        .constraints_using(c)
        .into_iter()
        .filter_map(|k| match &k.kind {
            ConstraintKind::Check { expr } => Some((&k.name, expr, k.validated)),
            _ => None,
        })
        .collect();
    let mut after = Vec::new();
    let mut validate = Vec::new();
    for (name, expr, validated) in &checks {
        let tmp = generated_name(&[name.as_str(), "planner"]);
        steps.push(Step::new(format!("copy CHECK {} NOT VALID, so the ALTER does not scan to re-verify it", short(name)), Ddl::AddCheckNotValid { table: t.clone(), constraint: tmp.clone(), check: (*expr).clone() }, Lock::AccessExclusiveBrief, t));
        steps.push(Step::new(format!("drop CHECK {} (its copy guards every write meanwhile)", short(name)), Ddl::DropConstraint { table: t.clone(), constraint: (*name).clone(), if_exists: false }, Lock::AccessExclusiveBrief, t));
        after.push(Step::new(format!("give the copy the name {}", short(name)), Ddl::RenameConstraint { table: t.clone(), from: tmp, to: (*name).clone() }, Lock::AccessExclusiveBrief, t));
        if *validated {
            validate.push(
                Step::new(format!("validate {} (scans; reads and writes continue)", short(name)), Ddl::ValidateConstraint { table: t.clone(), constraint: (*name).clone() }, Lock::ShareUpdateExclusive, t)
                    .tx(TxMode::OwnTransaction)
                    .scans(),
            );
        }
    }
    let back = format!("going back from {to} to {} is not catalog-only (PostgreSQL would rewrite or scan); plan a change_type back if needed", column.data_type);
    let alter = Step::new(format!("{cs} becomes {to}: {why}"), Ddl::AlterColumnType { table: t.clone(), column: c.clone(), data_type: to.to_string() }, Lock::AccessExclusiveBrief, t);
    // PostgreSQL refuses to change the type of a column a view reads, even in the catalog only.
    steps.extend(views.iter().map(|v| drop_view_step(v, t)));
    steps.push(if utc {
        // timestamptz -> timestamp under UTC is catalog-only too.
        let mut undo = vec![Step::new("read timestamptz values as UTC in this transaction", Ddl::SetLocalTimeZone { zone: "UTC".into() }, Lock::None, t)];
        undo.push(Step::new(format!("{cs} back to {}", column.data_type), Ddl::AlterColumnType { table: t.clone(), column: c.clone(), data_type: column.data_type.clone() }, Lock::AccessExclusiveBrief, t));
        alter.undo_by(undo)
    } else {
        alter.irreversible(back)
    });
    steps.extend(views.iter().map(|v| create_view_step(v, t)));
    steps.extend(after);
    steps.extend(validate);
    let note = format!("reads and writes {cs}; it is {to} once expand is applied (catalog-only: no rewrite){}", views_note(views));
    let compat = AppCompat { old_app: AppAccess::full(note.clone()), new_app: AppAccess::full(note) };
    let description = format!("{description}{}", views_description(views));
    ChangePhases { description, expand: steps, compat: Some([compat.clone(), compat.clone(), compat]), tables: vec![t.clone()], ..Default::default() }
}

/// A shorter length limit as a validated CHECK: the type stays (PostgreSQL rewrites the table for
/// `text` -> `varchar(n)` even when every value fits).
fn length_check(table: &Table, column: &Column, to: &str, limit: u32, description: String) -> Result<ChangePhases, ChangeError> {
    let t = &table.name;
    let c = &column.name;
    let cs = short(c);
    let check = generated_name(&[t.name.as_str(), c.as_str(), "length"]);
    let expr = SqlExpr::parse(&format!("{c}")).map_err(|e| ChangeError::new("column", e.to_string()))?;
    let steps = vec![
        Step::new(
            format!("limit {cs} to {limit} characters: CHECK NOT VALID (no scan). The type stays {}: PostgreSQL rewrites the table for a shorter limit even when every value fits; give `using: \"{cs}::{to}\"` for the exact type (expand/backfill/contract)", column.data_type),
            Ddl::AddCheckNotValid { table: t.clone(), constraint: check.clone(), check: format!("char_length({c}) <= {limit}") },
            Lock::AccessExclusiveBrief,
            t,
        )
        .undo(Step::new("drop the length check", Ddl::DropConstraint { table: t.clone(), constraint: check.clone(), if_exists: true }, Lock::AccessExclusiveBrief, t)),
        Step::new("validate existing rows (scans; reads and writes continue)", Ddl::ValidateConstraint { table: t.clone(), constraint: check }, Lock::ShareUpdateExclusive, t)
            .tx(TxMode::OwnTransaction)
            .scans(),
    ];
    let note = format!("reads and writes {cs}; from expand on a value over {limit} characters is refused");
    let compat = AppCompat { old_app: AppAccess::full(note.clone()), new_app: AppAccess::full(note) };
    Ok(ChangePhases {
        description: format!("{description} (as CHECK (char_length({cs}) <= {limit}); the type stays {})", column.data_type),
        expand_preconditions: vec![Precondition::ConvertsCleanly { table: t.clone(), expr, data_type: to.to_string() }],
        expand: steps,
        compat: Some([compat.clone(), compat.clone(), compat]),
        tables: vec![t.clone()],
        ..Default::default()
    })
}

/// One column that changes type through a shadow column (the asked one, or a column whose
/// foreign key references it).
struct Shadow<'m> {
    table: &'m Table,
    old: &'m Column,
    new: Ident,
    to: String,
    expr: SqlExpr,
    copy_back: bool,
    /// `expr` is the plain cast of the column (no `using`).
    plain_cast: bool,
    /// The foreign key of this column that references the changing key: re-created in the swap.
    skip_fk: Option<Ident>,
}

/// Steps of every shadow column, assembled into phases in one order.
#[derive(Default)]
struct Pieces {
    expand_pre: Vec<Precondition>,
    expand: Vec<Step>,
    sync: Vec<(QualifiedName, SyncPart)>,
    after_sync: Vec<Step>,
    backfill: Vec<BackfillTask>,
    contract_pre: Vec<Precondition>,
    /// NOT NULL checks added and validated before the swap transaction.
    before_swap: Vec<Step>,
    /// The swap, while the sync triggers still exist (they are dropped right after).
    swap: Vec<Step>,
    /// The swap, after the sync triggers are gone.
    swap_after_sync: Vec<Step>,
}

impl Shadow<'_> {
    fn add_to(&self, cx: &PlanCx, p: &mut Pieces) -> Result<(), ChangeError> {
        let t = &self.table.name;
        let (o, n) = (&self.old.name, &self.new);
        let (os, ns) = (short(o), short(n));
        if self.table.has_column(n) {
            return Err(ChangeError::new("column", format!("{}.{ns} already exists (a plan for this change ran before?)", t.display_short())));
        }
        let start = p.swap_after_sync.len();
        let key = common::backfill_key(self.table, "add a primary key first (CREATE UNIQUE INDEX CONCURRENTLY, then ADD PRIMARY KEY USING INDEX)")?;
        if !(self.plain_cast && always_converts(&self.old.data_type, &self.to)) {
            p.expand_pre.push(Precondition::ConvertsCleanly { table: t.clone(), expr: self.expr.clone(), data_type: self.to.clone() });
        }
        let collation = if is_text_like(&self.to) { self.old.props.collation.clone() } else { None };
        p.expand.push(
            Step::new(format!("add {ns} {} next to {os} (nullable, no default: instant)", self.to), Ddl::AddColumn { table: t.clone(), column: n.clone(), data_type: self.to.clone(), collation, default: None, not_null: false }, Lock::AccessExclusiveBrief, t)
                // Committed alone: a plan over two tables never holds one table's ACCESS
                // EXCLUSIVE lock while it waits for the other's (apps lock them in both orders).
                .tx(TxMode::OwnTransaction)
                .undo(Step::new(format!("drop {ns}"), Ddl::DropColumn { table: t.clone(), column: n.clone(), if_exists: true }, Lock::AccessExclusiveBrief, t)),
        );
        if let Some(target) = self.old.props.statistics {
            p.expand.push(Step::new(format!("carry the statistics target {target} over"), Ddl::SetStatistics { table: t.clone(), column: n.clone(), target }, Lock::ShareUpdateExclusive, t));
        }
        if let Some(comment) = &self.old.props.comment {
            p.expand.push(Step::new("carry the column comment over", Ddl::CommentOnColumn { table: t.clone(), column: n.clone(), comment: Some(comment.clone()) }, Lock::ShareUpdateExclusive, t));
        }
        let sources: Vec<Ident> = rewrite::referenced_columns(self.expr.as_str()).into_iter().filter_map(|s| Ident::new(s).ok()).filter(|s| self.table.has_column(s)).collect();
        p.sync.push((t.clone(), SyncPart::Convert { from: o.clone(), to: n.clone(), expr: self.expr.clone(), sources, copy_back: self.copy_back }));

        let drop_copy = |tmp: &Ident, what: &str| Step::new(format!("drop the copy of {what}"), Ddl::DropConstraint { table: t.clone(), constraint: tmp.clone(), if_exists: true }, Lock::AccessExclusiveBrief, t);
        for k in self.table.constraints_using(o) {
            let tmp = generated_name(&[k.name.as_str(), "planner"]);
            match &k.kind {
                ConstraintKind::Check { expr } => {
                    let rewritten = rewrite::rename_column(expr, o, n).map_err(|e| ChangeError::new("column", e))?;
                    p.after_sync.push(Step::new(format!("copy CHECK {} onto {ns} (NOT VALID: no scan)", short(&k.name)), Ddl::AddCheckNotValid { table: t.clone(), constraint: tmp.clone(), check: rewritten }, Lock::AccessExclusiveBrief, t).undo(drop_copy(&tmp, &short(&k.name))));
                }
                ConstraintKind::ForeignKey { .. } if Some(&k.name) == self.skip_fk.as_ref() => continue,
                ConstraintKind::ForeignKey { references, ref_columns, on_delete, on_update } => {
                    let cols: Vec<Ident> = k.columns.iter().map(|x| if x == o { n.clone() } else { x.clone() }).collect();
                    p.after_sync.push(Step::new(format!("copy FOREIGN KEY {} onto {ns} (NOT VALID: no scan)", short(&k.name)), Ddl::AddForeignKeyNotValid { table: t.clone(), constraint: tmp.clone(), columns: cols, references: references.clone(), ref_columns: ref_columns.clone(), on_delete: on_delete.clone(), on_update: on_update.clone() }, Lock::ShareRowExclusiveBrief, t).undo(drop_copy(&tmp, &short(&k.name))));
                }
                // Copied through their indexes below.
                ConstraintKind::Unique | ConstraintKind::PrimaryKey => continue,
                ConstraintKind::Other { definition } => {
                    return Err(ChangeError::new("column", format!("constraint {} ({definition}) uses {}.{os}; planner cannot copy it", short(&k.name), t.display_short())));
                }
            }
            if k.validated {
                p.after_sync.push(Step::new(format!("validate the copy of {} (scans; reads and writes continue)", short(&k.name)), Ddl::ValidateConstraint { table: t.clone(), constraint: tmp.clone() }, Lock::ShareUpdateExclusive, t).tx(TxMode::OwnTransaction).scans());
                p.contract_pre.push(Precondition::ConstraintValid { table: t.clone(), constraint: tmp.clone() });
            }
            p.swap_after_sync.push(Step::new(format!("give the copy the original name {}", short(&k.name)), Ddl::RenameConstraint { table: t.clone(), from: tmp, to: k.name.clone() }, Lock::AccessExclusiveBrief, t));
        }
        for index in self.table.indexes_using(o) {
            let copy = cx.dialect.copy_index(t, index, o, n, "column")?;
            let tmp = copy.name;
            p.after_sync.push(copy.build);
            p.contract_pre.push(copy.ready);
            let is_pk = index.constraint.as_ref().is_some_and(|name| self.table.constraints.iter().any(|k| &k.name == name && k.kind == ConstraintKind::PrimaryKey));
            p.swap_after_sync.push(match &index.constraint {
                Some(constraint) if is_pk => Step::new(format!("the copy becomes the primary key {} (no scan: the index is built and {ns} NOT NULL)", short(constraint)), Ddl::AddPrimaryKeyUsingIndex { table: t.clone(), constraint: constraint.clone(), index: tmp.clone() }, Lock::AccessExclusiveBrief, t),
                Some(constraint) => Step::new(format!("the copy becomes constraint {}", short(constraint)), Ddl::AddUniqueUsingIndex { table: t.clone(), constraint: constraint.clone(), index: tmp.clone() }, Lock::AccessExclusiveBrief, t),
                None => Step::new(format!("give the copy the original name {}", short(&index.name)), Ddl::RenameIndex { table: t.clone(), from: tmp.clone(), to: index.name.clone() }, Lock::AccessExclusiveBrief, t),
            });
        }

        p.backfill.push(BackfillTask { table: t.clone(), key: key.clone(), set: vec![Assignment { column: n.clone(), expr: self.expr.to_string() }], pending: format!("{n} IS DISTINCT FROM {}", self.expr) });
        p.contract_pre.push(Precondition::BackfillDone { table: t.clone() });
        p.contract_pre.push(Precondition::ColumnEqualsExpr { table: t.clone(), key, column: n.clone(), expr: self.expr.clone() });
        p.contract_pre.push(Precondition::ColumnsMatch { table: t.clone() });

        // NOT NULL: validated check before the swap, SET NOT NULL (no scan) inside it.
        if self.old.not_null {
            if cx.pg_version() < 12 {
                return Err(ChangeError::new("column", format!("{}.{os} is NOT NULL: on PostgreSQL {} SET NOT NULL on the new column would scan under ACCESS EXCLUSIVE", t.display_short(), cx.pg_version())).help("plan for PostgreSQL 12+"));
            }
            let check = common::not_null_check_name(t, n);
            p.before_swap.push(Step::new(format!("guard {ns}: CHECK ({ns} IS NOT NULL) NOT VALID, no scan"), Ddl::AddCheckNotValid { table: t.clone(), constraint: check.clone(), check: render::not_null_check_expr(n) }, Lock::AccessExclusiveBrief, t).undo(Step::new("drop the NOT NULL check", Ddl::DropConstraint { table: t.clone(), constraint: check.clone(), if_exists: true }, Lock::AccessExclusiveBrief, t)));
            p.before_swap.push(Step::new("validate it (scans; reads and writes continue)", Ddl::ValidateConstraint { table: t.clone(), constraint: check.clone() }, Lock::ShareUpdateExclusive, t).tx(TxMode::OwnTransaction).scans());
            p.swap.push(Step::new(format!("{ns} NOT NULL, proven by the validated check (no scan)"), Ddl::SetNotNull { table: t.clone(), column: n.clone() }, Lock::AccessExclusiveBrief, t));
            p.swap.push(Step::new("drop the check, now redundant", Ddl::DropConstraint { table: t.clone(), constraint: check, if_exists: false }, Lock::AccessExclusiveBrief, t));
        }
        // The default and a serial's sequence move to the new column before the old one (and the
        // sequence it owns) is dropped; the sequence keeps counting, so no id repeats.
        if let Some(default) = &self.old.default {
            if let Some(sequence) = render::nextval_sequence(default) {
                if integer_rank(&self.to).is_some() {
                    p.swap.push(Step::new(format!("the sequence {sequence} counts in {} (its limit grows with the type)", self.to), Ddl::AlterSequenceType { sequence: sequence.to_string(), data_type: self.to.clone() }, Lock::AccessExclusiveBrief, t));
                }
                p.swap.push(Step::new(format!("hand the sequence {sequence} over to {ns}"), Ddl::SequenceOwnedBy { sequence: sequence.to_string(), table: t.clone(), column: n.clone() }, Lock::AccessExclusiveBrief, t));
            }
            p.swap.push(Step::new(format!("carry the default of {os} over"), Ddl::SetDefault { table: t.clone(), column: n.clone(), default: DefaultExpr::Catalog(default.clone()) }, Lock::AccessExclusiveBrief, t));
        }
        if let Some(Generated::Identity { always }) = &self.old.generated {
            p.swap.push(Step::new(format!("{ns} becomes an identity column ({})", if *always { "ALWAYS" } else { "BY DEFAULT" }), Ddl::AddIdentity { table: t.clone(), column: n.clone(), always: *always }, Lock::AccessExclusiveBrief, t));
            p.swap.push(Step::new(format!("its sequence continues after every id {os}'s handed out (no id repeats)"), Ddl::ContinueIdentity { table: t.clone(), from: o.clone(), to: n.clone() }, Lock::AccessExclusiveBrief, t));
        }
        // This column's swap: drop the old column, rename the new one into its place, then the
        // copies take their names (pushed above, after the steps of earlier columns).
        let renames = p.swap_after_sync.split_off(start);
        let gone = format!("drops column {os} with its {} values; to go back, plan a change_type back to {}", self.old.data_type, self.old.data_type);
        p.swap_after_sync.push(Step::new(format!("drop the old column {os} (catalog only; its indexes and constraints go with it)"), Ddl::DropColumn { table: t.clone(), column: o.clone(), if_exists: false }, Lock::AccessExclusiveBrief, t).irreversible(gone));
        p.swap_after_sync.push(Step::new(format!("{ns} takes the name {os}"), Ddl::RenameColumn { table: t.clone(), from: n.clone(), to: o.clone() }, Lock::AccessExclusiveBrief, t));
        p.swap_after_sync.extend(renames);
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn rewrite_plan(model: &SchemaModel, cx: &PlanCx, table: &Table, column: &Column, to: &str, expr: SqlExpr, plain_cast: bool, why: &str, description: String) -> Result<ChangePhases, ChangeError> {
    let t = &table.name;
    let c = &column.name;
    let cs = short(c);
    let from = column.data_type.clone();
    let copy_back = exact_round_trip(&from, to, plain_cast);
    let mut shadows = vec![Shadow { table, old: column, new: generated_name(&[c.as_str(), "planner"]), to: to.to_string(), expr, copy_back, plain_cast, skip_fk: None }];

    // Foreign keys referencing the column: their columns change type too, the keys are re-created.
    let mut fks = Vec::new();
    let mut also = Vec::new();
    for (r, fk) in model.foreign_keys_referencing(t, c) {
        let ConstraintKind::ForeignKey { ref_columns, on_delete, on_update, .. } = &fk.kind else { continue };
        let rs = r.name.display_short();
        if &r.name == t {
            return Err(ChangeError::new("column", format!("foreign key {} of {rs} references {}.{cs} in the same table; planner does not change self-referencing keys", short(&fk.name), t.display_short())));
        }
        if fk.columns.len() != 1 || ref_columns.len() != 1 {
            return Err(ChangeError::new("column", format!("foreign key {} of {rs} references {}.{cs} together with other columns; planner changes single-column keys only", short(&fk.name), t.display_short())));
        }
        let rc = r.column(&fk.columns[0]).map_err(|e| ChangeError::new("column", e.to_string()))?;
        let rcs = format!("{rs}.{}", short(&rc.name));
        if rc.data_type == from {
            if !model.foreign_keys_referencing(&r.name, &rc.name).is_empty() {
                return Err(ChangeError::new("column", format!("{rcs} references {}.{cs} and is referenced by other foreign keys in turn; planner changes one level of references", t.display_short())));
            }
            let rexpr = SqlExpr::parse(&format!("{}::{to}", rc.name)).map_err(|e| ChangeError::new("type", e.to_string()))?;
            shadows.push(Shadow { table: r, old: rc, new: generated_name(&[rc.name.as_str(), "planner"]), to: to.to_string(), expr: rexpr, copy_back: exact_round_trip(&from, to, true), plain_cast: true, skip_fk: Some(fk.name.clone()) });
            also.push(format!("{rcs} ({from} -> {to})"));
        } else if rc.data_type != to {
            return Err(ChangeError::new("column", format!("{rcs} ({}) references {}.{cs}; planner changes referencing columns of type {from} along with it, not {}", rc.data_type, t.display_short(), rc.data_type)));
        }
        fks.push((r.name.clone(), fk.name.clone(), rc.name.clone(), on_delete.clone(), on_update.clone()));
    }

    let changed: Vec<(QualifiedName, Ident)> = shadows.iter().map(|s| (s.table.name.clone(), s.old.name.clone())).collect();
    let views = views_to_recreate(model, &changed)?;

    let mut p = Pieces::default();
    for s in &shadows {
        s.add_to(cx, &mut p)?;
    }
    let mut tables: Vec<QualifiedName> = Vec::new();
    for s in &shadows {
        if !tables.contains(&s.table.name) {
            tables.push(s.table.name.clone());
        }
    }
    for (r, ..) in &fks {
        if !tables.contains(r) {
            tables.push(r.clone());
        }
    }

    // The views first: a query on a view locks the view, then its tables; taking them in the same
    // order means planner waits (and retries under lock_timeout) rather than deadlocking.
    let locked: Vec<QualifiedName> = views.iter().map(|v| v.name.clone()).chain(tables.iter().cloned()).collect();
    let mut contract = p.before_swap;
    contract.push(Step::new(format!("the swap: one transaction, every table locked at once ({}), milliseconds of catalog changes; lock_timeout and retries apply", locked.iter().map(|x| x.display_short()).collect::<Vec<_>>().join(", ")), Ddl::LockTables { tables: locked }, Lock::AccessExclusiveBrief, t));
    contract.extend(p.swap);
    // Views reading an old column would block its drop: dropped here, re-created after the rename.
    let mut after: Vec<Step> = views.iter().map(|v| drop_view_step(v, t)).collect();
    for (r, name, ..) in &fks {
        after.push(Step::new(format!("drop foreign key {} (re-created on the new column below)", short(name)), Ddl::DropConstraint { table: r.clone(), constraint: name.clone(), if_exists: false }, Lock::AccessExclusiveBrief, r));
    }
    after.extend(p.swap_after_sync);
    after.extend(views.iter().map(|v| create_view_step(v, t)));
    let mut validate = Vec::new();
    for (r, name, rc, on_delete, on_update) in &fks {
        after.push(Step::new(format!("re-create foreign key {} NOT VALID (no scan)", short(name)), Ddl::AddForeignKeyNotValid { table: r.clone(), constraint: name.clone(), columns: vec![rc.clone()], references: t.clone(), ref_columns: vec![c.clone()], on_delete: on_delete.clone(), on_update: on_update.clone() }, Lock::AccessExclusiveBrief, r));
        validate.push(Step::new(format!("validate foreign key {} (scans; reads and writes continue)", short(name)), Ddl::ValidateConstraint { table: r.clone(), constraint: name.clone() }, Lock::ShareUpdateExclusive, r).tx(TxMode::OwnTransaction).scans());
    }
    after.extend(validate);

    let ns = short(&shadows[0].new);
    let writes_new = if copy_back {
        format!("a write of planner's shadow column {ns} is assigned back to {cs} (exact for {from} -> {to}; a value {cs} cannot hold fails the write)")
    } else {
        format!("must not write planner's shadow column {ns} before contract: {to} -> {from} is not exact, so {ns} always follows {cs}")
    };
    let also_note = if also.is_empty() { String::new() } else { format!("; also changes {}", also.join(", ")) };
    let swap_note = format!("{cs} is {to}{}. A client holding a server-side prepared statement whose result includes {cs} gets one `cached plan must not change result type` error after the swap (true of every tool): reconnect the pool", views_note(&views));
    Ok(ChangePhases {
        description: format!("{description} ({why}){also_note}{}", views_description(&views)),
        expand_preconditions: p.expand_pre,
        expand: p.expand,
        sync: p.sync,
        expand_after_sync: p.after_sync,
        backfill: p.backfill,
        contract_preconditions: p.contract_pre,
        contract,
        contract_after_sync: after,
        compat: Some([
            AppCompat {
                old_app: AppAccess::full(format!("reads and writes {cs} as {from}; the sync trigger converts each write into {ns} (a value `using` cannot convert fails the write, as it would after the change)")),
                new_app: AppAccess { writes: true, reads: true, note: format!("reads and writes {cs} as {from} until contract; values beyond {from} only after contract; {writes_new}") },
            },
            AppCompat {
                old_app: AppAccess::full(format!("reads and writes {cs} as {from}")),
                new_app: AppAccess { writes: true, reads: true, note: format!("reads and writes {cs} as {from} until contract; {writes_new}") },
            },
            AppCompat {
                old_app: AppAccess::full(format!("{swap_note}; an app that cannot read {to} must be gone")),
                new_app: AppAccess::full(swap_note),
            },
        ]),
        tables,
    })
}

/// The views reading any of `columns`, each re-created from its definition around the type change;
/// refused, with the list, when that would not give the same view back.
fn views_to_recreate<'m>(model: &'m SchemaModel, columns: &[(QualifiedName, Ident)]) -> Result<Vec<&'m View>, ChangeError> {
    let mut views: Vec<&View> = Vec::new();
    for (t, c) in columns {
        for v in model.views_using(t, c) {
            if !views.iter().any(|x| x.name == v.name) {
                views.push(v);
            }
        }
    }
    let mut refused = Vec::new();
    for v in &views {
        let name = v.name.display_short();
        if v.materialized {
            refused.push(format!("materialized view {name} (re-creating it would run its query under the lock)"));
        } else if !v.options.is_empty() {
            refused.push(format!("view {name} has options {} (planner re-creates plain views only)", v.options.join(", ")));
        } else {
            let readers: Vec<String> = model.views_reading(&v.name).iter().map(|w| w.name.display_short()).collect();
            if !readers.is_empty() {
                refused.push(format!("view {name} is read by view{} {} (planner does not drop and re-create chains of views)", if readers.len() == 1 { "" } else { "s" }, readers.join(", ")));
            }
        }
    }
    if refused.is_empty() {
        return Ok(views);
    }
    let (t, c) = &columns[0];
    Err(ChangeError::new("column", format!("{}.{} is read by {}; PostgreSQL cannot change the type of a column a view reads, and planner cannot re-create these safely", t.display_short(), short(c), refused.join("; ")))
        .help("drop these views (or redefine them without the column), change the type, then create them again"))
}

fn drop_view_step(v: &View, table: &QualifiedName) -> Step {
    Step::new(format!("drop view {} (it reads the column; re-created from its definition below)", v.name.display_short()), Ddl::DropView { view: v.name.clone() }, Lock::AccessExclusiveBrief, table).undo(create_view_step(v, table))
}

fn create_view_step(v: &View, table: &QualifiedName) -> Step {
    let create = |what: &str| Step::new(format!("{what} view {} from its definition (grants, owner and comments on it are not carried over)", v.name.display_short()), Ddl::CreateView { view: v.name.clone(), columns: v.columns.clone(), query: v.query.clone() }, Lock::AccessExclusiveBrief, table);
    create("re-create").undo(Step::new(format!("drop view {} again", v.name.display_short()), Ddl::DropView { view: v.name.clone() }, Lock::AccessExclusiveBrief, table))
}

fn view_names(views: &[&View]) -> String {
    views.iter().map(|v| v.name.display_short()).collect::<Vec<_>>().join(", ")
}

fn views_description(views: &[&View]) -> String {
    if views.is_empty() {
        return String::new();
    }
    format!("; re-creates view{} {} (read the column; dropped and created again from {} definition in the same transaction)", if views.len() == 1 { "" } else { "s" }, view_names(views), if views.len() == 1 { "its" } else { "their" })
}

fn views_note(views: &[&View]) -> String {
    if views.is_empty() {
        return String::new();
    }
    format!("; view{} {} {} re-created in the same transaction (a query on {} waits for it, then sees the new type; grants on {} must be given again)", if views.len() == 1 { "" } else { "s" }, view_names(views), if views.len() == 1 { "is" } else { "are" }, if views.len() == 1 { "it" } else { "them" }, if views.len() == 1 { "it" } else { "them" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_what_postgresql_does_without_a_rewrite() {
        let catalog = |f: &str, t: &str| matches!(choose_path(f, t, 15, false, false), Path::Catalog { .. });
        assert!(catalog("character varying(20)", "character varying(40)"));
        assert!(catalog("character varying(20)", "text"));
        assert!(catalog("text", "character varying"));
        assert!(catalog("numeric(10,2)", "numeric(12,2)"));
        assert!(catalog("numeric(10,2)", "numeric"));
        assert!(catalog("cidr", "inet"));
        assert!(catalog("timestamp without time zone", "timestamp with time zone"));
        assert!(!catalog("numeric(10,2)", "numeric(12,3)"));
        assert!(!catalog("integer", "bigint"));
        assert_eq!(choose_path("text", "character varying(5)", 15, false, false), Path::LengthCheck { limit: 5 });
        assert_eq!(choose_path("character varying(20)", "character varying(5)", 15, false, false), Path::LengthCheck { limit: 5 });
        assert!(matches!(choose_path("timestamp without time zone", "timestamp with time zone", 15, true, false), Path::Rewrite { .. }), "an index would be rebuilt under the lock");
        assert!(matches!(choose_path("timestamp without time zone", "timestamp with time zone", 11, false, false), Path::Rewrite { .. }));
        assert!(matches!(choose_path("character varying(20)", "text", 15, false, true), Path::Rewrite { .. }), "using always rewrites");
    }

    fn plan_err(schema: &str, table: &str, column: &str, ty: &str) -> String {
        let model = crate::model::from_sql::parse_schema(schema, "s.sql", 15).expect("schema");
        let change = super::super::Change::ChangeType(ChangeType { table: table.into(), column: column.into(), data_type: ty.into(), using: None });
        crate::change::compile(&model, &[change], "p").expect_err("refused").error.message
    }

    #[test]
    fn what_would_block_the_swap_is_refused_at_plan_time() {
        let schema = "CREATE TABLE t (id int PRIMARY KEY, a int, b int GENERATED ALWAYS AS (a * 2) STORED);
                      CREATE TABLE s (id int PRIMARY KEY, parent int REFERENCES s (id));
                      CREATE TABLE p (x int, y int, PRIMARY KEY (x, y));
                      CREATE TABLE q (id int PRIMARY KEY, x int, y int, FOREIGN KEY (x, y) REFERENCES p (x, y));
                      CREATE TABLE u (id int PRIMARY KEY, t_id text REFERENCES t (id));";
        assert!(plan_err(schema, "t", "a", "bigint").contains("generated column b"));
        assert!(plan_err(schema, "s", "id", "bigint").contains("same table"));
        assert!(plan_err(schema, "p", "x", "bigint").contains("together with other columns"));
        assert!(plan_err(schema, "t", "id", "bigint").contains("public.u.t_id (text) references"));
        assert!(plan_err(schema, "t", "a", "bigintt").contains("did you mean bigint?"));
    }

    #[test]
    fn views_that_cannot_be_recreated_as_they_were_are_refused_with_the_list() {
        let schema = "CREATE TABLE t (id int PRIMARY KEY, a int, b int, c int, d int);
                      CREATE MATERIALIZED VIEW m AS SELECT a FROM t;
                      CREATE VIEW v AS SELECT b FROM t;
                      CREATE VIEW w AS SELECT b FROM v;
                      CREATE VIEW o WITH (security_barrier) AS SELECT c FROM t;
                      CREATE VIEW p AS SELECT d, d + 1 AS e FROM t;";
        let err = plan_err(schema, "t", "a", "bigint");
        assert!(err.contains("materialized view public.m"), "{err}");
        let err = plan_err(schema, "t", "b", "bigint");
        assert!(err.contains("view public.v is read by view public.w"), "{err}");
        let err = plan_err(schema, "t", "c", "bigint");
        assert!(err.contains("view public.o has options"), "{err}");
        // A plain view nothing else reads: dropped before the old column goes, created after the rename.
        let model = crate::model::from_sql::parse_schema(schema, "s.sql", 15).expect("schema");
        let change = super::super::Change::ChangeType(ChangeType { table: "t".into(), column: "d".into(), data_type: "bigint".into(), using: None });
        let plan = crate::change::compile(&model, &[change], "p").expect("planned");
        assert!(plan.description.join(" ").contains("re-creates view public.p"), "{:?}", plan.description);
        let contract = plan.phases.iter().find(|p| p.phase == crate::plan::PhaseKind::Contract).expect("contract");
        let sql: Vec<String> = contract.steps.iter().map(|s| s.sql()).collect();
        let at = |needle: &str| sql.iter().position(|s| s.starts_with(needle)).unwrap_or_else(|| panic!("{needle} in {sql:#?}"));
        assert!(at("LOCK TABLE \"public\".\"p\", \"public\".\"t\"") < at("DROP VIEW \"public\".\"p\""));
        assert!(at("DROP VIEW") < at("ALTER TABLE \"public\".\"t\" DROP COLUMN \"d\""));
        assert!(at("ALTER TABLE \"public\".\"t\" RENAME COLUMN") < at("CREATE VIEW \"public\".\"p\" AS SELECT d, d + 1 AS e FROM t"));
    }

    #[test]
    fn a_catalog_only_change_drops_and_recreates_its_views_around_the_alter() {
        let schema = "CREATE TABLE t (id int PRIMARY KEY, s varchar(10)); CREATE VIEW v (label) AS SELECT s FROM t;";
        let model = crate::model::from_sql::parse_schema(schema, "s.sql", 15).expect("schema");
        let change = super::super::Change::ChangeType(ChangeType { table: "t".into(), column: "s".into(), data_type: "varchar(20)".into(), using: None });
        let plan = crate::change::compile(&model, &[change], "p").expect("planned");
        let expand = plan.phases.iter().find(|p| p.phase == crate::plan::PhaseKind::Expand).expect("expand");
        let sql: Vec<String> = expand.steps.iter().map(|s| s.sql()).collect();
        let at = |needle: &str| sql.iter().position(|s| s.starts_with(needle)).unwrap_or_else(|| panic!("{needle} in {sql:#?}"));
        assert!(at("DROP VIEW \"public\".\"v\"") < at("ALTER TABLE \"public\".\"t\" ALTER COLUMN \"s\" TYPE"));
        assert!(at("ALTER TABLE \"public\".\"t\" ALTER COLUMN \"s\" TYPE") < at("CREATE VIEW \"public\".\"v\" (\"label\") AS SELECT s FROM t"));
    }

    #[test]
    fn only_exact_round_trips_let_both_columns_be_written() {
        assert!(exact_round_trip("integer", "bigint", true));
        assert!(exact_round_trip("text", "integer", true));
        assert!(!exact_round_trip("text", "integer", false), "a custom using is not known to invert");
        assert!(!exact_round_trip("integer", "numeric", true));
        assert!(!exact_round_trip("bigint", "integer", true));
    }
}
