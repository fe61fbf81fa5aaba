//! The one place DDL text is formatted. Takes typed names (always quoted on output) and
//! validated expressions; change kinds never glue identifiers into SQL themselves.

use sha2::{Digest, Sha256};

use super::ddl::{SyncPart, TriggerEvent};
use super::{Ident, QualifiedName, SqlExpr};

/// A deterministic name for an object planner creates, within PostgreSQL's 63-byte limit:
/// `prefix_parts..`; when too long, truncated and suffixed with 8 hex digits of its sha256.
pub fn generated_name(parts: &[&str]) -> Ident {
    let full = parts.join("_");
    if full.len() <= super::ident::MAX_IDENT_BYTES {
        return Ident::new(full).expect("non-empty");
    }
    let hash = hex::encode(&Sha256::digest(full.as_bytes())[..4]);
    let mut head = full.clone();
    while head.len() > super::ident::MAX_IDENT_BYTES - 9 {
        head.pop();
    }
    Ident::new(format!("{head}_{hash}")).expect("non-empty")
}

/// A function in the table's schema.
pub fn function_name(table: &QualifiedName, name: &Ident) -> QualifiedName {
    QualifiedName::new(table.schema.clone(), name.clone())
}

pub fn add_column(
    t: &QualifiedName,
    c: &Ident,
    data_type: &str,
    collation: Option<&Ident>,
    default: Option<&str>,
    not_null: bool,
) -> String {
    let mut sql = format!("ALTER TABLE {t} ADD COLUMN {c} {data_type}");
    if let Some(collation) = collation {
        sql.push_str(&format!(" COLLATE {collation}"));
    }
    if let Some(d) = default {
        sql.push_str(&format!(" DEFAULT {d}"));
    }
    if not_null {
        sql.push_str(" NOT NULL");
    }
    sql
}

pub fn drop_column(t: &QualifiedName, c: &Ident, if_exists: bool) -> String {
    format!("ALTER TABLE {t} DROP COLUMN {}{c}", if_exists_clause(if_exists))
}

fn if_exists_clause(if_exists: bool) -> &'static str {
    if if_exists {
        "IF EXISTS "
    } else {
        ""
    }
}

pub fn set_statistics(t: &QualifiedName, c: &Ident, target: i32) -> String {
    format!("ALTER TABLE {t} ALTER COLUMN {c} SET STATISTICS {target}")
}

/// `storage` is one of PostgreSQL's keywords (checked by the model), never user text.
pub fn set_storage(t: &QualifiedName, c: &Ident, storage: &str) -> String {
    format!("ALTER TABLE {t} ALTER COLUMN {c} SET STORAGE {storage}")
}

pub fn set_compression(t: &QualifiedName, c: &Ident, compression: &str) -> String {
    format!("ALTER TABLE {t} ALTER COLUMN {c} SET COMPRESSION {compression}")
}

pub fn comment_on_column(t: &QualifiedName, c: &Ident, comment: Option<&str>) -> String {
    let text = comment.map(super::quote_literal).unwrap_or_else(|| "NULL".to_string());
    format!("COMMENT ON COLUMN {t}.{c} IS {text}")
}

pub fn set_not_null(t: &QualifiedName, c: &Ident) -> String {
    format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL")
}

pub fn drop_not_null(t: &QualifiedName, c: &Ident) -> String {
    format!("ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL")
}

pub fn set_default(t: &QualifiedName, c: &Ident, default: &str) -> String {
    format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {default}")
}

/// `sequence` is the regclass text from a `nextval('...'::regclass)` default, already quoted
/// by the catalog (e.g. `public."orders_Order Id_seq"`).
pub fn sequence_owned_by(sequence: &str, t: &QualifiedName, c: &Ident) -> String {
    format!("ALTER SEQUENCE {sequence} OWNED BY {t}.{c}")
}

/// The sequence a `nextval('seq'::regclass)` default draws from.
pub fn nextval_sequence(default: &str) -> Option<&str> {
    let rest = &default[default.find("nextval('")? + "nextval('".len()..];
    let end = rest.find('\'')?;
    Some(&rest[..end])
}

pub fn drop_default(t: &QualifiedName, c: &Ident) -> String {
    format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT")
}

pub fn add_check_not_valid(t: &QualifiedName, name: &Ident, expr: &str) -> String {
    format!("ALTER TABLE {t} ADD CONSTRAINT {name} CHECK ({expr}) NOT VALID")
}

pub fn not_null_check_expr(c: &Ident) -> String {
    format!("{c} IS NOT NULL")
}

pub fn validate_constraint(t: &QualifiedName, name: &Ident) -> String {
    format!("ALTER TABLE {t} VALIDATE CONSTRAINT {name}")
}

pub fn drop_constraint(t: &QualifiedName, name: &Ident, if_exists: bool) -> String {
    format!("ALTER TABLE {t} DROP CONSTRAINT {}{name}", if_exists_clause(if_exists))
}

pub fn rename_constraint(t: &QualifiedName, from: &Ident, to: &Ident) -> String {
    format!("ALTER TABLE {t} RENAME CONSTRAINT {from} TO {to}")
}

#[allow(clippy::too_many_arguments)]
pub fn add_foreign_key_not_valid(
    t: &QualifiedName,
    name: &Ident,
    columns: &[Ident],
    references: &QualifiedName,
    ref_columns: &[Ident],
    on_delete: Option<&str>,
    on_update: Option<&str>,
) -> String {
    let mut sql = format!(
        "ALTER TABLE {t} ADD CONSTRAINT {name} FOREIGN KEY ({}) REFERENCES {references} ({})",
        list(columns),
        list(ref_columns)
    );
    if let Some(a) = on_delete {
        sql.push_str(&format!(" ON DELETE {a}"));
    }
    if let Some(a) = on_update {
        sql.push_str(&format!(" ON UPDATE {a}"));
    }
    sql.push_str(" NOT VALID");
    sql
}

/// Index definition pieces, already rewritten for the target column.
pub struct IndexSpec<'a> {
    pub name: &'a Ident,
    pub table: &'a QualifiedName,
    pub unique: bool,
    pub method: &'a str,
    /// Rendered key parts (quoted column or parenthesised expression, plus options).
    pub keys: Vec<String>,
    pub include: &'a [Ident],
    pub predicate: Option<String>,
}

pub fn create_index_concurrently(spec: &IndexSpec<'_>) -> String {
    let mut sql = format!(
        "CREATE {}INDEX CONCURRENTLY {} ON {} USING {} ({})",
        if spec.unique { "UNIQUE " } else { "" },
        spec.name,
        spec.table,
        spec.method,
        spec.keys.join(", ")
    );
    if !spec.include.is_empty() {
        sql.push_str(&format!(" INCLUDE ({})", list(spec.include)));
    }
    if let Some(p) = &spec.predicate {
        sql.push_str(&format!(" WHERE ({p})"));
    }
    sql
}

/// Indexes live in their table's schema.
pub fn drop_index_concurrently(table: &QualifiedName, name: &Ident) -> String {
    format!("DROP INDEX CONCURRENTLY IF EXISTS {}.{}", table.schema, name)
}

pub fn rename_index(table: &QualifiedName, from: &Ident, to: &Ident) -> String {
    format!("ALTER INDEX {}.{} RENAME TO {}", table.schema, from, to)
}

pub fn add_unique_using_index(t: &QualifiedName, constraint: &Ident, index: &Ident) -> String {
    format!("ALTER TABLE {t} ADD CONSTRAINT {constraint} UNIQUE USING INDEX {index}")
}

pub fn alter_column_type(t: &QualifiedName, c: &Ident, data_type: &str) -> String {
    format!("ALTER TABLE {t} ALTER COLUMN {c} TYPE {data_type}")
}

pub fn set_local_time_zone(zone: &str) -> String {
    format!("SET LOCAL TimeZone = {}", super::quote_literal(zone))
}

pub fn rename_column(t: &QualifiedName, from: &Ident, to: &Ident) -> String {
    format!("ALTER TABLE {t} RENAME COLUMN {from} TO {to}")
}

pub fn drop_view(v: &QualifiedName) -> String {
    format!("DROP VIEW {v}")
}

pub fn create_view(v: &QualifiedName, columns: &[Ident], query: &str) -> String {
    let list = if columns.is_empty() {
        String::new()
    } else {
        format!(" ({})", columns.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "))
    };
    format!("CREATE VIEW {v}{list} AS {query}")
}

pub fn add_primary_key_using_index(t: &QualifiedName, constraint: &Ident, index: &Ident) -> String {
    format!("ALTER TABLE {t} ADD CONSTRAINT {constraint} PRIMARY KEY USING INDEX {index}")
}

/// `sequence` as [`sequence_owned_by`] takes it.
pub fn alter_sequence_type(sequence: &str, data_type: &str) -> String {
    format!("ALTER SEQUENCE {sequence} AS {data_type}")
}

pub fn add_identity(t: &QualifiedName, c: &Ident, always: bool) -> String {
    let when = if always { "ALWAYS" } else { "BY DEFAULT" };
    format!("ALTER TABLE {t} ALTER COLUMN {c} ADD GENERATED {when} AS IDENTITY")
}

/// `pg_get_serial_sequence` reads its table argument as SQL (quoted names) and the column
/// argument literally.
pub fn continue_identity(t: &QualifiedName, from: &Ident, to: &Ident) -> String {
    let seq = |c: &Ident| {
        format!(
            "pg_get_serial_sequence({}, {})",
            super::quote_literal(&t.to_string()),
            super::quote_literal(c.as_str())
        )
    };
    format!("SELECT setval({}, nextval({}))", seq(to), seq(from))
}

pub fn lock_tables(tables: &[QualifiedName]) -> String {
    let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", names.join(", "))
}

/// A PL/pgSQL trigger function with the given body (statements between BEGIN and END).
/// The dollar-quote tag is one the body does not contain (a user string may hold `$planner$`).
pub fn create_trigger_function(f: &QualifiedName, body: &str) -> String {
    let mut tag = "$planner$".to_string();
    let mut n = 0;
    while body.contains(&tag) {
        n += 1;
        tag = format!("$planner{n}$");
    }
    format!("CREATE FUNCTION {f}() RETURNS trigger LANGUAGE plpgsql AS {tag}\nBEGIN\n{body}\n  RETURN NEW;\nEND\n{tag}")
}

pub fn drop_function(f: &QualifiedName, if_exists: bool) -> String {
    format!("DROP FUNCTION {}{f}()", if_exists_clause(if_exists))
}

/// BEFORE INSERT or BEFORE UPDATE row trigger, with an optional WHEN so rows with nothing to do
/// (the backfill's own writes among them) never enter PL/pgSQL. `EXECUTE FUNCTION` needs
/// PostgreSQL 11 (our minimum).
pub fn create_row_trigger(
    trigger: &Ident,
    t: &QualifiedName,
    f: &QualifiedName,
    event: TriggerEvent,
    when: Option<&str>,
) -> String {
    let event = match event {
        TriggerEvent::Insert => "INSERT",
        TriggerEvent::Update => "UPDATE",
    };
    let when = when.map(|w| format!(" WHEN ({w})")).unwrap_or_default();
    format!("CREATE TRIGGER {trigger} BEFORE {event} ON {t} FOR EACH ROW{when} EXECUTE FUNCTION {f}()")
}

pub fn drop_trigger(trigger: &Ident, t: &QualifiedName, if_exists: bool) -> String {
    format!("DROP TRIGGER {}{trigger} ON {t}", if_exists_clause(if_exists))
}

/// `expr` evaluated over the row being written: its column references become `NEW."col"`.
fn over_new(expr: &SqlExpr, sources: &[Ident]) -> String {
    super::rewrite::qualify_columns(expr, sources, "NEW")
}

/// The sync function's body: forward parts (old app's columns -> new ones) in change order, then
/// backward parts (new -> old) in reverse order; see [`SyncPart`].
pub fn sync_body(parts: &[SyncPart]) -> String {
    let mut insert = Vec::new();
    let mut update = Vec::new();
    for part in parts {
        match part {
            SyncPart::Rename { from, to } => {
                insert.push(format!("IF NEW.{to} IS NULL THEN NEW.{to} := NEW.{from}; END IF;"));
                update.push(format!(
                    "IF NEW.{to} IS NOT DISTINCT FROM OLD.{to} THEN NEW.{to} := NEW.{from}; END IF;"
                ));
            }
            SyncPart::Convert { from, to, expr, sources, copy_back } => {
                let value = over_new(expr, sources);
                if *copy_back {
                    insert.push(format!("IF NEW.{to} IS NULL THEN NEW.{to} := {value}; END IF;"));
                    update.push(format!(
                        "IF NEW.{to} IS NOT DISTINCT FROM OLD.{to} THEN NEW.{to} := {value}; END IF;"
                    ));
                } else {
                    // Only the old column is written by the apps: the new one follows it.
                    let _ = from;
                    insert.push(format!("NEW.{to} := {value};"));
                    update.push(format!("NEW.{to} := {value};"));
                }
            }
            SyncPart::Fill { column: c, expr, sources, recompute } => {
                let value = over_new(expr, sources);
                insert.push(format!("IF NEW.{c} IS NULL THEN NEW.{c} := {value}; END IF;"));
                let changed = sources_changed(sources);
                update.push(if *recompute && !changed.is_empty() {
                    format!(
                        "IF NEW.{c} IS NULL OR (NEW.{c} IS NOT DISTINCT FROM OLD.{c} AND ({changed})) THEN NEW.{c} := {value}; END IF;"
                    )
                } else {
                    format!("IF NEW.{c} IS NULL THEN NEW.{c} := {value}; END IF;")
                });
            }
        }
    }
    for part in parts.iter().rev() {
        match part {
            SyncPart::Rename { from, to } => {
                insert.push(format!("IF NEW.{to} IS NOT NULL THEN NEW.{from} := NEW.{to}; END IF;"));
                update.push(format!(
                    "IF NEW.{to} IS DISTINCT FROM OLD.{to} THEN NEW.{from} := NEW.{to}; END IF;"
                ));
            }
            // A value of the new column that the old one does not already convert to was written
            // there by the new app: it goes back into the old column.
            SyncPart::Convert { from, to, expr, sources, copy_back: true } => {
                let value = over_new(expr, sources);
                insert.push(format!(
                    "IF NEW.{to} IS NOT NULL AND NEW.{to} IS DISTINCT FROM {value} THEN NEW.{from} := NEW.{to}; END IF;"
                ));
                update.push(format!(
                    "IF NEW.{to} IS DISTINCT FROM OLD.{to} AND NEW.{to} IS DISTINCT FROM {value} THEN NEW.{from} := NEW.{to}; END IF;"
                ));
            }
            _ => {}
        }
    }
    let indent = |lines: Vec<String>| lines.iter().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n");
    format!("  IF TG_OP = 'INSERT' THEN\n{}\n  ELSE\n{}\n  END IF;", indent(insert), indent(update))
}

/// `NEW.a IS DISTINCT FROM OLD.a OR …` over the columns an expression reads.
fn sources_changed(sources: &[Ident]) -> String {
    sources.iter().map(|s| format!("NEW.{s} IS DISTINCT FROM OLD.{s}")).collect::<Vec<_>>().join(" OR ")
}

/// The UPDATE trigger's WHEN: true when some part has work to do. Evaluated on the row as the
/// statement wrote it; an earlier part only acts when its own condition holds, so the disjunction
/// never skips a row that a later part (seeing an earlier part's result) would change.
pub fn sync_when(parts: &[SyncPart]) -> String {
    let conditions: Vec<String> = parts
        .iter()
        .map(|part| match part {
            SyncPart::Rename { from, to } => format!("NEW.{from} IS DISTINCT FROM NEW.{to}"),
            SyncPart::Convert { to, expr, sources, .. } => {
                format!("NEW.{to} IS DISTINCT FROM {}", over_new(expr, sources))
            }
            SyncPart::Fill { column: c, sources, recompute, .. } => {
                let changed = sources_changed(sources);
                if *recompute && !changed.is_empty() {
                    format!("NEW.{c} IS NULL OR (NEW.{c} IS NOT DISTINCT FROM OLD.{c} AND ({changed}))")
                } else {
                    format!("NEW.{c} IS NULL")
                }
            }
        })
        .collect();
    if conditions.len() == 1 {
        conditions.into_iter().next().unwrap_or_default()
    } else {
        conditions.iter().map(|c| format!("({c})")).collect::<Vec<_>>().join(" OR ")
    }
}

/// Comma-separated quoted identifiers.
pub fn list(idents: &[Ident]) -> String {
    idents.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_fit_postgres_limit_and_stay_deterministic() {
        let short = generated_name(&["planner", "users", "full_name"]);
        assert_eq!(short.as_str(), "planner_users_full_name");
        let long_part = "x".repeat(60);
        let a = generated_name(&["planner", &long_part, "a"]);
        let b = generated_name(&["planner", &long_part, "b"]);
        assert!(a.as_str().len() <= 63);
        assert_ne!(a, b, "distinct inputs must give distinct names after truncation");
        assert_eq!(a, generated_name(&["planner", &long_part, "a"]));
    }
}
