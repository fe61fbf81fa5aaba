//! What an ALTER costs on the target server: instant, in place, an online rebuild, or blocking
//! writes (a table copy or a shared lock). The MariaDB 10.11 verdicts are the measured matrix
//! (docs/mysql-facts §1, and `tests/lint_mysql_server.rs` re-checks each against the server);
//! other versions follow the vendors' documentation.

use super::model::{Action, Algorithm, DefaultKind, Generated, IndexKind, Kind, LockMode};
use super::schema::{Schema, TableInfo};
use crate::lint::dialect::LintDialect;

/// Ordered from cheap to blocking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cost {
    /// Metadata only: `ALGORITHM=INSTANT` is accepted.
    Instant,
    /// Online without rebuilding the table (MariaDB `ALGORITHM=NOCOPY, LOCK=NONE`, MySQL
    /// `ALGORITHM=INPLACE, LOCK=NONE`): index builds and drops.
    InPlace,
    /// Online, but the whole table is rewritten (`ALGORITHM=INPLACE, LOCK=NONE`; NOCOPY refused).
    Rebuild,
    /// No `LOCK=NONE` form exists: the server copies the table (or takes a shared lock) and
    /// writes wait for the whole statement.
    BlocksWrites,
}

/// A cost and the operation that causes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub cost: Cost,
    pub why: String,
}

fn v(cost: Cost, why: impl Into<String>) -> Option<Verdict> {
    Some(Verdict { cost, why: why.into() })
}

/// The cost of a statement on a table (None: not a table DDL, or an operation whose cost is not
/// known). `fk_checks_off`: `foreign_key_checks = 0` is in force.
pub fn statement_cost(kind: &Kind, schema: &Schema, d: LintDialect, fk_checks_off: bool) -> Option<Verdict> {
    match kind {
        Kind::AlterTable { table, actions, .. } => {
            let info = schema.table(&table.key);
            let mut worst: Option<Verdict> = None;
            let mut unknown = false;
            for a in actions {
                match action_cost(a, info, d, fk_checks_off) {
                    Some(verdict) => {
                        if worst.as_ref().is_none_or(|w| verdict.cost > w.cost) {
                            worst = Some(verdict);
                        }
                    }
                    None => unknown = true,
                }
            }
            let mut worst = worst?;
            // Measured: ADD COLUMN + ADD INDEX in one statement rebuilds (two would be instant + NOCOPY).
            let adds_column = actions.iter().any(|a| matches!(a, Action::AddColumn { .. }));
            let adds_index = actions
                .iter()
                .any(|a| matches!(a, Action::AddIndex { kind: IndexKind::Plain | IndexKind::Unique, .. }));
            if adds_column && adds_index && worst.cost < Cost::Rebuild {
                worst = Verdict {
                    cost: Cost::Rebuild,
                    why: "ADD COLUMN and ADD INDEX in one statement (each alone would be online without a rebuild)".into(),
                };
            }
            // Replacing the primary key in one statement is an online rebuild.
            let adds_pk = actions.iter().any(|a| matches!(a, Action::AddPrimaryKey { .. }));
            if adds_pk && worst.cost == Cost::BlocksWrites && worst.why.starts_with("DROP PRIMARY KEY") {
                worst = Verdict {
                    cost: Cost::Rebuild,
                    why: "replacing the primary key rebuilds the table".into(),
                };
            }
            if unknown && worst.cost < Cost::BlocksWrites {
                return None;
            }
            Some(worst)
        }
        Kind::CreateIndex { kind, .. } => index_cost(*kind),
        Kind::DropIndex { .. } => v(Cost::InPlace, "DROP INDEX"),
        _ => None,
    }
}

/// The clause the statement itself forces: `ALGORITHM=COPY` or a `LOCK=SHARED|EXCLUSIVE`.
pub fn forced_blocking(kind: &Kind) -> Option<String> {
    let (algorithm, lock) = match kind {
        Kind::AlterTable { algorithm, lock, .. }
        | Kind::CreateIndex { algorithm, lock, .. }
        | Kind::DropIndex { algorithm, lock, .. } => (*algorithm, *lock),
        _ => return None,
    };
    match (algorithm, lock) {
        (Algorithm::Copy, _) => Some("ALGORITHM=COPY copies the table".into()),
        (_, LockMode::Shared) => Some("LOCK=SHARED blocks writes for the whole statement".into()),
        (_, LockMode::Exclusive) => {
            Some("LOCK=EXCLUSIVE blocks reads and writes for the whole statement".into())
        }
        _ => None,
    }
}

fn index_cost(kind: IndexKind) -> Option<Verdict> {
    match kind {
        IndexKind::Plain | IndexKind::Unique => v(Cost::InPlace, "ADD INDEX"),
        IndexKind::Fulltext => v(Cost::BlocksWrites, "a FULLTEXT index build needs LOCK=SHARED"),
        IndexKind::Spatial => v(Cost::BlocksWrites, "a SPATIAL index build needs LOCK=SHARED"),
    }
}

/// One action's cost; `table` is what earlier statements declared of the table.
pub fn action_cost(
    a: &Action,
    table: Option<&TableInfo>,
    d: LintDialect,
    fk_checks_off: bool,
) -> Option<Verdict> {
    let instant_add_drop = d.at_least((10, 4), (8, 0, 29));
    match a {
        Action::AddColumn { spec, positioned, .. } => {
            if spec.generated == Some(Generated::Stored) {
                return v(Cost::BlocksWrites, "a STORED generated column is filled by copying the table");
            }
            if let Some((text, DefaultKind::Uuid(_))) = &spec.default {
                return v(
                    Cost::BlocksWrites,
                    format!("a DEFAULT {text} column is filled by copying the table"),
                );
            }
            if spec.check {
                return v(Cost::BlocksWrites, "a CHECK constraint is validated by copying the table");
            }
            if spec.auto_increment {
                return None;
            }
            if spec.unique || spec.primary_key {
                return v(
                    Cost::Rebuild,
                    "ADD COLUMN with an inline UNIQUE/PRIMARY KEY builds the index in a rebuild",
                );
            }
            // Measured on MariaDB 10.11: a column placed before a VIRTUAL column moves it, which
            // has no in-place form ("INPLACE ADD or DROP of virtual columns cannot be combined").
            if *positioned && d.is_mariadb() && table.is_some_and(|t| t.has_generated(Generated::Virtual)) {
                return v(
                    Cost::BlocksWrites,
                    "ADD COLUMN FIRST/AFTER on a table with a VIRTUAL column copies the table",
                );
            }
            let last_only = d.at_least((10, 3), (8, 0, 12));
            if instant_add_drop || (last_only && !positioned) {
                v(Cost::Instant, "ADD COLUMN")
            } else {
                v(
                    Cost::Rebuild,
                    format!(
                        "ADD COLUMN{} rebuilds the table before {}",
                        if *positioned { " FIRST/AFTER" } else { "" },
                        if d.is_mariadb() { "MariaDB 10.4" } else { "MySQL 8.0.29" }
                    ),
                )
            }
        }
        Action::DropColumn { name } => {
            let info = table?;
            info.column(name)?;
            if info.indexes.iter().any(|(n, cols)| n == "primary" && cols.contains(name)) {
                return None;
            }
            if !instant_add_drop {
                return v(Cost::Rebuild, "DROP COLUMN rebuilds the table on this version");
            }
            if info.is_indexed(name) {
                if d.is_mariadb() {
                    v(Cost::InPlace, "DROP COLUMN of an indexed column (its indexes are dropped)")
                } else {
                    v(Cost::Rebuild, "DROP COLUMN of an indexed column")
                }
            } else {
                v(Cost::Instant, "DROP COLUMN")
            }
        }
        Action::RenameColumn { .. } => v(Cost::Instant, "RENAME COLUMN"),
        Action::Change { from, to, spec } => {
            let info = table?;
            let old = info.column(from)?;
            if old.generated.is_some() || spec.generated.is_some() {
                return None;
            }
            let what = if from == to { format!("MODIFY {from}") } else { format!("CHANGE {from} {to}") };
            let bpc_old = info.bytes_per_char(old);
            let charset_changes = spec.charset.is_some() && info.bytes_per_char(spec) != bpc_old
                || spec.charset.as_ref().is_some_and(|c| old.charset.as_ref().is_some_and(|o| o != c));
            if charset_changes {
                return v(Cost::BlocksWrites, format!("{what}: a character set change copies the table"));
            }
            let type_cost = type_change_cost(&old.ty, &spec.ty, bpc_old, d);
            let type_verdict = match type_cost {
                Cost::BlocksWrites => {
                    return v(
                        Cost::BlocksWrites,
                        format!("{what}: {} -> {} copies the table", old.ty, spec.ty),
                    )
                }
                c => Verdict { cost: c, why: format!("{what}: {} -> {}", old.ty, spec.ty) },
            };
            // Measured on MariaDB 10.11: NULL -> NOT NULL on a table with a STORED generated
            // column is COPY-only (NOT NULL -> NULL stays in place).
            if spec.not_null && !old.not_null && d.is_mariadb() && info.has_generated(Generated::Stored) {
                return v(
                    Cost::BlocksWrites,
                    format!(
                        "{what}: NULL -> NOT NULL on a table with a STORED generated column copies the table"
                    ),
                );
            }
            if old.not_null != spec.not_null {
                let flip = if spec.not_null { "NULL -> NOT NULL" } else { "NOT NULL -> NULL" };
                return v(Cost::Rebuild, format!("{what}: {flip} rebuilds the table"));
            }
            Some(type_verdict)
        }
        Action::SetDefault { .. } | Action::DropDefault { .. } => v(Cost::Instant, "ALTER COLUMN … DEFAULT"),
        Action::AddIndex { kind, .. } => index_cost(*kind),
        Action::AddPrimaryKey { .. } => v(Cost::Rebuild, "ADD PRIMARY KEY rebuilds the table"),
        Action::DropPrimaryKey => {
            v(Cost::BlocksWrites, "DROP PRIMARY KEY without a new one copies the table")
        }
        Action::DropIndex { .. } => v(Cost::InPlace, "DROP INDEX"),
        Action::RenameIndex => v(Cost::Instant, "RENAME INDEX"),
        Action::IndexVisibility => v(Cost::Instant, "index visibility"),
        Action::AddForeignKey { columns } => {
            if !fk_checks_off {
                v(
                    Cost::BlocksWrites,
                    "ADD FOREIGN KEY with foreign_key_checks on copies the table to validate it",
                )
            } else if table.is_some_and(|t| t.has_index_on(columns)) {
                v(Cost::Instant, "ADD FOREIGN KEY (checks off, index present)")
            } else if table.is_some() {
                v(Cost::InPlace, "ADD FOREIGN KEY (checks off) builds its index")
            } else {
                None
            }
        }
        Action::DropForeignKey => v(Cost::Instant, "DROP FOREIGN KEY"),
        Action::AddCheck => {
            v(Cost::BlocksWrites, "ADD CHECK validates by copying the table (there is no NOT VALID)")
        }
        Action::DropConstraint => v(Cost::Instant, "DROP CONSTRAINT"),
        Action::RenameTable { .. } => v(Cost::Instant, "RENAME TO"),
        Action::Rebuild(what) => v(Cost::Rebuild, format!("{what} rebuilds the table")),
        Action::ConvertCharset => v(Cost::BlocksWrites, "CONVERT TO CHARACTER SET copies the table"),
        Action::TableOption => v(Cost::Instant, "table option"),
        Action::Other(_) => None,
    }
}

/// A type change's cost, from the old and new normalised types.
fn type_change_cost(old: &str, new: &str, bytes_per_char: u64, d: LintDialect) -> Cost {
    if old == new {
        return Cost::Instant;
    }
    if let (Some(o), Some(n)) = (super::model::varchar_len(old), super::model::varchar_len(new)) {
        if n < o {
            return Cost::BlocksWrites;
        }
        let (ob, nb) = (o * bytes_per_char, n * bytes_per_char);
        return if d.is_mariadb() {
            // Measured: instant while every stored length still fits its length byte(s).
            if nb <= 255 || ob <= 127 {
                Cost::Instant
            } else {
                Cost::BlocksWrites
            }
        } else if (ob <= 255) == (nb <= 255) {
            // MySQL docs: in place while the length-byte count stays the same.
            Cost::Instant
        } else {
            Cost::BlocksWrites
        };
    }
    // ENUM/SET values appended at the end: metadata only (measured on MariaDB).
    for kw in ["enum(", "set("] {
        if let (Some(o), Some(n)) = (old.strip_prefix(kw), new.strip_prefix(kw)) {
            let o = o.trim_end_matches(')');
            if n.starts_with(o) && n[o.len()..].starts_with(',') {
                return Cost::Instant;
            }
        }
    }
    Cost::BlocksWrites
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::dialect::{ServerVersion, DEFAULT_MARIADB};

    const MARIADB: LintDialect = LintDialect::MariaDb(DEFAULT_MARIADB);

    #[test]
    fn varchar_widening_follows_the_length_bytes() {
        // utf8mb4: 20 -> 100 chars is 80 -> 400 bytes: instant (old max <= 127 bytes).
        assert_eq!(type_change_cost("varchar(20)", "varchar(100)", 4, MARIADB), Cost::Instant);
        // 50 -> 63 (200 -> 252 bytes) instant, 50 -> 100 (200 -> 400) copies.
        assert_eq!(type_change_cost("varchar(50)", "varchar(63)", 4, MARIADB), Cost::Instant);
        assert_eq!(type_change_cost("varchar(50)", "varchar(100)", 4, MARIADB), Cost::BlocksWrites);
        assert_eq!(type_change_cost("varchar(100)", "varchar(50)", 4, MARIADB), Cost::BlocksWrites);
        assert_eq!(type_change_cost("int", "bigint", 4, MARIADB), Cost::BlocksWrites);
        assert_eq!(type_change_cost("enum('a','b')", "enum('a','b','c')", 4, MARIADB), Cost::Instant);
        assert_eq!(type_change_cost("enum('a','b')", "enum('b','a','c')", 4, MARIADB), Cost::BlocksWrites);
    }

    #[test]
    fn instant_add_column_depends_on_the_version() {
        let add = |positioned| Action::AddColumn { name: "c".into(), spec: Default::default(), positioned };
        let cost = |d, p| action_cost(&add(p), None, d, false).map(|v| v.cost);
        assert_eq!(cost(MARIADB, true), Some(Cost::Instant));
        let old_mysql = LintDialect::MySql(ServerVersion::new(8, 0, 20));
        assert_eq!(cost(old_mysql, false), Some(Cost::Instant));
        assert_eq!(cost(old_mysql, true), Some(Cost::Rebuild));
        assert_eq!(cost(LintDialect::MySql(ServerVersion::new(8, 0, 29)), true), Some(Cost::Instant));
        assert_eq!(cost(LintDialect::MariaDb(ServerVersion::new(10, 2, 0)), false), Some(Cost::Rebuild));
    }
}
