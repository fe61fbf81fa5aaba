//! add-column-rewrite
use super::prelude::*;
use crate::lint::source::Volatility;
use super::{classify_default, DefaultKind};

pub struct AddColumnRewrite;

pub static META: RuleMeta = RuleMeta {
    id: "add-column-rewrite",
    severity: Severity::Error,
    summary: "Adding a column that needs a value per row rewrites the table under an exclusive lock",
    docs: "\
## Problem
`ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid()`, a `GENERATED ... STORED`
column, a `serial` or identity column, or any default before PostgreSQL 11.

## Why it matters
PostgreSQL rewrites every row while holding ACCESS EXCLUSIVE: no reads or writes for the whole
rewrite. From PG 11 a non-volatile default (a literal, `now()`) is stored once and is instant.

## What to do
Add the column without the default (or with a constant one), set the default for new rows with
`ALTER COLUMN ... SET DEFAULT`, and fill existing rows with `planner backfill`; `planner plan
add-column TABLE.COL TYPE --backfill EXPR` writes all of it.
",
};

impl Rule for AddColumnRewrite {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let Some((at, table)) = populated_alter_table(stmt, cx) else { return };
        for op in &at.operations {
            let AlterTableOperation::AddColumn { column_def: c, .. } = op else { continue };
            let col = format!("{table}.{}", c.name);
            let suggest = format!(
                "planner plan add-column {} {} --backfill EXPR",
                shell_arg(&col),
                shell_arg(&c.data_type.to_string().to_lowercase())
            );
            let ty = c.data_type.to_string().to_lowercase();
            if ty.contains("serial") {
                out.report(&META, format!("adding {ty} column {col} fills every row: the table is rewritten under ACCESS EXCLUSIVE"))
                    .help("add a nullable bigint, attach a sequence default, and backfill existing rows in batches")
                    .suggest(suggest.clone());
            }
            for o in &c.options {
                match &o.option {
                    ColumnOption::Generated { generation_expr: Some(_), .. } => {
                        out.report(&META, format!("stored generated column {col} rewrites the table under ACCESS EXCLUSIVE"))
                            .help("add a plain nullable column, keep it filled with a trigger and backfill existing rows in batches")
                            .suggest(suggest.clone());
                    }
                    ColumnOption::Generated { generation_expr: None, .. } => {
                        out.report(&META, format!("identity column {col} fills every row: the table is rewritten under ACCESS EXCLUSIVE"))
                            .help("add a nullable bigint with a sequence default and backfill existing rows in batches")
                            .suggest(suggest.clone());
                    }
                    ColumnOption::Default(expr) if cx.pg_version < 11 => {
                        out.report(&META, format!("before PostgreSQL 11 any default on a new column rewrites the table (column {col}, default {expr})"))
                            .help("add the column without a default, then `ALTER COLUMN ... SET DEFAULT`, then backfill in batches")
                            .suggest(suggest.clone());
                    }
                    ColumnOption::Default(expr) => match classify_default(expr) {
                        DefaultKind::Constant => {}
                        DefaultKind::Volatile(f) => {
                            out.report(&META, format!("volatile default {f}() on new column {col} is evaluated per row: the table is rewritten under ACCESS EXCLUSIVE"))
                                .help("add the column without a default, `ALTER COLUMN ... SET DEFAULT` for new rows, backfill existing rows in batches")
                                .suggest(suggest.clone());
                        }
                        DefaultKind::Unknown(f) => match cx.function_volatility(&f, stmt.index) {
                            Some(Volatility::Volatile) => {
                                out.report(&META, format!("default of new column {col} calls {f}(), which this migration history declares VOLATILE (the default when CREATE FUNCTION names none): evaluated per row, the table is rewritten under ACCESS EXCLUSIVE"))
                                    .help("declare the function STABLE or IMMUTABLE if it is, or add the column without a default, `ALTER COLUMN ... SET DEFAULT` for new rows, backfill existing rows in batches")
                                    .suggest(suggest.clone());
                            }
                            Some(Volatility::Stable | Volatility::Immutable) => {}
                            None => {
                                out.report(&META, format!("default of new column {col} calls {f}(): if it is VOLATILE the table is rewritten under ACCESS EXCLUSIVE"))
                                    .help("check the function is STABLE or IMMUTABLE; otherwise add the column without a default and backfill")
                                    .severity(Severity::Warning);
                            }
                        },
                    },
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod function_tests {
    use crate::lint::rules::testing::*;

    #[test]
    fn a_default_calling_a_function_declared_here_uses_its_volatility() {
        let f = "CREATE FUNCTION next_code() RETURNS text LANGUAGE sql AS $$ SELECT md5(random()::text) $$;\n";
        let sql = format!("{f}ALTER TABLE t ADD COLUMN code text DEFAULT next_code();");
        let found = findings(&sql, "add-column-rewrite");
        assert_eq!((found.len(), found[0].severity), (1, crate::lint::Severity::Error), "{found:?}");
        let stable = "CREATE FUNCTION tenant() RETURNS int LANGUAGE sql STABLE COST 100 AS $$ SELECT 1 $$;\n\
                      ALTER TABLE t ADD COLUMN tenant int DEFAULT tenant();";
        assert_eq!(count(stable, "add-column-rewrite"), 0);
        assert_eq!(count("ALTER TABLE t ADD COLUMN x int DEFAULT f();", "add-column-rewrite"), 1);
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    const ID: &str = "add-column-rewrite";

    #[test]
    fn flags_volatile_default_and_stored_generated() {
        assert_eq!(count("ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();", ID), 1);
        assert_eq!(count("ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a + 1) STORED;", ID), 1);
        assert_eq!(count("ALTER TABLE t ADD COLUMN id bigserial;", ID), 1);
    }

    #[test]
    fn constant_default_is_instant_from_pg11() {
        let sql = "ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0;\nALTER TABLE t ADD COLUMN d timestamptz DEFAULT now();";
        assert_eq!(count(sql, ID), 0);
        assert_eq!(findings_with(sql, ID, &pg(10)).len(), 2);
    }
}
