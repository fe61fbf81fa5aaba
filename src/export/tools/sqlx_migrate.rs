//! sqlx (`sqlx migrate run`, or its `migrate::Migrator` in the app): reversible `<version>_<name>.up.sql` /
//! `.down.sql`; a file that must not run in sqlx's transaction starts with `-- no-transaction`.
//! sqlx sends a file as one query, so a statement that must run alone has a migration of its own.

use super::{notes, queries};
use crate::export::migration::{Body, Migration};
use crate::export::{ExportFile, StateCx};

pub fn render(cx: &StateCx, m: &Migration, version: u64) -> Vec<ExportFile> {
    let file = |body: &Body, dir: &str| {
        let mut out = String::new();
        if !body.transactional() {
            out.push_str("-- no-transaction\n");
        }
        out.push_str(&notes(m, "--"));
        out.push('\n');
        out.push_str(&queries(cx, m, body, true).join("\n"));
        ExportFile { path: format!("{version}_{}.{dir}.sql", m.slug), contents: out }
    };
    vec![file(&m.up, "up"), file(&m.down, "down")]
}
