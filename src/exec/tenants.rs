//! Multi-tenant schemas: the same tables in many schemas of one database. A plan made for one
//! schema is re-aimed at each schema matching `--schemas 'tenant_*'`; each copy is its own plan in
//! the state tables (`<plan>@<schema>`: phases, checkpoints and history per schema).
//!
//! Re-aiming is typed, not textual: every value of the plan that is a schema-qualified name in
//! the plan's schema (tables, trigger functions) is replaced; free text (descriptions, `why`) is
//! left as planned. The copy is rendered and serialized like a plan folder, so the registered
//! plan.yaml is checked the same way (sha256, re-render on load).

use sqlx::PgConnection;

use super::apply::LoadedPlan;
use crate::error::InputError;
use crate::plan::Plan;
use crate::sql::{Ident, QualifiedName};

/// The one schema every table of the plan lives in (a plan spanning schemas cannot be re-aimed).
pub fn source_schema(plan: &Plan) -> Result<Ident, InputError> {
    let mut schemas: Vec<&Ident> = plan.tables.iter().map(|t| &t.table.schema).collect();
    schemas.sort();
    schemas.dedup();
    match schemas.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(InputError::new(format!(
            "plan `{}` names no table; --schemas has nothing to re-aim",
            plan.name
        ))),
        many => Err(InputError::new(format!(
            "plan `{}` touches tables in several schemas ({}); --schemas needs a plan made for one schema",
            plan.name,
            many.iter().map(|s| crate::sql::ident::short(s)).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The plan's name in the state tables for `schema`.
pub fn plan_name_for(plan: &str, schema: &str) -> String {
    format!("{plan}@{schema}")
}

/// `loaded` aimed at `schema` instead of the schema it was planned for.
pub fn retarget(loaded: &LoadedPlan, schema: &str) -> anyhow::Result<LoadedPlan> {
    let from = source_schema(&loaded.plan)?;
    let to = Ident::new(schema).map_err(|e| InputError::new(format!("schema `{schema}`: {e}")))?;
    let mut value = serde_yaml_ng::to_value(&loaded.plan)?;
    replace_schema(&mut value, &from, &to);
    let mut plan: Plan = serde_yaml_ng::from_value(value)?;
    plan.name = plan_name_for(&loaded.plan.name, schema);
    plan.description.push(format!(
        "applied to schema {} (planned for {})",
        crate::sql::ident::short(&to),
        crate::sql::ident::short(&from)
    ));
    crate::plan::files::render(&mut plan);
    let yaml = crate::plan::write::plan_yaml(&plan)?;
    let sha256 = crate::plan::sha256_hex(yaml.as_bytes());
    Ok(LoadedPlan { dir: loaded.dir.clone(), plan, sha256, yaml })
}

/// Replace, everywhere in `value`, a string that is exactly a qualified name in `from`.
fn replace_schema(value: &mut serde_yaml_ng::Value, from: &Ident, to: &Ident) {
    use serde_yaml_ng::Value;
    match value {
        Value::String(s) => {
            let Ok(Value::String(_)) = serde_yaml_ng::to_value(s.as_str()) else { return };
            let Ok(name) = serde_yaml_ng::from_value::<QualifiedName>(Value::String(s.clone())) else {
                return;
            };
            // Only the exact serialized form: "public.users", never text that merely parses.
            let same = serde_yaml_ng::to_value(&name).ok().and_then(|v| v.as_str().map(str::to_string));
            if name.schema == *from && same.as_deref() == Some(s.as_str()) {
                let moved = QualifiedName::new(to.clone(), name.name);
                if let Ok(Value::String(t)) = serde_yaml_ng::to_value(&moved) {
                    *s = t;
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(|v| replace_schema(v, from, to)),
        Value::Mapping(map) => map.iter_mut().for_each(|(_, v)| replace_schema(v, from, to)),
        Value::Tagged(tagged) => replace_schema(&mut tagged.value, from, to),
        _ => {}
    }
}

/// `tenant_*` (and `a,b_?`) as LIKE patterns: `*` any run, `?` one character.
fn like_patterns(globs: &str) -> Vec<String> {
    globs
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(|g| {
            let mut out = String::new();
            for c in g.chars() {
                match c {
                    '*' => out.push('%'),
                    '?' => out.push('_'),
                    '%' | '_' | '\\' => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out
        })
        .collect()
}

/// The schemas of this database matching `globs`, in name order (system schemas and planner's
/// own never match). None matching is bad input: a typo must not look like a finished run.
pub async fn matching_schemas(conn: &mut PgConnection, globs: &str) -> anyhow::Result<Vec<String>> {
    let patterns = like_patterns(globs);
    if patterns.is_empty() {
        return Err(InputError::new("--schemas names no schema").help("--schemas 'tenant_*'").into());
    }
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace
          WHERE nspname LIKE ANY ($1::text[])
            AND nspname NOT LIKE 'pg\\_%' AND nspname NOT IN ('information_schema', 'planner')
          ORDER BY nspname",
    )
    .bind(&patterns)
    .fetch_all(conn)
    .await?;
    if found.is_empty() {
        return Err(InputError::new(format!("--schemas {globs}: no schema of this database matches"))
            .help("list them with: SELECT nspname FROM pg_namespace")
            .into());
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_become_like_patterns() {
        assert_eq!(like_patterns("tenant_*"), ["tenant\\_%"]);
        assert_eq!(like_patterns(" a?, b%c ,"), ["a_", "b\\%c"]);
    }

    #[test]
    fn only_exact_qualified_names_in_the_schema_move() {
        use serde_yaml_ng::Value;
        let from = Ident::new("public").unwrap();
        let to = Ident::new("tenant_a").unwrap();
        let mut v: Value = serde_yaml_ng::from_str(
            "table: public.users\nwhy: rename column public.users.name\nother: billing.invoices\nf: public.planner_x\n",
        )
        .unwrap();
        replace_schema(&mut v, &from, &to);
        assert_eq!(v["table"].as_str(), Some("tenant_a.users"));
        assert_eq!(v["f"].as_str(), Some("tenant_a.planner_x"));
        assert_eq!(v["why"].as_str(), Some("rename column public.users.name"));
        assert_eq!(v["other"].as_str(), Some("billing.invoices"));
    }
}
