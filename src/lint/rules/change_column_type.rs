//! change-column-type
use super::prelude::*;

pub struct ChangeColumnType;

pub static META: RuleMeta = RuleMeta {
    id: "change-column-type",
    severity: Severity::Error,
    summary: "Changing a column's type rewrites the table under an exclusive lock",
    docs: "\
## Problem
`ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12,2)`

## Why it matters
Most type changes rewrite every row (and rebuild every index on the table) while holding ACCESS
EXCLUSIVE, and the running app may not understand the new type. Binary-compatible changes are
exempt: `varchar(n)` to a longer `varchar`, to unbounded `varchar` or `text`, `numeric(p,s)` to a
larger precision or unbounded `numeric`, `cidr` to `inet`.

`timestamp` to `timestamptz` is catalog-only on PostgreSQL 12+ when the session's `timezone` is
UTC (`SET timezone = 'UTC'` earlier in the file): the stored values mean the same instants. Only
the indexes on the column are rebuilt (under ACCESS EXCLUSIVE, as long as building them takes),
so it is reported as info. Without the `SET` it is a rewrite.

## What to do
`planner plan change-type TABLE.COLUMN TYPE [--using EXPR]`: a shadow column of the new type kept in
sync by a trigger, copies of its indexes built concurrently, a throttled backfill, a verification
of every row, then one short swap transaction (foreign keys that reference a key and its sequence
move along).
",
};

/// `varchar(n)` -> Some(Some(n)), `varchar`/`character varying` -> Some(None).
fn varchar_len(ty: &str) -> Option<Option<u64>> {
    let ty = ty.to_lowercase().replace("character varying", "varchar");
    let rest = ty.strip_prefix("varchar")?.trim();
    if rest.is_empty() {
        return Some(None);
    }
    rest.strip_prefix('(')?.strip_suffix(')')?.trim().parse().ok().map(Some)
}

/// `numeric(p[,s])` -> Some(Some((p, s))), `numeric` -> Some(None).
fn numeric_precision(ty: &str) -> Option<Option<(u64, u64)>> {
    let ty = ty.to_lowercase().replace("decimal", "numeric");
    let rest = ty.strip_prefix("numeric")?.trim();
    if rest.is_empty() {
        return Some(None);
    }
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
    let mut parts = inner.split(',').map(|p| p.trim().parse::<u64>());
    let p = parts.next()?.ok()?;
    let s = parts.next().map(|s| s.ok()).unwrap_or(Some(0))?;
    Some(Some((p, s)))
}

/// No rewrite needed from `old` to `new` (PostgreSQL only checks or relabels).
fn is_binary_compatible(old: &str, new: &str) -> bool {
    let (old_l, new_l) = (old.to_lowercase(), new.to_lowercase());
    if old_l == new_l || timestamp_kind(&old_l).is_some_and(|k| Some(k) == timestamp_kind(&new_l)) {
        return true;
    }
    let text_like = |t: &str| t == "text" || varchar_len(t) == Some(None);
    if let Some(old_len) = varchar_len(&old_l) {
        if text_like(&new_l) {
            return true;
        }
        if let (Some(Some(n)), Some(Some(m))) = (old_len.map(Some), varchar_len(&new_l)) {
            return m >= n;
        }
    }
    if old_l == "text" && text_like(&new_l) {
        return true;
    }
    if let (Some(old_p), Some(new_p)) = (numeric_precision(&old_l), numeric_precision(&new_l)) {
        return match (old_p, new_p) {
            (_, None) => true,
            (Some((p1, s1)), Some((p2, s2))) => s1 == s2 && p2 >= p1,
            (None, Some(_)) => false,
        };
    }
    old_l == "cidr" && new_l == "inet"
}

/// `timestamp[(p)] [without time zone]` -> Some((false, p)), `timestamptz` / `with time zone` -> Some((true, p)).
fn timestamp_kind(ty: &str) -> Option<(bool, String)> {
    let t = ty.to_lowercase();
    let rest = t.strip_prefix("timestamp")?;
    let (tz_short, rest) = match rest.strip_prefix("tz") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    let (precision, rest) = match rest.strip_prefix('(') {
        Some(r) => {
            let (p, r) = r.split_once(')')?;
            (p.trim().to_string(), r.trim())
        }
        None => (String::new(), rest),
    };
    let tz = match rest {
        "" => tz_short,
        "with time zone" if !tz_short => true,
        "without time zone" if !tz_short => false,
        _ => return None,
    };
    Some((tz, precision))
}

/// The help of every finding that rewrites the table.
const EXPAND_CONTRACT: &str =
    "planner plans it as a shadow column of the new type, a sync trigger, a throttled backfill and one short swap";

impl Rule for ChangeColumnType {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings) {
        let Some((at, table)) = populated_alter_table(stmt, cx) else { return };
        for op in &at.operations {
            let AlterTableOperation::AlterColumn {
                column_name,
                op: AlterColumnOperation::SetDataType { data_type, using, .. },
            } = op
            else {
                continue;
            };
            let new = data_type.to_string();
            let old = cx.column_type_before(&at.name, &column_key(column_name), stmt.index);
            let col = format!("{table}.{column_name}");
            let mut suggest = format!(
                "planner plan change-type {} {}",
                shell_arg(&col),
                shell_arg(&new.to_lowercase())
            );
            if let Some(using) = using {
                suggest.push_str(&format!(" --using {}", shell_arg(&using.to_string())));
            }
            if using.is_some() {
                out.report(&META, format!("changing the type of {col} with USING rewrites the table under ACCESS EXCLUSIVE"))
                    .help(EXPAND_CONTRACT)
                    .suggest(suggest);
                continue;
            }
            let to_tz = timestamp_kind(&new).filter(|(tz, _)| *tz);
            let utc = cx.pg_version >= 12 && cx.at(stmt.index).timezone_utc;
            match old {
                Some(old) if is_binary_compatible(old, &new) => {}
                Some(old)
                    if utc && to_tz.is_some() && timestamp_kind(old).is_some_and(|(tz, p)| !tz && Some(&p) == to_tz.as_ref().map(|(_, p)| p)) =>
                {
                    out.report(&META, format!("{col} from timestamp to timestamptz with timezone UTC: no table rewrite on PostgreSQL 12+, but indexes on the column are rebuilt under ACCESS EXCLUSIVE"))
                        .help("fine for an unindexed column; for an indexed one, expect the lock for as long as the index builds take")
                        .severity(Severity::Info);
                }
                None if utc && to_tz.is_some() => {
                    out.report(&META, format!("changing {col} to timestamptz with timezone UTC: no rewrite on PostgreSQL 12+ if it is `timestamp` now (old type unknown here); indexes on it are rebuilt"))
                        .help("from any other type it rewrites the table: add a column, backfill, swap")
                        .severity(Severity::Warning);
                }
                Some(old) => {
                    out.report(&META, format!("changing {col} from {} to {} rewrites the table and its indexes under ACCESS EXCLUSIVE", old.to_lowercase(), new.to_lowercase()))
                        .help(EXPAND_CONTRACT)
                        .suggest(suggest);
                }
                None if new.eq_ignore_ascii_case("text") || varchar_len(&new).is_some() => {
                    out.report(&META, format!("changing the type of {col} to {}: no rewrite only if it is already varchar/text (old type unknown here)", new.to_lowercase()))
                        .help("varchar widening and varchar -> text are instant; anything else rewrites the table")
                        .severity(Severity::Warning);
                }
                None => {
                    out.report(&META, format!("changing the type of {col} to {} rewrites the table and its indexes under ACCESS EXCLUSIVE", new.to_lowercase()))
                        .help(EXPAND_CONTRACT)
                        .suggest(suggest);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_binary_compatible;
    use crate::lint::rules::testing::*;

    const ID: &str = "change-column-type";

    #[test]
    fn flags_a_rewriting_type_change() {
        let f = findings("ALTER TABLE orders ALTER COLUMN amount TYPE bigint;", ID);
        assert_eq!((f.len(), f[0].severity), (1, crate::lint::Severity::Error));
        assert_eq!(f[0].suggestion.as_deref(), Some("planner plan change-type orders.amount bigint"));
        let with_using = findings("ALTER TABLE orders ALTER COLUMN code TYPE integer USING trim(code)::integer;", ID);
        assert_eq!(
            with_using[0].suggestion.as_deref(),
            Some("planner plan change-type orders.code integer --using 'TRIM(code)::INTEGER'")
        );
    }

    #[test]
    fn varchar_widening_known_from_an_earlier_file_is_fine() {
        let opts = crate::lint::LintOptions::default();
        let mut known = crate::lint::KnownSchema::default();
        let mut report = crate::lint::LintReport::default();
        report.lint_source("1.sql", "CREATE TABLE u (name varchar(20));", &opts, &mut known);
        report.lint_source("2.sql", "ALTER TABLE u ALTER COLUMN name TYPE varchar(40);\nALTER TABLE u ALTER COLUMN name TYPE text;", &opts, &mut known);
        assert!(report.findings.iter().all(|f| f.rule != ID), "{:?}", report.findings);
        report.lint_source("3.sql", "ALTER TABLE u ALTER COLUMN name TYPE varchar(10);", &opts, &mut known);
        assert_eq!(report.findings.iter().filter(|f| f.rule == ID).count(), 1);
    }

    #[test]
    fn timestamp_to_timestamptz_under_utc_is_info_on_pg12() {
        let base = "CREATE TABLE e (at timestamp, other timestamp);";
        let opts = crate::lint::LintOptions::default();
        let mut known = crate::lint::KnownSchema::default();
        let mut report = crate::lint::LintReport::default();
        report.lint_source("1.sql", base, &opts, &mut known);
        let utc = "SET timezone = 'UTC';\nALTER TABLE e ALTER COLUMN at TYPE timestamptz;";
        report.lint_source("2.sql", utc, &opts, &mut known);
        let f: Vec<_> = report.findings.iter().filter(|f| f.rule == ID).collect();
        assert_eq!((f.len(), f[0].severity), (1, crate::lint::Severity::Info), "{f:?}");
        report.lint_source("3.sql", "ALTER TABLE e ALTER COLUMN other TYPE timestamp with time zone;", &opts, &mut known);
        let last = report.findings.iter().rfind(|f| f.rule == ID).unwrap();
        assert_eq!((last.file.as_str(), last.severity), ("3.sql", crate::lint::Severity::Error));
        let pg11 = findings_with(utc, ID, &pg(11));
        assert_eq!(pg11[0].severity, crate::lint::Severity::Error);
        assert_eq!(super::timestamp_kind("TIMESTAMP(3) WITHOUT TIME ZONE"), Some((false, "3".into())));
    }

    #[test]
    fn compatibility_table() {
        assert!(is_binary_compatible("VARCHAR(10)", "CHARACTER VARYING(20)"));
        assert!(is_binary_compatible("numeric(10,2)", "numeric(12,2)"));
        assert!(!is_binary_compatible("numeric(10,2)", "numeric(12,3)"));
        assert!(!is_binary_compatible("int", "bigint"));
        assert!(!is_binary_compatible("text", "varchar(5)"));
    }
}
