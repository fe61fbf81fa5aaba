//! sequelize-cli: `<YYYYMMDDHHMMSS>-<name>.js` with `up`/`down`. sequelize-cli runs no
//! transaction of its own: every transaction of the phase runs in `sequelize.transaction` (rolled
//! back on failure), and a statement that must run outside one is sent alone.

use super::{js_template, notes};
use crate::export::migration::{BlockKind, Body, Migration};
use crate::export::{ExportFile, StateCx};

pub fn render(cx: &StateCx, m: &Migration, version: u64) -> Vec<ExportFile> {
    let method = |name: &str, body: &Body| {
        let mut out = format!("  async {name}(queryInterface) {{\n");
        if !body.transactional() {
            out.push_str(
                "    // transaction: false: each transaction below commits on its own, in order, and a\n",
            );
            out.push_str("    // statement that must run outside one runs alone\n");
        }
        for block in body.blocks(&cx.plan.name, m.phase) {
            match block.kind {
                BlockKind::Tx => {
                    out.push_str("    await queryInterface.sequelize.transaction(async (transaction) => {\n");
                    out.push_str(&format!(
                        "      await queryInterface.sequelize.query({}, {{ transaction }});\n",
                        js_template(&block.sql)
                    ));
                    out.push_str("    });\n");
                }
                BlockKind::Alone => {
                    out.push_str(&format!(
                        "    await queryInterface.sequelize.query({});\n",
                        js_template(&block.sql)
                    ));
                }
            }
        }
        out.push_str("  },\n");
        out
    };
    let contents = format!(
        "'use strict';\n{}\n/** @type {{import('sequelize-cli').Migration}} */\nmodule.exports = {{\n{}{}}};\n",
        notes(m, "//"),
        method("up", &m.up),
        method("down", &m.down)
    );
    vec![ExportFile { path: format!("{version}-{}.js", m.slug), contents }]
}
