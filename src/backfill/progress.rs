//! Progress: an indicatif bar on a terminal, a plain line every few seconds otherwise, and the
//! final summary.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How to show progress (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Always the bar.
    Bar,
    /// A log line every few seconds.
    Plain,
    /// Only the final summary.
    None,
}

/// How often plain mode prints a line.
const PLAIN_EVERY: Duration = Duration::from_secs(3);

/// Progress of one table.
pub struct Progress {
    mode: ProgressMode,
    table: String,
    bar: Option<ProgressBar>,
    estimate: u64,
    started: Instant,
    /// Rows done when this run started (a resumed run counts its own rate).
    base: u64,
    last_line: Instant,
    /// What the throttle is doing and why (latency probe, pause), shown after the rate.
    status: Option<String>,
    /// The bar's message without the status ("1,234 rows/s, batch 1000").
    figures: String,
}

impl Progress {
    /// `estimate`: rows expected in total (pg_class.reltuples); `done`: rows already done by
    /// earlier runs.
    pub fn start(mode: ProgressMode, table: &str, estimate: u64, done: u64) -> Progress {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        };
        let estimate = estimate.max(done);
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(estimate), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {human_pos}/~{human_len} rows, {msg}, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(table.to_string());
            bar.set_position(done);
            bar.reset_eta();
            bar
        });
        let now = Instant::now();
        Progress {
            mode,
            table: table.to_string(),
            bar,
            estimate,
            started: now,
            base: done,
            last_line: now,
            status: None,
            figures: String::new(),
        }
    }

    /// What the throttle is doing, e.g. the latency probe's last decision.
    pub fn set_status(&mut self, status: String) {
        self.status = Some(status);
    }

    /// Set the status and show it now (a pause: no batch will update the bar meanwhile).
    pub fn show_status(&mut self, status: String) {
        self.status = (!status.is_empty()).then_some(status);
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}{}", self.figures, self.status_suffix()));
        }
    }

    fn status_suffix(&self) -> String {
        self.status.as_ref().map(|s| format!(", {s}")).unwrap_or_default()
    }

    /// After each batch: rows done in total, the current batch size.
    pub fn update(&mut self, done: u64, batch: u32) {
        // reltuples is an estimate: once passed, keep the total a little ahead of what is done.
        if done > self.estimate {
            self.estimate = done + done / 20;
        }
        if let Some(bar) = &self.bar {
            bar.set_length(self.estimate);
            bar.set_position(done);
            self.figures = format!("{} rows/s, batch {batch}", thousands(self.rate(done) as u64));
            bar.set_message(format!("{}{}", self.figures, self.status_suffix()));
        }
        if self.mode == ProgressMode::Plain && self.last_line.elapsed() >= PLAIN_EVERY {
            self.last_line = Instant::now();
            let rate = self.rate(done);
            let left = self.estimate.saturating_sub(done);
            let eta = if rate > 0.0 { format!("{:.0}s", left as f64 / rate) } else { "?".into() };
            eprintln!(
                "backfill {}: {} / ~{} rows ({:.0}%), {} rows/s, batch {batch}, ETA {eta}{}",
                self.table,
                thousands(done),
                thousands(self.estimate),
                100.0 * done as f64 / self.estimate.max(1) as f64,
                thousands(rate as u64),
                self.status_suffix(),
            );
        }
    }

    fn rate(&self, done: u64) -> f64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs > 0.0 {
            done.saturating_sub(self.base) as f64 / secs
        } else {
            0.0
        }
    }

    /// A line that must be seen (pauses, interruptions), printed above the bar.
    pub fn log(&self, line: &str) {
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.println(line),
            (None, ProgressMode::None) => {}
            (None, _) => eprintln!("{line}"),
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
