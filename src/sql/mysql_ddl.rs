//! Typed MySQL/MariaDB DDL: the statements a MySQL plan step runs, as data, and their one
//! rendering (backtick quoting). A plan step holds one of these in `Ddl::MySql`.
//!
//! Every `ALTER TABLE` names its algorithm: without it the server silently falls back to a table
//! copy that blocks writes (mysql-facts §1: INT→BIGINT blocked writes 17 s per 1M rows); with
//! `ALGORITHM=INSTANT|NOCOPY|INPLACE` it refuses at once instead. There is no `COPY` variant on
//! purpose, and the plan compiler never puts an index build in an `ALTER` with instant clauses
//! (measured: the pair forces a rebuild).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::ddl::TriggerEvent;
use super::Ident;

/// One MySQL/MariaDB statement planner generates. Internally tagged (`kind:`): plan.yaml nests
/// it inside `Ddl`'s tag, and YAML has no nested tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MySqlDdl {
    /// `ALTER TABLE t <clauses>, ALGORITHM=…[, LOCK=NONE]`: one statement is atomic (§5).
    AlterTable { table: Ident, clauses: Vec<AlterClause>, algorithm: Algorithm },
    /// `CREATE TRIGGER … BEFORE <event> ON t FOR EACH ROW [FOLLOWS x] SET NEW.a = …, NEW.b = …`.
    /// Assignments run left to right, each seeing the ones before (measured on 10.11), so one
    /// `SET` needs no `BEGIN … END` body and no client `DELIMITER`.
    CreateTrigger {
        trigger: Ident,
        table: Ident,
        event: TriggerEvent,
        /// The table's last existing trigger for the same event: planner's runs after it, so it
        /// copies the value the app's own trigger left.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        follows: Option<Ident>,
        assignments: Vec<TriggerAssignment>,
    },
    DropTrigger {
        trigger: Ident,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        if_exists: bool,
    },
    /// `SIGNAL SQLSTATE '45000'`: a down file that cannot be run fails on purpose, changing nothing.
    Refuse { message: String },
    /// `LOCK TABLES t WRITE; <statements>; UNLOCK TABLES`, sent as one request: no other session
    /// writes the table between the statements (DDL does not release the lock; measured on 10.11).
    /// A type change's swap needs it: a write between dropping the converting triggers and the
    /// swap would be lost. Held for the milliseconds of metadata-only statements.
    Locked { table: Ident, statements: Vec<MySqlDdl> },
}

/// How the server may carry out an `ALTER TABLE`. No copy: planner never blocks writes for a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Metadata only (milliseconds under the exclusive metadata lock).
    Instant,
    /// MariaDB: in place without rebuilding the clustered index (index builds), `LOCK=NONE`.
    Nocopy,
    /// In place, `LOCK=NONE`: on MariaDB a table rebuild; MySQL's spelling of NOCOPY, too.
    Inplace,
}

impl Algorithm {
    fn clause(self) -> &'static str {
        match self {
            Algorithm::Instant => "ALGORITHM=INSTANT",
            Algorithm::Nocopy => "ALGORITHM=NOCOPY, LOCK=NONE",
            Algorithm::Inplace => "ALGORITHM=INPLACE, LOCK=NONE",
        }
    }
}

/// One clause of an `ALTER TABLE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "clause", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlterClause {
    AddColumn {
        column: Ident,
        definition: ColumnDefinition,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<Ident>,
    },
    DropColumn {
        column: Ident,
    },
    /// `MODIFY COLUMN` replaces the whole definition, so it is always restated in full.
    ModifyColumn {
        column: Ident,
        definition: ColumnDefinition,
    },
    /// `default` is SQL text (a literal or `current_timestamp()`), as the schema holds it.
    SetDefault {
        column: Ident,
        default: String,
    },
    DropDefault {
        column: Ident,
    },
    AddIndex {
        index: Ident,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unique: bool,
        keys: Vec<KeyPart>,
    },
    DropIndex {
        index: Ident,
    },
    RenameIndex {
        from: Ident,
        to: Ident,
    },
    /// `CHANGE COLUMN` renames and restates the definition (instant when the type stays): a type
    /// change's swap, which must also set the final default (MariaDB refuses `ALTER COLUMN` on a
    /// column the same statement renames).
    ChangeColumn {
        from: Ident,
        to: Ident,
        definition: ColumnDefinition,
    },
}

/// A column definition as `ADD`/`MODIFY COLUMN` restate it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDefinition {
    /// `COLUMN_TYPE` text: `varchar(200)`, `bigint(20) unsigned`, `tinyint(1)`.
    #[serde(rename = "type")]
    pub column_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_null: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_update: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One key part of an index: a column with an optional prefix length (`name(20)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPart {
    pub column: Ident,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<u32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub descending: bool,
}

/// `NEW.column = expr` in a trigger's `SET`; `expr` is rendered SQL over `NEW`/`OLD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerAssignment {
    pub column: Ident,
    pub expr: String,
}

/// A MySQL identifier: always backquoted, embedded backticks doubled.
pub fn quote_ident(ident: &Ident) -> String {
    format!("`{}`", ident.as_str().replace('`', "``"))
}

/// A MySQL string literal. Quotes are doubled and backslashes too (the default `sql_mode`
/// treats `\` as an escape).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

impl ColumnDefinition {
    fn render(&self) -> String {
        let mut out = self.column_type.clone();
        if let Some(cs) = &self.charset {
            let _ = write!(out, " CHARACTER SET {cs}");
        }
        if let Some(c) = &self.collation {
            let _ = write!(out, " COLLATE {c}");
        }
        out.push_str(if self.not_null { " NOT NULL" } else { " NULL" });
        if let Some(d) = &self.default {
            let _ = write!(out, " DEFAULT {d}");
        }
        if let Some(u) = &self.on_update {
            let _ = write!(out, " ON UPDATE {u}");
        }
        if let Some(c) = &self.comment {
            let _ = write!(out, " COMMENT {}", quote_literal(c));
        }
        out
    }
}

impl KeyPart {
    fn render(&self) -> String {
        let mut out = quote_ident(&self.column);
        if let Some(p) = self.prefix {
            let _ = write!(out, "({p})");
        }
        if self.descending {
            out.push_str(" DESC");
        }
        out
    }
}

impl AlterClause {
    fn render(&self) -> String {
        match self {
            AlterClause::AddColumn { column, definition, after } => {
                let after = after.as_ref().map(|a| format!(" AFTER {}", quote_ident(a))).unwrap_or_default();
                format!("ADD COLUMN {} {}{after}", quote_ident(column), definition.render())
            }
            AlterClause::DropColumn { column } => format!("DROP COLUMN {}", quote_ident(column)),
            AlterClause::ModifyColumn { column, definition } => {
                format!("MODIFY COLUMN {} {}", quote_ident(column), definition.render())
            }
            AlterClause::SetDefault { column, default } => {
                format!("ALTER COLUMN {} SET DEFAULT {default}", quote_ident(column))
            }
            AlterClause::DropDefault { column } => {
                format!("ALTER COLUMN {} DROP DEFAULT", quote_ident(column))
            }
            AlterClause::AddIndex { index, unique, keys } => format!(
                "ADD {}INDEX {} ({})",
                if *unique { "UNIQUE " } else { "" },
                quote_ident(index),
                keys.iter().map(KeyPart::render).collect::<Vec<_>>().join(", ")
            ),
            AlterClause::DropIndex { index } => format!("DROP INDEX {}", quote_ident(index)),
            AlterClause::RenameIndex { from, to } => {
                format!("RENAME INDEX {} TO {}", quote_ident(from), quote_ident(to))
            }
            AlterClause::ChangeColumn { from, to, definition } => {
                format!("CHANGE COLUMN {} {} {}", quote_ident(from), quote_ident(to), definition.render())
            }
        }
    }

    /// Builds or drops an index: never in the same statement as an instant clause.
    pub fn touches_index(&self) -> bool {
        matches!(self, AlterClause::AddIndex { .. } | AlterClause::DropIndex { .. })
    }
}

/// `planner check` reads planner's own files too: a statement that is safe only because of where
/// the plan puts it carries an ignore saying why (a comment line before it; the server skips it).
const IGNORE_DROP: &str = "-- planner:ignore drop-column planner drops a column only where no running app version uses it: in contract once the app reading it is gone, or undoing expand, the column expand added (see `compat` in plan.yaml)";
const IGNORE_SWAP: &str = "-- planner:ignore rename-column planner renames only its own shadow column into the name of the column the same statement drops (a type change's swap)";
const IGNORE_LOCK: &str = "-- planner:ignore lock-tables planner locks the table only around the type change's swap: metadata-only statements, milliseconds";

impl MySqlDdl {
    /// The `-- planner:ignore` lines this statement needs (see [`IGNORE_DROP`]).
    pub fn lint_ignores(&self) -> Vec<&'static str> {
        match self {
            MySqlDdl::AlterTable { clauses, .. } => {
                let mut out = Vec::new();
                if clauses.iter().any(|c| matches!(c, AlterClause::DropColumn { .. })) {
                    out.push(IGNORE_DROP);
                }
                if clauses.iter().any(|c| matches!(c, AlterClause::ChangeColumn { .. })) {
                    out.push(IGNORE_SWAP);
                }
                out
            }
            MySqlDdl::Locked { .. } => vec![IGNORE_LOCK],
            _ => Vec::new(),
        }
    }

    /// The statement after its `-- planner:ignore` lines, as a plan file holds it.
    pub fn annotated(&self) -> String {
        let mut text: String = self.lint_ignores().iter().map(|i| format!("{i}\n")).collect();
        text.push_str(&self.render());
        text
    }

    /// The statements sent one after the other: a locked group's parts (each inner one annotated),
    /// else the statement itself. PROCESSLIST shows the part the server is at.
    pub fn parts(&self) -> Vec<String> {
        let MySqlDdl::Locked { table, statements } = self else { return vec![self.render()] };
        let mut parts = vec![format!("LOCK TABLES {} WRITE", quote_ident(table))];
        parts.extend(statements.iter().map(MySqlDdl::annotated));
        parts.push("UNLOCK TABLES".into());
        parts
    }

    /// The statement, without a trailing `;`.
    pub fn render(&self) -> String {
        match self {
            MySqlDdl::AlterTable { table, clauses, algorithm } => {
                let mut parts: Vec<String> = clauses.iter().map(AlterClause::render).collect();
                parts.push(algorithm.clause().to_string());
                format!("ALTER TABLE {} {}", quote_ident(table), parts.join(", "))
            }
            MySqlDdl::CreateTrigger { trigger, table, event, follows, assignments } => {
                let event = match event {
                    TriggerEvent::Insert => "INSERT",
                    TriggerEvent::Update => "UPDATE",
                };
                let follows =
                    follows.as_ref().map(|f| format!(" FOLLOWS {}", quote_ident(f))).unwrap_or_default();
                let set = assignments
                    .iter()
                    .map(|a| format!("NEW.{} = {}", quote_ident(&a.column), a.expr))
                    .collect::<Vec<_>>()
                    .join(",\n    ");
                format!(
                    "CREATE TRIGGER {} BEFORE {event} ON {} FOR EACH ROW{follows}\n    SET {set}",
                    quote_ident(trigger),
                    quote_ident(table)
                )
            }
            MySqlDdl::DropTrigger { trigger, if_exists } => {
                format!("DROP TRIGGER {}{}", if *if_exists { "IF EXISTS " } else { "" }, quote_ident(trigger))
            }
            MySqlDdl::Locked { .. } => self.parts().join(";\n"),
            MySqlDdl::Refuse { message } => {
                // MESSAGE_TEXT holds at most 128 characters.
                let short: String = message.chars().take(128).collect();
                format!("SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = {}", quote_literal(&short))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Ident {
        Ident::new(s).unwrap()
    }

    #[test]
    fn alter_table_renders_backticks_and_the_explicit_algorithm() {
        let ddl = MySqlDdl::AlterTable {
            table: id("Order`s"),
            clauses: vec![
                AlterClause::AddColumn {
                    column: id("full_name"),
                    definition: ColumnDefinition {
                        column_type: "varchar(200)".into(),
                        charset: Some("utf8mb4".into()),
                        collation: Some("utf8mb4_bin".into()),
                        not_null: true,
                        default: Some("''".into()),
                        on_update: None,
                        comment: Some("it's".into()),
                    },
                    after: Some(id("name")),
                },
                AlterClause::SetDefault { column: id("name"), default: "''".into() },
            ],
            algorithm: Algorithm::Instant,
        };
        assert_eq!(
            ddl.render(),
            "ALTER TABLE `Order``s` ADD COLUMN `full_name` varchar(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'it''s' AFTER `name`, ALTER COLUMN `name` SET DEFAULT '', ALGORITHM=INSTANT"
        );
        let index = MySqlDdl::AlterTable {
            table: id("users"),
            clauses: vec![AlterClause::AddIndex {
                index: id("ix"),
                unique: true,
                keys: vec![KeyPart { column: id("a"), prefix: Some(20), descending: true }],
            }],
            algorithm: Algorithm::Nocopy,
        };
        assert_eq!(
            index.render(),
            "ALTER TABLE `users` ADD UNIQUE INDEX `ix` (`a`(20) DESC), ALGORITHM=NOCOPY, LOCK=NONE"
        );
    }

    #[test]
    fn triggers_and_refusals_render_as_the_client_runs_them() {
        let t = MySqlDdl::CreateTrigger {
            trigger: id("t_bi"),
            table: id("users"),
            event: TriggerEvent::Insert,
            follows: Some(id("app_bi")),
            assignments: vec![
                TriggerAssignment { column: id("b"), expr: "NEW.`a`".into() },
                TriggerAssignment { column: id("a"), expr: "NEW.`b`".into() },
            ],
        };
        assert_eq!(
            t.render(),
            "CREATE TRIGGER `t_bi` BEFORE INSERT ON `users` FOR EACH ROW FOLLOWS `app_bi`\n    SET NEW.`b` = NEW.`a`,\n    NEW.`a` = NEW.`b`"
        );
        let r = MySqlDdl::Refuse { message: "can't \\ undo".into() };
        assert_eq!(r.render(), "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'can''t \\\\ undo'");
        let long = MySqlDdl::Refuse { message: "x".repeat(300) };
        assert!(long.render().len() < 200);
    }
}
