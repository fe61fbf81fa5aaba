//! `-- planner:ignore rule-id[,rule-id...] [reason]` on the line(s) just before a statement.

use super::source::Stmt;

const DIRECTIVE: &str = "planner:ignore";

/// Rule ids a statement's leading comments suppress (`all` suppresses every rule).
pub fn ignored_rules(stmt: &Stmt) -> Vec<String> {
    ignored_in(&stmt.leading_comments)
}

/// [`ignored_rules`] from the comments before a statement.
pub fn ignored_in(comments: &[(super::source::Pos, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (_, comment) in comments {
        let Some(rest) = comment.strip_prefix(DIRECTIVE) else {
            continue;
        };
        // `planner:ignore-foo` is not our directive.
        if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
            continue;
        }
        if let Some(ids) = rest.split_whitespace().next() {
            out.extend(ids.split(',').filter(|s| !s.is_empty()).map(str::to_string));
        }
    }
    out
}

/// True when `rule` is suppressed for this statement.
pub fn is_ignored(ignored: &[String], rule: &str) -> bool {
    ignored.iter().any(|r| r == rule || r == "all")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::source::split_statements;

    #[test]
    fn reads_ids_and_skips_the_reason() {
        let stmts = split_statements(
            "-- planner:ignore drop-column,rename-column the app stopped reading it in v42\nDROP TABLE t;",
        )
        .unwrap();
        assert_eq!(ignored_rules(&stmts[0]), vec!["drop-column", "rename-column"]);
    }

    #[test]
    fn unknown_rule_in_ignore_is_reported() {
        let sql = "-- planner:ignore drop-tabel typo\nDROP TABLE t;";
        let report = crate::lint::lint_str("t.sql", sql, &crate::lint::LintOptions::default());
        let rules: Vec<&str> = report.findings.iter().map(|f| f.rule).collect();
        assert!(rules.contains(&"unknown-rule-in-ignore") && rules.contains(&"drop-table"), "{rules:?}");
    }

    #[test]
    fn other_comments_are_not_directives() {
        let stmts = split_statements("-- planner:ignored x\n-- just a note\nDROP TABLE t;").unwrap();
        assert!(ignored_rules(&stmts[0]).is_empty());
    }
}
