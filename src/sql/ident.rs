//! Identifiers as PostgreSQL stores them, and their always-quoted rendering.

use std::fmt;

use serde::{Deserialize, Serialize};

/// PostgreSQL's NAMEDATALEN - 1: longer names are silently truncated by the server,
/// so we refuse them instead.
pub const MAX_IDENT_BYTES: usize = 63;

/// An identifier holding the exact catalog name (case and all).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ident(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("empty identifier")]
    Empty,
    #[error("identifier {0:?} contains a NUL byte")]
    Nul(String),
    #[error("identifier {0:?} is longer than 63 bytes; PostgreSQL would silently truncate it")]
    TooLong(String),
    #[error("unterminated quoted identifier {0:?}")]
    Unterminated(String),
}

impl Ident {
    /// The exact catalog name, no folding (from pg_catalog or from an already-parsed AST).
    pub fn new(name: impl Into<String>) -> Result<Self, IdentError> {
        let name = name.into();
        if name.is_empty() {
            return Err(IdentError::Empty);
        }
        if name.contains('\0') {
            return Err(IdentError::Nul(name));
        }
        if name.len() > MAX_IDENT_BYTES {
            return Err(IdentError::TooLong(name));
        }
        Ok(Ident(name))
    }

    /// A name as a user typed it: unquoted input folds to lower case as PostgreSQL does,
    /// `"Quoted"` input is kept verbatim (with `""` meaning one `"`).
    pub fn from_user(input: &str) -> Result<Self, IdentError> {
        let input = input.trim();
        if let Some(rest) = input.strip_prefix('"') {
            let inner = rest.strip_suffix('"').ok_or_else(|| IdentError::Unterminated(input.to_string()))?;
            Ident::new(inner.replace("\"\"", "\""))
        } else {
            Ident::new(input.to_lowercase())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    /// Always quoted, embedded quotes doubled: no keyword list needed, `user` and `Order Id` work.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.replace('"', "\"\""))
    }
}

/// The catalog name of an identifier as sqlparser read it: quoted text verbatim, unquoted text
/// folded to lower case, as PostgreSQL does.
pub fn fold_ast_ident(id: &sqlparser::ast::Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_lowercase()
    }
}

/// `schema.name`; the schema always comes from the model (default `public`).
/// Serialized as `schema.name` text (see `plan`), quoted only where needed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QualifiedName {
    pub schema: Ident,
    pub name: Ident,
}

impl QualifiedName {
    pub fn new(schema: Ident, name: Ident) -> Self {
        QualifiedName { schema, name }
    }

    /// Parse `table` or `schema.table` as typed by a user; splits on the first dot outside quotes.
    pub fn from_user(input: &str, default_schema: &str) -> Result<Self, IdentError> {
        let parts = split_dotted(input)?;
        match parts.as_slice() {
            [name] => Ok(QualifiedName::new(Ident::new(default_schema)?, Ident::from_user(name)?)),
            [schema, name] => Ok(QualifiedName::new(Ident::from_user(schema)?, Ident::from_user(name)?)),
            _ => Err(IdentError::Empty),
        }
    }

    /// Human form without quotes where they are not needed: `public.users`.
    pub fn display_short(&self) -> String {
        format!("{}.{}", short(&self.schema), short(&self.name))
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// An identifier shown to humans: bare when it is a plain lower-case word, quoted otherwise.
pub fn short(ident: &Ident) -> String {
    let s = ident.as_str();
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        s.to_string()
    } else {
        ident.to_string()
    }
}

/// Split `a.b.c` honouring double quotes (`"a.b".c` is two parts).
pub fn split_dotted(input: &str) -> Result<Vec<String>, IdentError> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut chars = input.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                current.push_str("\"\"");
                chars.next();
            }
            '"' => {
                in_quotes = !in_quotes;
                current.push('"');
            }
            '.' if !in_quotes => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if in_quotes {
        return Err(IdentError::Unterminated(input.to_string()));
    }
    parts.push(current);
    if parts.iter().any(|p| p.is_empty()) {
        return Err(IdentError::Empty);
    }
    Ok(parts)
}

/// `text` cut to at most `max` characters with `…`, for quoting user input in messages (a 30 MB
/// name is not echoed in full).
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

/// A string literal: `'` doubled; `E''` form when a backslash is present so that
/// `standard_conforming_strings` cannot change its meaning.
pub fn quote_literal(s: &str) -> String {
    if s.contains('\\') {
        format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquoted_input_folds_to_lower_case() {
        assert_eq!(Ident::from_user("Users").unwrap().as_str(), "users");
        assert_eq!(Ident::from_user("\"Users\"").unwrap().as_str(), "Users");
    }

    #[test]
    fn display_quotes_and_doubles_embedded_quotes() {
        assert_eq!(Ident::new("a\"b").unwrap().to_string(), "\"a\"\"b\"");
        assert_eq!(Ident::new("Order Id").unwrap().to_string(), "\"Order Id\"");
        assert_eq!(Ident::new("user").unwrap().to_string(), "\"user\"");
    }

    #[test]
    fn rejects_names_postgres_would_truncate() {
        assert!(matches!(Ident::new("x".repeat(64)), Err(IdentError::TooLong(_))));
        assert!(Ident::new("x".repeat(63)).is_ok());
        assert!(matches!(Ident::new(""), Err(IdentError::Empty)));
        assert!(matches!(Ident::new("a\0b"), Err(IdentError::Nul(_))));
    }

    #[test]
    fn qualified_names_from_user_input() {
        let q = QualifiedName::from_user("users", "public").unwrap();
        assert_eq!(q.to_string(), "\"public\".\"users\"");
        let q = QualifiedName::from_user("billing.\"Invoice.Lines\"", "public").unwrap();
        assert_eq!(q.schema.as_str(), "billing");
        assert_eq!(q.name.as_str(), "Invoice.Lines");
        assert!(QualifiedName::from_user("a..b", "public").is_err());
        assert!(QualifiedName::from_user("\"open", "public").is_err());
    }

    #[test]
    fn short_form_quotes_only_when_needed() {
        assert_eq!(short(&Ident::new("users").unwrap()), "users");
        assert_eq!(short(&Ident::new("MixedCase").unwrap()), "\"MixedCase\"");
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
    }
}
