//! Shared integration-test helpers: a fresh PostgreSQL database per test.
#![allow(dead_code)]

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool};

/// Server for integration tests; override with PLANNER_TEST_PG (a URL without a database name).
pub fn server_url() -> String {
    std::env::var("PLANNER_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// A database created for one test: `planner_test_<random>`. Dropped on success; kept when the
/// test panics so it can be inspected (its name is printed). See `sweep_stale` for clearing them.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let admin = admin_pool().await;
        sweep_stale(&admin).await;
        let name = format!("planner_test_{:016x}", rand::random::<u64>());
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.unwrap_or_else(|e| {
            panic!("create database {name}: {e} (is PostgreSQL running on {}?)", server_url())
        });
        admin.close().await;
        let url = format!("{}/{}", server_url(), name);
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        TestDb { name, url, pool }
    }

    /// Run a multi-statement SQL script (simple query protocol).
    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}\nwhile running:\n{sql}"));
    }

    /// Drop the database. Call at the end of a successful test.
    pub async fn drop(self) {
        self.pool.close().await;
        let admin = admin_pool().await;
        let _ = admin
            .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)))
            .await;
        admin.close().await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: database {} kept for inspection ({})", self.name, self.url);
        }
    }
}

async fn admin_pool() -> PgPool {
    let opts: PgConnectOptions =
        format!("{}/postgres", server_url()).parse().expect("PLANNER_TEST_PG is a URL");
    PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .expect("connect to the postgres database")
}

/// With PLANNER_TEST_SWEEP=1, drop the `planner_test_*` databases kept by failed runs that no
/// session is connected to. Off by default: a test that has just created its database but not
/// yet connected could lose it, and a kept database is there to be inspected.
async fn sweep_stale(admin: &PgPool) {
    if std::env::var("PLANNER_TEST_SWEEP").as_deref() != Ok("1") {
        return;
    }
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT datname FROM pg_database d WHERE datname LIKE 'planner\\_test\\_%'
           AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
    )
    .fetch_all(admin)
    .await
    .unwrap_or_default();
    for (name,) in names {
        let _ = admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\""))).await;
    }
}
