//! Which database family and server version a plan is for: the names plan.yaml records
//! (`dialect: postgresql`, `server_version: 15`). Plain data at the bottom of the layering, so the
//! plan format, the pure [`crate::dialect`] and the runtime backends all name targets the same way.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A database family planner knows. MySQL and MariaDB are told apart because their online-DDL
/// rules differ (NOCOPY, `WAIT n`, `max_statement_time` exist on MariaDB only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    Postgresql,
    Mysql,
    Mariadb,
}

impl Flavour {
    /// The name plan.yaml and messages use.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::Postgresql => "postgresql",
            Flavour::Mysql => "mysql",
            Flavour::Mariadb => "mariadb",
        }
    }

    /// The product name for messages ("PostgreSQL", "MySQL", "MariaDB").
    pub fn product(self) -> &'static str {
        match self {
            Flavour::Postgresql => "PostgreSQL",
            Flavour::Mysql => "MySQL",
            Flavour::Mariadb => "MariaDB",
        }
    }

    /// The family a connection URL's scheme names (`postgres://`, `mysql://`, `mariadb://`).
    pub fn from_url_scheme(scheme: &str) -> Option<Flavour> {
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Some(Flavour::Postgresql),
            "mysql" => Some(Flavour::Mysql),
            "mariadb" => Some(Flavour::Mariadb),
            _ => None,
        }
    }

    pub fn is_mysql_family(self) -> bool {
        matches!(self, Flavour::Mysql | Flavour::Mariadb)
    }
}

impl fmt::Display for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server version as far as planning decisions need it: PostgreSQL by major (`15`), MySQL and
/// MariaDB by major.minor (`8.0`, `10.11`; instant ADD COLUMN and the like arrived in minors).
/// plan.yaml writes a bare major as a number and major.minor as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: Option<u32>,
}

impl ServerVersion {
    pub fn major(major: u32) -> Self {
        ServerVersion { major, minor: None }
    }

    pub fn major_minor(major: u32, minor: u32) -> Self {
        ServerVersion { major, minor: Some(minor) }
    }

    /// `15`, `10.11`, `8.0.36-log` (the part after the second number is ignored).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = text.trim().split_once('.').and_then(|(_, rest)| {
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse().ok()
        });
        Some(ServerVersion { major, minor })
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.minor {
            Some(minor) => write!(f, "{}.{minor}", self.major),
            None => write!(f, "{}", self.major),
        }
    }
}

impl Serialize for ServerVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.minor {
            None => s.serialize_u32(self.major),
            Some(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for ServerVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u32),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(major) => Ok(ServerVersion::major(major)),
            Raw::Text(text) => {
                ServerVersion::parse(&text).filter(|v| v.to_string() == text).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "invalid server version `{text}`: expected e.g. 15 or \"10.11\""
                    ))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_server_strings_and_round_trip_through_yaml() {
        assert_eq!(
            ServerVersion::parse("10.11.6-MariaDB-0+deb12u1"),
            Some(ServerVersion::major_minor(10, 11))
        );
        assert_eq!(ServerVersion::parse("8.0.36"), Some(ServerVersion::major_minor(8, 0)));
        assert_eq!(ServerVersion::parse("15"), Some(ServerVersion::major(15)));
        assert_eq!(ServerVersion::parse("x"), None);
        for v in [ServerVersion::major(15), ServerVersion::major_minor(10, 11)] {
            let yaml = serde_yaml_ng::to_string(&v).unwrap();
            assert_eq!(serde_yaml_ng::from_str::<ServerVersion>(&yaml).unwrap(), v, "{yaml}");
        }
        assert_eq!(serde_yaml_ng::to_string(&ServerVersion::major(15)).unwrap(), "15\n");
        assert!(serde_yaml_ng::from_str::<ServerVersion>("'10.x'").is_err());
    }

    #[test]
    fn url_schemes_name_their_family() {
        assert_eq!(Flavour::from_url_scheme("postgresql"), Some(Flavour::Postgresql));
        assert_eq!(Flavour::from_url_scheme("MariaDB"), Some(Flavour::Mariadb));
        assert_eq!(Flavour::from_url_scheme("mysql"), Some(Flavour::Mysql));
        assert_eq!(Flavour::from_url_scheme("sqlite"), None);
    }
}
