//! pg_catalog -> SchemaModel (live introspection).
//!
//! A handful of catalog queries in one read-only snapshot, grouped by table in Rust (no query per
//! table). Every text the server renders for us (types, defaults, expressions, constraint
//! definitions) depends on session settings, so they are pinned for the duration (see
//! [`SESSION_SETTINGS`]). Expressions are read in the server's "pretty" form (no redundant
//! parentheses), which is the closest to what a schema.sql author writes.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, Row};

use super::{
    Column, Constraint, ConstraintKind, Generated, Index, IndexKey, IndexPart, SchemaModel, Table, View,
};
use crate::error::InputError;
use crate::sql::{Ident, QualifiedName};

/// Settings that change how the server prints names and constants, pinned (transaction-local) so
/// the same database always gives the same model: `public` objects bare, others qualified;
/// timestamp constants in UTC/ISO.
const SESSION_SETTINGS: &[&str] = &[
    "SET LOCAL search_path = public",
    "SET LOCAL TimeZone = 'UTC'",
    "SET LOCAL DateStyle = 'ISO, MDY'",
    "SET LOCAL IntervalStyle = 'postgres'",
];

/// Read the current schema of `schemas` (empty: every non-system schema except `planner`).
///
/// Runs in its own REPEATABLE READ, READ ONLY transaction (a savepoint if `conn` is already in a
/// transaction) so all queries see one snapshot; nothing is written.
pub async fn introspect(conn: &mut PgConnection, schemas: &[String]) -> anyhow::Result<SchemaModel> {
    let mut tx = if conn.is_in_transaction() {
        conn.begin().await
    } else {
        conn.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await
    }
    .context("starting the introspection transaction")?;
    for setting in SESSION_SETTINGS {
        sqlx::query(*setting).execute(&mut *tx).await.with_context(|| setting.to_string())?;
    }

    let pg_version = server_major_version(&mut tx).await?;
    let schemas = resolve_schemas(&mut tx, schemas).await?;
    let mut tables = load_tables(&mut tx, &schemas).await.context("reading tables")?;
    load_columns(&mut tx, &schemas, &mut tables).await.context("reading columns")?;
    load_indexes(&mut tx, &schemas, &mut tables).await.context("reading indexes")?;
    load_constraints(&mut tx, &schemas, &mut tables).await.context("reading constraints")?;
    let views = load_views(&mut tx, &schemas).await.context("reading views")?;
    let user_types = load_user_types(&mut tx, &schemas).await.context("reading user types")?;
    tx.rollback().await?;

    // Sorted here rather than in SQL: byte order, independent of the database's collation.
    let tables = tables
        .into_values()
        .map(|mut t| {
            t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
            t.constraints.sort_by(|a, b| a.name.cmp(&b.name));
            (t.name.clone(), t)
        })
        .collect();
    Ok(SchemaModel { pg_version, tables, views, user_types, triggers: Vec::new() })
}

/// `server_version_num` 150004 -> 15 (10 and later: major = num / 10000).
async fn server_major_version(conn: &mut PgConnection) -> anyhow::Result<u32> {
    let num: String = sqlx::query_scalar("SELECT current_setting('server_version_num')")
        .fetch_one(&mut *conn)
        .await
        .context("reading server_version_num")?;
    major_from_version_num(&num)
}

fn major_from_version_num(num: &str) -> anyhow::Result<u32> {
    let n: u32 = num.trim().parse().with_context(|| format!("server_version_num {num:?} is not a number"))?;
    Ok(n / 10000)
}

/// The schema names to read: the given ones (each must exist) or every non-system schema.
async fn resolve_schemas(conn: &mut PgConnection, requested: &[String]) -> anyhow::Result<Vec<String>> {
    let mut existing: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'",
    )
    .fetch_all(&mut *conn)
    .await
    .context("listing schemas")?;
    existing.sort();
    if requested.is_empty() {
        // planner's own state schema is never part of the user's schema.
        return Ok(existing.into_iter().filter(|s| s != "planner").collect());
    }
    for name in requested {
        if !existing.contains(name) {
            let mut err = InputError::new(format!("schema {name:?} does not exist in the database"));
            err = match super::closest(name, existing.iter().map(String::as_str)) {
                Some(s) => err.help(format!("did you mean {s:?}? schemas are case-sensitive here")),
                None => err.help(format!("existing schemas: {}", existing.join(", "))),
            };
            return Err(err.into());
        }
    }
    let mut names = requested.to_vec();
    names.sort();
    names.dedup();
    Ok(names)
}

fn ident(name: String) -> anyhow::Result<Ident> {
    Ident::new(name.clone()).with_context(|| format!("catalog name {name:?}"))
}

fn idents(names: Vec<String>) -> anyhow::Result<Vec<Ident>> {
    names.into_iter().map(ident).collect()
}

fn qualified(schema: String, name: String) -> anyhow::Result<QualifiedName> {
    Ok(QualifiedName::new(ident(schema)?, ident(name)?))
}

/// The SQL condition that the `pg_class` row `c` does not belong to an extension (objects of an
/// extension are not ours to change).
macro_rules! not_an_extension_member {
    () => {
        "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                        AND d.objid = c.oid AND d.deptype = 'e')"
    };
}

/// Rows of a catalog query whose `$1` is the schema names to read.
async fn fetch_in_schemas(
    conn: &mut PgConnection,
    schemas: &[String],
    sql: &'static str,
) -> anyhow::Result<Vec<PgRow>> {
    Ok(sqlx::query(sql).bind(schemas).fetch_all(&mut *conn).await?)
}

/// Tables by oid. Objects that belong to an extension are left out: they are not ours to change.
async fn load_tables(conn: &mut PgConnection, schemas: &[String]) -> anyhow::Result<BTreeMap<i64, Table>> {
    let rows = fetch_in_schemas(
        conn,
        schemas,
        concat!(
            "SELECT c.oid::int8 AS oid, n.nspname::text AS schema, c.relname::text AS name
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1)
            AND ",
            not_an_extension_member!()
        ),
    )
    .await?;
    let mut tables = BTreeMap::new();
    for row in rows {
        let name = qualified(row.try_get("schema")?, row.try_get("name")?)?;
        tables.insert(
            row.try_get::<i64, _>("oid")?,
            Table { name, columns: Vec::new(), indexes: Vec::new(), constraints: Vec::new() },
        );
    }
    Ok(tables)
}

/// The table a row belongs to, by its `table_oid` column; rows of tables not loaded are skipped.
fn owner<'a>(tables: &'a mut BTreeMap<i64, Table>, row: &PgRow) -> anyhow::Result<Option<&'a mut Table>> {
    Ok(tables.get_mut(&row.try_get::<i64, _>("table_oid")?))
}

async fn load_columns(
    conn: &mut PgConnection,
    schemas: &[String],
    tables: &mut BTreeMap<i64, Table>,
) -> anyhow::Result<()> {
    // attgenerated only exists from PostgreSQL 12 on; reading it through to_jsonb gives NULL on 11
    // instead of an error, so one query serves every supported version.
    let rows = fetch_in_schemas(
        conn,
        schemas,
        "SELECT a.attrelid::int8 AS table_oid, a.attname::text AS name,
                format_type(a.atttypid, a.atttypmod) AS data_type, a.attnotnull AS not_null,
                pg_get_expr(d.adbin, d.adrelid, true) AS expr, a.attidentity::text AS identity,
                coalesce(to_jsonb(a) ->> 'attgenerated', '') AS generated,
                CASE WHEN a.attcollation <> t.typcollation THEN co.collname::text END AS collation,
                col_description(a.attrelid, a.attnum) AS comment,
                nullif((to_jsonb(a) ->> 'attstattarget')::int, -1) AS statistics,
                CASE WHEN a.attstorage <> t.typstorage THEN
                  CASE a.attstorage WHEN 'p' THEN 'plain' WHEN 'e' THEN 'external' WHEN 'x' THEN 'extended' WHEN 'm' THEN 'main' END
                END AS storage,
                CASE coalesce(to_jsonb(a) ->> 'attcompression', '') WHEN 'p' THEN 'pglz' WHEN 'l' THEN 'lz4' END AS compression
           FROM pg_attribute a
           JOIN pg_class c ON c.oid = a.attrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_type t ON t.oid = a.atttypid
           LEFT JOIN pg_collation co ON co.oid = a.attcollation
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attrelid, a.attnum",
    )
    .await?;
    for row in rows {
        let Some(table) = owner(tables, &row)? else { continue };
        let expr: Option<String> = row.try_get("expr")?;
        let identity: String = row.try_get("identity")?;
        let stored = row.try_get::<String, _>("generated")? == "s";
        let (default, generated) = match (identity.is_empty(), stored, expr) {
            // attidentity: 'a' GENERATED ALWAYS, 'd' BY DEFAULT.
            (false, _, _) => (None, Some(Generated::Identity { always: identity == "a" })),
            // The generation expression lives in pg_attrdef too; it is not a default.
            // The server parenthesizes it even in pretty form; the model holds what is inside AS (...).
            (true, true, Some(e)) => (None, Some(Generated::Stored(strip_outer_parens(&e).to_string()))),
            (true, _, e) => (e, None),
        };
        let data_type: String = row.try_get("data_type")?;
        let default = default.map(|d| without_cast_to(&d, &data_type).to_string());
        table.columns.push(Column {
            name: ident(row.try_get("name")?)?,
            data_type,
            not_null: row.try_get("not_null")?,
            default,
            generated,
            props: crate::model::ColumnProps {
                collation: row.try_get::<Option<String>, _>("collation")?.map(ident).transpose()?,
                comment: row.try_get("comment")?,
                statistics: row.try_get("statistics")?,
                storage: row.try_get("storage")?,
                compression: row.try_get("compression")?,
                on_update: None,
            },
        });
    }
    Ok(())
}

/// `'x'::character varying` -> `'x'` when the cast is to the column's own type. The server adds
/// that cast when it stores a literal default; a default is coerced to the column type anyway, so
/// dropping it keeps the meaning and gives back what the schema file said (`DEFAULT ''`).
fn without_cast_to<'a>(default: &'a str, data_type: &str) -> &'a str {
    let Some(body) = default.strip_prefix('\'') else { return default };
    // End of the literal: a quote not followed by another quote ('' is an escaped quote).
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\'' {
            continue;
        }
        if chars.peek().is_some_and(|&(_, n)| n == '\'') {
            chars.next();
            continue;
        }
        let literal_end = i + 2; // opening quote + body up to and including this quote
        return match default[literal_end..].strip_prefix("::") {
            Some(ty) if same_type(ty, data_type) => &default[..literal_end],
            _ => default,
        };
    }
    default
}

/// Is the cast type `cast` (as printed in an expression) the column type `data_type`
/// (as `format_type` prints it), ignoring the type modifier?
fn same_type(cast: &str, data_type: &str) -> bool {
    // Expressions print a few types by their internal names.
    let cast = match cast {
        "bpchar" => "character",
        "\"bit\"" => "bit",
        other => other,
    };
    cast == data_type || cast == without_modifier(data_type)
}

/// `character varying(200)` -> `character varying`, `timestamp(3) with time zone` -> `timestamp with
/// time zone`: the server prints a literal's cast without the column's type modifier.
fn without_modifier(data_type: &str) -> String {
    match (data_type.find('('), data_type.find(')')) {
        (Some(open), Some(close)) if open < close => {
            format!("{}{}", &data_type[..open], &data_type[close + 1..])
        }
        _ => data_type.to_string(),
    }
}

async fn load_indexes(
    conn: &mut PgConnection,
    schemas: &[String],
    tables: &mut BTreeMap<i64, Table>,
) -> anyhow::Result<()> {
    // Per index position k: the column name (NULL for an expression) and the server's rendering
    // of that position alone; the full definition gives the options after each key.
    let rows = fetch_in_schemas(
        conn,
        schemas,
        "SELECT i.indrelid::int8 AS table_oid, ic.relname::text AS name, i.indisunique AS is_unique,
                am.amname::text AS method, i.indnkeyatts::int4 AS key_count, i.indisvalid AS valid,
                pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
                pg_get_indexdef(i.indexrelid, 0, true) AS definition,
                array(SELECT a.attname::text FROM generate_series(1, i.indnatts) k
                        LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1]
                                                 AND i.indkey[k - 1] <> 0
                       ORDER BY k) AS columns,
                array(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnatts) k
                       ORDER BY k) AS parts,
                (SELECT con.conname::text FROM pg_constraint con
                  WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                    AND con.contype IN ('p', 'u', 'x')
                  ORDER BY con.conname LIMIT 1) AS constraint_name
           FROM pg_index i
           JOIN pg_class ic ON ic.oid = i.indexrelid
           JOIN pg_am am ON am.oid = ic.relam
           JOIN pg_class c ON c.oid = i.indrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1)
          ORDER BY i.indrelid, ic.relname",
    )
    .await?;
    for row in rows {
        let Some(table) = owner(tables, &row)? else { continue };
        let name: String = row.try_get("name")?;
        let index = index_from_row(&row).with_context(|| format!("index {name:?} on {}", table.name))?;
        table.indexes.push(index);
    }
    Ok(())
}

fn index_from_row(row: &PgRow) -> anyhow::Result<Index> {
    let key_count = usize::try_from(row.try_get::<i32, _>("key_count")?)?;
    let columns: Vec<Option<String>> = row.try_get("columns")?;
    let parts: Vec<String> = row.try_get("parts")?;
    let definition: String = row.try_get("definition")?;
    let options = key_options(&definition, &parts[..key_count.min(parts.len())])?;
    let mut keys = Vec::new();
    let mut include = Vec::new();
    for (k, (column, part)) in columns.into_iter().zip(parts).enumerate() {
        if k >= key_count {
            // INCLUDE entries are always plain columns.
            include.push(ident(column.context("INCLUDE entry without a column")?)?);
            continue;
        }
        let part = match column {
            Some(c) => IndexPart::Column(ident(c)?),
            None => IndexPart::Expression(strip_outer_parens(&part).to_string()),
        };
        keys.push(IndexKey { part, prefix_len: None, options: options[k].clone() });
    }
    Ok(Index {
        name: ident(row.try_get("name")?)?,
        unique: row.try_get("is_unique")?,
        method: row.try_get("method")?,
        keys,
        include,
        predicate: row.try_get("predicate")?,
        constraint: row.try_get::<Option<String>, _>("constraint_name")?.map(ident).transpose()?,
        valid: row.try_get("valid")?,
    })
}

/// `(b + 1)` -> `b + 1`: the server wraps non-function expressions in parentheses so they parse
/// inside an index column list; the model keeps the bare expression.
fn strip_outer_parens(expr: &str) -> &str {
    let t = expr.trim();
    match t.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
        Some(inner) if balanced(inner) => inner.trim(),
        _ => t,
    }
}

/// Do the parentheses of `s` (outside quotes) never close more than they opened, and all close?
fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0 && quote.is_none()
}

/// Split the top-level, comma-separated items of the first parenthesized list in `def`
/// (outside double-quoted names), honouring quotes and nested parentheses.
fn first_list_items(def: &str) -> Option<Vec<&str>> {
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let mut start = None;
    let mut items = Vec::new();
    for (i, c) in def.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => {
                depth += 1;
                if depth == 1 && start.is_none() {
                    start = Some(i + 1);
                }
            }
            (None, ')') => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    items.push(&def[start?..i]);
                    return Some(items);
                }
            }
            (None, ',') if depth == 1 => {
                items.push(&def[start?..i]);
                start = Some(i + 1);
            }
            _ => {}
        }
    }
    None
}

/// The text after each key in the full index definition: collation, opclass, DESC, NULLS FIRST.
/// Each item of the definition's key list starts with exactly what `pg_get_indexdef(oid, k, true)`
/// returns for that key (the same deparser), so what follows it is the options.
fn key_options(definition: &str, parts: &[String]) -> anyhow::Result<Vec<String>> {
    let items = first_list_items(definition)
        .with_context(|| format!("cannot find the key list in {definition:?}"))?;
    parts
        .iter()
        .enumerate()
        .map(|(k, part)| {
            let item = items.get(k).map(|s| s.trim()).unwrap_or_default();
            item.strip_prefix(part.as_str())
                .map(|rest| rest.trim().to_string())
                .with_context(|| format!("key {} ({part}) does not match {definition:?}", k + 1))
        })
        .collect()
}

async fn load_constraints(
    conn: &mut PgConnection,
    schemas: &[String],
    tables: &mut BTreeMap<i64, Table>,
) -> anyhow::Result<()> {
    // NOT NULL constraints (contype 'n', PostgreSQL 18) are Column::not_null; constraint
    // triggers ('t') are triggers, not table constraints. `ON DELETE SET NULL (a)` column lists
    // exist from PostgreSQL 15 on: read through to_jsonb so older servers give an empty list.
    let rows = fetch_in_schemas(conn, schemas, "SELECT con.conrelid::int8 AS table_oid, con.conname::text AS name, con.contype::text AS kind,
                con.convalidated AS validated, pg_get_constraintdef(con.oid, true) AS definition,
                array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                       ORDER BY k.ord) AS columns,
                fn.nspname::text AS ref_schema, fc.relname::text AS ref_table,
                array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                       ORDER BY k.ord) AS ref_columns,
                con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update,
                array(SELECT a.attname::text
                        FROM jsonb_array_elements_text(coalesce(nullif(to_jsonb(con) -> 'confdelsetcols', 'null'), '[]'))
                             WITH ORDINALITY k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum::int2
                       ORDER BY k.ord) AS on_delete_columns
           FROM pg_constraint con
           JOIN pg_class c ON c.oid = con.conrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_class fc ON fc.oid = con.confrelid
           LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
          WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1) AND con.contype NOT IN ('n', 't')
          ORDER BY con.conrelid, con.conname").await?;
    for row in rows {
        let Some(table) = owner(tables, &row)? else { continue };
        let name: String = row.try_get("name")?;
        let constraint =
            constraint_from_row(&row).with_context(|| format!("constraint {name:?} on {}", table.name))?;
        table.constraints.push(constraint);
    }
    Ok(())
}

fn constraint_from_row(row: &PgRow) -> anyhow::Result<Constraint> {
    let definition: String = row.try_get("definition")?;
    let kind = match row.try_get::<String, _>("kind")?.as_str() {
        "p" => ConstraintKind::PrimaryKey,
        "u" => ConstraintKind::Unique,
        "c" => match check_expression(&definition) {
            Some(expr) => ConstraintKind::Check { expr },
            None => ConstraintKind::Other { definition },
        },
        "f" => {
            let on_delete_columns = idents(row.try_get("on_delete_columns")?)?;
            ConstraintKind::ForeignKey {
                references: qualified(row.try_get("ref_schema")?, row.try_get("ref_table")?)?,
                ref_columns: idents(row.try_get("ref_columns")?)?,
                on_delete: referential_action(&row.try_get::<String, _>("on_delete")?)
                    .map(|action| with_columns(action, &on_delete_columns)),
                on_update: referential_action(&row.try_get::<String, _>("on_update")?),
            }
        }
        _ => ConstraintKind::Other { definition },
    };
    Ok(Constraint {
        name: ident(row.try_get("name")?)?,
        kind,
        columns: idents(row.try_get("columns")?)?,
        validated: row.try_get("validated")?,
    })
}

/// `CHECK (a > 0) NOT VALID` -> `a > 0`. `None` for NO INHERIT checks: planner would lose that
/// property when copying the expression, so they stay opaque (`Other`).
fn check_expression(definition: &str) -> Option<String> {
    let def = definition.trim();
    let def = def.strip_suffix(" NOT VALID").unwrap_or(def);
    let inner = def.strip_prefix("CHECK (")?.strip_suffix(')')?;
    balanced(inner).then(|| inner.to_string())
}

/// `SET NULL` + [a, b] -> `SET NULL ("a", "b")` (PostgreSQL 15: only those columns are reset).
fn with_columns(action: String, columns: &[Ident]) -> String {
    if columns.is_empty() {
        return action;
    }
    let quoted: Vec<String> = columns.iter().map(Ident::to_string).collect();
    format!("{action} ({})", quoted.join(", "))
}

/// pg_constraint.confdeltype / confupdtype -> SQL words; NO ACTION (the default) is `None`.
fn referential_action(code: &str) -> Option<String> {
    match code {
        "r" => Some("RESTRICT"),
        "c" => Some("CASCADE"),
        "n" => Some("SET NULL"),
        "d" => Some("SET DEFAULT"),
        _ => None,
    }
    .map(str::to_string)
}

async fn load_views(conn: &mut PgConnection, schemas: &[String]) -> anyhow::Result<Vec<View>> {
    let rows = fetch_in_schemas(
        conn,
        schemas,
        concat!(
            "SELECT c.oid::int8 AS oid, n.nspname::text AS schema, c.relname::text AS name,
                c.relkind = 'm' AS materialized, pg_get_viewdef(c.oid, true) AS query,
                coalesce(c.reloptions::text[], '{}') AS options
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('v', 'm') AND n.nspname = ANY($1)
            AND ",
            not_an_extension_member!()
        ),
    )
    .await?;
    // A view's query is its rewrite rule; the rule depends on each table column it reads.
    let deps = fetch_in_schemas(
        conn,
        schemas,
        "SELECT DISTINCT r.ev_class::int8 AS view_oid, tn.nspname::text AS schema,
                t.relname::text AS table_name, a.attname::text AS column_name
           FROM pg_rewrite r
           JOIN pg_class v ON v.oid = r.ev_class
           JOIN pg_namespace vn ON vn.oid = v.relnamespace
           JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                           AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
           JOIN pg_class t ON t.oid = d.refobjid AND t.relkind IN ('r', 'p')
           JOIN pg_namespace tn ON tn.oid = t.relnamespace
           JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
          WHERE v.relkind IN ('v', 'm') AND vn.nspname = ANY($1)",
    )
    .await?;
    // Every relation a view's rule reads (tables and other views), for the view-on-view check.
    let relations = fetch_in_schemas(
        conn,
        schemas,
        "SELECT DISTINCT r.ev_class::int8 AS view_oid, tn.nspname::text AS schema, t.relname::text AS name
           FROM pg_rewrite r
           JOIN pg_class v ON v.oid = r.ev_class
           JOIN pg_namespace vn ON vn.oid = v.relnamespace
           JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                           AND d.refclassid = 'pg_class'::regclass
           JOIN pg_class t ON t.oid = d.refobjid AND t.oid <> r.ev_class
           JOIN pg_namespace tn ON tn.oid = t.relnamespace
          WHERE v.relkind IN ('v', 'm') AND vn.nspname = ANY($1)",
    )
    .await?;
    let mut reads: HashMap<i64, Vec<QualifiedName>> = HashMap::new();
    for row in relations {
        reads
            .entry(row.try_get("view_oid")?)
            .or_default()
            .push(qualified(row.try_get("schema")?, row.try_get("name")?)?);
    }
    let mut depends: HashMap<i64, Vec<(QualifiedName, Ident)>> = HashMap::new();
    for row in deps {
        let table = qualified(row.try_get("schema")?, row.try_get("table_name")?)?;
        let column = ident(row.try_get("column_name")?)?;
        depends.entry(row.try_get("view_oid")?).or_default().push((table, column));
    }
    let mut views = Vec::new();
    for row in rows {
        let oid = row.try_get::<i64, _>("oid")?;
        let mut depends_on = depends.remove(&oid).unwrap_or_default();
        depends_on.sort();
        depends_on.dedup();
        let mut relations = reads.remove(&oid).unwrap_or_default();
        relations.sort();
        views.push(View {
            name: qualified(row.try_get("schema")?, row.try_get("name")?)?,
            materialized: row.try_get("materialized")?,
            depends_on,
            reads: relations,
            query: row.try_get::<String, _>("query")?.trim().trim_end_matches(';').to_string(),
            columns: Vec::new(), // pg_get_viewdef names every output column itself
            options: row.try_get("options")?,
        });
    }
    views.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(views)
}

/// Enums, domains, composite types (not the row types of tables), range types, and base types
/// that extensions install into user schemas (hstore, ltree, vector): all usable as column types.
async fn load_user_types(conn: &mut PgConnection, schemas: &[String]) -> anyhow::Result<Vec<QualifiedName>> {
    let rows = fetch_in_schemas(
        conn,
        schemas,
        "SELECT n.nspname::text AS schema, t.typname::text AS name
           FROM pg_type t
           JOIN pg_namespace n ON n.oid = t.typnamespace
           LEFT JOIN pg_class c ON c.oid = t.typrelid
          WHERE n.nspname = ANY($1)
            AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND c.relkind = 'c')
                 OR (t.typtype = 'b' AND t.typcategory <> 'A'))",
    )
    .await?;
    let mut types = rows
        .into_iter()
        .map(|r| qualified(r.try_get("schema")?, r.try_get("name")?))
        .collect::<Result<Vec<_>, _>>()?;
    types.sort();
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_version_from_version_num() {
        assert_eq!(major_from_version_num("150004").unwrap(), 15);
        assert_eq!(major_from_version_num("110022").unwrap(), 11);
        assert_eq!(major_from_version_num("180000").unwrap(), 18);
        assert!(major_from_version_num("15.4").is_err());
    }

    #[test]
    fn options_are_what_follows_each_key() {
        let def = r#"CREATE INDEX "a (b" ON t USING btree (lower(a) text_pattern_ops DESC, b NULLS FIRST, (b + 1), "x,y" COLLATE "C") INCLUDE (c) WHERE b > 0"#;
        let parts: Vec<String> =
            ["lower(a)", "b", "(b + 1)", "\"x,y\""].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            key_options(def, &parts).unwrap(),
            vec!["text_pattern_ops DESC", "NULLS FIRST", "", "COLLATE \"C\""]
        );
    }

    #[test]
    fn key_list_split_respects_quotes_and_nesting() {
        let def = "CREATE INDEX i ON t USING btree (coalesce(a, 'x,)'), (b || ','))";
        assert_eq!(first_list_items(def).unwrap(), vec!["coalesce(a, 'x,)')", " (b || ',')"]);
        assert!(key_options(def, &["nope".to_string()]).is_err());
    }

    #[test]
    fn expression_parentheses_are_removed_only_when_they_wrap_everything() {
        assert_eq!(strip_outer_parens("(b + 1)"), "b + 1");
        assert_eq!(strip_outer_parens("lower(a)"), "lower(a)");
        assert_eq!(strip_outer_parens("(a) + (b)"), "(a) + (b)");
        assert_eq!(strip_outer_parens("(')')"), "')'");
    }

    #[test]
    fn check_bodies_lose_the_wrapper_and_not_valid() {
        assert_eq!(check_expression("CHECK (a > 0)").as_deref(), Some("a > 0"));
        assert_eq!(
            check_expression("CHECK ((a > 0) OR (b < 1)) NOT VALID").as_deref(),
            Some("(a > 0) OR (b < 1)")
        );
        assert_eq!(check_expression("CHECK (a > 0) NO INHERIT"), None);
    }

    #[test]
    fn literal_defaults_lose_the_cast_to_their_own_column_type() {
        assert_eq!(without_cast_to("''::character varying", "character varying(200)"), "''");
        assert_eq!(without_cast_to("''::character varying", "integer"), "''::character varying");
        assert_eq!(without_cast_to("'x'::bpchar", "character(3)"), "'x'");
        assert_eq!(without_cast_to("'101'::\"bit\"", "bit(3)"), "'101'");
        assert_eq!(without_cast_to("'{}'::character varying[]", "character varying(5)[]"), "'{}'");
        assert_eq!(without_cast_to("''::character varying", "character varying"), "''");
        assert_eq!(without_cast_to("'it''s'::text", "text"), "'it''s'");
        assert_eq!(without_cast_to("'{}'::text[]", "text[]"), "'{}'");
        assert_eq!(without_cast_to("'a'::text || 'b'::text", "text"), "'a'::text || 'b'::text");
        assert_eq!(without_cast_to("'1 day'::interval", "timestamp with time zone"), "'1 day'::interval");
        assert_eq!(without_cast_to("now()", "timestamp with time zone"), "now()");
        assert_eq!(without_cast_to("'open", "text"), "'open");
    }

    #[test]
    fn referential_actions_as_sql_words() {
        assert_eq!(referential_action("c").as_deref(), Some("CASCADE"));
        assert_eq!(referential_action("n").as_deref(), Some("SET NULL"));
        assert_eq!(referential_action("a"), None);
        let columns = [Ident::new("a").unwrap(), Ident::new("B\"c").unwrap()];
        assert_eq!(with_columns("SET NULL".into(), &columns), r#"SET NULL ("a", "B""c")"#);
        assert_eq!(with_columns("CASCADE".into(), &[]), "CASCADE");
    }
}
