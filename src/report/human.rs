//! `--format human`: rustc-style findings with the statement's first line and a caret.

use std::io::{self, Write};

use super::Reporter;
use crate::lint::{LintReport, Severity};

pub struct Human {
    pub colour: bool,
}

impl Human {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

impl Reporter for Human {
    fn render(&self, report: &LintReport, out: &mut dyn Write) -> io::Result<()> {
        for f in &report.findings {
            let (label, code) = match f.severity {
                Severity::Error => ("error", "1;31"),
                Severity::Warning => ("warning", "1;33"),
                Severity::Info => ("info", "1;36"),
            };
            writeln!(
                out,
                "{}: {}",
                self.paint(code, &format!("{label}[{}]", f.rule)),
                self.paint("1", &f.message)
            )?;
            let gutter = f.start.line.to_string().len();
            let pad = " ".repeat(gutter);
            writeln!(out, "{pad}{} {}:{}:{}", self.paint("34", "-->"), f.file, f.start.line, f.start.column)?;
            writeln!(out, "{pad} {}", self.paint("34", "|"))?;
            writeln!(
                out,
                "{} {} {}",
                self.paint("34", &f.start.line.to_string()),
                self.paint("34", "|"),
                f.excerpt
            )?;
            let caret_pad: String = f
                .excerpt
                .chars()
                .take(f.start.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(out, "{pad} {} {caret_pad}{}", self.paint("34", "|"), self.paint(code, "^"))?;
            if let Some(help) = &f.help {
                let mut lines = help.lines();
                if let Some(first) = lines.next() {
                    writeln!(out, "{pad} {} help: {first}", self.paint("34", "="))?;
                }
                for line in lines {
                    writeln!(out, "{pad}         {line}")?;
                }
            }
            if let Some(s) = &f.suggestion {
                writeln!(out, "{pad} {} instead: {}", self.paint("34", "="), self.paint("32", s))?;
            }
            writeln!(out)?;
        }
        for note in &report.notes {
            writeln!(out, "{}: {note}", self.paint("1;34", "note"))?;
        }
        let s = &report.summary;
        let verdict = if s.errors > 0 { self.paint("1;31", "failed") } else { self.paint("1;32", "ok") };
        writeln!(
            out,
            "{verdict}: {} file(s), {} statement(s): {} error(s), {} warning(s), {} info; {} unparsed, {} suppressed",
            s.files, s.statements, s.errors, s.warnings, s.infos, s.unparsed, s.suppressed
        )
    }
}
