//! A plan's phases as tool-neutral migrations: ordered, each a list of blocks that are sent to the
//! server one query each, with the down that undoes exactly its own steps.
//!
//! Built from the typed plan through the same [`Script`] the executor runs (so every statement
//! carries the lock_timeout / statement_timeout planner would set), never from SQL text.

use std::fmt::Write as _;
use std::ops::Range;

use super::state_sql::{self, StateCx};
use crate::plan::script::{lint_ignore, undo_steps, Script, Timeouts};
use crate::plan::{Phase, PhaseKind, Step, TxMode};
use crate::sql::ddl::Ddl;

/// One query as the tool sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub sql: String,
    pub kind: BlockKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// Runs in one transaction: the tool's own, or `BEGIN`/`COMMIT` around it when the
    /// migration is not transactional.
    Tx,
    /// Must run outside any transaction block and alone in its query (CREATE INDEX CONCURRENTLY,
    /// a DO block that commits between batches): PostgreSQL runs a multi-statement query as one
    /// implicit transaction.
    Alone,
}

impl Block {
    fn tx(sql: String) -> Block {
        Block { sql, kind: BlockKind::Tx }
    }
    fn alone(sql: String) -> Block {
        Block { sql, kind: BlockKind::Alone }
    }
    /// The block as text for a migration the tool does not wrap in a transaction.
    pub fn standalone(&self) -> String {
        match self.kind {
            BlockKind::Tx => format!("BEGIN;\n{}COMMIT;\n", self.sql),
            BlockKind::Alone => self.sql.clone(),
        }
    }
}

/// The blocks of one direction of a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Blocks(Vec<Block>),
    /// Cannot be undone: the down refuses with this reason (and changes nothing).
    Impossible(String),
}

impl Body {
    /// One transactional block: the tool may run it in its own transaction.
    pub fn transactional(&self) -> bool {
        match self {
            Body::Blocks(b) => b.len() == 1 && b[0].kind == BlockKind::Tx,
            Body::Impossible(_) => true,
        }
    }
    /// The blocks, with an impossible down as one block that raises.
    pub fn blocks(&self, plan: &str, phase: PhaseKind) -> Vec<Block> {
        match self {
            Body::Blocks(b) => b.clone(),
            Body::Impossible(why) => vec![Block::tx(impossible_sql(plan, phase, why))],
        }
    }
    /// Everything as one text: each block standalone unless the whole body is transactional.
    pub fn text(&self, plan: &str, phase: PhaseKind, wrapped_by_tool: bool) -> String {
        let blocks = self.blocks(plan, phase);
        if wrapped_by_tool && self.transactional() {
            return blocks.iter().map(|b| b.sql.clone()).collect();
        }
        blocks.iter().map(Block::standalone).collect::<Vec<_>>().join("\n")
    }
}

/// The statement a down that cannot be undone runs: it fails on purpose, changing nothing.
pub fn impossible_sql(plan: &str, phase: PhaseKind, why: &str) -> String {
    let message = format!("planner: {phase} of plan {plan} cannot be undone: {why}");
    format!(
        "DO $planner$ BEGIN RAISE EXCEPTION '%', {}; END $planner$;\n",
        crate::sql::quote_literal(&message)
    )
}

/// One migration in the tool's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Position in the export (0-based); tools turn it into their version numbers.
    pub seq: usize,
    /// `<plan>_<phase>` plus `_<n>` when a phase spans several migrations.
    pub slug: String,
    pub phase: PhaseKind,
    /// 1 for expand (and an inline backfill), 2 for contract: the release that ships it.
    pub release: u32,
    /// Comment lines for the file's header (no comment markers).
    pub notes: Vec<String>,
    pub up: Body,
    pub down: Body,
}

/// How a tool sends a migration to the server, which decides how a phase is cut into migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// The whole file is one query (sqlx, dbmate, golang-migrate): every block (one transaction,
    /// or one statement that must run alone) gets a migration of its own.
    OneQueryPerMigration,
    /// The migration sends blocks one by one (code-based tools, or tools that split statements):
    /// one migration per phase.
    QueryPerBlock,
}

/// What to export.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Only this phase (`--phase`); both expand and contract when `None`.
    pub phase: Option<PhaseKind>,
    /// Run the backfill as a migration (batches committed one by one) instead of the
    /// `planner backfill` job.
    pub inline_backfill: bool,
}

/// Rows per batch of an inline backfill.
pub const INLINE_BATCH: u32 = 1000;

/// The plan as migrations, in the order the tool must run them.
pub fn build(cx: &StateCx, packing: Packing, selection: &Selection) -> Vec<Migration> {
    let mut out = Vec::new();
    let wanted = |k: PhaseKind| selection.phase.is_none_or(|p| p == k);
    for phase in &cx.plan.phases {
        match phase.phase {
            PhaseKind::Backfill if phase.backfill.is_empty() => {}
            PhaseKind::Backfill if selection.inline_backfill && wanted(PhaseKind::Expand) => {
                out.push(inline_backfill(cx, phase));
            }
            PhaseKind::Backfill => {}
            kind if wanted(kind) && !phase.steps.is_empty() => {
                out.extend(phase_migrations(cx, phase, packing, selection));
            }
            _ => {}
        }
    }
    for (i, m) in out.iter_mut().enumerate() {
        m.seq = i;
    }
    out
}

fn has_backfill(cx: &StateCx) -> bool {
    cx.plan.phase(PhaseKind::Backfill).is_some_and(|p| !p.backfill.is_empty())
}

fn release_notes(cx: &StateCx, phase: &Phase, selection: &Selection) -> (u32, Vec<String>) {
    let plan = &cx.plan.name;
    let mut notes = vec![format!("planner plan `{plan}`: phase {}.", phase.phase)];
    notes.extend(cx.plan.description.iter().map(|d| format!("  {d}")));
    let release = if phase.phase == PhaseKind::Contract { 2 } else { 1 };
    match phase.phase {
        PhaseKind::Contract => {
            notes.push(format!(
                "RELEASE N+1: ship this migration in the release AFTER the one that ran the expand of `{plan}`,"
            ));
            notes.push("once no instance of the old app is running.".into());
            if has_backfill(cx) && !selection.inline_backfill {
                notes.push(format!(
                    "Between the two releases, run the backfill as a job: {}",
                    cx.backfill_command()
                ));
            }
            notes.push(
                "Before it changes anything it checks the plan's preconditions inside the database and refuses with"
                    .into(),
            );
            notes.push("the reason (e.g. rows not backfilled yet), leaving the database expanded.".into());
        }
        _ => {
            notes.push("RELEASE N: ship with (or before) the app version that knows the new shape.".into());
            if has_backfill(cx) && !selection.inline_backfill {
                notes.push(format!(
                    "The backfill is not a migration: after this release, run it as a job: {}",
                    cx.backfill_command()
                ));
            }
        }
    }
    notes.push(format!("Old app: {}", phase.compat.old_app.note));
    notes.push(format!("New app: {}", phase.compat.new_app.note));
    notes.push(
        "Recorded in schema planner: `planner status` / `verify` / `backfill` / `rollback` see what this did."
            .into(),
    );
    notes.push("Generated by `planner export`; re-export instead of editing.".into());
    (release, notes)
}

/// Where a phase is cut into files, `planner check` (which reads one file at a time) no longer sees
/// the validated CHECK that makes a later SET NOT NULL catalog-only: say so where it runs.
fn proven_elsewhere(step: &Step, earlier: &[Step]) -> Option<String> {
    let Ddl::SetNotNull { table, .. } = &step.op else { return None };
    let validated = earlier
        .iter()
        .rposition(|s| matches!(&s.op, Ddl::ValidateConstraint { table: t, .. } if t == table))?;
    Some(format!(
        "-- planner:ignore set-not-null the CHECK validated by step {} (a migration before this one) proves it: no scan on PostgreSQL 12+",
        validated + 1
    ))
}

/// A statement as the files show it: why, lock, settings, the SQL.
fn statement_text(
    out: &mut String,
    number: usize,
    step: &Step,
    setup: &[String],
    extra_ignore: Option<&str>,
    sql: &str,
    teardown: &[String],
) {
    let on = step.table.as_ref().map(|t| format!(" on {}", t.display_short())).unwrap_or_default();
    let _ = writeln!(out, "-- {number}. {}", step.why);
    let _ = writeln!(out, "--    lock: {}{on}", step.lock);
    for line in setup {
        let _ = writeln!(out, "{line};");
    }
    for ignore in lint_ignore(step).into_iter().chain(extra_ignore) {
        let _ = writeln!(out, "{ignore}");
    }
    let _ = writeln!(out, "{sql};");
    for line in teardown {
        let _ = writeln!(out, "{line};");
    }
}

/// A step range's script as blocks: transactional units as `Tx`, each statement that must run
/// outside a transaction as `Alone` between its (session-level) settings and their reset.
/// `after(done)` is state SQL appended to the transactional block that completes step `done`.
fn blocks(
    steps: &[Step],
    offset: usize,
    split: bool,
    after: &dyn Fn(usize) -> String,
) -> Vec<(Block, Range<usize>)> {
    let script = Script::build(steps, Timeouts::default());
    let mut out: Vec<(Block, Range<usize>)> = Vec::new();
    let mut done = offset;
    for unit in &script.units {
        let start = done;
        if unit.tx == TxMode::NoTransaction {
            for s in &unit.statements {
                if !s.setup.is_empty() {
                    let sql = s.setup.iter().map(|l| format!("{l};\n")).collect::<String>();
                    out.push((Block::tx(sql), done..done));
                }
                let mut text = String::new();
                statement_text(&mut text, offset + s.number, &s.step, &[], None, &s.sql, &[]);
                done += 1;
                out.push((Block::alone(text), done - 1..done));
                let mut teardown = s.teardown.iter().map(|l| format!("{l};\n")).collect::<String>();
                teardown.push_str(&after(done));
                out.push((Block::tx(teardown), done..done));
            }
        } else {
            let mut text = String::new();
            for s in &unit.statements {
                let ignore = if split { proven_elsewhere(&s.step, &steps[..s.number - 1]) } else { None };
                statement_text(
                    &mut text,
                    offset + s.number,
                    &s.step,
                    &s.setup,
                    ignore.as_deref(),
                    &s.sql,
                    &s.teardown,
                );
            }
            done += unit.statements.len();
            text.push_str(&after(done));
            out.push((Block::tx(text), start..done));
        }
    }
    merge_tx(out)
}

/// Adjacent transactional blocks that only carry settings or state join their neighbour.
fn merge_tx(blocks: Vec<(Block, Range<usize>)>) -> Vec<(Block, Range<usize>)> {
    let mut out: Vec<(Block, Range<usize>)> = Vec::new();
    for (block, range) in blocks {
        if let Some((last, last_range)) = out.last_mut() {
            let joinable = last.kind == BlockKind::Tx && block.kind == BlockKind::Tx && range.is_empty();
            if joinable {
                last.sql.push_str(&block.sql);
                last_range.end = last_range.end.max(range.end);
                continue;
            }
        }
        out.push((block, range));
    }
    out
}

/// A phase's migrations: the prologue (state schema, precheck) before its first statement, the
/// registration and step counts in the transactions of the steps, done at the end.
fn phase_migrations(cx: &StateCx, phase: &Phase, packing: Packing, selection: &Selection) -> Vec<Migration> {
    let kind = phase.phase;
    let total = phase.steps.len();
    // The first unit to commit also registers the plan and starts the phase (the phase row must
    // exist before its step count is updated).
    let registered = std::cell::Cell::new(false);
    let after = |done: usize| {
        let mut sql = String::new();
        if !registered.replace(true) {
            sql.push_str("-- register the plan and the phase in planner's state\n");
            sql.push_str(&state_sql::register(cx));
            sql.push_str(&state_sql::start_phase(cx, phase));
        }
        sql.push_str(&if done == total {
            state_sql::finish_phase(cx, phase)
        } else {
            state_sql::steps_done(cx, kind, done)
        });
        sql
    };
    let mut up = blocks(&phase.steps, 0, packing == Packing::OneQueryPerMigration, &after);
    let prologue = format!(
        "-- planner's state schema (as `planner apply` creates it) and this phase's preconditions\n{}{}\n",
        state_sql::ensure_schema(),
        state_sql::precheck(cx, phase)
    );
    match up.first_mut() {
        Some((first, _)) if first.kind == BlockKind::Tx => first.sql.insert_str(0, &prologue),
        _ => up.insert(0, (Block::tx(prologue), 0..0)),
    }
    if up.last().is_some_and(|(b, _)| b.kind == BlockKind::Alone) {
        up.push((Block::tx(state_sql::finish_phase(cx, phase)), total..total));
    }

    // Cut into migrations.
    let groups: Vec<Vec<(Block, Range<usize>)>> = match packing {
        Packing::QueryPerBlock => vec![up],
        // One block per migration: each runs in the tool's own transaction (or alone), so a
        // failure rolls back cleanly instead of leaving the connection in an aborted
        // `BEGIN` block, as a failed multi-statement query with its own BEGIN would.
        Packing::OneQueryPerMigration => up.into_iter().map(|item| vec![item]).collect(),
    };
    let (release, notes) = release_notes(cx, phase, selection);
    let count = groups.len();
    groups
        .into_iter()
        .enumerate()
        .map(|(i, group)| {
            let start = group.iter().map(|(_, r)| r.start).min().unwrap_or(0);
            let end = group.iter().map(|(_, r)| r.end).max().unwrap_or(0);
            let steps = &phase.steps[start..end];
            let mut down = down_body(cx, phase, steps, start, i == 0);
            if packing == Packing::OneQueryPerMigration {
                down = alone_only(down);
            }
            let mut notes = notes.clone();
            if count > 1 {
                let what = if start == end {
                    "planner's bookkeeping between steps".to_string()
                } else if start + 1 == end {
                    format!("step {end} of {total}")
                } else {
                    format!("steps {}-{end} of {total}", start + 1)
                };
                notes.insert(
                    1,
                    format!(
                        "Part {} of {count} of this phase ({what}): {tool} sends a file as one query, so each transaction of the phase, and each statement that must run outside one, is a migration of its own.",
                        i + 1,
                        tool = cx.tool,
                    ),
                );
            }
            Migration {
                seq: 0,
                slug: if count > 1 {
                    format!("{}_{kind}_{}", cx.plan.name, i + 1)
                } else {
                    format!("{}_{kind}", cx.plan.name)
                },
                phase: kind,
                release,
                notes,
                up: Body::Blocks(group.into_iter().map(|(b, _)| b).collect()),
                down,
            }
        })
        .collect()
}

/// The undo of `steps` (steps `start..` of the phase), newest first, and the state it leaves:
/// the phase rolled back when this is the phase's first migration, otherwise its step count.
fn down_body(cx: &StateCx, phase: &Phase, steps: &[Step], start: usize, first: bool) -> Body {
    if let Some(step) = steps.iter().rev().find(|s| s.undo.is_empty() && s.irreversible.is_some()) {
        return Body::Impossible(step.irreversible.clone().unwrap_or_default());
    }
    if phase.irreversible.is_some() && first && steps.iter().all(|s| s.undo.is_empty()) {
        return Body::Impossible(phase.irreversible.clone().unwrap_or_default());
    }
    let undo = undo_steps(steps);
    let state = if first {
        state_sql::rolled_back(cx, phase.phase)
    } else {
        state_sql::steps_done(cx, phase.phase, start)
    };
    let mut items = blocks(&undo, 0, false, &|_| String::new());
    match items.last_mut() {
        Some((last, _)) if last.kind == BlockKind::Tx => last.sql.push_str(&state),
        _ => items.push((Block::tx(state), 0..0)),
    }
    Body::Blocks(items.into_iter().map(|(b, _)| b).collect())
}

/// A file sent as one query cannot hold a statement that must run alone together with others:
/// keep that statement only (its settings come from the session, its step count from the next
/// migration's down).
fn alone_only(body: Body) -> Body {
    match body {
        Body::Blocks(blocks) if blocks.iter().any(|b| b.kind == BlockKind::Alone) => {
            Body::Blocks(blocks.into_iter().filter(|b| b.kind == BlockKind::Alone).collect())
        }
        other => other,
    }
}

/// The backfill as one migration of its own (`--inline-backfill`): batches committed one by one
/// inside the database, so it must run outside a transaction; for small tables.
fn inline_backfill(cx: &StateCx, phase: &Phase) -> Migration {
    let mut notes = vec![format!("planner plan `{}`: backfill, inline (--inline-backfill).", cx.plan.name)];
    notes.push(format!(
        "Fills existing rows in batches of {INLINE_BATCH}, each committed on its own (this migration runs outside a transaction)."
    ));
    notes.push(format!(
        "For small tables: on a large one, run `{}` as a job instead (throttled, resumable).",
        cx.backfill_command()
    ));
    notes.push("Generated by `planner export`; re-export instead of editing.".into());
    let down = Body::Blocks(vec![Block::tx(format!(
        "-- the filled values stay (expand's down drops what they were written to); planner forgets the backfill\n{}",
        state_sql::rolled_back(cx, PhaseKind::Backfill)
    ))]);
    Migration {
        seq: 0,
        slug: format!("{}_backfill", cx.plan.name),
        phase: PhaseKind::Backfill,
        release: 1,
        notes,
        up: Body::Blocks(vec![Block::alone(state_sql::inline_backfill(cx, phase, INLINE_BATCH))]),
        down,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str) -> (crate::plan::Plan, String) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans").join(name);
        crate::plan::read_dir(&dir).expect("golden plan")
    }

    fn built(name: &str, packing: Packing, selection: Selection) -> Vec<Migration> {
        let (plan, yaml) = plan(name);
        let dir = format!("plans/{name}");
        let cx = StateCx { plan: &plan, plan_yaml: &yaml, plan_sha256: "sha", plan_dir: &dir, tool: "t" };
        build(&cx, packing, &selection)
    }

    const BOTH: Selection = Selection { phase: None, inline_backfill: false };

    #[test]
    fn contract_follows_expand_in_the_next_release_and_backfill_is_a_job() {
        let ms = built("add_users_email_verified", Packing::QueryPerBlock, BOTH);
        let phases: Vec<PhaseKind> = ms.iter().map(|m| m.phase).collect();
        assert_eq!(phases, vec![PhaseKind::Expand, PhaseKind::Contract]);
        assert_eq!(ms.iter().map(|m| (m.seq, m.release)).collect::<Vec<_>>(), vec![(0, 1), (1, 2)]);
        let notes = ms[1].notes.join("\n");
        assert!(notes.contains("RELEASE N+1"), "{notes}");
        assert!(notes.contains("planner backfill plans/add_users_email_verified"), "{notes}");
        let only = built(
            "add_users_email_verified",
            Packing::QueryPerBlock,
            Selection { phase: Some(PhaseKind::Contract), inline_backfill: false },
        );
        assert!(only.iter().all(|m| m.phase == PhaseKind::Contract) && only[0].seq == 0);
    }

    #[test]
    fn one_query_tools_get_one_block_per_migration_and_concurrent_steps_alone() {
        let ms = built("rename_users_name", Packing::OneQueryPerMigration, BOTH);
        assert!(ms.len() > 2);
        for m in &ms {
            let Body::Blocks(up) = &m.up else { panic!("an up is never impossible") };
            assert_eq!(up.len(), 1, "{}", m.slug);
            if up[0].kind == BlockKind::Alone {
                assert!(up[0].sql.contains("CONCURRENTLY"), "{}", up[0].sql);
                assert!(!m.up.transactional());
            }
        }
        // The phase's first migration checks and registers before anything else commits.
        let Body::Blocks(first) = &ms[0].up else { unreachable!() };
        assert!(
            first[0].sql.contains("$planner_check$") && first[0].sql.contains("INSERT INTO planner.plans")
        );
    }

    #[test]
    fn inline_backfill_is_one_migration_that_commits_per_batch() {
        let ms = built(
            "add_users_email_verified",
            Packing::QueryPerBlock,
            Selection { phase: None, inline_backfill: true },
        );
        let fill = ms.iter().find(|m| m.phase == PhaseKind::Backfill).expect("a backfill migration");
        assert_eq!(fill.seq, 1, "between expand and contract");
        let Body::Blocks(b) = &fill.up else { unreachable!() };
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].kind, BlockKind::Alone);
        assert!(b[0].sql.contains("COMMIT;") && b[0].sql.contains("LIMIT 1000"), "{}", b[0].sql);
    }

    #[test]
    fn an_irreversible_contract_has_a_down_that_refuses() {
        let ms = built("drop_users_legacy_flag", Packing::QueryPerBlock, BOTH);
        let contract = ms.iter().find(|m| m.phase == PhaseKind::Contract).unwrap();
        assert!(matches!(contract.down, Body::Impossible(_)), "{:?}", contract.down);
        let sql = contract.down.text("p", PhaseKind::Contract, true);
        assert!(sql.contains("RAISE EXCEPTION"), "{sql}");
    }
}
