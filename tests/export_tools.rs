//! `planner export` folders run by the real tools (installed by .ci/run from the npm registry
//! into tests/tools/node_modules: sequelize-cli, dbmate, knex, node-pg-migrate; and from PyPI into tests/tools/venv: Django and Alembic) against a
//! real database. Each test:
//! expand applies through the tool and `planner status` shows it; the contract run before the
//! backfill fails with the reason and changes nothing; after `planner backfill` the tool runs the
//! contract and the schema is the one `planner apply` leaves; the downs restore the schema from
//! before the expand (pg_dump compare, the tool's own bookkeeping table aside).

mod common;
mod exec_support;

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use exec_support::{example_db, pg_dump_schema_excluding};
use planner::plan::PhaseKind;

const PLAN: &str = "add_users_email_verified";

fn planner(args: &[&str]) -> Output {
    Command::cargo_bin("planner")
        .expect("binary built")
        .current_dir(exec_support::root())
        .args(args)
        .output()
        .expect("runs")
}

fn tool_bin(name: &str) -> PathBuf {
    let bin = exec_support::root().join("tests/tools/node_modules/.bin").join(name);
    assert!(bin.exists(), "{} is missing: run `npm install` in tests/tools (.ci/run does)", bin.display());
    bin
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn export(tool: &str, out: &Path, version: &str, extra: &[&str]) {
    let out_s = out.display().to_string();
    let mut args = vec![
        "export",
        "plans/add_users_email_verified",
        "--to",
        tool,
        "--out",
        &out_s,
        "--version-base",
        version,
    ];
    args.extend_from_slice(extra);
    let o = planner(&args);
    assert!(o.status.success(), "export: {}", text(&o));
}

fn export_with(tool: &str, out: &Path, extra: &[&str]) {
    let out_s = out.display().to_string();
    let mut args = vec!["export", "plans/add_users_email_verified", "--to", tool, "--out", &out_s];
    args.extend_from_slice(extra);
    let o = planner(&args);
    assert!(o.status.success(), "export: {}", text(&o));
}

/// A tool run: `args` with the database URL and the migrations folder filled in.
trait Runner {
    fn up(&self, url: &str, dir: &Path) -> Output;
    fn down_all(&self, url: &str, dir: &Path) -> Output;
    /// The tool's own table, not part of the schema under test.
    fn bookkeeping(&self) -> &'static str;
    fn name(&self) -> &'static str;
    /// Where `planner export` writes (the tool's migrations folder, or a package inside it).
    fn out(&self, dir: &Path) -> PathBuf {
        dir.to_path_buf()
    }
    /// Extra `planner export` arguments for the expand.
    fn expand_args(&self) -> Vec<String> {
        vec!["--version-base".into(), "20260101000000".into()]
    }
    /// ... and for the contract, exported into `out` after the expand.
    fn contract_args(&self, _out: &Path) -> Vec<String> {
        vec!["--version-base".into(), "20260101000100".into()]
    }
}

struct Sequelize;
impl Runner for Sequelize {
    fn up(&self, url: &str, dir: &Path) -> Output {
        std::process::Command::new(tool_bin("sequelize-cli"))
            .args(["db:migrate", "--url", url, "--migrations-path"])
            .arg(dir)
            .current_dir(exec_support::root().join("tests/tools"))
            .output()
            .expect("sequelize-cli runs")
    }
    fn down_all(&self, url: &str, dir: &Path) -> Output {
        std::process::Command::new(tool_bin("sequelize-cli"))
            .args(["db:migrate:undo:all", "--url", url, "--migrations-path"])
            .arg(dir)
            .current_dir(exec_support::root().join("tests/tools"))
            .output()
            .expect("sequelize-cli runs")
    }
    fn bookkeeping(&self) -> &'static str {
        "public.\"SequelizeMeta\""
    }
    fn name(&self) -> &'static str {
        "sequelize"
    }
}

struct Dbmate;
impl Dbmate {
    fn run(&self, url: &str, dir: &Path, command: &str) -> Output {
        std::process::Command::new(tool_bin("dbmate"))
            .args(["--url", &format!("{url}?sslmode=disable"), "--no-dump-schema", "--migrations-dir"])
            .arg(dir)
            .arg(command)
            .output()
            .expect("dbmate runs")
    }
}
impl Runner for Dbmate {
    fn up(&self, url: &str, dir: &Path) -> Output {
        self.run(url, dir, "migrate")
    }
    fn down_all(&self, url: &str, dir: &Path) -> Output {
        // dbmate rolls back one migration per call.
        let count = std::fs::read_dir(dir).unwrap().count();
        let mut last = None;
        for _ in 0..count {
            let o = self.run(url, dir, "rollback");
            if !o.status.success() {
                return o;
            }
            last = Some(o);
        }
        last.expect("at least one migration")
    }
    fn bookkeeping(&self) -> &'static str {
        "public.schema_migrations"
    }
    fn name(&self) -> &'static str {
        "dbmate"
    }
}

/// The whole flow with `--phase expand` and `--phase contract` exported into one folder in two
/// steps, as a team shipping them in two releases does.
async fn flow(tool: &dyn Runner) {
    let db = example_db(300).await;
    let dump = |url: &str| pg_dump_schema_excluding(url, &[tool.bookkeeping()]);
    let before = dump(&db.url);
    let dir = tempfile::tempdir().unwrap();

    let out = tool.out(dir.path());
    // Release N: only the expand is in the folder.
    let expand_args = tool.expand_args();
    let mut args = vec!["--phase", "expand"];
    args.extend(expand_args.iter().map(String::as_str));
    export_with(tool.name(), &out, &args);
    let o = tool.up(&db.url, dir.path());
    assert!(o.status.success(), "{} runs the expand: {}", tool.name(), text(&o));
    assert_eq!(exec_support::phase_status(&db, PLAN, PhaseKind::Expand).await.as_deref(), Some("done"));
    let status = planner(&["status", "--database-url", &db.url]);
    assert!(status.status.success(), "{}", text(&status));
    assert!(
        text(&status).contains(&format!("{} migration", tool.name())),
        "status says who applied it: {}",
        text(&status)
    );
    let expanded = dump(&db.url);

    // Release N+1 arrives before the backfill job ran: the contract refuses, changing nothing.
    let contract_args = tool.contract_args(&out);
    let mut args = vec!["--phase", "contract"];
    args.extend(contract_args.iter().map(String::as_str));
    export_with(tool.name(), &out, &args);
    let o = tool.up(&db.url, dir.path());
    assert!(!o.status.success(), "the contract must refuse: {}", text(&o));
    let out = text(&o);
    assert!(out.contains("Cannot contract"), "{out}");
    assert!(out.contains("NULL values still exist in users.email_verified (e.g. id=1, 2, 3)"), "{out}");
    assert!(out.contains("planner backfill plans/add_users_email_verified"), "{out}");
    assert_eq!(dump(&db.url), expanded, "a refused contract changes nothing");
    assert_eq!(exec_support::phase_status(&db, PLAN, PhaseKind::Contract).await, None);

    // The job between the releases, then the tool runs the contract.
    let o = planner(&["backfill", "plans/add_users_email_verified", "--database-url", &db.url]);
    assert!(o.status.success(), "backfill: {}", text(&o));
    let o = tool.up(&db.url, dir.path());
    assert!(o.status.success(), "{} runs the contract: {}", tool.name(), text(&o));
    for phase in PhaseKind::ALL {
        assert_eq!(exec_support::phase_status(&db, PLAN, phase).await.as_deref(), Some("done"), "{phase}");
    }

    // The planned schema is what planner apply itself leaves.
    let reference = example_db(300).await;
    let plan = exec_support::plan(PLAN);
    for phase in PhaseKind::ALL {
        exec_support::apply(&reference, &plan, phase).await.unwrap_or_else(|e| panic!("{phase}: {e:#}"));
    }
    assert_eq!(dump(&db.url), dump(&reference.url), "{} left the planned schema", tool.name());
    reference.drop().await;

    // The downs restore the schema from before the expand.
    let o = tool.down_all(&db.url, dir.path());
    assert!(o.status.success(), "{} runs the downs: {}", tool.name(), text(&o));
    assert_eq!(dump(&db.url), before, "the downs restore the schema");
    assert_eq!(
        exec_support::phase_status(&db, PLAN, PhaseKind::Expand).await.as_deref(),
        Some("rolled_back")
    );
    db.drop().await;
}

/// Django's `manage.py migrate` in tests/tools/django (app `shop`), with Django and psycopg from
/// PyPI in tests/tools/venv (.ci/run installs tests/tools/requirements.txt there).
struct Django;
impl Django {
    fn run(&self, url: &str, dir: &Path, target: &str) -> Output {
        let python = exec_support::root().join("tests/tools/venv/bin/python");
        assert!(python.exists(), "{} is missing: .ci/run creates tests/tools/venv", python.display());
        std::process::Command::new(python)
            .arg(exec_support::root().join("tests/tools/django/manage.py"))
            .args(["migrate", "shop"])
            .args((!target.is_empty()).then_some(target))
            .env("DATABASE_URL", url)
            .env("PYTHONPATH", dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PLANNER_DJANGO_MIGRATIONS", "shop_migrations")
            .output()
            .expect("manage.py runs")
    }
}
impl Runner for Django {
    fn up(&self, url: &str, dir: &Path) -> Output {
        self.run(url, dir, "")
    }
    fn down_all(&self, url: &str, dir: &Path) -> Output {
        self.run(url, dir, "zero")
    }
    fn bookkeeping(&self) -> &'static str {
        "public.django_migrations"
    }
    fn name(&self) -> &'static str {
        "django"
    }
    fn out(&self, dir: &Path) -> PathBuf {
        let package = dir.join("shop_migrations");
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(package.join("__init__.py"), "").unwrap();
        package
    }
    fn expand_args(&self) -> Vec<String> {
        vec!["--version-base".into(), "1".into()]
    }
    fn contract_args(&self, _out: &Path) -> Vec<String> {
        ["--version-base", "2", "--after", "shop.0001_add_users_email_verified_expand"]
            .map(String::from)
            .to_vec()
    }
}

/// Alembic's `upgrade heads` / `downgrade base` (tests/tools/alembic: env.py and a runner),
/// with Alembic, SQLAlchemy and psycopg from PyPI in tests/tools/venv.
struct Alembic;
impl Alembic {
    fn run(&self, url: &str, dir: &Path, command: &str) -> Output {
        let python = exec_support::root().join("tests/tools/venv/bin/python");
        assert!(python.exists(), "{} is missing: .ci/run creates tests/tools/venv", python.display());
        std::process::Command::new(python)
            .arg(exec_support::root().join("tests/tools/alembic/run.py"))
            .arg(command)
            .env("DATABASE_URL", url)
            .env("PLANNER_ALEMBIC_VERSIONS", dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("alembic runs")
    }
}
impl Runner for Alembic {
    fn up(&self, url: &str, dir: &Path) -> Output {
        self.run(url, dir, "upgrade")
    }
    fn down_all(&self, url: &str, dir: &Path) -> Output {
        self.run(url, dir, "downgrade")
    }
    fn bookkeeping(&self) -> &'static str {
        "public.alembic_version"
    }
    fn name(&self) -> &'static str {
        "alembic"
    }
    /// The contract's `down_revision` is the expand's revision id, read from its file.
    fn contract_args(&self, out: &Path) -> Vec<String> {
        let expand = std::fs::read_dir(out)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .find(|t| t.contains("phase expand"))
            .expect("the expand migration");
        let revision = expand
            .lines()
            .find_map(|l| l.strip_prefix("revision = \"").and_then(|r| r.strip_suffix('"')))
            .expect("a revision id")
            .to_string();
        vec!["--version-base".into(), "20260101000100".into(), "--after".into(), revision]
    }
}

/// A Node tool run from tests/tools (where its package is installed) against `url`.
fn node_tool(bin: &str, args: &[&str], url: &str) -> Output {
    std::process::Command::new(tool_bin(bin))
        .args(args)
        .env("DATABASE_URL", url)
        .current_dir(exec_support::root().join("tests/tools"))
        .output()
        .expect("the tool runs")
}

struct Knex;
impl Runner for Knex {
    fn up(&self, url: &str, dir: &Path) -> Output {
        let d = dir.display().to_string();
        node_tool(
            "knex",
            &["migrate:latest", "--client", "pg", "--connection", url, "--migrations-directory", &d],
            url,
        )
    }
    fn down_all(&self, url: &str, dir: &Path) -> Output {
        let d = dir.display().to_string();
        node_tool(
            "knex",
            &[
                "migrate:rollback",
                "--all",
                "--client",
                "pg",
                "--connection",
                url,
                "--migrations-directory",
                &d,
            ],
            url,
        )
    }
    fn bookkeeping(&self) -> &'static str {
        "public.knex_migrations*"
    }
    fn name(&self) -> &'static str {
        "knex"
    }
}

struct NodePgMigrate;
impl Runner for NodePgMigrate {
    fn up(&self, url: &str, dir: &Path) -> Output {
        node_tool("node-pg-migrate", &["up", "-m", &dir.display().to_string()], url)
    }
    fn down_all(&self, url: &str, dir: &Path) -> Output {
        node_tool("node-pg-migrate", &["down", "100", "-m", &dir.display().to_string()], url)
    }
    fn bookkeeping(&self) -> &'static str {
        "public.pgmigrations*"
    }
    fn name(&self) -> &'static str {
        "node-pg-migrate"
    }
}

#[tokio::test]
async fn knex_runs_the_exported_phases() {
    flow(&Knex).await;
}

#[tokio::test]
async fn node_pg_migrate_runs_the_exported_phases() {
    flow(&NodePgMigrate).await;
}

#[tokio::test]
async fn alembic_runs_the_exported_phases() {
    flow(&Alembic).await;
}

#[tokio::test]
async fn django_runs_the_exported_phases() {
    flow(&Django).await;
}

#[tokio::test]
async fn sequelize_cli_runs_the_exported_phases() {
    flow(&Sequelize).await;
}

#[tokio::test]
async fn dbmate_runs_the_exported_phases() {
    flow(&Dbmate).await;
}

/// `--inline-backfill`: the backfill is a migration of its own (batches committed one by one
/// outside a transaction), so one `db:migrate` runs expand, backfill and contract.
#[tokio::test]
async fn sequelize_inline_backfill_runs_all_three_phases_in_one_migrate() {
    let db = example_db(2500).await;
    let dir = tempfile::tempdir().unwrap();
    export("sequelize", dir.path(), "20260101000000", &["--inline-backfill"]);
    let o = Sequelize.up(&db.url, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    for phase in PhaseKind::ALL {
        assert_eq!(exec_support::phase_status(&db, PLAN, phase).await.as_deref(), Some("done"), "{phase}");
    }
    let batches: i64 = sqlx::query_scalar("SELECT batches FROM planner.backfill_progress WHERE plan = $1")
        .bind(PLAN)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(batches >= 3, "2,500 rows in batches of 1,000: {batches}");
    let wrong: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE email_verified IS DISTINCT FROM (verified_at IS NOT NULL)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(wrong, 0);
    db.drop().await;
}
