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

/// Split and parse a file, handing each statement to `f` in order, so only one AST is alive at a
/// time. Returns the number of statements.
pub fn for_each_statement(sql: &str, mut f: impl FnMut(Stmt)) -> Result<usize, TokenizeError> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql).tokenize_with_location().map_err(|e| TokenizeError {
        pos: Pos { line: e.location.line as usize, column: e.location.column as usize },
        message: e.message,
    })?;
    let mut count = 0usize;
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
                    f(finish(&dialect, std::mem::take(&mut current), std::mem::take(&mut comments), count));
                    count += 1;
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
        f(finish(&dialect, current, comments, count));
        count += 1;
    }
    Ok(count)
}

fn last_word_is(tokens: &[TokenWithSpan], word: &str) -> bool {
    tokens
        .iter()
        .rev()
        .find(|t| !matches!(t.token, Token::Whitespace(_)))
        .is_some_and(|t| matches!(&t.token, Token::Word(w) if w.value.eq_ignore_ascii_case(word)))
}

fn pos(l: sqlparser::tokenizer::Location) -> Pos {
    Pos { line: l.line as usize, column: l.column as usize }
}

fn finish(
    dialect: &PostgreSqlDialect,
    tokens: Vec<TokenWithSpan>,
    comments: Vec<(Pos, String)>,
    index: usize,
) -> Stmt {
    let start = pos(tokens[0].span.start);
    let end = tokens
        .iter()
        .rev()
        .find(|t| !matches!(t.token, Token::Whitespace(_)))
        .map_or(start, |t| pos(t.span.end));
    let words = tokens
        .iter()
        .filter_map(|t| match &t.token {
            Token::Word(w) => Some(w.value.to_uppercase()),
            _ => None,
        })
        .take(LEADING_WORDS)
        .collect();
    let mut parser = Parser::new(dialect).with_tokens_with_locations(tokens);
    let parsed = match parser.parse_statement() {
        Ok(statement) => match parser.peek_token().token {
            Token::EOF => Parsed::Yes(Box::new(statement)),
            other => Parsed::No { error: format!("unexpected `{other}` after the end of the statement") },
        },
        Err(e) => Parsed::No { error: e.to_string().trim_start_matches("sql parser error: ").to_string() },
    };
    Stmt { index, start, end, words, leading_comments: comments, parsed }
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
