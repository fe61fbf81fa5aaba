//! add-column-not-null-without-default
use super::prelude::*;

pub struct AddColumnNotNullWithoutDefault;

pub static META: RuleMeta = RuleMeta {
    id: "add-column-not-null-without-default",
    severity: Severity::Error,
    summary: "A NOT NULL column without a default makes the old app's INSERTs fail",
    docs: "\
## Problem
`ALTER TABLE users ADD COLUMN tenant_id INT NOT NULL`

## Why it matters
The ALTER itself is instant (0.06 s on 1M rows) and succeeds, but the next INSERT of the running
app, which does not name the column, fails: `1364 Field 'tenant_id' doesn't have a default value`
in strict mode (measured on MariaDB 10.11). Without strict mode rows silently get `''`/`0`.

## What to do
Give it a constant default (instant), or `planner plan add-column users.tenant_id INT --not-null
--backfill EXPR` (nullable column, fill triggers, backfill, then NOT NULL).
",
};

impl MyRule for AddColumnNotNullWithoutDefault {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, s: &MyStmt, cx: &MyCx, out: &mut Findings) {
        let Some((table, actions)) = existing_alter(s, cx) else { return };
        for a in actions {
            let Action::AddColumn { name, spec, .. } = a else { continue };
            if spec.not_null && spec.default.is_none() && !spec.auto_increment && spec.generated.is_none() && !spec.primary_key {
                out.report(&META, format!("{}.{name} is NOT NULL without a DEFAULT: the running app's INSERTs fail with 1364 (strict mode, measured)", table.shown))
                    .help("add a constant DEFAULT, or add it nullable, backfill, then make it NOT NULL")
                    .suggest(format!("planner plan add-column {} {} --not-null --backfill EXPR", super::arg(table, name), shell_arg(&spec.ty)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::mysql::rules::testing::*;

    #[test]
    fn not_null_needs_a_default() {
        assert_eq!(findings_on(USERS, "ALTER TABLE users ADD COLUMN t INT NOT NULL, ALGORITHM=INSTANT;", "add-column-not-null-without-default", &mariadb()).len(), 1);
        assert!(findings_on(USERS, "ALTER TABLE users ADD COLUMN t INT NOT NULL DEFAULT 0, ALGORITHM=INSTANT;", "add-column-not-null-without-default", &mariadb()).is_empty());
        assert!(findings_on(USERS, "ALTER TABLE users ADD COLUMN t INT AS (qty * 2) VIRTUAL, ALGORITHM=INSTANT;", "add-column-not-null-without-default", &mariadb()).is_empty());
    }
}
