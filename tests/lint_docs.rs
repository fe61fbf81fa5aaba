//! docs/rules/*.md are generated from each rule's `META`: this test fails when they drift.
//! `PLANNER_BLESS=1 cargo nextest run --test lint_docs` rewrites them.

use std::path::Path;

use planner::lint::{all_rules, RuleMeta};

fn page(m: &RuleMeta) -> String {
    format!("# `{}`\n\nDefault severity: **{}**. {}.\n\n{}", m.id, m.severity, m.summary, m.docs)
}

fn index(metas: &[&RuleMeta]) -> String {
    index_titled(metas, "# `planner check` rules", "src/lint/rules/*.rs")
}

fn index_titled(metas: &[&RuleMeta], title: &str, source: &str) -> String {
    let mut s = format!(
        "{title}\n\nGenerated from the rules' source (`{source}`); do not edit.\n\
         Suppress one statement with `-- planner:ignore <rule-id> <reason>` on the line before it.\n\n\
         | rule | severity | summary |\n|---|---|---|\n"
    );
    for m in metas {
        s.push_str(&format!("| [`{}`]({}.md) | {} | {} |\n", m.id, m.id, m.severity, m.summary));
    }
    s
}

#[test]
fn rule_docs_are_up_to_date() {
    let metas: Vec<&RuleMeta> = all_rules().collect();
    compare("docs/rules", &metas, index(&metas));
}

/// The MySQL/MariaDB rule set (`--dialect mysql|mariadb`): docs/rules/mysql/.
#[test]
fn mysql_rule_docs_are_up_to_date() {
    let metas: Vec<&RuleMeta> = planner::lint::mysql_rules().collect();
    let title = "# `planner check --dialect mysql|mariadb` rules";
    compare("docs/rules/mysql", &metas, index_titled(&metas, title, "src/lint/mysql/rules/*.rs"));
}

fn compare(rel: &str, metas: &[&RuleMeta], index: String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let mut expected: Vec<(String, String)> =
        metas.iter().map(|m| (format!("{}.md", m.id), page(m))).collect();
    expected.push(("README.md".into(), index));
    let bless = std::env::var_os("PLANNER_BLESS").is_some();
    if bless {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut stale = Vec::new();
    for (name, text) in &expected {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            if bless {
                std::fs::write(&path, text).unwrap();
            } else {
                stale.push(name.clone());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "docs/rules out of date: {stale:?}; run PLANNER_BLESS=1 cargo nextest run --test lint_docs"
    );
}
