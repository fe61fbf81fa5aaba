//! Alembic: `versions/<revision>.py` with `upgrade`/`downgrade`, revisions chained by
//! `down_revision` (the first after `--after`), and `autocommit_block()` around a migration that
//! must not run in Alembic's transaction. SQL goes through `exec_driver_sql`, untouched by
//! SQLAlchemy's bind-parameter parsing (the driver's pyformat still reads `%`, written `%%`).

use super::{notes, py_string, queries};
use crate::export::migration::{Body, Migration};
use crate::export::{ExportFile, ExportOptions, StateCx};

/// Alembic keeps revision ids in a varchar(32): the version and a short hash of the migration's
/// name (deterministic, unique per plan and phase).
fn revision(m: &Migration, version: u64) -> String {
    format!("{version}_{}", &crate::plan::sha256_hex(m.slug.as_bytes())[..8])
}

pub fn render(
    cx: &StateCx,
    m: &Migration,
    version: u64,
    all: &[Migration],
    opts: &ExportOptions,
) -> Vec<ExportFile> {
    let previous = match m.seq {
        0 => opts.after.clone(),
        n => all.iter().find(|p| p.seq == n - 1).map(|p| revision(p, version - 1)),
    };
    let function = |name: &str, body: &Body| {
        let mut out = format!("def {name}():\n");
        let qs = queries(cx, m, body, true);
        let (pad, open) = if body.transactional() {
            ("    ", String::new())
        } else {
            ("        ", "    # runs outside Alembic's transaction: it commits step by step\n    with op.get_context().autocommit_block():\n".to_string())
        };
        out.push_str(&open);
        for q in qs {
            // The DB-API driver formats the statement (pyformat), so a literal % is written %%.
            out.push_str(&format!(
                "{pad}op.get_bind().exec_driver_sql({})\n",
                py_string(&q.replace('%', "%%"))
            ));
        }
        out
    };
    let contents = format!(
        "{}\"\"\"{}\"\"\"\nfrom alembic import op\n\nrevision = \"{}\"\ndown_revision = {}\nbranch_labels = None\ndepends_on = None\n\n\n{}\n\n{}",
        notes(m, "#"),
        m.slug,
        revision(m, version),
        previous.map(|p| format!("\"{p}\"")).unwrap_or_else(|| "None".into()),
        function("upgrade", &m.up),
        function("downgrade", &m.down)
    );
    vec![ExportFile { path: format!("{version}_{}.py", m.slug), contents }]
}
