//! planner.yaml: named targets (one database per service), `${ENV}` expansion, `.env.<env>` files.
//!
//! ```yaml
//! targets:
//!   users:   { url: "${USERS_DATABASE_URL}" }
//!   billing: { url: "${BILLING_DATABASE_URL}" }
//! default_target: users    # optional
//! ```
//! Variables come from the process environment first, then `.env.<env>` (with `--env`), then
//! `.env`, both next to planner.yaml. The process environment is never modified.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{InputError, Location};

pub const DEFAULT_CONFIG: &str = "planner.yaml";

/// Where the database is: a URL, or a named target from planner.yaml. Global: accepted before or
/// after the subcommand (`planner --target billing --env staging status`).
#[derive(Debug, Clone, clap::Args, Default)]
#[command(next_help_heading = "Target database")]
pub struct TargetArgs {
    /// PostgreSQL connection string: a URL (postgres://user@host:5432/app?sslmode=verify-full) or
    /// libpq key=value pairs (host=... dbname=... sslmode=require). Unset parts come from PGHOST,
    /// PGPORT, PGUSER, PGDATABASE, PGPASSWORD/~/.pgpass, PGSSLMODE, PGSSLROOTCERT. A --target wins
    /// over DATABASE_URL from the environment.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// A named target from planner.yaml (one database per service).
    #[arg(long, global = true)]
    pub target: Option<String>,
    /// Environment: loads `.env.<ENV>` then `.env` before resolving `${VARS}` in planner.yaml.
    #[arg(long = "env", global = true)]
    pub env: Option<String>,
    /// Config file: targets and the `check:` section (default: ./planner.yaml when present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
}

impl TargetArgs {
    /// Was a database named at all (flag, environment or --target)?
    pub fn names_a_database(&self) -> bool {
        self.database_url.is_some() || self.target.is_some() || libpq_env_names_a_database()
    }
}

impl TargetArgs {
    /// The connection URL these flags point at.
    pub fn resolve_url(&self) -> anyhow::Result<String> {
        resolve_database_url(self)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub targets: BTreeMap<String, TargetConfig>,
    /// The `check:` section belongs to `planner check` (read and validated by src/lint/config.rs).
    #[serde(default, rename = "check")]
    pub _check: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub default_target: Option<String>,
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Connection URL; `${VAR}` is replaced from the environment.
    pub url: String,
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InputError::new(format!("cannot read config {}: {e}", path.display()))
                .help("pass --config PATH, or create planner.yaml (see examples/planner.yaml)")
        })?;
        let mut config: Config = serde_yaml_ng::from_str(&text).map_err(|e| {
            let mut err = InputError::new(format!("invalid config: {e}"));
            if let Some(loc) = e.location() {
                err = err.at(Location {
                    file: path.display().to_string(),
                    line: loc.line(),
                    column: loc.column(),
                });
            }
            err
        })?;
        config.path = path.to_path_buf();
        if let Some(default) = &config.default_target {
            if !config.targets.contains_key(default) {
                return Err(InputError::new(format!(
                    "{}: default_target `{default}` is not one of the targets ({})",
                    path.display(),
                    config.target_names().join(", ")
                ))
                .into());
            }
        }
        Ok(config)
    }

    /// `--config PATH`, else ./planner.yaml when it exists.
    pub fn find(explicit: Option<&Path>) -> anyhow::Result<Option<Config>> {
        match explicit {
            Some(p) => Config::load(p).map(Some),
            None if Path::new(DEFAULT_CONFIG).exists() => Config::load(Path::new(DEFAULT_CONFIG)).map(Some),
            None => Ok(None),
        }
    }

    pub fn target_names(&self) -> Vec<String> {
        self.targets.keys().cloned().collect()
    }

    /// The URL of target `name`, with `${VARS}` expanded.
    pub fn url_of(&self, name: &str, env: &EnvLookup) -> anyhow::Result<String> {
        let target = self.targets.get(name).ok_or_else(|| {
            let mut err = InputError::new(format!(
                "{}: no target named `{name}` (targets: {})",
                self.path.display(),
                self.target_names().join(", ")
            ));
            if let Some(close) = self.target_names().into_iter().find(|t| strsim::levenshtein(t, name) <= 2) {
                err = err.help(format!("did you mean `{close}`?"));
            }
            err
        })?;
        expand_vars(&target.url, env).map_err(|var| {
            InputError::new(format!(
                "{}: target `{name}`: url uses ${{{var}}}, which is not set (looked in the environment{})",
                self.path.display(),
                env.searched()
            ))
            .help(format!("export {var}=postgres://..., or add it to one of those .env files"))
            .into()
        })
    }
}

/// Variables for `${VAR}`: process environment, then `.env.<env>`, then `.env`.
#[derive(Debug, Clone, Default)]
pub struct EnvLookup {
    files: Vec<(PathBuf, HashMap<String, String>)>,
    process: bool,
}

impl EnvLookup {
    /// Read `.env.<env>` (required when `env` is given) and `.env` (optional) from `dir`.
    pub fn load(dir: &Path, env: Option<&str>) -> anyhow::Result<EnvLookup> {
        let mut files = Vec::new();
        if let Some(env) = env {
            let path = dir.join(format!(".env.{env}"));
            if !path.exists() {
                return Err(InputError::new(format!("--env {env}: {} does not exist", path.display()))
                    .help(format!("create {} with the variables planner.yaml uses", path.display()))
                    .into());
            }
            files.push((path.clone(), read_env_file(&path)?));
        }
        let path = dir.join(".env");
        if path.exists() {
            files.push((path.clone(), read_env_file(&path)?));
        }
        Ok(EnvLookup { files, process: true })
    }

    /// Only the given files, ignoring the process environment (for tests).
    pub fn files_only(dir: &Path, env: Option<&str>) -> anyhow::Result<EnvLookup> {
        Ok(EnvLookup { process: false, ..EnvLookup::load(dir, env)? })
    }

    pub fn get(&self, var: &str) -> Option<String> {
        if self.process {
            if let Ok(v) = std::env::var(var) {
                return Some(v);
            }
        }
        self.files.iter().find_map(|(_, vars)| vars.get(var).cloned())
    }

    fn searched(&self) -> String {
        self.files.iter().map(|(p, _)| format!(", {}", p.display())).collect()
    }
}

fn read_env_file(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let mut vars = HashMap::new();
    let iter = dotenvy::from_path_iter(path)
        .map_err(|e| InputError::new(format!("cannot read {}: {e}", path.display())))?;
    for item in iter {
        let (k, v) = item.map_err(|e| InputError::new(format!("{}: {e}", path.display())))?;
        vars.insert(k, v);
    }
    Ok(vars)
}

/// Replace every `${VAR}`; Err(VAR) names the first one that is not set.
pub fn expand_vars(text: &str, env: &EnvLookup) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let var = &after[..end];
        out.push_str(&env.get(var).ok_or_else(|| var.to_string())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn env_dir(config: &Config) -> PathBuf {
    config
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Resolve the database URL from flags, environment and config.
pub fn resolve_database_url(args: &TargetArgs) -> anyhow::Result<String> {
    if let Some(name) = &args.target {
        let config = Config::find(args.config.as_deref())?.ok_or_else(|| {
            InputError::new(format!("--target {name}: no planner.yaml in the current directory"))
                .help("pass --config PATH or run from the folder holding planner.yaml")
        })?;
        let env = EnvLookup::load(&env_dir(&config), args.env.as_deref())?;
        return config.url_of(name, &env);
    }
    if let Some(url) = &args.database_url {
        return Ok(url.clone());
    }
    if let Some(config) = Config::find(args.config.as_deref())? {
        let default = config.default_target.clone().or_else(|| {
            let names = config.target_names();
            (names.len() == 1).then(|| names[0].clone())
        });
        if let Some(name) = default {
            let env = EnvLookup::load(&env_dir(&config), args.env.as_deref())?;
            return config.url_of(&name, &env);
        }
        return Err(InputError::new(format!(
            "{} has several targets ({}); say which with --target NAME",
            config.path.display(),
            config.target_names().join(", ")
        ))
        .into());
    }
    if libpq_env_names_a_database() {
        // An empty connection string: libpq's PG* variables say it all, as for psql.
        return Ok(String::new());
    }
    Err(InputError::new("no database given")
        .help("pass --database-url URL, set DATABASE_URL (or PGHOST/PGDATABASE), or name a --target from planner.yaml")
        .into())
}

/// PGHOST / PGHOSTADDR / PGDATABASE name a server without any URL (psql users rely on it).
pub fn libpq_env_names_a_database() -> bool {
    ["PGHOST", "PGHOSTADDR", "PGDATABASE"].iter().any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

/// Every target of the config with its resolved URL, for `status --all-targets`.
pub fn all_targets(args: &TargetArgs) -> anyhow::Result<Vec<(String, String)>> {
    select_targets(args, None)?.into_iter().map(|(name, url)| Ok((name, url?))).collect()
}

/// The targets a fleet run visits, in the order given (`--targets b,a`) or in name order (all):
/// each with its URL, or why that one target's URL cannot be built (a variable that is not set
/// is that target's failure, reported with it, not a reason to skip it or the others). A name
/// that is not in planner.yaml is bad input for the whole run.
pub fn select_targets(
    args: &TargetArgs,
    names: Option<&[String]>,
) -> anyhow::Result<Vec<(String, anyhow::Result<String>)>> {
    let flag = if names.is_some() { "--targets" } else { "--all-targets" };
    let config = Config::find(args.config.as_deref())?.ok_or_else(|| {
        InputError::new(format!("{flag} needs planner.yaml (in the current directory or via --config)"))
    })?;
    let env = EnvLookup::load(&env_dir(&config), args.env.as_deref())?;
    let names: Vec<String> = match names {
        Some(names) => {
            let mut seen = std::collections::BTreeSet::new();
            let mut out = Vec::new();
            for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
                if !config.targets.contains_key(name) {
                    // url_of's error names the known targets and a close one.
                    return Err(config
                        .url_of(name, &env)
                        .err()
                        .unwrap_or_else(|| InputError::new(format!("no target named `{name}`")).into()));
                }
                if seen.insert(name.to_string()) {
                    out.push(name.to_string());
                }
            }
            if out.is_empty() {
                return Err(InputError::new("--targets names no target")
                    .help("--targets users,billing")
                    .into());
            }
            out
        }
        None => config.target_names(),
    };
    Ok(names.into_iter().map(|name| (name.clone(), config.url_of(&name, &env))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_variables_and_names_the_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "A=from_env_file\nB=base\n").unwrap();
        std::fs::write(dir.path().join(".env.staging"), "B=staging\n").unwrap();
        let env = EnvLookup::files_only(dir.path(), Some("staging")).unwrap();
        assert_eq!(expand_vars("x-${A}-${B}-y", &env).unwrap(), "x-from_env_file-staging-y");
        assert_eq!(expand_vars("${NOPE_PLANNER_TEST}", &env).unwrap_err(), "NOPE_PLANNER_TEST");
        let env = EnvLookup::files_only(dir.path(), None).unwrap();
        assert_eq!(expand_vars("${B}", &env).unwrap(), "base");
        assert!(EnvLookup::files_only(dir.path(), Some("prod")).is_err());
    }
}
