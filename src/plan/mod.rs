//! A plan: what `planner plan` writes to `plans/<name>/plan.yaml` and what the executor runs.
//!
//! The plan is data. Steps hold SQL text and metadata, never a connection, so one `Plan` feeds
//! the files, `--dry-run` and the executor alike.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::flavour::{Flavour, ServerVersion};
use crate::sql::ddl::Ddl;
use crate::sql::{Ident, QualifiedName};

pub mod files;
pub mod load;
pub mod script;
pub mod state_schema;
pub mod write;
pub use load::{load_dir, read_dir, sha256_hex};
pub use write::write_plan_dir;

/// Bumped when plan.yaml changes incompatibly; the executor refuses plans it does not know.
/// Format 2 records `dialect` and `server_version` where format 1 had `pg_version`.
pub const PLAN_FORMAT_VERSION: u32 = 2;

/// Formats this planner reads. A format-1 plan is a PostgreSQL plan; it is rendered (and its
/// bytes compared) as format 1, so plans written before format 2 still load and apply.
pub const READABLE_PLAN_FORMATS: [u32; 2] = [1, PLAN_FORMAT_VERSION];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PlanFile", into = "PlanFile")]
pub struct Plan {
    /// plan.yaml format version (see [`PLAN_FORMAT_VERSION`]).
    pub planner_plan: u32,
    /// Plan id; also its folder name under `plans/`.
    pub name: String,
    /// The database family the plan was compiled for.
    pub dialect: Flavour,
    /// Server version the plan was compiled for (decides e.g. instant defaults).
    pub server_version: ServerVersion,
    /// One human line per change, e.g. "rename column public.users.name to full_name".
    pub description: Vec<String>,
    /// Shape of every touched table when the plan was made; contract refuses if it drifted.
    pub tables: Vec<TableShape>,
    pub phases: Vec<Phase>,
    /// SQL file name -> sha256 (hex) of its bytes. The executor refuses edited files.
    pub files: BTreeMap<String, String>,
}

/// plan.yaml as written: format 1 has `pg_version`, format 2 `dialect` and `server_version`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    planner_plan: u32,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pg_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dialect: Option<Flavour>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server_version: Option<ServerVersion>,
    description: Vec<String>,
    tables: Vec<TableShape>,
    phases: Vec<Phase>,
    files: BTreeMap<String, String>,
}

impl TryFrom<PlanFile> for Plan {
    type Error = String;
    fn try_from(f: PlanFile) -> Result<Plan, String> {
        let (dialect, server_version) = match (f.planner_plan, f.pg_version, f.dialect, f.server_version) {
            (1, Some(pg), None, None) => (Flavour::Postgresql, ServerVersion::major(pg)),
            (1, _, _, _) => {
                return Err("a format-1 plan has `pg_version` (and no `dialect` / `server_version`)".into())
            }
            (_, None, Some(dialect), Some(version)) => (dialect, version),
            // Unknown formats pass through here; the loader refuses them by number.
            (n, Some(pg), None, None) if n > PLAN_FORMAT_VERSION => {
                (Flavour::Postgresql, ServerVersion::major(pg))
            }
            _ => return Err("plan.yaml needs `dialect` and `server_version` (format 2)".into()),
        };
        Ok(Plan {
            planner_plan: f.planner_plan,
            name: f.name,
            dialect,
            server_version,
            description: f.description,
            tables: f.tables,
            phases: f.phases,
            files: f.files,
        })
    }
}

impl From<Plan> for PlanFile {
    fn from(p: Plan) -> PlanFile {
        let format_1 = p.planner_plan == 1;
        PlanFile {
            planner_plan: p.planner_plan,
            name: p.name,
            pg_version: format_1.then_some(p.server_version.major),
            dialect: (!format_1).then_some(p.dialect),
            server_version: (!format_1).then_some(p.server_version),
            description: p.description,
            tables: p.tables,
            phases: p.phases,
            files: p.files,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableShape {
    pub table: QualifiedName,
    pub columns: Vec<ColumnShape>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnShape {
    pub name: Ident,
    /// As `format_type()` prints it, e.g. `character varying(200)`, `timestamp with time zone`.
    #[serde(rename = "type")]
    pub data_type: String,
    pub not_null: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    Expand,
    Backfill,
    Contract,
}

impl PhaseKind {
    pub const ALL: [PhaseKind; 3] = [PhaseKind::Expand, PhaseKind::Backfill, PhaseKind::Contract];

    pub fn as_str(self) -> &'static str {
        match self {
            PhaseKind::Expand => "expand",
            PhaseKind::Backfill => "backfill",
            PhaseKind::Contract => "contract",
        }
    }
}

impl fmt::Display for PhaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PhaseKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "expand" => Ok(PhaseKind::Expand),
            "backfill" => Ok(PhaseKind::Backfill),
            "contract" => Ok(PhaseKind::Contract),
            other => Err(format!("unknown phase `{other}` (expected expand, backfill or contract)")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub phase: PhaseKind,
    /// The psql-runnable file with this phase's steps (absent when the phase has no SQL steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_file: Option<String>,
    /// The file that undoes this phase (absent when nothing to undo or undo is impossible).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_file: Option<String>,
    /// Checked right before the phase runs, in the session that runs it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preconditions: Vec<Precondition>,
    /// Run in order. For the backfill phase: run after the backfill tasks finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// Only in the backfill phase: the rows to fill, run by the backfill engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backfill: Vec<BackfillTask>,
    /// Which app versions may run once this phase is applied.
    pub compat: AppCompat,
    /// Set when this phase cannot be undone (e.g. a dropped column's data is gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irreversible: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxMode {
    /// Runs inside a transaction; consecutive in-transaction steps share one transaction.
    InTransaction,
    /// Runs in a transaction of its own: whatever ran before is committed first, so a long but
    /// non-blocking statement (VALIDATE CONSTRAINT) never runs while a strong lock is still held.
    OwnTransaction,
    /// Must run outside a transaction block (CREATE/DROP INDEX CONCURRENTLY).
    NoTransaction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Why this step exists, shown in summaries, dry runs and as a comment in the SQL files.
    pub why: String,
    /// What the step does, as data; rendered to SQL in one place ([`Ddl::render`]).
    pub op: Ddl,
    pub lock: Lock,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<QualifiedName>,
    pub transaction: TxMode,
    /// True when the step reads the whole table under a lock that does not block writes
    /// (VALIDATE CONSTRAINT, CREATE INDEX CONCURRENTLY): no statement_timeout applies.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scans_table: bool,
    /// Steps that reverse just this one, each with its own lock and transaction mode (undoing a
    /// DROP NOT NULL is the safe CHECK NOT VALID + VALIDATE + SET NOT NULL sequence, not one
    /// scan under ACCESS EXCLUSIVE). Used for the down file and to undo a half-applied phase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undo: Vec<Step>,
    /// Why this step cannot be undone, when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irreversible: Option<String>,
}

/// The table lock a step takes. Ordered from weakest to strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lock {
    /// No table lock beyond what ordinary queries take.
    None,
    /// Blocks DDL and VACUUM, not reads or writes (VALIDATE, CREATE INDEX CONCURRENTLY).
    ShareUpdateExclusive,
    /// Blocks writes (plain CREATE INDEX): planner never emits it for live tables.
    Share,
    /// Blocks writes, taken briefly (CREATE TRIGGER, ADD FOREIGN KEY NOT VALID).
    ShareRowExclusiveBrief,
    /// Blocks everything but held only for a catalog update (milliseconds).
    AccessExclusiveBrief,
    /// Blocks everything for as long as the statement runs (table rewrite or scan).
    AccessExclusive,
    /// MySQL/MariaDB: the exclusive metadata lock for a metadata-only change (INSTANT ALTER,
    /// CREATE/DROP TRIGGER, RENAME INDEX). Queues every query on the table while it waits, so it
    /// runs under `lock_wait_timeout` with retries.
    MdlExclusiveBrief,
    /// MySQL/MariaDB: an online index build (NOCOPY / INPLACE without rebuild, LOCK=NONE): writes
    /// continue; the exclusive metadata lock is taken briefly at start and end.
    OnlineNoRebuild,
    /// MySQL/MariaDB: an online table rebuild (INPLACE, LOCK=NONE): writes continue, the whole
    /// table is rewritten, and a concurrent write that violates the new definition aborts it at the end.
    OnlineRebuild,
}

impl Lock {
    pub fn describe(self) -> &'static str {
        match self {
            Lock::None => "none",
            Lock::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE (reads and writes continue)",
            Lock::Share => "SHARE (blocks writes)",
            Lock::ShareRowExclusiveBrief => "SHARE ROW EXCLUSIVE, brief (blocks writes for milliseconds)",
            Lock::AccessExclusiveBrief => "ACCESS EXCLUSIVE, brief (catalog-only, milliseconds)",
            Lock::AccessExclusive => "ACCESS EXCLUSIVE (blocks everything while it runs)",
            Lock::MdlExclusiveBrief => "exclusive metadata lock, brief (metadata only, milliseconds)",
            Lock::OnlineNoRebuild => "online, no rebuild (reads and writes continue; brief metadata lock at start and end)",
            Lock::OnlineRebuild => "online table rebuild (reads and writes continue; rewrites the table; brief metadata lock at start and end)",
        }
    }
}

impl fmt::Display for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Contract (and other phase) preconditions: data, checked one match arm each by the executor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum Precondition {
    /// The backfill phase of this plan finished for this table.
    BackfillDone { table: QualifiedName },
    /// No row has NULL in this column.
    NoNulls { table: QualifiedName, column: Ident },
    /// The constraint exists and is validated (pg_constraint.convalidated).
    ConstraintValid { table: QualifiedName, constraint: Ident },
    /// The index exists and is valid (pg_index.indisvalid).
    IndexValid { table: QualifiedName, index: Ident },
    /// The trigger exists on the table (the sync trigger is what keeps both app versions right).
    TriggerPresent { table: QualifiedName, trigger: Ident },
    /// Nothing but the listed indexes/constraints (which go with the column) depends on the column:
    /// no view, rule, foreign key from another table, or other object.
    NoDependents { table: QualifiedName, column: Ident },
    /// The table's columns still match `Plan::tables` plus what earlier phases added.
    ColumnsMatch { table: QualifiedName },
    /// The server is at least the PostgreSQL major version the plan was made for (a plan for 15
    /// relies on e.g. SET NOT NULL proven by a validated check, a scan under ACCESS EXCLUSIVE on 11).
    ServerVersion { at_least: u32 },
    /// `expr` over each row converts to `data_type` (as an assignment would): a type change
    /// refuses to start while some row cannot, naming how many and which.
    ConvertsCleanly {
        table: QualifiedName,
        expr: crate::sql::SqlExpr,
        #[serde(rename = "type")]
        data_type: String,
    },
    /// MySQL/MariaDB: `expr` (MySQL SQL over the row) of every row can be assigned to a `data_type`
    /// column in strict mode. A type change's triggers convert on every write, so a row that
    /// cannot convert would make every later update of it fail: expand refuses first.
    AssignsCleanly {
        table: QualifiedName,
        expr: String,
        #[serde(rename = "type")]
        data_type: String,
    },
    /// Every row's `column` equals `expr` over the row (the converted copy is complete and
    /// right), checked in key-ordered chunks so no statement holds a snapshot for long.
    ColumnEqualsExpr { table: QualifiedName, key: Vec<KeyColumn>, column: Ident, expr: crate::sql::SqlExpr },
}

/// One backfill job: fill `set` columns for every row matching `pending`, in key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillTask {
    pub table: QualifiedName,
    /// Keyset pagination key (the primary key), in index order.
    pub key: Vec<KeyColumn>,
    pub set: Vec<Assignment>,
    /// SQL predicate over the row, true while the row still needs filling.
    pub pending: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyColumn {
    pub column: Ident,
    /// `format_type()` of the column, used to cast checkpoint values back (e.g. `bigint`, `uuid`).
    #[serde(rename = "type")]
    pub data_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    pub column: Ident,
    /// SQL expression over the row's own columns (rendered, identifiers quoted).
    pub expr: String,
}

/// What each app version may do once a phase is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppCompat {
    pub old_app: AppAccess,
    pub new_app: AppAccess,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppAccess {
    /// May write (insert/update/delete) with its own shape of the table.
    pub writes: bool,
    /// May read and trust every value of its own shape.
    pub reads: bool,
    pub note: String,
}

impl Plan {
    /// The key columns the plan's backfill walks on `table` (empty: it has no backfill there).
    pub fn backfill_key(&self, table: &QualifiedName) -> Vec<Ident> {
        self.phases
            .iter()
            .flat_map(|p| &p.backfill)
            .find(|b| &b.table == table)
            .map(|b| b.key.iter().map(|k| k.column.clone()).collect())
            .unwrap_or_default()
    }

    pub fn phase(&self, kind: PhaseKind) -> Option<&Phase> {
        self.phases.iter().find(|p| p.phase == kind)
    }
}

// QualifiedName appears in plan.yaml as `schema.table`, quoted only where needed.
impl Serialize for QualifiedName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.display_short())
    }
}

impl<'de> Deserialize<'de> for QualifiedName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if crate::sql::ident::split_dotted(&s).map_err(serde::de::Error::custom)?.len() != 2 {
            return Err(serde::de::Error::custom(format!("expected schema.table, got `{s}`")));
        }
        QualifiedName::from_user(&s, "public").map_err(serde::de::Error::custom)
    }
}

impl Step {
    /// A step inside the phase's transaction; add `undo`/`irreversible`/`scans` as needed.
    pub fn new(why: impl Into<String>, op: Ddl, lock: Lock, table: &QualifiedName) -> Self {
        Step {
            why: why.into(),
            op,
            lock,
            table: Some(table.clone()),
            transaction: TxMode::InTransaction,
            scans_table: false,
            undo: Vec::new(),
            irreversible: None,
        }
    }
    /// The statement this step runs.
    pub fn sql(&self) -> String {
        self.op.render()
    }
    /// Undone by one step.
    pub fn undo(mut self, step: Step) -> Self {
        self.undo = vec![step];
        self
    }
    /// Undone by a sequence of steps, run in order.
    pub fn undo_by(mut self, steps: Vec<Step>) -> Self {
        self.undo = steps;
        self
    }
    pub fn irreversible(mut self, why: impl Into<String>) -> Self {
        self.irreversible = Some(why.into());
        self
    }
    /// Reads the whole table under a lock that lets traffic through: no statement_timeout.
    pub fn scans(mut self) -> Self {
        self.scans_table = true;
        self
    }
    pub fn tx(mut self, mode: TxMode) -> Self {
        self.transaction = mode;
        self
    }
}

impl AppAccess {
    pub fn full(note: impl Into<String>) -> Self {
        AppAccess { writes: true, reads: true, note: note.into() }
    }
    pub fn none(note: impl Into<String>) -> Self {
        AppAccess { writes: false, reads: false, note: note.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_round_trip_through_yaml() {
        for (schema, name) in [("public", "users"), ("public", "Order Id"), ("Sales", "a\"b"), ("s", "x.y")] {
            let q = QualifiedName::new(Ident::new(schema).unwrap(), Ident::new(name).unwrap());
            let yaml = serde_yaml_ng::to_string(&q).unwrap();
            let back: QualifiedName = serde_yaml_ng::from_str(&yaml).unwrap();
            assert_eq!(back, q, "{yaml}");
        }
    }
}
