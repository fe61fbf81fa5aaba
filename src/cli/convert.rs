//! `planner convert FILE.sql [--tool TOOL]`: an unsafe ORM-generated migration -> the change file
//! that does the same safely, for `planner plan`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::error::InputError;

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The migration to convert (SQL as the tool writes it).
    pub file: PathBuf,
    /// The tool that wrote it: which part of the file runs "up" (e.g. dbmate's `-- migrate:up`).
    #[arg(long, value_enum)]
    pub tool: Option<crate::lint::tool::Tool>,
    /// Plan name (default: from the file name, without its version prefix).
    #[arg(long)]
    pub name: Option<String>,
    /// Write the change file here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| {
        InputError::new(format!("cannot read {}: {e}", args.file.display()))
            .help("pass the migration file the ORM generated")
    })?;
    let sql = match args.tool {
        Some(tool) => tool.prepare(&args.file, &text, &|p| std::fs::read_to_string(p).ok()).sql.into_owned(),
        None => text.clone(),
    };
    let stem = args.file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let name = args.name.clone().unwrap_or_else(|| crate::convert::name_from_file(&stem));
    let origin = args.file.display().to_string();
    let converted = crate::convert::convert(&sql, &origin, &name)?;
    if converted.changes == 0 {
        return Err(InputError::new(format!(
            "{origin}: no rename, ADD COLUMN, DROP COLUMN or SET NOT NULL to convert"
        ))
        .help("planner convert turns those into a change file; other statements can stay in your tool's migration")
        .into());
    }
    for note in &converted.notes {
        eprintln!("note: {note}");
    }
    match &args.out {
        Some(out) => {
            std::fs::write(out, &converted.yaml).with_context(|| format!("writing {}", out.display()))?;
            eprintln!(
                "wrote {} ({} change(s)); next: planner plan {} --schema schema.sql (or --target NAME)",
                out.display(),
                converted.changes,
                out.display()
            );
        }
        None => print!("{}", converted.yaml),
    }
    Ok(())
}
