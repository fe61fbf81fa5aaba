//! `--format github`: workflow commands, shown inline on the pull request diff.
//! https://docs.github.com/actions/reference/workflow-commands-for-github-actions

use std::io::{self, Write};

use super::Reporter;
use crate::lint::{LintReport, Severity};

pub struct Github;

/// Message data escaping: `%`, CR and LF.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Property escaping additionally covers `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

impl Reporter for Github {
    fn render(&self, report: &LintReport, out: &mut dyn Write) -> io::Result<()> {
        for f in &report.findings {
            let level = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            let mut message = f.message.clone();
            if let Some(h) = &f.help {
                message.push_str("\nhelp: ");
                message.push_str(h);
            }
            if let Some(s) = &f.suggestion {
                message.push_str("\ninstead: ");
                message.push_str(s);
            }
            writeln!(
                out,
                "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}",
                escape_property(&f.file),
                f.start.line,
                f.start.column,
                f.end.line,
                f.end.column,
                escape_property(&format!("planner check: {}", f.rule)),
                escape_data(&message)
            )?;
        }
        for note in &report.notes {
            writeln!(out, "::notice title=planner check::{}", escape_data(note))?;
        }
        Ok(())
    }
}
