//! Is a statement's effect in the catalog? MySQL DDL commits on its own, so a process killed
//! while a statement ran cannot tell from its records whether it took effect; the catalog can.
//! One statement is atomic, so any one clause answers for all of it.

use sqlx::MySqlConnection;

use crate::sql::ddl::Ddl;
use crate::sql::mysql_ddl::{AlterClause, MySqlDdl};

/// `Some(true)`: applied; `Some(false)`: not applied; `None`: the catalog cannot tell (a default
/// change), and running it again is harmless.
pub async fn present(conn: &mut MySqlConnection, op: &Ddl) -> anyhow::Result<Option<bool>> {
    let Ddl::MySql(ddl) = op else { return Ok(None) };
    present_mysql(conn, ddl).await
}

async fn present_mysql(conn: &mut MySqlConnection, ddl: &MySqlDdl) -> anyhow::Result<Option<bool>> {
    match ddl {
        MySqlDdl::AlterTable { table, clauses, .. } => {
            // Clauses of one statement can cancel out by name (DROP INDEX i, RENAME INDEX j TO i):
            // ask the most telling first, a dropped index last; a column renamed into a dropped
            // one's name (a type change's swap) before the drop.
            let mut ordered: Vec<&AlterClause> = clauses.iter().collect();
            ordered.sort_by_key(|c| match c {
                AlterClause::ChangeColumn { .. } => 0,
                AlterClause::AddColumn { .. }
                | AlterClause::DropColumn { .. }
                | AlterClause::ModifyColumn { .. } => 1,
                AlterClause::AddIndex { .. } => 2,
                AlterClause::RenameIndex { .. } => 3,
                _ => 4,
            });
            for clause in ordered {
                if let Some(answer) = clause_present(conn, table.as_str(), clause).await? {
                    return Ok(Some(answer));
                }
            }
            Ok(None)
        }
        MySqlDdl::CreateTrigger { trigger, .. } => Ok(Some(trigger_exists(conn, trigger.as_str()).await?)),
        MySqlDdl::DropTrigger { trigger, .. } => Ok(Some(!trigger_exists(conn, trigger.as_str()).await?)),
        MySqlDdl::Refuse { .. } => Ok(Some(false)),
        // The group's last statement tells: the ones before it are re-runnable (IF EXISTS).
        MySqlDdl::Locked { statements, .. } => match statements.last() {
            Some(last) => Box::pin(present_mysql(conn, last)).await,
            None => Ok(None),
        },
    }
}

async fn clause_present(
    conn: &mut MySqlConnection,
    table: &str,
    clause: &AlterClause,
) -> anyhow::Result<Option<bool>> {
    Ok(match clause {
        AlterClause::AddColumn { column, .. } => {
            Some(column_of(conn, table, column.as_str()).await?.is_some())
        }
        AlterClause::DropColumn { column } => Some(column_of(conn, table, column.as_str()).await?.is_none()),
        AlterClause::ModifyColumn { column, definition } => {
            column_of(conn, table, column.as_str()).await?.map(|(ty, nullable)| {
                crate::mysql::introspect::without_display_width(&ty)
                    == crate::mysql::introspect::without_display_width(&definition.column_type)
                    && (nullable == "NO") == definition.not_null
            })
        }
        AlterClause::AddIndex { index, .. } => Some(index_exists(conn, table, index.as_str()).await?),
        AlterClause::DropIndex { index } => Some(!index_exists(conn, table, index.as_str()).await?),
        AlterClause::RenameIndex { from, to } => Some(
            index_exists(conn, table, to.as_str()).await?
                && !index_exists(conn, table, from.as_str()).await?,
        ),
        AlterClause::ChangeColumn { from, to, .. } => Some(
            column_of(conn, table, to.as_str()).await?.is_some()
                && column_of(conn, table, from.as_str()).await?.is_none(),
        ),
        AlterClause::SetDefault { .. } | AlterClause::DropDefault { .. } => None,
    })
}

/// `(COLUMN_TYPE, IS_NULLABLE)` of `table.column`, if it exists.
async fn column_of(
    conn: &mut MySqlConnection,
    table: &str,
    column: &str,
) -> anyhow::Result<Option<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS
          WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
    )
    .bind(table)
    .bind(column)
    .fetch_optional(&mut *conn)
    .await?)
}

async fn index_exists(conn: &mut MySqlConnection, table: &str, index: &str) -> anyhow::Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.STATISTICS
          WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ?",
    )
    .bind(table)
    .bind(index)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

async fn trigger_exists(conn: &mut MySqlConnection, trigger: &str) -> anyhow::Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = ?",
    )
    .bind(trigger)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// The connection (other than this one) still running one of `statements`: a planner killed while
/// its statement waited leaves the statement running on the server, and it may yet take effect.
pub async fn still_running(conn: &mut MySqlConnection, statements: &[String]) -> anyhow::Result<Option<i64>> {
    for sql in statements {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO = ? LIMIT 1",
        )
        .bind(sql)
        .fetch_optional(&mut *conn)
        .await?;
        if id.is_some() {
            return Ok(id);
        }
    }
    Ok(None)
}

/// What PROCESSLIST.INFO shows while a step runs.
fn shown_as(op: &Ddl) -> Vec<String> {
    match op {
        Ddl::MySql(ddl) => ddl.parts(),
        other => vec![other.render()],
    }
}

/// Refuse to decide about an interrupted step while its statement still runs elsewhere.
pub async fn refuse_if_running(conn: &mut MySqlConnection, step: u32, op: &Ddl) -> anyhow::Result<()> {
    if let Some(id) = still_running(conn, &shown_as(op)).await? {
        return Err(crate::error::Refusal::new(format!(
            "step {step} was interrupted, but its statement is still running on the server in connection {id} \
             (left by the planner that stopped): it may yet take effect\n  help: wait for it to finish, or end it \
             with `KILL {id}`, then run the same command again"
        ))
        .into());
    }
    Ok(())
}
