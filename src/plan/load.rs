//! Reading a plan folder back: plan.yaml plus its SQL files, checked against their sha256.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::{Plan, PLAN_FORMAT_VERSION, READABLE_PLAN_FORMATS};
use crate::error::{InputError, Location};

/// sha256 of bytes, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A plan folder whose files are not what planner renders from its plan.yaml: an edit (or a
/// merge-conflict fix) that nobody reviewed as a plan. Callers branch on it: rollback can fall back
/// to the copy registered in the database.
#[derive(Debug, thiserror::Error)]
#[error("{file} differs from what planner renders for this plan, first at line {line}:\n    expected: {expected}\n    found:    {found}\n  help: planner runs only what it renders from plan.yaml, and the SQL files must be exactly that; undo the edit (git checkout), or re-plan with `planner plan … --force` if the plan is not applied yet")]
pub struct PlanEdited {
    pub file: String,
    pub line: usize,
    pub expected: String,
    pub found: String,
}

/// Load `dir/plan.yaml` and check that it and every SQL file are byte for byte what planner
/// renders from the parsed plan.
pub fn load_dir(dir: &Path) -> anyhow::Result<Plan> {
    Ok(read_dir(dir)?.0)
}

/// [`load_dir`], also returning the exact plan.yaml text it parsed (read once, so the text,
/// its sha256 and the plan always agree).
pub fn read_dir(dir: &Path) -> anyhow::Result<(Plan, String)> {
    let path = dir.join("plan.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        InputError::new(format!("cannot read {}: {e}", path.display()))
            .help("pass the folder written by `planner plan` (e.g. plans/rename_users_name)")
    })?;
    let (plan, files) = from_yaml(&text, &path.display().to_string())?;
    for (file, expected) in &files {
        let file_path = dir.join(file);
        let bytes = std::fs::read(&file_path).with_context(|| format!("reading {}", file_path.display()))?;
        let found = String::from_utf8_lossy(&bytes);
        if let Some(edit) = first_difference(&file_path.display().to_string(), expected, &found) {
            return Err(edit.into());
        }
    }
    Ok((plan, text))
}

/// plan.yaml text as a [`Plan`] of a format this planner reads, before anything checks that it
/// is exactly what planner writes (every dialect's loader starts here).
pub fn parse_yaml(text: &str, origin: &str) -> Result<Plan, InputError> {
    let plan: Plan = serde_yaml_ng::from_str(text).map_err(|e| {
        let mut err = InputError::new(format!("invalid plan file: {e}"));
        if let Some(loc) = e.location() {
            err = err.at(Location { file: origin.to_string(), line: loc.line(), column: loc.column() });
        }
        err
    })?;
    if !READABLE_PLAN_FORMATS.contains(&plan.planner_plan) {
        return Err(InputError::new(format!(
            "{origin} has plan format {}, this planner reads formats 1 to {PLAN_FORMAT_VERSION}",
            plan.planner_plan
        ))
        .help("re-run `planner plan` with this version of planner"));
    }
    Ok(plan)
}

/// Parse plan.yaml text (from a folder or from the database's copy) and render the SQL files it
/// implies. The text itself must be exactly what planner writes for the parsed plan, so an edit
/// anywhere in it (a statement, a lock, a note) is refused, not run.
pub fn from_yaml(text: &str, origin: &str) -> anyhow::Result<(Plan, BTreeMap<String, String>)> {
    let plan = parse_yaml(text, origin)?;
    let mut rendered = plan.clone();
    let files = super::files::render(&mut rendered);
    let yaml = super::write::plan_yaml(&rendered)?;
    if let Some(edit) = first_difference(origin, &yaml, text) {
        return Err(edit.into());
    }
    Ok((rendered, files))
}

/// The first line where `found` differs from `expected`, if any.
pub fn first_difference(file: &str, expected: &str, found: &str) -> Option<PlanEdited> {
    if expected == found {
        return None;
    }
    let mut e = expected.split_inclusive('\n');
    let mut f = found.split_inclusive('\n');
    let mut line = 1;
    loop {
        match (e.next(), f.next()) {
            (Some(a), Some(b)) if a == b => line += 1,
            (a, b) => {
                let show = |l: Option<&str>| match l {
                    Some(l) => format!("{:?}", crate::sql::ident::shorten(l.trim_end_matches('\n'), 200)),
                    None => "(end of file)".to_string(),
                };
                return Some(PlanEdited { file: file.to_string(), line, expected: show(a), found: show(b) });
            }
        }
    }
}
