//! A MySQL/MariaDB schema file (`CREATE TABLE … ENGINE=InnoDB`, `CREATE TRIGGER`, `CREATE VIEW`,
//! as written by hand or by `mysqldump --no-data` without `DELIMITER` blocks) -> SchemaModel,
//! parsed with sqlparser's MySQL dialect.
//!
//! Column types are kept as MySQL spells them (`varchar(200)`, `bigint(20) unsigned`, the
//! `COLUMN_TYPE` text), with what a `MODIFY COLUMN` must restate (charset, collation, default,
//! `ON UPDATE`, comment) and index prefix lengths. Tables live in the model's default schema
//! `public`, standing for the connection's database: MySQL DDL never names it.
//! Triggers and views record the columns they name (every word of their text that is a column
//! of the table), because the server lets a rename or drop break them (mysql-facts §3, §6).

use sqlparser::ast::{self as ast, ColumnOption, Expr, ObjectNamePart, Statement, TableConstraint};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::{
    Column, Constraint, ConstraintKind, Generated, Index, IndexKey, IndexPart, SchemaModel, Table, Trigger,
    View,
};
use crate::error::{InputError, Location};
use crate::sql::{Ident, QualifiedName};

/// The model schema MySQL tables live in (the connection's database).
pub const MYSQL_SCHEMA: &str = "public";

/// Parse a MySQL/MariaDB schema file. `file` is used in error messages only.
pub fn parse_mysql_schema(sql: &str, file: &str) -> Result<SchemaModel, InputError> {
    let statements = split_and_parse(sql, file)?;
    let mut model = SchemaModel::new(0);
    for statement in &statements {
        match statement {
            Statement::CreateTable(create) => {
                let table = create_table(create, file)?;
                if model.tables.insert(table.name.clone(), table).is_some() {
                    return Err(InputError::new(format!("{file}: table {} is created twice", create.name)));
                }
            }
            Statement::CreateTrigger(trigger) => {
                let table = table_name(&trigger.table_name)?;
                let Some(t) = model.tables.get(&table) else {
                    return Err(InputError::new(format!(
                        "{file}: trigger {} is on table {}, which is not created before it",
                        trigger.name, trigger.table_name
                    )));
                };
                let body = trigger.statements.as_ref().map(|s| s.to_string()).unwrap_or_default();
                let event = trigger.events.first().map(|e| e.to_string()).unwrap_or_default();
                let event = event.split_whitespace().next().unwrap_or("").to_uppercase();
                let timing = trigger.period.map(|p| p.to_string().to_uppercase()).unwrap_or_default();
                model.triggers.push(Trigger {
                    name: ident(trigger.name.0.last().and_then(|p| p.as_ident()).ok_or_else(|| {
                        InputError::new(format!("{file}: unsupported trigger name {}", trigger.name))
                    })?)?,
                    table: table.clone(),
                    timing: timing.clone(),
                    order: 1 + model
                        .triggers
                        .iter()
                        .filter(|o| o.table == table && o.timing == timing && o.event == event)
                        .count() as u32,
                    event,
                    columns: words_naming_columns(&body, t),
                    body,
                    // A schema file does not say which sql_mode created the trigger.
                    sql_mode: String::new(),
                });
            }
            Statement::CreateView(view) => {
                let name = table_name(&view.name)?;
                let query = view.query.to_string();
                let mut reads = Vec::new();
                let _ = ast::visit_relations(&*view.query, |rel| {
                    if let Ok(q) = table_name(rel) {
                        if !reads.contains(&q) {
                            reads.push(q);
                        }
                    }
                    std::ops::ControlFlow::<()>::Continue(())
                });
                let mut depends_on = Vec::new();
                for r in &reads {
                    if let Some(t) = model.tables.get(r) {
                        let star = query.contains('*');
                        let named = words_naming_columns(&query, t);
                        for c in &t.columns {
                            if star || named.contains(&c.name) {
                                depends_on.push((r.clone(), c.name.clone()));
                            }
                        }
                    }
                }
                model.views.push(View {
                    name,
                    materialized: false,
                    depends_on,
                    reads,
                    query,
                    columns: Vec::new(),
                    options: Vec::new(),
                });
            }
            _ => {}
        }
    }
    for table in model.tables.values_mut() {
        table.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        table.constraints.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(model)
}

/// One statement at a time, split at top-level `;`: sqlparser reads a trigger's one-statement
/// body as running to the end of the input, swallowing what follows. Line numbers stay those of
/// the file (each statement is parsed with the text before it blanked out).
fn split_and_parse(sql: &str, file: &str) -> Result<Vec<Statement>, InputError> {
    let tokens = Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| parse_error(&e.to_string(), file))?;
    let line_starts: Vec<usize> =
        std::iter::once(0).chain(sql.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let offset = |loc: sqlparser::tokenizer::Location| -> usize {
        let start = line_starts.get((loc.line.max(1) - 1) as usize).copied().unwrap_or(sql.len());
        sql[start..]
            .char_indices()
            .nth((loc.column.max(1) - 1) as usize)
            .map(|(i, _)| start + i)
            .unwrap_or(sql.len())
    };
    let mut out = Vec::new();
    let mut begin: Option<usize> = None;
    for token in &tokens {
        match &token.token {
            Token::Whitespace(_) => {}
            Token::SemiColon | Token::EOF => {
                let Some(b) = begin.take() else { continue };
                let end = if token.token == Token::EOF { sql.len() } else { offset(token.span.start) };
                // Blank (keep newlines) what precedes, so parser positions are file positions.
                let prefix: String = sql[..b].chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect();
                let text = format!("{prefix}{};", &sql[b..end]);
                let parsed = Parser::parse_sql(&MySqlDialect {}, &text)
                    .map_err(|e| parse_error(&e.to_string(), file))?;
                out.extend(parsed);
            }
            _ => {
                if begin.is_none() {
                    begin = Some(offset(token.span.start));
                }
            }
        }
    }
    Ok(out)
}

fn parse_error(message: &str, file: &str) -> InputError {
    let message = message.trim_start_matches("sql parser error: ");
    let location = message.find(" at Line: ").and_then(|i| {
        let (line, rest) = message[i + " at Line: ".len()..].split_once(", Column: ")?;
        let column: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        Some(Location {
            file: file.to_string(),
            line: line.trim().parse().ok()?,
            column: column.parse().ok()?,
        })
    });
    let clean = message.split(" at Line: ").next().unwrap_or(message);
    let mut err = InputError::new(format!("cannot parse MySQL schema file: {clean}")).help(
        "the schema file must be MySQL/MariaDB DDL (CREATE TABLE, CREATE TRIGGER with a one-statement body, CREATE VIEW); mysqldump's DELIMITER blocks are not SQL",
    );
    match location {
        Some(loc) => err = err.at(loc),
        None => err.message = format!("{file}: {}", err.message),
    }
    err
}

/// MySQL names compare case-insensitively for columns; keep the name as written.
fn ident(id: &ast::Ident) -> Result<Ident, InputError> {
    Ident::new(id.value.clone()).map_err(|e| InputError::new(e.to_string()))
}

fn table_name(name: &ast::ObjectName) -> Result<QualifiedName, InputError> {
    let last = name
        .0
        .iter()
        .rev()
        .find_map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i),
            _ => None,
        })
        .ok_or_else(|| InputError::new(format!("unsupported name `{name}`")))?;
    Ok(QualifiedName::new(Ident::new(MYSQL_SCHEMA).expect("valid"), ident(last)?))
}

/// Columns of `table` that `text` names as a word (`NEW.c`, `OLD.c`, `t.c` or `c`): a
/// conservative dependency list (a same-named word elsewhere counts too, and refuses rather than breaks).
fn words_naming_columns(text: &str, table: &Table) -> Vec<Ident> {
    let Ok(tokens) = Tokenizer::new(&MySqlDialect {}, text).tokenize() else {
        return table.columns.iter().map(|c| c.name.clone()).collect();
    };
    let mut out = Vec::new();
    for token in tokens {
        if let Token::Word(w) = token {
            if let Some(c) = table.columns.iter().find(|c| c.name.as_str().eq_ignore_ascii_case(&w.value)) {
                if !out.contains(&c.name) {
                    out.push(c.name.clone());
                }
            }
        }
    }
    out
}

fn create_table(create: &ast::CreateTable, file: &str) -> Result<Table, InputError> {
    let name = table_name(&create.name)?;
    let mut table =
        Table { name: name.clone(), columns: Vec::new(), indexes: Vec::new(), constraints: Vec::new() };
    for def in &create.columns {
        let mut column = Column {
            name: ident(&def.name)?,
            data_type: def.data_type.to_string().to_lowercase(),
            not_null: false,
            default: None,
            generated: None,
            props: Default::default(),
        };
        for option in &def.options {
            match &option.option {
                ColumnOption::NotNull => column.not_null = true,
                ColumnOption::Null => column.not_null = false,
                ColumnOption::Default(expr) => column.default = Some(expr.to_string()),
                ColumnOption::CharacterSet(cs) => column.props.charset = Some(cs.to_string()),
                ColumnOption::Collation(c) => column.props.collation = Ident::new(c.to_string()).ok(),
                ColumnOption::Comment(c) => column.props.comment = Some(c.clone()),
                ColumnOption::OnUpdate(expr) => column.props.on_update = Some(expr.to_string()),
                ColumnOption::PrimaryKey(_) => {
                    column.not_null = true;
                    key_constraint(
                        &mut table,
                        "PRIMARY",
                        ConstraintKind::PrimaryKey,
                        &[(column.name.clone(), None, false)],
                    );
                }
                ColumnOption::Unique(_) => {
                    key_constraint(
                        &mut table,
                        column.name.as_str(),
                        ConstraintKind::Unique,
                        &[(column.name.clone(), None, false)],
                    );
                }
                ColumnOption::Generated { generation_expr: Some(expr), .. } => {
                    column.generated = Some(Generated::Stored(expr.to_string()));
                }
                ColumnOption::Check(check) => {
                    let n = format!("{}_chk_{}", name.name.as_str(), table.constraints.len() + 1);
                    table.constraints.push(check_constraint(&n, &check.expr, &[column.name.clone()])?);
                }
                _ => {}
            }
        }
        table.columns.push(column);
    }
    let columns: Vec<Ident> = table.columns.iter().map(|c| c.name.clone()).collect();
    for constraint in &create.constraints {
        match constraint {
            TableConstraint::PrimaryKey(pk) => {
                let keys = key_parts(&pk.columns, file)?;
                for (c, _, _) in &keys {
                    if let Some(col) = table.columns.iter_mut().find(|col| &col.name == c) {
                        col.not_null = true;
                    }
                }
                key_constraint(&mut table, "PRIMARY", ConstraintKind::PrimaryKey, &keys);
            }
            TableConstraint::Unique(u) => {
                let keys = key_parts(&u.columns, file)?;
                let n = u.index_name.as_ref().or(u.name.as_ref()).map(|n| n.value.clone());
                let n = n.unwrap_or_else(|| keys[0].0.as_str().to_string());
                key_constraint(&mut table, &n, ConstraintKind::Unique, &keys);
            }
            TableConstraint::Index(ix) => {
                let keys = key_parts(&ix.columns, file)?;
                let n = ix
                    .name
                    .as_ref()
                    .map(|n| n.value.clone())
                    .unwrap_or_else(|| keys[0].0.as_str().to_string());
                table.indexes.push(index(&n, false, &keys)?);
            }
            TableConstraint::ForeignKey(fk) => {
                let cols: Vec<Ident> = fk.columns.iter().map(ident).collect::<Result<_, _>>()?;
                let n = fk.name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| {
                    format!("{}_ibfk_{}", name.name.as_str(), table.constraints.len() + 1)
                });
                table.constraints.push(Constraint {
                    name: Ident::new(n).map_err(|e| InputError::new(e.to_string()))?,
                    kind: ConstraintKind::ForeignKey {
                        references: table_name(&fk.foreign_table)?,
                        ref_columns: fk.referred_columns.iter().map(ident).collect::<Result<_, _>>()?,
                        on_delete: fk.on_delete.map(|a| a.to_string()),
                        on_update: fk.on_update.map(|a| a.to_string()),
                    },
                    columns: cols,
                    validated: true,
                });
            }
            TableConstraint::Check(check) => {
                let n = check
                    .name
                    .as_ref()
                    .map(|n| n.value.clone())
                    .unwrap_or_else(|| format!("CONSTRAINT_{}", table.constraints.len() + 1));
                table.constraints.push(check_constraint(&n, &check.expr, &columns)?);
            }
            other => {
                return Err(InputError::new(format!(
                    "{file}: table {}: constraint `{other}` is not understood by planner's MySQL reader",
                    name.name.as_str()
                )))
            }
        }
    }
    Ok(table)
}

/// One key part: column, prefix length, descending.
type KeyPartSpec = (Ident, Option<u32>, bool);

/// `(a, b(20) DESC)`: columns with prefix lengths (sqlparser reads `b(20)` as a call) and order.
fn key_parts(columns: &[ast::IndexColumn], file: &str) -> Result<Vec<KeyPartSpec>, InputError> {
    columns
        .iter()
        .map(|c| {
            let desc = matches!(c.column.options.sort, Some(ast::OrderBySort::Desc));
            column_and_prefix(c, file).map(|(col, prefix)| (col, prefix, desc))
        })
        .collect()
}

fn column_and_prefix(c: &ast::IndexColumn, file: &str) -> Result<(Ident, Option<u32>), InputError> {
    {
        match &c.column.expr {
            Expr::Identifier(i) => Ok((ident(i)?, None)),
            Expr::Function(f) => {
                let column = f.name.0.last().and_then(|p| p.as_ident()).ok_or_else(|| {
                    InputError::new(format!("{file}: unsupported key part `{}`", c.column.expr))
                })?;
                let args = f.args.to_string();
                let prefix: u32 =
                    args.trim_matches(|ch| ch == '(' || ch == ')').trim().parse().map_err(|_| {
                        InputError::new(format!(
                            "{file}: key part `{}` is neither a column nor column(prefix length)",
                            c.column.expr
                        ))
                    })?;
                Ok((ident(column)?, Some(prefix)))
            }
            other => {
                Err(InputError::new(format!("{file}: unsupported key part `{other}` (functional index)")))
            }
        }
    }
}

fn index(name: &str, unique: bool, keys: &[KeyPartSpec]) -> Result<Index, InputError> {
    Ok(Index {
        name: Ident::new(name).map_err(|e| InputError::new(e.to_string()))?,
        unique,
        method: "btree".to_string(),
        keys: keys
            .iter()
            .map(|(c, p, desc)| IndexKey {
                part: IndexPart::Column(c.clone()),
                options: if *desc { "DESC".into() } else { String::new() },
                prefix: *p,
            })
            .collect(),
        include: Vec::new(),
        predicate: None,
        constraint: None,
        valid: true,
    })
}

/// A PRIMARY KEY or UNIQUE key: the constraint and the index that is its storage (same name,
/// as MySQL keeps them).
fn key_constraint(table: &mut Table, name: &str, kind: ConstraintKind, keys: &[KeyPartSpec]) {
    let Ok(n) = Ident::new(name) else { return };
    let unique = true;
    if let Ok(mut ix) = index(name, unique, keys) {
        ix.constraint = Some(n.clone());
        table.indexes.push(ix);
    }
    table.constraints.push(Constraint {
        name: n,
        kind,
        columns: keys.iter().map(|(c, _, _)| c.clone()).collect(),
        validated: true,
    });
}

fn check_constraint(name: &str, expr: &Expr, columns: &[Ident]) -> Result<Constraint, InputError> {
    let text = expr.to_string();
    let used = {
        let mut out = Vec::new();
        if let Ok(tokens) = Tokenizer::new(&MySqlDialect {}, &text).tokenize() {
            for t in tokens {
                if let Token::Word(w) = t {
                    if let Some(c) = columns.iter().find(|c| c.as_str().eq_ignore_ascii_case(&w.value)) {
                        if !out.contains(c) {
                            out.push(c.clone());
                        }
                    }
                }
            }
        }
        out
    };
    Ok(Constraint {
        name: Ident::new(name).map_err(|e| InputError::new(e.to_string()))?,
        kind: ConstraintKind::Check { expr: text },
        columns: used,
        validated: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> SchemaModel {
        let sql = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/schema.mysql.sql"))
            .unwrap();
        parse_mysql_schema(&sql, "schema.mysql.sql").unwrap()
    }

    fn t(name: &str) -> QualifiedName {
        QualifiedName::from_user(name, MYSQL_SCHEMA).unwrap()
    }

    #[test]
    fn the_example_schema_reads_types_keys_prefixes_and_dependencies() {
        let m = example();
        let users = m.tables.get(&t("users")).expect("users");
        let name = users.column(&Ident::new("name").unwrap()).unwrap();
        assert_eq!(name.data_type, "varchar(200)");
        assert!(name.not_null);
        assert_eq!(name.default.as_deref(), Some("''"));
        assert_eq!(name.props.comment.as_deref(), Some("display name"));
        let email = users.column(&Ident::new("email").unwrap()).unwrap();
        assert_eq!(email.props.charset.as_deref(), Some("utf8mb4"));
        assert_eq!(email.props.collation.as_ref().map(|c| c.as_str()), Some("utf8mb4_bin"));
        let updated = users.column(&Ident::new("updated_at").unwrap()).unwrap();
        assert!(updated
            .props
            .on_update
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case("current_timestamp")));
        let ix = users.indexes.iter().find(|i| i.name.as_str() == "users_name_idx").expect("prefix index");
        assert_eq!(ix.keys[0].prefix, Some(20));
        assert!(users.indexes.iter().any(|i| i.name.as_str() == "users_email_key" && i.unique));
        assert_eq!(users.primary_key_columns()[0].name.as_str(), "id");
        let orders = m.tables.get(&t("orders")).unwrap();
        assert!(orders.constraints.iter().any(|c| matches!(c.kind, ConstraintKind::ForeignKey { .. })));
        let check = orders.constraints.iter().find(|c| c.name.as_str() == "orders_total_check").unwrap();
        assert_eq!(check.columns, vec![Ident::new("total_cents").unwrap()]);
        assert_eq!(m.foreign_keys_referencing(&t("users"), &Ident::new("id").unwrap()).len(), 1);
        let trigger = &m.triggers[0];
        assert_eq!((trigger.timing.as_str(), trigger.event.as_str()), ("BEFORE", "INSERT"));
        assert_eq!(trigger.columns, vec![Ident::new("status").unwrap()]);
        assert!(!m.views_using(&t("orders"), &Ident::new("total_cents").unwrap()).is_empty());
        assert!(m.views_using(&t("orders"), &Ident::new("currency").unwrap()).is_empty());
    }

    #[test]
    fn a_syntax_error_names_the_line() {
        let err = parse_mysql_schema(
            "CREATE TABLE t (\n  id BIGINT PRIMARY KEY,\n  x INT NOT NOT NULL\n);",
            "s.sql",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("s.sql:3:"), "{err}");
    }
}
