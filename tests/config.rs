//! planner.yaml targets through the real binary: `--target`, `--env`, missing variables,
//! `--all-targets`.

mod common;

use assert_cmd::Command;
use common::TestDb;

fn planner(dir: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("planner").expect("binary built");
    cmd.current_dir(dir).env_remove("DATABASE_URL").env_remove("USERS_URL").env_remove("BILLING_URL");
    cmd
}

fn config_dir(users_url: &str, billing_url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("planner.yaml"),
        "targets:\n  users:\n    url: ${USERS_URL}\n  billing:\n    url: ${BILLING_URL}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join(".env"), format!("USERS_URL={users_url}\n")).unwrap();
    std::fs::write(dir.path().join(".env.staging"), format!("BILLING_URL={billing_url}\n")).unwrap();
    dir
}

#[tokio::test]
async fn targets_resolve_from_env_files_and_missing_variables_are_named() {
    let users = TestDb::new().await;
    let billing = TestDb::new().await;
    let dir = config_dir(&users.url, &billing.url);

    let out = planner(dir.path()).args(["status", "--target", "users"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("no plans here"), "{stdout}");

    // BILLING_URL only exists in .env.staging.
    let out = planner(dir.path()).args(["status", "--target", "billing"]).assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("target `billing`: url uses ${BILLING_URL}, which is not set"), "{stderr}");
    planner(dir.path()).args(["status", "--target", "billing", "--env", "staging"]).assert().success();
    // Target flags are global: the brief's `planner --target billing --env staging status`.
    planner(dir.path()).args(["--target", "billing", "--env", "staging", "status"]).assert().success();
    // A planner.yaml may also hold the `check:` section of `planner check`.
    let config = std::fs::read_to_string(dir.path().join("planner.yaml")).unwrap();
    std::fs::write(dir.path().join("planner.yaml"), format!("{config}\ncheck:\n  pg_version: 15\n")).unwrap();
    planner(dir.path()).args(["status", "--target", "users"]).assert().success();

    let out = planner(dir.path()).args(["status", "--target", "biling"]).assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("no target named `biling`") && stderr.contains("did you mean `billing`?"),
        "{stderr}"
    );

    let out = planner(dir.path()).args(["status", "--all-targets", "--env", "staging"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("== target billing") && stdout.contains("== target users"), "{stdout}");

    // The process environment wins over the files.
    let out = planner(dir.path())
        .args(["status", "--target", "users"])
        .env("USERS_URL", "postgres://postgres@127.0.0.1:5432/planner_no_such_db")
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("planner_no_such_db"), "{stderr}");

    // A --target wins over DATABASE_URL from the environment.
    planner(dir.path())
        .args(["status", "--target", "users"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/planner_no_such_db")
        .assert()
        .success();

    // Several targets and no default: say which.
    let out = planner(dir.path()).args(["status"]).assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("several targets (billing, users); say which with --target NAME"), "{stderr}");
    users.drop().await;
    billing.drop().await;
}

#[test]
fn the_example_config_parses_and_names_its_targets() {
    let config = planner::config::Config::load(&common_root().join("examples/planner.yaml")).unwrap();
    assert_eq!(config.target_names(), ["billing", "users"]);
    assert_eq!(config.default_target.as_deref(), Some("users"));
}

#[test]
fn unknown_config_keys_are_errors_with_a_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planner.yaml");
    std::fs::write(&path, "targets:\n  users:\n    uri: x\n").unwrap();
    let err = planner::config::Config::load(&path).unwrap_err().to_string();
    assert!(err.contains("planner.yaml:3:5") && err.contains("unknown field `uri`"), "{err}");
}

fn common_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
