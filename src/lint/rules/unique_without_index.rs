//! unique-without-index
use super::prelude::*;

pub struct UniqueWithoutIndex;

pub static META: RuleMeta = RuleMeta {
    id: "unique-without-index",
    severity: Severity::Error,
    summary: "Adding a UNIQUE or PRIMARY KEY constraint builds its index under an exclusive lock",
    docs: "\
## Problem
`ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email)`

## Why it matters
The index is built while the table holds ACCESS EXCLUSIVE: no reads or writes until it is done.

## What to do
Build the index first without blocking, then attach it (instant):
```sql
CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;
```
EXCLUDE constraints are flagged too; they have no `USING INDEX` form, so they need a maintenance
window (or a trigger enforcing the rule).
",
};

impl Rule for UniqueWithoutIndex {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let Some((at, table)) = populated_alter_table(stmt, cx) else { return };
        for op in &at.operations {
            let (kind, columns, name) = match op {
                AlterTableOperation::AddConstraint { constraint: TableConstraint::Unique(u), .. } => {
                    ("UNIQUE", u.columns.iter().map(|c| c.to_string()).collect::<Vec<_>>(), u.name.as_ref().map(|n| n.to_string()))
                }
                AlterTableOperation::AddConstraint { constraint: TableConstraint::PrimaryKey(p), .. } => (
                    "PRIMARY KEY",
                    p.columns.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                    p.name.as_ref().map(|n| n.to_string()),
                ),
                AlterTableOperation::AddConstraint { constraint: TableConstraint::Exclude(x), .. } => {
                    let name = x.name.as_ref().map(|n| format!("{n} ")).unwrap_or_default();
                    out.report(&META, format!("adding EXCLUDE constraint {name}on {table} builds its index under ACCESS EXCLUSIVE"))
                        .help("there is no USING INDEX form for EXCLUDE: run it in a maintenance window, or enforce the rule with a trigger first");
                    continue;
                }
                AlterTableOperation::AddColumn { column_def, .. } => {
                    let kind = column_def.options.iter().find_map(|o| match o.option {
                        ColumnOption::Unique(_) => Some("UNIQUE"),
                        ColumnOption::PrimaryKey(_) => Some("PRIMARY KEY"),
                        _ => None,
                    });
                    match kind {
                        Some(kind) => (kind, vec![column_def.name.to_string()], None),
                        None => continue,
                    }
                }
                _ => continue,
            };
            let cols = columns.join(", ");
            let index = name.unwrap_or_else(|| {
                format!("{}_{}_key", bare_table_name(&at.name), columns.join("_"))
            });
            let using = if kind == "UNIQUE" { "UNIQUE" } else { "PRIMARY KEY" };
            out.report(&META, format!("adding {kind} ({cols}) on {table} builds an index under ACCESS EXCLUSIVE"))
                .help(format!(
                    "build the index concurrently, then attach it:\nCREATE UNIQUE INDEX CONCURRENTLY {index} ON {table} ({cols});\nALTER TABLE {table} ADD CONSTRAINT {index} {using} USING INDEX {index};"
                ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    const ID: &str = "unique-without-index";

    #[test]
    fn flags_unique_and_primary_key() {
        assert_eq!(count("ALTER TABLE users ADD CONSTRAINT k UNIQUE (email);", ID), 1);
        assert_eq!(count("ALTER TABLE users ADD PRIMARY KEY (id);", ID), 1);
        assert_eq!(count("ALTER TABLE rooms ADD CONSTRAINT x EXCLUDE USING gist (room WITH =, during WITH &&);", ID), 1);
    }

    #[test]
    fn using_index_is_fine() {
        assert_eq!(count("ALTER TABLE users ADD CONSTRAINT k UNIQUE USING INDEX k;", ID), 0);
    }
}
