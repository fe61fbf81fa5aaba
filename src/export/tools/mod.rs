//! One file per tool: naming, ordering, transaction marking and the file format of its migrations.

mod alembic;
mod dbmate;
mod django;
mod flyway;
mod golang_migrate;
mod goose;
mod knex;
mod node_pg_migrate;
mod rails;
mod sequelize;
mod sqlx_migrate;

use super::migration::{Body, Migration};
use super::{ExportFile, ExportOptions, StateCx, Tool};

pub fn render(cx: &StateCx, migrations: &[Migration], opts: &ExportOptions) -> Vec<ExportFile> {
    let version = |m: &Migration| opts.version_base + m.seq as u64;
    let mut files = Vec::new();
    for m in migrations {
        let v = version(m);
        let out = match opts.tool {
            Tool::Sqlx => sqlx_migrate::render(cx, m, v),
            Tool::Sequelize => sequelize::render(cx, m, v),
            Tool::Dbmate => dbmate::render(cx, m, v),
            Tool::Django => django::render(cx, m, v, migrations, opts),
            Tool::Alembic => alembic::render(cx, m, v, migrations, opts),
            Tool::Knex => knex::render(cx, m, v),
            Tool::NodePgMigrate => node_pg_migrate::render(cx, m, v),
            Tool::Flyway => flyway::render(cx, m, v),
            Tool::GolangMigrate => golang_migrate::render(cx, m, v),
            Tool::Goose => goose::render(cx, m, v),
            Tool::Rails => rails::render(cx, m, v),
        };
        files.extend(out);
    }
    files
}

/// The migration's notes as comment lines with `marker` (`--`, `//`, `#`).
fn notes(m: &Migration, marker: &str) -> String {
    m.notes
        .iter()
        .map(|n| format!("{marker} {n}\n").replace(&format!("{marker} \n"), &format!("{marker}\n")))
        .collect()
}

/// The blocks of one direction, each as the text of one query: the body's own SQL when the
/// tool runs it in its transaction, `BEGIN`/`COMMIT` around transactional blocks otherwise.
fn queries(cx: &StateCx, m: &Migration, body: &Body, wrapped_by_tool: bool) -> Vec<String> {
    let blocks = body.blocks(&cx.plan.name, m.phase);
    if wrapped_by_tool && body.transactional() {
        blocks.into_iter().map(|b| b.sql).collect()
    } else {
        blocks.iter().map(|b| b.standalone()).collect()
    }
}

/// A JavaScript template literal holding `sql` verbatim.
fn js_template(sql: &str) -> String {
    format!("`{}`", sql.replace('\\', "\\\\").replace('`', "\\`").replace("${", "\\${"))
}

/// A Python triple-quoted string holding `sql` verbatim.
fn py_string(sql: &str) -> String {
    format!("'''{}'''", sql.replace('\\', "\\\\").replace("'''", "\\'\\'\\'"))
}

/// `add_users_email_verified_expand` -> `AddUsersEmailVerifiedExpand`.
fn camel(slug: &str) -> String {
    slug.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}
