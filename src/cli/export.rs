//! `planner export PLAN_DIR --to TOOL --out DIR`: the plan's phases as migrations of the team's
//! own tool, with planner's state and contract checks inside them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::error::InputError;
use crate::export::{self, ExportOptions, Selection, Tool};
use crate::plan::PhaseKind;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The plan folder written by `planner plan`.
    pub plan_dir: PathBuf,
    /// The migration tool whose folder receives the migrations.
    #[arg(long = "to", value_enum)]
    pub tool: Tool,
    /// The tool's migrations folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Export one phase only (expand or contract), for teams that ship them in different releases.
    #[arg(long)]
    pub phase: Option<PhaseKind>,
    /// Run the backfill as a migration between expand and contract (batches committed one by
    /// one), instead of the `planner backfill` job. For small tables.
    #[arg(long)]
    pub inline_backfill: bool,
    /// Version of the first migration (the next count up). Default: the current UTC time
    /// (YYYYMMDDHHMMSS) for tools that use timestamps, else one past the highest in --out.
    #[arg(long)]
    pub version_base: Option<u64>,
    /// The migration the exported ones follow: Django `app.0042_name` (or `0042_name`), Alembic
    /// revision id.
    #[arg(long)]
    pub after: Option<String>,
    /// Overwrite files in --out that differ from what planner writes.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let (plan, yaml) = crate::plan::read_dir(&args.plan_dir)?;
    if args.phase == Some(PhaseKind::Backfill) {
        return Err(InputError::new("the backfill is not a migration: export expand or contract")
            .help(format!(
                "run `planner backfill {}` as a job between the releases, or pass --inline-backfill to export it as a migration",
                args.plan_dir.display()
            ))
            .into());
    }
    if let Some(kind) = args.phase {
        if plan.phase(kind).is_none_or(|p| p.steps.is_empty()) {
            return Err(
                InputError::new(format!("plan `{}` has no {kind} phase with steps", plan.name)).into()
            );
        }
    }
    let existing = existing_versions(&args.out, args.tool);
    let version_base = match args.version_base {
        Some(v) => v,
        None if args.tool.timestamped() => now_timestamp().max(existing.map(|v| v + 1).unwrap_or(0)),
        None => existing.map(|v| v + 1).unwrap_or(1),
    };
    let (app_label, after) = match (&args.after, args.tool) {
        (Some(a), Tool::Django) => match a.split_once('.') {
            Some((app, name)) => (app.to_string(), Some(name.to_string())),
            None => (django_app(&args.out), Some(a.clone())),
        },
        (a, _) => (django_app(&args.out), a.clone()),
    };
    let opts = ExportOptions {
        tool: args.tool,
        selection: Selection { phase: args.phase, inline_backfill: args.inline_backfill },
        version_base,
        plan_dir: args.plan_dir.display().to_string(),
        after,
        app_label,
    };
    let files = export::export(&plan, &yaml, &opts);
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    for f in &files {
        let path = args.out.join(&f.path);
        if let Ok(old) = std::fs::read_to_string(&path) {
            if old != f.contents && !args.force {
                return Err(InputError::new(format!(
                    "{} exists and differs from what planner exports; nothing was written",
                    path.display()
                ))
                .help("pass --force to overwrite it, or export to another folder")
                .into());
            }
        }
    }
    for f in &files {
        let path = args.out.join(&f.path);
        std::fs::write(&path, &f.contents).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    print_runbook(&plan, &opts, &args.out);
    Ok(())
}

fn print_runbook(plan: &crate::plan::Plan, opts: &ExportOptions, out: &Path) {
    let has_backfill = plan.phase(PhaseKind::Backfill).is_some_and(|p| !p.backfill.is_empty());
    let wanted = |k: PhaseKind| opts.selection.phase.is_none_or(|p| p == k);
    println!("\nRelease by release ({} migrations in {}):", opts.tool, out.display());
    if wanted(PhaseKind::Expand) {
        println!("  release N:    the tool runs the expand migration(s) of `{}`", plan.name);
    }
    if has_backfill {
        if opts.selection.inline_backfill {
            println!("                then the inline backfill migration");
        } else {
            println!("  between:      planner backfill {}", opts.plan_dir);
        }
    }
    if wanted(PhaseKind::Contract) && plan.phase(PhaseKind::Contract).is_some_and(|p| !p.steps.is_empty()) {
        println!(
            "  release N+1:  the tool runs the contract migration(s); they refuse, changing nothing, until the preconditions hold (planner verify {})",
            opts.plan_dir
        );
    }
}

/// The highest version among the tool's migrations already in `dir`.
fn existing_versions(dir: &Path, tool: Tool) -> Option<u64> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let name =
                if tool == Tool::Flyway { name.trim_start_matches(['V', 'U']).to_string() } else { name };
            let digits: String = name.chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse::<u64>().ok()
        })
        .max()
}

/// Django's app label: the folder that holds `migrations/`.
fn django_app(out: &Path) -> String {
    out.canonicalize()
        .unwrap_or_else(|_| out.to_path_buf())
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "app".to_string())
}

/// The current UTC time as YYYYMMDDHHMMSS.
fn now_timestamp() -> u64 {
    let rfc = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let digits: String = rfc.chars().filter(|c| c.is_ascii_digit()).collect();
    digits.parse().unwrap_or(0)
}
