//! The `check:` section of planner.yaml. Unknown keys and unknown rule ids are errors, so a typo
//! cannot silently re-enable a rule.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::rule::Severity;
use crate::error::{InputError, Location};

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// Rule ids never reported.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Server major version the migrations run on.
    pub pg_version: Option<u32>,
    /// `postgres` (default), `mysql` or `mariadb`.
    pub dialect: Option<super::dialect::DialectName>,
    /// MySQL/MariaDB server version (`10.11`, `8.0.29`); default MariaDB 10.11 / MySQL 8.0.
    pub server_version: Option<String>,
    /// Per-rule severity overrides.
    #[serde(default)]
    pub severity: BTreeMap<String, Severity>,
    /// Treat each file as wrapped in a transaction (what most migration tools do).
    pub assume_in_transaction: Option<bool>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    check: Option<CheckConfig>,
}

/// Read `check:` from a planner.yaml; other keys belong to other modules and are ignored here.
pub fn load(path: &Path) -> Result<CheckConfig, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new(format!("cannot read config {}: {e}", path.display())))?;
    parse(&text, &path.display().to_string())
}

pub fn parse(text: &str, file: &str) -> Result<CheckConfig, InputError> {
    let parsed: File = serde_yaml_ng::from_str(text).map_err(|e| {
        let err = InputError::new(format!("invalid `check` config: {e}"));
        match e.location() {
            Some(l) => err.at(Location { file: file.to_string(), line: l.line(), column: l.column() }),
            None => err,
        }
    })?;
    let config = parsed.check.unwrap_or_default();
    for id in config.disable.iter().chain(config.severity.keys()) {
        if super::rule_by_id(id).is_none() {
            let known: Vec<&str> = super::all_rules().map(|m| m.id).collect();
            let closest = known.iter().max_by(|a, b| {
                strsim::jaro_winkler(id, a)
                    .partial_cmp(&strsim::jaro_winkler(id, b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            let mut err = InputError::new(format!("{file}: unknown rule `{id}` in `check`"));
            if let Some(c) = closest {
                err = err.help(format!("did you mean `{c}`? `planner check --list-rules` prints every rule"));
            }
            return Err(err);
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_check_section_and_ignores_others() {
        let c = parse(
            "targets: {a: {url: x}}\ncheck:\n  disable: [rename-column]\n  pg_version: 11\n  severity: {drop-table: warning}\n",
            "planner.yaml",
        )
        .unwrap();
        assert_eq!(c.disable, vec!["rename-column"]);
        assert_eq!(c.pg_version, Some(11));
        assert_eq!(c.severity["drop-table"], Severity::Warning);
    }

    #[test]
    fn reads_the_dialect_and_mysql_rule_ids() {
        let c = parse(
            "check:\n  dialect: mariadb\n  server_version: '10.6'\n  disable: [table-rebuild]\n",
            "planner.yaml",
        )
        .unwrap();
        assert_eq!(c.dialect, Some(crate::lint::dialect::DialectName::Mariadb));
        assert_eq!(c.server_version.as_deref(), Some("10.6"));
        assert!(parse("check:\n  dialect: oracle\n", "planner.yaml").is_err());
    }

    #[test]
    fn unknown_rule_is_an_error_with_a_suggestion() {
        let err = parse("check:\n  disable: [rename-colum]\n", "planner.yaml").unwrap_err();
        assert!(err.message.contains("rename-colum"), "{err}");
        assert!(err.help.unwrap_or_default().contains("rename-column"));
    }

    #[test]
    fn unknown_key_is_an_error_with_location() {
        let err = parse("check:\n  disabled: [x]\n", "planner.yaml").unwrap_err();
        assert_eq!(err.location.map(|l| l.line), Some(2));
    }
}
