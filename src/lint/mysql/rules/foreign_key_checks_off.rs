//! foreign-key-checks-off
use super::prelude::*;

pub struct ForeignKeyChecksOff;

pub static META: RuleMeta = RuleMeta {
    id: "foreign-key-checks-off",
    severity: Severity::Warning,
    summary: "foreign_key_checks = 0 is left on for more than the one ALTER that needs it",
    docs: "\
## Problem
```sql
SET foreign_key_checks = 0;
ALTER TABLE orders ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users (id), ALGORITHM=INSTANT;
UPDATE orders SET user_id = 42 WHERE id = 7;   -- unchecked
```

## Why it matters
With checks off, every later write of the session can store keys that reference nothing, and a
migration tool that reuses the connection carries the setting into the next migration.

## What to do
Scope it to the one statement: `SET SESSION foreign_key_checks = 1;` right after the ALTER, or on
MariaDB `SET STATEMENT foreign_key_checks = 0 FOR ALTER TABLE …`.
",
};

impl MyRule for ForeignKeyChecksOff {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, s: &MyStmt, cx: &MyCx, out: &mut Findings) {
        let Kind::Set(vars) = &s.read.kind else { return };
        if !vars.iter().any(|(k, v)| k == "foreign_key_checks" && matches!(v.as_str(), "0" | "off" | "false")) {
            return;
        }
        // Statements that run with checks off after this one, until they are turned back on.
        let mut under = Vec::new();
        let mut reset = false;
        for o in &cx.stmts[s.index + 1..] {
            if let Kind::Set(vs) = &o.read.kind {
                if vs.iter().any(|(k, _)| k == "foreign_key_checks") {
                    reset = !cx.sessions.get(o.index + 1).is_some_and(|st| st.fk_checks_off)
                        && vs.iter().any(|(k, v)| k == "foreign_key_checks" && !matches!(v.as_str(), "0" | "off" | "false"));
                    break;
                }
            }
            under.push(o);
        }
        let only_fk_alters = under.iter().all(|o| {
            matches!(&o.read.kind, Kind::AlterTable { actions, .. } if actions.iter().all(|a| matches!(a, Action::AddForeignKey { .. } | Action::AddIndex { .. })))
        });
        if reset && under.len() <= 1 && only_fk_alters {
            return;
        }
        let why = if !reset { "never turned back on in this file".to_string() } else { format!("{} statement(s) run unchecked before it is turned back on", under.len()) };
        out.report(&META, format!("foreign_key_checks = 0 is {why}: later writes can store keys that reference nothing"))
            .help("turn it back on right after the ALTER that needs it")
            .suggest("SET SESSION foreign_key_checks = 1;");
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::mysql::rules::testing::*;

    #[test]
    fn scoped_to_one_alter_passes() {
        let add = "ALTER TABLE users ADD CONSTRAINT fk FOREIGN KEY (qty) REFERENCES users (id), ALGORITHM=NOCOPY, LOCK=NONE;";
        let ok = format!("SET foreign_key_checks = 0;\n{add}\nSET foreign_key_checks = 1;");
        assert!(findings_on(USERS, &ok, "foreign-key-checks-off", &mariadb()).is_empty());
        let left = format!("SET foreign_key_checks = 0;\n{add}");
        assert_eq!(findings_on(USERS, &left, "foreign-key-checks-off", &mariadb()).len(), 1);
        let more = format!("SET foreign_key_checks = 0;\n{add}\nUPDATE users SET qty = 1 WHERE id = 1;\nSET foreign_key_checks = 1;");
        assert_eq!(findings_on(USERS, &more, "foreign-key-checks-off", &mariadb()).len(), 1);
    }
}
