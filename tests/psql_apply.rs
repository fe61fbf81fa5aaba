//! The generated SQL files, run as a reviewer would run them: `psql -v ON_ERROR_STOP=1 -f`.
//!
//! For every golden plan: expand.up then expand.down restores the schema exactly (pg_dump) and
//! keeps every row; expand.up, backfill until `UPDATE 0`, contract.up ends in the same schema and
//! data as the naive one-line migration applied to a copy (column order aside).

mod common;
mod exec_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestDb;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn psql_file(db: &TestDb, file: &Path) -> String {
    let out = Command::new("psql")
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-f"])
        .arg(file)
        .output()
        .expect("psql is installed");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "psql -f {} failed:\n{}\n{}",
        file.display(),
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Schema in a form that ignores column order: columns, indexes, constraints, triggers, functions.
async fn catalog(db: &TestDb) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(
        r#"
        SELECT format('column %s.%s %s notnull=%s default=%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                      a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname IN ('public', 'billing') AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT format('index %s', pg_get_indexdef(i.indexrelid)) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'billing')
        UNION ALL
        SELECT format('constraint %s %s %s valid=%s', c.relname, k.conname, pg_get_constraintdef(k.oid), k.convalidated)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('public', 'billing')
        UNION ALL
        SELECT format('trigger %s', tgname) FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL
        SELECT format('function %s', p.proname) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname IN ('public', 'billing')
        ORDER BY 1"#,
    )
    .fetch_all(&db.pool)
    .await
    .expect("catalog query");
    rows.into_iter().map(|r| r.0).collect()
}

/// Every row of every table, as jsonb (key order normalised), in primary-key order.
async fn data(db: &TestDb) -> Vec<String> {
    let mut out = Vec::new();
    for (table, key) in [
        ("users", "id"),
        ("orders", "\"Order Id\""),
        ("order_items", "order_id, line_no"),
        ("billing.invoices", "id"),
        ("tickets", "id"),
        ("ticket_events", "id"),
    ] {
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT to_jsonb(t)::text FROM {table} t ORDER BY {key}"
        )))
        .fetch_all(&db.pool)
        .await
        .expect("data query");
        out.push(format!("{table}: {} rows", rows.len()));
        out.extend(rows.into_iter().map(|r| r.0));
    }
    out
}

/// Row-by-row comparison that prints the first difference, not both tables.
fn assert_same_rows(actual: &[String], expected: &[String], what: &str) {
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a, e, "{what}: row {i} differs");
    }
    assert_eq!(actual.len(), expected.len(), "{what}: row counts differ");
}

async fn seeded_db() -> TestDb {
    let db = TestDb::new().await;
    psql_file(&db, &root().join("examples/schema.sql"));
    psql_file(&db, &root().join("tests/fixtures/seed.sql"));
    db
}

async fn check_plan(plan: &str, naive_migration: &str) {
    let dir = root().join("plans").join(plan);
    let file = |name: &str| dir.join(name);

    let db = seeded_db().await;
    let schema_before = exec_support::pg_dump_schema(&db.url);
    let data_before = data(&db).await;

    // An expand that cannot be undone safely (a catalog-only widening: narrowing back would
    // rewrite the table) has a down file that fails on purpose.
    let reversible = file("expand.down.sql").exists()
        && !std::fs::read_to_string(file("expand.down.sql")).unwrap_or_default().contains("CANNOT BE UNDONE");
    if file("expand.up.sql").exists() && !reversible {
        psql_file(&db, &file("expand.up.sql"));
    }
    if file("expand.up.sql").exists() && reversible {
        psql_file(&db, &file("expand.up.sql"));
        psql_file(&db, &file("expand.down.sql"));
        assert_eq!(
            exec_support::pg_dump_schema(&db.url),
            schema_before,
            "{plan}: expand.down must restore the schema exactly"
        );
        assert_same_rows(
            &data(&db).await,
            &data_before,
            &format!("{plan}: expand + down must not change any row"),
        );
        psql_file(&db, &file("expand.up.sql"));
    }
    if file("backfill.sql").exists() {
        let mut rounds = 0;
        loop {
            let out = psql_file(&db, &file("backfill.sql"));
            let counts: Vec<&str> = out.lines().filter(|l| l.starts_with("UPDATE ")).collect();
            assert!(!counts.is_empty(), "backfill.sql reports its UPDATE counts");
            if counts.iter().all(|c| *c == "UPDATE 0") {
                break;
            }
            rounds += 1;
            assert!(rounds < 50, "{plan}: backfill.sql does not converge");
        }
        assert!(rounds >= 1, "{plan}: backfill.sql updated nothing");
    }
    if file("contract.up.sql").exists() {
        psql_file(&db, &file("contract.up.sql"));
    }

    let reference = seeded_db().await;
    reference.exec(naive_migration).await;
    assert_eq!(
        catalog(&db).await,
        catalog(&reference).await,
        "{plan}: final schema differs from the naive migration's"
    );
    assert_same_rows(
        &data(&db).await,
        &data(&reference).await,
        &format!("{plan}: final data vs the naive migration's"),
    );
    reference.drop().await;
    db.drop().await;
}

#[tokio::test]
async fn rename_users_name() {
    check_plan("rename_users_name", "ALTER TABLE users RENAME COLUMN name TO full_name").await;
}

#[tokio::test]
async fn rename_orders_mixedcase() {
    check_plan("rename_orders_mixedcase", r#"ALTER TABLE orders RENAME COLUMN "MixedCase" TO "Gift Note""#)
        .await;
}

#[tokio::test]
async fn add_users_email_verified() {
    check_plan(
        "add_users_email_verified",
        "ALTER TABLE users ADD COLUMN email_verified boolean;
         UPDATE users SET email_verified = (verified_at IS NOT NULL);
         ALTER TABLE users ALTER COLUMN email_verified SET NOT NULL;",
    )
    .await;
}

#[tokio::test]
async fn add_orders_gift_wrap() {
    check_plan(
        "add_orders_gift_wrap",
        "ALTER TABLE orders ADD COLUMN gift_wrap boolean NOT NULL DEFAULT false",
    )
    .await;
}

#[tokio::test]
async fn drop_users_legacy_flag() {
    check_plan("drop_users_legacy_flag", "ALTER TABLE users DROP COLUMN legacy_flag").await;
}

#[tokio::test]
async fn set_not_null_users_email() {
    check_plan(
        "set_not_null_users_email",
        "UPDATE users SET email = 'unknown+' || id || '@example.invalid' WHERE email IS NULL;
         ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
    )
    .await;
}

#[tokio::test]
async fn rename_billing_invoices_amount_cents() {
    check_plan(
        "rename_billing_invoices_amount_cents",
        "ALTER TABLE billing.invoices RENAME COLUMN amount_cents TO total_cents",
    )
    .await;
}

#[tokio::test]
async fn change_type_users_name() {
    check_plan("change_type_users_name", "ALTER TABLE users ALTER COLUMN name TYPE varchar(400)").await;
}

#[tokio::test]
async fn change_type_tickets_id() {
    check_plan(
        "change_type_tickets_id",
        "ALTER TABLE tickets ALTER COLUMN id TYPE bigint;
         ALTER TABLE ticket_events ALTER COLUMN ticket_id TYPE bigint;
         ALTER SEQUENCE tickets_id_seq AS bigint;",
    )
    .await;
}

#[tokio::test]
async fn change_type_ticket_events_id() {
    check_plan("change_type_ticket_events_id", "ALTER TABLE ticket_events ALTER COLUMN id TYPE bigint").await;
}

#[tokio::test]
async fn change_type_tickets_code() {
    check_plan(
        "change_type_tickets_code",
        "ALTER TABLE tickets ALTER COLUMN code TYPE integer USING trim(code)::integer",
    )
    .await;
}

#[tokio::test]
async fn change_type_tickets_closed_at() {
    check_plan(
        "change_type_tickets_closed_at",
        "SET TimeZone = 'UTC'; ALTER TABLE tickets ALTER COLUMN closed_at TYPE timestamptz",
    )
    .await;
}

/// The view over the column is dropped and re-created in the swap: the naive migration has to do
/// the same by hand (PostgreSQL refuses the ALTER while the view exists), and both end identical.
#[tokio::test]
async fn change_type_tickets_opened_at() {
    check_plan(
        "change_type_tickets_opened_at",
        "SET TimeZone = 'UTC'; DROP VIEW ticket_openings;
         ALTER TABLE tickets ALTER COLUMN opened_at TYPE timestamptz;
         CREATE VIEW ticket_openings AS SELECT opened_at, opened_at >= timestamp '2025-01-01' AS recent FROM tickets",
    )
    .await;
}

#[test]
fn every_golden_plan_has_a_psql_test() {
    let source = include_str!("psql_apply.rs");
    for entry in std::fs::read_dir(root().join("plans")).expect("plans/") {
        let name = entry.expect("entry").file_name().to_string_lossy().to_string();
        assert!(
            source.contains(&format!("check_plan(\"{name}\"")) || source.contains(&format!("\"{name}\",")),
            "plans/{name} has no psql_apply test"
        );
    }
}

/// `pg_dump --schema-only` output (psql meta-commands, identity sequences, OWNER TO, ...) is a
/// valid --schema source and describes the same tables as the hand-written schema file.
#[tokio::test]
async fn pg_dump_output_is_a_schema_source() {
    let db = seeded_db().await;
    let dump = exec_support::pg_dump_schema(&db.url);
    let from_dump =
        planner::model::from_sql::parse_schema(&dump, "dump.sql", 15).expect("pg_dump output parses");
    let text = std::fs::read_to_string(root().join("examples/schema.sql")).expect("schema");
    let from_file = planner::model::from_sql::parse_schema(&text, "schema.sql", 15).expect("schema parses");
    let shape = |m: &planner::model::SchemaModel| {
        m.tables
            .values()
            .map(|t| {
                let cols: Vec<String> = t
                    .columns
                    .iter()
                    .map(|c| format!("{} {} {}", c.name.as_str(), c.data_type, c.not_null))
                    .collect();
                let idx: Vec<&str> = t.indexes.iter().map(|i| i.name.as_str()).collect();
                let cons: Vec<&str> = t.constraints.iter().map(|c| c.name.as_str()).collect();
                format!("{}: {cols:?} {idx:?} {cons:?}", t.name.display_short())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&from_dump), shape(&from_file));
    db.drop().await;
}

#[tokio::test]
async fn rename_users_name_with_length() {
    check_plan(
        "rename_users_name_with_length",
        "ALTER TABLE users RENAME COLUMN name TO full_name;
         ALTER TABLE users ADD COLUMN name_len integer;
         UPDATE users SET name_len = length(full_name);
         ALTER TABLE users ALTER COLUMN name_len SET NOT NULL;",
    )
    .await;
}
