//! schema.sql -> SchemaModel, parsed with sqlparser.
//!
//! Understands what schema files and `pg_dump --schema-only` contain: CREATE TABLE (inline and
//! table constraints, serial, identity, generated), CREATE [UNIQUE] INDEX, ALTER TABLE ADD
//! CONSTRAINT / ALTER COLUMN SET DEFAULT / SET NOT NULL / ADD GENERATED, CREATE [MATERIALIZED] VIEW,
//! CREATE TYPE and CREATE DOMAIN. Other statements (extensions, grants, functions, comments)
//! do not change the model and are skipped.

use std::ops::ControlFlow;

use sqlparser::ast::{
    self as ast, AlterColumnOperation, AlterTableOperation, ColumnOption, ObjectName, ObjectNamePart,
    ReferentialAction, Statement, TableConstraint,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::{
    types, Column, Constraint, ConstraintKind, Generated, Index, IndexKey, IndexPart, SchemaModel, Table,
    View,
};
use crate::error::{InputError, Location};
use crate::sql::{Ident, QualifiedName};

const DEFAULT_SCHEMA: &str = "public";

/// Parse a schema file. `file` is used in error messages only.
pub fn parse_schema(sql: &str, file: &str, pg_version: u32) -> Result<SchemaModel, InputError> {
    let sql = blank_psql_meta_commands(sql);
    let statements = parse_statements(&sql, file)?;
    let mut builder = Builder { model: SchemaModel::new(pg_version), file };
    for statement in &statements {
        builder.statement(statement)?;
    }
    // Same order as introspection, so a plan does not depend on statement order in the file.
    for table in builder.model.tables.values_mut() {
        table.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        table.constraints.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(builder.model)
}

/// pg_dump output contains psql meta-commands (`\restrict KEY`); they are not SQL. Blank them,
/// keeping line numbers intact for error messages.
fn blank_psql_meta_commands(sql: &str) -> String {
    sql.lines().map(|l| if l.trim_start().starts_with('\\') { "" } else { l }).collect::<Vec<_>>().join("\n")
}

/// Statements that shape the model must parse; anything else sqlparser cannot read (function
/// bodies in exotic languages, server settings) is skipped because it cannot change the model.
const MODEL_STATEMENTS: &[&str] = &[
    "CREATE TABLE",
    "ALTER TABLE",
    "CREATE INDEX",
    "CREATE UNIQUE INDEX",
    "CREATE VIEW",
    "CREATE MATERIALIZED VIEW",
    "CREATE TYPE",
    "CREATE DOMAIN",
];

fn parse_statements(sql: &str, file: &str) -> Result<Vec<Statement>, InputError> {
    use sqlparser::tokenizer::{Location as TokenLocation, Token, Tokenizer};
    let dialect = PostgreSqlDialect {};
    if let Ok(all) = Parser::parse_sql(&dialect, sql) {
        return Ok(all);
    }
    // One statement at a time, so an irrelevant statement sqlparser cannot read does not hide the rest.
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| parse_error(&e.to_string(), file))?;
    let line_starts: Vec<usize> =
        std::iter::once(0).chain(sql.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let offset = |loc: TokenLocation| -> usize {
        let line = (loc.line.max(1) as usize) - 1;
        let start = line_starts.get(line).copied().unwrap_or(sql.len());
        // columns count characters, not bytes
        sql[start..]
            .char_indices()
            .nth((loc.column.max(1) as usize) - 1)
            .map(|(i, _)| start + i)
            .unwrap_or(sql.len())
    };
    let mut statements = Vec::new();
    let mut start: Option<TokenLocation> = None;
    for token in &tokens {
        match &token.token {
            Token::Whitespace(_) => {}
            Token::SemiColon | Token::EOF => {
                let Some(begin) = start.take() else { continue };
                let end = if token.token == Token::EOF { sql.len() } else { offset(token.span.start) };
                let text = &sql[offset(begin)..end];
                match Parser::parse_sql(&dialect, text).or_else(|e| match without_identity_options(text) {
                    Some(simpler) => Parser::parse_sql(&dialect, &simpler),
                    None => Err(e),
                }) {
                    Ok(parsed) => statements.extend(parsed),
                    Err(e) => {
                        let head =
                            text.split_whitespace().take(3).collect::<Vec<_>>().join(" ").to_uppercase();
                        if MODEL_STATEMENTS.iter().any(|m| head.starts_with(m)) {
                            return Err(shifted_parse_error(&e.to_string(), file, begin));
                        }
                    }
                }
            }
            _ => {
                if start.is_none() {
                    start = Some(token.span.start);
                }
            }
        }
    }
    Ok(statements)
}

/// pg_dump writes `ADD GENERATED ... AS IDENTITY (SEQUENCE NAME x START WITH 1 ...)`, whose
/// `SEQUENCE NAME` sqlparser does not read; the options do not matter to the model.
fn without_identity_options(text: &str) -> Option<String> {
    let upper = text.to_uppercase();
    let end = upper.find("AS IDENTITY")? + "AS IDENTITY".len();
    upper.contains("ADD GENERATED").then(|| text[..end].to_string())
}

/// A statement parsed alone reports positions relative to itself; move them into the file.
fn shifted_parse_error(message: &str, file: &str, begin: sqlparser::tokenizer::Location) -> InputError {
    let mut err = parse_error(message, file);
    if let Some(loc) = &mut err.location {
        if loc.line == 1 {
            loc.column += begin.column as usize - 1;
        }
        loc.line += begin.line as usize - 1;
    }
    err
}

/// sqlparser reports "... at Line: 3, Column: 7"; turn that into file:line:col.
fn parse_error(message: &str, file: &str) -> InputError {
    let location = message.rfind("at Line: ").and_then(|i| {
        let rest = &message[i + "at Line: ".len()..];
        let (line, rest) = rest.split_once(", Column: ")?;
        let column: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        Some(Location {
            file: file.to_string(),
            line: line.trim().parse().ok()?,
            column: column.parse().ok()?,
        })
    });
    let clean = match message.rfind(" at Line: ") {
        Some(i) => &message[..i],
        None => message,
    };
    let mut err = InputError::new(format!(
        "cannot parse schema file: {}",
        clean.trim_start_matches("sql parser error: ")
    ))
    .help("the schema file must be valid PostgreSQL DDL (e.g. the output of pg_dump --schema-only)");
    if let Some(loc) = location {
        err = err.at(loc);
    } else {
        err.message = format!("{file}: {}", err.message);
    }
    err
}

struct Builder<'a> {
    model: SchemaModel,
    file: &'a str,
}

fn ident(id: &ast::Ident) -> Result<Ident, InputError> {
    let name = crate::sql::ident::fold_ast_ident(id);
    Ident::new(name).map_err(|e| InputError::new(e.to_string()))
}

fn qualified(name: &ObjectName) -> Result<QualifiedName, InputError> {
    let parts: Vec<&ast::Ident> = name
        .0
        .iter()
        .filter_map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i),
            _ => None,
        })
        .collect();
    match parts.as_slice() {
        [n] => Ok(QualifiedName::new(Ident::new(DEFAULT_SCHEMA).expect("valid"), ident(n)?)),
        [s, n] => Ok(QualifiedName::new(ident(s)?, ident(n)?)),
        [_, s, n] => Ok(QualifiedName::new(ident(s)?, ident(n)?)),
        _ => Err(InputError::new(format!("unsupported object name `{name}`"))),
    }
}

fn referential(action: &Option<ReferentialAction>) -> Option<String> {
    match action {
        None | Some(ReferentialAction::NoAction) => None,
        Some(a) => Some(a.to_string()),
    }
}

impl Builder<'_> {
    fn err(&self, message: String) -> InputError {
        InputError::new(format!("{}: {message}", self.file))
    }

    fn statement(&mut self, statement: &Statement) -> Result<(), InputError> {
        match statement {
            Statement::CreateTable(create) => self.create_table(create),
            Statement::CreateIndex(create) => self.create_index(create),
            Statement::AlterTable(alter) => {
                let table = qualified(&alter.name)?;
                for op in &alter.operations {
                    self.alter_table(&table, op)?;
                }
                Ok(())
            }
            Statement::CreateView(view) => self.create_view(view),
            Statement::CreateType { name, .. } => {
                self.model.user_types.push(qualified(name)?);
                Ok(())
            }
            Statement::CreateDomain(domain) => {
                self.model.user_types.push(qualified(&domain.name)?);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn column_type(
        &self,
        table: &QualifiedName,
        column: &Ident,
        data_type: &ast::DataType,
    ) -> Result<String, InputError> {
        let text = data_type.to_string();
        if let Some(resolved) = self.model.resolve_type(&text) {
            return Ok(resolved);
        }
        Err(self.err(format!(
            "unknown type `{text}` for column {}.{}",
            table.display_short(),
            crate::sql::ident::short(column)
        )))
    }

    fn create_table(&mut self, create: &ast::CreateTable) -> Result<(), InputError> {
        let name = qualified(&create.name)?;
        let mut table =
            Table { name: name.clone(), columns: Vec::new(), indexes: Vec::new(), constraints: Vec::new() };
        for def in &create.columns {
            let col_name = ident(&def.name)?;
            let type_text = def.data_type.to_string();
            let mut column = Column {
                name: col_name.clone(),
                data_type: self.column_type(&name, &col_name, &def.data_type)?,
                not_null: false,
                default: None,
                generated: None,
                props: Default::default(),
            };
            if types::is_serial(&type_text) {
                column.not_null = true;
                column.default = Some(format!(
                    "nextval('{}'::regclass)",
                    sequence_name(&name, &col_name).replace('\'', "''")
                ));
            }
            for option in &def.options {
                let constraint_name = option.name.as_ref().map(ident).transpose()?;
                match &option.option {
                    ColumnOption::NotNull => column.not_null = true,
                    ColumnOption::Null => column.not_null = false,
                    ColumnOption::Default(expr) => column.default = Some(expr.to_string()),
                    ColumnOption::Collation(c) => {
                        let name = c.0.last().map(|p| p.to_string()).unwrap_or_default();
                        let folded = match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
                            Some(quoted) => quoted.replace("\"\"", "\""),
                            None => name.to_lowercase(),
                        };
                        column.props.collation = Ident::new(folded).ok();
                    }
                    ColumnOption::PrimaryKey(_) => {
                        column.not_null = true;
                        let cname = constraint_name.unwrap_or_else(|| derived_name(&name, &[], "pkey"));
                        add_key_constraint(
                            &mut table,
                            cname,
                            ConstraintKind::PrimaryKey,
                            vec![col_name.clone()],
                        );
                    }
                    ColumnOption::Unique(_) => {
                        let cname =
                            constraint_name.unwrap_or_else(|| derived_name(&name, &[&col_name], "key"));
                        add_key_constraint(&mut table, cname, ConstraintKind::Unique, vec![col_name.clone()]);
                    }
                    ColumnOption::ForeignKey(fk) => {
                        let cname =
                            constraint_name.unwrap_or_else(|| derived_name(&name, &[&col_name], "fkey"));
                        table.constraints.push(Constraint {
                            name: cname,
                            kind: ConstraintKind::ForeignKey {
                                references: qualified(&fk.foreign_table)?,
                                ref_columns: fk
                                    .referred_columns
                                    .iter()
                                    .map(ident)
                                    .collect::<Result<_, _>>()?,
                                on_delete: referential(&fk.on_delete),
                                on_update: referential(&fk.on_update),
                            },
                            columns: vec![col_name.clone()],
                            validated: true,
                        });
                    }
                    ColumnOption::Check(check) => {
                        let cname =
                            constraint_name.unwrap_or_else(|| derived_name(&name, &[&col_name], "check"));
                        table.constraints.push(check_constraint(cname, &check.expr, true));
                    }
                    ColumnOption::Generated { generation_expr: Some(expr), .. } => {
                        column.generated = Some(Generated::Stored(expr.to_string()));
                    }
                    ColumnOption::Generated { generation_expr: None, generated_as, .. } => {
                        let always = !matches!(generated_as, sqlparser::ast::GeneratedAs::ByDefault);
                        column.generated = Some(Generated::Identity { always });
                        column.not_null = true;
                    }
                    _ => {}
                }
            }
            table.columns.push(column);
        }
        for constraint in &create.constraints {
            self.table_constraint(&mut table, constraint, false)?;
        }
        if self.model.tables.insert(name.clone(), table).is_some() {
            return Err(self.err(format!("table {} is created twice", name.display_short())));
        }
        Ok(())
    }

    fn table_mut(&mut self, name: &QualifiedName) -> Result<&mut Table, InputError> {
        let file = self.file.to_string();
        self.model.tables.get_mut(name).ok_or_else(|| {
            InputError::new(format!(
                "{file}: table {} is altered or indexed before it is created",
                name.display_short()
            ))
        })
    }

    fn table_constraint(
        &self,
        table: &mut Table,
        constraint: &TableConstraint,
        not_valid: bool,
    ) -> Result<(), InputError> {
        let columns_of = |cols: &[ast::IndexColumn]| -> Result<Vec<Ident>, InputError> {
            cols.iter()
                .map(|c| match &c.column.expr {
                    ast::Expr::Identifier(i) => ident(i),
                    other => Err(InputError::new(format!("unsupported key expression `{other}`"))),
                })
                .collect()
        };
        match constraint {
            TableConstraint::PrimaryKey(pk) => {
                let columns = columns_of(&pk.columns)?;
                for c in &columns {
                    if let Some(col) = table.columns.iter_mut().find(|col| &col.name == c) {
                        col.not_null = true;
                    }
                }
                let name = pk
                    .name
                    .as_ref()
                    .map(ident)
                    .transpose()?
                    .unwrap_or_else(|| derived_name(&table.name, &[], "pkey"));
                add_key_constraint(table, name, ConstraintKind::PrimaryKey, columns);
            }
            TableConstraint::Unique(u) => {
                let columns = columns_of(&u.columns)?;
                let refs: Vec<&Ident> = columns.iter().collect();
                let name = u
                    .name
                    .as_ref()
                    .map(ident)
                    .transpose()?
                    .unwrap_or_else(|| derived_name(&table.name, &refs, "key"));
                add_key_constraint(table, name, ConstraintKind::Unique, columns);
            }
            TableConstraint::ForeignKey(fk) => {
                let columns: Vec<Ident> = fk.columns.iter().map(ident).collect::<Result<_, _>>()?;
                let refs: Vec<&Ident> = columns.iter().collect();
                let name = fk
                    .name
                    .as_ref()
                    .map(ident)
                    .transpose()?
                    .unwrap_or_else(|| derived_name(&table.name, &refs, "fkey"));
                table.constraints.push(Constraint {
                    name,
                    kind: ConstraintKind::ForeignKey {
                        references: qualified(&fk.foreign_table)?,
                        ref_columns: fk.referred_columns.iter().map(ident).collect::<Result<_, _>>()?,
                        on_delete: referential(&fk.on_delete),
                        on_update: referential(&fk.on_update),
                    },
                    columns,
                    validated: !not_valid,
                });
            }
            TableConstraint::Check(check) => {
                let referenced = crate::sql::rewrite::referenced_columns(&check.expr.to_string());
                let first = referenced.first().and_then(|c| Ident::new(c.clone()).ok());
                let name = match (&check.name, first) {
                    (Some(n), _) => ident(n)?,
                    (None, Some(c)) => derived_name(&table.name, &[&c], "check"),
                    (None, None) => derived_name(&table.name, &[], "check"),
                };
                let mut c = check_constraint(name, &check.expr, !not_valid);
                c.columns.retain(|col| table.has_column(col));
                table.constraints.push(c);
            }
            other => {
                let name =
                    Ident::new(derived_name(&table.name, &[], "excl").as_str().to_string()).expect("valid");
                table.constraints.push(Constraint {
                    name,
                    kind: ConstraintKind::Other { definition: other.to_string() },
                    columns: Vec::new(),
                    validated: true,
                });
            }
        }
        Ok(())
    }

    fn alter_table(&mut self, name: &QualifiedName, op: &AlterTableOperation) -> Result<(), InputError> {
        match op {
            AlterTableOperation::AddConstraint { constraint, not_valid } => {
                let mut table = self.table_mut(name)?.clone();
                self.table_constraint(&mut table, constraint, *not_valid)?;
                *self.table_mut(name)? = table;
            }
            AlterTableOperation::AlterColumn { column_name, op } => {
                let column_name = ident(column_name)?;
                let table = self.table_mut(name)?;
                let Some(column) = table.columns.iter_mut().find(|c| c.name == column_name) else {
                    return Err(InputError::new(format!(
                        "ALTER COLUMN on unknown column {}.{}",
                        name.display_short(),
                        crate::sql::ident::short(&column_name)
                    )));
                };
                match op {
                    AlterColumnOperation::SetNotNull => column.not_null = true,
                    AlterColumnOperation::DropNotNull => column.not_null = false,
                    AlterColumnOperation::SetDefault { value } => column.default = Some(value.to_string()),
                    AlterColumnOperation::DropDefault => column.default = None,
                    AlterColumnOperation::AddGenerated { generated_as, .. } => {
                        let always = !matches!(generated_as, Some(sqlparser::ast::GeneratedAs::ByDefault));
                        column.generated = Some(Generated::Identity { always });
                        column.not_null = true;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn create_index(&mut self, create: &ast::CreateIndex) -> Result<(), InputError> {
        let table_name = qualified(&create.table_name)?;
        let mut keys = Vec::new();
        for col in &create.columns {
            let part = match &col.column.expr {
                ast::Expr::Identifier(i) => IndexPart::Column(ident(i)?),
                other => IndexPart::Expression(other.to_string()),
            };
            let mut options = Vec::new();
            if let Some(opclass) = &col.operator_class {
                options.push(opclass.to_string());
            }
            if let Some(ast::OrderBySort::Desc) = col.column.options.sort {
                options.push("DESC".to_string());
            }
            match col.column.options.nulls_first {
                Some(true) => options.push("NULLS FIRST".to_string()),
                Some(false) => options.push("NULLS LAST".to_string()),
                None => {}
            }
            keys.push(IndexKey { part, prefix_len: None, options: options.join(" ") });
        }
        let first_column: Vec<Ident> = keys
            .iter()
            .filter_map(|k| match &k.part {
                IndexPart::Column(c) => Some(c.clone()),
                IndexPart::Expression(_) => None,
            })
            .take(1)
            .collect();
        let name = match &create.name {
            Some(n) => qualified(n)?.name,
            None => derived_name(&table_name, &first_column.iter().collect::<Vec<_>>(), "idx"),
        };
        let index = Index {
            name,
            unique: create.unique,
            method: create
                .using
                .as_ref()
                .map(|u| u.to_string().to_lowercase())
                .unwrap_or_else(|| "btree".to_string()),
            keys,
            include: create.include.iter().map(ident).collect::<Result<_, _>>()?,
            predicate: create.predicate.as_ref().map(|p| p.to_string()),
            constraint: None,
            valid: true,
        };
        self.table_mut(&table_name)?.indexes.push(index);
        Ok(())
    }

    fn create_view(&mut self, view: &ast::CreateView) -> Result<(), InputError> {
        let name = qualified(&view.name)?;
        let mut tables = Vec::new();
        let _ = ast::visit_relations(&*view.query, |rel| {
            if let Ok(q) = qualified(rel) {
                if !tables.contains(&q) {
                    tables.push(q);
                }
            }
            ControlFlow::<()>::Continue(())
        });
        let text = view.query.to_string();
        let used = crate::sql::rewrite::referenced_columns_in_query(&view.query);
        let star = text.contains('*');
        let mut depends_on = Vec::new();
        for t in &tables {
            if let Some(table) = self.model.tables.get(t) {
                for c in &table.columns {
                    if star || used.iter().any(|u| u == c.name.as_str()) {
                        depends_on.push((t.clone(), c.name.clone()));
                    }
                }
            }
        }
        let columns = view.columns.iter().map(|c| ident(&c.name)).collect::<Result<_, _>>()?;
        let options = match &view.options {
            ast::CreateTableOptions::None => Vec::new(),
            other => vec![other.to_string()],
        };
        self.model.views.push(View {
            name,
            materialized: view.materialized,
            depends_on,
            reads: tables,
            query: text,
            columns,
            options,
        });
        Ok(())
    }
}

fn check_constraint(name: Ident, expr: &ast::Expr, validated: bool) -> Constraint {
    let text = expr.to_string();
    let columns = crate::sql::rewrite::referenced_columns(&text)
        .into_iter()
        .filter_map(|c| Ident::new(c).ok())
        .collect();
    Constraint { name, kind: ConstraintKind::Check { expr: text }, columns, validated }
}

/// PRIMARY KEY / UNIQUE: the constraint and the unique index that backs it (same name).
fn add_key_constraint(table: &mut Table, name: Ident, kind: ConstraintKind, columns: Vec<Ident>) {
    table.indexes.push(Index {
        name: name.clone(),
        unique: true,
        method: "btree".to_string(),
        keys: columns
            .iter()
            .map(|c| IndexKey {
                part: IndexPart::Column(c.clone()),
                prefix_len: None,
                options: String::new(),
            })
            .collect(),
        include: Vec::new(),
        predicate: None,
        constraint: Some(name.clone()),
        valid: true,
    });
    table.constraints.push(Constraint { name, kind, columns, validated: true });
}

/// PostgreSQL's default names: users_pkey, users_email_key, orders_user_id_fkey, users_age_check.
fn derived_name(table: &QualifiedName, columns: &[&Ident], suffix: &str) -> Ident {
    let mut parts = vec![table.name.as_str().to_string()];
    parts.extend(columns.iter().map(|c| c.as_str().to_string()));
    parts.push(suffix.to_string());
    let mut name = parts.join("_");
    while name.len() > crate::sql::ident::MAX_IDENT_BYTES {
        name.pop();
    }
    Ident::new(name).expect("derived names are non-empty")
}

/// PostgreSQL's name for a serial column's sequence: `<table>_<column>_seq`, where the longer of
/// table and column is cut (at a character boundary) until the whole fits in 63 bytes, as
/// `makeObjectName` does. Never panics on long names.
fn sequence_name(table: &QualifiedName, column: &Ident) -> String {
    let (mut t, mut c) = (table.name.as_str().to_string(), column.as_str().to_string());
    let overhead = "_".len() + "_seq".len();
    while t.len() + c.len() + overhead > crate::sql::ident::MAX_IDENT_BYTES {
        if t.len() >= c.len() {
            t.pop();
        } else {
            c.pop();
        }
    }
    let seq = match Ident::new(format!("{t}_{c}_seq")) {
        Ok(seq) => crate::sql::ident::short(&seq),
        Err(_) => format!("{t}_{c}_seq"),
    };
    if table.schema.as_str() == DEFAULT_SCHEMA {
        seq
    } else {
        format!("{}.{seq}", crate::sql::ident::short(&table.schema))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_serial_column_in_a_table_with_a_long_name_gets_the_postgres_sequence_name() {
        let table = "t".repeat(60);
        let sql = format!("CREATE TABLE {table} (id bigint PRIMARY KEY, ticket serial);");
        let model = parse_schema(&sql, "s.sql", 15).expect("long names never panic");
        let t = model.tables.values().next().expect("one table");
        let default = t.columns.iter().find(|c| c.name.as_str() == "ticket").and_then(|c| c.default.clone());
        let default = default.expect("serial default");
        // PostgreSQL cuts the longer part so that the whole fits in 63 bytes.
        let seq = default.trim_start_matches("nextval('").trim_end_matches("'::regclass)").to_string();
        assert_eq!(seq.len(), 63, "{seq}");
        assert!(seq.ends_with("_ticket_seq"), "{seq}");
    }
}
