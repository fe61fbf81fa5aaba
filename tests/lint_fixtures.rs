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

/// Pattern fixtures (tests/fixtures/lint/patterns/*.sql): each states what it must produce with
/// `-- expect: <rule-id> <severity>` comments, each naming a finding on the next line of SQL
/// (inside DO and function bodies too). Any finding not expected, or expected and missing,
/// fails. `-- options: --pg-version N --assume-in-transaction` sets the options; a line
/// `-- file: NAME` starts the next migration file of the same run (earlier files inform later ones).
#[test]
fn pattern_fixtures() {
    insta::glob!("fixtures/lint/patterns/*.sql", |path| {
        let sql = std::fs::read_to_string(path).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        let options = sql.lines().find_map(|l| l.trim().strip_prefix("-- options:")).unwrap_or("");
        let words: Vec<&str> = options.split_whitespace().collect();
        let pg_version = words
            .iter()
            .position(|w| *w == "--pg-version")
            .and_then(|i| words.get(i + 1))
            .map_or(15, |v| v.parse().unwrap());
        let opts = LintOptions {
            pg_version,
            assume_in_transaction: words.contains(&"--assume-in-transaction"),
            ..LintOptions::default()
        };
        // Split into files at `-- file: NAME`.
        let mut files: Vec<(String, Vec<&str>)> = vec![(name.to_string(), Vec::new())];
        for line in sql.lines() {
            match line.trim().strip_prefix("-- file:") {
                Some(f) => files.push((f.trim().to_string(), Vec::new())),
                None => files.last_mut().unwrap().1.push(line),
            }
        }
        let mut expected = Vec::new();
        let mut report = planner::lint::LintReport::default();
        let mut known = planner::lint::KnownSchema::default();
        for (file, lines) in &files {
            for (i, line) in lines.iter().enumerate() {
                let Some(rest) = line.trim().strip_prefix("-- expect:") else { continue };
                let mut parts = rest.split_whitespace();
                let (rule, severity) = (parts.next().unwrap().to_string(), parts.next().unwrap().to_string());
                let target = (i + 1..lines.len())
                    .find(|&j| {
                        let t = lines[j].trim();
                        !t.is_empty() && !t.starts_with("--")
                    })
                    .unwrap_or_else(|| panic!("{file}:{}: expectation before no SQL", i + 1));
                expected.push((file.clone(), target + 1, rule, severity));
            }
            report.lint_source(file, &lines.join("\n"), &opts, &mut known);
        }
        let mut actual: Vec<(String, usize, String, String)> = report
            .findings
            .iter()
            .map(|f| (f.file.clone(), f.start.line, f.rule.to_string(), f.severity.to_string()))
            .collect();
        expected.sort();
        actual.sort();
        assert_eq!(
            actual, expected,
            "{name}: findings (file, line, rule, severity) differ from its `-- expect:` comments"
        );
        let mut out = Vec::new();
        Human { colour: false }.render(&report, &mut out).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    });
}
