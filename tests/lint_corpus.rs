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

/// squawk rules about style, re-runnability or file-wide timeouts (the counterpart of our
/// `missing-lock-timeout`, also left out of the statement comparison), not about one statement
/// breaking an app or blocking traffic.
const SQUAWK_NOT_STATEMENT_SAFETY: &[&str] = &[
    "prefer-robust-stmts",
    "prefer-text-field",
    "prefer-timestamptz",
    "prefer-timestamp-tz",
    "require-lock-timeout",
    "require-statement-timeout",
    "require-enum-value-ordering",
    "ban-char-field",
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    "require-timeout-settings",
    "transaction-nesting",
    "ban-uncommitted-transaction",
];

/// Compare with squawk on the labeled corpus (not run by default: needs squawk installed,
/// `pip install squawk-cli`). `SQUAWK=/path/to/squawk cargo nextest run --test lint_corpus
/// --run-ignored only --no-capture`. Prints statement-level counts; asserts nothing about squawk.
#[test]
#[ignore = "needs squawk (pip install squawk-cli); run with SQUAWK=path"]
fn compare_with_squawk() {
    let squawk = std::env::var("SQUAWK").unwrap_or_else(|_| "squawk".into());
    let files = corpus_files();
    // Map each squawk finding (0-based line somewhere inside a statement) to its statement.
    let mut spans: Vec<(String, usize, usize)> = Vec::new();
    for path in &files {
        let sql = std::fs::read_to_string(path).unwrap();
        for s in split_statements(&sql).unwrap() {
            spans.push((name(path), s.start.line, s.end.line));
        }
    }
    let run_squawk = |extra: &[&str]| {
        let out = std::process::Command::new(&squawk)
            .args(["--pg-version=15.0", "--reporter=json"])
            .args(extra)
            .args(&files)
            .output()
            .expect("run squawk");
        let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("squawk json");
        let (mut all, mut safety) = (Places::new(), Places::new());
        for f in &findings {
            let file = name(Path::new(f["file"].as_str().unwrap()));
            let line = f["line"].as_u64().unwrap() as usize + 1;
            let rule = f["rule_name"].as_str().unwrap_or_default();
            if let Some((file, start, _)) =
                spans.iter().find(|(n, s, e)| *n == file && *s <= line && line <= *e)
            {
                all.insert((file.clone(), *start));
                if !SQUAWK_NOT_STATEMENT_SAFETY.contains(&rule) {
                    safety.insert((file.clone(), *start));
                }
            } else {
                eprintln!("unmapped squawk finding {file}:{line} {rule}");
            }
        }
        (findings, all, safety)
    };
    let (findings, squawk_all, squawk_safety) = run_squawk(&[]);
    let (_, _, squawk_tx_safety) = run_squawk(&["--assume-in-transaction"]);
    let (unsafe_, all) = labels();
    let report = planner::cli::check::lint_paths(&[PathBuf::from(CORPUS)], &LintOptions::default()).unwrap();
    let ours: Places = report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning && !NOT_STATEMENT_SAFETY.contains(&f.rule))
        .map(|f| (name(Path::new(&f.file)), f.start.line))
        .collect();
    let safe: Places = all.difference(&unsafe_).cloned().collect();
    let row = |label: &str, flagged: &Places| {
        println!(
            "{label:<32} unsafe flagged {:>2}/{:<2}  safe flagged {:>2}/{:<2}",
            flagged.intersection(&unsafe_).count(),
            unsafe_.len(),
            flagged.intersection(&safe).count(),
            safe.len()
        );
    };
    println!("statements: {}, labeled unsafe: {}", all.len(), unsafe_.len());
    row("planner check", &ours);
    row("squawk (all rules)", &squawk_all);
    row("squawk (safety rules)", &squawk_safety);
    row("squawk --assume-in-tx (safety)", &squawk_tx_safety);
    for place in squawk_safety.intersection(&unsafe_) {
        assert!(ours.contains(place), "squawk flags unsafe {place:?}, planner does not");
    }
    for place in squawk_safety.intersection(&safe) {
        let rules: Vec<&str> = findings
            .iter()
            .filter(|f| {
                let line = f["line"].as_u64().unwrap() as usize + 1;
                name(Path::new(f["file"].as_str().unwrap())) == place.0
                    && spans
                        .iter()
                        .any(|(n, s, e)| *n == place.0 && *s == place.1 && *s <= line && line <= *e)
            })
            .filter_map(|f| f["rule_name"].as_str())
            .collect();
        println!("  squawk on safe {}:{} {:?}", place.0, place.1, rules);
    }
    let missed_by_squawk: Vec<_> = unsafe_.difference(&squawk_all).collect();
    println!("  unsafe statements squawk misses: {missed_by_squawk:?}");
}
