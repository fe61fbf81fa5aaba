//! The rules: one file each, with its documentation (`META.docs`) and its tests.

use sqlparser::ast::{AlterTable, Expr, ObjectName, Statement};

use super::context::FileCx;
use super::source::Stmt;
use crate::sql::expr::{STABLE_FUNCTIONS, VOLATILE_FUNCTIONS};

crate::register_rules![
    rename_column::RenameColumn,
    rename_table::RenameTable,
    drop_column::DropColumn,
    drop_table::DropTable,
    drop_schema::DropSchema,
    drop_database::DropDatabase,
    not_null_column_without_default::NotNullColumnWithoutDefault,
    add_column_rewrite::AddColumnRewrite,
    change_column_type::ChangeColumnType,
    set_not_null::SetNotNull,
    constraint_without_not_valid::ConstraintWithoutNotValid,
    unique_without_index::UniqueWithoutIndex,
    index_without_concurrently::IndexWithoutConcurrently,
    concurrently_in_transaction::ConcurrentlyInTransaction,
    missing_lock_timeout::MissingLockTimeout,
    vacuum_full::VacuumFull,
    cluster::Cluster,
    truncate_cascade::TruncateCascade,
    unbatched_dml::UnbatchedDml,
    prefer_bigint_identity::PreferBigintIdentity,
    set_logged::SetLogged,
    refresh_without_concurrently::RefreshWithoutConcurrently,
    enum_add_value_in_transaction::EnumAddValueInTransaction,
    validate_in_same_transaction::ValidateInSameTransaction,
];

/// What every rule file needs.
mod prelude {
    pub use sqlparser::ast::{
        AlterColumnOperation, AlterTableOperation, ColumnOption, ObjectType, Statement, TableConstraint,
    };

    pub use super::{bare_table_name, existing_alter, populated_alter_table, shell_arg, table_arg};
    pub use crate::lint::context::{column_key, FileCx};
    pub use crate::lint::rule::{Findings, Rule, RuleMeta, Severity};
    pub use crate::lint::source::Stmt;
}

/// The ALTER TABLE of `stmt` when it targets a table that existed before this file (a table
/// created earlier in the file has no traffic, so nothing on it can block or break an app).
pub fn existing_alter<'a>(stmt: &'a Stmt, cx: &FileCx) -> Option<&'a AlterTable> {
    match stmt.ast()? {
        Statement::AlterTable(at) if !cx.is_new_table(&at.name, stmt.index) => Some(at),
        _ => None,
    }
}

/// [`existing_alter`] with its table as the `planner plan` CLI takes it ([`table_arg`]).
pub fn existing_alter_table<'a>(stmt: &'a Stmt, cx: &FileCx) -> Option<(&'a AlterTable, String)> {
    existing_alter(stmt, cx).map(|at| (at, table_arg(&at.name)))
}

/// [`existing_alter_table`] on a table that may hold rows: not one the file created, nor one an
/// earlier statement of the file proved empty (it added a NOT NULL column without a default,
/// which fails on any row). Scans and rewrites of such a table are instant and were reported at
/// that statement, so rules about scans and rewrites use this.
pub fn populated_alter_table<'a>(stmt: &'a Stmt, cx: &FileCx) -> Option<(&'a AlterTable, String)> {
    existing_alter_table(stmt, cx).filter(|(at, _)| cx.required_empty(&at.name, stmt.index).is_none())
}

/// The last part of a table name without quotes (`billing."Users"` -> `Users`): the stem of the
/// names PostgreSQL and `planner` give to a table's constraints and indexes.
pub fn bare_table_name(name: &ObjectName) -> String {
    name.0.last().map(|p| p.to_string()).unwrap_or_default().trim_matches('"').to_string()
}

/// A table name as the `planner plan` CLI takes it: `users` or `billing.users`, quotes kept.
pub fn table_arg(name: &ObjectName) -> String {
    name.to_string()
}

/// A command-line argument as a user would type it: single-quoted when it holds anything a shell
/// would interpret (quoted identifiers like `"Users"."Name"`, spaces, parentheses).
pub fn shell_arg(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "_.-,".contains(c)) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// How safe a column default is to add to a table with rows.
#[derive(Debug, PartialEq, Eq)]
pub enum DefaultKind {
    /// Literals and non-volatile built-ins: PG 11+ stores it once, no rewrite.
    Constant,
    /// Evaluated per row (random(), gen_random_uuid(), nextval(), clock_timestamp()): rewrite.
    Volatile(String),
    /// Calls a function we cannot classify.
    Unknown(String),
}

/// Stable functions the linter knows of besides [`STABLE_FUNCTIONS`].
const MORE_STABLE_FUNCTIONS: &[&str] = &[
    "session_user",
    "current_schema",
    "jsonb_build_array",
    "array",
    "to_timestamp",
    "interval",
    "txid_current",
    "pg_current_xact_id",
];

pub fn classify_default(expr: &Expr) -> DefaultKind {
    use std::ops::ControlFlow;
    let mut kind = DefaultKind::Constant;
    let _ = sqlparser::ast::visit_expressions(expr, |e| {
        if let Expr::Function(f) = e {
            let name = f.name.0.last().map(|p| p.to_string().to_lowercase()).unwrap_or_default();
            if VOLATILE_FUNCTIONS.contains(&name.as_str()) {
                kind = DefaultKind::Volatile(name);
                return ControlFlow::Break(());
            }
            if !STABLE_FUNCTIONS.contains(&name.as_str())
                && !MORE_STABLE_FUNCTIONS.contains(&name.as_str())
                && kind == DefaultKind::Constant
            {
                kind = DefaultKind::Unknown(name);
            }
        }
        ControlFlow::Continue(())
    });
    kind
}

/// `int`, `serial` and friends: 32-bit keys run out.
pub fn is_small_int_type(ty: &str) -> bool {
    matches!(
        ty.to_lowercase().as_str(),
        "int" | "integer" | "int4" | "serial" | "serial4" | "smallint" | "int2" | "smallserial" | "serial2"
    )
}

/// Does this statement take a lock that queues behind and then blocks normal traffic?
pub fn takes_blocking_lock(stmt: &Stmt, cx: &FileCx) -> Option<String> {
    if stmt.starts_with(&["CLUSTER"]) {
        return Some("CLUSTER".into());
    }
    if stmt.starts_with(&["REINDEX"]) && !stmt.words.iter().any(|w| w == "CONCURRENTLY") {
        return Some("REINDEX".into());
    }
    if let (None, Some(target)) = (stmt.ast(), &stmt.reading.target) {
        if stmt.starts_with(&["ALTER", "TABLE"]) && !cx.is_new_table(target, stmt.index) {
            return Some(format!("ALTER TABLE {target}"));
        }
    }
    match stmt.ast()? {
        Statement::AlterTable(at) if !cx.is_new_table(&at.name, stmt.index) => {
            // VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE: reads and writes go on.
            let only_validate = at
                .operations
                .iter()
                .all(|op| matches!(op, sqlparser::ast::AlterTableOperation::ValidateConstraint { .. }));
            (!only_validate).then(|| format!("ALTER TABLE {}", at.name))
        }
        Statement::CreateIndex(ci) if !ci.concurrently && !cx.is_new_table(&ci.table_name, stmt.index) => {
            Some(format!("CREATE INDEX on {}", ci.table_name))
        }
        Statement::Drop { object_type: sqlparser::ast::ObjectType::Table, names, .. }
            if names.iter().any(|n| !cx.is_new_table(n, stmt.index)) =>
        {
            Some("DROP TABLE".into())
        }
        Statement::Drop { object_type: sqlparser::ast::ObjectType::Index, names, .. }
            if names.iter().any(|n| !cx.is_new_index(n, stmt.index)) =>
        {
            Some("DROP INDEX".into())
        }
        Statement::Truncate(_) => Some("TRUNCATE".into()),
        // SHARE ROW EXCLUSIVE: brief, but it queues behind long queries and blocks writes meanwhile.
        Statement::CreateTrigger(t) if !cx.is_new_table(&t.table_name, stmt.index) => {
            Some(format!("CREATE TRIGGER on {}", t.table_name))
        }
        Statement::Vacuum(v) if v.full => Some("VACUUM FULL".into()),
        _ => None,
    }
}

/// Test support: run the whole engine on `sql` and keep one rule's findings.
#[cfg(test)]
pub(crate) mod testing {
    use crate::lint::{lint_str, Finding, LintOptions};

    pub fn findings(sql: &str, rule: &str) -> Vec<Finding> {
        findings_with(sql, rule, &LintOptions::default())
    }

    pub fn findings_with(sql: &str, rule: &str, opts: &LintOptions) -> Vec<Finding> {
        lint_str("test.sql", sql, opts).findings.into_iter().filter(|f| f.rule == rule).collect()
    }

    pub fn count(sql: &str, rule: &str) -> usize {
        findings(sql, rule).len()
    }

    pub fn pg(version: u32) -> LintOptions {
        LintOptions { pg_version: version, ..LintOptions::default() }
    }
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
            assert!(!m.summary.is_empty());
        }
    }

    #[test]
    fn every_rule_has_a_fixture() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint/rules");
        for rule in RULES {
            let path = dir.join(format!("{}.sql", rule.meta().id));
            assert!(path.exists(), "missing fixture {}", path.display());
        }
    }

    #[test]
    fn shell_args_are_quoted_only_when_needed() {
        assert_eq!(shell_arg("billing.users.name"), "billing.users.name");
        assert_eq!(shell_arg("\"Users\".\"Name\""), "'\"Users\".\"Name\"'");
        assert_eq!(shell_arg("numeric(12,2)"), "'numeric(12,2)'");
        assert_eq!(shell_arg("it's"), "'it'\\''s'");
    }

    #[test]
    fn defaults_are_classified() {
        let parse = |s: &str| {
            sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
                .try_with_sql(s)
                .and_then(|mut p| p.parse_expr())
                .map_err(|e| e.to_string())
        };
        assert_eq!(classify_default(&parse("'x'::text").unwrap()), DefaultKind::Constant);
        assert_eq!(classify_default(&parse("now()").unwrap()), DefaultKind::Constant);
        assert_eq!(
            classify_default(&parse("gen_random_uuid()").unwrap()),
            DefaultKind::Volatile("gen_random_uuid".into())
        );
        assert_eq!(classify_default(&parse("my_fn(1)").unwrap()), DefaultKind::Unknown("my_fn".into()));
    }
}
