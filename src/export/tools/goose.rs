//! goose: one `<version>_<name>.sql` with `-- +goose Up` / `-- +goose Down`, every query between
//! `StatementBegin`/`StatementEnd` (they hold dollar-quoted bodies), and `-- +goose NO TRANSACTION`
//! for a migration that must not run in goose's transaction.

use super::{notes, queries};
use crate::export::migration::{Body, Migration};
use crate::export::{ExportFile, StateCx};

pub fn render(cx: &StateCx, m: &Migration, version: u64) -> Vec<ExportFile> {
    let section = |body: &Body| {
        queries(cx, m, body, true)
            .iter()
            .map(|q| format!("-- +goose StatementBegin\n{q}-- +goose StatementEnd\n"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let no_tx =
        if m.up.transactional() && m.down.transactional() { "" } else { "-- +goose NO TRANSACTION\n" };
    let contents = format!(
        "{no_tx}{}\n-- +goose Up\n{}\n-- +goose Down\n{}",
        notes(m, "--"),
        section(&m.up),
        section(&m.down)
    );
    vec![ExportFile { path: format!("{version}_{}.sql", m.slug), contents }]
}
