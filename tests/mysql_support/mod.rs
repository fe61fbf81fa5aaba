//! Shared integration-test helpers: a fresh MariaDB/MySQL database per test (the twin of
//! tests/common's PostgreSQL `TestDb`).
#![allow(dead_code)]

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{ConnectOptions, Executor, MySqlConnection, MySqlPool};

/// Server for integration tests; override with PLANNER_TEST_MYSQL (a URL without a database name).
pub fn server_url() -> String {
    std::env::var("PLANNER_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string())
}

/// A database created for one test: `planner_test_<random>`. Dropped on success; kept when the
/// test panics so it can be inspected (its name is printed).
pub struct TestDb {
    pub name: String,
    /// planner's URL for it (`mysql://…/planner_test_…`).
    pub url: String,
    /// Plain sqlx connections, as an application would open them.
    pub pool: MySqlPool,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let name = format!("planner_test_{:016x}", rand::random::<u64>());
        let mut admin = admin().await;
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.unwrap_or_else(|e| {
            panic!("create database {name}: {e} (is MariaDB running on {}?)", server_url())
        });
        let url = format!("{}/{}", server_url(), name);
        let opts: MySqlConnectOptions = url.parse().expect("PLANNER_TEST_MYSQL is a URL");
        let pool = MySqlPoolOptions::new()
            .max_connections(10)
            .connect_with(opts)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        TestDb { name, url, pool }
    }

    /// Run a multi-statement SQL script (text protocol).
    pub async fn exec(&self, sql: &str) {
        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await {
            panic!("{e}\nwhile running:\n{sql}");
        }
    }

    /// A connection of its own (for a session that must stay open: an idle transaction).
    pub async fn conn(&self) -> MySqlConnection {
        let opts: MySqlConnectOptions = self.url.parse().expect("a URL");
        opts.connect().await.unwrap_or_else(|e| panic!("connect {}: {e}", self.url))
    }

    /// One number from a query.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}\nwhile running:\n{sql}"))
    }

    /// Drop the database. Call at the end of a successful test.
    pub async fn drop(self) {
        self.pool.close().await;
        let mut admin = admin().await;
        let _ = admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {}", self.name))).await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: database {} kept for inspection ({})", self.name, self.url);
        }
    }
}

async fn admin() -> MySqlConnection {
    let opts: MySqlConnectOptions = server_url().parse().expect("PLANNER_TEST_MYSQL is a URL");
    opts.connect().await.unwrap_or_else(|e| panic!("connect {}: {e}", server_url()))
}
