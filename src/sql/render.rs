//! The one place DDL text is formatted. Takes typed names (always quoted on output) and
//! validated expressions; change kinds never glue identifiers into SQL themselves.

use sha2::{Digest, Sha256};

use super::{Ident, QualifiedName};

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
    default: Option<&str>,
    not_null: bool,
) -> String {
    let mut sql = format!("ALTER TABLE {t} ADD COLUMN {c} {data_type}");
    if let Some(d) = default {
        sql.push_str(&format!(" DEFAULT {d}"));
    }
    if not_null {
        sql.push_str(" NOT NULL");
    }
    sql
}

pub fn drop_column(t: &QualifiedName, c: &Ident) -> String {
    format!("ALTER TABLE {t} DROP COLUMN {c}")
}

pub fn drop_column_if_exists(t: &QualifiedName, c: &Ident) -> String {
    format!("ALTER TABLE {t} DROP COLUMN IF EXISTS {c}")
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

pub fn drop_constraint(t: &QualifiedName, name: &Ident) -> String {
    format!("ALTER TABLE {t} DROP CONSTRAINT {name}")
}

pub fn drop_constraint_if_exists(t: &QualifiedName, name: &Ident) -> String {
    format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {name}")
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

/// A PL/pgSQL trigger function with the given body (statements between BEGIN and END).
pub fn create_trigger_function(f: &QualifiedName, body: &str) -> String {
    format!(
        "CREATE FUNCTION {f}() RETURNS trigger LANGUAGE plpgsql AS $planner$\nBEGIN\n{body}\n  RETURN NEW;\nEND\n$planner$"
    )
}

pub fn drop_function(f: &QualifiedName) -> String {
    format!("DROP FUNCTION {f}()")
}

pub fn drop_function_if_exists(f: &QualifiedName) -> String {
    format!("DROP FUNCTION IF EXISTS {f}()")
}

/// BEFORE INSERT OR UPDATE row trigger. `EXECUTE FUNCTION` needs PostgreSQL 11 (our minimum).
pub fn create_row_trigger(trigger: &Ident, t: &QualifiedName, f: &QualifiedName) -> String {
    format!("CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {f}()")
}

pub fn drop_trigger(trigger: &Ident, t: &QualifiedName) -> String {
    format!("DROP TRIGGER {trigger} ON {t}")
}

pub fn drop_trigger_if_exists(trigger: &Ident, t: &QualifiedName) -> String {
    format!("DROP TRIGGER IF EXISTS {trigger} ON {t}")
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
