//! The dialect seam: what planning needs to know about the target database, with no I/O.
//!
//! A [`Dialect`] answers for one family and server version: which sqlparser dialect reads its
//! SQL, how identifiers are quoted and how long they may be, how types are spelled, how a typed
//! [`Ddl`] step becomes a statement, and the change tactics whose shape differs per family
//! ("add NOT NULL without a long lock", "keep two columns in sync", "copy an index"). Change kinds
//! reach it through [`crate::change::PlanCx`]; the runtime counterpart is [`crate::backend`].
//!
//! PostgreSQL ([`postgres`]) is today's planner behind the seam. MySQL/MariaDB ([`mysql`]) has
//! what is cheap and certain (backtick quoting, 64-character names, the parser, flavour and
//! version); its tactics refuse with "not supported on MySQL/MariaDB yet" until they are built.

pub mod mysql;
pub mod postgres;

use std::fmt;

use crate::error::ChangeError;
use crate::model::Index;
use crate::plan::{Precondition, Step};
use crate::sql::ddl::{Ddl, SyncPart};
use crate::sql::{Ident, QualifiedName};

pub use crate::flavour::{Flavour, ServerVersion};

/// How long an identifier may be; the server would truncate or refuse a longer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentLimit {
    /// PostgreSQL: NAMEDATALEN - 1 = 63 bytes of UTF-8.
    Bytes(usize),
    /// MySQL/MariaDB: 64 characters.
    Chars(usize),
}

impl IdentLimit {
    pub fn allows(self, name: &str) -> bool {
        match self {
            IdentLimit::Bytes(max) => name.len() <= max,
            IdentLimit::Chars(max) => name.chars().count() <= max,
        }
    }
}

impl fmt::Display for IdentLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentLimit::Bytes(n) => write!(f, "{n} bytes"),
            IdentLimit::Chars(n) => write!(f, "{n} characters"),
        }
    }
}

/// A copy of an index built on another column: the step that builds it and what must hold
/// before contract relies on it.
#[derive(Debug, Clone)]
pub struct IndexCopy {
    /// The copy's planner name (renamed to the original's in contract).
    pub name: Ident,
    pub build: Step,
    pub ready: Precondition,
}

/// The steps that keep both shapes of the touched tables in sync while two app versions write.
#[derive(Debug, Clone, Default)]
pub struct SyncSteps {
    /// Expand: create what keeps the columns in sync.
    pub create: Vec<Step>,
    /// Contract: remove it again.
    pub drop: Vec<Step>,
    /// Contract preconditions: it is still in place.
    pub present: Vec<Precondition>,
}

/// What planning asks of a target family. Pure: no connection, same answer for the same input.
pub trait SqlDialect: fmt::Debug + Send + Sync {
    fn flavour(&self) -> Flavour;
    fn version(&self) -> ServerVersion;
    /// The sqlparser dialect that reads this family's SQL.
    fn parser(&self) -> Box<dyn sqlparser::dialect::Dialect>;
    /// An identifier, always quoted (no keyword list needed), embedded quotes doubled.
    fn quote_ident(&self, name: &str) -> String;
    fn ident_limit(&self) -> IdentLimit;
    /// The canonical spelling of a built-in type as the catalog prints it; `None` when unknown.
    fn canonical_type(&self, text: &str) -> Option<String>;
    /// The statement one typed DDL step runs, without a trailing `;`.
    fn render(&self, ddl: &Ddl) -> Result<String, ChangeError>;
    /// Make `column` NOT NULL without holding a table-wide lock for a scan. `check` is the
    /// planner-named constraint the tactic may use; errors name `field`.
    fn not_null_without_long_lock(
        &self,
        table: &QualifiedName,
        column: &Ident,
        check: &Ident,
        field: &'static str,
    ) -> Result<Vec<Step>, ChangeError>;
    /// Keep old and new columns in sync for both app versions: `parts` per table, in change order.
    fn sync_columns(&self, plan: &str, parts: &[(QualifiedName, SyncPart)])
        -> Result<SyncSteps, ChangeError>;
    /// Build a copy of `index` with column `from` replaced by `to`, without blocking writes.
    fn copy_index(
        &self,
        table: &QualifiedName,
        index: &Index,
        from: &Ident,
        to: &Ident,
        field: &'static str,
    ) -> Result<IndexCopy, ChangeError>;
    /// Whether this build can run plans against this family (`Err` says why not).
    fn execution(&self) -> Result<(), String>;

    /// `Err` with a message naming the limit when `name` is too long for this family.
    fn check_ident(&self, name: &str) -> Result<(), String> {
        let limit = self.ident_limit();
        if limit.allows(name) {
            Ok(())
        } else {
            Err(format!(
                "identifier {name:?} is longer than {limit}, the most {} allows",
                self.flavour().product()
            ))
        }
    }
}

/// The dialect of one target: a family and a server version. Cheap to copy; dereferences to
/// its [`SqlDialect`] implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres(postgres::Postgres),
    MySql(mysql::MySql),
}

impl Dialect {
    pub fn new(flavour: Flavour, version: ServerVersion) -> Dialect {
        match flavour {
            Flavour::Postgresql => Dialect::Postgres(postgres::Postgres { major: version.major }),
            Flavour::Mysql | Flavour::Mariadb => Dialect::MySql(mysql::MySql { flavour, version }),
        }
    }

    /// The version planning assumes for a family before a server was asked (the server's own
    /// version replaces it once connected): PostgreSQL 15, MySQL 8.0, MariaDB 10.11.
    pub fn planning_default(flavour: Flavour) -> Dialect {
        let version = match flavour {
            Flavour::Postgresql => ServerVersion::major(crate::model::DEFAULT_PG_VERSION),
            Flavour::Mysql => ServerVersion::major_minor(8, 0),
            Flavour::Mariadb => ServerVersion::major_minor(10, 11),
        };
        Dialect::new(flavour, version)
    }

    /// PostgreSQL of the given major version.
    pub fn postgres(major: u32) -> Dialect {
        Dialect::Postgres(postgres::Postgres { major })
    }

    /// The PostgreSQL major version, for decisions that exist only there (`None` on MySQL).
    pub fn pg_version(&self) -> Option<u32> {
        match self {
            Dialect::Postgres(pg) => Some(pg.major),
            Dialect::MySql(_) => None,
        }
    }
}

impl std::ops::Deref for Dialect {
    type Target = dyn SqlDialect;
    fn deref(&self) -> &Self::Target {
        match self {
            Dialect::Postgres(d) => d,
            Dialect::MySql(d) => d,
        }
    }
}

/// The refusal a MySQL/MariaDB tactic gives until it is built.
pub(crate) fn not_yet(flavour: Flavour, field: &'static str, what: &str) -> ChangeError {
    ChangeError::new(
        field,
        format!("{what} is not supported on MySQL/MariaDB yet (planning for {})", flavour.product()),
    )
    .help("plan this change for PostgreSQL; MySQL/MariaDB planning is in progress")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_quotes_and_limits_identifiers_its_own_way() {
        let pg = Dialect::postgres(15);
        let maria = Dialect::new(Flavour::Mariadb, ServerVersion::major_minor(10, 11));
        assert_eq!(pg.quote_ident("Order \"Id\""), "\"Order \"\"Id\"\"\"");
        assert_eq!(maria.quote_ident("Order `Id`"), "`Order ``Id```");
        // 32 two-byte characters: 64 bytes (too long for PostgreSQL), 32 characters (fine on MySQL).
        let wide = "é".repeat(32);
        assert!(pg.check_ident(&wide).unwrap_err().contains("63 bytes"));
        assert!(maria.check_ident(&wide).is_ok());
        assert!(maria.check_ident(&"a".repeat(65)).unwrap_err().contains("64 characters"));
        assert!(pg.check_ident(&"a".repeat(63)).is_ok());
        assert_eq!(pg.flavour(), Flavour::Postgresql);
        assert_eq!(maria.version().to_string(), "10.11");
        assert_eq!(pg.pg_version(), Some(15));
        assert_eq!(maria.pg_version(), None);
    }

    #[test]
    fn parsers_read_their_own_family() {
        use sqlparser::parser::Parser;
        let maria = Dialect::new(Flavour::Mariadb, ServerVersion::major_minor(10, 11));
        let pg = Dialect::postgres(15);
        let backticks = "SELECT `a` FROM `t`";
        assert!(Parser::parse_sql(&*maria.parser(), backticks).is_ok());
        assert!(Parser::parse_sql(&*pg.parser(), backticks).is_err());
        assert!(Parser::parse_sql(&*pg.parser(), "SELECT a::text FROM t").is_ok());
    }

    #[test]
    fn both_families_run_plans() {
        assert!(Dialect::postgres(15).execution().is_ok());
        assert!(Dialect::new(Flavour::Mysql, ServerVersion::major_minor(8, 0)).execution().is_ok());
        assert!(Dialect::new(Flavour::Mariadb, ServerVersion::major_minor(10, 11)).execution().is_ok());
    }
}
