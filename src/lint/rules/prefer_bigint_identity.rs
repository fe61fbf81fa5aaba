//! prefer-bigint-identity
use super::prelude::*;
use super::is_small_int_type;

pub struct PreferBigintIdentity;

pub static META: RuleMeta = RuleMeta {
    id: "prefer-bigint-identity",
    severity: Severity::Info,
    summary: "A 32-bit or serial primary key: prefer bigint GENERATED ALWAYS AS IDENTITY",
    docs: "\
## Problem
`CREATE TABLE orders (id serial PRIMARY KEY, ...)`

## Why it matters
`int` keys run out at 2^31; widening a primary key later is a full rewrite of the table and of
every referencing column. `serial` hides a sequence with loose ownership and permissions.

## What to do
`id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY`.
",
};

impl Rule for PreferBigintIdentity {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    fn check(&self, stmt: &Stmt, _cx: &FileCx, out: &mut Findings) {
        let Some(Statement::CreateTable(ct)) = stmt.ast() else { return };
        let mut pk_columns: Vec<String> = ct
            .constraints
            .iter()
            .filter_map(|c| match c {
                TableConstraint::PrimaryKey(p) if p.columns.len() == 1 => Some(p.columns[0].to_string().to_lowercase()),
                _ => None,
            })
            .collect();
        for col in &ct.columns {
            if col.options.iter().any(|o| matches!(o.option, ColumnOption::PrimaryKey(_))) {
                pk_columns.push(col.name.to_string().to_lowercase());
            }
        }
        for col in &ct.columns {
            let ty = col.data_type.to_string();
            if pk_columns.contains(&col.name.to_string().to_lowercase()) && is_small_int_type(&ty) {
                out.report(&META, format!("primary key {}.{} is {}: prefer bigint GENERATED ALWAYS AS IDENTITY", ct.name, col.name, ty.to_lowercase()))
                    .help(format!("{} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", col.name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::*;

    const ID: &str = "prefer-bigint-identity";

    #[test]
    fn flags_serial_and_int_keys() {
        assert_eq!(count("CREATE TABLE a (id serial PRIMARY KEY);\nCREATE TABLE b (id int, PRIMARY KEY (id));", ID), 2);
    }

    #[test]
    fn bigint_identity_is_fine() {
        assert_eq!(count("CREATE TABLE a (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n int);", ID), 0);
    }
}
