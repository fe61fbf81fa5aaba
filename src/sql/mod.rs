//! SQL text: identifiers, user expressions and the one place DDL is formatted.

pub mod catalog;
pub mod ddl;
pub mod expr;
pub mod ident;
pub mod mysql_ddl;
pub mod mysql_expr;
pub mod render;
pub mod rewrite;

pub use expr::SqlExpr;
pub use ident::{quote_literal, Ident, QualifiedName};
