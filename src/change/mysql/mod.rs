//! MySQL/MariaDB plans: change list + schema model -> a [`Plan`] whose steps are
//! [`MySqlDdl`] statements. Pure, like the PostgreSQL compiler.
//!
//! What differs from PostgreSQL (mysql-facts §9.3) shapes every phase here:
//! - DDL is not transactional: every step is one statement that commits on its own, and each
//!   carries its own compensating undo steps, so a phase that stopped half way is undone
//!   statement by statement.
//! - Every `ALTER TABLE` names `ALGORITHM=INSTANT|NOCOPY|INPLACE` (never COPY): the server refuses
//!   instead of silently copying the table under a write lock.
//! - Triggers: one `BEFORE INSERT` and one `BEFORE UPDATE` per change, each a single multi-assignment
//!   `SET` (run left to right), comparing with `<=>` (`<>` misses NULL changes), placed after the
//!   app's own triggers with `FOLLOWS`.
//! - `MODIFY … NOT NULL` is an online table rebuild that a NULL written meanwhile aborts at the
//!   end; it runs while the fill triggers still turn NULL writes into values.
//!
//! Change kinds: [`rename_column`], [`add_column`], [`drop_column`], [`set_not_null`],
//! [`change_type`] (a shadow column swapped in by `RENAME COLUMN`: MariaDB 10.11 changes a type only
//! by copying the table).
//!
//! MERGE NOTE (issue 15): the dialect seam makes `Plan` carry `dialect` + `server_version`; until
//! then a MySQL plan is a [`MySqlPlan`] (target + plan, `plan.pg_version` unused = 0) and
//! [`files`] writes plan.yaml in format 2's shape.

pub mod add_column;
pub mod change_type;
pub mod drop_column;
pub mod files;
pub mod rename_column;
pub mod set_not_null;

use std::fmt;

use crate::change::compile::{distinct_tables, table_shapes};
use crate::change::{Change, ChangeError};
use crate::model::{Column, IndexPart, SchemaModel, Table};
use crate::plan::{AppCompat, BackfillTask, Lock, Phase, PhaseKind, Plan, Precondition, Step, TxMode};
use crate::sql::ddl::{Ddl, TriggerEvent};
use crate::sql::mysql_ddl::{Algorithm, AlterClause, ColumnDefinition, KeyPart, MySqlDdl, TriggerAssignment};
use crate::sql::render::generated_name;
use crate::sql::{Ident, QualifiedName};

pub use crate::change::CompileError;

/// MariaDB or MySQL: their online DDL differs (NOCOPY and `WAIT n` exist on MariaDB only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MySqlFlavour {
    Mariadb,
    Mysql,
}

/// The server a MySQL plan is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MySqlTarget {
    pub flavour: MySqlFlavour,
    pub major: u32,
    pub minor: u32,
}

impl MySqlTarget {
    pub const MARIADB_DEFAULT: MySqlTarget =
        MySqlTarget { flavour: MySqlFlavour::Mariadb, major: 10, minor: 11 };
    pub const MYSQL_DEFAULT: MySqlTarget = MySqlTarget { flavour: MySqlFlavour::Mysql, major: 8, minor: 0 };

    /// `mariadb` / `mysql` with an optional `10.11` / `8.0`; refuses versions without the online
    /// DDL the plans rely on (instant ADD/DROP COLUMN anywhere: MariaDB 10.4+, MySQL 8.0.29+ —
    /// MySQL 8.0 is taken as its current patch releases).
    pub fn parse(dialect: &str, version: Option<&str>) -> Result<MySqlTarget, String> {
        let base = match dialect.to_ascii_lowercase().as_str() {
            "mariadb" => MySqlTarget::MARIADB_DEFAULT,
            "mysql" => MySqlTarget::MYSQL_DEFAULT,
            other => {
                return Err(format!("unknown dialect `{other}` (expected postgresql, mariadb or mysql)"))
            }
        };
        let Some(v) = version else { return Ok(base) };
        let mut parts = v.trim().split('.');
        let (Some(major), minor) = (parts.next().and_then(|p| p.parse::<u32>().ok()), parts.next()) else {
            return Err(format!("invalid server version `{v}` (expected e.g. 10.11 or 8.0)"));
        };
        let minor = match minor {
            Some(m) => m.parse::<u32>().map_err(|_| format!("invalid server version `{v}`"))?,
            None => 0,
        };
        let target = MySqlTarget { major, minor, ..base };
        let supported = match target.flavour {
            MySqlFlavour::Mariadb => (major, minor) >= (10, 4),
            MySqlFlavour::Mysql => major >= 8,
        };
        if !supported {
            return Err(format!(
                "{target} is not supported: planner needs instant ADD/DROP COLUMN (MariaDB 10.4+, MySQL 8.0.29+)"
            ));
        }
        Ok(target)
    }

    /// `mariadb` / `mysql`: plan.yaml's `dialect`.
    pub fn dialect(&self) -> &'static str {
        match self.flavour {
            MySqlFlavour::Mariadb => "mariadb",
            MySqlFlavour::Mysql => "mysql",
        }
    }

    /// The algorithm for an online index build or a drop that removes an index: MariaDB says NOCOPY,
    /// MySQL asks for INPLACE (which builds an index without a rebuild there).
    pub fn no_rebuild(&self) -> Algorithm {
        match self.flavour {
            MySqlFlavour::Mariadb => Algorithm::Nocopy,
            MySqlFlavour::Mysql => Algorithm::Inplace,
        }
    }
}

impl fmt::Display for MySqlTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let product = match self.flavour {
            MySqlFlavour::Mariadb => "MariaDB",
            MySqlFlavour::Mysql => "MySQL",
        };
        write!(f, "{product} {}.{}", self.major, self.minor)
    }
}

/// A compiled MySQL/MariaDB plan.
#[derive(Debug, Clone, PartialEq)]
pub struct MySqlPlan {
    pub target: MySqlTarget,
    pub plan: Plan,
}

/// What one change contributes to each phase.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    pub description: String,
    pub expand: Vec<Step>,
    /// Checked before expand runs a statement (on top of every table's ColumnsMatch).
    pub expand_preconditions: Vec<Precondition>,
    pub backfill: Vec<BackfillTask>,
    pub contract_preconditions: Vec<Precondition>,
    pub contract: Vec<Step>,
    pub compat: Option<[AppCompat; 3]>,
    pub table: Option<QualifiedName>,
}

/// What a change kind's compiler reads.
pub struct Cx<'a> {
    pub model: &'a SchemaModel,
    pub target: MySqlTarget,
    pub plan: &'a str,
    /// 1-based position of the change in the file (names its triggers).
    pub change: usize,
}

/// Compile `changes` against `model` for `target` into a plan named `name`.
pub fn compile(
    model: &SchemaModel,
    changes: &[Change],
    name: &str,
    target: MySqlTarget,
) -> Result<MySqlPlan, CompileError> {
    let mut current = model.clone();
    let mut parts = Vec::new();
    for (index, change) in changes.iter().enumerate() {
        let cx = Cx { model: &current, target, plan: name, change: index + 1 };
        let err = |error| CompileError { change: index, error };
        let (p, next) = match change {
            Change::RenameColumn(c) => rename_column::compile(c, &cx),
            Change::AddColumn(c) => add_column::compile(c, &cx),
            Change::DropColumn(c) => drop_column::compile(c, &cx),
            Change::SetNotNull(c) => set_not_null::compile(c, &cx),
            Change::ChangeType(c) => change_type::compile(c, &cx),
        }
        .map_err(err)?;
        parts.push(p);
        current = next;
    }

    let tables = distinct_tables(parts.iter().filter_map(|p| p.table.as_ref()));
    let shapes = table_shapes(model, &tables);

    let mut phases = Vec::new();
    let expand: Vec<Step> = parts.iter().flat_map(|p| p.expand.clone()).collect();
    phases.push(Phase {
        phase: PhaseKind::Expand,
        up_file: None,
        down_file: None,
        preconditions: tables
            .iter()
            .map(|t| Precondition::ColumnsMatch { table: t.clone() })
            .chain(parts.iter().flat_map(|p| p.expand_preconditions.clone()))
            .collect(),
        irreversible: irreversible(&expand),
        steps: expand,
        backfill: Vec::new(),
        compat: merge_compat(&parts, 0),
    });
    let backfill: Vec<BackfillTask> = parts.iter().flat_map(|p| p.backfill.clone()).collect();
    if !backfill.is_empty() {
        phases.push(Phase {
            phase: PhaseKind::Backfill,
            up_file: None,
            down_file: None,
            preconditions: Vec::new(),
            steps: Vec::new(),
            backfill,
            compat: merge_compat(&parts, 1),
            irreversible: None,
        });
    }
    let contract: Vec<Step> = parts.iter().flat_map(|p| p.contract.clone()).collect();
    if !contract.is_empty() {
        let mut pre: Vec<Precondition> = Vec::new();
        for p in parts.iter().flat_map(|p| p.contract_preconditions.clone()) {
            if !pre.contains(&p) {
                pre.push(p);
            }
        }
        phases.push(Phase {
            phase: PhaseKind::Contract,
            up_file: None,
            down_file: None,
            preconditions: pre,
            irreversible: irreversible(&contract),
            steps: contract,
            backfill: Vec::new(),
            compat: merge_compat(&parts, 2),
        });
    }
    Ok(MySqlPlan {
        target,
        plan: Plan {
            planner_plan: crate::plan::PLAN_FORMAT_VERSION,
            name: name.to_string(),
            dialect: match target.flavour {
                MySqlFlavour::Mariadb => crate::flavour::Flavour::Mariadb,
                MySqlFlavour::Mysql => crate::flavour::Flavour::Mysql,
            },
            server_version: crate::flavour::ServerVersion::major_minor(target.major, target.minor),
            description: parts.iter().map(|p| p.description.clone()).collect(),
            tables: shapes,
            phases,
            files: Default::default(),
        },
    })
}

fn irreversible(steps: &[Step]) -> Option<String> {
    let reasons: Vec<&str> = steps.iter().filter_map(|s| s.irreversible.as_deref()).collect();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

fn merge_compat(parts: &[Parts], phase: usize) -> AppCompat {
    let merge = |pick: fn(&AppCompat) -> &crate::plan::AppAccess| {
        let all: Vec<&crate::plan::AppAccess> =
            parts.iter().filter_map(|p| p.compat.as_ref()).map(|c| pick(&c[phase])).collect();
        crate::plan::AppAccess {
            writes: all.iter().all(|a| a.writes),
            reads: all.iter().all(|a| a.reads),
            note: all.iter().map(|a| a.note.as_str()).collect::<Vec<_>>().join("; "),
        }
    };
    AppCompat { old_app: merge(|c| &c.old_app), new_app: merge(|c| &c.new_app) }
}

// ---- helpers the change kinds share ----

/// A step running one MySQL statement; it commits on its own (no transaction holds DDL).
pub fn step(why: impl Into<String>, ddl: MySqlDdl, lock: Lock, table: &QualifiedName) -> Step {
    Step::new(why, Ddl::MySql(ddl), lock, table).tx(TxMode::NoTransaction)
}

/// `ALTER TABLE t <clauses>, ALGORITHM=…`.
pub fn alter(
    table: &QualifiedName,
    clauses: Vec<crate::sql::mysql_ddl::AlterClause>,
    algorithm: Algorithm,
) -> MySqlDdl {
    debug_assert!(
        algorithm != Algorithm::Instant || !clauses.iter().any(|c| c.touches_index()),
        "an index clause never shares an INSTANT ALTER"
    );
    MySqlDdl::AlterTable { table: table.name.clone(), clauses, algorithm }
}

/// The column's full definition as the model holds it (what `MODIFY COLUMN` must restate).
pub fn definition(column: &Column) -> ColumnDefinition {
    ColumnDefinition {
        column_type: column.data_type.clone(),
        charset: column.props.charset.clone(),
        collation: column.props.collation.as_ref().map(|c| c.as_str().to_string()),
        not_null: column.not_null,
        default: column.default.clone(),
        on_update: column.props.on_update.clone(),
        comment: column.props.comment.clone(),
    }
}

/// The value strict mode would refuse to invent for a NOT NULL column without default: `''` for
/// strings, `0` for numbers. None for other types (dates, enums, JSON, blobs).
pub fn zero_value(column_type: &str) -> Option<&'static str> {
    let base = column_type.split(['(', ' ']).next().unwrap_or("").to_ascii_lowercase();
    match base.as_str() {
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => Some("''"),
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "decimal" | "numeric"
        | "float" | "double" | "real" => Some("0"),
        _ => None,
    }
}

/// Triggers planner created for a plan (skipped by "does a trigger read this column").
pub fn is_planner_trigger(name: &Ident) -> bool {
    name.as_str().starts_with("planner_")
}

/// The name of change `cx.change`'s trigger for `event`.
pub fn trigger_name(cx: &Cx<'_>, event: TriggerEvent) -> Ident {
    let suffix = match event {
        TriggerEvent::Insert => "bi",
        TriggerEvent::Update => "bu",
    };
    generated_name(&["planner", cx.plan, &cx.change.to_string(), suffix])
}

/// The table's last BEFORE trigger for `event` (planner's goes after it).
pub fn last_trigger(model: &SchemaModel, table: &QualifiedName, event: TriggerEvent) -> Option<Ident> {
    let event = match event {
        TriggerEvent::Insert => "INSERT",
        TriggerEvent::Update => "UPDATE",
    };
    model
        .triggers
        .iter()
        .rev()
        .find(|t| &t.table == table && t.timing == "BEFORE" && t.event == event)
        .map(|t| t.name.clone())
}

/// CREATE TRIGGER for one change's BEFORE INSERT / UPDATE, undone by DROP TRIGGER IF EXISTS, and
/// the matching contract step that drops it (undone by creating it again). Records it in `model`
/// so a later change's trigger follows it.
pub struct TriggerPair {
    pub create: Vec<Step>,
    pub drop: Vec<Step>,
    pub present: Vec<Precondition>,
}

pub fn trigger_pair(
    cx: &Cx<'_>,
    model: &mut SchemaModel,
    table: &QualifiedName,
    what: &str,
    insert: Vec<TriggerAssignment>,
    update: Vec<TriggerAssignment>,
) -> TriggerPair {
    let mut pair = TriggerPair { create: Vec::new(), drop: Vec::new(), present: Vec::new() };
    for (event, assignments, on) in
        [(TriggerEvent::Insert, insert, "insert"), (TriggerEvent::Update, update, "update")]
    {
        let trigger = trigger_name(cx, event);
        let create = MySqlDdl::CreateTrigger {
            trigger: trigger.clone(),
            table: table.name.clone(),
            event,
            follows: last_trigger(model, table, event),
            assignments,
        };
        let drop = |if_exists| MySqlDdl::DropTrigger { trigger: trigger.clone(), if_exists };
        pair.create.push(
            step(
                format!("{what} on {on} (BEFORE {on} trigger)"),
                create.clone(),
                Lock::MdlExclusiveBrief,
                table,
            )
            .undo(step(
                format!("drop the {on} trigger"),
                drop(true),
                Lock::MdlExclusiveBrief,
                table,
            )),
        );
        pair.drop.push(
            step(
                format!("drop the {on} trigger: no app version needs it any more"),
                drop(false),
                Lock::MdlExclusiveBrief,
                table,
            )
            .undo(step(
                format!("create the {on} trigger again"),
                create,
                Lock::MdlExclusiveBrief,
                table,
            )),
        );
        pair.present.push(Precondition::TriggerPresent { table: table.clone(), trigger: trigger.clone() });
        let event_name: String = match event {
            TriggerEvent::Insert => "INSERT".into(),
            TriggerEvent::Update => "UPDATE".into(),
        };
        let order = 1 + model
            .triggers
            .iter()
            .filter(|o| &o.table == table && o.timing == "BEFORE" && o.event == event_name)
            .count() as u32;
        model.triggers.push(crate::model::Trigger {
            name: trigger,
            table: table.clone(),
            timing: "BEFORE".into(),
            event: event_name,
            order,
            // planner's own trigger: its body is in the plan's files, not needed in the model.
            body: String::new(),
            sql_mode: String::new(),
            columns: Vec::new(),
        });
    }
    pair
}

/// Online copies of the indexes on `old`, each with `new` in its place: what expand builds, what
/// contract builds first (UNIQUE copies while `new` holds a placeholder, which would collide),
/// the preconditions that the expand copies exist, and contract's final clauses (drop the
/// originals, give the copies their names).
pub struct IndexCopies {
    pub expand: Vec<Step>,
    pub contract: Vec<Step>,
    pub valid: Vec<Precondition>,
    pub drop_originals: Vec<AlterClause>,
    pub renames: Vec<AlterClause>,
}

/// `prefix` maps each key part's prefix length onto the new column (a type change drops it when
/// the new type takes none).
pub fn index_copies(
    cx: &Cx<'_>,
    table: &Table,
    old: &Ident,
    new: &Ident,
    placeholder: bool,
    prefix: impl Fn(Option<u32>) -> Option<u32>,
) -> IndexCopies {
    let t = &table.name;
    let mut copies = IndexCopies {
        expand: Vec::new(),
        contract: Vec::new(),
        valid: Vec::new(),
        drop_originals: Vec::new(),
        renames: Vec::new(),
    };
    for ix in table.indexes_using(old) {
        let copy = generated_name(&[ix.name.as_str(), "planner"]);
        let keys = ix
            .keys
            .iter()
            .filter_map(|k| match &k.part {
                IndexPart::Column(c) => Some(KeyPart {
                    column: if c == old { new.clone() } else { c.clone() },
                    prefix: if c == old { prefix(k.prefix) } else { k.prefix },
                    descending: k.options.to_ascii_uppercase().contains("DESC"),
                }),
                IndexPart::Expression(_) => None,
            })
            .collect();
        let build = step(
            format!(
                "copy index {} onto {} (online: reads and writes continue)",
                ix.name.as_str(),
                new.as_str()
            ),
            alter(
                t,
                vec![AlterClause::AddIndex { index: copy.clone(), unique: ix.unique, keys }],
                cx.target.no_rebuild(),
            ),
            Lock::OnlineNoRebuild,
            t,
        )
        .scans()
        .undo(step(
            format!("drop the index copy {}", copy.as_str()),
            alter(t, vec![AlterClause::DropIndex { index: copy.clone() }], cx.target.no_rebuild()),
            Lock::MdlExclusiveBrief,
            t,
        ));
        if ix.unique && placeholder {
            copies.contract.push(build);
        } else {
            copies.expand.push(build);
            copies.valid.push(Precondition::IndexValid { table: t.clone(), index: copy.clone() });
        }
        copies.drop_originals.push(AlterClause::DropIndex { index: ix.name.clone() });
        copies.renames.push(AlterClause::RenameIndex { from: copy, to: ix.name.clone() });
    }
    copies
}

/// `NEW.\`c\``, `OLD.\`c\``.
pub fn new_col(c: &Ident) -> String {
    format!("NEW.{}", crate::sql::mysql_ddl::quote_ident(c))
}
pub fn old_col(c: &Ident) -> String {
    format!("OLD.{}", crate::sql::mysql_ddl::quote_ident(c))
}

/// The refusals every kind shares for an existing column: who reads it that the server would
/// let a drop or rename break (views, app triggers, generated columns, CHECKs).
pub fn readers_of(
    model: &SchemaModel,
    table: &Table,
    column: &Ident,
    action: &str,
    field: &'static str,
) -> Result<(), ChangeError> {
    let t = table.name.name.as_str();
    let c = column.as_str();
    if let Some(v) = model.views_using(&table.name, column).first() {
        return Err(ChangeError::new(field, format!(
            "view {} reads {t}.{c}; MySQL would let the {action} succeed and break the view (error 1356 on every read)",
            v.name.name.as_str()
        ))
        .help("redefine the view without the column first, then plan again"));
    }
    if let Some(tr) = model
        .triggers
        .iter()
        .find(|tr| tr.table == table.name && !is_planner_trigger(&tr.name) && tr.columns.contains(column))
    {
        return Err(ChangeError::new(field, format!(
            "trigger {} on {t} reads {c}; MySQL would let the {action} succeed and then fail every write the trigger fires on (error 1054)",
            tr.name.as_str()
        ))
        .help("change the trigger so it no longer reads the column, then plan again"));
    }
    if let Some(g) = table.columns.iter().find(|g| match &g.generated {
        Some(crate::model::Generated::Stored(expr)) => {
            crate::sql::rewrite::referenced_columns(expr).iter().any(|r| r.eq_ignore_ascii_case(c))
                || expr.to_lowercase().contains(&c.to_lowercase())
        }
        _ => false,
    }) {
        return Err(ChangeError::new(
            "column",
            format!("generated column {t}.{} is computed from {c}", g.name.as_str()),
        ));
    }
    if let Some(check) = table
        .constraints
        .iter()
        .find(|k| matches!(k.kind, crate::model::ConstraintKind::Check { .. }) && k.columns.contains(column))
    {
        return Err(ChangeError::new(field, format!(
            "CHECK {} on {t} reads {c}: MariaDB adds a CHECK only by copying the table (writes blocked), so it cannot be moved to another column online, and DROP COLUMN would silently drop it",
            check.name.as_str()
        ))
        .help("drop the CHECK first (instant) if the app enforces the rule, or use a shadow-copy tool (gh-ost, Spirit, pt-online-schema-change)"));
    }
    Ok(())
}

/// The foreign key whose child column `column` is, if any.
pub fn child_foreign_key<'t>(table: &'t Table, column: &Ident) -> Option<&'t crate::model::Constraint> {
    table.constraints.iter().find(|k| {
        matches!(k.kind, crate::model::ConstraintKind::ForeignKey { .. }) && k.columns.contains(column)
    })
}

/// Resolve `table` and `column` of a change.
pub fn resolve<'m>(
    model: &'m SchemaModel,
    table: &str,
    column: &str,
    field: &'static str,
) -> Result<(&'m Table, &'m Column), ChangeError> {
    let t = resolve_table(model, table)?;
    let c = resolve_column(t, column, field)?;
    Ok((t, c))
}

/// A table by its name as written (the database's, `lower_case_table_names=0`), else the only
/// one whose name differs in case.
pub fn resolve_table<'m>(model: &'m SchemaModel, table: &str) -> Result<&'m Table, ChangeError> {
    let bare = table.trim().trim_matches('`');
    let bare = bare.rsplit_once('.').map(|(_, t)| t.trim_matches('`')).unwrap_or(bare);
    let exact = model.tables.values().find(|t| t.name.name.as_str() == bare);
    let folded: Vec<&Table> =
        model.tables.values().filter(|t| t.name.name.as_str().eq_ignore_ascii_case(bare)).collect();
    match (exact, folded.as_slice()) {
        (Some(t), _) => Ok(t),
        (None, [t]) => Ok(t),
        _ => {
            let suggestion = crate::model::closest(bare, model.tables.values().map(|t| t.name.name.as_str()));
            Err(ChangeError::new(
                "table",
                format!(
                    "table {bare} does not exist{}",
                    suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default()
                ),
            ))
        }
    }
}

/// MySQL column names compare case-insensitively; the model keeps them as written.
pub fn resolve_column<'t>(
    table: &'t Table,
    column: &str,
    field: &'static str,
) -> Result<&'t Column, ChangeError> {
    let bare = column.trim().trim_matches('`');
    table.columns.iter().find(|c| c.name.as_str().eq_ignore_ascii_case(bare)).ok_or_else(|| {
        let suggestion = crate::model::closest(bare, table.columns.iter().map(|c| c.name.as_str()));
        ChangeError::new(
            field,
            format!(
                "column {bare} does not exist in table {}{}",
                table.name.name.as_str(),
                suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default()
            ),
        )
    })
}

/// A new column name: kept as typed (MySQL folds nothing), at most 64 characters.
pub fn new_column(table: &Table, name: &str, field: &'static str) -> Result<Ident, ChangeError> {
    let bare = name.trim().trim_matches('`');
    if bare.chars().count() > 64 {
        return Err(ChangeError::new(field, format!("`{bare}` is longer than 64 characters, MySQL's limit")));
    }
    let id = Ident::new(bare).map_err(|e| ChangeError::new(field, format!("invalid name `{bare}`: {e}")))?;
    if table.columns.iter().any(|c| c.name.as_str().eq_ignore_ascii_case(bare)) {
        return Err(ChangeError::new(
            field,
            format!("column {bare} already exists in table {}", table.name.name.as_str()),
        )
        .help("pick a name that is not in use"));
    }
    Ok(id)
}

/// The key the backfill walks (the primary key).
pub fn backfill_key(table: &Table) -> Result<Vec<crate::plan::KeyColumn>, ChangeError> {
    crate::change::common::backfill_key(table, "add a primary key first")
}

#[cfg(test)]
mod tests;
