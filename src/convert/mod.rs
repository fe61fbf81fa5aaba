//! `planner convert`: an ORM-generated migration that would break the running app or block
//! traffic (a rename, ADD COLUMN … NOT NULL, DROP COLUMN, SET NOT NULL, a type change) read as SQL and written
//! as the change file `planner plan` turns into expand / backfill / contract.
//!
//! Pure: SQL text in (parsed with sqlparser, never pattern-matched), YAML text and notes out.

use serde::Serialize;
use sqlparser::ast::{AlterColumnOperation, AlterTableOperation, ColumnOption, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::error::InputError;

/// What `convert` made of a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The change file (YAML), ready for `planner plan`.
    pub yaml: String,
    /// How many changes it holds.
    pub changes: usize,
    /// Statements left out, and what to do about them (one line each).
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ChangeFile {
    name: String,
    changes: Vec<ChangeEntry>,
}

/// One `- <kind>: {…}` entry: exactly one field is set.
#[derive(Debug, Default, Serialize)]
struct ChangeEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    rename_column: Option<Rename>,
    #[serde(skip_serializing_if = "Option::is_none")]
    add_column: Option<AddColumn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    drop_column: Option<TableColumn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    set_not_null: Option<TableColumn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    change_type: Option<ChangeType>,
}

#[derive(Debug, Serialize)]
struct ChangeType {
    table: String,
    column: String,
    #[serde(rename = "type")]
    data_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    using: Option<String>,
}

#[derive(Debug, Serialize)]
struct Rename {
    table: String,
    from: String,
    to: String,
}

#[derive(Debug, Serialize)]
struct TableColumn {
    table: String,
    column: String,
}

#[derive(Debug, Serialize)]
struct AddColumn {
    table: String,
    column: String,
    #[serde(rename = "type")]
    data_type: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    not_null: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    default: Option<String>,
}

/// Convert `sql` (the migration's up part) into a change file named `name`.
pub fn convert(sql: &str, origin: &str, name: &str) -> Result<Converted, InputError> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| {
        InputError::new(format!("{origin}: cannot parse the migration: {e}")).help(
            "convert reads PostgreSQL migrations; pass --tool for a tool's file format (e.g. dbmate, goose)",
        )
    })?;
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let mut needs_backfill = Vec::new();
    for (i, stmt) in statements.iter().enumerate() {
        let n = i + 1;
        match stmt {
            Statement::AlterTable(at) => {
                let table = at.name.to_string();
                for op in &at.operations {
                    match op {
                        AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
                            changes.push(ChangeEntry {
                                rename_column: Some(Rename {
                                    table: table.clone(),
                                    from: old_column_name.to_string(),
                                    to: new_column_name.to_string(),
                                }),
                                ..Default::default()
                            });
                        }
                        AlterTableOperation::AddColumn { column_def, .. } => {
                            let not_null = column_def
                                .options
                                .iter()
                                .any(|o| matches!(o.option, ColumnOption::NotNull | ColumnOption::PrimaryKey(_)));
                            let default = column_def.options.iter().find_map(|o| match &o.option {
                                ColumnOption::Default(e) => Some(e.to_string()),
                                _ => None,
                            });
                            if not_null && default.is_none() {
                                needs_backfill.push(format!("{table}.{}", column_def.name));
                            }
                            changes.push(ChangeEntry {
                                add_column: Some(AddColumn {
                                    table: table.clone(),
                                    column: column_def.name.to_string(),
                                    data_type: column_def.data_type.to_string(),
                                    not_null,
                                    default,
                                }),
                                ..Default::default()
                            });
                        }
                        AlterTableOperation::DropColumn { column_names, .. } => {
                            for column in column_names {
                                changes.push(ChangeEntry {
                                    drop_column: Some(TableColumn { table: table.clone(), column: column.to_string() }),
                                    ..Default::default()
                                });
                            }
                        }
                        AlterTableOperation::AlterColumn { column_name, op: AlterColumnOperation::SetNotNull } => {
                            changes.push(ChangeEntry {
                                set_not_null: Some(TableColumn { table: table.clone(), column: column_name.to_string() }),
                                ..Default::default()
                            });
                        }
                        AlterTableOperation::AlterColumn {
                            column_name,
                            op: AlterColumnOperation::SetDataType { data_type, using, .. },
                        } => {
                            changes.push(ChangeEntry {
                                change_type: Some(ChangeType {
                                    table: table.clone(),
                                    column: column_name.to_string(),
                                    data_type: data_type.to_string(),
                                    using: using.as_ref().map(|e| e.to_string()),
                                }),
                                ..Default::default()
                            });
                        }
                        other => notes.push(format!(
                            "statement {n}: `ALTER TABLE {table} {other}` left out: not a change planner plans; keep it in a migration of its own"
                        )),
                    }
                }
            }
            Statement::StartTransaction { .. } | Statement::Commit { .. } | Statement::Set(_) => {}
            other => {
                let text = crate::sql::ident::shorten(&other.to_string(), 80);
                notes.push(format!(
                    "statement {n}: `{text}` left out: not a change planner plans; keep it in a migration of its own"
                ));
            }
        }
    }
    for column in &needs_backfill {
        notes.push(format!(
            "{column} is NOT NULL without a default: add `backfill: <SQL expression over the row>` (or `default:`) to its entry before `planner plan`"
        ));
    }
    let count = changes.len();
    let file = ChangeFile { name: name.to_string(), changes };
    let body = serde_yaml_ng::to_string(&file).map_err(|e| InputError::new(format!("writing YAML: {e}")))?;
    let mut yaml = format!("# Converted by `planner convert {origin}`; plan it with: planner plan <this file> --schema schema.sql | --target NAME\n");
    for note in &notes {
        yaml.push_str(&format!("# NOTE {note}\n"));
    }
    yaml.push_str(&body);
    Ok(Converted { yaml, changes: count, notes })
}

/// A plan name from a migration's file name: `20240101120000_rename_users_name.sql` ->
/// `rename_users_name`.
pub fn name_from_file(file_stem: &str) -> String {
    let lower: String =
        file_stem.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let trimmed = lower.trim_start_matches(|c: char| c.is_ascii_digit() || c == '_');
    let trimmed = trimmed.trim_end_matches(".up").trim_end_matches("_up").trim_matches('_');
    if trimmed.is_empty() {
        "converted_migration".to_string()
    } else {
        trimmed.chars().take(60).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unsafe_orm_statements_become_changes_and_the_rest_is_noted() {
        let sql = r#"BEGIN;
ALTER TABLE "users" RENAME COLUMN "name" TO "full_name";
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL;
ALTER TABLE users ADD COLUMN status text NOT NULL DEFAULT 'new';
ALTER TABLE users DROP COLUMN legacy_flag;
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
ALTER TABLE orders ALTER COLUMN id TYPE bigint;
CREATE INDEX users_email_idx ON users (email);
COMMIT;"#;
        let c = convert(sql, "m.sql", "m").unwrap();
        assert_eq!(c.changes, 6, "{}", c.yaml);
        for expected in [
            "- rename_column:\n    table: '\"users\"'\n    from: '\"name\"'\n    to: '\"full_name\"'",
            "- add_column:\n    table: users\n    column: email_verified\n    type: BOOLEAN\n    not_null: true\n",
            "default: '''new'''",
            "- drop_column:\n    table: users\n    column: legacy_flag",
            "- set_not_null:\n    table: users\n    column: email",
            "- change_type:\n    table: orders\n    column: id\n    type: BIGINT\n",
        ] {
            assert!(c.yaml.contains(expected), "missing {expected:?} in\n{}", c.yaml);
        }
        assert!(c.notes.iter().any(|n| n.contains("CREATE INDEX users_email_idx")), "{:?}", c.notes);
        assert!(
            c.notes.iter().any(|n| n.contains("users.email_verified is NOT NULL without a default")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn names_come_from_the_file_name() {
        assert_eq!(name_from_file("20240101120000_rename_users_name"), "rename_users_name");
        assert_eq!(name_from_file("0042_AddEmail.up"), "addemail");
        assert_eq!(name_from_file("123"), "converted_migration");
    }

    #[test]
    fn a_type_change_keeps_its_using_expression() {
        let c = convert(
            "ALTER TABLE tickets ALTER COLUMN code TYPE integer USING trim(code)::integer;",
            "m.sql",
            "m",
        )
        .unwrap();
        assert!(
            c.yaml.contains("- change_type:\n    table: tickets\n    column: code\n    type: INTEGER\n    using: TRIM(code)::INTEGER"),
            "{}",
            c.yaml
        );
    }

    #[test]
    fn unparsable_sql_is_bad_input() {
        assert!(convert("ALTER TABLE;", "bad.sql", "x").is_err());
    }
}
