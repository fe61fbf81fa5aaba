//! File context, computed in one pass before any rule runs; rules only read it.
//!
//! Everything is indexed by statement position, so a rule asks "was this true *before* statement
//! i?" (a table created earlier, a validated NOT NULL check, a lock_timeout in force).

use std::collections::HashMap;

use sqlparser::ast::{
    AlterTableOperation, ColumnOption, ContextModifier, Expr, ObjectName, Set, Statement, TableConstraint,
    Value,
};

use super::source::Stmt;

/// Column types learnt from earlier files of the same run (migrations run in path order), so
/// `ALTER COLUMN TYPE` can tell a varchar widening from a rewrite.
#[derive(Debug, Default, Clone)]
pub struct KnownSchema {
    column_types: HashMap<(String, String), String>,
}

/// (table key, column key).
type ColumnKey = (String, String);

/// Where a column type was declared: a statement of this file, or `None` for an earlier file.
type TypeHistory = Vec<(Option<usize>, String)>;

/// Per-statement state at the moment the statement runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct StmtCx {
    pub in_transaction: bool,
    pub lock_timeout_set: bool,
}

#[derive(Debug)]
pub struct FileCx {
    pub pg_version: u32,
    pub stmts: Vec<StmtCx>,
    /// table key -> index of the CREATE TABLE in this file.
    created_tables: HashMap<String, usize>,
    /// (table, column) -> index of the statement after which a validated CHECK (c IS NOT NULL) exists.
    validated_not_null: HashMap<(String, String), usize>,
    /// (table, column) -> (index it was declared at in this file, or None for an earlier file, type).
    column_types: HashMap<ColumnKey, TypeHistory>,
    /// (table, column) -> (index, name) of a `CHECK (column IS NOT NULL) NOT VALID` added in this file.
    unvalidated_not_null: HashMap<ColumnKey, (usize, String)>,
    /// index key -> index of the CREATE INDEX in this file.
    created_indexes: HashMap<String, usize>,
    /// Statements that wait for a blocking lock with no lock_timeout in force: reported once per
    /// file, at the first one, so a long migration gives one finding instead of one per line.
    pub unprotected_locks: Vec<usize>,
    // Running state while statements are observed in order.
    in_tx: bool,
    /// Where an explicit BEGIN that has not been committed or rolled back yet starts.
    pub open_begin: Option<(super::source::Pos, super::source::Pos)>,
    session_timeout: bool,
    local_timeout: bool,
    /// constraint name -> (table, column) of a CHECK (column IS NOT NULL).
    not_null_checks: HashMap<String, ColumnKey>,
}

/// A table's key: unquoted parts folded to lower case, `public.` added when unqualified.
pub fn table_key(name: &ObjectName) -> String {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| match p.as_ident() {
            Some(id) => column_key(id),
            None => p.to_string(),
        })
        .collect();
    if parts.len() == 1 {
        format!("public.{}", parts[0])
    } else {
        parts.join(".")
    }
}

/// A column's key part, folded like `table_key`.
pub fn column_key(id: &sqlparser::ast::Ident) -> String {
    crate::sql::ident::fold_ast_ident(id)
}

/// Options that change what the context concludes.
#[derive(Debug, Clone, Copy)]
pub struct CxOptions {
    pub pg_version: u32,
    /// Migration tools (Rails, sqlx, Flyway, golang-migrate) wrap each file in a transaction.
    pub assume_in_transaction: bool,
}

impl FileCx {
    /// Context for a whole file at once (tests and tools); the linter observes statements as it
    /// parses them so only one AST is alive at a time.
    pub fn build(stmts: &[Stmt], opts: CxOptions, known: &mut KnownSchema) -> FileCx {
        let mut cx = FileCx::new(opts, known);
        for stmt in stmts {
            cx.observe(stmt);
        }
        cx.finish(known);
        cx
    }

    pub fn new(opts: CxOptions, known: &KnownSchema) -> FileCx {
        FileCx {
            pg_version: opts.pg_version,
            stmts: Vec::new(),
            created_tables: HashMap::new(),
            validated_not_null: HashMap::new(),
            unprotected_locks: Vec::new(),
            created_indexes: HashMap::new(),
            unvalidated_not_null: HashMap::new(),
            column_types: known
                .column_types
                .iter()
                .map(|(k, v)| (k.clone(), vec![(None, v.clone())]))
                .collect(),
            in_tx: opts.assume_in_transaction,
            open_begin: None,
            session_timeout: false,
            local_timeout: false,
            not_null_checks: HashMap::new(),
        }
    }

    /// Record the state before `stmt` (statements must come in order), then its effects.
    pub fn observe(&mut self, stmt: &Stmt) {
        let i = stmt.index;
        // sqlx (and tools copying it) run a file starting with `-- no-transaction` outside one.
        if i == 0 && stmt.leading_comments.first().is_some_and(|(_, c)| c == "no-transaction") {
            self.in_tx = false;
        }
        let state = StmtCx {
            in_transaction: self.in_tx,
            lock_timeout_set: self.session_timeout || self.local_timeout,
        };
        self.stmts.push(state);
        if !state.lock_timeout_set && super::rules::takes_blocking_lock(stmt, self).is_some() {
            self.unprotected_locks.push(i);
        }
        let Some(ast) = stmt.ast() else {
            return;
        };
        match ast {
            Statement::StartTransaction { .. } => {
                self.in_tx = true;
                self.open_begin = Some((stmt.start, stmt.end));
            }
            Statement::Commit { .. } | Statement::Rollback { savepoint: None, .. } => {
                self.open_begin = None;
                self.in_tx = false;
                self.local_timeout = false;
            }
            Statement::Set(Set::SingleAssignment { scope, variable, values, .. })
                if variable.to_string().eq_ignore_ascii_case("lock_timeout") =>
            {
                let on = !values.iter().all(is_zero);
                match scope {
                    Some(ContextModifier::Local) => self.local_timeout = on && self.in_tx,
                    _ => self.session_timeout = on,
                }
            }
            // A view created here has no readers yet either.
            Statement::CreateView(v) => {
                self.created_tables.entry(table_key(&v.name)).or_insert(i);
            }
            Statement::CreateIndex(ci) => {
                if let Some(name) = &ci.name {
                    self.created_indexes.entry(table_key(name)).or_insert(i);
                }
            }
            Statement::CreateTable(ct) => {
                let table = table_key(&ct.name);
                self.created_tables.entry(table.clone()).or_insert(i);
                for col in &ct.columns {
                    self.set_type(&table, &column_key(&col.name), i, col.data_type.to_string());
                }
            }
            Statement::AlterTable(at) => {
                let table = table_key(&at.name);
                for op in &at.operations {
                    match op {
                        AlterTableOperation::AddColumn { column_def, .. } => {
                            let col = column_key(&column_def.name);
                            self.set_type(&table, &col, i, column_def.data_type.to_string());
                            let has_check = column_def.options.iter().any(|o| {
                                matches!(&o.option, ColumnOption::Check(c) if is_not_null_of(&c.expr, &col))
                            });
                            if has_check {
                                self.validated_not_null.entry((table.clone(), col)).or_insert(i);
                            }
                        }
                        AlterTableOperation::AlterColumn {
                            column_name,
                            op: sqlparser::ast::AlterColumnOperation::SetDataType { data_type, .. },
                        } => self.set_type(&table, &column_key(column_name), i, data_type.to_string()),
                        AlterTableOperation::AddConstraint {
                            constraint: TableConstraint::Check(c),
                            not_valid,
                        } => {
                            if let Some(col) = not_null_column(&c.expr) {
                                if let Some(name) = &c.name {
                                    self.not_null_checks
                                        .insert(column_key(name), (table.clone(), col.clone()));
                                    if *not_valid {
                                        self.unvalidated_not_null
                                            .entry((table.clone(), col.clone()))
                                            .or_insert((i, name.to_string()));
                                    }
                                }
                                if !not_valid {
                                    self.validated_not_null.entry((table.clone(), col)).or_insert(i);
                                }
                            }
                        }
                        AlterTableOperation::ValidateConstraint { name } => {
                            if let Some((t, c)) = self.not_null_checks.get(&column_key(name)) {
                                if *t == table {
                                    self.validated_not_null.entry((t.clone(), c.clone())).or_insert(i);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// Carry what this file declared to the next file of the run.
    pub fn finish(&self, known: &mut KnownSchema) {
        for ((t, c), history) in &self.column_types {
            if let Some((_, ty)) = history.last() {
                known.column_types.insert((t.clone(), c.clone()), ty.clone());
            }
        }
    }

    fn set_type(&mut self, table: &str, column: &str, at: usize, ty: String) {
        self.column_types.entry((table.to_string(), column.to_string())).or_default().push((Some(at), ty));
    }

    /// The state when statement `index` starts.
    pub fn at(&self, index: usize) -> StmtCx {
        self.stmts.get(index).copied().unwrap_or_default()
    }

    /// True when `table` was created by an earlier statement of this file: it has no traffic yet,
    /// so locks and rewrites on it are harmless.
    pub fn is_new_table(&self, table: &ObjectName, index: usize) -> bool {
        self.created_tables.get(&table_key(table)).is_some_and(|&at| at < index)
    }

    /// True when index `name` was created by an earlier statement of this file (not yet in use).
    pub fn is_new_index(&self, name: &ObjectName, index: usize) -> bool {
        self.created_indexes.get(&table_key(name)).is_some_and(|&at| at < index)
    }

    /// True when a validated `CHECK (column IS NOT NULL)` exists before statement `index`.
    pub fn has_validated_not_null_check(&self, table: &ObjectName, column: &str, index: usize) -> bool {
        self.validated_not_null.get(&(table_key(table), column.to_string())).is_some_and(|&at| at < index)
    }

    /// The name of a `CHECK (column IS NOT NULL) NOT VALID` added before statement `index`.
    pub fn unvalidated_not_null_check(&self, table: &ObjectName, column: &str, index: usize) -> Option<&str> {
        self.unvalidated_not_null
            .get(&(table_key(table), column.to_string()))
            .filter(|(at, _)| *at < index)
            .map(|(_, name)| name.as_str())
    }

    /// The column's type before statement `index`, when an earlier statement or file declared it.
    pub fn column_type_before(&self, table: &ObjectName, column: &str, index: usize) -> Option<&str> {
        self.column_types
            .get(&(table_key(table), column.to_string()))?
            .iter()
            .rev()
            .find(|(at, _)| at.is_none_or(|at| at < index))
            .map(|(_, ty)| ty.as_str())
    }
}

fn is_zero(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.trim_start_matches('0').is_empty(),
            Value::SingleQuotedString(s) => s.trim_start_matches('0').is_empty(),
            _ => false,
        },
        _ => false,
    }
}

/// `col IS NOT NULL` -> Some(col).
pub fn not_null_column(e: &Expr) -> Option<String> {
    match e {
        Expr::IsNotNull(inner) => match inner.as_ref() {
            Expr::Identifier(id) => Some(column_key(id)),
            Expr::Nested(e) => not_null_column(&Expr::IsNotNull(e.clone())),
            _ => None,
        },
        Expr::Nested(e) => not_null_column(e),
        _ => None,
    }
}

fn is_not_null_of(e: &Expr, col: &str) -> bool {
    not_null_column(e).is_some_and(|c| c == col)
}
