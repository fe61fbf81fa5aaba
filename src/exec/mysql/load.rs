//! Reading a MySQL/MariaDB plan folder back: plan.yaml and its SQL files must be byte for byte
//! what the MySQL compiler's file writer renders from the parsed plan (the PostgreSQL loader's
//! rule, with the MySQL files), so what runs is what was reviewed.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::change::mysql::{files, MySqlPlan, MySqlTarget};
use crate::error::InputError;
use crate::exec::apply::LoadedPlan;
use crate::plan::load::first_difference;
use crate::plan::Plan;
use crate::sql::ddl::Ddl;

/// `dir` as a MySQL plan, or `None` when plan.yaml is not one (the PostgreSQL loader then reads
/// it and reports whatever is wrong with it, as before).
pub fn load_if_mysql(dir: &Path) -> anyhow::Result<Option<LoadedPlan>> {
    let path = dir.join("plan.yaml");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let Ok(plan) = serde_yaml_ng::from_str::<Plan>(&text) else { return Ok(None) };
    if !plan.dialect.is_mysql_family() {
        return Ok(None);
    }
    let (plan, rendered) = from_yaml(&text, &path.display().to_string())?;
    for (file, expected) in &rendered {
        let file_path = dir.join(file);
        let bytes = std::fs::read(&file_path).with_context(|| format!("reading {}", file_path.display()))?;
        if let Some(edit) =
            first_difference(&file_path.display().to_string(), expected, &String::from_utf8_lossy(&bytes))
        {
            return Err(edit.into());
        }
    }
    let sha256 = crate::plan::sha256_hex(text.as_bytes());
    Ok(Some(LoadedPlan { dir: dir.to_path_buf(), plan, sha256, yaml: text }))
}

/// The server a plan was compiled for, as the MySQL compiler names it.
pub fn target(plan: &Plan) -> Result<MySqlTarget, InputError> {
    MySqlTarget::parse(plan.dialect.as_str(), Some(&plan.server_version.to_string()))
        .map_err(|why| InputError::new(format!("plan `{}`: {why}", plan.name)))
}

/// Parse MySQL plan.yaml text (from a folder or from `planner_plans`) and render the SQL files it
/// implies; the text must be exactly what planner writes for the parsed plan.
pub fn from_yaml(text: &str, origin: &str) -> anyhow::Result<(Plan, BTreeMap<String, String>)> {
    let plan = crate::plan::load::parse_yaml(text, origin)?;
    let steps = plan.phases.iter().flat_map(|p| &p.steps).flat_map(|s| std::iter::once(s).chain(&s.undo));
    if let Some(step) = steps.into_iter().find(|s| !matches!(s.op, Ddl::MySql(_))) {
        return Err(InputError::new(format!(
            "{origin}: plan `{}` is for {} but step `{}` is not a MySQL statement",
            plan.name,
            plan.dialect.product(),
            step.why
        ))
        .help("plan the change again with `planner plan --dialect mariadb|mysql`")
        .into());
    }
    let mut mysql = MySqlPlan { target: target(&plan)?, plan };
    let rendered = files::render(&mut mysql);
    let yaml = files::plan_yaml(&mysql)?;
    if let Some(edit) = first_difference(origin, &yaml, text) {
        return Err(edit.into());
    }
    Ok((mysql.plan, rendered))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans-mariadb").join(name)
    }

    #[test]
    fn golden_mariadb_plans_load_and_edits_are_refused() {
        let loaded = load_if_mysql(&golden("mariadb_rename_users_name")).unwrap().expect("a MariaDB plan");
        assert_eq!(loaded.plan.name, "mariadb_rename_users_name");
        let pg = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/rename_users_name");
        assert!(load_if_mysql(&pg).unwrap().is_none(), "a PostgreSQL plan is left to its loader");

        let tmp = tempfile::tempdir().unwrap();
        for f in std::fs::read_dir(golden("mariadb_rename_users_name")).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, tmp.path().join(f.file_name().unwrap())).unwrap();
        }
        let up = tmp.path().join("expand.up.sql");
        let text = std::fs::read_to_string(&up).unwrap().replace("ALGORITHM=INSTANT", "ALGORITHM=COPY");
        std::fs::write(&up, text).unwrap();
        let e = load_if_mysql(tmp.path()).unwrap_err();
        assert!(e.downcast_ref::<crate::plan::load::PlanEdited>().is_some(), "{e:#}");
    }
}
