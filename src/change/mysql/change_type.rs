//! Change a column's type on MySQL/MariaDB without the table copy `MODIFY COLUMN` does (writes
//! blocked for the whole copy: 17 s per 1M rows measured for INT -> BIGINT on MariaDB 10.11).
//!
//! Two paths, chosen from the two types (the plan says which and why):
//! - **in place**: a longer `VARCHAR` whose stored length prefix keeps its size is one
//!   `MODIFY COLUMN …, ALGORITHM=INSTANT` (MariaDB; `INPLACE, LOCK=NONE` on MySQL), metadata only.
//!   MariaDB copies only when the old maximum is 128–255 bytes and the new one longer (measured:
//!   50 -> 100 utf8mb4 characters copies; 20 -> 100, 50 -> 63 and 70 -> 100 are instant). The
//!   explicit algorithm makes the server refuse rather than copy if it judges otherwise (a column
//!   charset the model does not know is taken as 4 bytes per character). Going back is a copy, so
//!   the step is irreversible.
//! - **shadow column** (anything else, or `using:` given): expand adds `<column>_planner` of the new
//!   type right after the column (INSTANT; NOT NULL with the old default or the type's zero as a
//!   placeholder, so contract needs no NOT NULL rebuild), BEFORE INSERT/UPDATE triggers that set it
//!   from the column on every write (strict mode: a value the new type cannot hold fails the write,
//!   as it would after the change), and online copies of the column's indexes. Backfill converts the
//!   existing rows. Contract, under one `LOCK TABLES … WRITE` (both app versions still write the
//!   column, so no write may fall between the trigger drop and the swap; writes wait the
//!   milliseconds of metadata-only statements), drops the triggers, then one ALTER drops the column
//!   with its indexes, renames the shadow into its place and gives the index copies their names
//!   (INSTANT, or NOCOPY when indexes go): no table copy at any point.
//!
//! Refused (a shadow-copy tool such as gh-ost or Spirit does these): primary-key columns, columns
//! on either side of a foreign key, generated columns, and columns views, app triggers or CHECKs read.
//!
//! What each app version's writes do from expand until contract: both read and write the column in
//! its old type; the triggers convert every write into the shadow column, so a write to the shadow
//! column itself is overwritten. After contract the column has the new type.

use super::add_column::mysql_type;
use super::{
    alter, backfill_key, child_foreign_key, definition, index_copies, new_column, readers_of, resolve, step,
    trigger_name, trigger_pair, zero_value, Cx, MySqlFlavour, Parts,
};
use crate::change::{ChangeError, ChangeType};
use crate::model::{IndexPart, SchemaModel};
use crate::plan::{AppAccess, AppCompat, Assignment, BackfillTask, Lock, Precondition};
use crate::sql::ddl::TriggerEvent;
use crate::sql::mysql_ddl::{quote_ident, Algorithm, AlterClause, MySqlDdl, TriggerAssignment};
use crate::sql::mysql_expr::MySqlExpr;
use crate::sql::render::generated_name;

/// `varchar(50)` -> ("varchar", [50]); `decimal(10,2) unsigned` -> ("decimal unsigned", [10, 2]);
/// an integer's display width (`int(11)`) is dropped: it does not change what the column holds.
fn split_type(t: &str) -> (String, Vec<u32>) {
    let (name, mods) = crate::change::common::split_type(&t.trim().to_ascii_lowercase());
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    let integer = ["tinyint", "smallint", "mediumint", "int", "integer", "bigint"]
        .iter()
        .any(|i| name == *i || name.starts_with(&format!("{i} ")));
    let boolean = name == "tinyint" && mods == [1];
    if integer && !boolean {
        return (name.replacen("integer", "int", 1), Vec::new());
    }
    (name, mods)
}

/// Bytes per character of a charset (the longest character).
fn bytes_per_char(charset: Option<&str>) -> u32 {
    match charset.map(|c| c.to_ascii_lowercase()) {
        Some(c) if c == "latin1" || c == "ascii" || c == "binary" => 1,
        Some(c) if c == "ucs2" || c == "utf16" => 2,
        Some(c) if c == "utf8" || c == "utf8mb3" => 3,
        _ => 4,
    }
}

/// A string type an index on it takes a prefix length for.
fn is_string(name: &str) -> bool {
    matches!(
        name.split(' ').next().unwrap_or(""),
        "char"
            | "varchar"
            | "binary"
            | "varbinary"
            | "tinytext"
            | "text"
            | "mediumtext"
            | "longtext"
            | "tinyblob"
            | "blob"
            | "mediumblob"
            | "longblob"
    )
}

/// A type an index needs a prefix length on.
fn needs_prefix(name: &str) -> bool {
    name.contains("text") || name.contains("blob")
}

/// Why `from -> to` is metadata only on `flavour`, if it is.
fn in_place(from: &str, to: &str, charset: Option<&str>, flavour: MySqlFlavour) -> Option<String> {
    let ((fname, fmods), (tname, tmods)) = (split_type(from), split_type(to));
    if fname != "varchar" || tname != "varchar" {
        return None;
    }
    let (&[n], &[m]) = (fmods.as_slice(), tmods.as_slice()) else { return None };
    if m < n {
        return None;
    }
    let bpc = bytes_per_char(charset);
    let (old, new) = (n * bpc, m * bpc);
    let same_prefix = (old <= 255) == (new <= 255);
    let ok = match flavour {
        // A value of at most 127 bytes has a one-byte length either way (measured on 10.11).
        MySqlFlavour::Mariadb => same_prefix || old <= 127,
        MySqlFlavour::Mysql => same_prefix,
    };
    ok.then(|| {
        format!(
            "varchar({n}) -> varchar({m}) keeps each value's length prefix ({old} -> {new} bytes at {bpc} per character): metadata only"
        )
    })
}

pub fn compile(change: &ChangeType, cx: &Cx<'_>) -> Result<(Parts, SchemaModel), ChangeError> {
    let model = cx.model;
    let (table, column) = resolve(model, &change.table, &change.column, "column")?;
    let t = &table.name;
    let tn = t.name.as_str();
    let c = column.name.clone();
    let cs = c.as_str().to_string();
    let from = column.data_type.clone();
    let to = mysql_type(&change.data_type)?;
    if split_type(&from) == split_type(&to) && change.using.is_none() {
        return Err(ChangeError::new("type", format!("{tn}.{cs} is already {from}"))
            .help("name another type, or give `using:` to rewrite every value"));
    }
    let key = backfill_key(table)?;
    if key.iter().any(|k| k.column == c) {
        return Err(ChangeError::new("column", format!(
            "{tn}.{cs} is part of the primary key: InnoDB stores every row and every index by it, so its type changes only by copying the table"
        ))
        .help("use gh-ost, Spirit or pt-online-schema-change for primary-key type changes on MySQL/MariaDB"));
    }
    if column.generated.is_some() {
        return Err(ChangeError::new(
            "column",
            format!("{tn}.{cs} is a generated column; change its expression's type instead"),
        ));
    }
    let shadow_tool = "use gh-ost, Spirit or pt-online-schema-change for this type change";
    if let Some((other, fk)) = model.foreign_keys_referencing(t, &c).first() {
        return Err(ChangeError::new("column", format!(
            "foreign key {} on {} references {tn}.{cs}; both sides must change type together, which MySQL allows only by copying the tables",
            fk.name.as_str(), other.name.name.as_str()
        ))
        .help(shadow_tool));
    }
    if let Some(fk) = child_foreign_key(table, &c) {
        return Err(ChangeError::new("column", format!(
            "{tn}.{cs} is the child column of foreign key {}; a foreign key on the new column would have to be added unvalidated (foreign_key_checks=0), which planner does not do yet",
            fk.name.as_str()
        ))
        .help(shadow_tool));
    }
    readers_of(model, table, &c, "type change", "column")?;
    if let Some(ix) = table
        .indexes_using(&c)
        .into_iter()
        .find(|ix| ix.keys.iter().any(|k| matches!(k.part, IndexPart::Expression(_))))
    {
        return Err(ChangeError::new(
            "column",
            format!(
                "index {} on {tn} is functional; planner copies only column indexes on MySQL",
                ix.name.as_str()
            ),
        ));
    }
    let columns: Vec<_> = table.columns.iter().map(|c| c.name.clone()).collect();
    let using = change
        .using
        .as_deref()
        .map(|u| {
            MySqlExpr::parse(u, &columns).map_err(|e| ChangeError::new("using", format!("using `{u}`: {e}")))
        })
        .transpose()?;
    let mut def = definition(column);
    def.column_type = to.clone();
    let (tname, _) = split_type(&to);
    if !is_string(&tname) {
        def.charset = None;
        def.collation = None;
    }
    if !(tname.starts_with("datetime") || tname.starts_with("timestamp")) {
        def.on_update = None;
    }
    let description = format!("change type of {tn}.{cs} from {from} to {to}");
    let mut next = model.clone();
    let (keeps_charset, on_update) =
        (def.charset.is_some() || def.collation.is_some(), def.on_update.clone());
    // The column as contract leaves it: the new type, its own default, attributes the type keeps.
    let retype = |next: &mut SchemaModel| {
        if let Some(col) = next.tables.get_mut(t).and_then(|tb| tb.columns.iter_mut().find(|x| x.name == c)) {
            col.data_type = to.clone();
            if !keeps_charset {
                col.props.charset = None;
                col.props.collation = None;
            }
            col.props.on_update = on_update.clone();
        }
    };

    if let (None, Some(why)) =
        (&using, in_place(&from, &to, column.props.charset.as_deref(), cx.target.flavour))
    {
        let algorithm = match cx.target.flavour {
            MySqlFlavour::Mariadb => Algorithm::Instant,
            MySqlFlavour::Mysql => Algorithm::Inplace,
        };
        retype(&mut next);
        let note = format!("reads and writes {cs}; it is {to} once expand is applied (metadata only)");
        let compat = AppCompat { old_app: AppAccess::full(note.clone()), new_app: AppAccess::full(note) };
        return Ok((
            Parts {
                description: format!("{description} ({why})"),
                expand: vec![step(
                    format!("{cs} becomes {to}: {why}"),
                    alter(
                        t,
                        vec![AlterClause::ModifyColumn { column: c.clone(), definition: def }],
                        algorithm,
                    ),
                    Lock::MdlExclusiveBrief,
                    t,
                )
                .irreversible(format!(
                    "going back to {from} is a table copy on {}; plan a change_type back if needed",
                    cx.target
                ))],
                compat: Some([compat.clone(), compat.clone(), compat]),
                table: Some(t.clone()),
                ..Default::default()
            },
            next,
        ));
    }

    // The shadow column. NOT NULL keeps a placeholder default so the old app's inserts (which do
    // not name it) succeed before the trigger sets it, and contract needs no NOT NULL rebuild.
    let shadow = new_column(table, generated_name(&[c.as_str(), "planner"]).as_str(), "column")?;
    let ss = shadow.as_str().to_string();
    let mut placeholder = false;
    if column.not_null && column.default.is_none() {
        let zero = zero_value(&to).ok_or_else(|| {
            ChangeError::new("column", format!(
                "{tn}.{cs} is NOT NULL without a default, and {to} has no neutral placeholder value for the shadow column"
            ))
            .help("give the column a default first (ALTER TABLE … ALTER COLUMN … SET DEFAULT …, ALGORITHM=INSTANT)")
        })?;
        def.default = Some(zero.to_string());
        placeholder = true;
    }
    if needs_prefix(&tname)
        && table.indexes_using(&c).iter().any(|ix| ix.keys.iter().any(|k| k.prefix.is_none()))
    {
        return Err(ChangeError::new(
            "type",
            format!(
            "an index on {tn}.{cs} has no prefix length, which {to} needs: the index copy cannot be built"
        ),
        )
        .help("pick a VARCHAR type, or index a prefix of the column first"));
    }
    let why = match &using {
        Some(_) => "a `using` expression computes every value".to_string(),
        None => {
            format!("{from} -> {to} is a table copy on {} (writes blocked for the whole copy)", cx.target)
        }
    };
    let value_of = |row: &str| match &using {
        Some(u) => u.over(row),
        None => format!("{row}.{}", quote_ident(&c)),
    };
    let mut expand = vec![step(
        format!(
            "add the shadow column {ss} {to} after {cs}{} (instant)",
            if placeholder { " with a placeholder default" } else { "" }
        ),
        alter(
            t,
            vec![AlterClause::AddColumn {
                column: shadow.clone(),
                definition: def.clone(),
                after: Some(c.clone()),
            }],
            Algorithm::Instant,
        ),
        Lock::MdlExclusiveBrief,
        t,
    )
    .undo(step(
        format!("drop {ss}"),
        alter(t, vec![AlterClause::DropColumn { column: shadow.clone() }], Algorithm::Instant),
        Lock::MdlExclusiveBrief,
        t,
    ))];
    let convert = vec![TriggerAssignment { column: shadow.clone(), expr: value_of("NEW") }];
    let triggers =
        trigger_pair(cx, &mut next, t, &format!("convert {cs} into {ss}"), convert.clone(), convert);
    expand.extend(triggers.create);
    let keep_prefix = is_string(&tname);
    let copies = index_copies(cx, table, &c, &shadow, placeholder, |p| p.filter(|_| keep_prefix));
    expand.extend(copies.expand);

    // The swap: drop the converting triggers and swap the columns under one LOCK TABLES … WRITE,
    // else a write between the trigger drop and the swap would never reach the shadow column
    // (both app versions still write the column; the zero-downtime test caught it).
    let mut contract = copies.contract;
    let mut swap = copies.drop_originals;
    swap.push(AlterClause::DropColumn { column: c.clone() });
    let mut last = def.clone();
    last.default = column.default.clone();
    swap.push(AlterClause::ChangeColumn { from: shadow.clone(), to: c.clone(), definition: last });
    let drops_index = !copies.renames.is_empty();
    swap.extend(copies.renames);
    let mut locked: Vec<MySqlDdl> = [TriggerEvent::Insert, TriggerEvent::Update]
        .into_iter()
        .map(|event| MySqlDdl::DropTrigger { trigger: trigger_name(cx, event), if_exists: true })
        .collect();
    locked.push(alter(t, swap, if drops_index { cx.target.no_rebuild() } else { Algorithm::Instant }));
    contract.push(
        step(
            format!(
                "under LOCK TABLES … WRITE (writes wait milliseconds): drop the triggers, drop {cs}{}, rename {ss} to {cs}{}{} (no copy)",
                if drops_index { " with its indexes" } else { "" },
                if drops_index { ", give the index copies their names" } else { "" },
                if placeholder { ", drop the placeholder default" } else { "" }
            ),
            MySqlDdl::Locked { table: t.name.clone(), statements: locked },
            Lock::MdlExclusiveBrief,
            t,
        )
        .irreversible(format!("the {from} values of {tn}.{cs} are dropped")),
    );
    let mut pre = vec![Precondition::BackfillDone { table: t.clone() }];
    pre.extend(copies.valid);
    pre.extend(triggers.present);
    pre.push(Precondition::NoDependents { table: t.clone(), column: c.clone() });
    pre.push(Precondition::ColumnsMatch { table: t.clone() });
    retype(&mut next);

    let q = quote_ident(&shadow);
    let source = match &using {
        Some(u) => u.over_row(),
        None => quote_ident(&c),
    };
    let during = format!("reads and writes {cs} as {from}; the triggers convert each write into {ss} (a value {to} cannot hold fails the write, as it would after the change); must not write {ss}");
    let after = format!("reads and writes {cs} as {to}");
    Ok((
        Parts {
            description: format!("{description} ({why})"),
            expand,
            expand_preconditions: vec![Precondition::AssignsCleanly {
                table: t.clone(),
                expr: source.clone(),
                data_type: if column.not_null { format!("{to} NOT NULL") } else { to.clone() },
            }],
            backfill: vec![BackfillTask {
                table: t.clone(),
                key,
                set: vec![Assignment { column: shadow.clone(), expr: source.clone() }],
                pending: format!("NOT ({q} <=> ({source}))"),
            }],
            contract_preconditions: pre,
            contract,
            compat: Some([
                AppCompat {
                    old_app: AppAccess::full(during.clone()),
                    new_app: AppAccess::full(during.clone()),
                },
                AppCompat { old_app: AppAccess::full(during.clone()), new_app: AppAccess::full(during) },
                AppCompat {
                    old_app: AppAccess::full(format!("{after}; an app that cannot handle {to} must be gone")),
                    new_app: AppAccess::full(after),
                },
            ]),
            table: Some(t.clone()),
        },
        next,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_compare_without_display_width_and_case() {
        assert_eq!(split_type("int(11)"), split_type("INT"));
        assert_eq!(split_type("bigint(20) unsigned"), ("bigint unsigned".to_string(), vec![]));
        assert_ne!(split_type("tinyint(1)"), split_type("tinyint"));
        assert_eq!(split_type("decimal(10,2)"), ("decimal".to_string(), vec![10, 2]));
    }

    #[test]
    fn varchar_widening_is_in_place_only_while_the_length_prefix_keeps_its_size() {
        let maria = MySqlFlavour::Mariadb;
        // Measured on MariaDB 10.11 (utf8mb4): instant, instant, instant, copy.
        assert!(in_place("varchar(20)", "varchar(100)", None, maria).is_some());
        assert!(in_place("varchar(50)", "varchar(63)", None, maria).is_some());
        assert!(in_place("varchar(70)", "varchar(100)", None, maria).is_some());
        assert!(in_place("varchar(50)", "varchar(100)", None, maria).is_none());
        assert!(in_place("varchar(50)", "varchar(100)", Some("latin1"), maria).is_some());
        assert!(in_place("varchar(20)", "varchar(100)", None, MySqlFlavour::Mysql).is_none());
        assert!(in_place("varchar(100)", "varchar(50)", None, maria).is_none(), "narrowing copies");
        assert!(in_place("varchar(50)", "text", None, maria).is_none());
        assert!(in_place("int", "bigint", None, maria).is_none());
    }
}
