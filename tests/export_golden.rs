//! `planner export` output, checked in under examples/exports/<tool>/<plan>/ and reviewed like
//! code (Flyway, golang-migrate, goose and Rails cannot be installed here: their goldens are the
//! test). `PLANNER_BLESS=1 cargo nextest run export_golden` rewrites them. And `planner check`
//! is clean on every exported SQL folder of every plan.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const TOOLS: &[&str] = &[
    "sqlx",
    "sequelize",
    "dbmate",
    "django",
    "alembic",
    "knex",
    "node-pg-migrate",
    "flyway",
    "golang-migrate",
    "goose",
    "rails",
];

/// Tools whose exported files are SQL that `planner check --tool` reads.
const SQL_TOOLS: &[&str] = &["sqlx", "dbmate", "flyway", "golang-migrate", "goose"];

fn export(tool: &str, plan: &str, out: &Path, extra: &[&str]) {
    let base = if matches!(tool, "django" | "flyway" | "golang-migrate") { "1" } else { "20260101000000" };
    let mut args: Vec<String> =
        ["export", &format!("plans/{plan}"), "--to", tool, "--out"].iter().map(|s| s.to_string()).collect();
    args.push(out.display().to_string());
    args.extend(["--version-base".to_string(), base.to_string()]);
    match tool {
        "django" => args.extend(["--after".to_string(), "shop.0001_initial".to_string()]),
        "alembic" => args.extend(["--after".to_string(), "0001_base".to_string()]),
        _ => {}
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = Command::cargo_bin("planner").unwrap().current_dir(root()).args(&args).output().unwrap();
    assert!(o.status.success(), "planner {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr));
}

fn files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let e = e.unwrap();
        out.insert(e.file_name().to_string_lossy().to_string(), std::fs::read_to_string(e.path()).unwrap());
    }
    out
}

fn golden_cases() -> Vec<(&'static str, &'static str)> {
    let mut cases: Vec<(&str, &str)> = TOOLS.iter().map(|t| (*t, "add_users_email_verified")).collect();
    // A plan with CREATE INDEX CONCURRENTLY, for the tools only goldens cover.
    for tool in ["flyway", "golang-migrate", "goose", "rails"] {
        cases.push((tool, "rename_users_name"));
    }
    cases
}

#[test]
fn exported_migrations_match_the_checked_in_golden_files() {
    let bless = std::env::var("PLANNER_BLESS").as_deref() == Ok("1");
    for (tool, plan) in golden_cases() {
        let golden = root().join("examples/exports").join(tool).join(plan);
        let tmp = tempfile::tempdir().unwrap();
        export(tool, plan, tmp.path(), &[]);
        let now = files(tmp.path());
        if bless {
            let _ = std::fs::remove_dir_all(&golden);
            std::fs::create_dir_all(&golden).unwrap();
            for (name, text) in &now {
                std::fs::write(golden.join(name), text).unwrap();
            }
            continue;
        }
        let then = files(&golden);
        assert_eq!(
            then.keys().collect::<Vec<_>>(),
            now.keys().collect::<Vec<_>>(),
            "{tool}/{plan}: file list differs (PLANNER_BLESS=1 regenerates)"
        );
        for (name, text) in &now {
            assert!(
                &then[name] == text,
                "examples/exports/{tool}/{plan}/{name} is out of date (PLANNER_BLESS=1 regenerates it)"
            );
        }
    }
}

#[test]
fn planner_check_is_clean_on_every_exported_sql_folder() {
    let plans: Vec<String> = std::fs::read_dir(root().join("plans"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    for tool in SQL_TOOLS {
        for plan in &plans {
            for extra in [&[][..], &["--inline-backfill"][..]] {
                let tmp = tempfile::tempdir().unwrap();
                export(tool, plan, tmp.path(), extra);
                let o = Command::cargo_bin("planner")
                    .unwrap()
                    .args(["check", "--tool", tool])
                    .arg(tmp.path())
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "planner check --tool {tool} on the {plan} export {extra:?}:\n{}",
                    String::from_utf8_lossy(&o.stdout)
                );
            }
        }
    }
}

/// The code-based tools' files are valid code of their language (node and python3 are on every
/// machine that runs this suite; Ruby is not, Rails' files are checked as goldens only).
#[test]
fn exported_javascript_and_python_files_compile() {
    for (tool, plan) in golden_cases() {
        let dir = root().join("examples/exports").join(tool).join(plan);
        for name in files(&dir).keys() {
            let path = dir.join(name);
            let out = if name.ends_with(".js") {
                std::process::Command::new("node").arg("--check").arg(&path).output()
            } else if name.ends_with(".py") {
                let cache = tempfile::tempdir().unwrap();
                std::process::Command::new("python3")
                    .env("PYTHONPYCACHEPREFIX", cache.path())
                    .args(["-m", "py_compile"])
                    .arg(&path)
                    .output()
            } else {
                continue;
            }
            .unwrap_or_else(|e| panic!("running the checker for {}: {e}", path.display()));
            assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
        }
    }
}
