//! The one way planner opens a connection: a connection string (URL or libpq `key=value`) plus the
//! libpq environment (`PGHOST`, `PGSSLMODE`, `~/.pgpass`, ...) -> [`ConnConfig`] -> sqlx options.
//!
//! Every connection (the session, the backfill pool, `plan`'s introspection, `status`) goes
//! through [`connect`] or [`pool`], so TLS, timeouts and `application_name` hold everywhere.
//! Parsing is pure and takes the environment as a function, so it is unit-tested without a server.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{ConnectOptions, PgConnection, PgPool};

use crate::dialect::{Dialect, Flavour};
use crate::error::{CannotRun, InputError};

/// libpq's default is to wait forever; a CI job or a DBA at a prompt wants an answer.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `sslmode` as libpq spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode, InputError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(InputError::new(format!("invalid sslmode `{other}`"))
                    .help("use disable, allow, prefer, require, verify-ca or verify-full"))
            }
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn to_sqlx(self) -> PgSslMode {
        match self {
            SslMode::Disable => PgSslMode::Disable,
            // sqlx's Allow never tries TLS, so a TLS-only server would refuse us; libpq's allow
            // falls back to TLS. Prefer gets there too (TLS when offered, plain otherwise).
            SslMode::Allow => PgSslMode::Prefer,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require => PgSslMode::Require,
            SslMode::VerifyCa => PgSslMode::VerifyCa,
            SslMode::VerifyFull => PgSslMode::VerifyFull,
        }
    }
}

/// Where the CA certificates that vouch for the server come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// The operating system's trust store (`sslrootcert=system`, or no `sslrootcert` at all).
    System,
    File(PathBuf),
}

/// A parsed connection string with the libpq environment applied. `None` means "sqlx's default"
/// (for the host: the local socket directory if one exists, else localhost).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnConfig {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub dbname: Option<String>,
    pub sslmode: SslMode,
    pub sslrootcert: RootCert,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    /// Given by the user (string or PGAPPNAME); wins over planner's own label, as in libpq.
    pub application_name: Option<String>,
    pub connect_timeout: Duration,
    pub options: Option<String>,
    pub passfile: Option<PathBuf>,
}

/// Keys accepted in `key=value` strings and URL query parameters (libpq's names).
const KEYS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "fallback_application_name",
    "connect_timeout",
    "options",
    "passfile",
];

impl ConnConfig {
    /// Parse a connection string as libpq does: `postgres://` / `postgresql://` URLs or
    /// `key=value` pairs; missing parts come from `env` (`PGHOST`, `PGPORT`, ...). Anything
    /// that is not PostgreSQL is bad input, never silently sent to localhost.
    pub fn parse(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<ConnConfig, InputError> {
        let s = s.trim();
        let pairs = if let Some((scheme, _)) = s.split_once("://") {
            if let Some(family) = Flavour::from_url_scheme(scheme).filter(|f| f.is_mysql_family()) {
                // The dialect seam decides whether this build can run plans on that family.
                if let Err(why) = Dialect::planning_default(family).execution() {
                    return Err(InputError::new(format!(
                        "`{scheme}://` is not a PostgreSQL connection string: {why}"
                    ))
                    .help(
                        "planner runs plans on PostgreSQL only for now: use postgres://user@host:5432/db",
                    ));
                }
                // Reached only where this command talks to PostgreSQL (plans for MySQL/MariaDB
                // are dispatched before any PostgreSQL connection).
                return Err(InputError::new(format!(
                    "`{scheme}://` is a {} URL, not a PostgreSQL connection string: this runs on PostgreSQL",
                    family.product()
                ))
                .help("use postgres://user@host:5432/db here, or a plan made with `planner plan --dialect mariadb|mysql` for MySQL/MariaDB"));
            }
            if !matches!(scheme, "postgres" | "postgresql") {
                return Err(InputError::new(format!(
                    "`{scheme}://` is not a PostgreSQL connection string (planner talks to PostgreSQL only)"
                ))
                .help("use postgres://user@host:5432/db or host=... port=... dbname=..."));
            }
            url_pairs(s)?
        } else {
            keyword_pairs(s)?
        };
        let mut raw: Vec<(String, String)> = Vec::new();
        for (key, value) in pairs {
            if !KEYS.contains(&key.as_str()) {
                let mut err = InputError::new(format!("unknown connection parameter `{key}`"));
                if let Some(near) = KEYS.iter().find(|k| strsim::levenshtein(k, &key) <= 2) {
                    err = err.help(format!("did you mean `{near}`?"));
                }
                return Err(err);
            }
            raw.retain(|(k, _)| *k != key);
            raw.push((key, value));
        }
        let get = |key: &str, var: &str| -> Option<String> {
            raw.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .or_else(|| env(var))
                .filter(|v| !v.is_empty())
        };
        let host = get("hostaddr", "PGHOSTADDR").or_else(|| get("host", "PGHOST"));
        if host.as_deref().is_some_and(|h| h.contains(',')) {
            return Err(InputError::new(format!(
                "several hosts (`{}`) are not supported",
                host.unwrap_or_default()
            ))
            .help("name one host; planner must talk to the primary"));
        }
        let port = match get("port", "PGPORT") {
            Some(p) => Some(p.parse::<u16>().map_err(|_| InputError::new(format!("invalid port `{p}`")))?),
            None => None,
        };
        let rootcert = get("sslrootcert", "PGSSLROOTCERT");
        let sslmode = match get("sslmode", "PGSSLMODE") {
            Some(m) => SslMode::parse(&m)?,
            // libpq 16: sslrootcert=system defaults to verify-full.
            None if rootcert.as_deref() == Some("system") => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        let sslrootcert = match rootcert {
            None => RootCert::System,
            Some(s) if s == "system" => {
                if !matches!(sslmode, SslMode::VerifyFull) {
                    return Err(InputError::new(format!(
                        "sslrootcert=system needs sslmode=verify-full (got {})",
                        sslmode.as_str()
                    )));
                }
                RootCert::System
            }
            Some(path) => RootCert::File(PathBuf::from(path)),
        };
        // libpq: `require` with a root certificate given verifies the chain like verify-ca.
        let sslmode = match (&sslrootcert, sslmode) {
            (RootCert::File(_), SslMode::Require) => SslMode::VerifyCa,
            (_, mode) => mode,
        };
        let connect_timeout = match get("connect_timeout", "PGCONNECT_TIMEOUT") {
            None => DEFAULT_CONNECT_TIMEOUT,
            Some(t) => {
                let secs: i64 = t.parse().map_err(|_| {
                    InputError::new(format!("invalid connect_timeout `{t}`"))
                        .help("whole seconds, e.g. connect_timeout=10")
                })?;
                // libpq: 0 or less waits forever; a minimum of 2 s like libpq.
                if secs <= 0 {
                    Duration::from_secs(u32::MAX as u64)
                } else {
                    Duration::from_secs(secs.max(2) as u64)
                }
            }
        };
        Ok(ConnConfig {
            host,
            port,
            user: get("user", "PGUSER"),
            password: get("password", "PGPASSWORD"),
            dbname: get("dbname", "PGDATABASE"),
            sslmode,
            sslrootcert,
            sslcert: get("sslcert", "PGSSLCERT").map(PathBuf::from),
            sslkey: get("sslkey", "PGSSLKEY").map(PathBuf::from),
            application_name: get("application_name", "PGAPPNAME"),
            connect_timeout,
            options: get("options", "PGOPTIONS"),
            passfile: get("passfile", "PGPASSFILE").map(PathBuf::from),
        })
    }

    /// Parse with the process environment.
    pub fn from_env(s: &str) -> Result<ConnConfig, InputError> {
        ConnConfig::parse(s, &|var| std::env::var(var).ok())
    }

    /// sqlx options for this config; `label` is planner's application_name unless the user gave one.
    pub fn pg_options(&self, label: &str) -> PgConnectOptions {
        // Starts from sqlx's defaults for what we leave unset (host socket discovery, OS user).
        let mut o = PgConnectOptions::new_without_pgpass().ssl_mode(self.sslmode.to_sqlx());
        if let Some(host) = &self.host {
            o = if host.starts_with('/') { o.socket(host) } else { o.host(host) };
        }
        if let Some(port) = self.port {
            o = o.port(port);
        }
        if let Some(user) = &self.user {
            o = o.username(user);
        }
        if let Some(db) = &self.dbname {
            o = o.database(db);
        } else {
            // libpq: the database defaults to the user name.
            let user = o.get_username().to_string();
            o = o.database(&user);
        }
        if let RootCert::File(path) = &self.sslrootcert {
            o = o.ssl_root_cert(path);
        }
        if let Some(cert) = &self.sslcert {
            o = o.ssl_client_cert(cert);
        }
        if let Some(key) = &self.sslkey {
            o = o.ssl_client_key(key);
        }
        // sqlx's base already holds PGOPTIONS; a different string's options come after it, and
        // the server lets a later `-c` win.
        if let Some(options) =
            self.options.as_ref().filter(|o| std::env::var("PGOPTIONS").ok().as_ref() != Some(*o))
        {
            o = o.options(parse_options(options));
        }
        o = o.application_name(self.application_name.as_deref().unwrap_or(label));
        let password = self.password.clone().or_else(|| {
            let file = self
                .passfile
                .clone()
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")));
            let host = if o.get_socket().is_some() || o.get_host().starts_with('/') {
                "localhost"
            } else {
                o.get_host()
            };
            file.and_then(|f| {
                pgpass_lookup(&f, host, o.get_port(), o.get_database().unwrap_or_default(), o.get_username())
            })
        });
        if let Some(pw) = password {
            o = o.password(&pw);
        }
        // Every statement is a DEBUG event (target sqlx::query) with its duration; the subscriber
        // shows them only with -v (src/cli/log.rs). Slow ones too: no separate WARN line.
        o.log_statements(log::LevelFilter::Debug)
            .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1))
    }

    /// `host:port/db` for messages (no password).
    pub fn describe(&self) -> String {
        let o = self.pg_options("planner");
        let host =
            o.get_socket().map(|s| s.display().to_string()).unwrap_or_else(|| o.get_host().to_string());
        format!("{host}:{}/{}", o.get_port(), o.get_database().unwrap_or_default())
    }
}

/// `-c key=value -c other=value` (PGOPTIONS) as pairs for sqlx.
fn parse_options(s: &str) -> Vec<(String, String)> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = if words[i] == "-c" {
            i += 1;
            words.get(i).copied().unwrap_or_default()
        } else {
            words[i].strip_prefix("-c").unwrap_or(words[i]).trim_start_matches("--")
        };
        if let Some((k, v)) = w.split_once('=') {
            out.push((k.to_string(), v.to_string()));
        }
        i += 1;
    }
    out
}

fn url_pairs(s: &str) -> Result<Vec<(String, String)>, InputError> {
    let url = url::Url::parse(s).map_err(|e| {
        InputError::new(format!("invalid database URL: {e}"))
            .help("expected postgres://user:password@host:5432/db?sslmode=require")
    })?;
    let decode = |v: &str| -> Result<String, InputError> {
        percent_decode(v).ok_or_else(|| InputError::new("invalid percent-encoding in the database URL"))
    };
    let mut out = Vec::new();
    if let Some(host) = url.host_str().filter(|h| !h.is_empty()) {
        let host = decode(host)?;
        out.push(("host".to_string(), host.trim_start_matches('[').trim_end_matches(']').to_string()));
    }
    if let Some(port) = url.port() {
        out.push(("port".to_string(), port.to_string()));
    }
    if !url.username().is_empty() {
        out.push(("user".to_string(), decode(url.username())?));
    }
    if let Some(pw) = url.password() {
        out.push(("password".to_string(), decode(pw)?));
    }
    let path = url.path().trim_start_matches('/');
    if !path.is_empty() {
        out.push(("dbname".to_string(), decode(path)?));
    }
    // query_pairs already percent-decodes.
    for (k, v) in url.query_pairs() {
        let key = match &*k {
            // sqlx's spellings, so existing DATABASE_URLs keep working
            "ssl-mode" => "sslmode".to_string(),
            "ssl-root-cert" | "ssl-ca" => "sslrootcert".to_string(),
            "ssl-cert" => "sslcert".to_string(),
            "ssl-key" => "sslkey".to_string(),
            other => other.to_string(),
        };
        out.push((key, v.into_owned()));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// libpq's `key=value key2='quoted \' value'` syntax.
fn keyword_pairs(s: &str) -> Result<Vec<(String, String)>, InputError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(InputError::new(format!("missing `=` after `{key}` in the connection string")).help(
                "use a URL (postgres://user@host:5432/db) or key=value pairs (host=db port=5432 dbname=app)",
            ));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(InputError::new(format!(
                            "unterminated quoted value for `{key}` in the connection string"
                        )))
                    }
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

/// The password for host:port:db:user from a pgpass file (`*` matches anything, `\` escapes).
/// Like libpq, a file readable by group or others is ignored on Unix.
fn pgpass_lookup(path: &std::path::Path, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                target: "planner",
                "password file {} has group or world access; permissions should be u=rw (0600) or less",
                path.display()
            );
            return None;
        }
    }
    let text = std::fs::read_to_string(path).ok()?;
    pgpass_find(&text, host, port, db, user)
}

fn pgpass_find(text: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    let wanted = [host, port.as_str(), db, user];
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => cur.extend(chars.next()),
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        fields.push(cur);
        if fields.len() != 5 {
            continue;
        }
        if fields[..4].iter().zip(wanted).all(|(f, w)| f == "*" || f == w) {
            return Some(fields[4].clone());
        }
    }
    None
}

/// Parse `conn` (URL or key=value; empty = environment only) with the process environment.
pub fn config(conn: &str) -> anyhow::Result<ConnConfig> {
    Ok(ConnConfig::from_env(conn)?)
}

/// Open one connection. `label` becomes `application_name` (e.g. `planner/rename_users_name/expand`)
/// unless the user set one.
pub async fn connect(conn: &str, label: &str) -> anyhow::Result<PgConnection> {
    let cfg = config(conn)?;
    let opts = cfg.pg_options(label);
    match tokio::time::timeout(cfg.connect_timeout, opts.connect()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(connect_failure(&cfg, &e).into()),
        Err(_) => Err(timed_out(&cfg).into()),
    }
}

/// A connection that must keep one server backend for its lifetime (it holds planner's advisory
/// lock): refused behind a pooler in transaction mode, see [`ensure_session_pinned`].
pub async fn connect_session(conn: &str, label: &str) -> anyhow::Result<PgConnection> {
    let mut c = connect(conn, label).await?;
    let cfg = config(conn)?;
    let port =
        cfg.host.as_deref().is_none_or(|h| !h.starts_with('/')).then(|| cfg.pg_options(label).get_port());
    ensure_session_pinned(&mut c, port).await?;
    Ok(c)
}

/// Cancel the statement server backend `pid` is running, from a connection of its own (best
/// effort: used when planner is interrupted mid-statement).
pub async fn cancel_backend(conn: &str, pid: i32) {
    if let Ok(mut c) = connect(conn, "planner/cancel").await {
        let _ = sqlx::query("SELECT pg_cancel_backend($1)").bind(pid).execute(&mut c).await;
        let _ = sqlx::Connection::close(c).await;
    }
}

/// A pool of up to `max` connections with the same options as [`connect`].
pub async fn pool(conn: &str, label: &str, max: u32) -> anyhow::Result<PgPool> {
    let cfg = config(conn)?;
    let opts = cfg.pg_options(label);
    let pool = PgPoolOptions::new().max_connections(max).acquire_timeout(cfg.connect_timeout);
    match tokio::time::timeout(cfg.connect_timeout, pool.connect_with(opts)).await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(connect_failure(&cfg, &e).into()),
        Err(_) => Err(timed_out(&cfg).into()),
    }
}

fn timed_out(cfg: &ConnConfig) -> CannotRun {
    CannotRun {
        message: format!(
            "could not connect to {}: no answer within {}s",
            cfg.describe(),
            cfg.connect_timeout.as_secs()
        ),
        help: Some("check the host and port, a firewall, or raise connect_timeout=SECONDS".to_string()),
    }
}

/// Turn sqlx's error into one message naming the server, with a hint for the usual causes.
fn connect_failure(cfg: &ConnConfig, err: &sqlx::Error) -> CannotRun {
    let place = cfg.describe();
    let cause = super::failure::describe_sqlx(err);
    let lower = cause.to_lowercase();
    // sqlx reports rustls' verdict as Error::Tls or as an I/O error, depending on where it surfaced.
    let tls = match err {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(_) => ["certificate", "handshake", "alert"].iter().any(|w| lower.contains(w)),
        _ => false,
    };
    let (message, help) = match err {
        _ if tls => {
            let help = if lower.contains("certificate") {
                let ca = match &cfg.sslrootcert {
                    RootCert::File(p) => format!("sslrootcert={}", p.display()),
                    RootCert::System => "the system trust store".to_string(),
                };
                format!(
                    "the server's certificate was not accepted with sslmode={} and {ca}: point sslrootcert at the CA \
                     that signed it, and connect with the host name the certificate names",
                    cfg.sslmode.as_str()
                )
            } else {
                "check sslmode, sslrootcert, sslcert and sslkey".to_string()
            };
            (format!("could not connect to {place}: TLS: {}", certificate_wording(&cause)), Some(help))
        }
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => (
            format!("could not connect to {place}: connection refused"),
            Some(format!(
                "is PostgreSQL running on {}? check --database-url / DATABASE_URL / --target",
                place.rsplit_once('/').map(|(hp, _)| hp).unwrap_or(&place)
            )),
        ),
        sqlx::Error::Database(db)
            if db.code().as_deref() == Some("28000") && cause.contains("no encryption") =>
        {
            (
                format!("could not connect to {place}: {cause}"),
                Some(
                    "the server accepts only TLS connections: add sslmode=require (or verify-full)"
                        .to_string(),
                ),
            )
        }
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("28P01") | Some("28000")) => (
            format!("could not connect to {place}: {cause}"),
            Some(
                "check the user and password (PGPASSWORD, ~/.pgpass) and the server's pg_hba.conf"
                    .to_string(),
            ),
        ),
        sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000") => (
            format!("could not connect to {place}: {cause}"),
            Some("check the database name (dbname / PGDATABASE)".to_string()),
        ),
        _ => (format!("could not connect to {place}: {cause}"), None),
    };
    CannotRun { message, help }
}

/// rustls names some certificate problems in Rust enum syntax (`UnknownIssuer`); say them in words.
fn certificate_wording(cause: &str) -> String {
    let lower = cause.to_lowercase();
    let words = [
        (
            &["unknownissuer", "unknown issuer"][..],
            "the server's certificate is signed by an unknown certificate authority",
        ),
        (
            &["notvalidforname", "not valid for name"][..],
            "the server's certificate does not match the host name",
        ),
        (&["expired"][..], "the server's certificate has expired"),
        (&["notvalidyet", "not valid yet"][..], "the server's certificate is not valid yet"),
        (&["badsignature", "bad signature"][..], "the server's certificate has a bad signature"),
    ];
    match words.iter().find(|(keys, _)| keys.iter().any(|k| lower.contains(k))) {
        Some((_, w)) => format!("{w} ({cause})"),
        None => cause.to_string(),
    }
}

/// Check what a connection pooler in transaction mode would break: session advisory locks and
/// session `SET`s only hold when every statement runs on the same server backend. Detects a
/// backend that changes between statements (refused) and warns when the server listens on
/// another port than the one we connected to (a proxy or pooler in between).
async fn ensure_session_pinned(conn: &mut PgConnection, client_port: Option<u16>) -> anyhow::Result<()> {
    use sqlx::Row;
    let mut first: Option<i32> = None;
    for _ in 0..3 {
        // Simple protocol: a pooler in transaction mode would lose a prepared statement between
        // backends and fail with a confusing error before we could say what is wrong.
        let pid: i32 = sqlx::raw_sql("SELECT pg_backend_pid()")
            .fetch_one(&mut *conn)
            .await
            .and_then(|row| row.try_get(0))
            .context("checking the backend")?;
        match first {
            None => first = Some(pid),
            Some(first) if first != pid => {
                return Err(crate::error::Refusal::new(format!(
                    "the server backend changed between two statements (pid {first}, then {pid}): this looks like \
                     a connection pooler in transaction or statement mode (PgBouncer pool_mode=transaction), where \
                     planner's one-planner-per-database advisory lock and its lock_timeout would not hold; \
                     connect to PostgreSQL directly or through a session-mode pool"
                ))
                .into());
            }
            Some(_) => {}
        }
    }
    let server_port: Option<i32> = sqlx::raw_sql("SELECT inet_server_port()")
        .fetch_one(&mut *conn)
        .await
        .and_then(|row| row.try_get(0))
        .context("checking the backend")?;
    if let (Some(server), Some(client)) = (server_port, client_port) {
        if server != client as i32 {
            tracing::warn!(
                target: "planner",
                "connected to port {client} but the server listens on {server}: a proxy or pooler is in \
                 between; planner needs a direct connection or a session-mode pool (not PgBouncer transaction mode)"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str, env: &[(&str, &str)]) -> Result<ConnConfig, InputError> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ConnConfig::parse(s, &|var| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()))
    }

    #[test]
    fn urls_and_keyword_strings_mean_the_same() {
        let a = parse(
            "postgres://app:p%40ss@db.example.com:6543/shop?sslmode=verify-full&application_name=x",
            &[],
        )
        .unwrap();
        let b = parse(
            "host=db.example.com port=6543 user=app password='p@ss' dbname=shop sslmode=verify-full application_name=x",
            &[],
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.host.as_deref(), Some("db.example.com"));
        assert_eq!(a.port, Some(6543));
        assert_eq!(a.password.as_deref(), Some("p@ss"));
        assert_eq!(a.sslmode, SslMode::VerifyFull);
    }

    #[test]
    fn environment_fills_what_the_string_leaves_out() {
        let env = [
            ("PGHOST", "envhost"),
            ("PGPORT", "7777"),
            ("PGUSER", "u"),
            ("PGDATABASE", "d"),
            ("PGSSLMODE", "require"),
        ];
        let c = parse("", &env).unwrap();
        assert_eq!(
            (c.host.as_deref(), c.port, c.user.as_deref(), c.dbname.as_deref()),
            (Some("envhost"), Some(7777), Some("u"), Some("d"))
        );
        assert_eq!(c.sslmode, SslMode::Require);
        let c = parse("postgres://h/x?sslmode=disable", &env).unwrap();
        assert_eq!(
            (c.host.as_deref(), c.port, c.dbname.as_deref(), c.sslmode),
            (Some("h"), Some(7777), Some("x"), SslMode::Disable)
        );
    }

    #[test]
    fn quoting_in_keyword_strings() {
        let c = parse(r"host = h password='it\'s a \\ secret' dbname=a\ b", &[]).unwrap();
        assert_eq!(c.password.as_deref(), Some(r"it's a \ secret"));
        assert_eq!(c.dbname.as_deref(), Some("a b"));
        assert!(parse("host=h password='open", &[]).is_err());
        assert!(parse("host", &[]).unwrap_err().to_string().contains("missing `=`"));
    }

    #[test]
    fn refuses_what_is_not_postgres() {
        let e = parse("mysql://root@localhost/app", &[]).unwrap_err().to_string();
        assert!(e.contains("not a PostgreSQL"), "{e}");
        for url in ["mysql://root@localhost/app", "mariadb://root@127.0.0.1:3306/app"] {
            let e = parse(url, &[]).unwrap_err().to_string();
            assert!(e.contains("not a PostgreSQL connection string"), "{e}");
        }
        let e = parse("sqlite://x.db", &[]).unwrap_err().to_string();
        assert!(e.contains("planner talks to PostgreSQL only"), "{e}");
        let e = parse("postgres://h/db?sslmod=require", &[]).unwrap_err().to_string();
        assert!(e.contains("unknown connection parameter `sslmod`") && e.contains("sslmode"), "{e}");
        assert!(parse("postgres://h/db?sslmode=sometimes", &[]).is_err());
        assert!(parse("host=a,b", &[]).is_err());
        assert!(parse("port=99999", &[]).is_err());
    }

    #[test]
    fn sslmode_defaults_follow_libpq() {
        assert_eq!(parse("host=h", &[]).unwrap().sslmode, SslMode::Prefer);
        let c = parse("host=h sslmode=require sslrootcert=/ca.pem", &[]).unwrap();
        assert_eq!((c.sslmode, c.sslrootcert), (SslMode::VerifyCa, RootCert::File("/ca.pem".into())));
        let c = parse("host=h sslrootcert=system", &[]).unwrap();
        assert_eq!((c.sslmode, c.sslrootcert), (SslMode::VerifyFull, RootCert::System));
        assert!(parse("host=h sslrootcert=system sslmode=require", &[]).is_err());
        assert_eq!(parse("host=h", &[]).unwrap().connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(parse("host=h connect_timeout=1", &[]).unwrap().connect_timeout, Duration::from_secs(2));
    }

    #[test]
    fn pgpass_matching() {
        let text = "# comment\nother:5432:*:app:nope\ndb\\:x:*:shop:app:s3cr\\:et\n*:*:*:*:fallback\n";
        assert_eq!(pgpass_find(text, "db:x", 5432, "shop", "app").as_deref(), Some("s3cr:et"));
        assert_eq!(pgpass_find(text, "other", 5432, "shop", "app").as_deref(), Some("nope"));
        assert_eq!(pgpass_find(text, "else", 1, "d", "u").as_deref(), Some("fallback"));
        assert_eq!(pgpass_find("h:5432:d:u:pw", "h", 5433, "d", "u"), None);
    }

    #[test]
    fn pgoptions() {
        assert_eq!(
            parse_options("-c search_path=x -cwork_mem=64MB --geqo=off"),
            vec![
                ("search_path".to_string(), "x".to_string()),
                ("work_mem".to_string(), "64MB".to_string()),
                ("geqo".to_string(), "off".to_string())
            ]
        );
    }
}
