//! The MySQL rules' premises, checked against the real MariaDB (127.0.0.1:3306, root): every
//! statement of the labeled corpus (tests/fixtures/lint/mysql) runs in order on small tables of
//! a fresh database, and for each ALTER / CREATE INDEX / DROP INDEX the cost the linter claims
//! must be what the server does:
//!
//! - instant: `ALGORITHM=INSTANT` is accepted;
//! - in place (no rebuild): INSTANT is refused, `ALGORITHM=NOCOPY, LOCK=NONE` accepted;
//! - rebuild: NOCOPY is refused, `ALGORITHM=INPLACE, LOCK=NONE` accepted;
//! - blocks writes (`table-copy`): `ALGORITHM=INPLACE, LOCK=NONE` is refused;
//!
//! and a statement reported as `algorithm-refused` is refused as written. Refusals must be the
//! server's "algorithm not supported" errors (1845/1846), nothing else. Uses the `mariadb` client.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use planner::lint::dialect::{LintDialect, ServerVersion};
use planner::lint::mysql::cost::Cost;
use planner::lint::LintOptions;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lint/mysql");
const DIALECT: LintDialect = LintDialect::MariaDb(ServerVersion::new(10, 11, 0));

/// A uniquely named database on the local MariaDB, dropped at the end.
struct MariaDb {
    name: String,
}

#[derive(Debug)]
struct ServerError {
    code: u32,
    message: String,
}

fn client(database: Option<&str>, script: &str) -> Result<(), ServerError> {
    let mut cmd = Command::new("mariadb");
    cmd.args(["-h", "127.0.0.1", "-P", "3306", "-u", "root", "--batch"]);
    if let Some(db) = database {
        cmd.arg(db);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the `mariadb` client must be installed (apt-get install mariadb-client)");
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        return Ok(());
    }
    let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
    // "ERROR 1846 (0A000) at line 2: ALGORITHM=INPLACE is not supported. …"
    let code = message
        .find("ERROR ")
        .and_then(|at| message[at + 6..].split(' ').next())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Err(ServerError { code, message })
}

impl MariaDb {
    fn new() -> Self {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("planner_mylint_{}_{nanos}", std::process::id());
        client(None, &format!("CREATE DATABASE `{name}`;"))
            .expect("create the test database (is MariaDB up on 127.0.0.1:3306?)");
        MariaDb { name }
    }

    /// Run one statement (its own delimiter, so trigger bodies stay whole) after `prefix`.
    fn run(&self, prefix: &str, sql: &str) -> Result<(), ServerError> {
        client(Some(&self.name), &format!("DELIMITER $$\n{prefix}{sql}$$\n"))
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = client(None, &format!("DROP DATABASE IF EXISTS `{}`;", self.name));
    }
}

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

fn with_clause(bare: &str, comma: bool, clause: &str) -> String {
    if comma {
        format!("{bare}, {clause}")
    } else {
        format!("{bare} {}", clause.replace(',', ""))
    }
}

fn refused_for_algorithm(r: &Result<(), ServerError>) -> bool {
    matches!(r, Err(e) if e.code == 1845 || e.code == 1846)
}

#[test]
fn corpus_costs_are_what_the_server_does() {
    let opts = LintOptions { dialect: DIALECT, ..LintOptions::default() };
    let report = planner::cli::check::lint_paths(&[PathBuf::from(CORPUS)], &opts).unwrap();
    let mut findings: BTreeMap<(String, usize), BTreeSet<&str>> = BTreeMap::new();
    for f in &report.findings {
        findings.entry((f.file.clone(), f.start.line)).or_default().insert(f.rule);
    }
    let db = MariaDb::new();
    let mut all = Vec::new();
    files(Path::new(CORPUS), &mut all);
    let mut schema = planner::lint::mysql::schema::Schema::default();
    let mut failures = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for path in all {
        let sql = std::fs::read_to_string(&path).unwrap();
        let file = path.display().to_string();
        for claim in planner::lint::mysql::claims(&sql, DIALECT, &mut schema) {
            let at = format!("{}:{}", path.file_name().unwrap().to_string_lossy(), claim.line);
            let rules = findings.get(&(file.clone(), claim.line)).cloned().unwrap_or_default();
            let prefix = if claim.fk_checks_off { "SET SESSION foreign_key_checks = 0$$\n" } else { "" };
            let mut fail = |what: String| failures.push(format!("{at}: {what}\n    {}", claim.text));
            if !claim.is_alter {
                if let Err(e) = db.run(prefix, &claim.text) {
                    fail(format!("the statement failed: {}", e.message));
                }
                continue;
            }
            let Some(cost) = claim.cost else {
                fail("no cost claimed for a table DDL of the corpus".into());
                continue;
            };
            *seen.entry(format!("{cost:?}")).or_default() += 1;
            // Lint findings agree with the claim.
            if rules.contains("table-copy") && cost != Cost::BlocksWrites && !claim.text.contains("COPY") {
                fail(format!("table-copy reported but the claim is {cost:?}"));
            }
            if rules.contains("table-rebuild") && cost != Cost::Rebuild {
                fail(format!("table-rebuild reported but the claim is {cost:?}"));
            }
            // Refusals the claim predicts.
            let refuted_by = match cost {
                Cost::Instant => None,
                Cost::InPlace => Some("ALGORITHM=INSTANT"),
                Cost::Rebuild => Some("ALGORITHM=NOCOPY, LOCK=NONE"),
                Cost::BlocksWrites => Some("ALGORITHM=INPLACE, LOCK=NONE"),
            };
            if let Some(clause) = refuted_by {
                let r = db.run(prefix, &with_clause(&claim.bare, claim.comma, clause));
                if !refused_for_algorithm(&r) {
                    fail(format!(
                        "claimed {cost:?}, so `{clause}` must be refused with 1845/1846; got {r:?}"
                    ));
                }
            }
            if rules.contains("algorithm-refused") {
                let r = db.run(prefix, &claim.text);
                if !refused_for_algorithm(&r) {
                    fail(format!("reported algorithm-refused, but as written the server gave {r:?}"));
                }
            }
            // The algorithm the claim allows is accepted (and applies the change for what follows).
            let accepted = match cost {
                Cost::Instant => with_clause(&claim.bare, claim.comma, "ALGORITHM=INSTANT"),
                Cost::InPlace => with_clause(&claim.bare, claim.comma, "ALGORITHM=NOCOPY, LOCK=NONE"),
                Cost::Rebuild => with_clause(&claim.bare, claim.comma, "ALGORITHM=INPLACE, LOCK=NONE"),
                Cost::BlocksWrites => claim.bare.clone(),
            };
            if let Err(e) = db.run(prefix, &accepted) {
                fail(format!("claimed {cost:?}, but `{accepted}` failed: {}", e.message));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} premise(s) do not hold on the server:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("claims checked against the server: {seen:?}");
    for cost in ["Instant", "InPlace", "Rebuild", "BlocksWrites"] {
        assert!(
            seen.get(cost).copied().unwrap_or(0) >= 2,
            "the corpus checks too few {cost} claims: {seen:?}"
        );
    }
}
