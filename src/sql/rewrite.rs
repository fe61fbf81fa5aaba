//! Column references inside SQL expressions (CHECK bodies, index expressions, predicates):
//! finding them and renaming them, through sqlparser's AST rather than text search.

use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions, visit_expressions_mut, Expr};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::Ident;

fn parse(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {}).try_with_sql(sql).and_then(|mut p| p.parse_expr()).ok()
}

fn ident_matches(id: &sqlparser::ast::Ident, column: &Ident) -> bool {
    super::ident::fold_ast_ident(id) == column.as_str()
}

/// Does the expression mention `column` (bare or as the last part of a qualified name)?
/// Unparseable text falls back to a conservative substring test.
pub fn references_column(sql: &str, column: &Ident) -> bool {
    let Some(expr) = parse(sql) else {
        return sql.contains(column.as_str());
    };
    let found = visit_expressions(&expr, |e| {
        let hit = match e {
            Expr::Identifier(id) => ident_matches(id, column),
            Expr::CompoundIdentifier(parts) => parts.last().is_some_and(|id| ident_matches(id, column)),
            _ => false,
        };
        if hit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found.is_break()
}

/// Every column name the expression mentions (folded as PostgreSQL folds them).
pub fn referenced_columns(sql: &str) -> Vec<String> {
    parse(sql).map(|expr| column_names(&expr)).unwrap_or_default()
}

/// Column names mentioned anywhere in an AST node (bare or the last part of a qualified name).
fn column_names<V: sqlparser::ast::Visit>(node: &V) -> Vec<String> {
    let mut out = Vec::new();
    let _ = visit_expressions(node, |e| {
        let id = match e {
            Expr::Identifier(id) => Some(id),
            Expr::CompoundIdentifier(parts) => parts.last(),
            _ => None,
        };
        if let Some(id) = id {
            let name = super::ident::fold_ast_ident(id);
            if !out.contains(&name) {
                out.push(name);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// The expression with every reference to `from` renamed to `to` (always quoted).
pub fn rename_column(sql: &str, from: &Ident, to: &Ident) -> Result<String, String> {
    let mut expr = parse(sql).ok_or_else(|| format!("cannot parse expression `{sql}`"))?;
    let new_ident = sqlparser::ast::Ident::with_quote('"', to.as_str());
    let _ = visit_expressions_mut(&mut expr, |e| {
        match e {
            Expr::Identifier(id) if ident_matches(id, from) => *id = new_ident.clone(),
            Expr::CompoundIdentifier(parts) => {
                if let Some(last) = parts.last_mut() {
                    if ident_matches(last, from) {
                        *last = new_ident.clone();
                    }
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(expr.to_string())
}

/// The expression with every bare reference to one of `columns` qualified as `prefix."col"`
/// (`NEW."verified_at"` inside a trigger), rendered from the parsed tree.
pub fn qualify_columns(expr: &super::SqlExpr, columns: &[Ident], prefix: &str) -> String {
    let Some(mut tree) = expr.ast() else { return expr.to_string() };
    let _ = visit_expressions_mut(&mut tree, |e| {
        if let Expr::Identifier(id) = e {
            if let Some(column) = columns.iter().find(|c| ident_matches(id, c)) {
                *e = Expr::CompoundIdentifier(vec![
                    sqlparser::ast::Ident::new(prefix),
                    sqlparser::ast::Ident::with_quote('"', column.as_str()),
                ]);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    format!("({tree})")
}

/// Column names a query mentions anywhere (select list, joins, filters).
pub fn referenced_columns_in_query(query: &sqlparser::ast::Query) -> Vec<String> {
    column_names(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Ident {
        Ident::new(s).unwrap()
    }

    #[test]
    fn finds_and_renames_column_references() {
        assert!(references_column("length(name) > 0", &id("name")));
        assert!(!references_column("length(nickname) > 0", &id("name")));
        assert!(references_column("\"Order Id\" > 0", &id("Order Id")));
        assert!(!references_column("\"Name\" > 0", &id("name")));
        assert_eq!(
            rename_column("length(name) > 0", &id("name"), &id("full_name")).unwrap(),
            "length(\"full_name\") > 0"
        );
        assert_eq!(referenced_columns("a + \"B\" > lower(c)"), vec!["a", "B", "c"]);
    }
}
