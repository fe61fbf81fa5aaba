//! golang-migrate: `<version>_<name>.up.sql` / `.down.sql`. It runs no transaction of its own
//! and sends a file as one query, so every file carries its own `BEGIN`/`COMMIT` and a statement
//! that must run outside a transaction has a file of its own.

use super::{notes, queries};
use crate::export::migration::{Body, Migration};
use crate::export::{ExportFile, StateCx};

pub fn render(cx: &StateCx, m: &Migration, version: u64) -> Vec<ExportFile> {
    let file = |body: &Body, dir: &str| {
        let contents = format!("{}\n{}", notes(m, "--"), queries(cx, m, body, false).join("\n"));
        ExportFile { path: format!("{version}_{}.{dir}.sql", m.slug), contents }
    };
    vec![file(&m.up, "up"), file(&m.down, "down")]
}
