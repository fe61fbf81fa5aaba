//! Which SQL dialect and server version `planner check` reads migrations for. Local to the linter
//! (the planner-wide dialect seam lives elsewhere): the linter only needs the flavour and version
//! to pick the parser, the rule set and the version-dependent verdicts.

use std::fmt;
use std::str::FromStr;

/// A server version `major.minor[.patch]`, ordered as versions are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ServerVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        ServerVersion { major, minor, patch }
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for ServerVersion {
    type Err = String;
    /// `10.11`, `8.0.29`, `15` (a missing part is 0).
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.trim().split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return Err(format!("`{s}` is not a version: expected X.Y or X.Y.Z, e.g. 10.11 or 8.0.29"));
        }
        let mut n = [0u32; 3];
        for (i, p) in parts.iter().enumerate() {
            n[i] = p.parse().map_err(|_| {
                format!("`{s}` is not a version: expected X.Y or X.Y.Z, e.g. 10.11 or 8.0.29")
            })?;
        }
        Ok(ServerVersion::new(n[0], n[1], n[2]))
    }
}

/// The flavours `--dialect` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DialectName {
    #[default]
    Postgres,
    Mysql,
    Mariadb,
}

/// The flavour with its version, for the MySQL family (PostgreSQL keeps `pg_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LintDialect {
    #[default]
    Postgres,
    MySql(ServerVersion),
    MariaDb(ServerVersion),
}

/// What `--server-version` defaults to: the versions the facts were measured on (MariaDB) or
/// documented for (MySQL).
pub const DEFAULT_MARIADB: ServerVersion = ServerVersion::new(10, 11, 0);
pub const DEFAULT_MYSQL: ServerVersion = ServerVersion::new(8, 0, 0);

impl LintDialect {
    /// Build from `--dialect` and `--server-version`; a version outside what the flavour ever
    /// shipped is an error (a MariaDB `8.0` is a MySQL version typed under the wrong flavour).
    pub fn from_parts(name: DialectName, version: Option<&str>) -> Result<LintDialect, String> {
        let parsed = version.map(str::parse::<ServerVersion>).transpose()?;
        match name {
            DialectName::Postgres => Ok(LintDialect::Postgres),
            DialectName::Mariadb => {
                let v = parsed.unwrap_or(DEFAULT_MARIADB);
                if !(10..=12).contains(&v.major) {
                    return Err(format!(
                        "MariaDB {v} does not exist: MariaDB versions are 10.x, 11.x or 12.x (a MySQL 8.0 server is `--dialect mysql`)"
                    ));
                }
                Ok(LintDialect::MariaDb(v))
            }
            DialectName::Mysql => {
                let v = parsed.unwrap_or(DEFAULT_MYSQL);
                if !(v.major == 5 && v.minor == 7 || (8..=9).contains(&v.major)) {
                    return Err(format!(
                        "MySQL {v} is not supported: MySQL 5.7, 8.x or 9.x (a MariaDB 10.x server is `--dialect mariadb`)"
                    ));
                }
                Ok(LintDialect::MySql(v))
            }
        }
    }

    pub fn is_mysql_family(self) -> bool {
        !matches!(self, LintDialect::Postgres)
    }

    pub fn is_mariadb(self) -> bool {
        matches!(self, LintDialect::MariaDb(_))
    }

    /// True from this MariaDB / MySQL version on (false for PostgreSQL).
    pub fn at_least(self, mariadb: (u32, u32), mysql: (u32, u32, u32)) -> bool {
        match self {
            LintDialect::Postgres => false,
            LintDialect::MariaDb(v) => v >= ServerVersion::new(mariadb.0, mariadb.1, 0),
            LintDialect::MySql(v) => v >= ServerVersion::new(mysql.0, mysql.1, mysql.2),
        }
    }

    /// `ALGORITHM=NOCOPY, LOCK=NONE` on MariaDB, `ALGORITHM=INPLACE, LOCK=NONE` on MySQL: an
    /// online change that does not rebuild the table.
    pub fn no_rebuild_clause(self) -> &'static str {
        if self.is_mariadb() {
            "ALGORITHM=NOCOPY, LOCK=NONE"
        } else {
            "ALGORITHM=INPLACE, LOCK=NONE"
        }
    }
}

impl fmt::Display for LintDialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LintDialect::Postgres => f.write_str("PostgreSQL"),
            LintDialect::MySql(v) => write!(f, "MySQL {}.{}", v.major, v.minor),
            LintDialect::MariaDb(v) => write!(f, "MariaDB {}.{}", v.major, v.minor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        let v: ServerVersion = "8.0.29".parse().unwrap();
        assert!(v > "8.0.12".parse().unwrap());
        assert!("10.11".parse::<ServerVersion>().unwrap() > "10.4".parse().unwrap());
        assert!("ten".parse::<ServerVersion>().is_err());
        assert!("1.2.3.4".parse::<ServerVersion>().is_err());
    }

    #[test]
    fn flavour_checks_its_version() {
        assert_eq!(
            LintDialect::from_parts(DialectName::Mariadb, None),
            Ok(LintDialect::MariaDb(DEFAULT_MARIADB))
        );
        assert!(LintDialect::from_parts(DialectName::Mariadb, Some("8.0")).is_err());
        assert!(LintDialect::from_parts(DialectName::Mysql, Some("10.11")).is_err());
        let d = LintDialect::from_parts(DialectName::Mysql, Some("8.0.28")).unwrap();
        assert!(!d.at_least((10, 4), (8, 0, 29)));
        assert!(d.at_least((10, 4), (8, 0, 12)));
    }
}
