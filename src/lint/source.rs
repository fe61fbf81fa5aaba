//! Split a SQL file into statements with their locations, and parse each one alone.
//!
//! `Parser::parse_sql` is all-or-nothing, so we tokenize the whole file once (the tokenizer knows
//! strings, comments and dollar-quoted bodies), cut at top-level `;` and parse each slice. A
//! statement sqlparser rejects stays in the list as `Parsed::No` with its error, so it can be
//! reported instead of silently skipped.

use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

mod fallback;

/// 1-based line and column (columns count characters, as editors show them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, serde::Serialize)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// One statement of a migration file.
#[derive(Debug)]
pub struct Stmt {
    /// Position in the file's statement list (context is indexed by it).
    pub index: usize,
    pub start: Pos,
    pub end: Pos,
    /// Upper-cased leading words (`["DROP", "INDEX", "CONCURRENTLY"]`): lets rules recognise
    /// statements sqlparser cannot parse (REINDEX, CLUSTER, DROP INDEX CONCURRENTLY).
    pub words: Vec<String>,
    /// Text of `--` comments between the previous statement and this one.
    pub leading_comments: Vec<(Pos, String)>,
    pub parsed: Parsed,
    /// Where the statement runs.
    pub origin: Origin,
    /// What the tokens say when sqlparser could not read (all of) the statement.
    pub reading: Reading,
}

/// Where a statement runs: in the file, inside a `DO` block (at once, in one transaction), or in
/// a function body (when the function is called).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    File,
    DoBlock,
    FunctionBody,
}

/// A tokenizer-level reading of a statement sqlparser rejected, so rules and context still see
/// what it does.
#[derive(Debug, Default)]
pub struct Reading {
    /// The table (or object) the statement targets, read from its tokens.
    pub target: Option<sqlparser::ast::ObjectName>,
    /// ALTER TABLE actions neither sqlparser nor the fallback could read (their text).
    pub unread_actions: Vec<String>,
    /// `CREATE FUNCTION name ... [IMMUTABLE|STABLE|VOLATILE]`: lower-cased name and volatility.
    pub function: Option<(String, Volatility)>,
    /// `CREATE VIEW` / `CREATE FUNCTION`: the names its query or body mentions (what it reads,
    /// see [`super::readers`]).
    pub mentions: Option<super::readers::Names>,
}

/// A function's declared volatility (`VOLATILE` when it says nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

#[derive(Debug)]
pub enum Parsed {
    Yes(Box<Statement>),
    No { error: String },
}

impl Stmt {
    pub fn ast(&self) -> Option<&Statement> {
        match &self.parsed {
            Parsed::Yes(s) => Some(s),
            Parsed::No { .. } => None,
        }
    }

    /// True when the statement starts with these words (upper case).
    pub fn starts_with(&self, words: &[&str]) -> bool {
        words.len() <= self.words.len() && words.iter().zip(&self.words).all(|(a, b)| a == b)
    }
}

/// A whole-file failure of the tokenizer (an unterminated string or dollar quote).
#[derive(Debug)]
pub struct TokenizeError {
    pub pos: Pos,
    pub message: String,
}

const LEADING_WORDS: usize = 4;

/// Split and parse a file. Statements made only of comments are dropped.
pub fn split_statements(sql: &str) -> Result<Vec<Stmt>, TokenizeError> {
    let mut out = Vec::new();
    for_each_statement(sql, |s| out.push(s))?;
    Ok(out)
}

/// Split and parse a file, handing each statement to `f` in order. The SQL statements inside a
/// `DO` block or a `CREATE FUNCTION ... LANGUAGE plpgsql|sql` body follow their outer statement,
/// located at their real line ([`Origin`] says where they run). Returns the number of statements.
pub fn for_each_statement(sql: &str, mut f: impl FnMut(Stmt)) -> Result<usize, TokenizeError> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql).tokenize_with_location().map_err(|e| TokenizeError {
        pos: Pos { line: e.location.line as usize, column: e.location.column as usize },
        message: e.message,
    })?;
    let mut count = 0usize;
    split_tokens(tokens, |toks, comments| {
        let body = body_of(&dialect, &toks);
        let outer_comments = if body.is_some() { comments.clone() } else { Vec::new() };
        f(finish(&dialect, toks, comments, count, Origin::File));
        count += 1;
        if let Some((origin, chunks)) = body {
            for (toks, inner_comments) in chunks {
                let mut all = outer_comments.clone();
                all.extend(inner_comments);
                f(finish(&dialect, toks, all, count, origin));
                count += 1;
            }
        }
    });
    Ok(count)
}

/// Cut a token stream at top-level `;`, handing each statement's tokens (first one not
/// whitespace) and the `--` comments before it to `sink`.
fn split_tokens(tokens: Vec<TokenWithSpan>, mut sink: impl FnMut(Vec<TokenWithSpan>, Vec<(Pos, String)>)) {
    let mut current: Vec<TokenWithSpan> = Vec::new();
    let mut comments: Vec<(Pos, String)> = Vec::new();
    // Inside `BEGIN ATOMIC ... END` (SQL-standard function bodies) `;` does not end the statement;
    // CASE ... END nests inside it.
    let mut atomic_depth = 0usize;
    // A psql meta-command (`\set ON_ERROR_STOP on`) runs to the end of its line, without `;`.
    let mut in_meta_command = false;
    for tok in tokens {
        if in_meta_command {
            in_meta_command = !matches!(tok.token, Token::Whitespace(Whitespace::Newline));
            continue;
        }
        match &tok.token {
            Token::SemiColon if atomic_depth == 0 => {
                if !current.is_empty() {
                    sink(std::mem::take(&mut current), std::mem::take(&mut comments));
                }
            }
            Token::Backslash if current.is_empty() => in_meta_command = true,
            Token::Whitespace(ws) if current.is_empty() => {
                // Comments before a statement carry `-- planner:ignore` directives.
                if let Whitespace::SingleLineComment { comment, .. } = ws {
                    comments.push((pos(tok.span.start), comment.trim().to_string()));
                }
            }
            Token::EOF => {}
            _ => {
                if let Token::Word(w) = &tok.token {
                    match w.value.to_uppercase().as_str() {
                        "ATOMIC" if last_word_is(&current, "BEGIN") => atomic_depth += 1,
                        "CASE" if atomic_depth > 0 => atomic_depth += 1,
                        "END" if atomic_depth > 0 => atomic_depth -= 1,
                        _ => {}
                    }
                }
                current.push(tok)
            }
        }
    }
    if current.iter().any(|t| !matches!(t.token, Token::Whitespace(_))) {
        sink(current, comments);
    }
}

/// Statements worth checking in a function body: they change the schema when the function runs.
/// (A trigger function's UPDATE runs per row of the app's writes, not as a migration step.)
const DDL_VERBS: &[&str] =
    &["ALTER", "CREATE", "DROP", "TRUNCATE", "REINDEX", "VACUUM", "CLUSTER", "REFRESH", "COMMENT", "LOCK"];
/// Statements worth checking in a DO block: everything a migration file could hold.
const SQL_VERBS: &[&str] = &[
    "ALTER", "CREATE", "DROP", "TRUNCATE", "REINDEX", "VACUUM", "CLUSTER", "REFRESH", "COMMENT", "LOCK",
    "UPDATE", "DELETE", "INSERT", "GRANT", "REVOKE",
];

type Chunk = (Vec<TokenWithSpan>, Vec<(Pos, String)>);

/// The SQL statements of a `DO` block or of a plpgsql/sql function body, with tokens located in
/// the file. `None` for other statements and for bodies that are not dollar-quoted.
fn body_of(dialect: &PostgreSqlDialect, toks: &[TokenWithSpan]) -> Option<(Origin, Vec<Chunk>)> {
    let words: Vec<String> = toks
        .iter()
        .filter_map(|t| match &t.token {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_uppercase()),
            _ => None,
        })
        .take(5)
        .collect();
    let is = |w: &[&str]| w.len() <= words.len() && w.iter().zip(&words).all(|(a, b)| a == b);
    let origin = if is(&["DO"]) {
        Origin::DoBlock
    } else if is(&["CREATE", "FUNCTION"])
        || is(&["CREATE", "OR", "REPLACE", "FUNCTION"])
        || is(&["CREATE", "PROCEDURE"])
        || is(&["CREATE", "OR", "REPLACE", "PROCEDURE"])
    {
        Origin::FunctionBody
    } else {
        return None;
    };
    let language = toks
        .iter()
        .enumerate()
        .find(|(_, t)| matches!(&t.token, Token::Word(w) if w.value.eq_ignore_ascii_case("LANGUAGE")))
        .and_then(|(i, _)| toks[i + 1..].iter().find(|t| !matches!(t.token, Token::Whitespace(_))))
        .map(|t| match &t.token {
            Token::Word(w) => w.value.to_lowercase(),
            Token::SingleQuotedString(s) => s.to_lowercase(),
            _ => String::new(),
        })
        .unwrap_or_else(|| if origin == Origin::DoBlock { "plpgsql".into() } else { String::new() });
    if language != "plpgsql" && language != "sql" {
        return None;
    }
    let (body, at) = toks.iter().find_map(|t| match &t.token {
        Token::DollarQuotedString(d) => {
            let tag = d.tag.as_deref().map_or(0, str::len);
            Some((d.value.clone(), (t.span.start.line, t.span.start.column + 2 + tag as u64)))
        }
        _ => None,
    })?;
    let verbs = if origin == Origin::DoBlock { SQL_VERBS } else { DDL_VERBS };
    let mut chunks = Vec::new();
    collect_body(dialect, &body, at, language == "plpgsql", verbs, &mut chunks);
    Some((origin, chunks))
}

/// Split a body's text into statements starting with one of `verbs`, located as if the body
/// started at `at` (line, column) of the file. plpgsql control words before a statement
/// (`BEGIN`, `IF ... THEN`, `ELSE`, `LOOP`, `EXCEPTION WHEN ... THEN`) are skipped, and
/// `EXECUTE 'constant SQL'` is read as the SQL it runs.
fn collect_body(
    dialect: &PostgreSqlDialect,
    body: &str,
    at: (u64, u64),
    plpgsql: bool,
    verbs: &[&str],
    out: &mut Vec<Chunk>,
) {
    let Ok(mut tokens) = Tokenizer::new(dialect, body).tokenize_with_location() else { return };
    for t in &mut tokens {
        for l in [&mut t.span.start, &mut t.span.end] {
            if l.line == 1 {
                l.column += at.1 - 1;
            }
            l.line += at.0 - 1;
        }
    }
    split_tokens(tokens, |toks, comments| {
        let start = if plpgsql { plpgsql_sql_start(&toks) } else { Some(0) };
        let Some(start) = start else { return };
        let first = toks[start..].iter().find_map(|t| match &t.token {
            Token::Word(w) => Some(w.value.to_uppercase()),
            _ => None,
        });
        // `EXECUTE 'ALTER TABLE ...'`: the constant string is the statement.
        if first.as_deref() == Some("EXECUTE") {
            let rest: Vec<&TokenWithSpan> =
                toks[start + 1..].iter().filter(|t| !matches!(t.token, Token::Whitespace(_))).collect();
            if let [lit] = rest.as_slice() {
                if let Token::SingleQuotedString(sql) = &lit.token {
                    let at = (lit.span.start.line, lit.span.start.column + 1);
                    collect_body(dialect, sql, at, false, verbs, out);
                }
            }
            return;
        }
        if first.is_some_and(|w| verbs.contains(&w.as_str())) {
            let mut comments = comments;
            for t in &toks[..start] {
                if let Token::Whitespace(Whitespace::SingleLineComment { comment, .. }) = &t.token {
                    comments.push((pos(t.span.start), comment.trim().to_string()));
                }
            }
            let mut toks = toks[start..].to_vec();
            if plpgsql {
                strip_into_target(&mut toks);
            }
            out.push((toks, comments));
        }
    });
}

/// plpgsql's `INSERT/UPDATE/DELETE ... RETURNING expr INTO [STRICT] var`: the `INTO var` tail is
/// plpgsql, not SQL; the statement without it is what runs.
fn strip_into_target(toks: &mut Vec<TokenWithSpan>) {
    let mut depth = 0i32;
    let mut returning = false;
    for (i, t) in toks.iter().enumerate() {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Word(w) if depth == 0 && w.quote_style.is_none() => {
                if w.value.eq_ignore_ascii_case("RETURNING") {
                    returning = true;
                } else if returning && w.value.eq_ignore_ascii_case("INTO") {
                    toks.truncate(i);
                    return;
                }
            }
            _ => {}
        }
    }
}

/// Where the SQL statement of a plpgsql statement starts, after its control words; `None` when
/// it is not one (an assignment, RAISE, RETURN, PERFORM, a declaration, END IF).
fn plpgsql_sql_start(toks: &[TokenWithSpan]) -> Option<usize> {
    let mut i = 0;
    let word_at = |i: usize| match toks.get(i).map(|t| &t.token) {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_uppercase()),
        _ => None,
    };
    let skip_ws = |mut i: usize| {
        while toks.get(i).is_some_and(|t| matches!(t.token, Token::Whitespace(_))) {
            i += 1;
        }
        i
    };
    // Skip to just after the first depth-0 occurrence of one of `words`.
    let skip_past = |from: usize, words: &[&str]| {
        let mut depth = 0i32;
        for (j, t) in toks.iter().enumerate().skip(from) {
            match &t.token {
                Token::LParen | Token::LBracket => depth += 1,
                Token::RParen | Token::RBracket => depth -= 1,
                Token::Word(w) if depth == 0 && words.iter().any(|x| w.value.eq_ignore_ascii_case(x)) => {
                    return Some(j + 1);
                }
                _ => {}
            }
        }
        None
    };
    loop {
        i = skip_ws(i);
        if matches!(toks.get(i).map(|t| &t.token), Some(Token::ShiftLeft)) {
            // `<<label>>`
            i = toks.iter().skip(i).position(|t| matches!(t.token, Token::ShiftRight))? + i + 1;
            continue;
        }
        let w = word_at(i)?;
        match w.as_str() {
            "BEGIN" | "THEN" | "ELSE" | "LOOP" | "EXCEPTION" => i += 1,
            "IF" | "ELSIF" | "ELSEIF" | "WHEN" => i = skip_past(i + 1, &["THEN"])?,
            "WHILE" | "FOR" | "FOREACH" => i = skip_past(i + 1, &["LOOP"])?,
            "CASE" => i = skip_past(i + 1, &["WHEN"]).map(|j| j - 1)?,
            "END" => {
                i = skip_ws(i + 1);
                if matches!(word_at(i).as_deref(), Some("IF" | "LOOP" | "CASE")) {
                    i += 1;
                }
            }
            _ => return Some(i),
        }
    }
}

fn last_word_is(tokens: &[TokenWithSpan], word: &str) -> bool {
    tokens
        .iter()
        .rev()
        .find(|t| !matches!(t.token, Token::Whitespace(_)))
        .is_some_and(|t| matches!(&t.token, Token::Word(w) if w.value.eq_ignore_ascii_case(word)))
}

/// `CREATE [OR REPLACE] [TEMP|MATERIALIZED|RECURSIVE] VIEW` (leading words).
pub(crate) fn is_view(w: &[&str]) -> bool {
    w.first() == Some(&"CREATE") && w.iter().any(|x| *x == "VIEW" || *x == "MATERIALIZED")
}

fn pos(l: sqlparser::tokenizer::Location) -> Pos {
    Pos { line: l.line as usize, column: l.column as usize }
}

fn words_of(words: &[String]) -> Vec<&str> {
    words.iter().map(String::as_str).collect()
}

/// Parse one statement's tokens; anything after the statement is an error.
pub(crate) fn parse_one(dialect: &PostgreSqlDialect, tokens: Vec<TokenWithSpan>) -> Parsed {
    let mut parser = Parser::new(dialect).with_tokens_with_locations(tokens);
    match parser.parse_statement() {
        Ok(statement) => match parser.peek_token().token {
            Token::EOF => Parsed::Yes(Box::new(statement)),
            other => Parsed::No { error: format!("unexpected `{other}` after the end of the statement") },
        },
        Err(e) => Parsed::No { error: e.to_string().trim_start_matches("sql parser error: ").to_string() },
    }
}

fn finish(
    dialect: &PostgreSqlDialect,
    tokens: Vec<TokenWithSpan>,
    comments: Vec<(Pos, String)>,
    index: usize,
    origin: Origin,
) -> Stmt {
    let start = pos(tokens[0].span.start);
    let end = tokens
        .iter()
        .rev()
        .find(|t| !matches!(t.token, Token::Whitespace(_)))
        .map_or(start, |t| pos(t.span.end));
    let words: Vec<String> = tokens
        .iter()
        .filter_map(|t| match &t.token {
            Token::Word(w) => Some(w.value.to_uppercase()),
            _ => None,
        })
        .take(LEADING_WORDS)
        .collect();
    // The tokenizer-level reading needs the tokens after the parser took them: kept only for
    // the statements it reads (tables and functions).
    let w = words_of(&words);
    let is_function =
        matches!(w.as_slice(), ["CREATE", "FUNCTION", ..] | ["CREATE", "OR", "REPLACE", "FUNCTION", ..]);
    let keep = is_function
        || matches!(w.as_slice(), ["ALTER", "TABLE", ..] | ["CREATE", ..] | ["DROP", "TABLE", ..]);
    let fallback_tokens = if keep { tokens.clone() } else { Vec::new() };
    let mut parsed = parse_one(dialect, tokens);
    let mut reading = Reading::default();
    if let (Parsed::No { .. }, true) = (&parsed, keep) {
        if let Some((ast, unread)) = fallback::alter_table_actions(dialect, &fallback_tokens) {
            reading.unread_actions = unread;
            if let Some(ast) = ast {
                parsed = Parsed::Yes(Box::new(ast));
            }
        }
        reading.target = fallback::target(dialect, &w, &fallback_tokens);
    }
    if is_function {
        reading.function = fallback::function_decl(dialect, &fallback_tokens);
    }
    if is_function || is_view(&w) {
        reading.mentions = Some(super::readers::mentioned_names(&fallback_tokens));
    }
    Stmt { index, start, end, words, leading_comments: comments, parsed, origin, reading }
}

/// Lines of a file by 1-based number, indexed once so excerpts cost O(1) per finding.
pub struct Lines<'a> {
    lines: Vec<&'a str>,
}

impl<'a> Lines<'a> {
    pub fn new(source: &'a str) -> Self {
        Lines { lines: source.lines().collect() }
    }

    pub fn get(&self, line: usize) -> &'a str {
        line.checked_sub(1).and_then(|i| self.lines.get(i)).copied().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_top_level_semicolons_only() {
        let sql = "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN a; b; END $$ LANGUAGE plpgsql;\n\
                   SELECT ';';\n  -- c\n  UPDATE t SET a = 1 WHERE b = 2";
        let stmts = split_statements(sql).unwrap();
        assert_eq!(stmts.len(), 3);
        assert!(stmts.iter().all(|s| s.ast().is_some()));
        assert_eq!(stmts[1].start, Pos { line: 2, column: 1 });
        assert_eq!(stmts[2].start, Pos { line: 4, column: 3 });
        assert_eq!(stmts[2].leading_comments, vec![(Pos { line: 3, column: 3 }, "c".to_string())]);
    }

    #[test]
    fn a_bad_statement_does_not_hide_the_rest() {
        let stmts = split_statements("SELEC 1;\nREINDEX INDEX i;\nDROP TABLE t;").unwrap();
        assert_eq!(stmts.len(), 3);
        assert!(matches!(stmts[0].parsed, Parsed::No { .. }));
        assert!(stmts[1].starts_with(&["REINDEX", "INDEX"]));
        assert!(stmts[2].ast().is_some());
    }

    #[test]
    fn psql_meta_commands_and_begin_atomic_bodies() {
        let sql = "\\set ON_ERROR_STOP on\nDROP TABLE x;\n\
                   CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT CASE WHEN true THEN 2 END;\nEND;\n\
                   DROP TABLE y;";
        let stmts = split_statements(sql).unwrap();
        let starts: Vec<usize> = stmts.iter().map(|s| s.start.line).collect();
        assert_eq!(starts, vec![2, 3, 8]);
        assert!(stmts[0].starts_with(&["DROP", "TABLE"]));
        assert!(stmts[1].starts_with(&["CREATE", "FUNCTION"]));
    }

    #[test]
    fn comment_only_tail_is_not_a_statement() {
        assert_eq!(split_statements("SELECT 1; -- done\n").unwrap().len(), 1);
    }

    #[test]
    fn unterminated_string_is_a_tokenize_error() {
        let err = split_statements("SELECT 1;\nSELECT 'x").unwrap_err();
        assert_eq!(err.pos.line, 2);
    }
}
