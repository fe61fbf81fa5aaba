//! How far a long statement got: while a step that scans its table runs (CREATE INDEX
//! CONCURRENTLY, VALIDATE CONSTRAINT), a second connection polls `pg_stat_progress_create_index`
//! and `pg_stat_activity` for the session's server pid and logs each new phase and, every few
//! seconds, the blocks and tuples done. VALIDATE has no progress view: its lines say how long it
//! has run and what it waits for.

use std::future::Future;
use std::time::{Duration, Instant};

use sqlx::PgConnection;

/// What to watch: the session's server, its backend pid, the step's description.
#[derive(Debug, Clone)]
pub struct Watch {
    pub url: String,
    pub pid: i32,
    pub what: String,
}

/// How often the view is read.
const POLL: Duration = Duration::from_millis(500);
/// A line with the figures at most this often when the phase stays the same.
const FIGURES_EVERY: Duration = Duration::from_secs(5);

/// One reading of the views.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reading {
    /// pg_stat_progress_create_index.phase (None: not an index build)
    pub phase: Option<String>,
    pub blocks: (i64, i64),
    pub tuples: (i64, i64),
    pub lockers: (i64, i64),
    /// pg_stat_activity.wait_event_type / wait_event
    pub wait: Option<String>,
}

impl Reading {
    /// `building index: scanning table: 1,234 of 10,000 blocks (12%)`.
    pub fn describe(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs();
        let Some(phase) = &self.phase else {
            return match &self.wait {
                Some(w) => format!("running for {secs}s, waiting for {w}"),
                None => format!("running for {secs}s"),
            };
        };
        let mut out = format!("{phase} ({secs}s)");
        let part = |(done, total): (i64, i64), what: &str| {
            let pct = if total > 0 {
                format!(" ({:.0}%)", 100.0 * done as f64 / total as f64)
            } else {
                String::new()
            };
            format!(", {} of {} {what}{pct}", thousands(done), thousands(total))
        };
        if self.lockers.1 > 0 {
            out.push_str(&part(self.lockers, "sessions waited for"));
        }
        if self.blocks.1 > 0 {
            out.push_str(&part(self.blocks, "blocks"));
        }
        if self.tuples.1 > 0 {
            out.push_str(&part(self.tuples, "tuples"));
        }
        if let Some(w) = &self.wait {
            out.push_str(&format!(", waiting for {w}"));
        }
        out
    }
}

fn thousands(n: i64) -> String {
    crate::exec::verify::thousands(n)
}

/// Drive `fut` to completion; with a `watch`, log its progress meanwhile. The watcher runs
/// beside the statement, never in its way: `fut` is polled all along (a result is read, and a
/// transaction committed, as soon as the server has it), and watching never fails the statement:
/// if the second connection cannot be opened or read, the lines simply stop.
pub async fn while_running<F: Future>(fut: F, watch: Option<Watch>) -> F::Output {
    let Some(watch) = watch else { return fut.await };
    tokio::select! {
        out = fut => out,
        never = watch_until_dropped(&watch) => match never {},
    }
}

/// Poll and log until the caller drops this future (when the statement ended).
async fn watch_until_dropped(watch: &Watch) -> std::convert::Infallible {
    let started = Instant::now();
    let mut last: Option<(Option<String>, Instant)> = None;
    tokio::time::sleep(POLL).await;
    let mut monitor = match super::connect::connect(&watch.url, "planner/progress").await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::debug!(target: "planner", "no progress for `{}`: {e:#}", watch.what);
            None
        }
    };
    loop {
        if let Some(conn) = monitor.as_mut() {
            match read(conn, watch.pid).await {
                Ok(Some(reading)) => {
                    let new_phase = last.as_ref().is_none_or(|(phase, _)| *phase != reading.phase);
                    let due = last.as_ref().is_some_and(|(_, at)| at.elapsed() >= FIGURES_EVERY);
                    if new_phase || due {
                        tracing::info!(target: "planner", "  {}: {}", watch.what, reading.describe(started.elapsed()));
                        last = Some((reading.phase.clone(), Instant::now()));
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(target: "planner", "no progress for `{}`: {e:#}", watch.what);
                    monitor = None;
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The views' row for `pid` (None when the backend is not running a statement any more).
async fn read(conn: &mut PgConnection, pid: i32) -> anyhow::Result<Option<Reading>> {
    type Row = (
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT p.phase, p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total,
                p.lockers_done, p.lockers_total, a.wait_event_type, a.wait_event
           FROM pg_stat_activity a
           LEFT JOIN pg_stat_progress_create_index p ON p.pid = a.pid
          WHERE a.pid = $1 AND a.state = 'active'",
    )
    .bind(pid)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(phase, bd, bt, td, tt, ld, lt, wtype, wevent)| Reading {
        phase,
        blocks: (bd.unwrap_or(0), bt.unwrap_or(0)),
        tuples: (td.unwrap_or(0), tt.unwrap_or(0)),
        lockers: (ld.unwrap_or(0), lt.unwrap_or(0)),
        wait: match (wtype, wevent) {
            (Some(t), Some(e)) => Some(format!("{t}/{e}")),
            _ => None,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_say_phase_and_figures() {
        let r = Reading {
            phase: Some("building index: scanning table".into()),
            blocks: (1234, 10000),
            tuples: (0, 0),
            lockers: (0, 0),
            wait: None,
        };
        assert_eq!(
            r.describe(Duration::from_secs(3)),
            "building index: scanning table (3s), 1,234 of 10,000 blocks (12%)"
        );
        let v = Reading { wait: Some("Lock/virtualxid".into()), ..Default::default() };
        assert_eq!(v.describe(Duration::from_secs(7)), "running for 7s, waiting for Lock/virtualxid");
    }
}
