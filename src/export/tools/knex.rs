//! knex: `<YYYYMMDDHHMMSS>_<name>.js` exporting `up`/`down` (SQL through `knex.raw`), and
//! `config = { transaction: false }` for a migration that must not run in knex's transaction.

use super::{js_template, notes, queries};
use crate::export::migration::{BlockKind, Body, Migration};
use crate::export::{ExportFile, StateCx};

pub fn render(cx: &StateCx, m: &Migration, version: u64) -> Vec<ExportFile> {
    let method = |name: &str, body: &Body| {
        let mut out = format!("exports.{name} = async function (knex) {{\n");
        if body.transactional() {
            for q in queries(cx, m, body, true) {
                out.push_str(&format!("  await knex.raw({});\n", js_template(&q)));
            }
        } else {
            for block in body.blocks(&cx.plan.name, m.phase) {
                match block.kind {
                    BlockKind::Tx => out.push_str(&format!(
                        "  await knex.transaction((trx) => trx.raw({}));\n",
                        js_template(&block.sql)
                    )),
                    BlockKind::Alone => {
                        out.push_str(&format!("  await knex.raw({});\n", js_template(&block.sql)))
                    }
                }
            }
        }
        out.push_str("};\n");
        out
    };
    let config = if m.up.transactional() && m.down.transactional() {
        String::new()
    } else {
        "\n// runs outside knex's transaction: it commits step by step\nexports.config = { transaction: false };\n".to_string()
    };
    let contents =
        format!("{}\n{}\n{}{config}", notes(m, "//"), method("up", &m.up), method("down", &m.down));
    vec![ExportFile { path: format!("{version}_{}.js", m.slug), contents }]
}
