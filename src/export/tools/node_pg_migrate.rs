//! node-pg-migrate: `<timestamp>_<name>.js` exporting `up`/`down` over `pgm.sql`, calling
//! `pgm.noTransaction()` for a migration that must not run in its transaction.

use super::{js_template, notes, queries};
use crate::export::migration::{Body, Migration};
use crate::export::{ExportFile, StateCx};

pub fn render(cx: &StateCx, m: &Migration, version: u64) -> Vec<ExportFile> {
    let method = |name: &str, body: &Body| {
        let mut out = format!("exports.{name} = (pgm) => {{\n");
        if !body.transactional() {
            out.push_str("  pgm.noTransaction();\n");
        }
        for q in queries(cx, m, body, true) {
            out.push_str(&format!("  pgm.sql({});\n", js_template(&q)));
        }
        out.push_str("};\n");
        out
    };
    let contents = format!("{}\n{}\n{}", notes(m, "//"), method("up", &m.up), method("down", &m.down));
    vec![ExportFile { path: format!("{version}_{}.js", m.slug), contents }]
}
