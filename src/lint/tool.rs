//! `--tool`: how a migration tool picks its files, which part of a file runs "up", and how it
//! wraps a file in a transaction. Also the dialect suffixes every walk understands.

use std::borrow::Cow;
use std::path::Path;

use super::context::FileTx;

/// The migration tools `planner check --tool` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    /// `migrations/*/migration.sql`; one multi-statement query: a transaction only when the file holds more than one statement.
    Prisma,
    /// `*.sql` except `*.down.sql`; each file in a transaction unless it starts with `-- no-transaction`.
    Sqlx,
    /// `*/up.sql`; in a transaction unless `metadata.toml` beside it says `run_in_transaction = false`.
    Diesel,
    /// `V<version>__*.sql` and `R__*.sql`; in a transaction unless `<file>.conf` says `executeInTransaction=false`.
    Flyway,
    /// `*.up.sql`; one multi-statement query (a transaction when it holds more than one statement).
    GolangMigrate,
    /// `*.sql`, the `-- +goose Up` part; in a transaction unless `-- +goose NO TRANSACTION`.
    Goose,
    /// `*.sql`, the `-- migrate:up` part; in a transaction unless `-- migrate:up transaction:false`.
    Dbmate,
    /// `*.sql` except `structure.sql` (a schema dump); each file in a transaction.
    Rails,
    /// `sqlmigrate` output (`*.sql`): its own BEGIN/COMMIT say what runs in a transaction.
    Django,
    /// `*.sql`; no transaction unless the file opens one.
    Sequelize,
    /// `alembic upgrade --sql` output (`*.sql`): its own BEGIN/COMMIT.
    Alembic,
    /// `*.sql`, the `-- Up Migration` part; each file in a transaction.
    NodePgMigrate,
    /// `*.sql` (postgres-migrations, node): run in the order of their leading number, each in a
    /// transaction unless it has a `-- postgres-migrations disable-transaction` line.
    PostgresMigrations,
}

/// What a directory walk does with a file.
#[derive(Debug, PartialEq, Eq)]
pub enum Pick {
    Read,
    /// Not SQL for PostgreSQL (another dialect's file): skipped, with this note.
    Skip(String),
    /// Not a migration this tool runs (a down migration, a schema dump, a non-SQL file).
    Ignore,
}

/// A file as the tool runs it.
pub struct Prepared<'a> {
    /// The SQL that runs (parts that do not run, like down sections, blanked line by line so
    /// line numbers stay those of the file).
    pub sql: Cow<'a, str>,
    pub tx: FileTx,
}

/// Suffixes naming another database's SQL.
const OTHER_DIALECTS: &[&str] = &["sqlite", "sqlite3", "mysql", "mariadb", "mssql", "sqlserver", "oracle"];
/// Suffixes naming PostgreSQL.
const POSTGRES: &[&str] = &["postgres", "postgresql", "pg", "psql"];

/// The file name with a PostgreSQL dialect suffix folded away (`1.up.sql.postgres` ->
/// `1.up.sql`, `1.postgres.sql` -> `1.sql`), or an error naming another dialect's suffix.
/// `None` for files that are not SQL at all.
pub fn sql_name(file_name: &str) -> Option<Result<String, String>> {
    let lower = file_name.to_lowercase();
    let parts: Vec<&str> = lower.split('.').collect();
    if parts.len() < 2 {
        return None;
    }
    let (last, before) = (parts[parts.len() - 1], parts[parts.len() - 2]);
    let other = |s: &str| OTHER_DIALECTS.contains(&s);
    // x.sqlite / x.sql.sqlite / x.sqlite.sql
    if other(last) && (before == "sql" || parts.len() == 2 || last.starts_with("sqlite"))
        || (last == "sql" && parts.len() > 2 && other(before))
    {
        let dialect = if other(last) { last } else { before };
        return Some(Err(format!("{file_name}: skipped, {dialect} SQL (not PostgreSQL)")));
    }
    if last == "sql" {
        if parts.len() > 2 && POSTGRES.contains(&before) {
            let keep = &file_name[..file_name.len() - before.len() - 5];
            return Some(Ok(format!("{keep}.sql")));
        }
        return Some(Ok(file_name.to_string()));
    }
    if POSTGRES.contains(&last) && before == "sql" {
        return Some(Ok(file_name[..file_name.len() - last.len() - 1].to_string()));
    }
    None
}

/// [`pick`] for a MySQL/MariaDB run (`mysql`): `*.mysql.sql` / `*.mariadb.sql` (and
/// `*.sql.mysql`) are read as `*.sql`, PostgreSQL-suffixed files are skipped with a note.
pub fn pick_for(tool: Option<Tool>, path: &Path, mysql: bool) -> Pick {
    if !mysql {
        return pick(tool, path);
    }
    let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else { return Pick::Ignore };
    let lower = file_name.to_lowercase();
    for flavour in ["mysql", "mariadb"] {
        for suffix in [format!(".{flavour}.sql"), format!(".sql.{flavour}")] {
            if lower.ends_with(&suffix) {
                let folded = format!("{}.sql", &file_name[..file_name.len() - suffix.len()]);
                return pick(tool, &path.with_file_name(folded));
            }
        }
    }
    let parts: Vec<&str> = lower.split('.').collect();
    if parts.len() > 2 && parts.iter().rev().take(2).any(|p| POSTGRES.contains(p)) {
        return Pick::Skip(format!("{file_name}: skipped, PostgreSQL SQL (not MySQL)"));
    }
    pick(tool, path)
}

/// What a walk does with `path` (for `tool`, or for no tool: every SQL file).
pub fn pick(tool: Option<Tool>, path: &Path) -> Pick {
    let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else { return Pick::Ignore };
    let name = match sql_name(file_name) {
        None => return Pick::Ignore,
        Some(Err(note)) => return Pick::Skip(note),
        Some(Ok(name)) => name,
    };
    let Some(tool) = tool else { return Pick::Read };
    let lower = name.to_lowercase();
    let read = match tool {
        Tool::Prisma => lower == "migration.sql",
        Tool::Sqlx => !lower.ends_with(".down.sql"),
        Tool::Diesel => lower == "up.sql",
        Tool::Flyway => {
            let versioned = name.strip_prefix('V').and_then(|r| r.split_once("__")).is_some_and(|(v, _)| {
                !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '_')
            });
            versioned || name.starts_with("R__")
        }
        Tool::GolangMigrate => lower.ends_with(".up.sql"),
        Tool::Rails => lower != "structure.sql",
        Tool::Goose
        | Tool::Dbmate
        | Tool::Django
        | Tool::Sequelize
        | Tool::Alembic
        | Tool::NodePgMigrate
        | Tool::PostgresMigrations => !lower.ends_with(".down.sql"),
    };
    if read {
        Pick::Read
    } else {
        Pick::Ignore
    }
}

/// Keep only the lines of the section that runs "up": from a line starting with one of `up` to
/// one starting with one of `down` (markers compared case-insensitively, after trimming).
fn up_section<'a>(sql: &'a str, up: &[&str], down: &[&str]) -> Cow<'a, str> {
    let starts = |line: &str, markers: &[&str]| {
        let l = line.trim().to_lowercase();
        markers.iter().any(|m| l.starts_with(m))
    };
    if !sql.lines().any(|l| starts(l, up) || starts(l, down)) {
        return Cow::Borrowed(sql);
    }
    let mut running = false;
    let mut out = String::with_capacity(sql.len());
    for line in sql.lines() {
        if starts(line, up) {
            running = true;
        } else if starts(line, down) {
            running = false;
        } else if running {
            out.push_str(line);
        }
        out.push('\n');
    }
    Cow::Owned(out)
}

impl Tool {
    /// The part of `sql` (read from `path`) that runs, and how it is wrapped. `sibling` reads a
    /// file next to it (Diesel's metadata.toml, Flyway's `<file>.conf`).
    pub fn prepare<'a>(
        self,
        path: &Path,
        sql: &'a str,
        sibling: &dyn Fn(&Path) -> Option<String>,
    ) -> Prepared<'a> {
        let first_lines = |marker: &str| sql.lines().take(20).any(|l| l.to_lowercase().contains(marker));
        match self {
            Tool::Prisma | Tool::GolangMigrate => Prepared { sql: Cow::Borrowed(sql), tx: FileTx::Implicit },
            Tool::Sqlx | Tool::Rails => Prepared { sql: Cow::Borrowed(sql), tx: FileTx::Wrapped },
            Tool::NodePgMigrate => Prepared {
                sql: up_section(sql, &["-- up migration"], &["-- down migration"]),
                tx: FileTx::Wrapped,
            },
            Tool::Diesel => {
                let meta = path.parent().and_then(|d| sibling(&d.join("metadata.toml"))).unwrap_or_default();
                let off = meta.lines().any(|l| {
                    let l: String = l.chars().filter(|c| !c.is_whitespace()).collect();
                    l == "run_in_transaction=false"
                });
                Prepared { sql: Cow::Borrowed(sql), tx: if off { FileTx::Explicit } else { FileTx::Wrapped } }
            }
            Tool::Flyway => {
                let conf = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(|n| path.with_file_name(format!("{n}.conf")));
                let off = conf.and_then(|c| sibling(&c)).is_some_and(|c| {
                    c.lines().any(|l| l.replace(' ', "").eq_ignore_ascii_case("executeInTransaction=false"))
                });
                Prepared { sql: Cow::Borrowed(sql), tx: if off { FileTx::Explicit } else { FileTx::Wrapped } }
            }
            Tool::Goose => {
                let off = first_lines("+goose no transaction");
                Prepared {
                    sql: up_section(sql, &["-- +goose up"], &["-- +goose down"]),
                    tx: if off { FileTx::Explicit } else { FileTx::Wrapped },
                }
            }
            Tool::Dbmate => {
                let off = sql.lines().any(|l| {
                    let l = l.trim().to_lowercase();
                    l.starts_with("-- migrate:up") && l.contains("transaction:false")
                });
                Prepared {
                    sql: up_section(sql, &["-- migrate:up"], &["-- migrate:down"]),
                    tx: if off { FileTx::Explicit } else { FileTx::Wrapped },
                }
            }
            Tool::Django | Tool::Sequelize | Tool::Alembic => {
                Prepared { sql: Cow::Borrowed(sql), tx: FileTx::Explicit }
            }
            Tool::PostgresMigrations => {
                let off = sql.lines().any(|l| {
                    let l = l.trim().to_lowercase();
                    l.starts_with("--") && l.contains("postgres-migrations disable-transaction")
                });
                Prepared { sql: Cow::Borrowed(sql), tx: if off { FileTx::Explicit } else { FileTx::Wrapped } }
            }
        }
    }

    /// Put the files of one directory walk in the order the tool runs them. Most tools run them
    /// in path order (how the walk lists them); postgres-migrations orders by the number before
    /// the first `-` or `_` (`0002-x.sql` before `00010-y.sql`).
    pub fn order(self, files: &mut [std::path::PathBuf]) {
        if self != Tool::PostgresMigrations {
            return;
        }
        let number = |p: &std::path::PathBuf| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
            (p.parent().map(Path::to_path_buf), digits.parse::<u64>().unwrap_or(u64::MAX), name.to_string())
        };
        files.sort_by_cached_key(number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_suffixes() {
        assert_eq!(sql_name("1_init.sql.postgres"), Some(Ok("1_init.sql".into())));
        assert_eq!(sql_name("1_init.up.postgres.sql"), Some(Ok("1_init.up.sql".into())));
        assert!(matches!(sql_name("1_init.sqlite"), Some(Err(_))));
        assert!(matches!(sql_name("1_init.sql.sqlite"), Some(Err(_))));
        assert!(matches!(sql_name("1_init.mysql.sql"), Some(Err(_))));
        assert_eq!(sql_name("README.md"), None);
    }

    #[test]
    fn which_files_each_tool_reads() {
        let p = |t, f: &str| pick(Some(t), Path::new(f)) == Pick::Read;
        assert!(
            p(Tool::GolangMigrate, "m/0001_init.up.sql") && !p(Tool::GolangMigrate, "m/0001_init.down.sql")
        );
        assert!(
            p(Tool::Flyway, "V1_2__add.sql")
                && p(Tool::Flyway, "R__views.sql")
                && !p(Tool::Flyway, "U1__undo.sql")
        );
        assert!(p(Tool::Prisma, "m/20240101_x/migration.sql") && !p(Tool::Prisma, "m/seed.sql"));
        assert!(p(Tool::Diesel, "m/2024_x/up.sql") && !p(Tool::Diesel, "m/2024_x/down.sql"));
        assert!(!p(Tool::Rails, "db/structure.sql") && p(Tool::Rails, "db/x.sql"));
        assert!(!p(Tool::Sqlx, "m/1_x.down.sql") && p(Tool::Sqlx, "m/1_x.up.sql"));
        assert!(p(Tool::GolangMigrate, "m/0001_init.up.sql.postgres"));
        assert!(matches!(pick(None, Path::new("m/1.sqlite")), Pick::Skip(_)));
    }

    #[test]
    fn transactions_and_sections() {
        let none = |_: &Path| None;
        let one =
            Tool::Prisma.prepare(Path::new("migration.sql"), "CREATE INDEX CONCURRENTLY i ON t (a);", &none);
        assert_eq!(one.tx, FileTx::Implicit);
        let goose =
            "-- +goose Up\nALTER TABLE t ADD COLUMN a int;\n-- +goose Down\nALTER TABLE t DROP COLUMN a;\n";
        let g = Tool::Goose.prepare(Path::new("1.sql"), goose, &none);
        assert_eq!((g.sql.lines().count(), g.tx), (4, FileTx::Wrapped));
        assert!(!g.sql.contains("DROP COLUMN"));
        let dbmate = "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n-- migrate:down\nDROP INDEX i;\n";
        assert_eq!(Tool::Dbmate.prepare(Path::new("1.sql"), dbmate, &none).tx, FileTx::Explicit);
        let meta =
            |p: &Path| p.ends_with("metadata.toml").then(|| "run_in_transaction = false\n".to_string());
        assert_eq!(Tool::Diesel.prepare(Path::new("m/x/up.sql"), "SELECT 1;", &meta).tx, FileTx::Explicit);
        assert_eq!(Tool::Diesel.prepare(Path::new("m/x/up.sql"), "SELECT 1;", &none).tx, FileTx::Wrapped);
        let pm = Tool::PostgresMigrations;
        let off = "-- postgres-migrations disable-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);\n";
        assert_eq!(pm.prepare(Path::new("0033-i.sql"), off, &none).tx, FileTx::Explicit);
        assert_eq!(pm.prepare(Path::new("0034-j.sql"), "SELECT 1;", &none).tx, FileTx::Wrapped);
    }

    #[test]
    fn postgres_migrations_run_in_numeric_order() {
        let mut files: Vec<std::path::PathBuf> =
            ["m/00010-b.sql", "m/0002-a.sql", "m/0001-init.sql"].iter().map(Into::into).collect();
        Tool::PostgresMigrations.order(&mut files);
        let names: Vec<_> = files.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(names, ["m/0001-init.sql", "m/0002-a.sql", "m/00010-b.sql"]);
        let mut same = files.clone();
        same.reverse();
        Tool::Sqlx.order(&mut same);
        assert_eq!(same[0].to_str(), Some("m/00010-b.sql"));
    }
}
