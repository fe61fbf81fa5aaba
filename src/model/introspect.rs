//! pg_catalog -> SchemaModel (live introspection).

use super::SchemaModel;

/// Read the schema of the connected database (placeholder until the introspection lands).
pub async fn introspect(_conn: &mut sqlx::PgConnection, _schemas: &[String]) -> anyhow::Result<SchemaModel> {
    anyhow::bail!("live introspection is not implemented yet; use --schema")
}
