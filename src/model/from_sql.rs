//! schema.sql -> SchemaModel, parsed with sqlparser.
