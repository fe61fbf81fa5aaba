//! The two data checks of a type change: before expand, does every row convert; before
//! contract, does the converted copy equal the conversion of every row.

use sqlx::{Connection, PgConnection};

use super::session::dynamic;
use super::verify::thousands;
use crate::plan::KeyColumn;
use crate::sql::{rewrite, Ident, QualifiedName, SqlExpr};

/// Rows per statement of the chunked comparison: each statement is short, so none holds back
/// vacuum or waits long for anything.
const CHUNK_ROWS: i64 = 20_000;

/// How many failing keys a refusal names.
const EXAMPLES: usize = 3;

/// `(a, b)`, or `a` for one column.
fn key_list(key: &[Ident], prefix: &str) -> String {
    let cols: Vec<String> = key.iter().map(|k| format!("{prefix}{k}")).collect();
    if cols.len() == 1 {
        cols[0].clone()
    } else {
        format!("({})", cols.join(", "))
    }
}

/// The key as one text value for messages: `7` or `(7, 2)`.
fn key_text(key: &[Ident], prefix: &str) -> String {
    if key.len() == 1 {
        format!("{prefix}{}::text", key[0])
    } else {
        let cols: Vec<String> = key.iter().map(|k| format!("{prefix}{k}::text")).collect();
        format!("'(' || concat_ws(', ', {}) || ')'", cols.join(", "))
    }
}

fn key_label(key: &[Ident]) -> String {
    let names: Vec<String> = key.iter().map(crate::sql::ident::short).collect();
    if names.len() == 1 {
        names[0].clone()
    } else {
        format!("({})", names.join(", "))
    }
}

/// What [`unconvertible_rows`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversion {
    /// Every row converts.
    Clean,
    /// `count` rows do not; `examples` are their first keys, shown as `label=…`.
    Fails { count: i64, label: String, examples: Vec<String> },
    /// The check could not run (no TEMP privilege, a read-only server): why.
    Unchecked(String),
}

/// Rows whose `expr` does not convert to `data_type`, counted by evaluating it per row in a
/// PL/pgSQL function that catches the error (a temporary function, in a transaction that is
/// rolled back: nothing remains).
pub async fn unconvertible_rows(
    conn: &mut PgConnection,
    table: &QualifiedName,
    expr: &SqlExpr,
    data_type: &str,
    key: &[Ident],
) -> anyhow::Result<Conversion> {
    let columns: Vec<Ident> =
        rewrite::referenced_columns(expr.as_str()).into_iter().filter_map(|c| Ident::new(c).ok()).collect();
    let value = rewrite::qualify_columns(expr, &columns, "planner_row");
    let mut tag = "$planner$".to_string();
    while value.contains(&tag) {
        tag.insert(1, 'x');
    }
    let function = format!(
        "CREATE FUNCTION pg_temp.planner_converts(planner_row {table}) RETURNS boolean LANGUAGE plpgsql AS {tag}
DECLARE converted {data_type};
BEGIN
  converted := {value};
  RETURN true;
EXCEPTION WHEN others THEN
  RETURN false;
END
{tag}"
    );
    let order = if key.is_empty() { "ctid".to_string() } else { key_list(key, "planner_row.") };
    let label = if key.is_empty() { "ctid".to_string() } else { key_label(key) };
    let shown =
        if key.is_empty() { "planner_row.ctid::text".to_string() } else { key_text(key, "planner_row.") };
    let mut tx = conn.begin().await?;
    if let Err(e) = sqlx::raw_sql(dynamic(function)).execute(&mut *tx).await {
        return Ok(Conversion::Unchecked(e.to_string()));
    }
    let count: i64 = sqlx::query_scalar(dynamic(format!(
        "SELECT count(*) FROM {table} AS planner_row WHERE NOT pg_temp.planner_converts(planner_row)"
    )))
    .fetch_one(&mut *tx)
    .await?;
    let examples: Vec<String> = if count > 0 {
        sqlx::query_scalar(dynamic(format!(
            "SELECT {shown} FROM {table} AS planner_row WHERE NOT pg_temp.planner_converts(planner_row) ORDER BY {order} LIMIT {EXAMPLES}"
        )))
        .fetch_all(&mut *tx)
        .await?
    } else {
        Vec::new()
    };
    tx.rollback().await?;
    Ok(if count == 0 { Conversion::Clean } else { Conversion::Fails { count, label, examples } })
}

/// [`unconvertible_rows`] as a precondition: `None` when every row converts, else why not.
pub async fn converts_cleanly(
    conn: &mut PgConnection,
    table: &QualifiedName,
    expr: &SqlExpr,
    data_type: &str,
    key: &[Ident],
) -> anyhow::Result<Option<String>> {
    Ok(match unconvertible_rows(conn, table, expr, data_type, key).await? {
        Conversion::Clean => None,
        Conversion::Unchecked(e) => Some(format!(
            "cannot check that every row of {} converts to {data_type} ({e}); planner needs to create a temporary function (TEMP privilege, not on a read-only server)",
            table.display_short()
        )),
        Conversion::Fails { count, label, examples } => Some(format!(
            "{} row{} of {} cannot be converted: {expr} is no {data_type} there (e.g. {label}={}); fix those rows, or give `using:` an expression that converts them (e.g. with CASE or NULLIF)",
            thousands(count),
            if count == 1 { "" } else { "s" },
            table.display_short(),
            examples.join(", ")
        )),
    })
}

/// Rows where `column IS DISTINCT FROM expr`, walking the key in chunks of [`CHUNK_ROWS`].
pub async fn column_equals_expr(
    conn: &mut PgConnection,
    table: &QualifiedName,
    key: &[KeyColumn],
    column: &Ident,
    expr: &SqlExpr,
) -> anyhow::Result<Option<String>> {
    let names: Vec<Ident> = key.iter().map(|k| k.column.clone()).collect();
    let row = key_list(&names, "t.");
    let params = |first: usize| {
        let vals: Vec<String> =
            key.iter().enumerate().map(|(i, k)| format!("${}::text::{}", first + i, k.data_type)).collect();
        if vals.len() == 1 {
            vals[0].clone()
        } else {
            format!("({})", vals.join(", "))
        }
    };
    let as_text: Vec<String> = names.iter().map(|k| format!("t.{k}::text")).collect();
    let mismatch = format!("t.{column} IS DISTINCT FROM {expr}");
    let mut lower: Option<Vec<String>> = None;
    let mut mismatches = 0i64;
    let mut examples: Vec<String> = Vec::new();
    loop {
        let after = if lower.is_some() { format!("WHERE {row} > {}", params(1)) } else { String::new() };
        let upper_sql = format!(
            "SELECT {} FROM {table} AS t {after} ORDER BY {row} OFFSET {} LIMIT 1",
            as_text.join(", "),
            CHUNK_ROWS - 1
        );
        let mut q = sqlx::query(dynamic(upper_sql));
        for v in lower.iter().flatten() {
            q = q.bind(v.clone());
        }
        let upper: Option<Vec<String>> = match q.fetch_optional(&mut *conn).await? {
            Some(r) => {
                use sqlx::Row;
                Some((0..names.len()).map(|i| r.try_get::<String, _>(i)).collect::<Result<_, _>>()?)
            }
            None => None,
        };
        let n = names.len();
        let mut conds = Vec::new();
        if lower.is_some() {
            conds.push(format!("{row} > {}", params(1)));
        }
        if upper.is_some() {
            conds.push(format!("{row} <= {}", params(if lower.is_some() { 1 + n } else { 1 })));
        }
        conds.push(mismatch.clone());
        let filter = conds.join(" AND ");
        let bind_all = |sql: String| {
            let mut q = sqlx::query_scalar::<_, i64>(dynamic(sql));
            for v in lower.iter().flatten().chain(upper.iter().flatten()) {
                q = q.bind(v.clone());
            }
            q
        };
        let count = bind_all(format!("SELECT count(*) FROM {table} AS t WHERE {filter}"))
            .fetch_one(&mut *conn)
            .await?;
        if count > 0 && examples.len() < EXAMPLES {
            let mut q = sqlx::query_scalar::<_, String>(dynamic(format!(
                "SELECT {} FROM {table} AS t WHERE {filter} ORDER BY {row} LIMIT {}",
                key_text(&names, "t."),
                EXAMPLES - examples.len()
            )));
            for v in lower.iter().flatten().chain(upper.iter().flatten()) {
                q = q.bind(v.clone());
            }
            examples.extend(q.fetch_all(&mut *conn).await?);
        }
        mismatches += count;
        match upper {
            Some(u) => lower = Some(u),
            None => break,
        }
    }
    Ok((mismatches > 0).then(|| {
        format!(
            "{} row{} of {} where {} differs from {expr} (first: {}={}); the sync trigger or the backfill did not run on them: re-run `planner backfill`, and check that the sync triggers are enabled",
            thousands(mismatches),
            if mismatches == 1 { "" } else { "s" },
            table.display_short(),
            crate::sql::ident::short(column),
            key_label(&names),
            examples.join(", ")
        )
    }))
}
