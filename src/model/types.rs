//! Built-in PostgreSQL type names and their canonical spelling (as `format_type()` prints them),
//! so `int`, `int4` and `integer` compare equal and an unknown type is caught at plan time.

/// Canonical spelling of a type name as a user or a schema.sql writes it; `None` when unknown.
/// Modifiers (`varchar(20)`, `numeric(10,2)`) and array suffixes (`text[]`) are kept.
pub fn canonicalize(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let (base, array) = match trimmed.strip_suffix("[]") {
        Some(b) => (b.trim(), "[]"),
        None => (trimmed, ""),
    };
    // `timestamp(3) with time zone`: the modifier sits inside the name.
    let (name, modifier) = match (base.find('('), base.find(')')) {
        (Some(i), Some(j)) if j > i => {
            (format!("{} {}", &base[..i], &base[j + 1..]), base[i..=j].replace(' ', ""))
        }
        _ => (base.to_string(), String::new()),
    };
    // Type modifiers are numbers only: `varchar(200)`, `numeric(10,2)`, `timestamp(3)`.
    if !modifier.is_empty()
        && !modifier[1..modifier.len() - 1]
            .split(',')
            .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let lower = name.trim().to_lowercase();
    let lower = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    let canonical = match lower.as_str() {
        "int" | "integer" | "int4" => "integer",
        "smallint" | "int2" => "smallint",
        "bigint" | "int8" => "bigint",
        "serial" | "serial4" => "integer",
        "bigserial" | "serial8" => "bigint",
        "smallserial" | "serial2" => "smallint",
        "bool" | "boolean" => "boolean",
        "text" => "text",
        "varchar" | "character varying" => "character varying",
        "char" | "character" | "bpchar" => "character",
        "real" | "float4" => "real",
        "double precision" | "float8" | "float" => "double precision",
        "numeric" | "decimal" => "numeric",
        "money" => "money",
        "date" => "date",
        "time" | "time without time zone" => "time without time zone",
        "timetz" | "time with time zone" => "time with time zone",
        "timestamp" | "timestamp without time zone" => "timestamp without time zone",
        "timestamptz" | "timestamp with time zone" => "timestamp with time zone",
        "interval" => "interval",
        "uuid" => "uuid",
        "json" => "json",
        "jsonb" => "jsonb",
        "bytea" => "bytea",
        "inet" => "inet",
        "cidr" => "cidr",
        "macaddr" => "macaddr",
        "xml" => "xml",
        "tsvector" => "tsvector",
        "tsquery" => "tsquery",
        "citext" => "citext",
        "oid" => "oid",
        "point" => "point",
        "int4range" => "int4range",
        "int8range" => "int8range",
        "numrange" => "numrange",
        "tstzrange" => "tstzrange",
        "tsrange" => "tsrange",
        "daterange" => "daterange",
        "bit" => "bit",
        "varbit" | "bit varying" => "bit varying",
        _ => return None,
    };
    // format_type puts the time zone qualifier after the precision: timestamp(3) with time zone
    let with_mod = match (canonical, modifier.is_empty()) {
        (_, true) => canonical.to_string(),
        (c, false) if c.ends_with(" with time zone") || c.ends_with(" without time zone") => {
            let (head, tail) = c.split_once(' ').unwrap_or((c, ""));
            format!("{head}{modifier} {tail}")
        }
        (c, false) => format!("{c}{modifier}"),
    };
    Some(format!("{with_mod}{array}"))
}

/// Serial pseudo-types: they imply a sequence default and NOT NULL.
pub fn is_serial(input: &str) -> bool {
    matches!(
        input.trim().to_lowercase().as_str(),
        "serial" | "serial4" | "bigserial" | "serial8" | "smallserial" | "serial2"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_map_to_format_type_output() {
        assert_eq!(canonicalize("INT").as_deref(), Some("integer"));
        assert_eq!(canonicalize("varchar(200)").as_deref(), Some("character varying(200)"));
        assert_eq!(canonicalize("timestamptz").as_deref(), Some("timestamp with time zone"));
        assert_eq!(
            canonicalize("timestamp(3) with time zone").as_deref(),
            Some("timestamp(3) with time zone")
        );
        assert_eq!(canonicalize("numeric(10, 2)").as_deref(), Some("numeric(10,2)"));
        assert_eq!(canonicalize("text[]").as_deref(), Some("text[]"));
        assert_eq!(canonicalize("bool").as_deref(), Some("boolean"));
        assert_eq!(canonicalize("strnig"), None);
        assert_eq!(canonicalize("varchar(abc)"), None);
        assert_eq!(canonicalize("varchar(1;drop table x)"), None);
        assert_eq!(canonicalize("numeric(,)"), None);
    }
}
