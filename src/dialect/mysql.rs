//! MySQL and MariaDB behind the dialect seam: only what is cheap and certain so far — backtick
//! quoting, the 64-character identifier limit, sqlparser's MySQL dialect, the flavour and version,
//! and the common built-in type spellings. DDL rendering and the change tactics refuse with a
//! clear "not supported on MySQL/MariaDB yet" until they are built (see ../shared design §9).

use super::{not_yet, Flavour, IdentLimit, IndexCopy, ServerVersion, SqlDialect, SyncSteps};
use crate::error::ChangeError;
use crate::model::Index;
use crate::plan::Step;
use crate::sql::ddl::{Ddl, SyncPart};
use crate::sql::{Ident, QualifiedName};

/// MySQL or MariaDB of one major.minor version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MySql {
    /// [`Flavour::Mysql`] or [`Flavour::Mariadb`].
    pub flavour: Flavour,
    pub version: ServerVersion,
}

/// MySQL and MariaDB refuse identifiers longer than 64 characters (they do not truncate).
pub const MAX_IDENT_CHARS: usize = 64;

impl SqlDialect for MySql {
    fn flavour(&self) -> Flavour {
        self.flavour
    }

    fn version(&self) -> ServerVersion {
        self.version
    }

    fn parser(&self) -> Box<dyn sqlparser::dialect::Dialect> {
        Box::new(sqlparser::dialect::MySqlDialect {})
    }

    fn quote_ident(&self, name: &str) -> String {
        format!("`{}`", name.replace('`', "``"))
    }

    fn ident_limit(&self) -> IdentLimit {
        IdentLimit::Chars(MAX_IDENT_CHARS)
    }

    /// As `information_schema.columns.column_type` spells the common types (`int`, `bigint`,
    /// `varchar(200)`, `tinyint(1)` for boolean, `datetime(3)`); display widths such as
    /// `int(11)` are dropped as MySQL 8 and MariaDB ignore them for storage.
    fn canonical_type(&self, text: &str) -> Option<String> {
        let lower = text.trim().to_lowercase();
        let lower = lower.split_whitespace().collect::<Vec<_>>().join(" ");
        let (base, modifier) = match lower.find('(') {
            Some(i) => {
                let m = lower[i..].strip_suffix(')')?.strip_prefix('(')?.replace(' ', "");
                if m.is_empty()
                    || !m.split(',').all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
                {
                    return None;
                }
                (lower[..i].trim().to_string(), Some(m))
            }
            None => (lower, None),
        };
        let with = |name: &str| match &modifier {
            Some(m) => format!("{name}({m})"),
            None => name.to_string(),
        };
        Some(match base.as_str() {
            "bool" | "boolean" if modifier.is_none() => "tinyint(1)".to_string(),
            "tinyint" if modifier.as_deref() == Some("1") => "tinyint(1)".to_string(),
            "int" | "integer" => "int".to_string(),
            "tinyint" | "smallint" | "mediumint" | "bigint" => base.clone(),
            "varchar" | "char" | "varbinary" | "binary" if modifier.is_some() => with(&base),
            "decimal" | "numeric" => with("decimal"),
            "datetime" | "timestamp" | "time" => with(&base),
            "date" | "year" | "text" | "tinytext" | "mediumtext" | "longtext" | "blob" | "tinyblob"
            | "mediumblob" | "longblob" | "json" | "float" | "double"
                if modifier.is_none() =>
            {
                base.clone()
            }
            _ => return None,
        })
    }

    fn render(&self, _ddl: &Ddl) -> Result<String, ChangeError> {
        Err(not_yet(self.flavour, "table", "generating DDL"))
    }

    fn not_null_without_long_lock(
        &self,
        _table: &QualifiedName,
        _column: &Ident,
        _check: &Ident,
        field: &'static str,
    ) -> Result<Vec<Step>, ChangeError> {
        Err(not_yet(self.flavour, field, "adding NOT NULL without a long lock"))
    }

    fn sync_columns(
        &self,
        _plan: &str,
        _parts: &[(QualifiedName, SyncPart)],
    ) -> Result<SyncSteps, ChangeError> {
        Err(not_yet(self.flavour, "table", "keeping two columns in sync with triggers"))
    }

    fn copy_index(
        &self,
        _table: &QualifiedName,
        _index: &Index,
        _from: &Ident,
        _to: &Ident,
        field: &'static str,
    ) -> Result<IndexCopy, ChangeError> {
        Err(not_yet(self.flavour, field, "copying an index onto the new column"))
    }

    /// Plans run through `exec::mysql` (MariaDB 10.11 tested; MySQL 8 untested).
    fn execution(&self) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maria() -> MySql {
        MySql { flavour: Flavour::Mariadb, version: ServerVersion::major_minor(10, 11) }
    }

    #[test]
    fn common_types_are_spelled_as_information_schema_prints_them() {
        let d = maria();
        for (input, expected) in [
            ("INT", "int"),
            ("integer", "int"),
            ("BIGINT", "bigint"),
            ("boolean", "tinyint(1)"),
            ("VARCHAR( 200 )", "varchar(200)"),
            ("numeric(10,2)", "decimal(10,2)"),
            ("datetime(3)", "datetime(3)"),
            ("text", "text"),
        ] {
            assert_eq!(d.canonical_type(input).as_deref(), Some(expected), "{input}");
        }
        for unknown in ["varchar", "jsonb", "text(5", "int(x)", "timestamptz"] {
            assert_eq!(d.canonical_type(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn tactics_refuse_clearly_until_they_are_built() {
        let d = maria();
        let t = QualifiedName::from_user("users", "app").unwrap();
        let c = Ident::new("email").unwrap();
        let err = d.not_null_without_long_lock(&t, &c, &c, "column").unwrap_err();
        assert_eq!(err.field, "column");
        assert!(err.message.contains("not supported on MySQL/MariaDB yet"), "{}", err.message);
        assert!(err.message.contains("MariaDB"), "{}", err.message);
        assert!(d.sync_columns("p", &[]).unwrap_err().message.contains("not supported on MySQL/MariaDB yet"));
        let ddl = Ddl::DropColumn { table: t, column: c, if_exists: false };
        assert!(d.render(&ddl).unwrap_err().message.contains("not supported on MySQL/MariaDB yet"));
    }
}
