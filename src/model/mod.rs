//! The schema model: tables, columns, indexes, constraints, views and their dependencies.
