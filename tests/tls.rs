//! Connections as managed PostgreSQL services demand them: TLS only, certificates checked, libpq's
//! environment and connection strings. Each test starts a private cluster (initdb + pg_ctl on a
//! free port, `ssl=on`, hostssl-only pg_hba, a CA and server certificate made by rcgen) and stops
//! it when it ends, whatever happens.

mod cluster_support;

use assert_cmd::Command;
use predicates::prelude::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection, Executor};

/// A CA: its certificate (PEM) and the issuer that signs with it.
struct Ca {
    pem: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

fn new_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let issuer =
        CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("self-signed ca");
    Ca { pem: issuer.pem(), issuer }
}

/// A leaf certificate signed by `ca`: (certificate PEM, private key PEM).
fn leaf(ca: &Ca, common_name: &str, sans: &[&str], expired: bool) -> (String, String) {
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("leaf");
    params.distinguished_name.push(DnType::CommonName, common_name);
    if expired {
        params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    }
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &ca.issuer).expect("sign leaf");
    (cert.pem(), key.serialize_pem())
}

/// A private cluster with TLS on (stopped and removed on drop, see `cluster_support`).
struct Cluster {
    inner: cluster_support::Cluster,
    port: u16,
    ca: Ca,
}

impl Cluster {
    /// `server_sans`: the names in the server certificate (the test connects to `localhost`).
    fn start(server_sans: &[&str], expired: bool) -> Cluster {
        let mut inner = cluster_support::Cluster::init("planner-tls-");
        let data = inner.data();
        let ca = new_ca("planner test CA");
        let (cert, key) = leaf(&ca, "planner test server", server_sans, expired);
        let write_private = |name: &str, text: &str| {
            let path = data.join(name);
            std::fs::write(&path, text).expect("write");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            cluster_support::give_to_postgres(&path);
        };
        write_private("server.crt", &cert);
        write_private("server.key", &key);
        write_private("root.crt", &ca.pem);
        inner.conf(
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'root.crt'\n",
        );
        // TLS only over TCP: a password user, a certificate user, everyone else trusted; plain
        // TCP is rejected outright.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all pw_user 127.0.0.1/32 scram-sha-256\n\
             hostssl all cert_user 127.0.0.1/32 cert\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 0.0.0.0/0 reject\n",
        )
        .expect("pg_hba");
        inner.start();
        let port = inner.port;
        Cluster { inner, port, ca }
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.inner.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path.display().to_string()
    }

    fn ca_file(&self) -> String {
        self.write("ca.pem", &self.ca.pem)
    }

    /// A fresh database `planner_tls_<random>` (own database per test, as elsewhere).
    async fn create_db(&self) -> String {
        let name = format!("planner_tls_{:016x}", rand::random::<u64>());
        let opts = PgConnectOptions::new_without_pgpass()
            .host("127.0.0.1")
            .port(self.port)
            .username("postgres")
            .database("postgres")
            .ssl_mode(PgSslMode::Require);
        let mut conn = opts.connect().await.expect("admin connection over TLS");
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create database");
        conn.execute("CREATE ROLE pw_user LOGIN SUPERUSER PASSWORD 'sekr3t:pw'").await.ok();
        conn.execute("CREATE ROLE cert_user LOGIN SUPERUSER").await.ok();
        conn.close().await.ok();
        name
    }
}

/// The planner binary with no database settings inherited from the environment.
fn planner() -> Command {
    let mut cmd = Command::cargo_bin("planner").expect("binary built");
    cmd.env_remove("DATABASE_URL").env("HOME", "/nonexistent-planner-home");
    for var in [
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
        "PGPASSWORD",
        "PGPASSFILE",
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGSSLCERT",
        "PGSSLKEY",
        "PGAPPNAME",
        "PGCONNECT_TIMEOUT",
        "PGOPTIONS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn status(url: &str) -> assert_cmd::assert::Assert {
    planner().args(["status", "--database-url", url]).assert()
}

#[tokio::test]
async fn require_connects_and_plain_text_is_refused() {
    let c = Cluster::start(&["localhost"], false);
    let db = c.create_db().await;
    status(&format!("postgres://postgres@127.0.0.1:{}/{db}?sslmode=require", c.port))
        .success()
        .stdout(predicate::str::contains("no plans"));
    // The default (prefer) upgrades to TLS when the server offers it, as libpq does.
    status(&format!("postgres://postgres@127.0.0.1:{}/{db}", c.port)).success();
    // allow falls back to TLS when plain text is refused, as in libpq.
    status(&format!("postgres://postgres@127.0.0.1:{}/{db}?sslmode=allow", c.port)).success();
    status(&format!("postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable", c.port))
        .code(3)
        .stderr(predicate::str::contains("no encryption"))
        .stderr(predicate::str::contains("sslmode=require"));
}

#[tokio::test]
async fn verify_full_with_the_right_ca_in_url_and_keyword_form() {
    let c = Cluster::start(&["localhost"], false);
    let db = c.create_db().await;
    let ca = c.ca_file();
    status(&format!("postgres://postgres@localhost:{}/{db}?sslmode=verify-full&sslrootcert={ca}", c.port))
        .success();
    status(&format!(
        "host=localhost port={} user=postgres dbname={db} sslmode=verify-full sslrootcert='{ca}'",
        c.port
    ))
    .success();
    // verify-ca checks the chain but not the name, so 127.0.0.1 passes.
    status(&format!(
        "host=127.0.0.1 port={} user=postgres dbname={db} sslmode=verify-ca sslrootcert={ca}",
        c.port
    ))
    .success();
}

#[tokio::test]
async fn a_wrong_ca_a_wrong_name_and_no_ca_are_refused_with_a_certificate_message() {
    let c = Cluster::start(&["localhost"], false);
    let db = c.create_db().await;
    let other = new_ca("some other CA");
    let wrong = c.write("other-ca.pem", &other.pem);
    let base = format!("postgres://postgres@localhost:{}/{db}", c.port);
    status(&format!("{base}?sslmode=verify-full&sslrootcert={wrong}"))
        .code(3)
        .stderr(predicate::str::contains("certificate"))
        .stderr(predicate::str::contains("unknown certificate authority"));
    // require + a root certificate verifies the chain (libpq behaves the same).
    status(&format!("{base}?sslmode=require&sslrootcert={wrong}"))
        .code(3)
        .stderr(predicate::str::contains("certificate"));
    // Right CA, but the certificate names localhost, not 127.0.0.1.
    let ca = c.ca_file();
    status(&format!("postgres://postgres@127.0.0.1:{}/{db}?sslmode=verify-full&sslrootcert={ca}", c.port))
        .code(3)
        .stderr(predicate::str::contains("does not match the host name"));
    // No CA file: the system trust store does not know our test CA.
    status(&format!("{base}?sslmode=verify-full")).code(3).stderr(predicate::str::contains("certificate"));
}

#[tokio::test]
async fn an_expired_server_certificate_is_refused() {
    let c = Cluster::start(&["localhost"], true);
    let db = c.create_db().await;
    let ca = c.ca_file();
    status(&format!("postgres://postgres@localhost:{}/{db}?sslmode=verify-full&sslrootcert={ca}", c.port))
        .code(3)
        .stderr(predicate::str::contains("expired"));
}

#[tokio::test]
async fn libpq_environment_passwords_pgpass_and_client_certificates() {
    let c = Cluster::start(&["localhost"], false);
    let db = c.create_db().await;
    let ca = c.ca_file();
    let port = c.port.to_string();
    let env = |cmd: &mut Command| {
        cmd.env("PGHOST", "localhost")
            .env("PGPORT", &port)
            .env("PGDATABASE", &db)
            .env("PGSSLMODE", "verify-full")
            .env("PGSSLROOTCERT", &ca);
    };
    // Nothing but PG* variables, as psql users have it.
    let mut cmd = planner();
    env(&mut cmd);
    cmd.env("PGUSER", "postgres").arg("status").assert().success();

    // Password from PGPASSWORD; a wrong one is exit 3 with a hint.
    let mut cmd = planner();
    env(&mut cmd);
    cmd.env("PGUSER", "pw_user").env("PGPASSWORD", "sekr3t:pw").arg("status").assert().success();
    let mut cmd = planner();
    env(&mut cmd);
    cmd.env("PGUSER", "pw_user")
        .env("PGPASSWORD", "wrong")
        .arg("status")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("password authentication failed"))
        .stderr(predicate::str::contains("help:"));

    // Password from a pgpass file (PGPASSFILE), with an escaped `:` in the password.
    let pgpass = c.write("pgpass", &format!("localhost:{port}:*:pw_user:sekr3t\\:pw\n"));
    let mut cmd = planner();
    env(&mut cmd);
    cmd.env("PGUSER", "pw_user").env("PGPASSFILE", &pgpass).arg("status").assert().success();

    // Client certificate (pg_hba `cert`: the CN must equal the user name).
    let (cert, key) = leaf(&c.ca, "cert_user", &[], false);
    let cert = c.write("client.crt", &cert);
    let key = c.write("client.key", &key);
    status(&format!(
        "host=localhost port={port} user=cert_user dbname={db} sslmode=verify-full sslrootcert={ca} sslcert={cert} sslkey={key}"
    ))
    .success();
    status(&format!(
        "host=localhost port={port} user=cert_user dbname={db} sslmode=verify-full sslrootcert={ca}"
    ))
    .code(3);
}

#[tokio::test]
async fn application_name_shows_planner_and_the_plan() {
    let c = Cluster::start(&["localhost"], false);
    let db = c.create_db().await;
    let url = format!("postgres://postgres@127.0.0.1:{}/{db}?sslmode=require", c.port);
    let mut conn =
        planner::exec::connect::connect(&url, "planner/rename_users_name/expand").await.expect("connect");
    let (app, ssl): (String, bool) = sqlx::query_as(
        "SELECT a.application_name, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.pid = pg_backend_pid()",
    )
    .fetch_one(&mut conn)
    .await
    .expect("own activity row");
    assert_eq!(app, "planner/rename_users_name/expand");
    assert!(ssl, "the connection must be encrypted");
    conn.close().await.ok();
    // A name the user gives wins, as in libpq.
    let mut conn = planner::exec::connect::connect(&format!("{url}&application_name=ops"), "planner/x")
        .await
        .expect("connect");
    let app: String = sqlx::query_scalar("SELECT current_setting('application_name')")
        .fetch_one(&mut conn)
        .await
        .expect("setting");
    assert_eq!(app, "ops");
    conn.close().await.ok();
}

#[test]
fn a_url_that_is_not_postgres_is_bad_input() {
    planner()
        .args(["status", "--database-url", "sqlite://app.db"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a PostgreSQL connection string"));
    planner()
        .args(["status", "--database-url", "postgres://127.0.0.1/app?sslmode=sometimes"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid sslmode"));
}

#[test]
fn connection_refused_says_so_once_with_a_hint() {
    let port = cluster_support::free_port();
    let out = planner()
        .args([
            "status",
            "--database-url",
            &format!("postgres://postgres@127.0.0.1:{port}/x?sslmode=disable"),
        ])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(format!("is PostgreSQL running on 127.0.0.1:{port}?")))
        .stderr(predicate::str::contains("--database-url / DATABASE_URL / --target"));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(stderr.matches("refused").count(), 1, "each cause once:\n{stderr}");
}
