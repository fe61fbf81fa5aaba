//! `planner check`: rules over parsed SQL migrations. Pure: no I/O beyond what callers pass in.
//!
//! Flow: `source` splits and parses a file, `context` computes what rules need in one pass,
//! each rule in `rules::RULES` reads one statement at a time, then suppressions, config and
//! `--strict` decide what is reported.

pub mod config;
pub mod context;
pub mod rule;
pub mod rules;
pub mod source;
pub mod suppress;

use std::collections::BTreeMap;

use serde::Serialize;

pub use context::{CxOptions, FileCx, KnownSchema};
pub use rule::{Finding, Rule, RuleMeta, Severity};
use source::{Parsed, Pos};

/// How findings are filtered and rated.
#[derive(Debug, Clone)]
pub struct LintOptions {
    pub pg_version: u32,
    pub assume_in_transaction: bool,
    /// Unparsed statements are errors instead of warnings.
    pub strict: bool,
    pub disabled: Vec<String>,
    pub severity: BTreeMap<String, Severity>,
}

impl Default for LintOptions {
    fn default() -> Self {
        LintOptions {
            pg_version: 15,
            assume_in_transaction: false,
            strict: false,
            disabled: Vec::new(),
            severity: BTreeMap::new(),
        }
    }
}

/// Findings and counts for a whole run.
#[derive(Debug, Default, Serialize)]
pub struct LintReport {
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub statements: usize,
    pub unparsed: usize,
    pub suppressed: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

/// Reported when sqlparser cannot parse a statement: it is never silently skipped.
pub static UNPARSED: RuleMeta = RuleMeta {
    id: "unparsed-statement",
    severity: Severity::Warning,
    summary: "A statement the parser could not read was not checked",
    docs: "\
## Problem
planner could not parse this statement, so no rule looked at it.

## Why it matters
An unchecked statement can hide a table rewrite or a long lock. The finding keeps it visible, and
`--strict` makes it fail the build.

## What to do
Check the statement is valid PostgreSQL. If it is, review it by hand and add
`-- planner:ignore unparsed-statement <reason>` on the line before it.
",
};

/// Every rule id, including the engine's own `unparsed-statement`.
pub fn rule_by_id(id: &str) -> Option<&'static RuleMeta> {
    if id == UNPARSED.id {
        return Some(&UNPARSED);
    }
    rules::RULES.iter().map(|r| r.meta()).find(|m| m.id == id)
}

/// Statements whose leading words a rule recognises even though sqlparser cannot parse them.
const RECOGNISED_UNPARSED: &[&[&str]] =
    &[&["REINDEX"], &["CLUSTER"], &["DROP", "INDEX", "CONCURRENTLY"], &["VACUUM"]];

impl LintReport {
    /// Lint one file's text, appending to this report. `known` carries column types across files.
    pub fn lint_source(&mut self, file: &str, sql: &str, opts: &LintOptions, known: &mut KnownSchema) {
        self.summary.files += 1;
        let lines = source::Lines::new(sql);
        let stmts = match source::split_statements(sql) {
            Ok(stmts) => stmts,
            Err(e) => {
                // The tokenizer stops at an unterminated quote: nothing after it can be split.
                self.summary.unparsed += 1;
                self.push(
                    opts,
                    file,
                    &lines,
                    &UNPARSED,
                    e.pos,
                    e.pos,
                    Draft {
                        message: format!("cannot read the rest of the file: {}", e.message),
                        help: Some(
                            "close the string, quoted identifier or dollar quote that starts here".into(),
                        ),
                        suggestion: None,
                        severity: None,
                    },
                );
                return;
            }
        };
        self.summary.statements += stmts.len();
        let cx = FileCx::build(
            &stmts,
            CxOptions { pg_version: opts.pg_version, assume_in_transaction: opts.assume_in_transaction },
            known,
        );
        let mut found = rule::Findings::new();
        for stmt in &stmts {
            let ignored = suppress::ignored_rules(stmt);
            if let Parsed::No { error } = &stmt.parsed {
                if !RECOGNISED_UNPARSED.iter().any(|w| stmt.starts_with(w)) {
                    self.summary.unparsed += 1;
                    if suppress::is_ignored(&ignored, UNPARSED.id) {
                        self.summary.suppressed += 1;
                    } else {
                        self.push(opts, file, &lines, &UNPARSED, stmt.start, stmt.end, Draft {
                            message: format!("statement not checked: {error}"),
                            help: Some(
                                "review it by hand; `-- planner:ignore unparsed-statement <reason>` silences this"
                                    .into(),
                            ),
                            suggestion: None,
                            severity: None,
                        });
                    }
                }
            }
            for rule in rules::RULES {
                if opts.disabled.iter().any(|d| d == rule.meta().id) {
                    continue;
                }
                rule.check(stmt, &cx, &mut found);
            }
            for d in found.items.drain(..) {
                if suppress::is_ignored(&ignored, d.rule.id) {
                    self.summary.suppressed += 1;
                    continue;
                }
                self.push(
                    opts,
                    file,
                    &lines,
                    d.rule,
                    stmt.start,
                    stmt.end,
                    Draft {
                        message: d.message,
                        help: d.help,
                        suggestion: d.suggestion,
                        severity: d.severity,
                    },
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        opts: &LintOptions,
        file: &str,
        lines: &source::Lines,
        meta: &'static RuleMeta,
        start: Pos,
        end: Pos,
        d: Draft,
    ) {
        if opts.disabled.iter().any(|r| r == meta.id) {
            return;
        }
        let mut severity = opts.severity.get(meta.id).copied().unwrap_or(d.severity.unwrap_or(meta.severity));
        if meta.id == UNPARSED.id && opts.strict {
            severity = Severity::Error;
        }
        match severity {
            Severity::Error => self.summary.errors += 1,
            Severity::Warning => self.summary.warnings += 1,
            Severity::Info => self.summary.infos += 1,
        }
        self.findings.push(Finding {
            rule: meta.id,
            severity,
            file: file.to_string(),
            start,
            end,
            message: d.message,
            help: d.help,
            suggestion: d.suggestion,
            excerpt: lines.get(start.line).to_string(),
        });
    }

    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }
}

struct Draft {
    message: String,
    help: Option<String>,
    suggestion: Option<String>,
    severity: Option<Severity>,
}

/// Lint one string with default options (tests and library users).
pub fn lint_str(file: &str, sql: &str, opts: &LintOptions) -> LintReport {
    let mut report = LintReport::default();
    report.lint_source(file, sql, opts, &mut KnownSchema::default());
    report
}
