//! dbmate: one `<version>_<name>.sql` with `-- migrate:up` / `-- migrate:down` sections, each
//! marked `transaction:false` when it must not run in dbmate's transaction. dbmate sends a
//! section as one query, so a statement that must run alone has a migration of its own.

use super::{notes, queries};
use crate::export::migration::{Body, Migration};
use crate::export::{ExportFile, StateCx};

pub fn render(cx: &StateCx, m: &Migration, version: u64) -> Vec<ExportFile> {
    let marker = |body: &Body, dir: &str| {
        let flag = if body.transactional() { "" } else { " transaction:false" };
        format!("-- migrate:{dir}{flag}\n")
    };
    // dbmate wants the file to start with its directive: the notes follow it.
    let contents = format!(
        "{}{}\n{}\n{}{}",
        marker(&m.up, "up"),
        notes(m, "--"),
        queries(cx, m, &m.up, true).join("\n"),
        marker(&m.down, "down"),
        queries(cx, m, &m.down, true).join("\n"),
    );
    vec![ExportFile { path: format!("{version}_{}.sql", m.slug), contents }]
}
