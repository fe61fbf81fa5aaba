//! A tokenizer-level reading of statements sqlparser rejects although PostgreSQL accepts them:
//! the table a statement targets, each action of a multi-action ALTER TABLE, a function's name and
//! volatility. Rules and context then still see what the statement does.

use sqlparser::ast::{ObjectName, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Whitespace};

use super::{parse_one, Parsed, Volatility};

/// Indices of the tokens that are not whitespace or comments.
fn significant(toks: &[TokenWithSpan]) -> Vec<usize> {
    toks.iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_)))
        .map(|(i, _)| i)
        .collect()
}

fn word(toks: &[TokenWithSpan], i: Option<&usize>) -> Option<String> {
    match &toks.get(*i?)?.token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_uppercase()),
        _ => None,
    }
}

/// The object name starting at token `from`.
fn name_at(dialect: &PostgreSqlDialect, toks: &[TokenWithSpan], from: usize) -> Option<ObjectName> {
    let mut parser = Parser::new(dialect).with_tokens_with_locations(toks.get(from..)?.to_vec());
    parser.parse_object_name(false).ok()
}

/// Position (in `sig`) just after the words `seq`, each optional word allowed to be absent.
fn skip_words(toks: &[TokenWithSpan], sig: &[usize], mut k: usize, optional: &[&[&str]]) -> usize {
    for opt in optional {
        let matches = opt.iter().enumerate().all(|(j, w)| word(toks, sig.get(k + j)).as_deref() == Some(*w));
        if matches {
            k += opt.len();
        }
    }
    k
}

/// The table a statement targets (CREATE/ALTER/DROP TABLE, CREATE INDEX ... ON), read from tokens.
pub fn target(dialect: &PostgreSqlDialect, words: &[&str], toks: &[TokenWithSpan]) -> Option<ObjectName> {
    let sig = significant(toks);
    let at = |k: usize| name_at(dialect, toks, *sig.get(k)?);
    match words {
        ["CREATE", ..] => {
            let k = skip_words(
                toks,
                &sig,
                1,
                &[
                    &["OR", "REPLACE"],
                    &["GLOBAL"],
                    &["LOCAL"],
                    &["TEMP"],
                    &["TEMPORARY"],
                    &["UNLOGGED"],
                    &["UNIQUE"],
                ],
            );
            match word(toks, sig.get(k)).as_deref() {
                Some("TABLE") => at(skip_words(toks, &sig, k + 1, &[&["IF", "NOT", "EXISTS"]])),
                Some("INDEX") => {
                    let on = (k..sig.len()).find(|&j| word(toks, sig.get(j)).as_deref() == Some("ON"))?;
                    at(skip_words(toks, &sig, on + 1, &[&["ONLY"]]))
                }
                _ => None,
            }
        }
        ["ALTER", "TABLE", ..] => at(skip_words(toks, &sig, 2, &[&["IF", "EXISTS"], &["ONLY"]])),
        ["DROP", "TABLE", ..] => at(skip_words(toks, &sig, 2, &[&["IF", "EXISTS"]])),
        _ => None,
    }
}

/// A multi-action ALTER TABLE sqlparser rejects: each action is parsed alone
/// (`ALTER TABLE t <action>`). Returns one ALTER TABLE holding every action that parsed (None
/// when none did) and the text of those neither parsed nor recognised as catalog-only.
pub fn alter_table_actions(
    dialect: &PostgreSqlDialect,
    toks: &[TokenWithSpan],
) -> Option<(Option<Statement>, Vec<String>)> {
    let sig = significant(toks);
    if word(toks, sig.first()).as_deref() != Some("ALTER")
        || word(toks, sig.get(1)).as_deref() != Some("TABLE")
    {
        return None;
    }
    let mut k = skip_words(toks, &sig, 2, &[&["IF", "EXISTS"], &["ONLY"]]);
    // name: part (. part)*
    k += 1;
    while matches!(sig.get(k).map(|&i| &toks[i].token), Some(Token::Period)) {
        k += 2;
    }
    let header_end = *sig.get(k - 1)? + 1;
    let (header, rest) = toks.split_at(header_end.min(toks.len()));
    let mut actions: Vec<Vec<TokenWithSpan>> = vec![Vec::new()];
    let mut depth = 0i32;
    for t in rest {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                actions.push(Vec::new());
                continue;
            }
            _ => {}
        }
        actions.last_mut().expect("never empty").push(t.clone());
    }
    let mut base: Option<sqlparser::ast::AlterTable> = None;
    let mut ops = Vec::new();
    let mut unread = Vec::new();
    for action in actions {
        let mut one = header.to_vec();
        one.push(TokenWithSpan::wrap(Token::Whitespace(Whitespace::Space)));
        one.extend(action.iter().cloned());
        match parse_one(dialect, one) {
            Parsed::Yes(s) => {
                if let Statement::AlterTable(at) = *s {
                    ops.extend(at.operations.iter().cloned());
                    base.get_or_insert(at);
                }
            }
            Parsed::No { .. } if catalog_only_action(&action) => {}
            Parsed::No { .. } => {
                unread.push(action.iter().map(|t| t.token.to_string()).collect::<String>().trim().to_string())
            }
        }
    }
    let ast = base.map(|mut at| {
        at.operations = ops;
        Statement::AlterTable(at)
    });
    Some((ast, unread))
}

/// ALTER TABLE actions sqlparser 0.64 cannot parse that only change the catalog under a brief
/// lock: ALTER CONSTRAINT (deferrability), per-column and table storage options, statistics
/// targets, storage/compression for new values, identity on an existing column (added with
/// sequence options, changed, restarted, removed), CLUSTER ON, OWNER, triggers, RLS.
fn catalog_only_action(action: &[TokenWithSpan]) -> bool {
    let sig: Vec<String> = action
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .map(|t| match &t.token {
            Token::Word(w) if w.quote_style.is_none() => w.value.to_uppercase(),
            Token::Word(_) => "\"name\"".to_string(),
            other => other.to_string(),
        })
        .collect();
    let s: Vec<&str> = sig.iter().map(String::as_str).collect();
    let column_tail = |rest: &[&str]| {
        matches!(
            rest,
            ["SET", "(", ..]
                | ["RESET", "(", ..]
                | ["SET", "STATISTICS", ..]
                | ["SET", "STORAGE", ..]
                | ["SET", "COMPRESSION", ..]
                | ["DROP", "IDENTITY", ..]
                | ["ADD", "GENERATED", ..]
                | ["SET", "GENERATED", ..]
                | ["RESTART", ..]
        )
    };
    match s.as_slice() {
        ["ALTER", "CONSTRAINT", ..] => true,
        ["ALTER", "COLUMN", _, rest @ ..] => column_tail(rest),
        ["ALTER", col, rest @ ..] if *col != "COLUMN" => column_tail(rest),
        ["SET", "(", ..] | ["RESET", "(", ..] => true,
        ["CLUSTER", "ON", ..] | ["SET", "WITHOUT", "CLUSTER"] | ["SET", "WITHOUT", "OIDS"] => true,
        ["OWNER", "TO", ..] | ["REPLICA", "IDENTITY", ..] => true,
        ["ENABLE", ..] | ["DISABLE", ..] | ["FORCE", ..] | ["NO", "FORCE", ..] => true,
        _ => false,
    }
}

/// `CREATE [OR REPLACE] FUNCTION name ...`: the name (last part, folded) and its volatility.
pub fn function_decl(dialect: &PostgreSqlDialect, toks: &[TokenWithSpan]) -> Option<(String, Volatility)> {
    let sig = significant(toks);
    if word(toks, sig.first()).as_deref() != Some("CREATE") {
        return None;
    }
    let k = skip_words(toks, &sig, 1, &[&["OR", "REPLACE"]]);
    if word(toks, sig.get(k)).as_deref() != Some("FUNCTION") {
        return None;
    }
    let name = name_at(dialect, toks, *sig.get(k + 1)?)?;
    let last = name.0.last()?.as_ident()?;
    let mut volatility = Volatility::Volatile;
    for i in &sig {
        match word(toks, Some(i)).as_deref() {
            Some("IMMUTABLE") => volatility = Volatility::Immutable,
            Some("STABLE") => volatility = Volatility::Stable,
            Some("VOLATILE") => volatility = Volatility::Volatile,
            _ => {}
        }
    }
    Some((crate::sql::ident::fold_ast_ident(last), volatility))
}
