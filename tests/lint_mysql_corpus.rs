//! The MySQL/MariaDB labeled corpus (tests/fixtures/lint/mysql): migrations in plain, Flyway and
//! Sequelize style, read in order as one migrations folder with `--dialect mariadb` (10.11).
//! Before each statement, `-- expect: rule, rule` names exactly the findings it must get; a
//! statement without it (or with an empty list) must get none. `lint_mysql_server` checks the
//! cost claims behind these findings against the real server.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use planner::lint::dialect::{LintDialect, ServerVersion};
use planner::lint::LintOptions;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lint/mysql");

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "sql") {
            out.push(p);
        }
    }
}

fn rel(path: &str) -> String {
    Path::new(path).strip_prefix(CORPUS).unwrap_or(Path::new(path)).display().to_string()
}

/// (file, statement line) -> expected rule ids.
fn expected() -> BTreeMap<(String, usize), BTreeSet<String>> {
    let mut out = BTreeMap::new();
    let mut all = Vec::new();
    files(Path::new(CORPUS), &mut all);
    for path in all {
        let sql = std::fs::read_to_string(&path).unwrap();
        for (line, comments) in planner::lint::mysql::statement_lines(&sql) {
            let rules: BTreeSet<String> = comments
                .iter()
                .filter_map(|c| c.strip_prefix("expect:"))
                .flat_map(|r| {
                    r.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect::<Vec<_>>()
                })
                .collect();
            out.insert((rel(&path.display().to_string()), line), rules);
        }
    }
    out
}

fn mariadb() -> LintOptions {
    LintOptions { dialect: LintDialect::MariaDb(ServerVersion::new(10, 11, 0)), ..LintOptions::default() }
}

#[test]
fn corpus_findings_match_the_expectations() {
    let report = planner::cli::check::lint_paths(&[PathBuf::from(CORPUS)], &mariadb()).unwrap();
    let expected = expected();
    let mut actual: BTreeMap<(String, usize), BTreeSet<String>> =
        expected.keys().map(|k| (k.clone(), BTreeSet::new())).collect();
    for f in &report.findings {
        actual.entry((rel(&f.file), f.start.line)).or_default().insert(f.rule.to_string());
    }
    let wrong: Vec<_> = actual
        .iter()
        .filter(|(k, got)| expected.get(*k) != Some(got))
        .map(|(k, got)| format!("{}:{} expected {:?}, got {:?}", k.0, k.1, expected.get(k), got))
        .collect();
    assert!(wrong.is_empty(), "statements with other findings than expected:\n{}", wrong.join("\n"));
    let flagged = expected.values().filter(|r| !r.is_empty()).count();
    let rules: BTreeSet<&String> = expected.values().flatten().collect();
    assert!(flagged >= 30, "corpus too small: {flagged} flagged statements");
    for m in planner::lint::mysql_rules()
        .filter(|m| !m.id.starts_with("unknown-rule") && !m.id.starts_with("uncommitted"))
    {
        assert!(rules.contains(&m.id.to_string()), "no corpus statement expects `{}`", m.id);
    }
    assert_eq!(report.summary.statements, expected.len());
    // Every finding says where it is and what to do.
    for f in &report.findings {
        assert!(f.start.line > 0 && f.start.column > 0, "{f:?}");
    }
}

/// The PostgreSQL rule set does not run on MySQL files, and the MySQL one not on PostgreSQL runs.
#[test]
fn dialects_do_not_mix_rule_sets() {
    let report = planner::cli::check::lint_paths(&[PathBuf::from(CORPUS)], &mariadb()).unwrap();
    let mysql_ids: BTreeSet<&str> = planner::lint::mysql_rules().map(|m| m.id).collect();
    assert!(report.findings.iter().all(|f| mysql_ids.contains(f.rule)), "a PostgreSQL rule fired");
    let pg = planner::lint::lint_str("t.sql", "ALTER TABLE users ADD COLUMN a INT;", &LintOptions::default());
    assert!(pg.findings.iter().all(|f| f.rule != "alter-without-algorithm"));
}
