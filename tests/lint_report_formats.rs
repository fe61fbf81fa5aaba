//! One shared set of findings rendered by every reporter, each snapshotted.

use planner::lint::{lint_str, LintOptions, LintReport};
use planner::report::Format;

const SQL: &str = "\
-- a migration touching every severity
ALTER TABLE users RENAME COLUMN name TO full_name;
ALTER TABLE users ALTER COLUMN note TYPE text;
CREATE TABLE orders (id serial PRIMARY KEY, note text);
ALTER TABLE users FROBNICATE;
";

fn report() -> LintReport {
    lint_str("migrations/0001_users.sql", SQL, &LintOptions::default())
}

fn render(format: Format, colour: bool) -> String {
    let mut out = Vec::new();
    format.reporter(colour).render(&report(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_shared_report_has_every_severity() {
    let s = report().summary;
    assert!(s.errors > 0 && s.warnings > 0 && s.infos > 0 && s.unparsed == 1, "{s:?}");
}

#[test]
fn human() {
    insta::assert_snapshot!(render(Format::Human, false));
}

#[test]
fn human_colour_only_adds_escapes() {
    let coloured = render(Format::Human, true);
    assert!(coloured.contains("\x1b[1;31m"));
    let stripped =
        coloured.split("\x1b[").map(|p| p.split_once('m').map_or(p, |(_, rest)| rest)).collect::<String>();
    assert_eq!(stripped, render(Format::Human, false));
}

#[test]
fn json() {
    let text = render(Format::Json, false);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["findings"][0]["rule"], "rename-column");
    insta::assert_snapshot!(text);
}

#[test]
fn github() {
    insta::assert_snapshot!(render(Format::Github, false));
}

#[test]
fn sarif() {
    let text = render(Format::Sarif, false);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["version"], "2.1.0");
    let run = &value["runs"][0];
    // Every result points at a rule descriptor with the same id.
    for result in run["results"].as_array().unwrap() {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(run["tool"]["driver"]["rules"][index]["id"], result["ruleId"]);
    }
    let version = format!("\"version\": \"{}\"", env!("CARGO_PKG_VERSION"));
    insta::assert_snapshot!(text.replace(&version, "\"version\": \"[version]\""));
}
