//! `planner check`: rules over parsed SQL migrations. Pure: no I/O beyond what callers pass in.
//!
//! Flow: `source` splits and parses a file, `context` computes what rules need in one pass,
//! each rule in `rules::RULES` reads one statement at a time, then suppressions, config and
//! `--strict` decide what is reported.

pub mod config;
pub mod context;
pub mod dialect;
pub mod mysql;
pub mod readers;
pub mod rule;
pub mod rules;
pub mod source;
pub mod stats;
pub mod suppress;
pub mod tool;

use std::collections::BTreeMap;

use serde::Serialize;

pub use context::{CxOptions, FileCx, FileTx, KnownSchema};
use rule::{Draft, Findings};
pub use rule::{Finding, Rule, RuleMeta, Severity};
use source::{Parsed, Pos};

/// How findings are filtered and rated.
#[derive(Debug, Clone)]
pub struct LintOptions {
    pub pg_version: u32,
    /// PostgreSQL (default), or MySQL/MariaDB with its version: picks parser and rule set.
    pub dialect: dialect::LintDialect,
    pub assume_in_transaction: bool,
    /// Unparsed statements are errors instead of warnings.
    pub strict: bool,
    pub disabled: Vec<String>,
    pub severity: BTreeMap<String, Severity>,
    /// Table sizes and traffic (`--stats FILE`, `--database-url`): size-dependent findings are
    /// rated by the size of their table. None: each rule's own severity.
    pub stats: Option<std::sync::Arc<stats::TableStats>>,
}

impl Default for LintOptions {
    fn default() -> Self {
        LintOptions {
            pg_version: 15,
            dialect: dialect::LintDialect::Postgres,
            assume_in_transaction: false,
            strict: false,
            disabled: Vec::new(),
            severity: BTreeMap::new(),
            stats: None,
        }
    }
}

/// Findings and counts for a whole run.
#[derive(Debug, Default, Serialize)]
pub struct LintReport {
    pub findings: Vec<Finding>,
    pub summary: Summary,
    /// What the run did not read and why (`x.sqlite: skipped, sqlite SQL`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// While set, files are read for what they declare (context for later files) but not
    /// checked or counted (`--changed-since`: earlier, unchanged files).
    #[serde(skip)]
    pub context_only: bool,
    /// The files were MySQL/MariaDB (`--dialect`): rule metadata comes from the MySQL set.
    #[serde(skip)]
    pub mysql: bool,
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

/// Reported when a `-- planner:ignore` names no known rule: the typo would otherwise leave the
/// finding it meant to silence unexplained, or silence nothing forever.
pub static UNKNOWN_IGNORE: RuleMeta = RuleMeta {
    id: "unknown-rule-in-ignore",
    severity: Severity::Warning,
    summary: "A planner:ignore comment names a rule that does not exist",
    docs: "\
## Problem
`-- planner:ignore drop-tabel archived` (a typo) before a statement.

## Why it matters
The comment suppresses nothing, so the finding it was meant for still fails the build, and a
reviewer reading the migration believes a decision was recorded.

## What to do
Use an id from `planner check --list-rules` (or `all`).
",
};

/// Reported at a BEGIN that the file never commits.
pub static UNCOMMITTED: RuleMeta = RuleMeta {
    id: "uncommitted-transaction",
    severity: Severity::Warning,
    summary: "The file opens a transaction it never commits",
    docs: "\
## Problem
```sql
BEGIN;
ALTER TABLE users ADD COLUMN note text;
-- no COMMIT
```

## Why it matters
psql rolls the transaction back when the session ends, so the migration silently does nothing;
other tools commit it or leave the connection idle in transaction, holding its locks.

## What to do
End the file with `COMMIT;`, or drop the `BEGIN` if your migration tool wraps files itself.
",
};

/// Findings the engine itself reports, not a rule over a statement.
pub static ENGINE_RULES: &[&RuleMeta] = &[&UNPARSED, &UNKNOWN_IGNORE, &UNCOMMITTED];

/// Every rule's metadata: statement rules, then the engine's own.
pub fn all_rules() -> impl Iterator<Item = &'static RuleMeta> {
    rules::RULES.iter().map(|r| r.meta()).chain(ENGINE_RULES.iter().copied())
}

/// The MySQL/MariaDB rules' metadata, then the engine's own.
pub fn mysql_rules() -> impl Iterator<Item = &'static RuleMeta> {
    mysql::rules::RULES.iter().map(|r| r.meta()).chain(ENGINE_RULES.iter().copied())
}

/// Every rule id of either dialect, including the engine's own `unparsed-statement` (config
/// files and `planner:ignore` may name rules of the dialect they are used with).
pub fn rule_by_id(id: &str) -> Option<&'static RuleMeta> {
    all_rules().find(|m| m.id == id).or_else(|| mysql_rules().find(|m| m.id == id))
}

/// Statements sqlparser 0.64 cannot parse that are still read: a rule recognises them by their
/// leading words (REINDEX, CLUSTER, ...), their body is checked statement by statement (DO,
/// CREATE FUNCTION/PROCEDURE: name and volatility read from the tokens), or they only change the
/// catalog under a brief lock (COMMENT ON, ALTER SEQUENCE, statistics objects, ALTER DOMAIN's
/// catalog forms, ALTER INDEX (IF EXISTS) RENAME/SET, roles).
const RECOGNISED_UNPARSED: &[&[&str]] = &[
    &["REINDEX"],
    &["CLUSTER"],
    &["DROP", "INDEX", "CONCURRENTLY"],
    &["VACUUM"],
    &["DO"],
    &["CREATE", "FUNCTION"],
    &["CREATE", "OR", "REPLACE", "FUNCTION"],
    &["CREATE", "PROCEDURE"],
    &["CREATE", "OR", "REPLACE", "PROCEDURE"],
    &["COMMENT", "ON"],
    &["ALTER", "SEQUENCE"],
    &["CREATE", "STATISTICS"],
    &["ALTER", "STATISTICS"],
    &["DROP", "STATISTICS"],
    &["ALTER", "INDEX"],
    &["CREATE", "ROLE"],
    &["CREATE", "USER"],
    &["ALTER", "ROLE"],
    &["ALTER", "USER"],
];

/// The file being linted: where its findings point and how they are rated.
struct FileRun<'a> {
    opts: &'a LintOptions,
    file: &'a str,
    lines: source::Lines<'a>,
}

impl LintReport {
    /// Lint one file's text, appending to this report. `known` carries what earlier files declared.
    pub fn lint_source(&mut self, file: &str, sql: &str, opts: &LintOptions, known: &mut KnownSchema) {
        let tx = if opts.assume_in_transaction { FileTx::Wrapped } else { FileTx::Explicit };
        self.lint_file(file, sql, opts, tx, known);
    }

    /// [`Self::lint_source`] with the way the migration tool wraps this file in a transaction.
    pub fn lint_file(
        &mut self,
        file: &str,
        sql: &str,
        opts: &LintOptions,
        tx: FileTx,
        known: &mut KnownSchema,
    ) {
        if opts.dialect.is_mysql_family() {
            return self.lint_mysql_file(file, sql, opts, tx, known);
        }
        if self.context_only {
            // Only what the file declares, for the files after it.
            let mut stmts = Vec::new();
            if source::for_each_statement(sql, |s| stmts.push(s)).is_ok() {
                let statements = stmts.iter().filter(|s| s.origin == source::Origin::File).count();
                let mut cx = FileCx::new(CxOptions { pg_version: opts.pg_version, tx, statements }, known);
                for stmt in &stmts {
                    cx.observe(stmt);
                }
                let delta = cx.finish();
                known.absorb(delta);
            }
            return;
        }
        self.summary.files += 1;
        let run = FileRun { opts, file, lines: source::Lines::new(sql) };
        let mut stmts = Vec::new();
        let mut unreadable = None;
        if let Err(e) = source::for_each_statement(sql, |s| stmts.push(s)) {
            // The tokenizer stops at an unterminated quote and splits nothing: check the lines
            // before it, report the rest as unread.
            if e.pos.line > 1 {
                let prefix_end = sql.match_indices('\n').nth(e.pos.line - 2).map_or(0, |(i, _)| i + 1);
                let _ = source::for_each_statement(&sql[..prefix_end], |s| stmts.push(s));
            }
            unreadable = Some(e);
        }
        self.summary.statements += stmts.len();
        // Context first (it may look ahead: a table the file recreates), then the rules.
        let statements = stmts.iter().filter(|s| s.origin == source::Origin::File).count();
        let mut cx = FileCx::new(CxOptions { pg_version: opts.pg_version, tx, statements }, known);
        for stmt in &stmts {
            cx.observe(stmt);
        }
        let mut found = Findings::new();
        let first_finding = self.findings.len();
        for stmt in &stmts {
            self.check_statement(&run, stmt, &cx, &mut found);
        }
        self.collapse_template(first_finding, sql);
        let open_begin = cx.open_begin;
        if let Some(e) = unreadable {
            self.summary.unparsed += 1;
            let draft = Draft::new(&UNPARSED, format!("cannot read the file from here on: {}", e.message))
                .with_help("close the string, quoted identifier or dollar quote that starts here");
            self.push(&run, draft, e.pos, e.pos);
        } else {
            let delta = cx.finish();
            known.absorb(delta);
        }
        if let Some((start, end)) = open_begin {
            let draft = Draft::new(
                &UNCOMMITTED,
                "this BEGIN is never committed: the migration's changes are rolled back or left pending",
            )
            .with_help("end the file with `COMMIT;`");
            self.push(&run, draft, start, end);
        }
    }

    /// A file with template placeholders (`{{ .Schema }}`, `{% if %}`, `<%= %>`) whose statements
    /// do not parse is an unrendered template: one finding says so instead of one per statement.
    fn collapse_template(&mut self, first: usize, sql: &str) {
        let unparsed = self.findings[first..].iter().filter(|f| f.rule == UNPARSED.id).count();
        let marker = ["{{", "{%", "<%"].into_iter().find(|m| sql.contains(m));
        let (true, Some(marker)) = (unparsed >= 2, marker) else { return };
        let mut kept = Vec::with_capacity(self.findings.len() - first - unparsed + 1);
        let mut first_unparsed = None;
        for f in self.findings.drain(first..) {
            if f.rule != UNPARSED.id {
                kept.push(f);
                continue;
            }
            match f.severity {
                Severity::Error => self.summary.errors -= 1,
                Severity::Warning => self.summary.warnings -= 1,
                Severity::Info => self.summary.infos -= 1,
            }
            first_unparsed.get_or_insert(f);
        }
        let mut f = first_unparsed.expect("counted above");
        f.message = format!(
            "this looks like an unrendered template (`{marker}` placeholders): {unparsed} statement(s) not checked"
        );
        f.help = Some("check the rendered SQL (the file your tool runs), not the template".into());
        match f.severity {
            Severity::Error => self.summary.errors += 1,
            Severity::Warning => self.summary.warnings += 1,
            Severity::Info => self.summary.infos += 1,
        }
        kept.insert(0, f);
        kept.sort_by_key(|f| f.start);
        self.findings.extend(kept);
    }

    /// Run every enabled rule on one statement and record what is not suppressed.
    fn check_statement(&mut self, run: &FileRun, stmt: &source::Stmt, cx: &FileCx, found: &mut Findings) {
        let ignored = suppress::ignored_rules(stmt);
        for id in ignored.iter().filter(|id| *id != "all" && rule_by_id(id).is_none()) {
            let draft = Draft::new(
                &UNKNOWN_IGNORE,
                format!("`-- planner:ignore {id}` names no rule, so it suppresses nothing"),
            )
            .with_help("use an id from `planner check --list-rules`, or `all`");
            self.push(run, draft, stmt.start, stmt.end);
        }
        if !stmt.reading.unread_actions.is_empty() && stmt.ast().is_some() {
            self.summary.unparsed += 1;
            let actions = stmt.reading.unread_actions.join("`, `");
            found.items.push(
                Draft::new(&UNPARSED, format!("ALTER TABLE action(s) not checked: `{actions}`"))
                    .with_help("the statement's other actions were checked; review these by hand"),
            );
        }
        if let Parsed::No { error } = &stmt.parsed {
            // An ALTER TABLE whose every action was read (parsed alone, or catalog-only).
            let altered_and_read = stmt.starts_with(&["ALTER", "TABLE"])
                && stmt.reading.target.is_some()
                && stmt.reading.unread_actions.is_empty();
            if !altered_and_read && !RECOGNISED_UNPARSED.iter().any(|w| stmt.starts_with(w)) {
                self.summary.unparsed += 1;
                found.items.push(Draft::new(&UNPARSED, format!("statement not checked: {error}")).with_help(
                    "review it by hand; `-- planner:ignore unparsed-statement <reason>` silences this",
                ));
            }
        }
        for rule in rules::RULES {
            if !run.opts.disabled.iter().any(|d| d == rule.meta().id) {
                rule.check(stmt, cx, found);
            }
        }
        if let Some(stats) = &run.opts.stats {
            rate_by_size(stmt, stats, &mut found.items);
        }
        for draft in found.items.drain(..) {
            if suppress::is_ignored(&ignored, draft.rule.id) {
                self.summary.suppressed += 1;
            } else {
                self.push(run, draft, stmt.start, stmt.end);
            }
        }
    }

    /// Rate a finding (config, `--strict`) and record it.
    fn push(&mut self, run: &FileRun, d: Draft, start: Pos, end: Pos) {
        let (opts, meta) = (run.opts, d.rule);
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
            file: run.file.to_string(),
            start,
            end,
            message: d.message,
            help: d.help,
            suggestion: d.suggestion,
            excerpt: run.lines.get(start.line).to_string(),
        });
    }

    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }
}

/// Rules whose cost grows with the table: a rewrite, a validating scan, an index build, a
/// whole-table UPDATE/DELETE. Their findings are rated by the table's size when stats are given.
/// (Renames and drops break the app whatever the size: not here.)
const SIZE_DEPENDENT: &[&str] = &[
    "change-column-type",
    "add-column-rewrite",
    "unbatched-dml",
    "set-not-null",
    "constraint-without-not-valid",
    "unique-without-index",
    "index-without-concurrently",
    "set-logged",
    "cluster",
    "vacuum-full",
];

/// Rate each size-dependent finding of `stmt` by its table's size and say the size.
fn rate_by_size(stmt: &source::Stmt, stats: &stats::TableStats, drafts: &mut [Draft]) {
    let Some(table) = statement_table(stmt) else { return };
    let key = context::table_key(&table);
    let Some(stat) = stats.get(&key) else { return };
    for d in drafts.iter_mut().filter(|d| SIZE_DEPENDENT.contains(&d.rule.id)) {
        // DROP INDEX (index-without-concurrently) waits for the lock, it does not scan.
        if stmt.starts_with(&["DROP"]) {
            continue;
        }
        d.severity = Some(stat.severity(d.severity.unwrap_or(d.rule.severity)));
        d.message = format!("{} [{key}: {}]", d.message, stat.describe());
    }
}

/// The table a statement works on, for its size.
fn statement_table(stmt: &source::Stmt) -> Option<sqlparser::ast::ObjectName> {
    use sqlparser::ast::{FromTable, Statement, TableFactor};
    let relation = |t: &TableFactor| match t {
        TableFactor::Table { name, .. } => Some(name.clone()),
        _ => None,
    };
    match stmt.ast() {
        Some(Statement::AlterTable(at)) => Some(at.name.clone()),
        Some(Statement::CreateIndex(ci)) => Some(ci.table_name.clone()),
        Some(Statement::Update(u)) => relation(&u.table.relation),
        Some(Statement::Delete(d)) => match &d.from {
            FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => relation(&t.first()?.relation),
        },
        _ => stmt.reading.target.clone(),
    }
}

/// Lint one string with default options (tests and library users).
pub fn lint_str(file: &str, sql: &str, opts: &LintOptions) -> LintReport {
    let mut report = LintReport::default();
    report.lint_source(file, sql, opts, &mut KnownSchema::default());
    report
}

#[cfg(test)]
mod tests {
    #[test]
    fn uncommitted_begin_is_reported_at_the_begin() {
        let opts = super::LintOptions::default();
        let open = super::lint_str("t.sql", "SELECT 1;\nBEGIN;\nSELECT 2;", &opts);
        let f: Vec<_> = open.findings.iter().filter(|f| f.rule == "uncommitted-transaction").collect();
        assert_eq!((f.len(), f[0].start.line), (1, 2));
        let closed = super::lint_str("t.sql", "BEGIN;\nSELECT 2;\nCOMMIT;", &opts);
        assert!(closed.findings.iter().all(|f| f.rule != "uncommitted-transaction"));
    }
}
