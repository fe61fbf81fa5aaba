//! information_schema -> [`SchemaModel`] for the connection's database (MySQL's schema).
//!
//! One query per catalog table for the whole database, grouped by table in Rust. Types are kept
//! as `COLUMN_TYPE` prints them (`bigint(20) unsigned`, `enum('a','b')`); defaults as SQL text
//! (MariaDB already stores them so, MySQL 8 stores literals unquoted and is quoted here).
//! MySQL records no view -> column dependencies, so they are read from the view definitions,
//! which the server stores fully qualified (`` `db`.`users`.`name` ``).
//!
//! `pg_version` is 0: this model is not PostgreSQL's; the server comes with it as [`ServerInfo`].

use std::collections::BTreeMap;

use anyhow::Context;
use sqlx::MySqlConnection;

use super::connect::{Flavour, ServerInfo};
use crate::model::{
    Column, ColumnProps, Constraint, ConstraintKind, Generated, Index, IndexKey, IndexPart, SchemaModel,
    Table, Trigger, View,
};
use crate::sql::{Ident, QualifiedName};

/// planner's own tables (src/mysql/state.rs): never part of the application's schema.
const STATE_TABLES: &[&str] = &[
    "planner_schema_version",
    "planner_state",
    "planner_backfill_progress",
    "planner_history",
    "planner_plans",
    "planner_phases",
];

/// Read the schema of the connection's current database.
pub async fn introspect(conn: &mut MySqlConnection) -> anyhow::Result<(SchemaModel, ServerInfo)> {
    let (version, database): (String, Option<String>) =
        sqlx::query_as("SELECT VERSION(), DATABASE()").fetch_one(&mut *conn).await?;
    let server = ServerInfo::parse(&version).map_err(anyhow::Error::msg)?;
    let database = database.context("the connection has no current database")?;
    let db = ident(&database)?;
    let mut tables = load_tables(conn, &db).await.context("reading tables")?;
    load_columns(conn, &db, server.flavour, &mut tables).await.context("reading columns")?;
    load_indexes(conn, &mut tables).await.context("reading indexes")?;
    load_foreign_keys(conn, &db, &mut tables).await.context("reading foreign keys")?;
    load_checks(conn, server.flavour, &mut tables).await.context("reading CHECK constraints")?;
    let triggers = load_triggers(conn, &db, &tables).await.context("reading triggers")?;
    let views = load_views(conn, &db).await.context("reading views")?;
    let tables = tables
        .into_values()
        .map(|(mut t, _)| {
            t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
            t.constraints.sort_by(|a, b| a.name.cmp(&b.name));
            (t.name.clone(), t)
        })
        .collect();
    Ok((SchemaModel { pg_version: 0, tables, views, user_types: Vec::new(), triggers }, server))
}

/// The model as a schema file gives it, for planning: the connection's database becomes the
/// model's default schema (`from_mysql_sql::MYSQL_SCHEMA`), so a plan made against `app_staging`
/// applies to `app_production` (plan.yaml names tables without the database, as MySQL DDL does),
/// and integer display widths (`bigint(20)`, MariaDB and MySQL < 8.0.19 print them) are dropped
/// except `tinyint(1)`, the boolean convention: they change nothing stored.
pub fn for_planning(mut model: SchemaModel, database: &str) -> SchemaModel {
    let home = Ident::new(crate::model::from_mysql_sql::MYSQL_SCHEMA).expect("a valid identifier");
    let rehome = |q: &mut QualifiedName| {
        if q.schema.as_str() == database {
            q.schema = home.clone();
        }
    };
    let tables = std::mem::take(&mut model.tables);
    for (_, mut table) in tables {
        rehome(&mut table.name);
        for c in &mut table.constraints {
            if let ConstraintKind::ForeignKey { references, .. } = &mut c.kind {
                rehome(references);
            }
        }
        for column in &mut table.columns {
            column.data_type = without_display_width(&column.data_type);
        }
        model.tables.insert(table.name.clone(), table);
    }
    for view in &mut model.views {
        rehome(&mut view.name);
        view.reads.iter_mut().for_each(rehome);
        view.depends_on.iter_mut().for_each(|(q, _)| rehome(q));
    }
    for trigger in &mut model.triggers {
        rehome(&mut trigger.table);
    }
    model
}

/// `bigint(20) unsigned` -> `bigint unsigned`; `tinyint(1)`, `zerofill` widths (they change how
/// values print) and everything else unchanged.
pub(crate) fn without_display_width(column_type: &str) -> String {
    for int in ["tinyint", "smallint", "mediumint", "int", "bigint"] {
        if let Some(rest) = column_type.strip_prefix(int).and_then(|r| r.strip_prefix('(')) {
            if let Some((width, tail)) = rest.split_once(')') {
                let shown = (int == "tinyint" && width == "1") || tail.contains("zerofill");
                if width.chars().all(|c| c.is_ascii_digit()) && !shown {
                    return format!("{int}{tail}");
                }
            }
        }
    }
    column_type.to_string()
}

fn ident(name: &str) -> anyhow::Result<Ident> {
    Ident::new(name).with_context(|| format!("name `{name}`"))
}

/// Tables by name, each with its default collation.
type Tables = BTreeMap<String, (Table, Option<String>)>;

async fn load_tables(conn: &mut MySqlConnection, db: &Ident) -> anyhow::Result<Tables> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES
          WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Tables::new();
    for (name, collation) in rows.into_iter().filter(|(n, _)| !STATE_TABLES.contains(&n.as_str())) {
        let table = Table {
            name: QualifiedName::new(db.clone(), ident(&name)?),
            columns: Vec::new(),
            indexes: Vec::new(),
            constraints: Vec::new(),
        };
        out.insert(name, (table, collation));
    }
    Ok(out)
}

type ColumnRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

async fn load_columns(
    conn: &mut MySqlConnection,
    _db: &Ident,
    flavour: Flavour,
    tables: &mut Tables,
) -> anyhow::Result<()> {
    let rows: Vec<ColumnRow> = sqlx::query_as(
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA,
                NULLIF(GENERATION_EXPRESSION, ''), CHARACTER_SET_NAME, COLLATION_NAME, COLUMN_COMMENT
           FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
          ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (table, name, column_type, nullable, default, extra, expression, charset, collation, comment) in rows
    {
        let Some((t, table_collation)) = tables.get_mut(&table) else { continue };
        let extra_lower = extra.to_ascii_lowercase();
        let generated = if extra_lower.contains("stored generated") {
            Some(Generated::Stored(expression.clone().unwrap_or_default()))
        } else if extra_lower.contains("virtual generated") {
            Some(Generated::Virtual(expression.clone().unwrap_or_default()))
        } else if extra_lower.contains("auto_increment") {
            // AUTO_INCREMENT is BY DEFAULT AS IDENTITY: generated when not given, may be given.
            Some(Generated::Identity { always: false })
        } else {
            None
        };
        let default =
            if generated.is_some() { None } else { sql_default(flavour, default.as_deref(), &extra) };
        t.columns.push(Column {
            name: ident(&name)?,
            data_type: column_type,
            not_null: nullable == "NO",
            default,
            generated,
            props: ColumnProps {
                // Charset and collation where the column's differ from the table's (what a
                // `MODIFY` or a copy of the column must restate; the rest it inherits).
                charset: charset.filter(|_| collation.is_some() && collation != *table_collation),
                collation: collation
                    .filter(|c| Some(c) != table_collation.as_ref())
                    .map(|c| ident(&c))
                    .transpose()?,
                comment: Some(comment).filter(|c| !c.is_empty()),
                on_update: on_update(&extra),
                ..ColumnProps::default()
            },
        });
    }
    Ok(())
}

/// `COLUMN_DEFAULT` as SQL text. MariaDB (10.2.7+) stores SQL text already (`'anon'`, `0.00`,
/// `current_timestamp()`), and the *string* `NULL` for "no default" on a nullable column;
/// MySQL 8 stores a literal's bare value and marks expressions `DEFAULT_GENERATED`.
pub fn sql_default(flavour: Flavour, default: Option<&str>, extra: &str) -> Option<String> {
    let d = default?;
    match flavour {
        Flavour::MariaDb if d == "NULL" => None,
        Flavour::MariaDb => Some(d.to_string()),
        Flavour::MySql if extra.contains("DEFAULT_GENERATED") => Some(d.to_string()),
        Flavour::MySql => Some(crate::sql::ident::quote_literal(d)),
    }
}

/// `on update current_timestamp(3)` in `EXTRA` -> `current_timestamp(3)`.
fn on_update(extra: &str) -> Option<String> {
    let at = extra.to_ascii_lowercase().find("on update ")?;
    let rest = extra[at + "on update ".len()..].trim();
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    Some(rest[..end].to_string()).filter(|s| !s.is_empty())
}

type IndexRow = (String, String, i64, Option<String>, Option<i64>, Option<String>, String);

async fn load_indexes(conn: &mut MySqlConnection, tables: &mut Tables) -> anyhow::Result<()> {
    let rows: Vec<IndexRow> = sqlx::query_as(
        "SELECT TABLE_NAME, INDEX_NAME, CAST(NON_UNIQUE AS SIGNED), COLUMN_NAME, CAST(SUB_PART AS SIGNED),
                COLLATION, INDEX_TYPE
           FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
          ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (table, index, non_unique, column, sub_part, collation, index_type) in rows {
        let Some((t, _)) = tables.get_mut(&table) else { continue };
        let name = ident(&index)?;
        let part = match column {
            Some(c) => IndexPart::Column(ident(&c)?),
            // MySQL 8 functional key parts have no column (their text is in EXPRESSION).
            None => IndexPart::Expression(String::new()),
        };
        let key = IndexKey {
            part,
            prefix: sub_part.and_then(|p| u32::try_from(p).ok()),
            options: if collation.as_deref() == Some("D") { "DESC".into() } else { String::new() },
        };
        if let Some(existing) = t.indexes.iter_mut().find(|i| i.name == name) {
            existing.keys.push(key);
            continue;
        }
        let unique = non_unique == 0;
        t.indexes.push(Index {
            name: name.clone(),
            unique,
            method: index_type.to_ascii_lowercase(),
            keys: vec![key],
            include: Vec::new(),
            predicate: None,
            // In MySQL a PRIMARY KEY or UNIQUE constraint *is* its index, under the same name.
            constraint: unique.then(|| name.clone()),
            valid: true,
        });
    }
    for (t, _) in tables.values_mut() {
        let keyed: Vec<Constraint> = t
            .indexes
            .iter()
            .filter(|i| i.unique)
            .map(|i| Constraint {
                name: i.name.clone(),
                kind: if i.name.as_str() == "PRIMARY" {
                    ConstraintKind::PrimaryKey
                } else {
                    ConstraintKind::Unique
                },
                columns: i
                    .keys
                    .iter()
                    .filter_map(|k| match &k.part {
                        IndexPart::Column(c) => Some(c.clone()),
                        IndexPart::Expression(_) => None,
                    })
                    .collect(),
                validated: true,
            })
            .collect();
        t.constraints.extend(keyed);
    }
    Ok(())
}

type ForeignKeyRow = (String, String, String, String, String, String, String, String);

async fn load_foreign_keys(
    conn: &mut MySqlConnection,
    _db: &Ident,
    tables: &mut Tables,
) -> anyhow::Result<()> {
    let rows: Vec<ForeignKeyRow> = sqlx::query_as(
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME,
                k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE
           FROM information_schema.KEY_COLUMN_USAGE k
           JOIN information_schema.REFERENTIAL_CONSTRAINTS r
             ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
            AND r.TABLE_NAME = k.TABLE_NAME
          WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL
          ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
    )
    .fetch_all(&mut *conn)
    .await?;
    // RESTRICT and NO ACTION are the same in InnoDB (checked at once): no action to carry over.
    let rule = |r: String| Some(r).filter(|r| r != "RESTRICT" && r != "NO ACTION");
    for (table, name, column, ref_schema, ref_table, ref_column, on_update, on_delete) in rows {
        let Some((t, _)) = tables.get_mut(&table) else { continue };
        let name = ident(&name)?;
        let (column, ref_column) = (ident(&column)?, ident(&ref_column)?);
        if let Some(c) = t.constraints.iter_mut().find(|c| c.name == name) {
            c.columns.push(column);
            if let ConstraintKind::ForeignKey { ref_columns, .. } = &mut c.kind {
                ref_columns.push(ref_column);
            }
            continue;
        }
        t.constraints.push(Constraint {
            name,
            kind: ConstraintKind::ForeignKey {
                references: QualifiedName::new(ident(&ref_schema)?, ident(&ref_table)?),
                ref_columns: vec![ref_column],
                on_delete: rule(on_delete),
                on_update: rule(on_update),
            },
            columns: vec![column],
            validated: true,
        });
    }
    Ok(())
}

async fn load_checks(
    conn: &mut MySqlConnection,
    flavour: Flavour,
    tables: &mut Tables,
) -> anyhow::Result<()> {
    // MariaDB has CHECK_CONSTRAINTS.TABLE_NAME (names are unique per table there); MySQL 8 has
    // not, but its CHECK names are unique per schema, so the join on the name is exact.
    let sql = match flavour {
        Flavour::MariaDb => {
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
              WHERE CONSTRAINT_SCHEMA = DATABASE()"
        }
        Flavour::MySql => {
            "SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS cc
               JOIN information_schema.TABLE_CONSTRAINTS tc ON tc.CONSTRAINT_SCHEMA = cc.CONSTRAINT_SCHEMA
                AND tc.CONSTRAINT_NAME = cc.CONSTRAINT_NAME AND tc.CONSTRAINT_TYPE = 'CHECK'
              WHERE cc.CONSTRAINT_SCHEMA = DATABASE()"
        }
    };
    let rows: Vec<(String, String, String)> = sqlx::query_as(sql).fetch_all(&mut *conn).await?;
    for (table, name, clause) in rows {
        let Some((t, _)) = tables.get_mut(&table) else { continue };
        let columns = t
            .columns
            .iter()
            .filter(|c| names_column(&clause, c.name.as_str()))
            .map(|c| c.name.clone())
            .collect();
        t.constraints.push(Constraint {
            name: ident(&name)?,
            kind: ConstraintKind::Check { expr: clause },
            columns,
            validated: true,
        });
    }
    Ok(())
}

/// Does `sql` (as the server stores it: identifiers backquoted) name column `column`?
fn names_column(sql: &str, column: &str) -> bool {
    backquoted_paths(sql).iter().any(|p| p.last().is_some_and(|c| c.eq_ignore_ascii_case(column)))
        || sql_words(sql).any(|w| w.eq_ignore_ascii_case(column))
}

/// Bare words of `sql` outside quotes (for trigger bodies, which keep the author's spelling).
fn sql_words(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).filter(|w| !w.is_empty())
}

/// Every dotted path of backquoted identifiers in `sql`: `` `db`.`t`.`c` `` -> ["db", "t", "c"].
fn backquoted_paths(sql: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut chars = sql.chars().peekable();
    let mut in_string: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = in_string {
            if c == '\\' {
                chars.next();
            } else if c == q {
                in_string = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                in_string = Some(c);
                if !path.is_empty() {
                    out.push(std::mem::take(&mut path));
                }
            }
            '`' => {
                let mut name = String::new();
                while let Some(n) = chars.next() {
                    if n == '`' {
                        if chars.peek() == Some(&'`') {
                            chars.next();
                            name.push('`');
                            continue;
                        }
                        break;
                    }
                    name.push(n);
                }
                path.push(name);
                if chars.peek() == Some(&'.') {
                    chars.next();
                } else {
                    out.push(std::mem::take(&mut path));
                }
            }
            _ => {
                if !path.is_empty() {
                    out.push(std::mem::take(&mut path));
                }
            }
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
    out
}

type TriggerRow = (String, String, String, String, i64, String, String);

async fn load_triggers(
    conn: &mut MySqlConnection,
    db: &Ident,
    tables: &Tables,
) -> anyhow::Result<Vec<Trigger>> {
    let rows: Vec<TriggerRow> = sqlx::query_as(
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, CAST(ACTION_ORDER AS SIGNED),
                ACTION_STATEMENT, SQL_MODE
           FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()
          ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for (name, table, timing, event, order, body, sql_mode) in rows {
        let columns = tables
            .get(&table)
            .map(|(t, _)| {
                t.columns
                    .iter()
                    .filter(|c| reads_row_column(&body, c.name.as_str()))
                    .map(|c| c.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        out.push(Trigger {
            name: ident(&name)?,
            table: QualifiedName::new(db.clone(), ident(&table)?),
            timing,
            event,
            order: u32::try_from(order).unwrap_or(0),
            body,
            sql_mode,
            columns,
        });
    }
    Ok(out)
}

/// Does a trigger body name `NEW.column` / `OLD.column` (bare or backquoted, any case)?
fn reads_row_column(body: &str, column: &str) -> bool {
    let lower = body.to_lowercase();
    let col = column.to_lowercase();
    ["new.", "old."].iter().any(|row| {
        [format!("{row}{col}"), format!("{row}`{}`", col.replace('`', "``"))].iter().any(|needle| {
            lower.match_indices(needle.as_str()).any(|(at, _)| {
                let before_ok = at == 0 || !lower[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
                let after = &lower[at + needle.len()..];
                let after_ok = needle.ends_with('`')
                    || !after.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$');
                before_ok && after_ok
            })
        })
    })
}

async fn load_views(conn: &mut MySqlConnection, db: &Ident) -> anyhow::Result<Vec<View>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION FROM information_schema.VIEWS
          WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for (name, definition, check_option) in rows {
        let (reads, depends_on) = view_dependencies(db, &definition)?;
        out.push(View {
            name: QualifiedName::new(db.clone(), ident(&name)?),
            materialized: false,
            depends_on,
            reads,
            query: definition,
            columns: Vec::new(),
            options: if check_option == "NONE" {
                Vec::new()
            } else {
                vec![format!("check_option={}", check_option.to_lowercase())]
            },
        });
    }
    Ok(out)
}

/// Relations and columns a stored view definition names: `` `db`.`t` `` is a relation read,
/// `` `db`.`t`.`c` `` a column of it. Only this database's objects (the model's scope).
#[allow(clippy::type_complexity)]
fn view_dependencies(
    db: &Ident,
    definition: &str,
) -> anyhow::Result<(Vec<QualifiedName>, Vec<(QualifiedName, Ident)>)> {
    let mut reads: Vec<QualifiedName> = Vec::new();
    let mut columns: Vec<(QualifiedName, Ident)> = Vec::new();
    for path in backquoted_paths(definition) {
        if path.len() < 2 || path[0] != db.as_str() {
            continue;
        }
        let relation = QualifiedName::new(db.clone(), ident(&path[1])?);
        if !reads.contains(&relation) {
            reads.push(relation.clone());
        }
        if path.len() == 3 {
            let entry = (relation, ident(&path[2])?);
            if !columns.contains(&entry) {
                columns.push(entry);
            }
        }
    }
    Ok((reads, columns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_widths_go_except_for_booleans_and_zerofill() {
        assert_eq!(without_display_width("bigint(20)"), "bigint");
        assert_eq!(without_display_width("int(10) unsigned"), "int unsigned");
        assert_eq!(without_display_width("tinyint(1)"), "tinyint(1)");
        assert_eq!(without_display_width("tinyint(4)"), "tinyint");
        assert_eq!(without_display_width("int(5) unsigned zerofill"), "int(5) unsigned zerofill");
        assert_eq!(without_display_width("varchar(20)"), "varchar(20)");
        assert_eq!(without_display_width("interval(3)"), "interval(3)");
    }

    #[test]
    fn defaults_become_sql_text() {
        assert_eq!(sql_default(Flavour::MariaDb, Some("'anon'"), "").as_deref(), Some("'anon'"));
        assert_eq!(sql_default(Flavour::MariaDb, Some("NULL"), ""), None);
        assert_eq!(sql_default(Flavour::MariaDb, None, ""), None);
        assert_eq!(sql_default(Flavour::MySql, Some("anon"), "").as_deref(), Some("'anon'"));
        assert_eq!(
            sql_default(Flavour::MySql, Some("CURRENT_TIMESTAMP"), "DEFAULT_GENERATED").as_deref(),
            Some("CURRENT_TIMESTAMP")
        );
        assert_eq!(on_update("on update current_timestamp(3)").as_deref(), Some("current_timestamp(3)"));
        assert_eq!(
            on_update("DEFAULT_GENERATED on update CURRENT_TIMESTAMP").as_deref(),
            Some("CURRENT_TIMESTAMP")
        );
        assert_eq!(on_update("auto_increment"), None);
    }

    #[test]
    fn view_definitions_name_their_columns() {
        let db = Ident::new("shop").unwrap();
        let def = "select `shop`.`users`.`id` AS `id`,`shop`.`users`.`name` AS `n`, 'x.`y`' AS `lit` \
                   from (`shop`.`users` join `other`.`t`)";
        let (reads, cols) = view_dependencies(&db, def).unwrap();
        let users = QualifiedName::new(db.clone(), Ident::new("users").unwrap());
        assert_eq!(reads, vec![users.clone()]);
        assert_eq!(
            cols,
            vec![(users.clone(), Ident::new("id").unwrap()), (users, Ident::new("name").unwrap())]
        );
    }

    #[test]
    fn trigger_bodies_name_row_columns() {
        assert!(reads_row_column("SET NEW.full_name = NEW.name", "name"));
        assert!(reads_row_column("IF NOT (NEW.`Name` <=> OLD.`Name`) THEN", "name"));
        assert!(!reads_row_column("SET NEW.full_name = 1", "name"));
        assert!(!reads_row_column("SET NEW.name_x = 1", "name"));
    }
}
