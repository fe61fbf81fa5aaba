//! What planner prints on stderr while it works, and how much: one `tracing` subscriber for
//! planner's own progress lines (target `planner`) and sqlx's statement events (`sqlx::query`).
//!
//! Every line starts with a UTC timestamp (log files and CI logs need them; a terminal does not
//! mind), then `[target]` when the event happened inside a fleet run's span, then the message.
//! `-v` adds every SQL statement with its duration, `-q` keeps only errors.

use std::fmt::Write as _;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// How much goes to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// `-q`: errors only (the final `error:` line is printed by main either way).
    Quiet,
    #[default]
    Normal,
    /// `-v`: also every statement sent to the server, with its duration.
    Verbose,
}

impl Verbosity {
    pub fn from_flags(verbose: bool, quiet: bool) -> Verbosity {
        match (verbose, quiet) {
            (true, _) => Verbosity::Verbose,
            (false, true) => Verbosity::Quiet,
            _ => Verbosity::Normal,
        }
    }
}

/// The span field that names a fleet run's target: `tracing::info_span!("fleet", target = %name)`.
pub const TARGET_FIELD: &str = "target";

/// Install the subscriber for this process (a second call is ignored, as in tests).
pub fn install(verbosity: Verbosity) {
    let _ = tracing_subscriber::registry().with(Lines { verbosity }).try_init();
}

/// The layer that filters and writes the lines.
struct Lines {
    verbosity: Verbosity,
}

/// The fleet target of a span, stored in its extensions.
struct SpanTarget(String);

impl Lines {
    fn wants(&self, meta: &Metadata<'_>) -> bool {
        let level = *meta.level();
        let target = meta.target();
        if meta.is_span() {
            return true;
        }
        if target.starts_with("sqlx::query") {
            return self.verbosity == Verbosity::Verbose && level <= Level::DEBUG;
        }
        let ours = target == "planner" || target.starts_with("planner::");
        match self.verbosity {
            Verbosity::Quiet => level <= Level::ERROR,
            Verbosity::Normal if ours => level <= Level::INFO,
            Verbosity::Verbose if ours => level <= Level::DEBUG,
            // Other crates: their warnings, and with -v their informational lines.
            Verbosity::Normal => level <= Level::WARN,
            Verbosity::Verbose => level <= Level::INFO,
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Lines {
    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.wants(meta)
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(target), Some(span)) = (fields.get(TARGET_FIELD), ctx.span(id)) {
            span.extensions_mut().insert(SpanTarget(target.to_string()));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let target = ctx.event_scope(event).and_then(|scope| {
            scope.from_root().find_map(|span| span.extensions().get::<SpanTarget>().map(|t| t.0.clone()))
        });
        let meta = event.metadata();
        let body = if meta.target().starts_with("sqlx::query") {
            statement_line(&fields)
        } else {
            let message = fields.get("message").unwrap_or_default().to_string();
            match *meta.level() {
                Level::ERROR => format!("error: {message}"),
                Level::WARN => format!("warning: {message}"),
                _ => message,
            }
        };
        let mut line = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        if let Some(t) = target {
            let _ = write!(line, " [{t}]");
        }
        // Multi-line messages keep their shape, indented under the stamp.
        for (i, part) in body.lines().enumerate() {
            if i == 0 {
                let _ = write!(line, " {part}");
            } else {
                let _ = write!(line, "\n    {part}");
            }
        }
        line.push('\n');
        // One write per line, so parallel targets never interleave inside a line.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// `sql 1.2 ms (3 rows): ALTER TABLE …` from sqlx's statement event.
fn statement_line(fields: &Fields) -> String {
    let statement = fields
        .get("db.statement")
        .filter(|s| !s.trim().is_empty())
        .or_else(|| fields.get("summary"))
        .unwrap_or_default();
    let secs: f64 = fields.get("elapsed_secs").and_then(|s| s.parse().ok()).unwrap_or(0.0);
    // A SELECT's command tag counts its rows as "affected" too: the larger of the two, not the sum.
    let count = |name| fields.get(name).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    let rows = count("rows_affected").max(count("rows_returned"));
    format!("sql {:.1} ms ({rows} rows): {}", secs * 1000.0, one_line(statement, 2000))
}

/// Whitespace squeezed to single spaces, at most `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > max {
        format!("{}…", s.chars().take(max).collect::<String>())
    } else {
        s
    }
}

/// An event's or span's fields as text.
#[derive(Default)]
struct Fields(Vec<(&'static str, String)>);

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), value.to_string()));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push((field.name(), value.to_string()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name(), format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_lines_name_the_duration_and_the_statement() {
        let fields = Fields(vec![
            ("summary", "alter table \"public\".\"users\" …".into()),
            ("db.statement", "\n\nALTER TABLE \"public\".\"users\"\n  ADD COLUMN x int\n".into()),
            ("rows_affected", "3".into()),
            ("rows_returned", "3".into()),
            ("elapsed_secs", "0.0123".into()),
        ]);
        assert_eq!(
            statement_line(&fields),
            "sql 12.3 ms (3 rows): ALTER TABLE \"public\".\"users\" ADD COLUMN x int"
        );
        let short = Fields(vec![("summary", "SELECT 1".into()), ("db.statement", "".into())]);
        assert_eq!(statement_line(&short), "sql 0.0 ms (0 rows): SELECT 1");
    }

    #[test]
    fn verbosity_filters_by_target_and_level() {
        assert_eq!(Verbosity::from_flags(true, false), Verbosity::Verbose);
        assert_eq!(Verbosity::from_flags(false, true), Verbosity::Quiet);
        assert_eq!(Verbosity::from_flags(false, false), Verbosity::Normal);
    }
}
