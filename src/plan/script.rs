//! A phase's steps as the one script that runs: grouped into transactions, each statement with the
//! settings it runs under. The SQL files, `--dry-run` and the executor all take their statements
//! from here, so what a reviewer reads is, statement for statement, what the server receives.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Step, TxMode};

/// The limits every DDL statement runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// How long a statement may wait for its lock. Zero is never "wait forever": it renders as
    /// 1ms, i.e. fail at once if the lock is not free.
    pub lock: Duration,
    /// Upper bound for statements that do not scan the table.
    pub statement: Duration,
}

impl Default for Timeouts {
    /// What the files are written with, and the executor's defaults.
    fn default() -> Self {
        Timeouts { lock: Duration::from_secs(2), statement: Duration::from_secs(30) }
    }
}

/// A duration as PostgreSQL reads it in `SET … = '…'`: `'2s'`, `'250ms'`, `0` (no limit).
pub fn pg_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0".to_string()
    } else if ms.is_multiple_of(1000) {
        format!("'{}s'", ms / 1000)
    } else {
        format!("'{ms}ms'")
    }
}

/// Consecutive in-transaction steps share a transaction; own-transaction and no-transaction steps
/// run alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub units: Vec<Unit>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub tx: TxMode,
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// 1-based position in the script, as the files number steps.
    pub number: usize,
    pub step: Step,
    /// `SET …` statements run right before `sql` (only those that change a setting).
    pub setup: Vec<String>,
    pub sql: String,
    /// Statements run right after (`RESET …` outside a transaction).
    pub teardown: Vec<String>,
}

impl Script {
    pub fn build(steps: &[Step], timeouts: Timeouts) -> Script {
        let lock = if timeouts.lock.is_zero() { Duration::from_millis(1) } else { timeouts.lock };
        let mut units: Vec<Unit> = Vec::new();
        // The statement_timeout the open transaction runs under, if one is open.
        let mut tx_statement_timeout: Option<String> = None;
        for (i, step) in steps.iter().enumerate() {
            let statement_timeout =
                pg_duration(if step.scans_table { Duration::ZERO } else { timeouts.statement });
            let joins_last = step.transaction == TxMode::InTransaction
                && units.last().is_some_and(|u| u.tx == TxMode::InTransaction);
            let mut statement = Statement {
                number: i + 1,
                step: step.clone(),
                setup: Vec::new(),
                sql: step.sql(),
                teardown: Vec::new(),
            };
            match step.transaction {
                TxMode::NoTransaction => {
                    statement.setup = vec![
                        format!("SET lock_timeout = {}", pg_duration(lock)),
                        format!("SET statement_timeout = {statement_timeout}"),
                    ];
                    statement.teardown = vec!["RESET lock_timeout".into(), "RESET statement_timeout".into()];
                    tx_statement_timeout = None;
                }
                _ if joins_last => {
                    if tx_statement_timeout.as_deref() != Some(statement_timeout.as_str()) {
                        statement.setup = vec![format!("SET LOCAL statement_timeout = {statement_timeout}")];
                        tx_statement_timeout = Some(statement_timeout);
                    }
                }
                _ => {
                    statement.setup = vec![
                        format!("SET LOCAL lock_timeout = {}", pg_duration(lock)),
                        format!("SET LOCAL statement_timeout = {statement_timeout}"),
                    ];
                    tx_statement_timeout = Some(statement_timeout);
                }
            }
            if joins_last {
                units.last_mut().expect("joins_last implies a unit").statements.push(statement);
            } else {
                units.push(Unit { tx: step.transaction, statements: vec![statement] });
            }
        }
        Script { units }
    }

    /// psql-runnable text: what the files hold and what `--dry-run` prints.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for unit in &self.units {
            let in_tx = unit.tx != TxMode::NoTransaction;
            for (i, s) in unit.statements.iter().enumerate() {
                let on =
                    s.step.table.as_ref().map(|t| format!(" on {}", t.display_short())).unwrap_or_default();
                let _ = writeln!(out, "\n-- {}. {}", s.number, s.step.why);
                let _ = writeln!(out, "--    lock: {}{on}", s.step.lock);
                if !in_tx {
                    let _ = writeln!(out, "--    runs outside a transaction (CONCURRENTLY)");
                }
                if in_tx && i == 0 {
                    out.push_str("BEGIN;\n");
                }
                for line in &s.setup {
                    let _ = writeln!(out, "{line};");
                }
                if let Some(ignore) = lint_ignore(&s.step) {
                    let _ = writeln!(out, "{ignore}");
                }
                let _ = writeln!(out, "{};", s.sql);
                for line in &s.teardown {
                    let _ = writeln!(out, "{line};");
                }
            }
            if in_tx {
                out.push_str("COMMIT;\n");
            }
        }
        out
    }
}

/// `planner check` reads planner's own files too. A statement that is safe only because of where
/// the plan puts it carries an ignore that says why (a comment: the server never sees it).
pub fn lint_ignore(step: &Step) -> Option<&'static str> {
    match step.op {
        crate::sql::ddl::Ddl::DropColumn { .. } => Some(
            "-- planner:ignore drop-column planner drops a column only in the phase after which no running app version uses it (see `compat` in plan.yaml)",
        ),
        crate::sql::ddl::Ddl::RenameColumn { .. } => Some(
            "-- planner:ignore rename-column planner renames only its own shadow column into place, in the swap after the old column is gone (no app uses the shadow column's name)",
        ),
        crate::sql::ddl::Ddl::AlterColumnType { .. } => Some(
            "-- planner:ignore change-column-type planner changes a type in place only where PostgreSQL changes the catalog alone (see the step's reason)",
        ),
        _ => None,
    }
}

/// The steps that undo `steps` (as applied, oldest first): each step's undo sequence, newest
/// step first.
pub fn undo_steps(steps: &[Step]) -> Vec<Step> {
    steps.iter().rev().flat_map(|s| s.undo.iter().cloned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Lock;
    use crate::sql::ddl::Ddl;
    use crate::sql::{Ident, QualifiedName};

    fn step(tx: TxMode, scans: bool) -> Step {
        let t = QualifiedName::from_user("users", "public").unwrap();
        let mut s = Step::new(
            "x",
            Ddl::DropNotNull { table: t.clone(), column: Ident::new("a").unwrap() },
            Lock::AccessExclusiveBrief,
            &t,
        )
        .tx(tx);
        s.scans_table = scans;
        s
    }

    #[test]
    fn groups_transactions_and_sets_timeouts_once_per_change() {
        let steps = vec![
            step(TxMode::InTransaction, false),
            step(TxMode::InTransaction, false),
            step(TxMode::OwnTransaction, true),
            step(TxMode::NoTransaction, true),
            step(TxMode::InTransaction, false),
        ];
        let script = Script::build(&steps, Timeouts::default());
        let sizes: Vec<usize> = script.units.iter().map(|u| u.statements.len()).collect();
        assert_eq!(sizes, vec![2, 1, 1, 1]);
        assert_eq!(script.units[0].statements[0].setup.len(), 2);
        assert!(script.units[0].statements[1].setup.is_empty(), "same timeouts: nothing to set again");
        assert_eq!(script.units[1].statements[0].setup[1], "SET LOCAL statement_timeout = 0");
        let text = script.text();
        assert_eq!(text.matches("BEGIN;").count(), 3);
        assert_eq!(text.matches("COMMIT;").count(), 3);
        assert!(text.contains("SET lock_timeout = '2s';\nSET statement_timeout = 0;"), "{text}");
    }

    #[test]
    fn durations_read_the_same_everywhere_and_zero_lock_timeout_fails_fast() {
        assert_eq!(pg_duration(Duration::from_secs(2)), "'2s'");
        assert_eq!(pg_duration(Duration::from_millis(1500)), "'1500ms'");
        let script = Script::build(
            &[step(TxMode::InTransaction, false)],
            Timeouts { lock: Duration::ZERO, statement: Duration::from_secs(1) },
        );
        assert_eq!(script.units[0].statements[0].setup[0], "SET LOCAL lock_timeout = '1ms'");
    }
}
