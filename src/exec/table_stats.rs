//! Read table sizes and write traffic for `planner stats` and `planner check --database-url`:
//! read-only catalog and statistics views (pg_class, pg_stat_user_tables, pg_stat_database),
//! in a READ ONLY transaction, so a role with no write grant can run it.

use std::collections::BTreeMap;

use anyhow::Context;
use sqlx::Connection;

use crate::lint::stats::{TableStat, TableStats, FORMAT};

/// Every ordinary, partitioned and materialized table outside the system schemas.
const TABLES: &str = "
SELECT n.nspname::text, c.relname::text,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::float8 ELSE COALESCE(s.n_live_tup, 0)::float8 END,
       pg_total_relation_size(c.oid)::int8,
       COALESCE(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0)::float8,
       GREATEST(EXTRACT(epoch FROM now() - COALESCE(
         (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()),
         pg_postmaster_start_time())), 1)::float8
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
 WHERE c.relkind IN ('r', 'p', 'm')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%'
 ORDER BY 1, 2";

type Row = (String, String, f64, i64, f64, f64);

/// The sizes and traffic of every table of the database `url` names.
pub async fn read(url: &str) -> anyhow::Result<TableStats> {
    let mut conn = super::connect::connect(url, "planner/stats").await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *tx).await?;
    let rows: Vec<Row> = sqlx::query_as(TABLES)
        .fetch_all(&mut *tx)
        .await
        .context("reading table sizes from pg_class and pg_stat_user_tables")?;
    let (database,): (String,) =
        sqlx::query_as("SELECT current_database()::text").fetch_one(&mut *tx).await?;
    tx.rollback().await?;
    let mut tables = BTreeMap::new();
    for (schema, table, rows, bytes, writes, seconds) in rows {
        let stat = TableStat {
            rows: rows.max(0.0) as u64,
            bytes: bytes.max(0) as u64,
            writes_per_second: (writes / seconds * 100.0).round() / 100.0,
        };
        tables.insert(format!("{schema}.{table}"), stat);
    }
    Ok(TableStats { format: FORMAT, database, tables })
}
