//! `planner rollback PLAN_DIR`: undo the latest applied phase.

use std::path::PathBuf;

use clap::Args;

use super::args::{LockArgs, TargetArgs};
use super::json::{OutputFormat, RollbackDoc};
use super::log::Verbosity;
use crate::exec::{self, LoadedPlan, Session};
use crate::plan::load::PlanEdited;

/// The `name:` of a plan.yaml that may no longer be a valid plan.
fn plan_name(dir: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("plan.yaml")).ok()?;
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).ok()?;
    value.get("name")?.as_str().map(str::to_string)
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The plan folder written by `planner plan`.
    pub plan_dir: PathBuf,
    /// Output format: human, or json (a versioned document on stdout, see README "JSON output").
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub lock: LockArgs,
}

pub async fn run(args: RollbackArgs, target: &TargetArgs, _verbosity: Verbosity) -> anyhow::Result<()> {
    let format = args.format;
    let name = plan_name(&args.plan_dir).unwrap_or_else(|| "plan".into());
    let mut units = Vec::new();
    let result = rollback(args, target, &mut units).await;
    let doc = |phase: Option<String>, result, err: Option<&anyhow::Error>, units| RollbackDoc {
        format: "planner.rollback",
        version: super::json::VERSION,
        ok: err.is_none(),
        plan: name.clone(),
        phase,
        result,
        units,
        error: err.map(crate::exec::failure::render),
        exit_code: err.map(crate::error::exit_code).unwrap_or(0),
    };
    match result {
        Ok((plan, phase)) => {
            match format {
                OutputFormat::Human => println!("rolled back {phase} of plan {plan}"),
                OutputFormat::Json => {
                    super::json::print(&doc(Some(phase.as_str().to_string()), "rolled_back", None, units))?
                }
            }
            Ok(())
        }
        Err(e) => {
            if format == OutputFormat::Json {
                super::json::print(&doc(None, "failed", Some(&e), units))?;
            }
            Err(e)
        }
    }
}

/// Undo the latest phase; the units that ran are left in `units` (also on failure).
async fn rollback(
    args: RollbackArgs,
    target: &TargetArgs,
    units: &mut Vec<crate::exec::UnitRun>,
) -> anyhow::Result<(String, crate::plan::PhaseKind)> {
    let on_disk = LoadedPlan::load(&args.plan_dir);
    let url = target.resolve_url()?;
    let name = match &on_disk {
        Ok(loaded) => loaded.plan.name.clone(),
        Err(_) => plan_name(&args.plan_dir).unwrap_or_else(|| "plan".into()),
    };
    if let Ok(loaded) = &on_disk {
        exec::mysql::check_url(&loaded.plan, &url)?;
    }
    if exec::mysql::is_mysql_url(&url) {
        return rollback_mysql(on_disk, &args, &url, &name).await;
    }
    let label = format!("planner/{name}/rollback");
    let mut session = Session::open_as(&url, args.lock.session_options(), &label).await?;
    // An edited folder (a reviewer's comment in contract.up.sql) must not block the way back:
    // rollback undoes what the database ran, from the copy registered when it ran.
    let loaded = match on_disk {
        Ok(loaded) => loaded,
        Err(err) if err.downcast_ref::<PlanEdited>().is_some() => {
            match LoadedPlan::registered(session.conn(), &args.plan_dir, &name).await {
                Ok(registered) => {
                    tracing::warn!(
                        target: "planner",
                        "{err:#}\nrolling back with plan `{name}` as registered in the database"
                    );
                    registered
                }
                Err(_) => {
                    session.close().await?;
                    return Err(err);
                }
            }
        }
        Err(err) => {
            session.close().await?;
            return Err(err);
        }
    };
    let result = exec::rollback_latest(&mut session, &loaded).await;
    *units = session.take_units();
    let phase = session.close_after(result).await?;
    Ok((loaded.plan.name.clone(), phase))
}

/// [`rollback`] on MySQL/MariaDB; an edited folder falls back to the copy in `planner_plans`.
async fn rollback_mysql(
    on_disk: anyhow::Result<LoadedPlan>,
    args: &RollbackArgs,
    url: &str,
    name: &str,
) -> anyhow::Result<(String, crate::plan::PhaseKind)> {
    let mut run = exec::mysql::Run::open(url, exec::mysql::limits(&args.lock.session_options())).await?;
    let loaded = match on_disk {
        Ok(loaded) => Ok(loaded),
        Err(err) if err.downcast_ref::<PlanEdited>().is_some() => {
            match crate::mysql::state::plan_record(run.session.conn(), name).await {
                Ok(Some(record)) => {
                    match exec::mysql::load::from_yaml(
                        &record.plan_yaml,
                        &format!("registered plan `{name}`"),
                    ) {
                        Ok((plan, _)) => {
                            tracing::warn!(
                                target: "planner",
                                "{err:#}\nrolling back with plan `{name}` as registered in the database"
                            );
                            Ok(LoadedPlan {
                                dir: args.plan_dir.clone(),
                                plan,
                                sha256: record.plan_sha256,
                                yaml: record.plan_yaml,
                            })
                        }
                        Err(_) => Err(err),
                    }
                }
                _ => Err(err),
            }
        }
        Err(err) => Err(err),
    };
    let result = match loaded {
        Ok(loaded) => exec::mysql::rollback::rollback_latest(&mut run, &loaded)
            .await
            .map(|phase| (loaded.plan.name.clone(), phase)),
        Err(e) => Err(e),
    };
    run.close_after(result).await
}
