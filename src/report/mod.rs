//! Reporters for lint findings: one file per output format, all behind `Reporter`.

mod github;
mod human;
mod json;
mod sarif;

use std::io::{self, Write};

use crate::lint::LintReport;

pub use github::Github;
pub use human::Human;
pub use json::Json;
pub use sarif::Sarif;

/// Renders a finished lint report. Reporters only format: the linter decided everything else.
pub trait Reporter {
    fn render(&self, report: &LintReport, out: &mut dyn Write) -> io::Result<()>;
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Readable text with a source excerpt (colour on a terminal).
    #[default]
    Human,
    /// One JSON document: findings and summary.
    Json,
    /// GitHub Actions workflow annotations.
    Github,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
}

impl Format {
    pub fn reporter(self, colour: bool) -> Box<dyn Reporter> {
        match self {
            Format::Human => Box::new(Human { colour }),
            Format::Json => Box::new(Json),
            Format::Github => Box::new(Github),
            Format::Sarif => Box::new(Sarif),
        }
    }
}
