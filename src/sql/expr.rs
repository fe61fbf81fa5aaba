//! A user-supplied SQL expression (a backfill or a default), validated by sqlparser.

use std::fmt;

use serde::{Deserialize, Serialize};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

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

/// An expression that parsed on its own, with nothing after it (so `1; DROP TABLE x` is refused).
/// Rendered in parentheses so it composes safely into larger statements.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

impl SqlExpr {
    pub fn parse(text: &str) -> Result<Self, ExprError> {
        let dialect = PostgreSqlDialect {};
        let mut parser = Parser::new(&dialect).try_with_sql(text).map_err(|e| ExprError {
            message: e.to_string(),
            line: 0,
            column: 0,
        })?;
        parser.parse_expr().map_err(|e| ExprError { message: e.to_string(), line: 0, column: 0 })?;
        let next = parser.peek_token();
        if next.token != Token::EOF {
            return Err(ExprError {
                message: format!("unexpected `{}` after the expression", next.token),
                line: next.span.start.line,
                column: next.span.start.column,
            });
        }
        Ok(SqlExpr(text.trim().to_string()))
    }

    /// The expression as the user wrote it (trimmed), without parentheses.
    pub fn as_str(&self) -> &str {
        &self.0
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
        assert!(err.message.contains("after the expression"), "{err}");
        assert!(SqlExpr::parse("").is_err());
        assert!(SqlExpr::parse("a +").is_err());
    }
}
