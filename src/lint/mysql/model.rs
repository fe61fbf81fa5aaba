//! What a MySQL/MariaDB statement does, read once into typed data the rules share.
//!
//! sqlparser's `MySqlDialect` reads most of it; what it lacks (§7 of the MySQL facts: `RENAME
//! INDEX`, `ADD COLUMN IF NOT EXISTS`, `WAIT n`/`NOWAIT`, `ALGORITHM=NOCOPY`, `ALTER INDEX …
//! IGNORED`, `FOLLOWS`, `SET STATEMENT … FOR`, `OPTIMIZE TABLE`, `FORCE`, `ENGINE=`) is read from
//! the tokens. Each `ALTER TABLE` action is parsed alone, so one unknown action leaves the others
//! checked and is itself reported, never skipped.

use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, ColumnDef, ColumnOption, Expr, GeneratedExpressionMode,
    Statement, TableConstraint,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Whitespace};

/// A table as the statement names it (`app.users`), and its key (lower case, quotes gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub shown: String,
    pub key: String,
}

impl TableName {
    fn from_parts(parts: &[String]) -> Self {
        let shown = parts.join(".");
        let key = parts.last().map(|p| p.to_lowercase()).unwrap_or_default();
        TableName { shown, key }
    }
}

/// `ALGORITHM=` of an ALTER TABLE / CREATE INDEX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Default,
    Instant,
    /// MariaDB: in place without rebuilding the clustered index.
    NoCopy,
    Inplace,
    Copy,
}

/// `LOCK=` of an ALTER TABLE / CREATE INDEX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Default,
    None,
    Shared,
    Exclusive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    Plain,
    Unique,
    Fulltext,
    Spatial,
}

/// How a column default is computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultKind {
    Constant,
    /// `CURRENT_TIMESTAMP`, `NOW()` and friends.
    Timestamp,
    /// `UUID()`, `UUID_SHORT()`, `SYS_GUID()`: the server copies the table to fill them (measured).
    Uuid(String),
    /// Another expression (`(RAND())`, `(CURDATE())`): stored as an expression, instant (measured).
    Expression,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generated {
    Virtual,
    Stored,
}

/// A column definition as written (ADD COLUMN, MODIFY, CHANGE, CREATE TABLE).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnSpec {
    /// Normalised type: lower case, no integer display width, `boolean` as `tinyint`.
    pub ty: String,
    pub not_null: bool,
    pub default: Option<(String, DefaultKind)>,
    pub comment: Option<String>,
    pub charset: Option<String>,
    pub collation: Option<String>,
    pub on_update: Option<String>,
    pub auto_increment: bool,
    pub invisible: bool,
    pub generated: Option<Generated>,
    pub primary_key: bool,
    pub unique: bool,
    pub check: bool,
    pub references: bool,
}

/// One action of an ALTER TABLE.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `positioned`: FIRST / AFTER x (instant only on newer servers).
    AddColumn {
        name: String,
        spec: ColumnSpec,
        positioned: bool,
    },
    DropColumn {
        name: String,
    },
    RenameColumn {
        from: String,
        to: String,
    },
    /// `CHANGE a b <def>` (from != to) and `MODIFY a <def>` (from == to).
    Change {
        from: String,
        to: String,
        spec: ColumnSpec,
    },
    SetDefault {
        column: String,
    },
    DropDefault {
        column: String,
    },
    AddIndex {
        name: Option<String>,
        kind: IndexKind,
        columns: Vec<String>,
    },
    AddPrimaryKey {
        columns: Vec<String>,
    },
    DropPrimaryKey,
    DropIndex {
        name: String,
    },
    RenameIndex,
    /// `ALTER INDEX x [NOT] IGNORED` (MariaDB) / `INVISIBLE|VISIBLE` (MySQL).
    IndexVisibility,
    AddForeignKey {
        columns: Vec<String>,
    },
    DropForeignKey,
    AddCheck,
    /// `DROP CONSTRAINT x`, `DROP CHECK x`.
    DropConstraint,
    RenameTable {
        to: String,
    },
    /// `FORCE`, `ENGINE=…`: rebuild the table.
    Rebuild(&'static str),
    ConvertCharset,
    /// Table options that change metadata only (`COMMENT=`, `AUTO_INCREMENT=`, `DEFAULT CHARSET=`).
    TableOption,
    /// Read but not modelled: counted as unknown cost.
    Other(String),
}

/// What a statement does.
#[derive(Debug, Clone)]
pub enum Kind {
    AlterTable {
        table: TableName,
        actions: Vec<Action>,
        algorithm: Algorithm,
        lock: LockMode,
    },
    CreateIndex {
        table: TableName,
        name: String,
        kind: IndexKind,
        columns: Vec<String>,
        algorithm: Algorithm,
        lock: LockMode,
    },
    DropIndex {
        table: TableName,
        name: String,
        algorithm: Algorithm,
        lock: LockMode,
    },
    CreateTable {
        table: TableName,
        columns: Vec<(String, ColumnSpec)>,
        indexes: Vec<(String, Vec<String>)>,
        charset: Option<String>,
        /// `CREATE TABLE t LIKE other`: the key of `other`.
        like: Option<String>,
    },
    DropTable {
        tables: Vec<TableName>,
    },
    RenameTable {
        pairs: Vec<(TableName, TableName)>,
    },
    CreateTrigger {
        table: TableName,
    },
    DropTrigger,
    /// `SET [SESSION|GLOBAL] var = value, …` (variable lower case without `@@session.`).
    Set(Vec<(String, String)>),
    Begin,
    Commit,
    Rollback,
    Update {
        table: TableName,
        selection: Option<Expr>,
        limit: bool,
        order_by: bool,
    },
    Delete {
        table: TableName,
        selection: Option<Expr>,
        limit: bool,
    },
    LockTables {
        write: bool,
    },
    Optimize {
        tables: Vec<TableName>,
    },
    /// Anything else that was read (INSERT, SELECT, CREATE VIEW/PROCEDURE, GRANT, …).
    Other,
}

/// A statement read for the rules.
#[derive(Debug)]
pub struct Reading {
    pub kind: Kind,
    /// `WAIT n` / `NOWAIT` (0) / `SET STATEMENT lock_wait_timeout = n FOR`.
    pub wait: Option<u64>,
    /// `SET STATEMENT var = value FOR …` variables (lower case).
    pub scoped: Vec<(String, String)>,
    /// `||` appears (OR in the default sql_mode, concatenation under PIPES_AS_CONCAT).
    pub pipes: bool,
    /// Parts nothing could read (ALTER actions), reported as unparsed.
    pub unread: Vec<String>,
    /// The whole statement could not be read: the parser's error.
    pub unparsed: Option<String>,
    /// The statement without its ALGORITHM/LOCK clauses (for running it under a chosen one).
    pub bare: String,
}

fn is_ws(t: &TokenWithSpan) -> bool {
    matches!(t.token, Token::Whitespace(_))
}

fn up(t: &TokenWithSpan) -> Option<String> {
    match &t.token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_uppercase()),
        _ => None,
    }
}

/// An identifier's value (backquotes gone), or a word.
fn ident(t: &TokenWithSpan) -> Option<String> {
    match &t.token {
        Token::Word(w) => Some(w.value.clone()),
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Some(s.clone()),
        _ => None,
    }
}

pub fn text_of(tokens: &[TokenWithSpan]) -> String {
    tokens.iter().map(|t| t.token.to_string()).collect::<String>().trim().to_string()
}

/// Non-whitespace tokens, split at depth-0 commas.
fn split_commas(sig: &[TokenWithSpan]) -> Vec<Vec<TokenWithSpan>> {
    let mut out = vec![Vec::new()];
    let mut depth = 0i32;
    for t in sig {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                out.push(Vec::new());
                continue;
            }
            _ => {}
        }
        out.last_mut().expect("never empty").push(t.clone());
    }
    out.retain(|a| !a.is_empty());
    out
}

/// A dotted name at `sig[i..]`: its parts and the index after it.
fn name_at(sig: &[TokenWithSpan], mut i: usize) -> Option<(Vec<String>, usize)> {
    let mut parts = vec![ident(sig.get(i)?)?];
    i += 1;
    while matches!(sig.get(i).map(|t| &t.token), Some(Token::Period)) {
        parts.push(ident(sig.get(i + 1)?)?);
        i += 2;
    }
    Some((parts, i))
}

fn parse_statement(text: &str) -> Result<Statement, String> {
    let mut p = Parser::new(&MySqlDialect {}).try_with_sql(text).map_err(|e| e.to_string())?;
    let stmt = p.parse_statement().map_err(|e| e.to_string())?;
    let _ = p.consume_token(&Token::SemiColon);
    match p.peek_token().token {
        Token::EOF => Ok(stmt),
        other => Err(format!("unexpected `{other}` after the end of the statement")),
    }
}

fn clean(e: String) -> String {
    e.trim_start_matches("sql parser error: ").to_string()
}

/// Read one statement's tokens.
pub fn read(tokens: &[TokenWithSpan]) -> Reading {
    let sig: Vec<TokenWithSpan> = tokens.iter().filter(|t| !is_ws(t)).cloned().collect();
    let pipes = sig.iter().any(|t| matches!(t.token, Token::StringConcat));
    let mut r = Reading {
        kind: Kind::Other,
        wait: None,
        scoped: Vec::new(),
        pipes,
        unread: Vec::new(),
        unparsed: None,
        bare: strip_algorithm(tokens),
    };
    let words: Vec<String> = sig.iter().map(|t| up(t).unwrap_or_default()).take(8).collect();
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    // SET STATEMENT var = value, … FOR <statement>
    if let ["SET", "STATEMENT", ..] = w.as_slice() {
        let mut depth = 0;
        let for_at = sig.iter().enumerate().skip(2).find_map(|(i, t)| {
            match t.token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                _ => {}
            }
            (depth == 0 && up(t).as_deref() == Some("FOR")).then_some(i)
        });
        let Some(for_at) = for_at else {
            r.unparsed = Some("SET STATEMENT without FOR".into());
            return r;
        };
        let scoped = assignments(&sig[2..for_at]);
        let inner_start = tokens.iter().position(|t| t.span == sig[for_at].span).map_or(0, |i| i + 1);
        let mut inner = read(&tokens[inner_start..]);
        inner.wait = inner.wait.or_else(|| {
            scoped.iter().find(|(k, _)| k == "lock_wait_timeout").and_then(|(_, v)| v.parse().ok())
        });
        inner.scoped = scoped;
        inner.pipes |= pipes;
        return inner;
    }
    let kind = match w.as_slice() {
        ["ALTER", ..] if alter_table_at(&w).is_some() => {
            read_alter(&sig, alter_table_at(&w).unwrap_or(2), &mut r)
        }
        ["CREATE", rest @ ..] if index_word(rest) => read_create_index(&sig),
        ["DROP", "INDEX", ..] => read_drop_index(&sig),
        ["CREATE", ..] if w.contains(&"TABLE") && w.iter().position(|x| *x == "TABLE") <= Some(3) => {
            read_create_table(&sig, &mut r)
        }
        ["DROP", "TABLE", ..] | ["DROP", "TEMPORARY", "TABLE", ..] => {
            let from = if w[1] == "TABLE" { 2 } else { 3 };
            Some(Kind::DropTable { tables: names_list(&sig[from..]) })
        }
        ["RENAME", "TABLE", ..] => {
            let names = names_list(&sig[2..]);
            let pairs =
                names.chunks(2).filter(|c| c.len() == 2).map(|c| (c[0].clone(), c[1].clone())).collect();
            Some(Kind::RenameTable { pairs })
        }
        ["CREATE", ..] if w.contains(&"TRIGGER") => {
            let on = sig.iter().position(|t| up(t).as_deref() == Some("ON"));
            on.and_then(|i| name_at(&sig, i + 1))
                .map(|(p, _)| Kind::CreateTrigger { table: TableName::from_parts(&p) })
        }
        ["DROP", "TRIGGER", ..] => Some(Kind::DropTrigger),
        ["SET", ..] => Some(Kind::Set(assignments(&sig[1..]))),
        ["BEGIN"] | ["BEGIN", "WORK"] | ["START", "TRANSACTION", ..] => Some(Kind::Begin),
        ["COMMIT", ..] => Some(Kind::Commit),
        ["ROLLBACK", ..] => Some(Kind::Rollback),
        ["LOCK", "TABLE" | "TABLES", ..] => {
            Some(Kind::LockTables { write: sig.iter().any(|t| up(t).as_deref() == Some("WRITE")) })
        }
        ["UNLOCK", "TABLES", ..] => Some(Kind::Other),
        ["OPTIMIZE", ..] => {
            let at = sig.iter().position(|t| up(t).as_deref() == Some("TABLE")).map_or(1, |i| i + 1);
            Some(Kind::Optimize { tables: names_list(&sig[at..]) })
        }
        ["UPDATE", ..] | ["DELETE", ..] => read_dml(tokens, &mut r),
        _ => {
            match parse_statement(&text_of(tokens)) {
                Ok(_) => Some(Kind::Other),
                // Stored programs, views and grants: their bodies are not migrations steps on a
                // table; read as what they create (like the PostgreSQL engine's CREATE FUNCTION).
                Err(_) if recognised(&w) => Some(Kind::Other),
                Err(e) => {
                    r.unparsed = Some(clean(e));
                    Some(Kind::Other)
                }
            }
        }
    };
    match kind {
        Some(k) => r.kind = k,
        None => {
            if r.unparsed.is_none() {
                r.unparsed = Some("could not read the statement's table".into());
            }
        }
    }
    r
}

/// Statements read by their leading words when sqlparser rejects them.
fn recognised(w: &[&str]) -> bool {
    let creates = |what: &str| w.first() == Some(&"CREATE") && w.iter().take(6).any(|x| *x == what);
    creates("PROCEDURE")
        || creates("FUNCTION")
        || creates("EVENT")
        || creates("VIEW")
        || matches!(
            w,
            ["DROP", "PROCEDURE" | "FUNCTION" | "EVENT" | "VIEW", ..] | ["GRANT", ..] | ["REVOKE", ..]
        )
}

/// Where `TABLE` is in `ALTER [ONLINE] [IGNORE] TABLE`.
fn alter_table_at(w: &[&str]) -> Option<usize> {
    (1..4)
        .find(|&i| w.get(i) == Some(&"TABLE"))
        .filter(|&i| w[1..i].iter().all(|x| matches!(*x, "ONLINE" | "IGNORE")))
}

fn index_word(rest: &[&str]) -> bool {
    let mut i = 0;
    if matches!(rest.first(), Some(&"OR")) {
        return false;
    }
    while matches!(rest.get(i), Some(&"UNIQUE" | &"FULLTEXT" | &"SPATIAL" | &"ONLINE" | &"OFFLINE")) {
        i += 1;
    }
    rest.get(i) == Some(&"INDEX")
}

/// `a = 1, SESSION b = 'x', @@session.c = 2` -> [(a, 1), (b, x), (c, 2)].
fn assignments(sig: &[TokenWithSpan]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in split_commas(sig) {
        let Some(eq) = part.iter().position(|t| matches!(t.token, Token::Eq)) else { continue };
        let lhs = text_of(&part[..eq]).to_lowercase().replace(' ', "");
        let name = lhs
            .trim_start_matches("session")
            .trim_start_matches("local")
            .trim_start_matches("@@session.")
            .trim_start_matches("@@local.")
            .trim_start_matches("@@")
            .to_string();
        if lhs.starts_with("global") || lhs.starts_with("@@global.") {
            continue;
        }
        let value = part[eq + 1..]
            .iter()
            .map(|t| ident(t).unwrap_or_else(|| t.token.to_string()))
            .collect::<String>()
            .to_lowercase();
        out.push((name, value));
    }
    out
}

/// Comma-separated names, each possibly followed by `TO x` / `AS x` / `READ` / `WRITE`: every
/// name in order (RENAME TABLE a TO b, c TO d -> a, b, c, d).
fn names_list(sig: &[TokenWithSpan]) -> Vec<TableName> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < sig.len() {
        match up(&sig[i]).as_deref() {
            Some(
                "IF" | "EXISTS" | "TO" | "AS" | "CASCADE" | "RESTRICT" | "READ" | "WRITE" | "LOCAL"
                | "LOW_PRIORITY",
            ) => {
                i += 1;
            }
            _ => match name_at(sig, i) {
                Some((parts, next)) => {
                    out.push(TableName::from_parts(&parts));
                    i = next;
                }
                None => i += 1,
            },
        }
    }
    out
}

/// `ALGORITHM [=] x` / `LOCK [=] x` at the start of `sig`.
fn clause(sig: &[TokenWithSpan], word: &str) -> Option<String> {
    if up(sig.first()?).as_deref() != Some(word) {
        return None;
    }
    let value = sig.iter().skip(1).find(|t| !matches!(t.token, Token::Eq))?;
    Some(up(value).unwrap_or_default())
}

fn algorithm_of(v: &str) -> Algorithm {
    match v {
        "INSTANT" => Algorithm::Instant,
        "NOCOPY" => Algorithm::NoCopy,
        "INPLACE" => Algorithm::Inplace,
        "COPY" => Algorithm::Copy,
        _ => Algorithm::Default,
    }
}

fn lock_of(v: &str) -> LockMode {
    match v {
        "NONE" => LockMode::None,
        "SHARED" => LockMode::Shared,
        "EXCLUSIVE" => LockMode::Exclusive,
        _ => LockMode::Default,
    }
}

/// The statement's text without `ALGORITHM=…` and `LOCK=…` clauses (and their commas).
fn strip_algorithm(tokens: &[TokenWithSpan]) -> String {
    // Indexes of the significant tokens in `tokens`.
    let sig: Vec<usize> = (0..tokens.len()).filter(|&i| !is_ws(&tokens[i])).collect();
    let mut drop = vec![false; tokens.len()];
    let mut depth = 0;
    let mut k = 0;
    while k < sig.len() {
        match tokens[sig[k]].token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ => {}
        }
        let w = up(&tokens[sig[k]]);
        if depth == 0 && k >= 2 && matches!(w.as_deref(), Some("ALGORITHM" | "LOCK")) {
            let mut j = k + 1;
            if matches!(sig.get(j).map(|&i| &tokens[i].token), Some(Token::Eq)) {
                j += 1;
            }
            if j < sig.len() {
                // From the comma before (or the clause itself) through the value.
                let from = if matches!(tokens[sig[k - 1]].token, Token::Comma) { sig[k - 1] } else { sig[k] };
                let to = sig[j];
                for d in drop.iter_mut().take(to + 1).skip(from) {
                    *d = true;
                }
                // A clause first in the list leaves its comma after it.
                if !matches!(tokens[sig[k - 1]].token, Token::Comma) {
                    if let Some(&next) = sig.get(j + 1) {
                        if matches!(tokens[next].token, Token::Comma) {
                            for d in drop.iter_mut().take(next + 1).skip(to) {
                                *d = true;
                            }
                        }
                    }
                }
                k = j + 1;
                continue;
            }
        }
        k += 1;
    }
    let kept: Vec<TokenWithSpan> =
        tokens.iter().zip(drop).filter(|(_, d)| !d).map(|(t, _)| t.clone()).collect();
    text_of(&kept).split_whitespace().collect::<Vec<_>>().join(" ")
}

fn read_alter(sig: &[TokenWithSpan], table_at: usize, r: &mut Reading) -> Option<Kind> {
    let (parts, mut i) = name_at(sig, table_at + 1)?;
    let table = TableName::from_parts(&parts);
    match up(sig.get(i)?).as_deref() {
        Some("WAIT") => {
            r.wait = sig.get(i + 1).and_then(|t| match &t.token {
                Token::Number(n, _) => n.parse::<f64>().ok().map(|f| f.ceil() as u64),
                _ => None,
            });
            i += 2;
        }
        Some("NOWAIT") => {
            r.wait = Some(0);
            i += 1;
        }
        _ => {}
    }
    let (mut algorithm, mut lock) = (Algorithm::Default, LockMode::Default);
    let mut actions = Vec::new();
    for action in split_commas(&sig[i..]) {
        let w: Vec<String> = action.iter().map(|t| up(t).unwrap_or_default()).take(5).collect();
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        if let Some(v) = clause(&action, "ALGORITHM") {
            algorithm = algorithm_of(&v);
            continue;
        }
        if let Some(v) = clause(&action, "LOCK") {
            lock = lock_of(&v);
            continue;
        }
        let read = match w.as_slice() {
            ["RENAME", "INDEX" | "KEY", ..] => Some(Action::RenameIndex),
            ["RENAME", "COLUMN", ..] => None,
            ["RENAME", ..] => {
                let at = if matches!(w.get(1), Some(&"TO" | &"AS")) { 2 } else { 1 };
                name_at(&action, at).map(|(p, _)| Action::RenameTable { to: p.join(".") })
            }
            ["ALTER", "INDEX" | "KEY", ..] => Some(Action::IndexVisibility),
            ["DROP", "CHECK", ..] => Some(Action::DropConstraint),
            ["FORCE"] => Some(Action::Rebuild("FORCE")),
            ["ENGINE", ..] => Some(Action::Rebuild("ENGINE=")),
            ["CONVERT", "TO", ..] => Some(Action::ConvertCharset),
            ["DEFAULT", "CHARSET" | "CHARACTER" | "COLLATE", ..]
            | ["CHARSET" | "CHARACTER" | "COLLATE" | "COMMENT" | "AUTO_INCREMENT", ..] => {
                Some(Action::TableOption)
            }
            _ => None,
        };
        if let Some(a) = read {
            actions.push(a);
            continue;
        }
        // Parse the action alone, without MariaDB's `IF [NOT] EXISTS` (idempotence only).
        let mut body: Vec<TokenWithSpan> = Vec::with_capacity(action.len());
        let mut k = 0;
        while k < action.len() {
            let here = up(&action[k]);
            let next = action.get(k + 1).and_then(up);
            let next2 = action.get(k + 2).and_then(up);
            if here.as_deref() == Some("IF")
                && next.as_deref() == Some("NOT")
                && next2.as_deref() == Some("EXISTS")
            {
                k += 3;
                continue;
            }
            if here.as_deref() == Some("IF") && next.as_deref() == Some("EXISTS") {
                k += 2;
                continue;
            }
            body.push(action[k].clone());
            k += 1;
        }
        let spaced: Vec<TokenWithSpan> = body
            .iter()
            .flat_map(|t| [t.clone(), TokenWithSpan::wrap(Token::Whitespace(Whitespace::Space))])
            .collect();
        let sql = format!("ALTER TABLE t {}", text_of(&spaced));
        match parse_statement(&sql) {
            Ok(Statement::AlterTable(at)) => {
                for op in at.operations {
                    actions.extend(convert_op(op));
                }
            }
            _ => r.unread.push(text_of(&spaced)),
        }
    }
    Some(Kind::AlterTable { table, actions, algorithm, lock })
}

fn index_columns(cols: &[sqlparser::ast::IndexColumn]) -> Vec<String> {
    cols.iter().map(|c| column_name_of(&c.column.expr.to_string())).collect()
}

/// `` `Code`(20) `` -> `code`.
fn column_name_of(text: &str) -> String {
    text.split('(').next().unwrap_or("").trim().trim_matches('`').to_lowercase()
}

fn convert_op(op: AlterTableOperation) -> Vec<Action> {
    let name = |i: &sqlparser::ast::Ident| i.value.to_lowercase();
    match op {
        AlterTableOperation::AddColumn { column_def, column_position, .. } => vec![Action::AddColumn {
            name: name(&column_def.name),
            spec: spec_of(&column_def),
            positioned: column_position.is_some(),
        }],
        AlterTableOperation::DropColumn { column_names, .. } => {
            column_names.iter().map(|c| Action::DropColumn { name: name(c) }).collect()
        }
        AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
            vec![Action::RenameColumn { from: name(&old_column_name), to: name(&new_column_name) }]
        }
        AlterTableOperation::ChangeColumn { old_name, new_name, data_type, options, .. } => {
            let def = ColumnDef { name: new_name.clone(), data_type, options: wrap_options(options) };
            vec![Action::Change { from: name(&old_name), to: name(&new_name), spec: spec_of(&def) }]
        }
        AlterTableOperation::ModifyColumn { col_name, data_type, options, .. } => {
            let def = ColumnDef { name: col_name.clone(), data_type, options: wrap_options(options) };
            vec![Action::Change { from: name(&col_name), to: name(&col_name), spec: spec_of(&def) }]
        }
        AlterTableOperation::AlterColumn { column_name, op } => vec![match op {
            AlterColumnOperation::SetDefault { .. } => Action::SetDefault { column: name(&column_name) },
            AlterColumnOperation::DropDefault => Action::DropDefault { column: name(&column_name) },
            other => Action::Other(format!("ALTER COLUMN {column_name} {other}")),
        }],
        AlterTableOperation::AddConstraint { constraint, .. } => vec![match constraint {
            TableConstraint::ForeignKey(fk) => {
                Action::AddForeignKey { columns: fk.columns.iter().map(name).collect() }
            }
            TableConstraint::Check(_) => Action::AddCheck,
            TableConstraint::PrimaryKey(pk) => Action::AddPrimaryKey { columns: index_columns(&pk.columns) },
            TableConstraint::Unique(u) => Action::AddIndex {
                name: u.index_name.as_ref().or(u.name.as_ref()).map(name),
                kind: IndexKind::Unique,
                columns: index_columns(&u.columns),
            },
            TableConstraint::Index(ix) => Action::AddIndex {
                name: ix.name.as_ref().map(name),
                kind: IndexKind::Plain,
                columns: index_columns(&ix.columns),
            },
            TableConstraint::FulltextOrSpatial(f) => Action::AddIndex {
                name: f.opt_index_name.as_ref().map(name),
                kind: if f.fulltext { IndexKind::Fulltext } else { IndexKind::Spatial },
                columns: index_columns(&f.columns),
            },
            #[allow(unreachable_patterns)]
            other => Action::Other(other.to_string()),
        }],
        AlterTableOperation::DropConstraint { .. } => vec![Action::DropConstraint],
        AlterTableOperation::DropForeignKey { .. } => vec![Action::DropForeignKey],
        AlterTableOperation::DropIndex { name: n } => vec![Action::DropIndex { name: name(&n) }],
        AlterTableOperation::DropPrimaryKey { .. } => vec![Action::DropPrimaryKey],
        AlterTableOperation::RenameTable { table_name } => {
            vec![Action::RenameTable { to: table_name.to_string() }]
        }
        AlterTableOperation::AutoIncrement { .. } => vec![Action::TableOption],
        other => vec![Action::Other(other.to_string())],
    }
}

fn wrap_options(options: Vec<ColumnOption>) -> Vec<sqlparser::ast::ColumnOptionDef> {
    options.into_iter().map(|option| sqlparser::ast::ColumnOptionDef { name: None, option }).collect()
}

/// `INT(11) UNSIGNED` -> `int unsigned`, `BOOLEAN` -> `tinyint`, `VARCHAR(100)` -> `varchar(100)`.
pub fn normalize_type(ty: &str) -> String {
    let mut s = ty.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ").replace(", ", ",");
    for (from, to) in
        [("integer", "int"), ("boolean", "tinyint"), ("bool", "tinyint"), ("double precision", "double")]
    {
        if s == from || s.starts_with(&format!("{from} ")) || s.starts_with(&format!("{from}(")) {
            s = format!("{to}{}", &s[from.len()..]);
        }
    }
    for int in ["tinyint", "smallint", "mediumint", "bigint", "int"] {
        if let Some(rest) = s.strip_prefix(int) {
            if let Some(after) = rest.strip_prefix('(') {
                if let Some(close) = after.find(')') {
                    if after[..close].chars().all(|c| c.is_ascii_digit()) {
                        s = format!("{int}{}", &after[close + 1..]);
                    }
                }
            }
            break;
        }
    }
    s.trim().to_string()
}

/// `varchar(100)` -> Some(100); other types None.
pub fn varchar_len(ty: &str) -> Option<u64> {
    let rest = ty.strip_prefix("varchar(")?;
    rest.split(')').next()?.trim().parse().ok()
}

fn default_kind(e: &Expr) -> DefaultKind {
    use std::ops::ControlFlow;
    let mut kind = DefaultKind::Constant;
    let _ = sqlparser::ast::visit_expressions(e, |e| {
        let name = match e {
            Expr::Function(f) => f.name.to_string().to_lowercase(),
            Expr::Identifier(i) if i.quote_style.is_none() => i.value.to_lowercase(),
            _ => return ControlFlow::Continue(()),
        };
        match name.as_str() {
            "uuid" | "uuid_short" | "sys_guid" => {
                kind = DefaultKind::Uuid(name);
                return ControlFlow::Break(());
            }
            "current_timestamp" | "now" | "localtime" | "localtimestamp" | "current_date"
            | "current_time"
                if kind == DefaultKind::Constant =>
            {
                kind = DefaultKind::Timestamp;
            }
            "current_timestamp" | "now" | "localtime" | "localtimestamp" | "current_date"
            | "current_time" => {}
            _ if matches!(e, Expr::Function(_)) => kind = DefaultKind::Expression,
            _ => {}
        }
        ControlFlow::Continue(())
    });
    kind
}

pub fn spec_of(def: &ColumnDef) -> ColumnSpec {
    let mut spec = ColumnSpec { ty: normalize_type(&def.data_type.to_string()), ..ColumnSpec::default() };
    for o in &def.options {
        match &o.option {
            ColumnOption::NotNull => spec.not_null = true,
            ColumnOption::Null => spec.not_null = false,
            ColumnOption::Default(e) => spec.default = Some((e.to_string(), default_kind(e))),
            ColumnOption::Comment(c) => spec.comment = Some(c.clone()),
            ColumnOption::CharacterSet(c) => spec.charset = Some(c.to_string().to_lowercase()),
            ColumnOption::Collation(c) => spec.collation = Some(c.to_string().to_lowercase()),
            ColumnOption::OnUpdate(e) => spec.on_update = Some(e.to_string()),
            ColumnOption::Invisible => spec.invisible = true,
            ColumnOption::PrimaryKey(_) => {
                spec.primary_key = true;
                spec.not_null = true;
            }
            ColumnOption::Unique(_) => spec.unique = true,
            ColumnOption::Check(_) => spec.check = true,
            ColumnOption::ForeignKey(_) => spec.references = true,
            ColumnOption::DialectSpecific(toks)
                if toks.iter().any(
                    |t| matches!(t, Token::Word(w) if w.value.eq_ignore_ascii_case("AUTO_INCREMENT")),
                ) =>
            {
                spec.auto_increment = true;
            }
            ColumnOption::Generated { generation_expr: Some(_), generation_expr_mode, .. } => {
                spec.generated = Some(match generation_expr_mode {
                    Some(GeneratedExpressionMode::Stored) => Generated::Stored,
                    _ => Generated::Virtual,
                });
            }
            _ => {}
        }
    }
    // `... CHARACTER SET x` can also end up inside the type's text.
    if let Some(at) = spec.ty.find(" character set ") {
        spec.charset.get_or_insert_with(|| spec.ty[at + 15..].split(' ').next().unwrap_or("").to_string());
        spec.ty.truncate(at);
    }
    spec
}

fn read_create_table(sig: &[TokenWithSpan], r: &mut Reading) -> Option<Kind> {
    let at = sig.iter().position(|t| up(t).as_deref() == Some("TABLE"))? + 1;
    let mut at2 = at;
    while matches!(sig.get(at2).and_then(up).as_deref(), Some("IF" | "NOT" | "EXISTS")) {
        at2 += 1;
    }
    let (parts, after) = name_at(sig, at2)?;
    let table = TableName::from_parts(&parts);
    let like = match sig.get(after).and_then(up).as_deref() {
        Some("LIKE") => name_at(sig, after + 1).map(|(p, _)| TableName::from_parts(&p).key),
        _ => None,
    };
    // MariaDB's IGNORED index attribute is unknown to sqlparser and changes nothing we read.
    let kept: Vec<TokenWithSpan> = sig
        .iter()
        .filter(|t| up(t).as_deref() != Some("IGNORED"))
        .flat_map(|t| [t.clone(), TokenWithSpan::wrap(Token::Whitespace(Whitespace::Space))])
        .collect();
    let mut depth = 0;
    let mut charset = None;
    for (i, t) in sig.iter().enumerate() {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ => {}
        }
        if depth == 0 && matches!(up(t).as_deref(), Some("CHARSET"))
            || (up(t).as_deref() == Some("SET")
                && i > 0
                && up(&sig[i - 1]).as_deref() == Some("CHARACTER")
                && depth == 0)
        {
            charset = sig[i + 1..]
                .iter()
                .find(|t| !matches!(t.token, Token::Eq))
                .and_then(ident)
                .map(|s| s.to_lowercase());
        }
    }
    match parse_statement(&text_of(&kept)) {
        Ok(Statement::CreateTable(ct)) => {
            let columns =
                ct.columns.iter().map(|c| (c.name.value.to_lowercase(), spec_of(c))).collect::<Vec<_>>();
            let mut indexes = Vec::new();
            for c in &ct.constraints {
                match c {
                    TableConstraint::PrimaryKey(pk) => {
                        indexes.push(("primary".to_string(), index_columns(&pk.columns)))
                    }
                    TableConstraint::Unique(u) => indexes.push((
                        u.index_name
                            .as_ref()
                            .or(u.name.as_ref())
                            .map(|n| n.value.to_lowercase())
                            .unwrap_or_default(),
                        index_columns(&u.columns),
                    )),
                    TableConstraint::Index(ix) => indexes.push((
                        ix.name.as_ref().map(|n| n.value.to_lowercase()).unwrap_or_default(),
                        index_columns(&ix.columns),
                    )),
                    TableConstraint::ForeignKey(fk) => indexes.push((
                        fk.name.as_ref().map(|n| n.value.to_lowercase()).unwrap_or_default(),
                        fk.columns.iter().map(|c| c.value.to_lowercase()).collect(),
                    )),
                    _ => {}
                }
            }
            for (name, spec) in &columns {
                if spec.primary_key || spec.unique {
                    indexes.push((name.clone(), vec![name.clone()]));
                }
            }
            Some(Kind::CreateTable { table, columns, indexes, charset, like })
        }
        Ok(_) => Some(Kind::CreateTable { table, columns: Vec::new(), indexes: Vec::new(), charset, like }),
        Err(e) => {
            r.unparsed = Some(clean(e));
            Some(Kind::CreateTable { table, columns: Vec::new(), indexes: Vec::new(), charset, like })
        }
    }
}

/// `CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX name [USING x] ON t (cols) [ALGORITHM=…] [LOCK=…]`.
fn read_create_index(sig: &[TokenWithSpan]) -> Option<Kind> {
    let kind = match sig.get(1).and_then(up).as_deref() {
        Some("UNIQUE") => IndexKind::Unique,
        Some("FULLTEXT") => IndexKind::Fulltext,
        Some("SPATIAL") => IndexKind::Spatial,
        _ => IndexKind::Plain,
    };
    let at = sig.iter().position(|t| up(t).as_deref() == Some("INDEX"))?;
    let mut n = at + 1;
    while matches!(sig.get(n).and_then(up).as_deref(), Some("IF" | "NOT" | "EXISTS")) {
        n += 1;
    }
    let name = ident(sig.get(n)?)?.to_lowercase();
    let on = sig.iter().position(|t| up(t).as_deref() == Some("ON"))?;
    let (parts, after) = name_at(sig, on + 1)?;
    let (algorithm, lock, columns) = trailing_clauses(&sig[after..]);
    Some(Kind::CreateIndex { table: TableName::from_parts(&parts), name, kind, columns, algorithm, lock })
}

/// `DROP INDEX name ON t [ALGORITHM=…] [LOCK=…]`.
fn read_drop_index(sig: &[TokenWithSpan]) -> Option<Kind> {
    let mut n = 2;
    while matches!(sig.get(n).and_then(up).as_deref(), Some("IF" | "EXISTS" | "ONLINE")) {
        n += 1;
    }
    let name = ident(sig.get(n)?)?.to_lowercase();
    let on = sig.iter().position(|t| up(t).as_deref() == Some("ON"))?;
    let (parts, after) = name_at(sig, on + 1)?;
    let (algorithm, lock, _) = trailing_clauses(&sig[after..]);
    Some(Kind::DropIndex { table: TableName::from_parts(&parts), name, algorithm, lock })
}

/// The column list and `ALGORITHM`/`LOCK` clauses after an index's table.
fn trailing_clauses(sig: &[TokenWithSpan]) -> (Algorithm, LockMode, Vec<String>) {
    let (mut algorithm, mut lock, mut columns) = (Algorithm::Default, LockMode::Default, Vec::new());
    let mut depth = 0;
    let mut current = String::new();
    for (i, t) in sig.iter().enumerate() {
        match t.token {
            Token::LParen => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    columns.push(column_name_of(&current));
                    current.clear();
                    continue;
                }
            }
            Token::Comma if depth == 1 => {
                columns.push(column_name_of(&current));
                current.clear();
                continue;
            }
            _ => {}
        }
        if depth >= 1 {
            current.push_str(&ident(t).unwrap_or_else(|| t.token.to_string()));
        } else if let Some(v) = clause(&sig[i..], "ALGORITHM") {
            algorithm = algorithm_of(&v);
        } else if let Some(v) = clause(&sig[i..], "LOCK") {
            lock = lock_of(&v);
        }
    }
    (algorithm, lock, columns)
}

fn read_dml(tokens: &[TokenWithSpan], r: &mut Reading) -> Option<Kind> {
    match parse_statement(&text_of(tokens)) {
        Ok(Statement::Update(u)) => {
            let table = match &u.table.relation {
                sqlparser::ast::TableFactor::Table { name, .. } => table_name(name),
                _ => return Some(Kind::Other),
            };
            Some(Kind::Update {
                table,
                selection: u.selection.clone(),
                limit: u.limit.is_some(),
                order_by: !u.order_by.is_empty(),
            })
        }
        Ok(Statement::Delete(d)) => {
            let first = match &d.from {
                sqlparser::ast::FromTable::WithFromKeyword(t)
                | sqlparser::ast::FromTable::WithoutKeyword(t) => t.first(),
            };
            let table = match first.map(|t| &t.relation) {
                Some(sqlparser::ast::TableFactor::Table { name, .. }) => table_name(name),
                _ => return Some(Kind::Other),
            };
            Some(Kind::Delete { table, selection: d.selection.clone(), limit: d.limit.is_some() })
        }
        Ok(_) => Some(Kind::Other),
        Err(e) => {
            r.unparsed = Some(clean(e));
            Some(Kind::Other)
        }
    }
}

fn table_name(name: &sqlparser::ast::ObjectName) -> TableName {
    let parts: Vec<String> =
        name.0.iter().map(|p| p.as_ident().map_or_else(|| p.to_string(), |i| i.value.clone())).collect();
    TableName::from_parts(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_sql(sql: &str) -> Reading {
        let stmts = super::super::source::split(sql).unwrap();
        read(&stmts[0].tokens)
    }

    #[test]
    fn mariadb_syntax_sqlparser_lacks_is_read() {
        let r = read_sql(
            "ALTER TABLE app.users WAIT 2 ADD COLUMN IF NOT EXISTS nick VARCHAR(20) NULL, RENAME INDEX a TO b, ALGORITHM=NOCOPY, LOCK=NONE",
        );
        assert!(r.unread.is_empty() && r.unparsed.is_none(), "{r:?}");
        assert_eq!(r.wait, Some(2));
        let Kind::AlterTable { table, actions, algorithm, lock } = r.kind else { panic!() };
        assert_eq!((table.key.as_str(), algorithm, lock), ("users", Algorithm::NoCopy, LockMode::None));
        assert!(
            matches!(&actions[0], Action::AddColumn { name, spec, .. } if name == "nick" && spec.ty == "varchar(20)")
        );
        assert_eq!(actions[1], Action::RenameIndex);
        assert_eq!(r.bare, "ALTER TABLE app.users WAIT 2 ADD COLUMN IF NOT EXISTS nick VARCHAR(20) NULL, RENAME INDEX a TO b");
    }

    #[test]
    fn an_unknown_action_is_unread_not_skipped() {
        let r = read_sql("ALTER TABLE t ADD COLUMN a INT, FROBNICATE x");
        assert_eq!(r.unread, vec!["FROBNICATE x".to_string()]);
    }

    #[test]
    fn set_statement_scopes_the_timeout() {
        let r = read_sql("SET STATEMENT lock_wait_timeout = 3 FOR ALTER TABLE t DROP COLUMN c");
        assert_eq!(r.wait, Some(3));
        assert!(matches!(r.kind, Kind::AlterTable { .. }));
    }

    #[test]
    fn create_table_with_mariadb_ignored_index_is_read() {
        let r = read_sql("CREATE TABLE t (id INT PRIMARY KEY, c VARCHAR(10) NULL, KEY ix (c) IGNORED) DEFAULT CHARSET=latin1");
        assert!(r.unparsed.is_none(), "{r:?}");
        let Kind::CreateTable { columns, indexes, charset, .. } = r.kind else { panic!() };
        assert_eq!(columns.len(), 2);
        assert!(indexes.iter().any(|(n, c)| n == "ix" && c == &["c".to_string()]));
        assert_eq!(charset.as_deref(), Some("latin1"));
    }

    #[test]
    fn types_are_normalised() {
        assert_eq!(normalize_type("INT(11) UNSIGNED"), "int unsigned");
        assert_eq!(normalize_type("BOOLEAN"), "tinyint");
        assert_eq!(normalize_type("tinyint(1)"), "tinyint");
        assert_eq!(normalize_type("INTEGER"), "int");
        assert_eq!(varchar_len("varchar(100)"), Some(100));
    }
}
