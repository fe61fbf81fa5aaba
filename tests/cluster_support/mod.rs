//! Private PostgreSQL clusters for tests that need server settings the shared server lacks (TLS,
//! wal_level = logical, a streaming standby): initdb + pg_ctl on a free port in a temp folder,
//! stopped (immediate) and removed on drop, the server log printed when the test panicked.
//! As root, initdb and postgres refuse to run: they run as the `postgres` user.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

/// The newest installed PostgreSQL's bin folder (Debian layout), or PG_BIN.
pub fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql (or set PG_BIN)")
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop().expect("initdb under /usr/lib/postgresql/*/bin").1
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub fn is_root() -> bool {
    // `id -u` avoids a libc dependency for one number.
    Process::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

fn pg_command(bin: &Path) -> Process {
    if is_root() {
        let mut c = Process::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Process::new(bin)
    }
}

/// Run a PostgreSQL binary (as `postgres` when root); panics with its output on failure.
pub fn run_pg(bin: &Path, args: &[&str]) -> std::process::Output {
    let out = pg_command(bin).args(args).output().unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}{}",
        bin.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Make `path` the postgres user's when running as root (the server reads and writes it).
pub fn give_to_postgres(path: &Path) {
    if is_root() {
        let status = Process::new("chown").args(["-R", "postgres:"]).arg(path).status().expect("chown");
        assert!(status.success(), "chown {}", path.display());
    }
}

pub fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).expect("open");
    f.write_all(text.as_bytes()).expect("append");
}

/// One private cluster (a primary, or a standby made by [`Cluster::standby`]).
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub bin: PathBuf,
    pub port: u16,
    started: bool,
}

impl Cluster {
    /// initdb a new cluster listening on 127.0.0.1 and a free port (not started yet: add
    /// settings with [`Cluster::conf`], files into [`Cluster::data`], then [`Cluster::start`]).
    pub fn init(prefix: &str) -> Cluster {
        let bin = pg_bin();
        let dir = tempfile::Builder::new().prefix(prefix).tempdir().expect("tempdir");
        give_to_postgres(dir.path());
        let cluster = Cluster { dir, bin, port: free_port(), started: false };
        let data = cluster.data();
        run_pg(
            &cluster.bin.join("initdb"),
            &[
                "-D",
                data.to_str().expect("utf-8 path"),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.conf(&format!(
            "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nmax_connections = 30\nshared_buffers = 16MB\n",
            cluster.port,
            cluster.dir.path().display()
        ));
        cluster
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Append to postgresql.conf (later lines win).
    pub fn conf(&self, text: &str) {
        append(&self.data().join("postgresql.conf"), text);
    }

    pub fn start(&mut self) {
        let log = self.dir.path().join("log");
        run_pg(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                self.data().to_str().expect("utf-8"),
                "-l",
                log.to_str().expect("utf-8"),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        self.started = true;
    }

    /// `postgres://postgres@127.0.0.1:PORT/DB` (trust auth).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable", self.port)
    }

    /// A streaming standby of this (started) cluster: `pg_basebackup -R` (which writes
    /// primary_conninfo and standby.signal), started on a free port of its own.
    pub fn standby(&self, prefix: &str) -> Cluster {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir().expect("tempdir");
        give_to_postgres(dir.path());
        let mut standby = Cluster { dir, bin: self.bin.clone(), port: free_port(), started: false };
        let data = standby.data();
        run_pg(
            &self.bin.join("pg_basebackup"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-D",
                data.to_str().expect("utf-8"),
                "-R",
                "-X",
                "stream",
                // an immediate checkpoint: the default spread one takes minutes
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        standby.conf(&format!(
            "port = {}\nunix_socket_directories = '{}'\nhot_standby = on\nwal_receiver_status_interval = 1s\n",
            standby.port,
            standby.dir.path().display()
        ));
        standby.start();
        standby
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.started {
            return;
        }
        let data = self.data();
        let _ = pg_command(&self.bin.join("pg_ctl"))
            .args(["-D", data.to_str().unwrap_or_default(), "-m", "immediate", "-w", "stop"])
            .output();
        if std::thread::panicking() {
            eprintln!("server log ({}):\n{}", data.display(), self.log());
        }
    }
}
