//! What a rule is, what it reports, and the static registry macro.

use std::fmt;

use serde::Serialize;

use super::context::FileCx;
use super::source::{Pos, Stmt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// A rule's identity and documentation. `docs` is markdown: problem, why, safe alternative.
#[derive(Debug)]
pub struct RuleMeta {
    /// kebab-case, stable: used in `-- planner:ignore`, config and output.
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub docs: &'static str,
}

/// One problem at one statement.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub file: String,
    pub start: Pos,
    pub end: Pos,
    pub message: String,
    pub help: Option<String>,
    /// The command or SQL to use instead (e.g. `planner plan rename users.name full_name`).
    pub suggestion: Option<String>,
    /// The source line the statement starts on (for the human format's excerpt).
    #[serde(skip)]
    pub excerpt: String,
}

/// A rule reads one statement and the precomputed file context; it never re-walks the file.
pub trait Rule: Sync {
    fn meta(&self) -> &'static RuleMeta;
    fn check(&self, stmt: &Stmt, cx: &FileCx, out: &mut Findings);
}

/// Collects a rule's findings; the engine fills in file, location and severity.
pub struct Findings {
    pub(crate) items: Vec<Draft>,
}

pub(crate) struct Draft {
    pub rule: &'static RuleMeta,
    pub message: String,
    pub help: Option<String>,
    pub suggestion: Option<String>,
    pub severity: Option<Severity>,
}

impl Draft {
    pub(crate) fn new(rule: &'static RuleMeta, message: impl Into<String>) -> Self {
        Draft { rule, message: message.into(), help: None, suggestion: None, severity: None }
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl Findings {
    pub(crate) fn new() -> Self {
        Findings { items: Vec::new() }
    }

    /// Report `message` for `rule`; chain `.help()` / `.suggest()` on the result.
    pub fn report(&mut self, rule: &'static RuleMeta, message: impl Into<String>) -> DraftMut<'_> {
        self.items.push(Draft {
            rule,
            message: message.into(),
            help: None,
            suggestion: None,
            severity: None,
        });
        DraftMut(self.items.last_mut().expect("just pushed"))
    }
}

pub struct DraftMut<'a>(&'a mut Draft);

impl DraftMut<'_> {
    pub fn help(self, help: impl Into<String>) -> Self {
        self.0.help = Some(help.into());
        self
    }
    pub fn suggest(self, suggestion: impl Into<String>) -> Self {
        self.0.suggestion = Some(suggestion.into());
        self
    }
    /// Override the rule's default severity for this finding (e.g. a weaker, uncertain case).
    pub fn severity(self, severity: Severity) -> Self {
        self.0.severity = Some(severity);
        self
    }
}

/// `register_rules![module::Type, ...]` declares each rule module and the static registry, so
/// adding a rule is one line here plus its file.
#[macro_export]
macro_rules! register_rules {
    ($($module:ident :: $ty:ident),* $(,)?) => {
        $(mod $module;)*
        /// Every rule, in documentation order.
        pub static RULES: &[&dyn $crate::lint::rule::Rule] = &[$(&$module::$ty),*];
    };
}
