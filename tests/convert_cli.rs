//! `planner convert`: an ORM's unsafe migration -> the change file; planned, it is exactly the
//! plan of the hand-written change; `planner check` points to it; nothing to convert is exit 2.

use std::path::PathBuf;

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn planner() -> Command {
    let mut c = Command::cargo_bin("planner").unwrap();
    c.current_dir(root());
    c
}

#[test]
fn a_converted_rename_plans_exactly_like_the_hand_written_change() {
    let tmp = tempfile::tempdir().unwrap();
    let migration = tmp.path().join("20240101120000_rename_users_name.sql");
    // What an ORM generates for a renamed model field.
    std::fs::write(&migration, "ALTER TABLE \"users\" RENAME COLUMN \"name\" TO \"full_name\";\n").unwrap();
    let change = tmp.path().join("change.yaml");
    planner().arg("convert").arg(&migration).arg("--out").arg(&change).assert().success();
    let plans = tmp.path().join("plans");
    planner()
        .arg("plan")
        .arg(&change)
        .args(["--schema", "examples/schema.sql", "--out"])
        .arg(&plans)
        .assert()
        .success();
    let golden = root().join("plans/rename_users_name");
    for entry in std::fs::read_dir(&golden).unwrap() {
        let name = entry.unwrap().file_name();
        let ours = std::fs::read_to_string(plans.join("rename_users_name").join(&name)).unwrap();
        let theirs = std::fs::read_to_string(golden.join(&name)).unwrap();
        assert!(ours == theirs, "{name:?} differs from plans/rename_users_name");
    }
}

#[test]
fn dbmate_up_section_only_and_notes_for_what_is_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let migration = tmp.path().join("20240101_users.sql");
    std::fs::write(
        &migration,
        "-- migrate:up\nALTER TABLE users DROP COLUMN legacy_flag;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;\nCREATE INDEX users_x ON users (email);\n-- migrate:down\nALTER TABLE users ADD COLUMN legacy_flag boolean;\n",
    )
    .unwrap();
    let out = planner().arg("convert").arg(&migration).args(["--tool", "dbmate"]).output().unwrap();
    assert!(out.status.success());
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(yaml.contains("- drop_column:\n    table: users\n    column: legacy_flag"), "{yaml}");
    assert!(yaml.contains("- set_not_null:\n    table: users\n    column: email"), "{yaml}");
    assert!(!yaml.contains("add_column"), "the down section is not converted: {yaml}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("CREATE INDEX users_x"), "noted");
}

#[test]
fn check_points_to_convert_and_nothing_to_convert_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let migration = tmp.path().join("0002_rename.sql");
    std::fs::write(&migration, "ALTER TABLE users RENAME COLUMN name TO full_name;\n").unwrap();
    let out = planner().arg("check").arg(&migration).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let hint = String::from_utf8_lossy(&out.stderr);
    assert!(hint.contains(&format!("planner convert {}", migration.display())), "{hint}");

    let safe = tmp.path().join("0003_index.sql");
    std::fs::write(&safe, "CREATE INDEX CONCURRENTLY i ON users (email);\n").unwrap();
    planner().arg("convert").arg(&safe).assert().code(2);
}
