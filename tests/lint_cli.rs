//! `planner check` end to end: exit codes, inputs (files, directories, stdin), config, bad input.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn check() -> Command {
    let mut cmd = Command::cargo_bin("planner").unwrap();
    cmd.arg("check").arg("--color=never");
    cmd
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn clean_file_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let f =
        write(dir.path(), "ok.sql", "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\n");
    check()
        .arg(&f)
        .current_dir(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("ok: 1 file(s)"));
}

#[test]
fn warnings_only_exit_0_and_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let warn = write(dir.path(), "warn.sql", "UPDATE users SET a = 1;\n");
    check()
        .arg(&warn)
        .current_dir(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("warning[unbatched-dml]"));
    let err = write(dir.path(), "err.sql", "ALTER TABLE users RENAME COLUMN name TO full_name;\n");
    check()
        .arg(&err)
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("err.sql:1:1"))
        .stdout(predicate::str::contains("planner plan rename users.name full_name"));
}

#[test]
fn directories_are_walked_in_order_and_stdin_works() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "m/001_create.sql", "CREATE TABLE u (name varchar(20));\n");
    write(
        dir.path(),
        "m/sub/002_widen.sql",
        "SET lock_timeout = '1s';\nALTER TABLE u ALTER COLUMN name TYPE varchar(50);\n",
    );
    write(dir.path(), "m/README.md", "not sql");
    check()
        .arg(dir.path().join("m"))
        .current_dir(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("2 file(s), 3 statement(s)"));
    check()
        .arg("-")
        .arg("--format=json")
        .current_dir(dir.path())
        .write_stdin("ALTER TABLE users RENAME TO people;")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\"file\": \"<stdin>\""));
}

#[test]
fn unparsed_is_a_warning_unless_strict() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "bad.sql", "SELECT 1;\nALTER TABLE users FROBNICATE;\n");
    check().arg(&f).current_dir(dir.path()).assert().code(0).stdout(predicate::str::contains("bad.sql:2:1"));
    check()
        .arg(&f)
        .arg("--strict")
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("error[unparsed-statement]"));
}

#[test]
fn suppression_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "s.sql",
        "SET lock_timeout = '2s';\n-- planner:ignore drop-table archived in ticket 12\nDROP TABLE old_audit;\nDROP TABLE other;\n",
    );
    check().arg(&f).current_dir(dir.path()).assert().code(0).stdout(
        predicate::str::contains("1 suppressed").and(predicate::str::contains("warning[drop-table]")),
    );
    // A team that gates every drop (drop-table is a warning unless a view or trigger reads it).
    write(dir.path(), "planner.yaml", "check:\n  severity: {drop-table: error}\n");
    check()
        .arg(&f)
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("error[drop-table]").and(predicate::str::contains("1 suppressed")));
    let cfg = write(dir.path(), "other.yaml", "check:\n  disable: [drop-table]\n");
    check()
        .arg(&f)
        .arg("--config")
        .arg(&cfg)
        .current_dir(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("drop-table").not());
}

#[test]
fn pg_version_flag_changes_version_dependent_rules() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "d.sql",
        "SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0;\n",
    );
    check().arg(&f).current_dir(dir.path()).assert().code(0);
    check()
        .arg(&f)
        .arg("--pg-version=10")
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("add-column-rewrite"));
}

#[test]
fn bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    check()
        .arg("does/not/exist.sql")
        .current_dir(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does/not/exist.sql"));
    check().arg("x.sql").arg("--format=xml").current_dir(dir.path()).assert().code(2);
    check().current_dir(dir.path()).assert().code(2);
    let bad_cfg = write(dir.path(), "bad.yaml", "check:\n  disable: [no-such-rule]\n");
    let f = write(dir.path(), "a.sql", "SELECT 1;");
    check()
        .arg(&f)
        .arg("--config")
        .arg(&bad_cfg)
        .current_dir(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no-such-rule"));
    let binary = dir.path().join("bin.sql");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    check()
        .arg(&binary)
        .current_dir(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not UTF-8"));
    let change = write(dir.path(), "change.yaml", "name: x\nchanges: []\n");
    check()
        .arg(&change)
        .current_dir(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`changes` is empty"));
    let unterminated = write(dir.path(), "u.sql", "SELECT 1;\nSELECT 'oops;\n");
    check()
        .arg(&unterminated)
        .arg("--strict")
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("u.sql:2:8"));
}

#[test]
fn byte_order_mark_and_crlf_are_fine() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "w.sql", "\u{feff}SELECT 1;\r\nALTER TABLE t RENAME TO u;\r\n");
    check()
        .arg(&f)
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("w.sql:2:1"))
        .stdout(predicate::str::contains("0 unparsed"));
}

#[test]
fn list_rules_names_every_rule() {
    check()
        .arg("--list-rules")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("set-not-null"))
        .stdout(predicate::str::contains("unbatched-dml"));
}

/// Split a suggested command line the way a POSIX shell would (plain words and '...' quoting).
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted, mut in_word) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[test]
fn suggested_planner_commands_run_against_the_example_schema() {
    let dir = tempfile::tempdir().unwrap();
    let sql = "SET lock_timeout = '2s';\n\
               ALTER TABLE users RENAME COLUMN name TO full_name;\n\
               ALTER TABLE users DROP COLUMN legacy_flag;\n\
               ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n\
               ALTER TABLE orders RENAME COLUMN \"MixedCase\" TO \"Mixed2\";\n";
    let out =
        check().arg("--format=json").arg("-").current_dir(dir.path()).write_stdin(sql).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let suggestions: Vec<&str> =
        report["findings"].as_array().unwrap().iter().filter_map(|f| f["suggestion"].as_str()).collect();
    assert_eq!(suggestions.len(), 4, "{suggestions:?}");
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/schema.sql");
    for suggestion in suggestions {
        let words = shell_words(suggestion);
        assert_eq!(words[0], "planner", "{suggestion}");
        Command::cargo_bin("planner")
            .unwrap()
            .args(&words[1..])
            .arg("--schema")
            .arg(&schema)
            .arg("--out")
            .arg(dir.path().join("plans"))
            .assert()
            .code(0);
    }
}

#[test]
fn tool_prisma_runs_a_single_statement_file_outside_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("migrations");
    let one = "SET lock_timeout = '2s';\n";
    // One statement: Prisma sends it alone, so CONCURRENTLY works.
    write(&m, "20240101_idx/migration.sql", "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n");
    write(&m, "migration_lock.toml", "provider = \"postgresql\"\n");
    write(&m, "seed.sql", "UPDATE users SET a = 1;\n");
    check().arg("--tool=prisma").arg(&m).assert().code(0).stdout(predicate::str::contains("ok: 1 file(s)"));
    // Several statements: one implicit transaction, CONCURRENTLY fails.
    write(
        &m,
        "20240102_two/migration.sql",
        &format!("{one}CREATE INDEX CONCURRENTLY users_name_idx ON users (name);\n"),
    );
    check().arg("--tool=prisma").arg(&m).assert().code(1).stdout(
        predicate::str::contains("concurrently-in-transaction").and(predicate::str::contains("2 file(s)")),
    );
    // Without --tool --assume-in-transaction flags even the single-statement file.
    check().arg("--assume-in-transaction").arg(m.join("20240101_idx/migration.sql")).assert().code(1);
}

#[test]
fn tool_golang_migrate_reads_up_files_and_dialect_suffixes() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m");
    write(&m, "0001_init.up.sql", "CREATE TABLE t (id bigint PRIMARY KEY);\n");
    write(&m, "0001_init.down.sql", "DROP TABLE t;\n");
    write(
        &m,
        "0002_more.up.sql.postgres",
        "SET lock_timeout = '2s';\nALTER TABLE t RENAME COLUMN id TO key;\n",
    );
    write(&m, "0002_more.up.sql.sqlite", "ALTER TABLE t RENAME COLUMN id TO key;\n");
    check().arg("--tool=golang-migrate").arg(&m).assert().code(1).stdout(
        predicate::str::contains("2 file(s)")
            .and(predicate::str::contains("0002_more.up.sql.postgres:2:1"))
            .and(predicate::str::contains("drop-table").not())
            .and(
                predicate::str::contains("note:")
                    .and(predicate::str::contains("sqlite SQL (not PostgreSQL)")),
            ),
    );
}

#[test]
fn tool_goose_reads_the_up_section_only() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "20240101_x.sql",
        "-- +goose Up\nSET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN a int;\n-- +goose Down\nALTER TABLE t DROP COLUMN a;\n",
    );
    check()
        .arg("--tool=goose")
        .arg(&f)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("drop-column").not());
    check().arg(&f).assert().stdout(predicate::str::contains("drop-column"));
}

#[test]
fn changed_since_reports_changed_files_with_the_context_of_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    let m = dir.path().join("migrations");
    write(&m, "001_users.sql", "CREATE TABLE users (name varchar(20));\nDROP TABLE legacy;\n");
    git(&["add", "."]);
    git(&["commit", "-qm", "one"]);
    // Widening a varchar declared by the unchanged file: no rewrite, known only from its context.
    write(
        &m,
        "002_widen.sql",
        "SET lock_timeout = '2s';\nALTER TABLE users ALTER COLUMN name TYPE varchar(40);\n",
    );
    check().args(["--changed-since", "HEAD", "migrations"]).current_dir(dir.path()).assert().code(0).stdout(
        predicate::str::contains("ok: 1 file(s)")
            .and(predicate::str::contains("1 other file(s) only read"))
            .and(predicate::str::contains("drop-table").not()),
    );
    // The full run still reports the first file.
    check().arg("migrations").current_dir(dir.path()).assert().stdout(predicate::str::contains("drop-table"));
    // Without the first file's context the widening would be reported.
    check()
        .arg(m.join("002_widen.sql"))
        .current_dir(dir.path())
        .assert()
        .stdout(predicate::str::contains("change-column-type"));
}

#[test]
fn latest_reports_the_last_files_with_the_context_of_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("migrations");
    write(&m, "001_users.sql", "CREATE TABLE users (name varchar(20));\nDROP TABLE legacy;\n");
    write(
        &m,
        "002_widen.sql",
        "SET lock_timeout = '2s';\nALTER TABLE users ALTER COLUMN name TYPE varchar(40);\n",
    );
    check()
        .args(["--latest", "1"])
        .arg(&m)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("ok: 1 file(s)").and(predicate::str::contains("drop-table").not()));
    check().args(["--latest", "2"]).arg(&m).assert().stdout(predicate::str::contains("drop-table"));
}

#[test]
fn tool_postgres_migrations_honours_disable_transaction_and_numeric_order() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("tenant");
    write(&m, "0002-init.sql", "CREATE TABLE objects (id bigint PRIMARY KEY, name varchar(10));\n");
    // The runner orders by number: 00010 runs after 0002 (path order puts it first), so the
    // column's type is known and the widening is catalog-only.
    write(
        &m,
        "00010-widen.sql",
        "SET lock_timeout = '2s';\nALTER TABLE objects ALTER COLUMN name TYPE varchar(20);\n",
    );
    write(
        &m,
        "0011-concurrent.sql",
        "-- postgres-migrations disable-transaction\nCREATE INDEX CONCURRENTLY objects_name_idx ON objects (name);\n",
    );
    let findings = |args: &[&str]| -> Vec<String> {
        let out = check().args(args).arg("--format=json").arg(&m).output().unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(findings(&["--tool=postgres-migrations"]), Vec::<String>::new());
    // Without the tool: path order and every file in a transaction.
    let mut plain = findings(&["--assume-in-transaction"]);
    plain.sort();
    assert_eq!(plain, ["change-column-type", "concurrently-in-transaction"]);
}
