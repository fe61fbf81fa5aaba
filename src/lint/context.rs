//! File context, computed in one pass before any rule runs; rules only read it.
//!
//! Everything is indexed by statement position, so a rule asks "was this true *before* statement
//! i?" (a table created earlier, a validated NOT NULL check, a lock_timeout in force).

use std::collections::{HashMap, HashSet};

use sqlparser::ast::{
    AlterTableOperation, ColumnOption, ContextModifier, Expr, ObjectName, ObjectType, RenameTableNameKind,
    Set, Statement, TableConstraint, Value,
};

use super::readers::{LiveReaders, Reader, Readers};
use super::source::{Origin, Stmt, Volatility};

/// What earlier files of the same run declared (migrations run in path order): column types, so
/// `ALTER COLUMN TYPE` can tell a varchar widening from a rewrite; functions and their
/// volatility; tables guarded to hold one row. Each file adds to it in time proportional to what
/// that file declares (never to what is already known), so a long history stays linear.
#[derive(Debug, Default, Clone)]
pub struct KnownSchema {
    column_types: HashMap<ColumnKey, String>,
    functions: HashMap<String, Volatility>,
    single_row: HashSet<String>,
    /// Views, functions and triggers in place: what still reads a table or column.
    readers: Readers,
    /// MySQL/MariaDB runs: tables as earlier files declared them.
    pub(crate) mysql: super::mysql::schema::Schema,
}

/// (table key, column key).
type ColumnKey = (String, String);

/// How the tool running a file wraps it in a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileTx {
    /// Only the file's own BEGIN ... COMMIT.
    #[default]
    Explicit,
    /// The tool runs the whole file in one transaction (sqlx, Rails, Flyway, Diesel, goose ...).
    Wrapped,
    /// The tool sends the file as one multi-statement query (Prisma, golang-migrate): PostgreSQL
    /// runs it as one implicit transaction when it holds more than one statement.
    Implicit,
}

/// How a table name came to exist in this file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Birth {
    /// CREATE TABLE: no rows, no traffic yet.
    Created,
    /// A table this file created, renamed into this name (copy-then-rename): no traffic yet.
    RenamedFromNew,
    /// `ALTER TABLE existing RENAME TO name`: the rows of an existing table, moved into place.
    RenamedInto,
}

/// Per-statement state at the moment the statement runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct StmtCx {
    pub in_transaction: bool,
    pub lock_timeout_set: bool,
    /// `SET timezone = 'UTC'` (or `SET TIME ZONE 'UTC'`) is in force.
    pub timezone_utc: bool,
    /// Which transaction of the file the statement runs in (0: none, autocommit).
    pub tx: u32,
}

#[derive(Debug)]
pub struct FileCx<'k> {
    pub pg_version: u32,
    pub stmts: Vec<StmtCx>,
    known: &'k KnownSchema,
    /// table key -> every statement of this file that creates it or renames a table into its name.
    table_births: HashMap<String, Vec<(usize, Birth)>>,
    /// table key -> the statement that added a NOT NULL column without default to it: the file
    /// only succeeds when the table is empty, so later steps on it cost nothing.
    requires_empty: HashMap<String, usize>,
    /// (table, column) -> index of the statement after which a validated CHECK (c IS NOT NULL) exists.
    validated_not_null: HashMap<(String, String), usize>,
    /// (table, column) -> types declared in this file, with the statement that declared them.
    column_types: HashMap<ColumnKey, Vec<(usize, String)>>,
    /// (table, column) -> (index, name) of a `CHECK (column IS NOT NULL) NOT VALID` added in this file.
    unvalidated_not_null: HashMap<ColumnKey, (usize, String)>,
    /// (table, constraint) -> (statement, transaction) of an `ADD CONSTRAINT ... NOT VALID`.
    not_valid: HashMap<(String, String), (usize, u32)>,
    /// index key -> index of the CREATE INDEX in this file.
    created_indexes: HashMap<String, usize>,
    /// Functions this file declares: name -> (statement, volatility).
    functions: HashMap<String, (usize, Volatility)>,
    /// Tables this file creates with a guard that keeps them to one row.
    single_row: HashSet<String>,
    /// Views and trigger functions in force as the statements run.
    readers: LiveReaders<'k>,
    /// (statement, table key or `table key.column`) -> the view or trigger that still reads what
    /// the statement drops.
    still_read: HashMap<(usize, String), Reader>,
    /// Statements that wait for a blocking lock with no lock_timeout in force: reported once per
    /// file, at the first one, so a long migration gives one finding instead of one per line.
    pub unprotected_locks: Vec<usize>,
    // Running state while statements are observed in order.
    in_tx: bool,
    tx_count: u32,
    tx: u32,
    /// The last statement of the file itself (the DO or CREATE FUNCTION around a body statement).
    outer: usize,
    /// Where an explicit BEGIN that has not been committed or rolled back yet starts.
    pub open_begin: Option<(super::source::Pos, super::source::Pos)>,
    session_timeout: bool,
    local_timeout: bool,
    timezone_utc: bool,
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
    /// How the migration tool wraps this file in a transaction.
    pub tx: FileTx,
    /// Statements at the file's top level (decides [`FileTx::Implicit`]).
    pub statements: usize,
}

impl<'k> FileCx<'k> {
    pub fn new(opts: CxOptions, known: &'k KnownSchema) -> FileCx<'k> {
        let in_tx = match opts.tx {
            FileTx::Explicit => false,
            FileTx::Wrapped => true,
            FileTx::Implicit => opts.statements > 1,
        };
        FileCx {
            pg_version: opts.pg_version,
            stmts: Vec::new(),
            known,
            table_births: HashMap::new(),
            requires_empty: HashMap::new(),
            validated_not_null: HashMap::new(),
            unprotected_locks: Vec::new(),
            created_indexes: HashMap::new(),
            unvalidated_not_null: HashMap::new(),
            not_valid: HashMap::new(),
            functions: HashMap::new(),
            single_row: HashSet::new(),
            readers: LiveReaders::new(&known.readers),
            still_read: HashMap::new(),
            column_types: HashMap::new(),
            in_tx,
            tx_count: u32::from(in_tx),
            tx: u32::from(in_tx),
            outer: 0,
            open_begin: None,
            session_timeout: false,
            local_timeout: false,
            timezone_utc: false,
            not_null_checks: HashMap::new(),
        }
    }

    /// Record the state before `stmt` (statements must come in order), then its effects.
    pub fn observe(&mut self, stmt: &Stmt) {
        let i = stmt.index;
        // sqlx (and tools copying it) run a file starting with `-- no-transaction` outside one.
        if i == 0 && stmt.leading_comments.first().is_some_and(|(_, c)| c == "no-transaction") {
            self.in_tx = false;
            self.tx = 0;
        }
        // A DO block runs as one statement: its statements share one transaction.
        let in_body = stmt.origin != Origin::File;
        let state = StmtCx {
            in_transaction: self.in_tx || in_body,
            lock_timeout_set: self.session_timeout || self.local_timeout,
            timezone_utc: self.timezone_utc,
            // Outside a transaction, a DO block is one of its own (numbered after its statement).
            tx: if self.tx == 0 && in_body { u32::MAX - self.outer as u32 } else { self.tx },
        };
        if !in_body {
            self.outer = i;
        }
        self.stmts.push(state);
        // A function body's locks are taken when it is called, under the caller's settings.
        if stmt.origin != Origin::FunctionBody
            && !state.lock_timeout_set
            && super::rules::takes_blocking_lock(stmt, self).is_some()
        {
            self.unprotected_locks.push(i);
        }
        self.readers.at = i;
        if let Some((name, volatility)) = &stmt.reading.function {
            self.functions.insert(name.clone(), (i, *volatility));
            self.readers.set_function(name.clone(), stmt.reading.mentions.clone());
        }
        // A function body runs when the function is called, maybe never in this migration.
        if stmt.origin == Origin::FunctionBody {
            return;
        }
        let Some(ast) = stmt.ast() else {
            // What the tokens say about a statement sqlparser rejected.
            if let Some(target) = &stmt.reading.target {
                if stmt.starts_with(&["CREATE"]) && !stmt.words.iter().any(|w| w == "INDEX") {
                    self.born(table_key(target), i, Birth::Created);
                }
                let words: Vec<&str> = stmt.words.iter().map(String::as_str).collect();
                if super::source::is_view(&words) {
                    self.readers.set_view(table_key(target), stmt.reading.mentions.clone());
                }
            }
            return;
        };
        match ast {
            Statement::StartTransaction { .. } => {
                self.in_tx = true;
                self.tx_count += 1;
                self.tx = self.tx_count;
                self.open_begin = Some((stmt.start, stmt.end));
            }
            Statement::Commit { .. } | Statement::Rollback { savepoint: None, .. } => {
                self.open_begin = None;
                self.in_tx = false;
                self.tx = 0;
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
            Statement::Set(Set::SingleAssignment { variable, values, .. })
                if variable.to_string().eq_ignore_ascii_case("timezone") =>
            {
                self.timezone_utc = values.iter().all(is_utc);
            }
            Statement::Set(Set::SetTimeZone { value, .. }) => self.timezone_utc = is_utc(value),
            // A view created here has no readers yet either.
            Statement::CreateView(v) => {
                self.born(table_key(&v.name), i, Birth::Created);
                self.readers.set_view(table_key(&v.name), stmt.reading.mentions.clone());
            }
            Statement::Drop {
                object_type: ObjectType::View | ObjectType::MaterializedView, names, ..
            } => {
                for n in names {
                    self.readers.set_view(table_key(n), None);
                }
            }
            Statement::Drop { object_type: ObjectType::Table, names, .. } => {
                for n in names {
                    let table = table_key(n);
                    let bare = bare_key(n);
                    if let Some(reader) = self.readers.table_reader(&table, &bare) {
                        self.still_read.insert((i, table.clone()), reader);
                    }
                    self.readers.table_gone(&table, &bare);
                }
            }
            Statement::CreateTrigger(t) => {
                let function = t.exec_body.as_ref().and_then(|b| last_part(&b.func_desc.name));
                if let Some(name) = last_part(&t.name) {
                    self.readers.set_trigger(table_key(&t.table_name), name, function);
                }
            }
            Statement::DropTrigger(t) => {
                if let (Some(table), Some(name)) = (&t.table_name, last_part(&t.trigger_name)) {
                    self.readers.set_trigger(table_key(table), name, None);
                }
            }
            Statement::DropFunction(f) => {
                for d in &f.func_desc {
                    if let Some(name) = last_part(&d.name) {
                        self.readers.function_gone(&name);
                    }
                }
            }
            Statement::AlterFunction(f) => {
                if let Some(name) = last_part(&f.function.name) {
                    self.readers.function_gone(&name);
                }
            }
            // A renamed trigger is no longer followed (never a reader seen where there is none).
            Statement::AlterTrigger(t) => {
                self.readers.set_trigger(table_key(&t.table_name), column_key(&t.name), None);
            }
            Statement::CreateIndex(ci) => {
                if let Some(name) = &ci.name {
                    self.created_indexes.entry(table_key(name)).or_insert(i);
                }
                if ci.unique && ci.columns.iter().all(|c| is_constant(&c.column.expr)) {
                    self.single_row.insert(table_key(&ci.table_name));
                }
            }
            Statement::CreateTable(ct) => {
                let table = table_key(&ct.name);
                self.born(table.clone(), i, Birth::Created);
                for col in &ct.columns {
                    self.set_type(&table, &column_key(&col.name), i, col.data_type.to_string());
                }
                // CHECK (id = 1) on the key: the table holds one row at most.
                let mut keys: Vec<String> = Vec::new();
                let mut pinned: Vec<String> = Vec::new();
                for c in &ct.columns {
                    for o in &c.options {
                        match &o.option {
                            ColumnOption::PrimaryKey(_) | ColumnOption::Unique(_) => {
                                keys.push(column_key(&c.name))
                            }
                            ColumnOption::Check(k) => pinned.extend(pinned_column(&k.expr)),
                            _ => {}
                        }
                    }
                }
                for c in &ct.constraints {
                    match c {
                        TableConstraint::Check(k) => pinned.extend(pinned_column(&k.expr)),
                        TableConstraint::PrimaryKey(p) if p.columns.len() == 1 => keys
                            .extend(p.columns.iter().map(|c| c.to_string().trim_matches('"').to_lowercase())),
                        TableConstraint::Unique(u) if u.columns.len() == 1 => keys
                            .extend(u.columns.iter().map(|c| c.to_string().trim_matches('"').to_lowercase())),
                        _ => {}
                    }
                }
                let guarded = pinned.iter().any(|p| keys.contains(p));
                if guarded {
                    self.single_row.insert(table);
                }
            }
            Statement::AlterTable(at) => {
                let table = table_key(&at.name);
                for op in &at.operations {
                    match op {
                        AlterTableOperation::AddColumn { column_def, .. } => {
                            let col = column_key(&column_def.name);
                            self.set_type(&table, &col, i, column_def.data_type.to_string());
                            let has = |f: fn(&ColumnOption) -> bool| {
                                column_def.options.iter().any(|o| f(&o.option))
                            };
                            let has_check = column_def.options.iter().any(|o| {
                                matches!(&o.option, ColumnOption::Check(c) if is_not_null_of(&c.expr, &col))
                            });
                            if has_check {
                                self.validated_not_null.entry((table.clone(), col)).or_insert(i);
                            }
                            let not_null =
                                has(|o| matches!(o, ColumnOption::NotNull | ColumnOption::PrimaryKey(_)));
                            let fills =
                                has(|o| {
                                    matches!(o, ColumnOption::Default(_) | ColumnOption::Generated { .. })
                                }) || column_def.data_type.to_string().to_lowercase().contains("serial");
                            if not_null && !fills && !self.is_new_table(&at.name, i) {
                                self.requires_empty.entry(table.clone()).or_insert(i);
                            }
                        }
                        AlterTableOperation::AlterColumn {
                            column_name,
                            op: sqlparser::ast::AlterColumnOperation::SetDataType { data_type, .. },
                        } => self.set_type(&table, &column_key(column_name), i, data_type.to_string()),
                        // The column keeps its type under its new name (a later TYPE change
                        // compares with it).
                        AlterTableOperation::DropColumn { column_names, .. } => {
                            let bare = bare_key(&at.name);
                            for c in column_names {
                                let col = column_key(c);
                                if let Some(reader) = self.readers.column_reader(&table, &bare, &col) {
                                    self.still_read.insert((i, format!("{table}.{col}")), reader);
                                }
                                self.readers.column_gone(&bare, &col);
                            }
                        }
                        AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
                            let old = column_key(old_column_name);
                            if let Some(ty) = self.column_type_before(&at.name, &old, i).map(str::to_string) {
                                self.set_type(&table, &column_key(new_column_name), i, ty);
                            }
                        }
                        AlterTableOperation::AddConstraint { constraint, not_valid } => {
                            if *not_valid {
                                if let Some(name) = constraint_name(constraint) {
                                    self.not_valid.insert((table.clone(), name), (i, state.tx));
                                }
                            }
                            let TableConstraint::Check(c) = constraint else { continue };
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
                        AlterTableOperation::RenameTable { table_name } => {
                            let (RenameTableNameKind::To(new) | RenameTableNameKind::As(new)) = table_name;
                            // `ALTER TABLE s.a RENAME TO b` keeps schema s.
                            let schema = table.rsplit_once('.').map_or("public", |(s, _)| s);
                            let new_key = match table_key(new).split_once('.') {
                                Some((_, t)) if new.0.len() == 1 => format!("{schema}.{t}"),
                                _ => table_key(new),
                            };
                            // Copy-then-rename: the table moved into place is as new as its source.
                            let kind = if self.is_new_table(&at.name, i) {
                                Birth::RenamedFromNew
                            } else {
                                Birth::RenamedInto
                            };
                            self.readers.table_renamed(&table, &new_key);
                            self.born(new_key, i, kind);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn born(&mut self, table: String, at: usize, kind: Birth) {
        self.table_births.entry(table).or_default().push((at, kind));
    }

    /// What this file declared, for the next file of the run. Costs what this file declared.
    pub fn finish(self) -> KnownSchema {
        let mut delta = KnownSchema::default();
        for ((t, c), history) in self.column_types {
            if let Some((_, ty)) = history.into_iter().last() {
                delta.column_types.insert((t, c), ty);
            }
        }
        delta.functions = self.functions.into_iter().map(|(k, (_, v))| (k, v)).collect();
        delta.single_row = self.single_row;
        delta.readers = self.readers.finish();
        delta
    }

    fn set_type(&mut self, table: &str, column: &str, at: usize, ty: String) {
        self.column_types.entry((table.to_string(), column.to_string())).or_default().push((at, ty));
    }

    /// The state when statement `index` starts.
    pub fn at(&self, index: usize) -> StmtCx {
        self.stmts.get(index).copied().unwrap_or_default()
    }

    /// True when `table` was created by an earlier statement of this file (or renamed into place
    /// from one): it has no traffic yet, so locks and rewrites on it are harmless.
    pub fn is_new_table(&self, table: &ObjectName, index: usize) -> bool {
        self.table_births
            .get(&table_key(table))
            .and_then(|b| b.iter().find(|(_, k)| *k != Birth::RenamedInto))
            .is_some_and(|(at, _)| *at < index)
    }

    /// A statement after `index` that creates `table` again or renames a table into its name.
    pub fn replaced_later(&self, table: &ObjectName, index: usize) -> Option<(usize, Birth)> {
        self.table_births.get(&table_key(table))?.iter().copied().find(|(at, _)| *at > index)
    }

    /// The statement before `index` that only succeeds on an empty `table` (it added a NOT NULL
    /// column without a default): later steps on the table are instant and not reported again.
    pub fn required_empty(&self, table: &ObjectName, index: usize) -> Option<usize> {
        self.requires_empty.get(&table_key(table)).copied().filter(|&at| at < index)
    }

    /// New in this file, or provably empty: scans and rewrites of it cost nothing.
    pub fn has_no_rows(&self, table: &ObjectName, index: usize) -> bool {
        self.is_new_table(table, index) || self.required_empty(table, index).is_some()
    }

    /// True when index `name` was created by an earlier statement of this file (not yet in use).
    pub fn is_new_index(&self, name: &ObjectName, index: usize) -> bool {
        self.created_indexes.get(&table_key(name)).is_some_and(|&at| at < index)
    }

    /// The `ADD CONSTRAINT name ... NOT VALID` on `table` that ran earlier in the same transaction
    /// as statement `index`.
    pub fn not_valid_in_same_transaction(
        &self,
        table: &ObjectName,
        name: &str,
        index: usize,
    ) -> Option<usize> {
        let tx = self.at(index).tx;
        self.not_valid
            .get(&(table_key(table), name.to_string()))
            .filter(|(at, at_tx)| *at < index && tx != 0 && *at_tx == tx)
            .map(|(at, _)| *at)
    }

    /// The declared volatility of function `name` (last name part, folded), from this file
    /// before `index` or from an earlier file.
    pub fn function_volatility(&self, name: &str, index: usize) -> Option<Volatility> {
        match self.functions.get(name) {
            Some((at, v)) if *at < index => Some(*v),
            _ => self.known.functions.get(name).copied(),
        }
    }

    /// True when `table` was created with a guard that keeps it to one row (a CHECK pinning the
    /// key to a constant, or a unique index on a constant).
    pub fn is_single_row(&self, table: &ObjectName) -> bool {
        let key = table_key(table);
        self.single_row.contains(&key) || self.known.single_row.contains(&key)
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

    /// The view or trigger that still reads `table` (or its column `column`) when statement
    /// `index` drops it: the database itself breaks, whatever the deploy order.
    /// A reader replaced or dropped later in the same transaction does not count: no other
    /// session sees the state between the two statements.
    pub fn still_read(&self, index: usize, table: &ObjectName, column: Option<&str>) -> Option<&str> {
        let key = match column {
            Some(c) => format!("{}.{c}", table_key(table)),
            None => table_key(table),
        };
        let reader = self.still_read.get(&(index, key))?;
        let tx = self.at(index).tx;
        let fixed = tx != 0 && self.readers.touched_after(index, &reader.ids).any(|j| self.at(j).tx == tx);
        (!fixed).then_some(reader.what.as_str())
    }

    /// The column's type before statement `index`, when an earlier statement or file declared it.
    pub fn column_type_before(&self, table: &ObjectName, column: &str, index: usize) -> Option<&str> {
        let key = (table_key(table), column.to_string());
        let here = self.column_types.get(&key).and_then(|h| h.iter().rev().find(|(at, _)| *at < index));
        match here {
            Some((_, ty)) => Some(ty),
            None => self.known.column_types.get(&key).map(String::as_str),
        }
    }
}

impl KnownSchema {
    /// Add what one file declared (later declarations win).
    pub fn absorb(&mut self, delta: KnownSchema) {
        self.column_types.extend(delta.column_types);
        self.functions.extend(delta.functions);
        self.single_row.extend(delta.single_row);
        self.readers.absorb(delta.readers);
    }
}

/// The last part of a name, folded (a function's or a trigger's key).
fn last_part(name: &ObjectName) -> Option<String> {
    name.0.last()?.as_ident().map(column_key)
}

/// A table's last name part, lower-cased: how view and function text names it.
fn bare_key(name: &ObjectName) -> String {
    name.0.last().and_then(|p| p.as_ident()).map_or_else(|| name.to_string(), |id| id.value.to_lowercase())
}

fn constraint_name(c: &TableConstraint) -> Option<String> {
    let name = match c {
        TableConstraint::Check(c) => c.name.as_ref(),
        TableConstraint::ForeignKey(c) => c.name.as_ref(),
        _ => None,
    };
    name.map(column_key)
}

/// `'UTC'` and its aliases.
fn is_utc(e: &Expr) -> bool {
    let text = match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => s.clone(),
            _ => return false,
        },
        Expr::Identifier(id) => id.value.clone(),
        _ => return false,
    };
    matches!(
        text.to_lowercase().as_str(),
        "utc" | "etc/utc" | "gmt" | "etc/gmt" | "uct" | "zulu" | "universal" | "z"
    )
}

/// A literal (or a parenthesised one): `true`, `1`, `'x'`.
fn is_constant(e: &Expr) -> bool {
    match e {
        Expr::Value(_) => true,
        Expr::Nested(e) => is_constant(e),
        _ => false,
    }
}

/// `CHECK (id = 1)` -> Some("id"): the column can take one value only.
fn pinned_column(e: &Expr) -> Option<String> {
    match e {
        Expr::BinaryOp { left, op: sqlparser::ast::BinaryOperator::Eq, right } => {
            match (left.as_ref(), right.as_ref()) {
                (Expr::Identifier(id), r) if is_constant(r) => Some(column_key(id)),
                (l, Expr::Identifier(id)) if is_constant(l) => Some(column_key(id)),
                _ => None,
            }
        }
        Expr::Nested(e) => pinned_column(e),
        _ => None,
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
