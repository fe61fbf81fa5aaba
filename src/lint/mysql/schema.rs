//! Tables as the migrations so far declared them (earlier files and earlier statements of this
//! one): a column's type, nullability and attributes decide whether a MODIFY is instant, a
//! rebuild or a copy, and what a restated definition would lose.

use std::collections::HashMap;

use super::model::{Action, ColumnSpec, IndexKind, Kind};

#[derive(Debug, Clone, Default)]
pub struct TableInfo {
    /// Columns in order (lower-case names).
    pub columns: Vec<(String, ColumnSpec)>,
    /// Index name -> its columns (lower case); `primary` for the primary key.
    pub indexes: Vec<(String, Vec<String>)>,
    /// The table's default character set, when the file said it.
    pub charset: Option<String>,
}

impl TableInfo {
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    /// True when some column is generated this way.
    pub fn has_generated(&self, kind: super::model::Generated) -> bool {
        self.columns.iter().any(|(_, c)| c.generated == Some(kind))
    }

    /// True when some index (or the primary key) covers the column.
    pub fn is_indexed(&self, column: &str) -> bool {
        self.indexes.iter().any(|(_, cols)| cols.iter().any(|c| c == column))
    }

    /// True when an index starts with these columns (what an FK needs to skip building one).
    pub fn has_index_on(&self, columns: &[String]) -> bool {
        self.indexes.iter().any(|(_, cols)| cols.len() >= columns.len() && cols[..columns.len()] == *columns)
    }

    /// Bytes per character of a column's character set (utf8mb4 when nothing says otherwise:
    /// the MariaDB 10.11 / MySQL 8 default, and the largest).
    pub fn bytes_per_char(&self, spec: &ColumnSpec) -> u64 {
        let cs = spec.charset.as_deref().or(self.charset.as_deref()).unwrap_or("utf8mb4");
        match cs {
            "latin1" | "ascii" | "binary" => 1,
            "ucs2" => 2,
            "utf8" | "utf8mb3" => 3,
            _ => 4,
        }
    }
}

/// Table key -> what is known of it.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub tables: HashMap<String, TableInfo>,
}

impl Schema {
    pub fn table(&self, key: &str) -> Option<&TableInfo> {
        self.tables.get(key)
    }

    /// Record what a statement declares, after the rules saw it.
    pub fn apply(&mut self, kind: &Kind) {
        match kind {
            Kind::CreateTable { table, like: Some(from), .. } => {
                let copy = self.tables.get(from).cloned().unwrap_or_default();
                self.tables.insert(table.key.clone(), copy);
            }
            Kind::CreateTable { table, columns, indexes, charset, .. }
                if !columns.is_empty() || !self.tables.contains_key(&table.key) =>
            {
                self.tables.insert(
                    table.key.clone(),
                    TableInfo {
                        columns: columns.clone(),
                        indexes: indexes.clone(),
                        charset: charset.clone(),
                    },
                );
            }
            Kind::DropTable { tables } => {
                for t in tables {
                    self.tables.remove(&t.key);
                }
            }
            Kind::RenameTable { pairs } => {
                for (from, to) in pairs {
                    if let Some(info) = self.tables.remove(&from.key) {
                        self.tables.insert(to.key.clone(), info);
                    }
                }
            }
            Kind::CreateIndex { table, name, columns, .. } => {
                if let Some(info) = self.tables.get_mut(&table.key) {
                    info.indexes.push((name.clone(), columns.clone()));
                }
            }
            Kind::DropIndex { table, name, .. } => {
                if let Some(info) = self.tables.get_mut(&table.key) {
                    info.indexes.retain(|(n, _)| n != name);
                }
            }
            Kind::AlterTable { table, actions, .. } => {
                let mut renamed_to = None;
                if let Some(info) = self.tables.get_mut(&table.key) {
                    for a in actions {
                        apply_action(info, a, &mut renamed_to);
                    }
                }
                if let Some(to) = renamed_to {
                    if let Some(info) = self.tables.remove(&table.key) {
                        self.tables.insert(to, info);
                    }
                }
            }
            _ => {}
        }
    }

    pub fn absorb(&mut self, other: Schema) {
        self.tables.extend(other.tables);
    }
}

fn apply_action(info: &mut TableInfo, a: &Action, renamed_to: &mut Option<String>) {
    match a {
        Action::AddColumn { name, spec, .. } => {
            info.columns.push((name.clone(), spec.clone()));
            if spec.unique || spec.primary_key {
                info.indexes.push((name.clone(), vec![name.clone()]));
            }
        }
        Action::DropColumn { name } => {
            info.columns.retain(|(n, _)| n != name);
            for (_, cols) in &mut info.indexes {
                cols.retain(|c| c != name);
            }
            info.indexes.retain(|(_, cols)| !cols.is_empty());
        }
        Action::RenameColumn { from, to } => rename_column(info, from, to),
        Action::Change { from, to, spec } => {
            rename_column(info, from, to);
            if let Some((_, s)) = info.columns.iter_mut().find(|(n, _)| n == to) {
                *s = spec.clone();
            }
        }
        Action::SetDefault { .. } | Action::DropDefault { .. } => {}
        Action::AddIndex { name, columns, kind } => {
            let name = name.clone().unwrap_or_else(|| columns.first().cloned().unwrap_or_default());
            if *kind != IndexKind::Fulltext || !columns.is_empty() {
                info.indexes.push((name, columns.clone()));
            }
        }
        Action::AddPrimaryKey { columns } => info.indexes.push(("primary".into(), columns.clone())),
        Action::DropPrimaryKey => info.indexes.retain(|(n, _)| n != "primary"),
        Action::DropIndex { name } => info.indexes.retain(|(n, _)| n != name),
        Action::AddForeignKey { columns } if !info.has_index_on(columns) => {
            info.indexes.push((String::new(), columns.clone()));
        }
        Action::RenameTable { to } => {
            *renamed_to = to.rsplit('.').next().map(|s| s.trim_matches('`').to_lowercase());
        }
        _ => {}
    }
}

fn rename_column(info: &mut TableInfo, from: &str, to: &str) {
    if from == to {
        return;
    }
    for (n, _) in &mut info.columns {
        if n == from {
            *n = to.to_string();
        }
    }
    for (_, cols) in &mut info.indexes {
        for c in cols.iter_mut() {
            if c == from {
                *c = to.to_string();
            }
        }
    }
}
