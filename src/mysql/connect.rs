//! Opening a MySQL/MariaDB connection the way planner needs it: `mysql://` / `mariadb://` URLs,
//! TLS through `ssl-mode`, a connect timeout, and a session whose settings match what the
//! application's own sessions run with (so triggers planner creates behave like theirs) plus the
//! bounded waits that keep DDL from queueing the application behind it.
//!
//! Parsing is pure (unit-tested without a server); [`MySession::open`] does the I/O.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::{ConnectOptions, Connection, MySqlConnection};

use crate::error::{CannotRun, InputError, Refusal};

/// The server's own default is to wait for the OS TCP timeout; a CI job wants an answer.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `ssl-mode` as MySQL's client spells it (libpq's spellings are accepted too, so one planner.yaml
/// vocabulary works for both servers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disabled,
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode, InputError> {
        Ok(match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "disabled" | "disable" => SslMode::Disabled,
            "preferred" | "prefer" => SslMode::Preferred,
            "required" | "require" => SslMode::Required,
            "verify_ca" => SslMode::VerifyCa,
            "verify_identity" | "verify_full" => SslMode::VerifyIdentity,
            _ => {
                return Err(InputError::new(format!("invalid ssl-mode `{s}`"))
                    .help("use DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY"))
            }
        })
    }

    fn to_sqlx(self) -> MySqlSslMode {
        match self {
            SslMode::Disabled => MySqlSslMode::Disabled,
            SslMode::Preferred => MySqlSslMode::Preferred,
            SslMode::Required => MySqlSslMode::Required,
            SslMode::VerifyCa => MySqlSslMode::VerifyCa,
            SslMode::VerifyIdentity => MySqlSslMode::VerifyIdentity,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disabled => "DISABLED",
            SslMode::Preferred => "PREFERRED",
            SslMode::Required => "REQUIRED",
            SslMode::VerifyCa => "VERIFY_CA",
            SslMode::VerifyIdentity => "VERIFY_IDENTITY",
        }
    }
}

/// A parsed `mysql://` or `mariadb://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyConnConfig {
    pub host: String,
    pub port: u16,
    /// A Unix socket path (`?socket=/run/mysqld/mysqld.sock`); wins over host and port.
    pub socket: Option<PathBuf>,
    pub user: String,
    pub password: Option<String>,
    /// The database planner works in: required, since its state tables and lock name live there.
    pub database: String,
    pub ssl_mode: SslMode,
    pub ssl_ca: Option<PathBuf>,
    pub ssl_cert: Option<PathBuf>,
    pub ssl_key: Option<PathBuf>,
    pub connect_timeout: Duration,
}

/// Query parameters accepted in the URL (MySQL client spellings; `_` and `-` both work).
const KEYS: &[&str] = &["ssl-mode", "ssl-ca", "ssl-cert", "ssl-key", "connect-timeout", "socket"];

impl MyConnConfig {
    /// Parse `mysql://user:password@host:3306/db?ssl-mode=REQUIRED`; `mariadb://` means the same
    /// (sqlx has one driver for both). Anything else is bad input, never silently sent elsewhere.
    pub fn parse(s: &str) -> Result<MyConnConfig, InputError> {
        let s = s.trim();
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(InputError::new("a MySQL/MariaDB connection needs a URL")
                .help("use mysql://user:password@host:3306/db or mariadb://…"));
        };
        if !matches!(scheme, "mysql" | "mariadb") {
            return Err(InputError::new(format!("`{scheme}://` is not a MySQL or MariaDB URL"))
                .help("use mysql://user:password@host:3306/db or mariadb://…"));
        }
        // `url` treats non-special schemes alike; parse under one name so both behave the same.
        let url = url::Url::parse(&format!("mysql://{rest}")).map_err(|e| {
            InputError::new(format!("invalid database URL: {e}"))
                .help("expected mysql://user:password@host:3306/db?ssl-mode=REQUIRED")
        })?;
        let decode = |v: &str| -> Result<String, InputError> {
            percent_decode(v).ok_or_else(|| InputError::new("invalid percent-encoding in the database URL"))
        };
        let database = decode(url.path().trim_start_matches('/'))?;
        if database.is_empty() || database.contains('/') {
            return Err(InputError::new("the URL names no database")
                .help("planner works in one database: mysql://user@host:3306/DATABASE"));
        }
        let mut cfg = MyConnConfig {
            host: url
                .host_str()
                .filter(|h| !h.is_empty())
                .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string())
                .unwrap_or_else(|| "localhost".to_string()),
            port: url.port().unwrap_or(3306),
            socket: None,
            user: if url.username().is_empty() { "root".to_string() } else { decode(url.username())? },
            password: url.password().map(decode).transpose()?,
            database,
            ssl_mode: SslMode::Preferred,
            ssl_ca: None,
            ssl_cert: None,
            ssl_key: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        };
        let mut mode_given = false;
        for (k, v) in url.query_pairs() {
            let key = k.replace('_', "-").to_ascii_lowercase();
            match key.as_str() {
                "ssl-mode" => {
                    cfg.ssl_mode = SslMode::parse(&v)?;
                    mode_given = true;
                }
                "ssl-ca" => cfg.ssl_ca = Some(PathBuf::from(&*v)),
                "ssl-cert" => cfg.ssl_cert = Some(PathBuf::from(&*v)),
                "ssl-key" => cfg.ssl_key = Some(PathBuf::from(&*v)),
                "socket" => cfg.socket = Some(PathBuf::from(&*v)),
                "connect-timeout" => {
                    let secs: u64 = v.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        InputError::new(format!("invalid connect-timeout `{v}`"))
                            .help("whole seconds greater than 0, e.g. connect-timeout=10")
                    })?;
                    cfg.connect_timeout = Duration::from_secs(secs);
                }
                _ => {
                    let mut err = InputError::new(format!("unknown connection parameter `{k}`"));
                    if let Some(near) = KEYS.iter().find(|c| strsim::levenshtein(c, &key) <= 2) {
                        err = err.help(format!("did you mean `{near}`?"));
                    }
                    return Err(err);
                }
            }
        }
        // Like the mysql client: a CA file without a mode means "verify the chain".
        if !mode_given && cfg.ssl_ca.is_some() {
            cfg.ssl_mode = SslMode::VerifyCa;
        }
        if cfg.ssl_mode == SslMode::Disabled && (cfg.ssl_ca.is_some() || cfg.ssl_cert.is_some()) {
            return Err(InputError::new("ssl-mode=DISABLED with ssl-ca/ssl-cert given")
                .help("drop the certificates or use ssl-mode=VERIFY_CA / VERIFY_IDENTITY"));
        }
        Ok(cfg)
    }

    /// sqlx options: PIPES_AS_CONCAT and `time_zone='+00:00'` off (sqlx turns both on at connect;
    /// a trigger created under PIPES_AS_CONCAT keeps concatenating where the application's `||`
    /// is OR, and NOW() in a backfill expression would be UTC instead of the application's zone).
    pub fn options(&self) -> MySqlConnectOptions {
        let mut o = MySqlConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.user)
            .database(&self.database)
            .ssl_mode(self.ssl_mode.to_sqlx())
            .pipes_as_concat(false)
            .timezone(None);
        if let Some(socket) = &self.socket {
            o = o.socket(socket);
        }
        if let Some(pw) = &self.password {
            o = o.password(pw);
        }
        if let Some(ca) = &self.ssl_ca {
            o = o.ssl_ca(ca);
        }
        if let Some(cert) = &self.ssl_cert {
            o = o.ssl_client_cert(cert);
        }
        if let Some(key) = &self.ssl_key {
            o = o.ssl_client_key(key);
        }
        o.log_statements(log::LevelFilter::Debug)
            .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1))
    }

    /// `host:port/db` for messages (no password).
    pub fn describe(&self) -> String {
        match &self.socket {
            Some(s) => format!("{}/{}", s.display(), self.database),
            None => format!("{}:{}/{}", self.host, self.port, self.database),
        }
    }

    /// Open one connection within the connect timeout (no session setup: see [`MySession`]).
    pub async fn connect(&self) -> anyhow::Result<MySqlConnection> {
        match tokio::time::timeout(self.connect_timeout, self.options().connect()).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(connect_failure(self, &e).into()),
            Err(_) => Err(CannotRun {
                message: format!(
                    "could not connect to {}: no answer within {}s",
                    self.describe(),
                    self.connect_timeout.as_secs()
                ),
                help: Some("check the host and port, a firewall, or raise connect-timeout=SECONDS".into()),
            }
            .into()),
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(s.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// sqlx's connect error as one message naming the server, with a hint for the usual causes.
fn connect_failure(cfg: &MyConnConfig, err: &sqlx::Error) -> CannotRun {
    let place = cfg.describe();
    let number = err
        .as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().map(|m| m.number()));
    let cause = super::error::describe(err);
    let lower = cause.to_lowercase();
    let help = match (err, number) {
        (_, Some(1045)) => Some("check the user and password in the URL".to_string()),
        (_, Some(1049)) => Some(format!("create database {} first, or fix the URL's database", cfg.database)),
        (_, Some(1044)) => Some(format!("grant the user access to database {}", cfg.database)),
        (sqlx::Error::Tls(_), _) => Some(format!(
            "TLS failed with ssl-mode={}: check ssl-ca, ssl-cert, ssl-key and that the server has TLS enabled \
             (`SHOW VARIABLES LIKE 'have_ssl'`)",
            cfg.ssl_mode.as_str()
        )),
        (sqlx::Error::Io(io), _) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            Some(format!("is MySQL/MariaDB running on {}?", place.rsplit_once('/').map_or(&*place, |p| p.0)))
        }
        _ if lower.contains("tls") || lower.contains("ssl") || lower.contains("certificate") => Some(format!(
            "TLS failed with ssl-mode={}: check ssl-ca, ssl-cert, ssl-key and that the server has TLS enabled",
            cfg.ssl_mode.as_str()
        )),
        _ => None,
    };
    CannotRun { message: format!("could not connect to {place}: {cause}"), help }
}

/// Which server this is: the rules (INSTANT, NOCOPY, `max_statement_time`, `IF NOT EXISTS`
/// forms) differ between the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Flavour {
    MariaDb,
    MySql,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What `SELECT VERSION()` says (never the handshake: MariaDB 10.x sends `5.5.5-10.11.19-…` there).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerInfo {
    pub flavour: Flavour,
    pub version: Version,
    /// The full text, e.g. `10.11.19-MariaDB-0+deb12u1`.
    pub version_text: String,
}

impl ServerInfo {
    pub fn parse(text: &str) -> Result<ServerInfo, String> {
        let flavour =
            if text.to_ascii_lowercase().contains("mariadb") { Flavour::MariaDb } else { Flavour::MySql };
        let numbers = text.strip_prefix("5.5.5-").filter(|_| flavour == Flavour::MariaDb).unwrap_or(text);
        let head: String = numbers.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        let mut parts = head.split('.').map(|p| p.parse::<u32>());
        let mut next = || parts.next().and_then(Result::ok);
        let (Some(major), Some(minor)) = (next(), next()) else {
            return Err(format!("cannot read a server version from `{text}`"));
        };
        let patch = next().unwrap_or(0);
        Ok(ServerInfo { flavour, version: Version { major, minor, patch }, version_text: text.to_string() })
    }

    pub fn is_mariadb(&self) -> bool {
        self.flavour == Flavour::MariaDb
    }
}

/// Bounds for one session. Mirrors the PostgreSQL `SessionOptions`.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    /// How long one DDL statement may wait for its metadata lock (`lock_wait_timeout`, whole
    /// seconds, at least 1) before it gives up and is retried. Every later query on the table
    /// queues behind a waiting DDL, so this is also the longest the application waits.
    pub lock_timeout: Duration,
    /// `innodb_lock_wait_timeout`: how long a row lock is waited for (whole seconds, at least 1).
    pub row_lock_timeout: Duration,
    /// MariaDB `max_statement_time` (applies to DDL as well). MySQL has only
    /// `max_execution_time`, for SELECT, so there it is not set.
    pub statement_timeout: Option<Duration>,
    /// Retries after a lock wait timeout or deadlock, with exponential backoff and jitter.
    pub retries: u32,
    /// First backoff; doubled on each retry, capped at 10 s (backend::retry).
    pub backoff: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            lock_timeout: Duration::from_secs(2),
            row_lock_timeout: Duration::from_secs(1),
            statement_timeout: Some(Duration::from_secs(30)),
            retries: 5,
            backoff: Duration::from_millis(200),
        }
    }
}

/// Whole seconds for `lock_wait_timeout` / `innodb_lock_wait_timeout`: rounded *down* (the value
/// bounds how long the application may queue, so it must not grow), but at least 1 (0 would mean
/// "fail at once" on some versions and is refused on others).
pub fn whole_seconds(d: Duration) -> u64 {
    d.as_secs().max(1)
}

/// Is this `sql_mode` strict for InnoDB tables? Without it, `MODIFY … NOT NULL` turns NULLs into
/// `''`/`0` with a warning and an INSERT missing a NOT NULL column succeeds (measured).
pub fn check_sql_mode(mode: &str) -> Result<(), Refusal> {
    let strict = mode.split(',').any(|m| matches!(m.trim(), "STRICT_TRANS_TABLES" | "STRICT_ALL_TABLES"));
    if strict {
        return Ok(());
    }
    Err(Refusal::new(format!(
        "the server's sql_mode `{mode}` has no STRICT_TRANS_TABLES: without it a `MODIFY … NOT NULL` silently \
         turns NULLs into ''/0 and a missing NOT NULL value is only a warning, so planner's checks would not \
         hold\n  help: SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',STRICT_TRANS_TABLES'); and add it to \
         sql_mode in the [mysqld] section of the server's configuration so it survives a restart"
    )))
}

/// One planner connection with planner's session settings applied (see [`MySession::open`]).
pub struct MySession {
    pub(crate) conn: MySqlConnection,
    pub server: ServerInfo,
    pub limits: SessionLimits,
    pub config: MyConnConfig,
    /// `CONNECTION_ID()`: the thread id other sessions see in PROCESSLIST.
    pub connection_id: u64,
}

impl MySession {
    /// Connect to `url` and set the session up:
    /// - `sql_mode` = the server's global mode (what applications get), refused unless strict;
    /// - `lock_wait_timeout`, `innodb_lock_wait_timeout` from `limits`;
    /// - MariaDB: `max_statement_time`;
    /// - the flavour and version from `SELECT VERSION()`.
    pub async fn open(url: &str, limits: SessionLimits) -> anyhow::Result<MySession> {
        let config = MyConnConfig::parse(url)?;
        MySession::open_with(config, limits).await
    }

    pub async fn open_with(config: MyConnConfig, limits: SessionLimits) -> anyhow::Result<MySession> {
        let mut conn = config.connect().await?;
        let (version_text, connection_id, global_mode): (String, u64, String) =
            sqlx::query_as("SELECT VERSION(), CONNECTION_ID(), @@GLOBAL.sql_mode")
                .fetch_one(&mut conn)
                .await
                .context("reading the server version")?;
        let server = ServerInfo::parse(&version_text).map_err(anyhow::Error::msg)?;
        check_sql_mode(&global_mode)?;
        let mut setup = vec![
            // sqlx appended its own modes at connect; back to exactly what applications run with.
            "SET SESSION sql_mode = @@GLOBAL.sql_mode".to_string(),
            format!("SET SESSION lock_wait_timeout = {}", whole_seconds(limits.lock_timeout)),
            format!("SET SESSION innodb_lock_wait_timeout = {}", whole_seconds(limits.row_lock_timeout)),
        ];
        if server.is_mariadb() {
            let secs = limits.statement_timeout.map_or(0.0, |d| d.as_secs_f64());
            setup.push(format!("SET SESSION max_statement_time = {secs:.3}"));
        }
        for statement in &setup {
            sqlx::raw_sql(super::dynamic(statement.as_str()))
                .execute(&mut conn)
                .await
                .with_context(|| format!("setting up the session: {statement}"))?;
        }
        Ok(MySession { conn, server, limits, config, connection_id })
    }

    /// The underlying connection, with planner's session settings.
    pub fn conn(&mut self) -> &mut MySqlConnection {
        &mut self.conn
    }

    /// The session's current `sql_mode` (for checks and messages).
    pub async fn sql_mode(&mut self) -> anyhow::Result<String> {
        Ok(sqlx::query_scalar("SELECT @@SESSION.sql_mode").fetch_one(&mut self.conn).await?)
    }

    pub async fn close(self) -> anyhow::Result<()> {
        self.conn.close().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_and_mariadb_urls_mean_the_same() {
        let a = MyConnConfig::parse("mysql://app:p%40ss@db.example.com:3307/shop?ssl-mode=REQUIRED").unwrap();
        let b =
            MyConnConfig::parse("mariadb://app:p%40ss@db.example.com:3307/shop?ssl_mode=required").unwrap();
        assert_eq!(a, b);
        assert_eq!((a.host.as_str(), a.port, a.user.as_str()), ("db.example.com", 3307, "app"));
        assert_eq!((a.password.as_deref(), a.database.as_str()), (Some("p@ss"), "shop"));
        assert_eq!(a.ssl_mode, SslMode::Required);
        let d = MyConnConfig::parse("mysql://h/db").unwrap();
        assert_eq!((d.port, d.user.as_str(), d.ssl_mode), (3306, "root", SslMode::Preferred));
        assert_eq!(d.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    }

    #[test]
    fn tls_and_timeout_parameters() {
        let c = MyConnConfig::parse("mysql://h/db?ssl-ca=/ca.pem&connect-timeout=3").unwrap();
        assert_eq!(
            (c.ssl_mode, c.ssl_ca.as_deref()),
            (SslMode::VerifyCa, Some(std::path::Path::new("/ca.pem")))
        );
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        let c = MyConnConfig::parse("mysql://h/db?ssl-mode=verify-full").unwrap();
        assert_eq!(c.ssl_mode, SslMode::VerifyIdentity);
        assert!(MyConnConfig::parse("mysql://h/db?ssl-mode=DISABLED&ssl-ca=/ca.pem").is_err());
        assert!(MyConnConfig::parse("mysql://h/db?connect-timeout=0").is_err());
    }

    #[test]
    fn bad_urls_say_what_to_write() {
        let e = MyConnConfig::parse("postgres://h/db").unwrap_err().to_string();
        assert!(e.contains("not a MySQL or MariaDB URL"), "{e}");
        let e = MyConnConfig::parse("mysql://u:secret@h:3306").unwrap_err().to_string();
        assert!(e.contains("names no database") && !e.contains("secret"), "{e}");
        let e = MyConnConfig::parse("mysql://h/db?sslmode=REQUIRED").unwrap_err().to_string();
        assert!(e.contains("unknown connection parameter `sslmode`") && e.contains("ssl-mode"), "{e}");
        assert!(MyConnConfig::parse("mysql://h/db?ssl-mode=sometimes").is_err());
    }

    #[test]
    fn server_version_and_flavour() {
        let m = ServerInfo::parse("10.11.19-MariaDB-0+deb12u1").unwrap();
        assert_eq!((m.flavour, m.version), (Flavour::MariaDb, Version { major: 10, minor: 11, patch: 19 }));
        let h = ServerInfo::parse("5.5.5-10.11.19-MariaDB-log").unwrap();
        assert_eq!(h.version, m.version);
        let my = ServerInfo::parse("8.0.36").unwrap();
        assert_eq!((my.flavour, my.version.to_string()), (Flavour::MySql, "8.0.36".to_string()));
        assert!(ServerInfo::parse("garbage").is_err());
    }

    #[test]
    fn strict_mode_is_required() {
        assert!(check_sql_mode("STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION").is_ok());
        assert!(check_sql_mode("STRICT_ALL_TABLES").is_ok());
        let e = check_sql_mode("NO_ENGINE_SUBSTITUTION").unwrap_err().to_string();
        assert!(e.contains("STRICT_TRANS_TABLES") && e.contains("SET GLOBAL sql_mode"), "{e}");
        assert!(check_sql_mode("").is_err());
    }

    #[test]
    fn timeouts_are_whole_seconds_at_least_one() {
        assert_eq!(whole_seconds(Duration::from_millis(300)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(2900)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(5)), 5);
    }
}
