//! Split a MySQL/MariaDB migration into statements, with their locations.
//!
//! The file is cut into regions by the client's `DELIMITER` command (mysqldump and most trigger
//! migrations wrap `CREATE TRIGGER … BEGIN … END` in `DELIMITER ;;` / `//`). In a `;` region the
//! statements are cut at top-level `;`, except inside the `BEGIN … END` of a stored program; in a
//! custom region at each delimiter. Each statement keeps its tokens located in the file.

use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::lint::source::{Pos, TokenizeError};

/// One statement's tokens (first one not whitespace) and the comments just before it.
pub struct RawStmt {
    pub tokens: Vec<TokenWithSpan>,
    pub comments: Vec<(Pos, String)>,
}

/// A run of the file that uses one delimiter.
struct Region<'a> {
    text: &'a str,
    /// 1-based line and column where `text` starts.
    at: (u64, u64),
    delimiter: String,
}

/// Split a file into statements.
pub fn split(sql: &str) -> Result<Vec<RawStmt>, TokenizeError> {
    let mut out = Vec::new();
    for region in regions(sql) {
        if region.delimiter == ";" {
            let tokens = tokenize(region.text, region.at)?;
            split_semicolons(tokens, &mut out);
        } else {
            for (chunk, at) in cut_at_delimiter(region.text, region.at, &region.delimiter) {
                let mut tokens = tokenize(chunk, at)?;
                // `END;` right before the custom delimiter: the `;` belongs to no statement.
                while let Some(last) = tokens.iter().rposition(|t| !matches!(t.token, Token::Whitespace(_))) {
                    if matches!(tokens[last].token, Token::SemiColon) {
                        tokens.truncate(last);
                    } else {
                        break;
                    }
                }
                push_statement(tokens, Vec::new(), &mut out);
            }
        }
    }
    Ok(out)
}

/// Tokenize `text` with locations shifted to where it starts in the file.
fn tokenize(text: &str, at: (u64, u64)) -> Result<Vec<TokenWithSpan>, TokenizeError> {
    let mut tokens = Tokenizer::new(&MySqlDialect {}, text).tokenize_with_location().map_err(|e| {
        let line = e.location.line + at.0 - 1;
        let column = if e.location.line == 1 { e.location.column + at.1 - 1 } else { e.location.column };
        TokenizeError { pos: Pos { line: line as usize, column: column as usize }, message: e.message }
    })?;
    for t in &mut tokens {
        for l in [&mut t.span.start, &mut t.span.end] {
            if l.line == 1 {
                l.column += at.1 - 1;
            }
            l.line += at.0 - 1;
        }
    }
    Ok(tokens)
}

/// The file's regions, split at `DELIMITER x` lines (the lines themselves belong to none).
fn regions(sql: &str) -> Vec<Region<'_>> {
    let mut out = Vec::new();
    let mut delimiter = ";".to_string();
    let (mut start, mut start_line) = (0usize, 1u64);
    let mut offset = 0usize;
    for (i, line) in sql.split_inclusive('\n').enumerate() {
        let trimmed = line.trim();
        let mut parts = trimmed.split_whitespace();
        if parts.next().is_some_and(|w| w.eq_ignore_ascii_case("DELIMITER")) {
            if let Some(d) = parts.next() {
                out.push(Region {
                    text: &sql[start..offset],
                    at: (start_line, 1),
                    delimiter: delimiter.clone(),
                });
                delimiter = d.to_string();
                start = offset + line.len();
                start_line = i as u64 + 2;
            }
        }
        offset += line.len();
    }
    out.push(Region { text: &sql[start..], at: (start_line, 1), delimiter });
    out.retain(|r| !r.text.trim().is_empty());
    out
}

/// Cut a custom-delimiter region at each delimiter outside quotes and comments.
fn cut_at_delimiter<'a>(text: &'a str, at: (u64, u64), delimiter: &str) -> Vec<(&'a str, (u64, u64))> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut chunk_start) = (0usize, 0usize);
    let (mut line, mut col) = (at.0, at.1);
    let mut chunk_at = (line, col);
    let advance = |i: &mut usize, line: &mut u64, col: &mut u64, n: usize| {
        for c in text[*i..*i + n].chars() {
            if c == '\n' {
                *line += 1;
                *col = 1;
            } else {
                *col += 1;
            }
        }
        *i += n;
    };
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with(delimiter) {
            out.push((&text[chunk_start..i], chunk_at));
            advance(&mut i, &mut line, &mut col, delimiter.len());
            chunk_start = i;
            chunk_at = (line, col);
            continue;
        }
        let skip = match bytes[i] {
            q @ (b'\'' | b'"' | b'`') => {
                // To the closing quote (doubled quotes and backslash escapes stay inside).
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != q {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                (j + 1).min(bytes.len()) - i
            }
            b'#' => rest.find('\n').unwrap_or(rest.len()),
            b'-' if rest.starts_with("-- ") => rest.find('\n').unwrap_or(rest.len()),
            b'/' if rest.starts_with("/*") => rest.find("*/").map_or(rest.len(), |e| e + 2),
            _ => rest.chars().next().map_or(1, char::len_utf8),
        };
        advance(&mut i, &mut line, &mut col, skip);
    }
    out.push((&text[chunk_start..], chunk_at));
    out.retain(|(c, _)| !c.trim().is_empty());
    out
}

fn word(t: &TokenWithSpan) -> Option<String> {
    match &t.token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_uppercase()),
        _ => None,
    }
}

/// Cut at top-level `;`, keeping a stored program's `BEGIN … END` body (triggers, procedures,
/// events written without DELIMITER) in one statement.
fn split_semicolons(tokens: Vec<TokenWithSpan>, out: &mut Vec<RawStmt>) {
    let mut current: Vec<TokenWithSpan> = Vec::new();
    let mut comments = Vec::new();
    let mut depth = 0usize;
    let mut program = false;
    for tok in tokens {
        match &tok.token {
            Token::SemiColon if depth == 0 => {
                push_statement(std::mem::take(&mut current), std::mem::take(&mut comments), out);
                program = false;
            }
            Token::Whitespace(ws) if current.is_empty() => {
                if let Whitespace::SingleLineComment { comment, .. } = ws {
                    comments.push((pos(tok.span.start), comment.trim().to_string()));
                }
            }
            Token::EOF => {}
            _ => {
                if let Some(w) = word(&tok) {
                    let leading: Vec<String> = current.iter().filter_map(word).take(6).collect();
                    if current.is_empty() || leading.len() < 6 {
                        program |= leading.first().is_some_and(|f| f == "CREATE")
                            && matches!(w.as_str(), "TRIGGER" | "PROCEDURE" | "FUNCTION" | "EVENT");
                    }
                    if program {
                        let after_end = last_word(&current).as_deref() == Some("END");
                        match w.as_str() {
                            "BEGIN" | "CASE" if !after_end => depth += 1,
                            // `END IF`: the END closed nothing (IF never opened a level).
                            "IF" | "LOOP" | "WHILE" | "REPEAT" if after_end => depth += 1,
                            "END" => depth = depth.saturating_sub(1),
                            _ => {}
                        }
                    }
                }
                current.push(tok);
            }
        }
    }
    push_statement(current, comments, out);
}

fn last_word(tokens: &[TokenWithSpan]) -> Option<String> {
    tokens.iter().rev().find(|t| !matches!(t.token, Token::Whitespace(_))).and_then(word)
}

fn push_statement(tokens: Vec<TokenWithSpan>, mut comments: Vec<(Pos, String)>, out: &mut Vec<RawStmt>) {
    // Comments at the start of a chunk (custom delimiter regions) are the statement's own.
    let first = tokens.iter().position(|t| !matches!(t.token, Token::Whitespace(_)));
    let Some(first) = first else { return };
    for t in &tokens[..first] {
        if let Token::Whitespace(Whitespace::SingleLineComment { comment, .. }) = &t.token {
            comments.push((pos(t.span.start), comment.trim().to_string()));
        }
    }
    out.push(RawStmt { tokens: tokens[first..].to_vec(), comments });
}

pub fn pos(l: sqlparser::tokenizer::Location) -> Pos {
    Pos { line: l.line as usize, column: l.column as usize }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(sql: &str) -> Vec<(usize, usize)> {
        split(sql)
            .unwrap()
            .iter()
            .map(|s| (pos(s.tokens[0].span.start).line, pos(s.tokens[0].span.start).column))
            .collect()
    }

    #[test]
    fn delimiter_blocks_keep_trigger_bodies_whole() {
        let sql = "SET x = 1;\nDELIMITER //\nCREATE TRIGGER a BEFORE INSERT ON t FOR EACH ROW\nBEGIN\n  SET NEW.b = 1;\nEND//\nDELIMITER ;\nDROP TABLE u;";
        assert_eq!(starts(sql), vec![(1, 1), (3, 1), (8, 1)]);
        let stmts = split(sql).unwrap();
        assert!(stmts[1].tokens.iter().all(|t| !matches!(t.token, Token::Div)));
    }

    #[test]
    fn begin_end_bodies_without_delimiter_and_quotes() {
        let sql = "CREATE TRIGGER a BEFORE UPDATE ON t FOR EACH ROW BEGIN\n IF NEW.a <=> OLD.a THEN SET NEW.b = ';'; END IF;\nEND;\nSELECT 1; -- done\n";
        assert_eq!(starts(sql), vec![(1, 1), (4, 1)]);
        let sql = "DELIMITER ;;\nSELECT ';;' ;;\n# c ;;\nSELECT 2;;\nDELIMITER ;\n";
        assert_eq!(starts(sql), vec![(2, 1), (4, 1)]);
    }

    #[test]
    fn comments_before_a_statement_are_kept() {
        let stmts = split("-- planner:ignore drop-column ok\nALTER TABLE t DROP COLUMN c;").unwrap();
        assert_eq!(stmts[0].comments[0].1, "planner:ignore drop-column ok");
    }
}
