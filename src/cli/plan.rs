//! `planner plan`: change + current schema -> plans/<name>/.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use super::args::TargetArgs;
use crate::change::{
    self, AddColumn, Change, ChangeFile, ChangeSource, ChangeType, DropColumn, LocatedChanges, RenameColumn,
    SetNotNull,
};
use crate::error::InputError;
use crate::model::{SchemaModel, DEFAULT_PG_VERSION};
use crate::plan::{self, PhaseKind, Plan};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PlanArgs {
    /// A YAML change file (see README: `name:` and `changes:`).
    #[arg(required_unless_present = "from_database")]
    pub change_file: Option<PathBuf>,
    /// Words after a change file: a mistyped change kind (`renam users.name x`), reported with
    /// a "did you mean" instead of clap's "subcommand cannot be used".
    #[arg(hide = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
    #[command(subcommand)]
    pub shorthand: Option<Shorthand>,
    #[command(flatten)]
    pub options: PlanOptions,
}

/// One change typed on the command line instead of a YAML file.
#[derive(Debug, Subcommand)]
pub enum Shorthand {
    /// Rename a column: `planner plan rename users.name full_name`.
    Rename {
        /// TABLE.COLUMN to rename (the table may be schema-qualified: billing.invoices.total).
        column: String,
        /// The new column name.
        new_name: String,
    },
    /// Add a column: `planner plan add-column users.email_verified boolean --not-null --backfill EXPR`.
    AddColumn {
        /// TABLE.COLUMN to add.
        column: String,
        /// Its type, e.g. boolean, text, "varchar(200)", timestamptz.
        #[arg(value_name = "TYPE")]
        data_type: String,
        /// Make it NOT NULL (needs --default or --backfill for existing rows).
        #[arg(long)]
        not_null: bool,
        /// Default for new rows: an SQL expression (false, 0, "'pending'", "now()").
        #[arg(long)]
        default: Option<String>,
        /// SQL expression over the row that fills existing rows, e.g. "verified_at IS NOT NULL".
        #[arg(long)]
        backfill: Option<String>,
    },
    /// Drop a column: `planner plan drop-column users.legacy_flag`.
    DropColumn {
        /// TABLE.COLUMN to drop.
        column: String,
    },
    /// Make a column NOT NULL: `planner plan set-not-null users.email [--backfill EXPR]`.
    SetNotNull {
        /// TABLE.COLUMN to make NOT NULL.
        column: String,
        /// SQL expression over the row for rows that are NULL now.
        #[arg(long)]
        backfill: Option<String>,
    },
    /// Change a column's type: `planner plan change-type orders.id bigint [--using EXPR]`.
    /// Catalog-only where PostgreSQL allows it, otherwise expand/backfill/contract with a
    /// shadow column; foreign keys referencing a key change along with it.
    ChangeType {
        /// TABLE.COLUMN whose type changes.
        column: String,
        /// The new type, e.g. bigint, text, "varchar(200)", timestamptz.
        #[arg(value_name = "TYPE")]
        data_type: String,
        /// SQL expression over the row giving the new value (default: a plain cast), e.g.
        /// "nullif(code, '')::integer".
        #[arg(long, value_name = "EXPR")]
        using: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct PlanOptions {
    /// Current schema from a SQL file (CREATE TABLE/INDEX/VIEW, ALTER TABLE ADD CONSTRAINT, pg_dump -s).
    /// Without it, the schema is read (read-only) from the database named by --database-url /
    /// DATABASE_URL / --target.
    #[arg(long, global = true, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// PostgreSQL major version to plan for with --schema (a live database reports its own).
    #[arg(long, global = true, value_name = "N", value_parser = super::args::pg_major)]
    pub pg_version: Option<u32>,
    /// Database family to plan for with --schema: postgresql (default), mariadb or mysql.
    /// MERGE NOTE (issue 15): minimal flag of the MySQL planning branch; the dialect seam owns it.
    #[arg(long, global = true, value_name = "DIALECT")]
    pub dialect: Option<String>,
    /// MySQL/MariaDB server version to plan for (default: MariaDB 10.11, MySQL 8.0).
    #[arg(long, global = true, value_name = "X.Y", requires = "dialect")]
    pub server_version: Option<String>,
    /// Folder that receives <plan-name>/.
    #[arg(long, global = true, default_value = "plans", value_name = "DIR")]
    pub out: PathBuf,
    /// Plan name (default: derived from the change, e.g. rename_users_name).
    #[arg(long, global = true)]
    pub name: Option<String>,
    /// Summary format on stdout.
    #[arg(long, global = true, value_enum, default_value_t = SummaryFormat::Human)]
    pub format: SummaryFormat,
    /// Replace an existing plan folder (and a plan of the same name registered in the target
    /// database but not applied). Without it, planner refuses to overwrite either.
    #[arg(long, global = true)]
    pub force: bool,
    /// A function the user vouches for in --default/--backfill expressions (no side effects);
    /// repeatable. planner refuses functions it does not know to be free of side effects.
    #[arg(long = "allow-function", global = true, value_name = "NAME")]
    pub allow_functions: Vec<String>,
    /// Write the files of plan NAME as registered in the target database (the plan that was
    /// applied) into --out, instead of planning a change.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["change_file", "schema"])]
    pub from_database: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    Human,
    Json,
}

/// `planner plan WORD ...` where WORD is no file: most likely a mistyped change kind.
fn unknown_kind(word: &str, rest: &[String]) -> Option<InputError> {
    if rest.is_empty() && Path::new(word).exists() {
        return None;
    }
    let kinds: Vec<String> = <Shorthand as clap::Subcommand>::augment_subcommands(clap::Command::new("plan"))
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let near = kinds.iter().min_by_key(|k| strsim::levenshtein(k, word)).filter(|k| {
        strsim::levenshtein(k, word) <= 2
            || k.starts_with(word)
            || k.replace('-', "_") == word.replace('-', "_")
    });
    if rest.is_empty() && near.is_none() {
        return None; // a missing change file: parse_change_file says so
    }
    let mut err = InputError::new(format!("unknown change kind `{word}`"));
    err = match near {
        Some(k) => {
            err.help(format!("did you mean `{}`?", format!("planner plan {k} {}", rest.join(" ")).trim_end()))
        }
        None => err.help(format!("pass a change file, or one of: {}", kinds.join(", "))),
    };
    Some(err)
}

pub fn run(args: PlanArgs, target: &TargetArgs) -> anyhow::Result<()> {
    if let Some(name) = &args.options.from_database {
        return write_registered(name, &args.options, target);
    }
    if let (None, Some(word)) = (&args.shorthand, &args.change_file) {
        if let Some(err) = unknown_kind(&word.to_string_lossy(), &args.rest) {
            return Err(err.into());
        }
    }
    let located = match (&args.shorthand, &args.change_file) {
        (Some(short), _) => shorthand_changes(short)?,
        (None, Some(file)) => change::parse_change_file(file)?,
        (None, None) => {
            return Err(InputError::new("nothing to plan")
                .help("pass a change file or a shorthand such as `rename users.name full_name`")
                .into())
        }
    };
    // MySQL/MariaDB: chosen by --dialect, or by a mysql:// / mariadb:// URL to plan against.
    let live_mysql = match args.options.schema.is_none() && target.names_a_database() {
        true => Some(target.resolve_url()?).filter(|url| is_mysql_url(url)),
        false => None,
    };
    let dialect = args.options.dialect.as_deref().filter(|d| !d.eq_ignore_ascii_case("postgresql"));
    if dialect.is_some() || live_mysql.is_some() {
        return run_mysql(&located, &args.options, dialect, live_mysql.as_deref());
    }
    let model = load_model(&args.options, target)?;
    let mut allowed = args.options.allow_functions.clone();
    if args.options.schema.is_none() && target.names_a_database() {
        allowed.extend(side_effect_free_in_database(&located, target)?);
    }
    let mut plan = build_plan_with(&located, &model, args.options.name.as_deref(), &allowed)?;
    refuse_overwrite(&args.options.out.join(&plan.name), &plan.name, args.options.force)?;
    if args.options.schema.is_none() && target.names_a_database() {
        check_target_plans(&plan, &located, target, args.options.force)?;
    }
    let dir = plan::write_plan_dir(&args.options.out, &mut plan)?;
    match args.options.format {
        SummaryFormat::Human => print!("{}", summary(&plan, &dir)),
        SummaryFormat::Json => {
            let value = serde_json::json!({ "plan_dir": dir, "plan": plan });
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
    }
    Ok(())
}

/// `mysql://…` or `mariadb://…`.
fn is_mysql_url(url: &str) -> bool {
    url.split_once("://")
        .and_then(|(scheme, _)| crate::flavour::Flavour::from_url_scheme(scheme))
        .is_some_and(|f| f.is_mysql_family())
}

/// `planner plan --dialect mariadb|mysql --schema schema.mysql.sql …`, or `planner plan
/// --database-url mariadb://…`: a MySQL/MariaDB plan from a schema file or the live database
/// (its flavour and version then come from the server).
fn run_mysql(
    located: &LocatedChanges,
    options: &PlanOptions,
    dialect: Option<&str>,
    live_url: Option<&str>,
) -> anyhow::Result<()> {
    use crate::change::mysql::{self, MySqlTarget};
    let bad_target =
        |m: String| InputError::new(m).help("--dialect mariadb|mysql, --server-version e.g. 10.11 or 8.0");
    let (model, target) = match (&options.schema, live_url) {
        (Some(schema), _) => {
            let target = MySqlTarget::parse(dialect.unwrap_or("mariadb"), options.server_version.as_deref())
                .map_err(bad_target)?;
            let display = schema.display().to_string();
            let sql = std::fs::read_to_string(schema)
                .map_err(|e| InputError::new(format!("cannot read {display}: {e}")))?;
            (crate::model::from_mysql_sql::parse_mysql_schema(&sql, &display)?, target)
        }
        (None, Some(url)) => {
            let config = crate::mysql::MyConnConfig::parse(url)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (model, server) = runtime.block_on(async {
                let mut conn = config.connect().await?;
                crate::mysql::introspect::introspect(&mut conn).await.context("reading the schema")
            })?;
            let model = crate::mysql::introspect::for_planning(model, &config.database);
            let flavour = if server.is_mariadb() { "mariadb" } else { "mysql" };
            if let Some(d) = dialect.filter(|d| !d.eq_ignore_ascii_case(flavour)) {
                return Err(InputError::new(format!(
                    "--dialect {d} does not match the server ({})",
                    server.version_text
                ))
                .help("drop --dialect when planning from a live database")
                .into());
            }
            let live = format!("{}.{}", server.version.major, server.version.minor);
            if let Some(v) = options.server_version.as_deref().filter(|v| *v != live) {
                return Err(InputError::new(format!(
                    "--server-version {v} does not match the server ({live})"
                ))
                .help("drop --server-version when planning from a live database")
                .into());
            }
            (model, MySqlTarget::parse(flavour, Some(&live)).map_err(bad_target)?)
        }
        (None, None) => {
            let target = MySqlTarget::parse(dialect.unwrap_or("mariadb"), options.server_version.as_deref())
                .map_err(bad_target)?;
            return Err(InputError::new(format!("planning for {target} needs --schema FILE or a database"))
                .help("pass the schema as MySQL DDL (--schema examples/schema.mysql.sql) or --database-url mariadb://…")
                .into());
        }
    };
    let name = plan_name(located, options.name.as_deref())?;
    let mut compiled = mysql::compile(&model, &located.file.changes, &name, target)
        .map_err(|e| located.locate(e.change, e.error))?;
    refuse_overwrite(&options.out.join(&name), &name, options.force)?;
    let dir = mysql::files::write_plan_dir(&options.out, &mut compiled)?;
    match options.format {
        SummaryFormat::Human => {
            let text = summary(&compiled.plan, &dir);
            let body = text.split_once('\n').map(|(_, rest)| rest).unwrap_or("");
            print!("Plan {} ({target})\n{body}", compiled.plan.name);
        }
        SummaryFormat::Json => {
            let value =
                serde_json::json!({ "plan_dir": dir, "dialect": target.dialect(), "plan": compiled.plan });
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
    }
    Ok(())
}

/// A plan folder is the reviewed record of a plan: never replaced silently (once applied, a
/// replaced folder would no longer match what the database ran).
fn refuse_overwrite(dir: &Path, name: &str, force: bool) -> anyhow::Result<()> {
    if dir.join("plan.yaml").exists() && !force {
        return Err(InputError::new(format!("{} already holds plan `{name}`", dir.display()))
            .help("pass --force to replace it (only if it was never applied), or --name to plan under another name")
            .into());
    }
    Ok(())
}

/// Planning against a live database: refuse a name the database already knows, and warn about
/// other plans in flight on the same tables (their triggers and columns meet this plan's).
fn check_target_plans(
    plan: &Plan,
    located: &LocatedChanges,
    target: &TargetArgs,
    force: bool,
) -> anyhow::Result<()> {
    let url = target.resolve_url()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut session = crate::exec::Session::observe(&url).await?;
        let result = async {
            use crate::exec::state;
            if state::plan_record(session.conn(), &plan.name).await?.is_some() && !force {
                return Err(InputError::new(format!(
                    "a plan named `{}` is already registered in the target database",
                    plan.name
                ))
                .help("pick another --name, or pass --force if that plan was never applied (planner refuses to apply a changed plan that was)")
                .into());
            }
            // set_not_null without a backfill: the contract would refuse over NULLs; say it now.
            for (index, change) in located.file.changes.iter().enumerate() {
                let Change::SetNotNull(SetNotNull { table, column, backfill: None }) = change else { continue };
                let (Ok(t), Ok(c)) = (crate::sql::QualifiedName::from_user(table, "public"), crate::sql::Ident::from_user(column)) else {
                    continue;
                };
                let nulls = crate::exec::verify::count_nulls(session.conn(), &t, &c).await?;
                if nulls > 0 {
                    return Err(located.locate(
                        index,
                        change::ChangeError::new(
                            "column",
                            format!("{}.{} has {} NULL value(s); NOT NULL cannot hold over them", t.display_short(), crate::sql::ident::short(&c), crate::exec::verify::thousands(nulls)),
                        )
                        .help("give `backfill: <expression over the row>` (shorthand: --backfill \"'unknown'\") to fill them and every NULL written until contract, or fill them first"),
                    )
                    .into());
                }
            }
            // change_type: rows whose `using` does not convert would make expand refuse; say it now.
            let expand_pre = plan.phases.first().map(|p| p.preconditions.as_slice()).unwrap_or_default();
            for pre in expand_pre {
                let crate::plan::Precondition::ConvertsCleanly { table, expr, data_type } = pre else { continue };
                let key = plan.backfill_key(table);
                // Only rows found failing refuse the plan; a check that cannot run here (a
                // read-only server) is left to expand's precondition.
                let found = crate::exec::type_checks::unconvertible_rows(session.conn(), table, expr, data_type, &key).await?;
                let crate::exec::type_checks::Conversion::Fails { .. } = found else { continue };
                let Some(reason) = crate::exec::type_checks::converts_cleanly(session.conn(), table, expr, data_type, &key).await? else { continue };
                let index = located
                    .file
                    .changes
                    .iter()
                    .position(|c| matches!(c, Change::ChangeType(ct) if crate::sql::QualifiedName::from_user(&ct.table, "public").ok().as_ref() == Some(table)))
                    .unwrap_or(0);
                return Err(located.locate(index, change::ChangeError::new("using", reason)).into());
            }
            let tables: Vec<&crate::sql::QualifiedName> = plan.tables.iter().map(|t| &t.table).collect();
            for (other, other_tables) in crate::exec::verify::plans_in_flight(session.conn(), &plan.name).await? {
                let shared: Vec<String> =
                    other_tables.iter().filter(|t| tables.contains(t)).map(|t| t.display_short()).collect();
                if !shared.is_empty() {
                    eprintln!(
                        "warning: plan `{other}` is in flight on {} (not every phase applied); this plan sees the schema as it left it. Finish or roll back one plan before applying the other's next phase.",
                        shared.join(", ")
                    );
                }
            }
            Ok(())
        }
        .await;
        session.close().await?;
        result
    })
}

/// With a live database, the server says which functions are free of side effects: those whose
/// every overload is IMMUTABLE or STABLE (`pg_proc.provolatile`) are allowed in expressions,
/// instead of planner's built-in guess. VOLATILE ones stay refused unless named.
fn side_effect_free_in_database(
    located: &LocatedChanges,
    target: &TargetArgs,
) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for change in &located.file.changes {
        let texts: Vec<&str> = match change {
            Change::AddColumn(a) => a.default.iter().chain(a.backfill.iter()).map(String::as_str).collect(),
            Change::SetNotNull(s) => s.backfill.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        for text in texts {
            names.extend(crate::sql::expr::functions_in(text));
        }
    }
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Ok(names);
    }
    let url = target.resolve_url()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut session = crate::exec::Session::observe(&url).await?;
        let stable = crate::exec::verify::stable_functions(session.conn(), &names).await;
        session.close_after(stable).await
    })
}

/// `planner plan --from-database NAME`: the registered plan's files, byte for byte.
fn write_registered(name: &str, options: &PlanOptions, target: &TargetArgs) -> anyhow::Result<()> {
    let url = target.resolve_url()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let record = runtime.block_on(async {
        let mut session = crate::exec::Session::observe(&url).await?;
        let record = crate::exec::state::plan_record(session.conn(), name).await;
        session.close().await?;
        record
    })?;
    let record = record.ok_or_else(|| {
        InputError::new(format!("no plan named `{name}` is registered in the target database"))
            .help("`planner status` lists the plans this database knows")
    })?;
    let (mut registered, _) =
        crate::plan::load::from_yaml(&record.plan_yaml, &format!("registered plan `{name}`"))?;
    refuse_overwrite(&options.out.join(name), name, options.force)?;
    let dir = plan::write_plan_dir(&options.out, &mut registered)?;
    println!(
        "wrote plan `{name}` as registered by {} at {} to {}",
        record.registered_by,
        record.registered_at,
        dir.display()
    );
    Ok(())
}

/// Compile located changes into a plan (errors point into the change file). Pure.
pub fn build_plan(
    located: &LocatedChanges,
    model: &SchemaModel,
    name: Option<&str>,
) -> Result<Plan, InputError> {
    build_plan_with(located, model, name, &[])
}

/// [`build_plan`] allowing the named functions in expressions (`--allow-function`).
pub fn build_plan_with(
    located: &LocatedChanges,
    model: &SchemaModel,
    name: Option<&str>,
    allow_functions: &[String],
) -> Result<Plan, InputError> {
    let name = plan_name(located, name)?;
    let changes = &located.file.changes;
    let cx = crate::change::PlanCx {
        dialect: crate::dialect::Dialect::postgres(model.pg_version),
        allow_functions: allow_functions.to_vec(),
    };
    change::compile_with(model, changes, &name, &cx).map_err(|e| located.locate(e.change, e.error))
}

/// The plan's name: `--name`, the file's `name:`, or derived from its one change.
fn plan_name(located: &LocatedChanges, name: Option<&str>) -> Result<String, InputError> {
    let changes = &located.file.changes;
    let name = match (name, &located.file.name) {
        (Some(n), _) => n.to_string(),
        (None, Some(n)) => n.clone(),
        (None, None) if changes.len() == 1 => changes[0].default_name(),
        (None, None) => {
            return Err(InputError::new("a change file with several changes needs `name:`")
                .help("add `name: <plan_name>` at the top"))
        }
    };
    change::validate_plan_name(&name)
        .map_err(|m| InputError::new(m).help("pass --name or set `name:` in the change file"))?;
    Ok(name)
}

/// Split `table.column` / `schema.table.column` at the last dot outside quotes.
fn split_column(arg: &str) -> Result<(String, String), InputError> {
    match crate::sql::ident::split_dotted(arg) {
        Ok(parts) if parts.len() >= 2 => {
            let column = parts[parts.len() - 1].clone();
            Ok((parts[..parts.len() - 1].join("."), column))
        }
        _ => Err(InputError::new(format!("expected TABLE.COLUMN, got `{arg}`"))
            .help("for example users.name or billing.invoices.total (quote mixed case: 'users.\"Name\"')")),
    }
}

fn shorthand_changes(short: &Shorthand) -> Result<LocatedChanges, InputError> {
    let change = match short {
        Shorthand::Rename { column, new_name } => {
            let (table, from) = split_column(column)?;
            Change::RenameColumn(RenameColumn { table, from, to: new_name.clone() })
        }
        Shorthand::AddColumn { column, data_type, not_null, default, backfill } => {
            let (table, column) = split_column(column)?;
            Change::AddColumn(AddColumn {
                table,
                column,
                data_type: data_type.clone(),
                not_null: *not_null,
                default: default.clone(),
                backfill: backfill.clone(),
            })
        }
        Shorthand::DropColumn { column } => {
            let (table, column) = split_column(column)?;
            Change::DropColumn(DropColumn { table, column })
        }
        Shorthand::SetNotNull { column, backfill } => {
            let (table, column) = split_column(column)?;
            Change::SetNotNull(SetNotNull { table, column, backfill: backfill.clone() })
        }
        Shorthand::ChangeType { column, data_type, using } => {
            let (table, column) = split_column(column)?;
            Change::ChangeType(ChangeType {
                table,
                column,
                data_type: data_type.clone(),
                using: using.clone(),
            })
        }
    };
    Ok(LocatedChanges {
        file: ChangeFile { name: None, changes: vec![change] },
        source: ChangeSource::CommandLine,
    })
}

/// The current schema, from --schema or --database-url.
pub fn load_model(options: &PlanOptions, target: &TargetArgs) -> anyhow::Result<SchemaModel> {
    load_model_from(options.schema.as_deref(), target, options.pg_version)
}

/// The current schema from a file (wins) or the live database the target flags name.
pub fn load_model_from(
    schema: Option<&Path>,
    target: &TargetArgs,
    pg_version: Option<u32>,
) -> anyhow::Result<SchemaModel> {
    if let Some(path) = schema {
        return load_schema_file(path, pg_version.unwrap_or(DEFAULT_PG_VERSION));
    }
    if target.names_a_database() {
        let url = target.resolve_url()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        return runtime.block_on(async {
            let mut conn = crate::exec::connect::connect(&url, "planner/plan")
                .await
                .context("connecting to the database to read its schema")?;
            let model = crate::model::introspect::introspect(&mut conn, &[]).await?;
            if let Some(v) = pg_version {
                if v != model.pg_version {
                    return Err(InputError::new(format!(
                        "--pg-version {v} does not match the server (PostgreSQL {})",
                        model.pg_version
                    ))
                    .help("drop --pg-version when planning from a live database")
                    .into());
                }
            }
            Ok(model)
        });
    }
    Err(InputError::new("no schema to plan against")
        .help("pass --schema FILE.sql (e.g. examples/schema.sql) or --database-url URL")
        .into())
}

pub fn load_schema_file(path: &Path, pg_version: u32) -> anyhow::Result<SchemaModel> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new(format!("cannot read schema file {}: {e}", path.display())))?;
    Ok(crate::model::from_sql::parse_schema(&text, &path.display().to_string(), pg_version)?)
}

/// The short human summary printed after writing a plan.
pub fn summary(plan: &Plan, dir: &Path) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "Plan {} ({} {}+)", plan.name, plan.dialect.product(), plan.server_version);
    for d in &plan.description {
        let _ = writeln!(out, "  {d}");
    }
    for phase in &plan.phases {
        let _ = writeln!(out);
        let strongest = phase.steps.iter().map(|s| s.lock).max();
        let what = match phase.phase {
            PhaseKind::Backfill => phase
                .backfill
                .iter()
                .map(|t| format!("{} where {}", t.table.display_short(), t.pending))
                .collect::<Vec<_>>()
                .join(", "),
            _ if phase.steps.is_empty() => "no SQL: deploy the new app version".to_string(),
            _ => format!(
                "{} step(s), strongest lock: {}",
                phase.steps.len(),
                strongest.map(|l| l.describe()).unwrap_or("none")
            ),
        };
        let _ = writeln!(out, "  {:<9} {what}", phase.phase.as_str());
        if let Some(why) = &phase.irreversible {
            let _ = writeln!(out, "            IRREVERSIBLE: {why}");
        }
        let flag = |a: &crate::plan::AppAccess| match (a.reads, a.writes) {
            (true, true) => "runs",
            (false, true) => "writes only",
            (true, false) => "reads only",
            (false, false) => "must be gone",
        };
        let _ = writeln!(
            out,
            "            then old app: {} ({})",
            flag(&phase.compat.old_app),
            phase.compat.old_app.note
        );
        let _ = writeln!(
            out,
            "                 new app: {} ({})",
            flag(&phase.compat.new_app),
            phase.compat.new_app.note
        );
    }
    let mut files: Vec<&str> = plan.files.keys().map(|s| s.as_str()).collect();
    files.insert(0, "plan.yaml");
    let _ = writeln!(out, "\nWrote {}/ ({})", dir.display(), files.join(", "));
    let _ = writeln!(
        out,
        "Next: review the SQL, then `planner apply {} --phase expand --database-url ...`",
        dir.display()
    );
    out
}
