//! Golden files: every example change, planned against examples/schema.sql, must produce
//! exactly the files checked in under plans/. `PLANNER_BLESS=1 cargo nextest run golden` rewrites them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use planner::change::parse_change_file;
use planner::cli::plan::{build_plan, load_schema_file};
use planner::model::DEFAULT_PG_VERSION;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example_changes() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples/changes"))
        .expect("examples/changes exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "one example per change kind at least");
    files
}

fn read_dir_files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_string_lossy().to_string();
        out.insert(name, std::fs::read_to_string(&path).expect("utf-8 file"));
    }
    out
}

fn plan_example(change: &Path, out: &Path) -> PathBuf {
    let model = load_schema_file(&root().join("examples/schema.sql"), DEFAULT_PG_VERSION)
        .expect("example schema parses");
    let located = parse_change_file(change).unwrap_or_else(|e| panic!("{}: {e}", change.display()));
    let mut plan = build_plan(&located, &model, None).unwrap_or_else(|e| panic!("{}: {e}", change.display()));
    planner::plan::write_plan_dir(out, &mut plan).expect("write plan")
}

#[test]
fn generated_plans_match_the_checked_in_golden_files() {
    let bless = std::env::var("PLANNER_BLESS").is_ok_and(|v| v == "1");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut names = Vec::new();
    for change in example_changes() {
        let dir = plan_example(&change, tmp.path());
        let name = dir.file_name().expect("name").to_string_lossy().to_string();
        names.push(name.clone());
        let golden = root().join("plans").join(&name);
        if bless {
            let _ = std::fs::remove_dir_all(&golden);
            plan_example(&change, &root().join("plans"));
            continue;
        }
        let generated = read_dir_files(&dir);
        assert!(golden.exists(), "no golden plan for {}: run with PLANNER_BLESS=1", change.display());
        let expected = read_dir_files(&golden);
        assert_eq!(
            generated.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{name}: file list differs from plans/{name}"
        );
        for (file, content) in &generated {
            assert!(
                content == &expected[file],
                "plans/{name}/{file} is out of date (PLANNER_BLESS=1 regenerates it); diff:\n{}",
                first_difference(&expected[file], content)
            );
        }
    }
    // No stale golden folders without an example behind them.
    let mut golden_dirs: Vec<String> = std::fs::read_dir(root().join("plans"))
        .expect("plans/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with('.'))
        .collect();
    golden_dirs.sort();
    names.sort();
    assert_eq!(golden_dirs, names, "plans/ holds folders with no example in examples/changes");
}

fn first_difference(expected: &str, actual: &str) -> String {
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            return format!("line {}:\n- {e}\n+ {a}", i + 1);
        }
    }
    format!("lengths differ: {} vs {} lines", expected.lines().count(), actual.lines().count())
}

#[test]
fn planning_is_byte_for_byte_deterministic() {
    for change in example_changes() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let da = read_dir_files(&plan_example(&change, a.path()));
        let db = read_dir_files(&plan_example(&change, b.path()));
        assert_eq!(da, db, "{} planned twice differs", change.display());
    }
}

#[test]
fn plan_yaml_round_trips_and_checksums_verify() {
    for change in example_changes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = plan_example(&change, tmp.path());
        let plan = planner::plan::load_dir(&dir).unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
        assert!(!plan.phases.is_empty());
        // Editing a file after planning must be refused by name.
        let victim = plan.files.keys().next().expect("at least one SQL file").clone();
        let path = dir.join(&victim);
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str("\n-- edited\n");
        std::fs::write(&path, text).expect("write");
        let err = planner::plan::load_dir(&dir).expect_err("edited file must be refused");
        assert!(format!("{err:#}").contains(&victim), "error names the file: {err:#}");
    }
}

/// planner's own generated SQL passes planner's own check: every finding is fixed or carries an
/// explained `planner:ignore` (a drop in the phase where no app uses the column).
#[test]
fn planner_check_passes_on_every_generated_file() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_planner"))
        .current_dir(root())
        .args(["check", "plans/", "--format", "json"])
        .output()
        .expect("planner runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "planner check plans/ failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json report");
    let findings = report["findings"].as_array().map(Vec::len).unwrap_or(usize::MAX);
    assert_eq!(findings, 0, "{stdout}");
}
