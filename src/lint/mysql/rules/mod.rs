//! The MySQL/MariaDB rules: one file each, with its documentation (`META.docs`) and its tests.
//! Figures in messages were measured on MariaDB 10.11 with 1M-row tables (docs/mysql-facts).

use super::model::TableName;
use super::{MyCx, MyStmt};
use crate::lint::rule::{Findings, RuleMeta};

/// A MySQL rule reads one statement and the file context at it.
pub trait MyRule: Sync {
    fn meta(&self) -> &'static RuleMeta;
    fn check(&self, s: &MyStmt, cx: &MyCx, out: &mut Findings);
}

macro_rules! my_rules {
    ($($module:ident :: $ty:ident),* $(,)?) => {
        $(mod $module;)*
        /// Every MySQL rule, in documentation order.
        pub static RULES: &[&dyn MyRule] = &[$(&$module::$ty),*];
    };
}

my_rules![
    alter_without_algorithm::AlterWithoutAlgorithm,
    algorithm_refused::AlgorithmRefused,
    table_copy::TableCopy,
    table_rebuild::TableRebuild,
    rename_column::RenameColumn,
    drop_column::DropColumn,
    add_column_not_null_without_default::AddColumnNotNullWithoutDefault,
    modify_drops_attributes::ModifyDropsAttributes,
    missing_lock_wait_timeout::MissingLockWaitTimeout,
    add_foreign_key::AddForeignKey,
    add_check_constraint::AddCheckConstraint,
    ddl_in_transaction::DdlInTransaction,
    unbatched_dml::UnbatchedDml,
    update_limit_rescan::UpdateLimitRescan,
    pipes_concat::PipesConcat,
    lock_tables::LockTables,
    rename_table::RenameTable,
    foreign_key_checks_off::ForeignKeyChecksOff,
];

mod prelude {
    pub use super::super::cost::Cost;
    pub use super::super::model::{Action, Algorithm, Kind, LockMode};
    pub use super::super::{MyCx, MyStmt};
    pub use super::{existing_alter, MyRule};
    pub use crate::lint::rule::{Findings, RuleMeta, Severity};
    pub use crate::lint::rules::shell_arg;
}

/// The actions of an ALTER TABLE on a table that existed before this file.
pub fn existing_alter<'a>(s: &'a MyStmt, cx: &MyCx) -> Option<(&'a TableName, &'a [super::model::Action])> {
    match &s.read.kind {
        super::model::Kind::AlterTable { table, actions, .. } if cx.existing(table) => Some((table, actions)),
        _ => None,
    }
}

/// `table.column` as the `planner plan` CLI takes it, quoted for a shell when needed.
pub fn arg(table: &TableName, column: &str) -> String {
    crate::lint::rules::shell_arg(&format!("{}.{column}", table.shown))
}

/// Test support: lint `sql` as MariaDB 10.11 (or `dialect`) and keep one rule's findings.
#[cfg(test)]
pub(crate) mod testing {
    use crate::lint::dialect::{LintDialect, DEFAULT_MARIADB};
    use crate::lint::{lint_str, Finding, LintOptions};

    pub fn mariadb() -> LintOptions {
        LintOptions { dialect: LintDialect::MariaDb(DEFAULT_MARIADB), ..LintOptions::default() }
    }

    pub fn with(dialect: LintDialect) -> LintOptions {
        LintOptions { dialect, ..LintOptions::default() }
    }

    /// `schema` runs first as an earlier file (its tables exist, with rows).
    pub fn findings_on(schema: &str, sql: &str, rule: &str, opts: &LintOptions) -> Vec<Finding> {
        let mut report = crate::lint::LintReport::default();
        let mut known = crate::lint::KnownSchema::default();
        report.context_only = true;
        report.lint_source("schema.sql", schema, opts, &mut known);
        report.context_only = false;
        report.lint_source("test.sql", sql, opts, &mut known);
        report.findings.into_iter().filter(|f| f.rule == rule).collect()
    }

    pub fn findings(sql: &str, rule: &str) -> Vec<Finding> {
        lint_str("test.sql", sql, &mariadb()).findings.into_iter().filter(|f| f.rule == rule).collect()
    }

    pub const USERS: &str = "CREATE TABLE users (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL DEFAULT '' COMMENT 'shown', \
        email VARCHAR(50) NULL, qty INT NULL, legacy TINYINT NULL, KEY ix_legacy (legacy)) DEFAULT CHARSET=utf8mb4;";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_documented() {
        let mut seen = std::collections::HashSet::new();
        for rule in RULES {
            let m = rule.meta();
            assert!(seen.insert(m.id), "duplicate rule id {}", m.id);
            assert!(m.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{} is not kebab-case", m.id);
            assert!(m.docs.contains("## Problem") && m.docs.contains("## What to do"), "{} docs", m.id);
        }
    }
}
