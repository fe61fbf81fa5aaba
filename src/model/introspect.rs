//! pg_catalog -> SchemaModel (live introspection).
