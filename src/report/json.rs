//! `--format json`: `{ "findings": [...], "summary": {...} }`, stable field names.

use std::io::{self, Write};

use super::Reporter;
use crate::lint::LintReport;

pub struct Json;

impl Reporter for Json {
    fn render(&self, report: &LintReport, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, report)?;
        writeln!(out)
    }
}
