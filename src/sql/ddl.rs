//! Typed DDL operations: what a plan step does, as data. `plan.yaml` stores these, and
//! [`Ddl::render`] (through `render.rs`, the one place SQL text is formatted) turns each into the
//! statement that the SQL files, `--dry-run` and the executor all run. Nothing parses planner's
//! own SQL text back: facts the executor needs (which index a step builds) come from the variant.

use serde::{Deserialize, Serialize};

use super::render::{self, IndexSpec};
use super::{Ident, QualifiedName, SqlExpr};

/// One DDL statement planner generates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Ddl {
    AddColumn {
        table: QualifiedName,
        column: Ident,
        #[serde(rename = "type")]
        data_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        collation: Option<Ident>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default: Option<DefaultExpr>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        not_null: bool,
    },
    DropColumn {
        table: QualifiedName,
        column: Ident,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        if_exists: bool,
    },
    SetNotNull {
        table: QualifiedName,
        column: Ident,
    },
    DropNotNull {
        table: QualifiedName,
        column: Ident,
    },
    SetDefault {
        table: QualifiedName,
        column: Ident,
        default: DefaultExpr,
    },
    DropDefault {
        table: QualifiedName,
        column: Ident,
    },
    /// `ALTER TABLE … ALTER COLUMN … SET STATISTICS n`.
    SetStatistics {
        table: QualifiedName,
        column: Ident,
        target: i32,
    },
    /// `ALTER TABLE … ALTER COLUMN … SET STORAGE …` (plain, external, extended, main).
    SetStorage {
        table: QualifiedName,
        column: Ident,
        storage: String,
    },
    /// `ALTER TABLE … ALTER COLUMN … SET COMPRESSION …` (PostgreSQL 14+).
    SetCompression {
        table: QualifiedName,
        column: Ident,
        compression: String,
    },
    CommentOnColumn {
        table: QualifiedName,
        column: Ident,
        /// None removes the comment.
        comment: Option<String>,
    },
    /// `sequence` is the regclass text of a `nextval('…'::regclass)` default, quoted by the catalog.
    SequenceOwnedBy {
        sequence: String,
        table: QualifiedName,
        column: Ident,
    },
    AddCheckNotValid {
        table: QualifiedName,
        constraint: Ident,
        /// The check's expression as the catalog (or planner) writes it.
        check: String,
    },
    ValidateConstraint {
        table: QualifiedName,
        constraint: Ident,
    },
    DropConstraint {
        table: QualifiedName,
        constraint: Ident,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        if_exists: bool,
    },
    RenameConstraint {
        table: QualifiedName,
        from: Ident,
        to: Ident,
    },
    AddForeignKeyNotValid {
        table: QualifiedName,
        constraint: Ident,
        columns: Vec<Ident>,
        references: QualifiedName,
        ref_columns: Vec<Ident>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_delete: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_update: Option<String>,
    },
    CreateIndexConcurrently {
        table: QualifiedName,
        index: Ident,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unique: bool,
        method: String,
        /// Rendered key parts (quoted column or parenthesised expression, plus options).
        keys: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        include: Vec<Ident>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        predicate: Option<String>,
    },
    DropIndexConcurrently {
        table: QualifiedName,
        index: Ident,
    },
    RenameIndex {
        table: QualifiedName,
        from: Ident,
        to: Ident,
    },
    AddUniqueUsingIndex {
        table: QualifiedName,
        constraint: Ident,
        index: Ident,
    },
    /// The one trigger function per table and plan that keeps both app versions' columns right.
    CreateSyncFunction {
        function: QualifiedName,
        parts: Vec<SyncPart>,
    },
    DropFunction {
        function: QualifiedName,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        if_exists: bool,
    },
    CreateTrigger {
        trigger: Ident,
        table: QualifiedName,
        function: QualifiedName,
        event: TriggerEvent,
        /// Only fire when some part has work to do (UPDATE triggers).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        when: Option<String>,
    },
    DropTrigger {
        trigger: Ident,
        table: QualifiedName,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        if_exists: bool,
    },
    /// `ALTER TABLE … ALTER COLUMN … TYPE …` without USING: planned only where PostgreSQL changes
    /// the catalog alone (no rewrite, no index rebuild, no constraint scan).
    AlterColumnType {
        table: QualifiedName,
        column: Ident,
        #[serde(rename = "type")]
        data_type: String,
    },
    /// `SET LOCAL TimeZone = '…'`: the statements after it in the same transaction read
    /// `timestamp` values in that zone (timestamp -> timestamptz without a rewrite needs UTC).
    SetLocalTimeZone {
        zone: String,
    },
    RenameColumn {
        table: QualifiedName,
        from: Ident,
        to: Ident,
    },
    /// `DROP VIEW` (no CASCADE: a view another view reads makes it fail, and planning refuses it).
    DropView {
        view: QualifiedName,
    },
    /// `CREATE VIEW … AS query`, re-creating a view from the definition the schema model holds.
    CreateView {
        view: QualifiedName,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        columns: Vec<Ident>,
        query: String,
    },
    /// `ADD CONSTRAINT … PRIMARY KEY USING INDEX …`: the index (built concurrently) becomes the key.
    AddPrimaryKeyUsingIndex {
        table: QualifiedName,
        constraint: Ident,
        index: Ident,
    },
    /// `ALTER SEQUENCE … AS <type>`; `sequence` is the regclass text of a `nextval` default.
    AlterSequenceType {
        sequence: String,
        #[serde(rename = "type")]
        data_type: String,
    },
    /// `ALTER TABLE … ALTER COLUMN … ADD GENERATED {ALWAYS|BY DEFAULT} AS IDENTITY`.
    AddIdentity {
        table: QualifiedName,
        column: Ident,
        always: bool,
    },
    /// Move the identity sequence of `to` past every value the sequence of `from` handed out:
    /// `setval(seq(to), nextval(seq(from)))`, so no id written before or after ever collides.
    ContinueIdentity {
        table: QualifiedName,
        from: Ident,
        to: Ident,
    },
    /// `LOCK TABLE a, b IN ACCESS EXCLUSIVE MODE`: one swap takes every table's lock at once, in
    /// one order, instead of one by one as its statements reach them.
    LockTables {
        tables: Vec<QualifiedName>,
    },
    /// A MySQL/MariaDB statement (`sql::mysql_ddl`), rendered there with backtick quoting.
    #[serde(rename = "mysql")]
    MySql(super::mysql_ddl::MySqlDdl),
}

/// A default: either a user expression (parsed and re-rendered) or the catalog's own text of an
/// existing column's default (carried over unchanged by a rename).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DefaultExpr {
    Expr(SqlExpr),
    Catalog(String),
}

impl DefaultExpr {
    pub fn sql(&self) -> String {
        match self {
            DefaultExpr::Expr(e) => e.to_string(),
            DefaultExpr::Catalog(text) => text.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerEvent {
    Insert,
    Update,
}

/// One change's part of a table's sync function. Parts run in change order for the old app's
/// writes (old columns -> new ones) and in reverse order for the new app's writes (new -> old),
/// so a change that reads a column an earlier change creates sees it already filled, and a chain
/// of renames carries a write through every link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SyncPart {
    /// Keep `from` (what the old app uses) and `to` (the new app's name) equal. On INSERT the new
    /// column wins when given; on UPDATE the column the statement changed wins.
    Rename { from: Ident, to: Ident },
    /// `column` := `expr` over the row. On INSERT when the write leaves it NULL. On UPDATE, unless
    /// the write set it explicitly: when it is NULL, or (`recompute`) when a column `expr` reads
    /// changed, so a value derived from other columns never goes stale.
    Fill {
        column: Ident,
        expr: SqlExpr,
        /// Columns the expression reads (its sources).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sources: Vec<Ident>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        recompute: bool,
    },
    /// A type change: `to` (the new type) holds `expr` (the `using` expression over `from`). The
    /// old app's writes of `from` are converted into `to`; when `copy_back`, a write of `to` that
    /// differs from `expr` (the new app's) is assigned back to `from` (PostgreSQL's assignment
    /// cast: an out-of-range value fails the write, none is truncated). Without `copy_back`, `to`
    /// always follows `from`.
    Convert {
        from: Ident,
        to: Ident,
        expr: SqlExpr,
        /// Columns the expression reads (`from` among them).
        sources: Vec<Ident>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        copy_back: bool,
    },
}

impl Ddl {
    /// The statement, without a trailing `;`.
    pub fn render(&self) -> String {
        match self {
            Ddl::AddColumn { table, column, data_type, collation, default, not_null } => render::add_column(
                table,
                column,
                data_type,
                collation.as_ref(),
                default.as_ref().map(|d| d.sql()).as_deref(),
                *not_null,
            ),
            Ddl::DropColumn { table, column, if_exists } => render::drop_column(table, column, *if_exists),
            Ddl::SetNotNull { table, column } => render::set_not_null(table, column),
            Ddl::DropNotNull { table, column } => render::drop_not_null(table, column),
            Ddl::SetDefault { table, column, default } => render::set_default(table, column, &default.sql()),
            Ddl::DropDefault { table, column } => render::drop_default(table, column),
            Ddl::SetStatistics { table, column, target } => render::set_statistics(table, column, *target),
            Ddl::SetStorage { table, column, storage } => render::set_storage(table, column, storage),
            Ddl::SetCompression { table, column, compression } => {
                render::set_compression(table, column, compression)
            }
            Ddl::CommentOnColumn { table, column, comment } => {
                render::comment_on_column(table, column, comment.as_deref())
            }
            Ddl::SequenceOwnedBy { sequence, table, column } => {
                render::sequence_owned_by(sequence, table, column)
            }
            Ddl::AddCheckNotValid { table, constraint, check } => {
                render::add_check_not_valid(table, constraint, check)
            }
            Ddl::ValidateConstraint { table, constraint } => render::validate_constraint(table, constraint),
            Ddl::DropConstraint { table, constraint, if_exists } => {
                render::drop_constraint(table, constraint, *if_exists)
            }
            Ddl::RenameConstraint { table, from, to } => render::rename_constraint(table, from, to),
            Ddl::AddForeignKeyNotValid {
                table,
                constraint,
                columns,
                references,
                ref_columns,
                on_delete,
                on_update,
            } => render::add_foreign_key_not_valid(
                table,
                constraint,
                columns,
                references,
                ref_columns,
                on_delete.as_deref(),
                on_update.as_deref(),
            ),
            Ddl::CreateIndexConcurrently { table, index, unique, method, keys, include, predicate } => {
                render::create_index_concurrently(&IndexSpec {
                    name: index,
                    table,
                    unique: *unique,
                    method,
                    keys: keys.clone(),
                    include,
                    predicate: predicate.clone(),
                })
            }
            Ddl::DropIndexConcurrently { table, index } => render::drop_index_concurrently(table, index),
            Ddl::RenameIndex { table, from, to } => render::rename_index(table, from, to),
            Ddl::AddUniqueUsingIndex { table, constraint, index } => {
                render::add_unique_using_index(table, constraint, index)
            }
            Ddl::CreateSyncFunction { function, parts } => {
                render::create_trigger_function(function, &render::sync_body(parts))
            }
            Ddl::DropFunction { function, if_exists } => render::drop_function(function, *if_exists),
            Ddl::CreateTrigger { trigger, table, function, event, when } => {
                render::create_row_trigger(trigger, table, function, *event, when.as_deref())
            }
            Ddl::DropTrigger { trigger, table, if_exists } => {
                render::drop_trigger(trigger, table, *if_exists)
            }
            Ddl::AlterColumnType { table, column, data_type } => {
                render::alter_column_type(table, column, data_type)
            }
            Ddl::SetLocalTimeZone { zone } => render::set_local_time_zone(zone),
            Ddl::RenameColumn { table, from, to } => render::rename_column(table, from, to),
            Ddl::DropView { view } => render::drop_view(view),
            Ddl::CreateView { view, columns, query } => render::create_view(view, columns, query),
            Ddl::AddPrimaryKeyUsingIndex { table, constraint, index } => {
                render::add_primary_key_using_index(table, constraint, index)
            }
            Ddl::AlterSequenceType { sequence, data_type } => {
                render::alter_sequence_type(sequence, data_type)
            }
            Ddl::AddIdentity { table, column, always } => render::add_identity(table, column, *always),
            Ddl::ContinueIdentity { table, from, to } => render::continue_identity(table, from, to),
            Ddl::LockTables { tables } => render::lock_tables(tables),
            Ddl::MySql(ddl) => ddl.render(),
        }
    }

    /// The index a `CREATE INDEX CONCURRENTLY` builds: a failed build leaves it invalid, and the
    /// executor drops it before building again.
    pub fn concurrent_index(&self) -> Option<(&QualifiedName, &Ident)> {
        match self {
            Ddl::CreateIndexConcurrently { table, index, .. } => Some((table, index)),
            _ => None,
        }
    }
}
