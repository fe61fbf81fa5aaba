//! A user-supplied SQL expression (a backfill or a default), validated by sqlparser.

use std::fmt;

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};
use sqlparser::ast::{visit_expressions, Expr};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// Built-in functions whose result changes per row (random values, the clock, sequences): a
/// DEFAULT calling one is evaluated for every existing row, so ADD COLUMN rewrites the table. The
/// linter reports these as volatile; the planner treats every function it does not know to be
/// stable as volatile anyway.
pub const VOLATILE_FUNCTIONS: &[&str] = &[
    "random",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "uuidv4",
    "uuidv7",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "setseed",
];

/// Built-in functions both the linter and the planner know to be STABLE or IMMUTABLE (the same
/// value for every row of one statement). Each adds the few more it knows about.
pub const STABLE_FUNCTIONS: &[&str] = &[
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
    "localtime",
    "transaction_timestamp",
    "statement_timestamp",
    "current_user",
    "lower",
    "upper",
    "coalesce",
    "to_jsonb",
    "jsonb_build_object",
    "json_build_object",
    "make_interval",
];

/// Functions a fill or default expression may call besides [`STABLE_FUNCTIONS`] and the
/// generators in [`VOLATILE_FUNCTIONS`]: immutable or stable built-ins with no side effects.
/// Anything else (a function that writes, signals or sleeps) is refused unless the user names it
/// with `--allow-function`: an expression in a trigger runs on every app write.
pub const PURE_FUNCTIONS: &[&str] = &[
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "concat",
    "concat_ws",
    "abs",
    "round",
    "floor",
    "ceil",
    "ceiling",
    "trunc",
    "mod",
    "power",
    "sqrt",
    "sign",
    "greatest",
    "least",
    "nullif",
    "coalesce",
    "trim",
    "btrim",
    "ltrim",
    "rtrim",
    "substr",
    "substring",
    "replace",
    "left",
    "right",
    "lpad",
    "rpad",
    "split_part",
    "strpos",
    "position",
    "reverse",
    "repeat",
    "initcap",
    "md5",
    "sha256",
    "encode",
    "decode",
    "to_char",
    "to_number",
    "to_date",
    "to_timestamp",
    "date_trunc",
    "date_part",
    "extract",
    "age",
    "make_date",
    "make_timestamp",
    "make_timestamptz",
    "format",
    "regexp_replace",
    "regexp_match",
    "array_length",
    "cardinality",
    "array_to_string",
    "string_to_array",
    "jsonb_extract_path_text",
    "jsonb_typeof",
    "json_typeof",
    "jsonb_array_length",
    "to_json",
    "row_to_json",
    "current_setting",
    "quote_ident",
    "quote_literal",
    "starts_with",
    "ascii",
    "chr",
    "translate",
    "timezone",
];

/// An expression that parsed on its own, with nothing after it (so `1; DROP TABLE x` is refused),
/// no comment, no dollar quote and no subquery. Held in the form sqlparser renders back from the
/// parsed tree, never the user's text: what was reviewed is what the tree says.
/// Rendered in parentheses so it composes safely into larger statements.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SqlExpr(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a single SQL expression: {message}")]
pub struct ExprError {
    pub message: String,
    /// 1-based line and column inside the expression text, when the parser knows it.
    pub line: u64,
    pub column: u64,
}

impl ExprError {
    fn new(message: impl Into<String>) -> Self {
        ExprError { message: message.into(), line: 0, column: 0 }
    }
}

impl SqlExpr {
    /// Parse and check a user expression, calling only functions planner knows to be free of side
    /// effects (or named in `allowed`).
    pub fn parse_allowing(text: &str, allowed: &[String]) -> Result<Self, ExprError> {
        let (expr, parsed) = parse_checked(text)?;
        if let Some(f) = functions(&parsed).into_iter().find(|f| {
            !STABLE_FUNCTIONS.contains(&f.as_str())
                && !VOLATILE_FUNCTIONS.contains(&f.as_str())
                && !PURE_FUNCTIONS.contains(&f.as_str())
                && !allowed.iter().any(|a| a.eq_ignore_ascii_case(f))
        }) {
            return Err(ExprError::new(format!(
                "it calls `{f}`, which planner does not know to be free of side effects (the expression runs in a trigger on every app write); if it is, pass --allow-function {f}"
            )));
        }
        Ok(expr)
    }

    /// [`parse_allowing`](Self::parse_allowing) with planner's own list of functions only.
    pub fn parse(text: &str) -> Result<Self, ExprError> {
        Self::parse_allowing(text, &[])
    }

    /// The expression as rendered from its parsed form, without parentheses.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parsed tree (the text always parses: it was rendered from a tree).
    pub fn ast(&self) -> Option<Expr> {
        Parser::new(&PostgreSqlDialect {}).try_with_sql(&self.0).and_then(|mut p| p.parse_expr()).ok()
    }
}

/// Syntax and safety checks shared by user input and plan.yaml: one expression, nothing after it,
/// no comments (`0 -- x` would swallow what follows), no dollar quotes, no subqueries.
fn parse_checked(text: &str) -> Result<(SqlExpr, Expr), ExprError> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, text).tokenize().map_err(|e| ExprError::new(e.to_string()))?;
    for token in &tokens {
        match token {
            Token::Whitespace(Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_)) => {
                return Err(ExprError::new("it contains a comment; write the expression without one"))
            }
            Token::SemiColon => {
                return Err(ExprError::new("it contains `;`: one expression, not statements"))
            }
            Token::DollarQuotedString(_) => {
                return Err(ExprError::new("it contains a dollar-quoted string; use '…' quoting"))
            }
            _ => {}
        }
    }
    let mut parser = Parser::new(&dialect).try_with_sql(text).map_err(|e| ExprError::new(e.to_string()))?;
    let parsed = parser.parse_expr().map_err(|e| ExprError::new(e.to_string()))?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(ExprError {
            message: format!("unexpected `{}` after the expression", next.token),
            line: next.span.start.line,
            column: next.span.start.column,
        });
    }
    let subquery = visit_expressions(&parsed, |e| match e {
        Expr::Subquery(_) | Expr::Exists { .. } => ControlFlow::Break(()),
        Expr::In { target: sqlparser::ast::InTarget::Subquery(_), .. } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    if subquery.is_break() {
        return Err(ExprError::new(
            "it contains a subquery; a fill or default is an expression over the row's own columns",
        ));
    }
    Ok((SqlExpr(parsed.to_string()), parsed))
}

/// The functions a user expression calls (lower-case bare names); empty when it does not parse.
pub fn functions_in(text: &str) -> Vec<String> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map(|e| functions(&e))
        .unwrap_or_default()
}

/// Lower-case bare names of the functions an expression calls.
fn functions(expr: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    let _ = visit_expressions(expr, |e| {
        if let Expr::Function(f) = e {
            let name = f.name.0.last().map(|p| p.to_string()).unwrap_or_default();
            let bare = name.trim_matches('"').to_lowercase();
            if !out.contains(&bare) {
                out.push(bare);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

// plan.yaml holds expressions too: the same syntax and safety checks apply when it is read.
impl<'de> Deserialize<'de> for SqlExpr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let (expr, _) = parse_checked(&text).map_err(serde::de::Error::custom)?;
        if expr.0 != text {
            return Err(serde::de::Error::custom(format!(
                "expression `{text}` is not in the form planner writes (`{}`)",
                expr.0
            )));
        }
        Ok(expr)
    }
}

impl fmt::Display for SqlExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_expressions_and_renders_them_parenthesised() {
        let e = SqlExpr::parse("verified_at IS NOT NULL").unwrap();
        assert_eq!(e.to_string(), "(verified_at IS NOT NULL)");
        assert_eq!(crate::sql::rewrite::referenced_columns(e.as_str()), vec!["verified_at".to_string()]);
    }

    #[test]
    fn refuses_trailing_statements() {
        let err = SqlExpr::parse("1; DROP TABLE users").unwrap_err();
        assert!(err.message.contains("one expression, not statements"), "{err}");
        let err = SqlExpr::parse("1 2").unwrap_err();
        assert!(err.message.contains("after the expression"), "{err}");
        assert!(SqlExpr::parse("").is_err());
        assert!(SqlExpr::parse("a +").is_err());
    }

    #[test]
    fn refuses_comments_dollar_quotes_subqueries_and_side_effects() {
        for (text, why) in [
            ("0 -- x", "comment"),
            ("true /* x */", "comment"),
            ("'$planner$' || email", ""),
            ("$x$a$x$", "dollar-quoted"),
            ("(SELECT max(id) FROM users)", "subquery"),
            ("id IN (SELECT id FROM other)", "subquery"),
            ("EXISTS (SELECT 1)", "subquery"),
            ("pg_terminate_backend(pg_backend_pid())", "pg_terminate_backend"),
            ("pg_sleep(1) IS NULL", "pg_sleep"),
        ] {
            match SqlExpr::parse(text) {
                Ok(e) if why.is_empty() => assert_eq!(e.as_str(), "'$planner$' || email"),
                Ok(e) => panic!("{text} accepted as {e}"),
                Err(err) => assert!(err.message.contains(why), "{text}: {err}"),
            }
        }
        assert!(SqlExpr::parse_allowing("my_fn(id)", &["my_fn".into()]).is_ok());
        assert!(SqlExpr::parse("gen_random_uuid()").is_ok());
    }

    #[test]
    fn is_held_as_rendered_from_the_tree() {
        assert_eq!(
            SqlExpr::parse("  verified_at   IS NOT NULL ").unwrap().as_str(),
            "verified_at IS NOT NULL"
        );
        let yaml = serde_yaml_ng::to_string(&SqlExpr::parse("length(name) > 0").unwrap()).unwrap();
        let back: SqlExpr = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(back.as_str(), "length(name) > 0");
        assert!(serde_yaml_ng::from_str::<SqlExpr>("'1 -- x'").is_err());
    }
}
