//! A user expression (`backfill:`, `default:`) for a MySQL/MariaDB table: parsed with sqlparser's
//! MySQL dialect, checked, and rendered from the tree with every column backquoted — over the
//! row (`\`c\``, for the backfill) or over a trigger's `NEW` row (`NEW.\`c\``).

use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions, visit_expressions_mut, BinaryOperator, Expr};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use super::mysql_ddl::quote_ident;
use super::Ident;

/// Functions whose value differs per call or per session: as a trigger fill they are fine, as a
/// column DEFAULT MariaDB 10.11 adds them only by copying the table (§1: `DEFAULT (UUID())`).
const VOLATILE: &[&str] = &["uuid", "uuid_short", "rand", "sysdate", "connection_id", "current_user", "user"];

/// A checked expression over one table's columns.
#[derive(Debug, Clone, PartialEq)]
pub struct MySqlExpr {
    tree: Expr,
    /// Columns of the table it reads, in first-use order.
    pub columns: Vec<Ident>,
}

impl MySqlExpr {
    /// Parse `text` and check that every column it names is one of `columns`.
    pub fn parse(text: &str, columns: &[Ident]) -> Result<MySqlExpr, String> {
        let dialect = MySqlDialect {};
        let tokens = Tokenizer::new(&dialect, text).tokenize().map_err(|e| e.to_string())?;
        for token in &tokens {
            match token {
                Token::Whitespace(Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_)) => {
                    return Err("it contains a comment; write the expression without one".into())
                }
                Token::SemiColon => return Err("it contains `;`: one expression, not statements".into()),
                _ => {}
            }
        }
        let mut parser = Parser::new(&dialect).try_with_sql(text).map_err(|e| e.to_string())?;
        let tree = parser.parse_expr().map_err(|e| e.to_string())?;
        if parser.peek_token().token != Token::EOF {
            return Err(format!("unexpected `{}` after the expression", parser.peek_token().token));
        }
        let mut problem = None;
        let mut used: Vec<Ident> = Vec::new();
        let _ = visit_expressions(&tree, |e| {
            match e {
                Expr::Subquery(_) | Expr::Exists { .. } => {
                    problem = Some("it contains a subquery; a fill is an expression over the row's own columns".to_string())
                }
                Expr::BinaryOp { op: BinaryOperator::StringConcat, .. } => {
                    problem = Some("it uses `||`, which is OR in the default sql_mode and concatenation under PIPES_AS_CONCAT (triggers keep their creator's mode); write CONCAT(a, b)".to_string())
                }
                Expr::CompoundIdentifier(_) => {
                    problem = Some("name columns of the table without a qualifier".to_string())
                }
                Expr::Identifier(id) => match columns.iter().find(|c| c.as_str().eq_ignore_ascii_case(&id.value)) {
                    Some(c) if !used.contains(c) => used.push(c.clone()),
                    Some(_) => {}
                    None => problem = Some(format!("column `{}` does not exist in the table", id.value)),
                },
                _ => {}
            }
            if problem.is_some() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if let Some(p) = problem {
            return Err(p);
        }
        Ok(MySqlExpr { tree, columns: used })
    }

    /// True when it calls a function whose value differs per call or session.
    pub fn is_volatile(&self) -> bool {
        let mut volatile = false;
        let _ = visit_expressions(&self.tree, |e| {
            if let Expr::Function(f) = e {
                let name = f.name.to_string().trim_matches('`').to_lowercase();
                if VOLATILE.contains(&name.as_str()) {
                    volatile = true;
                }
            }
            ControlFlow::<()>::Continue(())
        });
        volatile
    }

    /// True for a literal (`0`, `'x'`, `TRUE`, `NULL`, `-1`) or `CURRENT_TIMESTAMP`: a DEFAULT
    /// MariaDB adds instantly.
    pub fn is_constant(&self) -> bool {
        match &self.tree {
            Expr::Value(_) => true,
            Expr::UnaryOp { expr, .. } => matches!(**expr, Expr::Value(_)),
            Expr::Function(f) => {
                let name = f.name.to_string().to_lowercase();
                ["current_timestamp", "now", "localtimestamp"].contains(&name.as_str())
            }
            Expr::Identifier(id) => {
                id.value.eq_ignore_ascii_case("current_timestamp") && id.quote_style.is_none()
            }
            _ => false,
        }
    }

    /// Over the row: columns backquoted.
    pub fn over_row(&self) -> String {
        self.render(None)
    }

    /// Over a trigger row: `NEW.\`c\``.
    pub fn over(&self, row: &str) -> String {
        self.render(Some(row))
    }

    fn render(&self, row: Option<&str>) -> String {
        let mut tree = self.tree.clone();
        let columns = self.columns.clone();
        let _ = visit_expressions_mut(&mut tree, |e| {
            if let Expr::Identifier(id) = e {
                if let Some(c) = columns.iter().find(|c| c.as_str().eq_ignore_ascii_case(&id.value)) {
                    let quoted = quote_ident(c);
                    let text = match row {
                        Some(r) => format!("{r}.{quoted}"),
                        None => quoted,
                    };
                    // Rendered text in an identifier without quote style prints verbatim.
                    *e = Expr::Identifier(sqlparser::ast::Ident::new(text));
                }
            }
            ControlFlow::<()>::Continue(())
        });
        tree.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<Ident> {
        ["verified_at", "name", "Email"].iter().map(|c| Ident::new(*c).unwrap()).collect()
    }

    #[test]
    fn renders_over_the_row_and_over_new() {
        let e = MySqlExpr::parse("verified_at IS NOT NULL AND email <> ''", &cols()).unwrap();
        assert_eq!(e.over_row(), "`verified_at` IS NOT NULL AND `Email` <> ''");
        assert_eq!(e.over("NEW"), "NEW.`verified_at` IS NOT NULL AND NEW.`Email` <> ''");
        assert_eq!(e.columns.len(), 2);
        assert!(!e.is_volatile() && !e.is_constant());
        assert!(MySqlExpr::parse("0", &cols()).unwrap().is_constant());
        assert!(MySqlExpr::parse("UUID()", &cols()).unwrap().is_volatile());
    }

    #[test]
    fn refuses_unknown_columns_subqueries_pipes_and_statements() {
        for (bad, why) in [
            ("nope + 1", "does not exist"),
            ("(SELECT 1)", "subquery"),
            ("name || 'x'", "CONCAT"),
            ("1; DROP TABLE users", ";"),
            ("1 -- x", "comment"),
            ("users.name", "qualifier"),
        ] {
            let err = MySqlExpr::parse(bad, &cols()).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
