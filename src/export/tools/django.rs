//! Django: `<NNNN>_<name>.py` in the app's `migrations/`, one `RunSQL` per query (so each is its
//! own `execute`), `atomic = False` for a migration that must not run in Django's transaction,
//! `dependencies` chaining the exported migrations after the app's latest one (`--after`).

use super::{notes, py_string, queries};
use crate::export::migration::{Body, Migration};
use crate::export::{ExportFile, ExportOptions, StateCx};

fn name(m: &Migration, version: u64) -> String {
    format!("{version:04}_{}", m.slug)
}

pub fn render(
    cx: &StateCx,
    m: &Migration,
    version: u64,
    all: &[Migration],
    opts: &ExportOptions,
) -> Vec<ExportFile> {
    let atomic = m.up.transactional() && m.down.transactional();
    let previous = match m.seq {
        0 => opts.after.clone(),
        n => all.iter().find(|p| p.seq == n - 1).map(|p| name(p, version - 1)),
    };
    let deps = previous.map(|p| format!("(\"{}\", \"{p}\")", opts.app_label)).unwrap_or_default();
    let list = |body: &Body| {
        queries(cx, m, body, true)
            .iter()
            .map(|q| format!("            {},\n", py_string(q)))
            .collect::<String>()
    };
    let up = list(&m.up);
    let down = list(&m.down);
    let contents = format!(
        "{}\nfrom django.db import migrations\n\n\nclass Migration(migrations.Migration):\n{}    dependencies = [{deps}]\n\n    operations = [\n        migrations.RunSQL(\n            sql=[\n{up}            ],\n            reverse_sql=[\n{down}            ],\n        ),\n    ]\n",
        notes(m, "#"),
        if atomic { "" } else { "    # runs outside Django's transaction: it commits step by step\n    atomic = False\n" },
    );
    vec![ExportFile { path: format!("{}.py", name(m, version)), contents }]
}
