//! One fixture per rule (tests/fixtures/lint/rules/<rule-id>.sql), rendered in the human format
//! and snapshotted; each fixture must trigger its own rule.

use planner::lint::{lint_str, LintOptions};
use planner::report::{Human, Reporter};

#[test]
fn rule_fixtures() {
    insta::glob!("fixtures/lint/rules/*.sql", |path| {
        let sql = std::fs::read_to_string(path).unwrap();
        let id = path.file_stem().unwrap().to_str().unwrap();
        // A fixture can ask for an older server with a `--pg-version N` comment.
        let pg_version = sql
            .split_once("--pg-version ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(15);
        let opts = LintOptions { pg_version, ..LintOptions::default() };
        let report = lint_str(&format!("{id}.sql"), &sql, &opts);
        assert!(report.findings.iter().any(|f| f.rule == id), "fixture {id}.sql does not trigger {id}");
        let mut out = Vec::new();
        Human { colour: false }.render(&report, &mut out).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    });
}
