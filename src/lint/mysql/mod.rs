//! `planner check --dialect mysql|mariadb`: the MySQL/MariaDB rule set over migrations read with
//! sqlparser's `MySqlDialect` (plus token-level reading of what it lacks, see `model`).
//!
//! Flow per file: `source` splits (DELIMITER-aware), `model` reads each statement, a pre-pass
//! computes the session state before each statement (lock_wait_timeout, foreign_key_checks, an
//! open transaction), then statements are checked in order against the schema the migrations
//! declared so far (`schema`), whose costs `cost` decides.

pub mod cost;
pub mod model;
pub mod rules;
pub mod schema;
pub mod source;

use std::collections::HashSet;

use super::dialect::LintDialect;
use super::rule::{Draft, Findings};
use super::source::Pos;
use super::{FileRun, FileTx, KnownSchema, LintOptions, LintReport, UNPARSED};
use cost::{Cost, Verdict};
use model::{Kind, Reading, TableName};
use schema::Schema;

/// One statement of a MySQL migration.
#[derive(Debug)]
pub struct MyStmt {
    pub index: usize,
    pub start: Pos,
    pub end: Pos,
    pub comments: Vec<(Pos, String)>,
    pub read: Reading,
    /// The statement as the server receives it (no DELIMITER, no trailing `;`).
    pub text: String,
}

impl MyStmt {
    /// The table the statement changes, for DDL.
    pub fn ddl_table(&self) -> Option<&TableName> {
        match &self.read.kind {
            Kind::AlterTable { table, .. }
            | Kind::CreateIndex { table, .. }
            | Kind::DropIndex { table, .. }
            | Kind::CreateTrigger { table }
            | Kind::CreateTable { table, .. } => Some(table),
            Kind::DropTable { tables } | Kind::Optimize { tables } => tables.first(),
            Kind::RenameTable { pairs } => pairs.first().map(|(from, _)| from),
            _ => None,
        }
    }

    /// DDL commits implicitly and takes the table's exclusive metadata lock.
    pub fn is_ddl(&self) -> bool {
        matches!(
            self.read.kind,
            Kind::AlterTable { .. }
                | Kind::CreateIndex { .. }
                | Kind::DropIndex { .. }
                | Kind::CreateTable { .. }
                | Kind::DropTable { .. }
                | Kind::RenameTable { .. }
                | Kind::CreateTrigger { .. }
                | Kind::DropTrigger
        )
    }
}

/// Session state in force when a statement runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Session {
    /// `SET [SESSION] lock_wait_timeout = n` ran earlier in the file.
    pub lock_wait: bool,
    pub fk_checks_off: bool,
    /// An explicit `BEGIN`/`START TRANSACTION`, or the tool's wrapping transaction, is open.
    pub in_tx: bool,
    /// The open transaction is the migration tool's (`--assume-in-transaction`, `--tool`).
    pub tool_tx: bool,
}

/// What a rule sees of the file at one statement.
pub struct MyCx<'a> {
    pub dialect: LintDialect,
    /// The schema as declared before this statement.
    pub schema: &'a Schema,
    pub session: Session,
    /// Tables created earlier in this file: no rows, no traffic.
    created: &'a HashSet<String>,
    /// The first statement that waits for a metadata lock with no lock_wait_timeout.
    pub first_unprotected: Option<usize>,
    /// Every statement of the file (rules that look ahead: foreign_key_checks left off).
    pub stmts: &'a [MyStmt],
    pub sessions: &'a [Session],
}

impl MyCx<'_> {
    /// A table that existed before this file (so it may hold rows and traffic).
    pub fn existing(&self, t: &TableName) -> bool {
        !self.created.contains(&t.key)
    }

    /// foreign_key_checks is off for this statement (session or `SET STATEMENT`).
    pub fn fk_checks_off(&self, s: &MyStmt) -> bool {
        match s.read.scoped.iter().find(|(k, _)| k == "foreign_key_checks") {
            Some((_, v)) => is_off(v),
            None => self.session.fk_checks_off,
        }
    }

    pub fn cost(&self, s: &MyStmt) -> Option<Verdict> {
        cost::statement_cost(&s.read.kind, self.schema, self.dialect, self.fk_checks_off(s))
    }

    /// The clause that makes the server refuse instead of doing worse than `cost`.
    pub fn clause_for(&self, cost: Cost) -> &'static str {
        match cost {
            Cost::Instant => "ALGORITHM=INSTANT",
            Cost::InPlace => self.dialect.no_rebuild_clause(),
            Cost::Rebuild | Cost::BlocksWrites => "ALGORITHM=INPLACE, LOCK=NONE",
        }
    }
}

fn is_off(v: &str) -> bool {
    matches!(v, "0" | "off" | "false")
}

/// Read a file into statements; a tokenizer failure gives the statements before it and the error.
fn statements(sql: &str) -> (Vec<MyStmt>, Option<super::source::TokenizeError>) {
    let (raws, err) = match source::split(sql) {
        Ok(r) => (r, None),
        Err(e) => {
            // Read what comes before the bad line, report the rest as unread.
            let prefix_end =
                sql.match_indices('\n').nth(e.pos.line.saturating_sub(2)).map_or(0, |(i, _)| i + 1);
            let before = if e.pos.line > 1 {
                source::split(&sql[..prefix_end]).unwrap_or_default()
            } else {
                Vec::new()
            };
            (before, Some(e))
        }
    };
    let stmts = raws
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let start = source::pos(raw.tokens[0].span.start);
            let end = raw
                .tokens
                .iter()
                .rev()
                .find(|t| !matches!(t.token, sqlparser::tokenizer::Token::Whitespace(_)))
                .map_or(start, |t| source::pos(t.span.end));
            MyStmt {
                index,
                start,
                end,
                comments: raw.comments,
                read: model::read(&raw.tokens),
                text: model::text_of(&raw.tokens),
            }
        })
        .collect();
    (stmts, err)
}

/// Session state before each statement, and the first statement waiting for a metadata lock
/// without a bound.
fn sessions(
    stmts: &[MyStmt],
    tx: FileTx,
    created_in_file: &HashSet<String>,
) -> (Vec<Session>, Option<usize>) {
    let mut s =
        Session { in_tx: tx != FileTx::Explicit, tool_tx: tx != FileTx::Explicit, ..Session::default() };
    let mut out = Vec::with_capacity(stmts.len());
    let mut first_unprotected = None;
    for st in stmts {
        out.push(s);
        let takes_mdl = matches!(
            st.read.kind,
            Kind::AlterTable { .. }
                | Kind::CreateIndex { .. }
                | Kind::DropIndex { .. }
                | Kind::CreateTrigger { .. }
                | Kind::DropTrigger
                | Kind::RenameTable { .. }
                | Kind::Optimize { .. }
        );
        let on_existing = st.ddl_table().is_none_or(|t| !created_in_file.contains(&t.key));
        if takes_mdl && on_existing && !s.lock_wait && st.read.wait.is_none() && first_unprotected.is_none() {
            first_unprotected = Some(st.index);
        }
        match &st.read.kind {
            Kind::Set(vars) => {
                for (k, v) in vars {
                    match k.as_str() {
                        "lock_wait_timeout" => s.lock_wait = v.parse::<u64>().is_ok_and(|n| n < 86400),
                        "foreign_key_checks" => s.fk_checks_off = is_off(v),
                        _ => {}
                    }
                }
            }
            Kind::Begin => {
                s.in_tx = true;
                s.tool_tx = false;
            }
            Kind::Commit | Kind::Rollback => s.in_tx = false,
            _ if st.is_ddl() => s.in_tx = false,
            _ => {}
        }
    }
    (out, first_unprotected)
}

/// Tables a file creates (keys), first statement that creates each.
fn created_tables(stmts: &[MyStmt]) -> Vec<(usize, String)> {
    stmts
        .iter()
        .filter_map(|s| match &s.read.kind {
            Kind::CreateTable { table, .. } => Some((s.index, table.key.clone())),
            _ => None,
        })
        .collect()
}

impl LintReport {
    /// Lint one MySQL/MariaDB file (the `--dialect mysql|mariadb` counterpart of `lint_file`).
    pub(super) fn lint_mysql_file(
        &mut self,
        file: &str,
        sql: &str,
        opts: &LintOptions,
        tx: FileTx,
        known: &mut KnownSchema,
    ) {
        self.mysql = true;
        let (stmts, unreadable) = statements(sql);
        let mut schema = known.mysql.clone();
        if self.context_only {
            for s in &stmts {
                schema.apply(&s.read.kind);
            }
            known.mysql = schema;
            return;
        }
        self.summary.files += 1;
        self.summary.statements += stmts.len();
        let run = FileRun { opts, file, lines: super::source::Lines::new(sql) };
        let all_created: HashSet<String> = created_tables(&stmts).into_iter().map(|(_, k)| k).collect();
        let (sessions, first_unprotected) = sessions(&stmts, tx, &all_created);
        let mut created: HashSet<String> = HashSet::new();
        let mut found = Findings::new();
        for s in &stmts {
            let cx = MyCx {
                dialect: opts.dialect,
                schema: &schema,
                session: sessions[s.index],
                created: &created,
                first_unprotected,
                stmts: &stmts,
                sessions: &sessions,
            };
            self.check_mysql_statement(&run, s, &cx, &mut found);
            schema.apply(&s.read.kind);
            match &s.read.kind {
                Kind::CreateTable { table, .. } => {
                    created.insert(table.key.clone());
                }
                Kind::RenameTable { pairs } => {
                    for (from, to) in pairs {
                        if created.contains(&from.key) {
                            created.insert(to.key.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(e) = unreadable {
            self.summary.unparsed += 1;
            let draft = Draft::new(&UNPARSED, format!("cannot read the file from here on: {}", e.message))
                .with_help("close the string or quoted identifier that starts here");
            self.push(&run, draft, e.pos, e.pos);
        }
        known.mysql = schema;
    }

    fn check_mysql_statement(&mut self, run: &FileRun, s: &MyStmt, cx: &MyCx, found: &mut Findings) {
        let ignored = super::suppress::ignored_in(&s.comments);
        for id in ignored.iter().filter(|id| *id != "all" && super::rule_by_id(id).is_none()) {
            let draft = Draft::new(
                &super::UNKNOWN_IGNORE,
                format!("`-- planner:ignore {id}` names no rule, so it suppresses nothing"),
            )
            .with_help("use an id from `planner check --dialect mysql --list-rules`, or `all`");
            self.push(run, draft, s.start, s.end);
        }
        if let Some(error) = &s.read.unparsed {
            self.summary.unparsed += 1;
            found.items.push(Draft::new(&UNPARSED, format!("statement not checked: {error}")).with_help(
                "review it by hand; `-- planner:ignore unparsed-statement <reason>` silences this",
            ));
        }
        if !s.read.unread.is_empty() {
            self.summary.unparsed += 1;
            let actions = s.read.unread.join("`, `");
            found.items.push(
                Draft::new(&UNPARSED, format!("ALTER TABLE action(s) not checked: `{actions}`"))
                    .with_help("the statement's other actions were checked; review these by hand"),
            );
        }
        for rule in rules::RULES {
            if !run.opts.disabled.iter().any(|d| d == rule.meta().id) {
                rule.check(s, cx, found);
            }
        }
        for draft in found.items.drain(..) {
            if super::suppress::is_ignored(&ignored, draft.rule.id) {
                self.summary.suppressed += 1;
            } else {
                self.push(run, draft, s.start, s.end);
            }
        }
    }
}

/// What the linter believes a statement costs, for checking that belief against a server.
#[derive(Debug, Clone)]
pub struct Claim {
    pub line: usize,
    /// The statement as written.
    pub text: String,
    /// The statement without ALGORITHM/LOCK clauses.
    pub bare: String,
    /// DDL on a table: what the operation itself costs (None: unknown, or not table DDL).
    pub cost: Option<Cost>,
    /// ALTER TABLE (clauses join the action list with a comma), CREATE/DROP INDEX (they follow).
    pub is_alter: bool,
    pub comma: bool,
    /// The cost assumed `foreign_key_checks = 0` (the session had turned it off).
    pub fk_checks_off: bool,
}

/// The claims for each statement of `sql` in order, reading `schema` for earlier declarations
/// and adding this file's.
pub fn claims(sql: &str, dialect: LintDialect, schema: &mut Schema) -> Vec<Claim> {
    let (stmts, _) = statements(sql);
    let (sessions, _) = sessions(&stmts, FileTx::Explicit, &HashSet::new());
    let mut out = Vec::new();
    for s in &stmts {
        let off = match s.read.scoped.iter().find(|(k, _)| k == "foreign_key_checks") {
            Some((_, v)) => is_off(v),
            None => sessions[s.index].fk_checks_off,
        };
        let cost = cost::statement_cost(&s.read.kind, schema, dialect, off).map(|v| v.cost);
        out.push(Claim {
            line: s.start.line,
            text: s.text.clone(),
            bare: s.read.bare.clone(),
            cost,
            // MariaDB's DROP INDEX takes no ALGORITHM clause (its ALTER TABLE … DROP INDEX does).
            is_alter: match s.read.kind {
                Kind::AlterTable { .. } | Kind::CreateIndex { .. } => true,
                Kind::DropIndex { .. } => !dialect.is_mariadb(),
                _ => false,
            },
            comma: matches!(s.read.kind, Kind::AlterTable { .. }),
            fk_checks_off: off,
        });
        schema.apply(&s.read.kind);
    }
    out
}

/// Statement start lines of a MySQL file (tests: labels are read by statement).
pub fn statement_lines(sql: &str) -> Vec<(usize, Vec<String>)> {
    statements(sql)
        .0
        .into_iter()
        .map(|s| (s.start.line, s.comments.into_iter().map(|(_, c)| c).collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::rules::testing::*;
    use crate::lint::lint_str;

    #[test]
    fn ignore_comments_name_mysql_rules() {
        let sql = "-- planner:ignore drop-column the app stopped reading it in v42\nALTER TABLE users DROP COLUMN qty, ALGORITHM=INSTANT;";
        let report = {
            let mut r = crate::lint::LintReport::default();
            let mut known = crate::lint::KnownSchema::default();
            r.context_only = true;
            r.lint_source("s.sql", USERS, &mariadb(), &mut known);
            r.context_only = false;
            r.lint_source("t.sql", sql, &mariadb(), &mut known);
            r
        };
        assert!(report.findings.iter().all(|f| f.rule != "drop-column"), "{:?}", report.findings);
        assert_eq!(report.summary.suppressed, 1);
        let typo = lint_str("t.sql", "-- planner:ignore drop-colum x\nSELECT 1;", &mariadb());
        assert!(typo.findings.iter().any(|f| f.rule == "unknown-rule-in-ignore"));
    }

    #[test]
    fn unreadable_tail_is_reported_where_it_starts() {
        let r = lint_str("t.sql", "SELECT 1;\nSELECT 'x;\n", &mariadb());
        let f: Vec<_> = r.findings.iter().filter(|f| f.rule == "unparsed-statement").collect();
        assert_eq!((f.len(), f[0].start.line), (1, 2), "{f:?}");
        assert_eq!(r.summary.statements, 1);
    }
}
