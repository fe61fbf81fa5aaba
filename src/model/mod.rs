//! The schema model: tables, columns, indexes, constraints, views and their dependencies.
//!
//! Built from a `schema.sql` file ([`from_sql`]) or from a live database ([`introspect`]), then
//! read by the pure plan compiler. Names are exact catalog names ([`Ident`]).

pub mod from_sql;
pub mod introspect;
pub mod types;

use std::collections::BTreeMap;

use crate::sql::{Ident, QualifiedName};

/// Oldest server major version planner plans for (instant defaults need 11).
pub const MIN_PG_VERSION: u32 = 11;
/// Used when the schema comes from a file and no `--pg-version` is given.
pub const DEFAULT_PG_VERSION: u32 = 15;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchemaModel {
    /// Server major version (e.g. 15).
    pub pg_version: u32,
    pub tables: BTreeMap<QualifiedName, Table>,
    pub views: Vec<View>,
    /// User-defined types (enums, domains, composites) usable as column types, by qualified name.
    pub user_types: Vec<QualifiedName>,
    /// Triggers, from MySQL/MariaDB introspection (a DROP/RENAME COLUMN there silently breaks a
    /// trigger that reads the column, so planner must see them). Empty for PostgreSQL.
    pub triggers: Vec<Trigger>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: QualifiedName,
    pub columns: Vec<Column>,
    pub indexes: Vec<Index>,
    pub constraints: Vec<Constraint>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: Ident,
    /// Canonical type text as `format_type()` prints it (e.g. `character varying(200)`).
    pub data_type: String,
    pub not_null: bool,
    /// Default expression as SQL text.
    pub default: Option<String>,
    /// `GENERATED ... AS IDENTITY` or `GENERATED ALWAYS AS (...) STORED`.
    pub generated: Option<Generated>,
    /// What a rename must carry over besides type, default and NOT NULL.
    pub props: ColumnProps,
}

/// Column properties that differ from the type's defaults (None = the default).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnProps {
    /// A collation other than the type's default (`text COLLATE "C"`): it decides sort order and
    /// uniqueness, so a renamed copy without it would change both.
    pub collation: Option<Ident>,
    pub comment: Option<String>,
    /// `SET STATISTICS n` (n >= 0).
    pub statistics: Option<i32>,
    /// `plain`, `external`, `extended` or `main`, when not the type's own.
    pub storage: Option<String>,
    /// `pglz` or `lz4`, when set (PostgreSQL 14+).
    pub compression: Option<String>,
    /// MySQL/MariaDB `ON UPDATE <expr>` (e.g. `current_timestamp(3)`): a copy without it would
    /// stop tracking updates.
    pub on_update: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generated {
    /// `GENERATED ALWAYS` (true) or `BY DEFAULT AS IDENTITY`.
    Identity {
        always: bool,
    },
    Stored(String),
    /// MySQL/MariaDB `GENERATED ALWAYS AS (...) VIRTUAL`: computed on read, not stored.
    Virtual(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub name: Ident,
    pub unique: bool,
    /// Access method, e.g. `btree`, `gin`.
    pub method: String,
    /// Key parts in order: a plain column, or an expression (SQL text) with optional opclass/order.
    pub keys: Vec<IndexKey>,
    /// INCLUDE columns.
    pub include: Vec<Ident>,
    /// Partial index predicate (SQL text).
    pub predicate: Option<String>,
    /// Backs a PRIMARY KEY / UNIQUE constraint of this name (then it is dropped with it).
    pub constraint: Option<Ident>,
    /// False for an invalid index left by a failed CREATE INDEX CONCURRENTLY.
    pub valid: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndexKey {
    pub part: IndexPart,
    /// MySQL/MariaDB prefix length (`name(10)`: the first 10 characters are indexed).
    pub prefix_len: Option<u32>,
    /// Everything after the key: opclass, ASC/DESC, NULLS FIRST/LAST (SQL text, may be empty).
    pub options: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IndexPart {
    Column(Ident),
    Expression(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    pub name: Ident,
    pub kind: ConstraintKind,
    /// Columns of this table the constraint involves (for CHECK: the columns its expression uses).
    pub columns: Vec<Ident>,
    /// False for NOT VALID constraints not yet validated.
    pub validated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    Check {
        expr: String,
    },
    ForeignKey {
        references: QualifiedName,
        ref_columns: Vec<Ident>,
        on_delete: Option<String>,
        on_update: Option<String>,
    },
    /// EXCLUDE and anything else planner does not rewrite; kept so dependency checks see it.
    Other {
        definition: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub name: QualifiedName,
    pub materialized: bool,
    /// Columns this view reads, by table.
    pub depends_on: Vec<(QualifiedName, Ident)>,
    /// Every relation the query reads (tables, views): a view another view reads cannot be dropped
    /// on its own.
    pub reads: Vec<QualifiedName>,
    /// The query as schema.sql writes it or as `pg_get_viewdef` prints it: what a change that must
    /// drop the view (a column type change) re-creates it from.
    pub query: String,
    /// Explicit output column names (`CREATE VIEW v (a, b) AS …`); empty: the query's own names.
    pub columns: Vec<Ident>,
    /// `WITH (…)` options (`security_barrier`, `check_option`, `security_invoker`), as written.
    pub options: Vec<String>,
}

/// A MySQL/MariaDB trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub name: Ident,
    pub table: QualifiedName,
    /// `BEFORE` or `AFTER`.
    pub timing: String,
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub event: String,
    /// Position among the table's triggers for the same timing and event (1 = first).
    pub order: u32,
    /// The body (`ACTION_STATEMENT`).
    pub body: String,
    /// The sql_mode it was created under (and runs under, whoever fires it).
    pub sql_mode: String,
    /// Columns of the table the body names through `NEW.` / `OLD.`.
    pub columns: Vec<Ident>,
}

impl SchemaModel {
    /// Views (and materialized views) whose query reads `relation`.
    pub fn views_reading(&self, relation: &QualifiedName) -> Vec<&View> {
        self.views.iter().filter(|v| v.reads.contains(relation)).collect()
    }
}

/// A lookup that failed, with the closest existing names for a "did you mean".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("table {table} does not exist{}", did_you_mean(.suggestion))]
    NoTable { table: String, suggestion: Option<String> },
    #[error("column {column} does not exist in table {table}{}", did_you_mean(.suggestion))]
    NoColumn { table: String, column: String, suggestion: Option<String> },
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default()
}

/// The closest candidate by Jaro-Winkler similarity, when close enough to be a plausible typo.
pub fn closest<'a>(needle: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&needle.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

impl SchemaModel {
    pub fn new(pg_version: u32) -> Self {
        SchemaModel { pg_version, ..Default::default() }
    }

    pub fn table(&self, name: &QualifiedName) -> Result<&Table, LookupError> {
        self.tables.get(name).ok_or_else(|| LookupError::NoTable {
            table: name.display_short(),
            suggestion: closest(
                &name.display_short(),
                self.tables.keys().map(|k| k.display_short()).collect::<Vec<_>>().iter().map(|s| s.as_str()),
            ),
        })
    }

    pub fn table_mut(&mut self, name: &QualifiedName) -> Option<&mut Table> {
        self.tables.get_mut(name)
    }

    /// Views that read `table.column`.
    pub fn views_using(&self, table: &QualifiedName, column: &Ident) -> Vec<&View> {
        self.views.iter().filter(|v| v.depends_on.iter().any(|(t, c)| t == table && c == column)).collect()
    }

    /// Foreign keys on other tables (or this one) that reference `table.column`.
    pub fn foreign_keys_referencing(
        &self,
        table: &QualifiedName,
        column: &Ident,
    ) -> Vec<(&Table, &Constraint)> {
        let mut out = Vec::new();
        for t in self.tables.values() {
            for c in &t.constraints {
                if let ConstraintKind::ForeignKey { references, ref_columns, .. } = &c.kind {
                    if references == table && ref_columns.contains(column) {
                        out.push((t, c));
                    }
                }
            }
        }
        out
    }

    /// A type as written (`int`, `varchar(20)`, `order_status[]`, `billing.kind`) in the
    /// spelling `format_type()` prints, when the model knows it: a built-in, or a user type of the
    /// model (schema-qualified only outside `public`, like `format_type` with the default
    /// search_path). `None` for an unknown type.
    pub fn resolve_type(&self, text: &str) -> Option<String> {
        if let Some(canonical) = types::canonicalize(text) {
            return Some(canonical);
        }
        let bare = text.trim_end_matches("[]");
        let user_type =
            QualifiedName::from_user(bare, "public").ok().filter(|t| self.user_types.contains(t))?;
        let shown = if user_type.schema.as_str() == "public" {
            crate::sql::ident::short(&user_type.name)
        } else {
            user_type.display_short()
        };
        Some(format!("{shown}{}", &text[bare.len()..]))
    }
}

impl Table {
    pub fn column(&self, name: &Ident) -> Result<&Column, LookupError> {
        self.columns.iter().find(|c| &c.name == name).ok_or_else(|| LookupError::NoColumn {
            table: self.name.display_short(),
            column: crate::sql::ident::short(name),
            suggestion: closest(name.as_str(), self.columns.iter().map(|c| c.name.as_str())),
        })
    }

    pub fn has_column(&self, name: &Ident) -> bool {
        self.columns.iter().any(|c| &c.name == name)
    }

    pub fn primary_key(&self) -> Option<&Constraint> {
        self.constraints.iter().find(|c| c.kind == ConstraintKind::PrimaryKey)
    }

    /// Primary key columns with their types, in key order; empty when there is no primary key.
    pub fn primary_key_columns(&self) -> Vec<&Column> {
        self.primary_key()
            .map(|pk| {
                pk.columns.iter().filter_map(|c| self.columns.iter().find(|col| &col.name == c)).collect()
            })
            .unwrap_or_default()
    }

    /// The key the backfill walks rows by: the primary key, or else the first (by name) valid
    /// unique index on plain NOT NULL columns without a predicate (a key that orders every row
    /// exactly once). Empty when the table has neither.
    pub fn backfill_key(&self) -> Vec<&Column> {
        let pk = self.primary_key_columns();
        if !pk.is_empty() {
            return pk;
        }
        let mut unique: Vec<&Index> =
            self.indexes.iter().filter(|i| i.unique && i.valid && i.predicate.is_none()).collect();
        unique.sort_by(|a, b| a.name.cmp(&b.name));
        for index in unique {
            let columns: Option<Vec<&Column>> = index
                .keys
                .iter()
                .map(|k| match &k.part {
                    IndexPart::Column(c) => self.columns.iter().find(|col| &col.name == c && col.not_null),
                    IndexPart::Expression(_) => None,
                })
                .collect();
            if let Some(columns) = columns.filter(|c| !c.is_empty()) {
                return columns;
            }
        }
        Vec::new()
    }

    /// Indexes whose keys, expressions, INCLUDE list or predicate involve `column`.
    pub fn indexes_using(&self, column: &Ident) -> Vec<&Index> {
        self.indexes.iter().filter(|i| i.uses_column(column)).collect()
    }

    /// Constraints of this table that involve `column`.
    pub fn constraints_using(&self, column: &Ident) -> Vec<&Constraint> {
        self.constraints.iter().filter(|c| c.columns.contains(column)).collect()
    }
}

impl Index {
    pub fn uses_column(&self, column: &Ident) -> bool {
        let in_expr = |sql: &str| crate::sql::rewrite::references_column(sql, column);
        self.keys.iter().any(|k| match &k.part {
            IndexPart::Column(c) => c == column,
            IndexPart::Expression(e) => in_expr(e),
        }) || self.include.contains(column)
            || self.predicate.as_deref().is_some_and(in_expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_resolve_to_the_spelling_format_type_prints() {
        let mut model = SchemaModel::new(15);
        model.user_types.push(QualifiedName::from_user("order_status", "public").unwrap());
        model.user_types.push(QualifiedName::from_user("billing.\"Kind\"", "public").unwrap());
        assert_eq!(model.resolve_type("int4").as_deref(), Some("integer"));
        assert_eq!(model.resolve_type("order_status[]").as_deref(), Some("order_status[]"));
        assert_eq!(model.resolve_type("billing.\"Kind\"").as_deref(), Some("billing.\"Kind\""));
        assert_eq!(model.resolve_type("billing.kind"), None, "unquoted folds to a type that does not exist");
        assert_eq!(model.resolve_type("orderstatus"), None);
    }
}
