//! The latency probe behind `--hold-latency`: what an application's short transaction feels.
//!
//! On its own connection, every [`PROBE_EVERY`], one statement reads one row of the table being
//! filled by primary key (near where the backfill writes) and upserts this session's row in
//! `planner.probe`, then commits: an index lookup on the same pages, a row lock and a WAL flush
//! (synchronous_commit as the server's default, so a synchronous standby's round trip counts as it
//! does for the app). Samples go to the engine through a channel; the probe stops when dropped.

use std::time::{Duration, Instant};

use sqlx::PgConnection;
use tokio::sync::{mpsc, watch};

use super::keyset::BatchSql;

/// Probes per second: 10, so a 20-probe p99 window spans two seconds.
pub const PROBE_EVERY: Duration = Duration::from_millis(100);
/// A probe that waits longer (a lock held by someone) is cut off and counted at this latency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A running probe. Dropping it stops the task.
pub struct Probe {
    samples: mpsc::UnboundedReceiver<Duration>,
    position: watch::Sender<Option<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
    /// The first error that stopped the probe, for the log.
    errors: mpsc::UnboundedReceiver<String>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Probe {
    /// Start probing `sql.table` on `conn` (a connection of its own).
    pub async fn start(mut conn: PgConnection, sql: &BatchSql) -> anyhow::Result<Probe> {
        sqlx::raw_sql(crate::backend::dynamic(format!(
            "SET application_name = 'planner probe'; SET statement_timeout = '{}ms'; SET lock_timeout = '{}ms'",
            PROBE_TIMEOUT.as_millis(),
            PROBE_TIMEOUT.as_millis()
        )))
        .execute(&mut conn)
        .await?;
        // One row per probe session; forget those of runs long gone.
        sqlx::query("DELETE FROM planner.probe WHERE at < now() - interval '1 day'")
            .execute(&mut conn)
            .await?;
        let (tx, samples) = mpsc::unbounded_channel();
        let (etx, errors) = mpsc::unbounded_channel();
        let (position, pos_rx) = watch::channel(None::<Vec<String>>);
        let first = sql.probe(false);
        let next = sql.probe(true);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let key = pos_rx.borrow().clone();
                let mut q =
                    sqlx::query(crate::backend::dynamic(if key.is_some() { &next } else { &first }.clone()));
                for v in key.iter().flatten() {
                    q = q.bind(v.clone());
                }
                let started = Instant::now();
                let result = q.execute(&mut conn).await;
                let took = started.elapsed();
                match result {
                    Ok(_) => {}
                    // Cut off by its own timeout: the server kept it waiting that long.
                    Err(e)
                        if matches!(
                            e.as_database_error().and_then(|d| d.code()).as_deref(),
                            Some("57014" | "55P03")
                        ) => {}
                    Err(e) => {
                        let _ = etx.send(format!("latency probe stopped: {e}"));
                        return;
                    }
                }
                if tx.send(took).is_err() {
                    return;
                }
            }
        });
        Ok(Probe { samples, position, task, errors })
    }

    /// Where the backfill is: the probe reads the next row from there.
    pub fn set_position(&self, key: &[String]) {
        self.position.send_replace(Some(key.to_vec()));
    }

    /// Samples measured since the last call.
    pub fn drain(&mut self) -> Vec<Duration> {
        let mut out = Vec::new();
        while let Ok(s) = self.samples.try_recv() {
            out.push(s);
        }
        out
    }

    /// Wait for the next sample (None: the probe stopped).
    pub async fn next(&mut self) -> Option<Duration> {
        self.samples.recv().await
    }

    /// Why the probe stopped, if it did.
    pub fn error(&mut self) -> Option<String> {
        self.errors.try_recv().ok()
    }
}
