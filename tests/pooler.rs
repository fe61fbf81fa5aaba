//! Behind PgBouncer in transaction mode, session advisory locks and `SET`s do not hold: planner
//! must refuse to run through it, saying why. Needs the `pgbouncer`
//! binary (Debian package `pgbouncer`, installed by .ci/run); the test starts its own instance.

mod common;

use std::path::PathBuf;
use std::process::Command as Process;

use assert_cmd::Command;
use common::TestDb;
use predicates::prelude::*;

fn is_root() -> bool {
    Process::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// A PgBouncer in front of the test server, stopped on drop.
struct Bouncer {
    dir: tempfile::TempDir,
    port: u16,
}

impl Bouncer {
    fn start(pool_mode: &str) -> Bouncer {
        let bin = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect("pgbouncer installed (apt-get install pgbouncer; .ci/run does it)");
        let dir = tempfile::Builder::new().prefix("planner-pgbouncer-").tempdir().expect("tempdir");
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let server = url_host_port(&common::server_url());
        let d = dir.path().display();
        std::fs::write(dir.path().join("users.txt"), "\"postgres\" \"\"\n").expect("userlist");
        // Round robin hands consecutive transactions of one client to different server
        // connections, as a busy pool does.
        std::fs::write(
            dir.path().join("pgbouncer.ini"),
            format!(
                "[databases]\n* = host={} port={}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                 unix_socket_dir =\nauth_type = trust\nauth_file = {d}/users.txt\npool_mode = {pool_mode}\n\
                 server_round_robin = 1\ndefault_pool_size = 4\nlogfile = {d}/log\npidfile = {d}/pid\n\
                 ignore_startup_parameters = extra_float_digits,options\n",
                server.0, server.1
            ),
        )
        .expect("ini");
        if is_root() {
            // PgBouncer refuses to run as root.
            assert!(Process::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .expect("chown")
                .success());
        }
        let mut cmd = if is_root() {
            let mut c = Process::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&bin);
            c
        } else {
            Process::new(&bin)
        };
        let out = cmd.arg("-d").arg(dir.path().join("pgbouncer.ini")).output().expect("start pgbouncer");
        assert!(out.status.success(), "pgbouncer: {}", String::from_utf8_lossy(&out.stderr));
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Bouncer { dir, port }
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("pid")) {
            let _ = Process::new("kill").arg(pid.trim()).status();
        }
        if std::thread::panicking() {
            eprintln!(
                "pgbouncer log:\n{}",
                std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
            );
        }
    }
}

/// ("127.0.0.1", 5432) from postgres://user@127.0.0.1:5432
fn url_host_port(url: &str) -> (String, u16) {
    let rest = url.rsplit('@').next().unwrap_or(url).trim_start_matches("postgres://");
    let hostport = rest.split('/').next().unwrap_or(rest);
    match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().expect("port")),
        None => (hostport.to_string(), 5432),
    }
}

/// Open a few server connections at once so the pool has several to hand out.
async fn warm(url: &str) {
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut c =
                planner::exec::connect::connect(&url, "warm").await.expect("connect through pgbouncer");
            sqlx::raw_sql("SELECT pg_sleep(0.3)").execute(&mut c).await.expect("sleep");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
}

#[tokio::test]
async fn transaction_pooling_is_refused_with_a_message_naming_the_pooler() {
    let db = TestDb::new().await;
    let bouncer = Bouncer::start("transaction");
    let url = format!("postgres://postgres@127.0.0.1:{}/{}?sslmode=disable", bouncer.port, db.name);
    warm(&url).await;
    let err = planner::exec::Session::open(&url, planner::exec::SessionOptions::default())
        .await
        .err()
        .expect("a session through a transaction-mode pooler is refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("backend changed between two statements") && msg.contains("PgBouncer"), "{msg}");
    assert_eq!(planner::error::exit_code(&err), 1);

    // Through the CLI: the same refusal, and no lock left behind on the server.
    Command::cargo_bin("planner")
        .expect("binary")
        .env_remove("DATABASE_URL")
        .args(["apply", "plans/rename_users_name", "--phase", "expand", "--database-url", &url])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("connection pooler in transaction or statement mode"));
    // status takes no lock, but sqlx's prepared statements get lost between backends
    // (PgBouncer 1.18); it must say so rather than print a bare "does not exist".
    Command::cargo_bin("planner")
        .expect("binary")
        .env_remove("DATABASE_URL")
        .args(["status", "--database-url", &url])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("connection pooler in transaction mode"));
    drop(bouncer);
    db.drop().await;
}

#[tokio::test]
async fn session_pooling_is_accepted() {
    let db = TestDb::new().await;
    let bouncer = Bouncer::start("session");
    let url = format!("postgres://postgres@127.0.0.1:{}/{}?sslmode=disable", bouncer.port, db.name);
    warm(&url).await;
    let session = planner::exec::Session::open(&url, planner::exec::SessionOptions::default())
        .await
        .expect("a session-mode pool keeps one backend per client");
    session.close().await.expect("close");
    drop(bouncer);
    db.drop().await;
}
