//! Rails (Active Record): `db/migrate/<timestamp>_<name>.rb` with `up`/`down` running SQL through
//! `execute`, and `disable_ddl_transaction!` for a migration that must not run in Rails'
//! transaction; a down that cannot be undone raises `ActiveRecord::IrreversibleMigration`.

use super::{camel, notes, queries};
use crate::export::migration::{Body, Migration};
use crate::export::{ExportFile, StateCx};

pub fn render(cx: &StateCx, m: &Migration, version: u64) -> Vec<ExportFile> {
    let method = |name: &str, body: &Body| {
        let mut out = format!("  def {name}\n");
        if let Body::Impossible(why) = body {
            let why = why.replace('\\', "\\\\").replace('\'', "\\'");
            out.push_str(&format!("    raise ActiveRecord::IrreversibleMigration, '{why}'\n"));
        } else {
            for q in queries(cx, m, body, true) {
                out.push_str("    execute <<~'PLANNER_SQL'\n");
                for line in q.lines() {
                    out.push_str(&if line.is_empty() { "\n".to_string() } else { format!("      {line}\n") });
                }
                out.push_str("    PLANNER_SQL\n");
            }
        }
        out.push_str("  end\n");
        out
    };
    let disable =
        if m.up.transactional() && m.down.transactional() { "" } else { "  disable_ddl_transaction!\n\n" };
    let contents = format!(
        "{}\nclass {} < ActiveRecord::Migration[7.1]\n{disable}{}\n{}end\n",
        notes(m, "#"),
        camel(&m.slug),
        method("up", &m.up),
        method("down", &m.down)
    );
    vec![ExportFile { path: format!("{version}_{}.rb", m.slug), contents }]
}
