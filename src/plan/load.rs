//! Reading a plan folder back: plan.yaml plus its SQL files, checked against their sha256.

use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::{Plan, PLAN_FORMAT_VERSION};
use crate::error::{InputError, Location};

/// sha256 of bytes, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Load `dir/plan.yaml` and verify every SQL file it lists still has the recorded checksum.
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
    let plan: Plan = serde_yaml_ng::from_str(&text).map_err(|e| {
        let mut err = InputError::new(format!("invalid plan file: {e}"));
        if let Some(loc) = e.location() {
            err =
                err.at(Location { file: path.display().to_string(), line: loc.line(), column: loc.column() });
        }
        err
    })?;
    if plan.planner_plan != PLAN_FORMAT_VERSION {
        return Err(InputError::new(format!(
            "{} has plan format {}, this planner reads format {PLAN_FORMAT_VERSION}",
            path.display(),
            plan.planner_plan
        ))
        .help("re-run `planner plan` with this version of planner")
        .into());
    }
    for (file, expected) in &plan.files {
        let file_path = dir.join(file);
        let bytes = std::fs::read(&file_path).with_context(|| format!("reading {}", file_path.display()))?;
        let actual = sha256_hex(&bytes);
        if &actual != expected {
            return Err(InputError::new(format!(
                "{} was edited after it was planned (sha256 {actual}, plan.yaml records {expected})",
                file_path.display()
            ))
            .help("planner runs the steps recorded in plan.yaml; re-run `planner plan` instead of editing SQL files")
            .into());
        }
    }
    Ok((plan, text))
}
