//! Flyway: versioned `V<version>__<name>.sql`, undo `U<version>__<name>.sql` (Flyway Teams), and
//! a `.sql.conf` with `executeInTransaction=false` beside a migration that must not run in
//! Flyway's transaction (Flyway splits statements itself and runs each on its own).

use super::{notes, queries};
use crate::export::migration::{Body, Migration};
use crate::export::{ExportFile, StateCx};

pub fn render(cx: &StateCx, m: &Migration, version: u64) -> Vec<ExportFile> {
    let mut files = Vec::new();
    let mut file = |prefix: &str, body: &Body| {
        let name = format!("{prefix}{version}__{}.sql", m.slug);
        let contents = format!("{}\n{}", notes(m, "--"), queries(cx, m, body, true).join("\n"));
        if !body.transactional() {
            files.push(ExportFile {
                path: format!("{name}.conf"),
                contents: "# runs outside Flyway's transaction: it commits step by step (planner export)\nexecuteInTransaction=false\n".into(),
            });
        }
        files.push(ExportFile { path: name, contents });
    };
    file("V", &m.up);
    file("U", &m.down);
    files
}
