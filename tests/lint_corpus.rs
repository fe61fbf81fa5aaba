//! The labeled corpus (tests/fixtures/lint/corpus): realistic migrations in the styles of Rails,
//! sqlx, Flyway and golang-migrate, read in order as one migrations folder. A statement preceded
//! by `-- label: unsafe` would break a running app or block traffic on a populated table; every
//! other statement is safe on PostgreSQL 15.
//!
//! Asserts: every unsafe statement is flagged (error or warning), no safe statement is, and the
//! full finding list matches the snapshot.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use planner::lint::source::split_statements;
use planner::lint::{LintOptions, Severity};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lint/corpus");

/// Rules that are about a whole file or about what could not be read, not about one statement's
/// safety: checked by the snapshot, not by the labels.
const NOT_STATEMENT_SAFETY: &[&str] = &["missing-lock-timeout", "unparsed-statement"];

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Statements by (file name, line).
type Places = BTreeSet<(String, usize)>;

/// The labeled-unsafe statements, and every statement.
fn labels() -> (Places, Places) {
    let (mut unsafe_, mut all) = (BTreeSet::new(), BTreeSet::new());
    for path in corpus_files() {
        let sql = std::fs::read_to_string(&path).unwrap();
        for stmt in split_statements(&sql).unwrap() {
            let key = (name(&path), stmt.start.line);
            if stmt.leading_comments.iter().any(|(_, c)| c.starts_with("label: unsafe")) {
                unsafe_.insert(key.clone());
            }
            all.insert(key);
        }
    }
    (unsafe_, all)
}

#[test]
fn corpus_findings_match_the_labels() {
    let report = planner::cli::check::lint_paths(&[PathBuf::from(CORPUS)], &LintOptions::default()).unwrap();
    let flagged: Places = report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning && !NOT_STATEMENT_SAFETY.contains(&f.rule))
        .map(|f| (name(Path::new(&f.file)), f.start.line))
        .collect();
    let (unsafe_, all) = labels();
    assert!(unsafe_.len() >= 30, "corpus too small: {} unsafe statements", unsafe_.len());
    let missed: Vec<_> = unsafe_.difference(&flagged).collect();
    let false_positives: Vec<_> = flagged.difference(&unsafe_).collect();
    assert!(missed.is_empty(), "unsafe statements not flagged: {missed:?}");
    assert!(false_positives.is_empty(), "safe statements flagged: {false_positives:?}");
    assert_eq!(report.summary.statements, all.len());

    let listing: String = report
        .findings
        .iter()
        .map(|f| {
            format!(
                "{}:{}:{} {} {}\n",
                name(Path::new(&f.file)),
                f.start.line,
                f.start.column,
                f.severity,
                f.rule
            )
        })
        .collect();
    insta::assert_snapshot!(listing);
}
