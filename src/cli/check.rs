//! `planner check PATH...`: lint SQL migrations.

use std::collections::HashSet;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use super::args::TargetArgs;
use crate::error::{FindingsReported, InputError};
use crate::lint::dialect::{DialectName, LintDialect};
use crate::lint::stats::TableStats;
use crate::lint::tool::{self, Pick, Tool};
use crate::lint::{config, FileTx, KnownSchema, LintOptions, LintReport};
use crate::report::Format;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// SQL files, directories (walked recursively for *.sql, in path order) or `-` for stdin.
    /// Change files (*.yaml, *.yml) are validated against the schema instead.
    #[arg(required_unless_present = "list_rules")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// PostgreSQL major version the migrations run on (decides version-dependent rules).
    /// Default: `check.pg_version` from the config, else 15.
    #[arg(long, value_parser = clap::value_parser!(u32).range(9..=30))]
    pub pg_version: Option<u32>,
    /// SQL dialect of the migrations: postgres (default), mysql or mariadb (MySQL rule set,
    /// read with the MySQL parser). Default: `check.dialect` from the config, else postgres.
    #[arg(long, value_enum)]
    pub dialect: Option<crate::lint::dialect::DialectName>,
    /// MySQL/MariaDB server version the migrations run on, X.Y or X.Y.Z (decides
    /// version-dependent rules: INSTANT ADD/DROP COLUMN, RENAME COLUMN syntax). Default:
    /// `check.server_version`, else MariaDB 10.11 / MySQL 8.0.
    #[arg(long, value_name = "X.Y")]
    pub server_version: Option<String>,
    /// Make statements that cannot be parsed errors instead of warnings.
    #[arg(long)]
    pub strict: bool,
    /// Treat each file as one transaction (for tools `--tool` does not name).
    #[arg(long, conflicts_with = "tool")]
    pub assume_in_transaction: bool,
    /// The migration tool that runs these files: decides which files a directory walk reads
    /// (Flyway `V…__*.sql`, golang-migrate `*.up.sql`, Prisma `migration.sql`, no `structure.sql`
    /// for Rails ...), which part of a file runs (goose, dbmate and node-pg-migrate up sections)
    /// and how each file is wrapped in a transaction (Prisma and golang-migrate: only a file of
    /// several statements; sqlx `-- no-transaction`, Diesel `metadata.toml`, Flyway `.conf`,
    /// goose and dbmate annotations).
    #[arg(long, value_enum)]
    pub tool: Option<Tool>,
    /// Report findings only for files changed since this git ref (committed, staged, unstaged
    /// or untracked), still reading every earlier file for what it declares, so a pull
    /// request's check gives the verdicts of a full run on its files.
    #[arg(long, value_name = "GIT_REF")]
    pub changed_since: Option<String>,
    /// Report findings only for the last N files (in the order they run), still reading every
    /// earlier file for what it declares.
    #[arg(long, value_name = "N", conflicts_with = "changed_since")]
    pub latest: Option<usize>,
    /// Colour in human output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value_t = Colour::Auto)]
    pub color: Colour,
    /// Schema that change files (*.yaml) are validated against.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Table sizes and traffic written by `planner stats --database-url URL > stats.json`:
    /// rewrites, validating scans, index builds and whole-table UPDATEs are info on small tables
    /// and errors on large or hot ones, and say the size. With `--database-url` or `--target`
    /// (and no --stats) the numbers are read from that database, read-only.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
    /// Print every rule id with its default severity and summary, then exit.
    #[arg(long)]
    pub list_rules: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Colour {
    Auto,
    Always,
    Never,
}

pub fn run(args: CheckArgs, target: &TargetArgs) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut opts = options(&args, target)?;
    if args.list_rules {
        let rules: Vec<&crate::lint::RuleMeta> = if opts.dialect.is_mysql_family() {
            crate::lint::mysql_rules().collect()
        } else {
            crate::lint::all_rules().collect()
        };
        for m in rules {
            writeln!(out, "{:<36} {:<8} {}", m.id, m.severity.to_string(), m.summary)?;
        }
        return Ok(());
    }
    // Change files are validated against the schema like `planner plan` does; SQL is linted.
    let (changes, sql): (Vec<&PathBuf>, Vec<&PathBuf>) = args.paths.iter().partition(|p| is_change_file(p));
    for change in &changes {
        let summary = check_change_file(change, &args, target)?;
        writeln!(out, "{summary}")?;
    }
    if sql.is_empty() {
        return Ok(());
    }
    let sql: Vec<PathBuf> = sql.into_iter().cloned().collect();
    opts.stats = table_stats(&args, target)?.map(std::sync::Arc::new);
    let scope = match (&args.changed_since, args.latest) {
        (Some(r), _) => Scope::Changed(changed_files(r)?),
        (None, Some(n)) => Scope::Latest(n),
        (None, None) => Scope::All,
    };
    let report = lint_paths_with(&sql, &opts, args.tool, &scope)?;
    let colour = match args.color {
        Colour::Always => true,
        Colour::Never => false,
        Colour::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    args.format.reporter(colour).render(&report, &mut out)?;
    out.flush()?;
    // `planner convert` reads PostgreSQL migrations only.
    if args.format == Format::Human && !opts.dialect.is_mysql_family() {
        // The whole unsafe migration as one change file, rather than one `planner plan` per finding.
        if let Some(f) = report
            .findings
            .iter()
            .find(|f| f.suggestion.as_deref().is_some_and(|s| s.starts_with("planner plan ")))
        {
            eprintln!("hint: `planner convert {}` writes the change file that does this migration safely, for `planner plan`", f.file);
        }
    }
    if report.has_errors() {
        return Err(FindingsReported(format!("{} error finding(s)", report.summary.errors)).into());
    }
    Ok(())
}

/// Flags override the config file; the config file overrides the defaults.
fn options(args: &CheckArgs, target: &TargetArgs) -> Result<LintOptions, InputError> {
    let cfg = match &target.config {
        Some(path) => config::load(path)?,
        None if Path::new("planner.yaml").exists() => config::load(Path::new("planner.yaml"))?,
        None => config::CheckConfig::default(),
    };
    let name = args.dialect.or(cfg.dialect).unwrap_or_default();
    let version = args.server_version.as_deref().or(cfg.server_version.as_deref());
    let dialect = LintDialect::from_parts(name, version).map_err(|e| {
        let flag = if args.server_version.is_some() { "--server-version" } else { "check.server_version" };
        InputError::new(format!("{flag}: {e}")).help(
            "e.g. `--dialect mariadb --server-version 10.11` or `--dialect mysql --server-version 8.0.29`",
        )
    })?;
    if name == DialectName::Postgres && version.is_some() {
        return Err(InputError::new("--server-version is for --dialect mysql|mariadb")
            .help("PostgreSQL takes `--pg-version N`"));
    }
    Ok(LintOptions {
        pg_version: args.pg_version.or(cfg.pg_version).unwrap_or(15),
        dialect,
        assume_in_transaction: args.assume_in_transaction || cfg.assume_in_transaction.unwrap_or(false),
        strict: args.strict,
        disabled: cfg.disable,
        severity: cfg.severity,
        stats: None,
    })
}

/// The stats `--stats FILE` names, or those of the database `--database-url`/`--target` names.
fn table_stats(args: &CheckArgs, target: &TargetArgs) -> anyhow::Result<Option<TableStats>> {
    if let Some(path) = &args.stats {
        let text = std::fs::read_to_string(path)
            .map_err(|e| InputError::new(format!("--stats {}: {e}", path.display())))?;
        let stats = TableStats::from_json(&text)
            .map_err(|e| InputError::new(format!("--stats {}: {e}", path.display())))?;
        return Ok(Some(stats));
    }
    // Only a database named on the command line: PG* variables alone never make check connect.
    if target.database_url.is_none() && target.target.is_none() {
        return Ok(None);
    }
    let url = target.resolve_url()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(Some(runtime.block_on(crate::exec::table_stats::read(&url))?))
}

/// `planner stats`: print the target database's table sizes and traffic as JSON for
/// `planner check --stats FILE`, so CI can rate findings by size without database credentials.
#[derive(Debug, Args)]
pub struct StatsArgs {}

pub async fn run_stats(_args: StatsArgs, target: &TargetArgs) -> anyhow::Result<()> {
    if !target.names_a_database() {
        return Err(InputError::new("planner stats needs a database")
            .help("pass --database-url URL or --target NAME")
            .into());
    }
    let stats = crate::exec::table_stats::read(&target.resolve_url()?).await?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &stats)?;
    writeln!(out)?;
    Ok(())
}

/// Lint every input in order. Column types learnt from earlier files inform later ones.
pub fn lint_paths(paths: &[PathBuf], opts: &LintOptions) -> anyhow::Result<LintReport> {
    lint_paths_with(paths, opts, None, &Scope::All)
}

/// Files changed since `git_ref` (canonical paths): committed since, staged, unstaged, untracked.
fn changed_files(git_ref: &str) -> anyhow::Result<HashSet<PathBuf>> {
    let git = |args: &[&str]| -> Result<String, InputError> {
        let out = std::process::Command::new("git")
            .args(args)
            .output()
            .map_err(|e| InputError::new(format!("--changed-since needs git: {e}")))?;
        if !out.status.success() {
            return Err(InputError::new(format!(
                "--changed-since {git_ref}: git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?.trim());
    let mut listed = git(&["diff", "--name-only", "--no-renames", git_ref, "--"])?;
    listed.push_str(&git(&["ls-files", "--others", "--exclude-standard", "--full-name"])?);
    Ok(listed.lines().filter(|l| !l.is_empty()).filter_map(|l| top.join(l).canonicalize().ok()).collect())
}

/// Which files get findings; the others are only read for what they declare.
#[derive(Debug, Default)]
pub enum Scope {
    #[default]
    All,
    /// `--changed-since`: these files (canonical paths).
    Changed(HashSet<PathBuf>),
    /// `--latest N`: the last N files of the run.
    Latest(usize),
}

/// [`lint_paths`] for files run by `tool`, reporting findings for the files `scope` names (the
/// others are read for context).
pub fn lint_paths_with(
    paths: &[PathBuf],
    opts: &LintOptions,
    tool: Option<Tool>,
    scope: &Scope,
) -> anyhow::Result<LintReport> {
    let mut report = LintReport::default();
    let default_tx = if opts.assume_in_transaction { FileTx::Wrapped } else { FileTx::Explicit };
    let mut known = KnownSchema::default();
    let mysql = opts.dialect.is_mysql_family();
    // Every input first (so `--latest` knows which files are last), then lint in order.
    let mut inputs: Vec<Option<PathBuf>> = Vec::new(); // None: stdin
    for path in paths {
        if path.as_os_str() == "-" {
            inputs.push(None);
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|e| {
            InputError::new(format!("cannot read {}: {e}", path.display()))
                .help("pass SQL files, directories or `-`")
        })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, tool, mysql, &mut files, &mut report.notes)?;
            if let Some(t) = tool {
                t.order(&mut files);
            }
            if files.is_empty() {
                let what = tool.map_or(".sql files".to_string(), |t| format!("migrations {t:?} runs"));
                return Err(
                    InputError::new(format!("{}: no {what} in this directory", path.display())).into()
                );
            }
            inputs.extend(files.into_iter().map(Some));
        } else if let Pick::Skip(note) = tool::pick_for(None, path, mysql) {
            report.notes.push(note);
        } else {
            inputs.push(Some(path.clone()));
        }
    }
    let total = inputs.len();
    let mut context_files = 0usize;
    for (i, input) in inputs.into_iter().enumerate() {
        report.context_only = match (scope, &input) {
            (Scope::All, _) => false,
            (Scope::Latest(n), _) => i + n < total,
            (Scope::Changed(changed), Some(file)) => !file.canonicalize().is_ok_and(|c| changed.contains(&c)),
            (Scope::Changed(_), None) => false,
        };
        context_files += usize::from(report.context_only);
        let Some(file) = input else {
            let mut sql = String::new();
            std::io::stdin()
                .read_to_string(&mut sql)
                .map_err(|e| InputError::new(format!("cannot read stdin: {e}")))?;
            let prepared = match tool {
                Some(t) => t.prepare(Path::new("<stdin>"), &sql, &|_| None),
                None => tool::Prepared { sql: sql.as_str().into(), tx: default_tx },
            };
            report.lint_file("<stdin>", &prepared.sql, opts, prepared.tx, &mut known);
            continue;
        };
        if is_change_file(&file) {
            return Err(InputError::new(format!(
                "{}: change files are checked when named directly",
                file.display()
            ))
            .help("run `planner check CHANGE.yaml --schema FILE.sql`")
            .into());
        }
        let bytes = std::fs::read(&file)
            .map_err(|e| InputError::new(format!("cannot read {}: {e}", file.display())))?;
        let sql = String::from_utf8(bytes)
            .map_err(|e| InputError::new(format!("{}: not UTF-8 text ({e})", file.display())))?;
        // Editors on Windows save a byte-order mark; it is not SQL.
        let sql = sql.strip_prefix('\u{feff}').unwrap_or(&sql);
        let prepared = match tool {
            Some(t) => t.prepare(&file, sql, &|p| std::fs::read_to_string(p).ok()),
            None => tool::Prepared { sql: sql.into(), tx: default_tx },
        };
        report.lint_file(&file.display().to_string(), &prepared.sql, opts, prepared.tx, &mut known);
    }
    report.context_only = false;
    let flag = match scope {
        Scope::All => None,
        Scope::Changed(_) => Some("--changed-since"),
        Scope::Latest(_) => Some("--latest"),
    };
    if let Some(flag) = flag {
        report.notes.push(format!(
            "{flag}: {} file(s) checked; {context_files} other file(s) only read for what they declare",
            report.summary.files
        ));
    }
    Ok(report)
}

fn is_change_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// Validate a change YAML against the schema (same errors as `planner plan`, nothing written).
pub fn check_change_file(path: &Path, args: &CheckArgs, target: &TargetArgs) -> anyhow::Result<String> {
    let located = crate::change::parse_change_file(path)?;
    if args.schema.is_none() && !target.names_a_database() {
        return Err(InputError::new(format!(
            "{}: checking a change file needs the current schema",
            path.display()
        ))
        .help("pass --schema FILE.sql or --database-url URL")
        .into());
    }
    let model = super::plan::load_model_from(args.schema.as_deref(), target, args.pg_version)?;
    let plan = super::plan::build_plan(&located, &model, None)?;
    let phases: Vec<&str> = plan.phases.iter().map(|p| p.phase.as_str()).collect();
    Ok(format!(
        "ok: {}: {} change(s) valid against the schema; plan `{}` would have phases {}",
        path.display(),
        located.file.changes.len(),
        plan.name,
        phases.join(", ")
    ))
}

/// The SQL files under `dir` that `tool` runs (every *.sql, *.sql.postgres, *.postgres.sql
/// without one), sorted by path so migrations are read in the order tools apply them. Files of
/// another dialect (`*.sqlite`, `*.mysql.sql`) are skipped with a note.
fn walk(
    dir: &Path,
    tool: Option<Tool>,
    mysql: bool,
    files: &mut Vec<PathBuf>,
    notes: &mut Vec<String>,
) -> Result<(), InputError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| InputError::new(format!("cannot read directory {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, tool, mysql, files, notes)?;
            continue;
        }
        match tool::pick_for(tool, &path, mysql) {
            Pick::Read => files.push(path),
            Pick::Skip(note) => notes.push(format!("{}: {}", dir.display(), note)),
            Pick::Ignore => {}
        }
    }
    Ok(())
}
