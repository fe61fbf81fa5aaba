//! Live figures of a running backfill, served as Prometheus text by `--metrics-addr`.
//!
//! The engine updates them as it goes (cheap atomics, no lock on the hot path except the label
//! families); [`serve`] answers every HTTP request with the current text. Names follow
//! Prometheus conventions: `planner_backfill_*`, seconds and bytes in base units, `_total` on
//! counters.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::pause::PauseReason;

type Labels = Vec<(String, String)>;

struct Figures {
    registry: Registry,
    rows_done: Family<Labels, Gauge>,
    rows_total: Family<Labels, Gauge>,
    rows_per_second: Gauge<f64, AtomicU64>,
    batch_size: Gauge,
    batch_duration: Histogram,
    probe_p99: Gauge<f64, AtomicU64>,
    probe_bound: Gauge<f64, AtomicU64>,
    throttle: Family<Labels, Gauge>,
    pauses: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    /// The throttle label set currently at 1 (reset to 0 on change).
    current_throttle: std::sync::Mutex<Option<Labels>>,
}

/// Shared handle; clones update the same figures.
#[derive(Clone)]
pub struct Telemetry(Arc<Figures>);

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("planner_backfill");
        let f = Figures {
            rows_done: Family::default(),
            rows_total: Family::default(),
            rows_per_second: Gauge::default(),
            batch_size: Gauge::default(),
            // 1 ms .. ~16 s
            batch_duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            probe_p99: Gauge::default(),
            probe_bound: Gauge::default(),
            throttle: Family::default(),
            pauses: Family::default(),
            errors: Family::default(),
            current_throttle: std::sync::Mutex::new(None),
            registry: Registry::default(),
        };
        registry.register("rows_done", "Keys visited so far (all runs), per table", f.rows_done.clone());
        registry.register(
            "rows_total",
            "Rows expected per table (pg_class.reltuples, kept ahead of rows done)",
            f.rows_total.clone(),
        );
        registry.register(
            "rows_per_second",
            "Keys visited per second in this run",
            f.rows_per_second.clone(),
        );
        registry.register("batch_size", "Rows per batch now", f.batch_size.clone());
        registry.register("batch_duration_seconds", "Time per batch statement", f.batch_duration.clone());
        registry.register(
            "probe_latency_p99_seconds",
            "p99 of the --hold-latency probe over its window",
            f.probe_p99.clone(),
        );
        registry.register("probe_bound_seconds", "The --hold-latency bound", f.probe_bound.clone());
        registry.register(
            "throttle_state",
            "1 for the current state (running, slowed, paused) with its reason",
            f.throttle.clone(),
        );
        registry.register("pauses", "Pauses started, by reason", f.pauses.clone());
        registry.register("errors", "Errors by kind (retried batches, probe failures)", f.errors.clone());
        Telemetry(Arc::new(Figures { registry, ..f }))
    }
}

fn label(k: &str, v: &str) -> Labels {
    vec![(k.to_string(), v.to_string())]
}

impl Telemetry {
    pub fn table_started(&self, table: &str, estimate: u64, done: u64) {
        self.0.rows_total.get_or_create(&label("table", table)).set(estimate.max(done) as i64);
        self.0.rows_done.get_or_create(&label("table", table)).set(done as i64);
        self.set_throttle("running", "");
    }

    pub fn batch_done(&self, table: &str, done: u64, rate: f64, batch: u32, took: Duration) {
        let total = self.0.rows_total.get_or_create(&label("table", table));
        if done as i64 > total.get() {
            total.set((done + done / 20) as i64);
        }
        self.0.rows_done.get_or_create(&label("table", table)).set(done as i64);
        self.0.rows_per_second.set(rate);
        self.0.batch_size.set(batch as i64);
        self.0.batch_duration.observe(took.as_secs_f64());
    }

    pub fn probe(&self, p99: Duration, bound: Duration, slowed: bool) {
        self.0.probe_p99.set(p99.as_secs_f64());
        self.0.probe_bound.set(bound.as_secs_f64());
        if slowed {
            self.set_throttle("slowed", "probe latency");
        }
    }

    pub fn pause_started(&self, reason: &PauseReason) {
        self.0.pauses.get_or_create(&label("reason", &reason.key())).inc();
        self.set_throttle("paused", &reason.key());
    }

    pub fn running(&self) {
        self.set_throttle("running", "");
    }

    pub fn error(&self, kind: &str) {
        self.0.errors.get_or_create(&label("kind", kind)).inc();
    }

    fn set_throttle(&self, state: &str, reason: &str) {
        let labels =
            vec![("state".to_string(), state.to_string()), ("reason".to_string(), reason.to_string())];
        let mut current = self.0.current_throttle.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref() == Some(&labels) {
            return;
        }
        if let Some(old) = current.take() {
            self.0.throttle.get_or_create(&old).set(0);
        }
        self.0.throttle.get_or_create(&labels).set(1);
        *current = Some(labels);
    }

    /// The current figures in the text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.0.registry);
        out
    }
}

/// Serve `telemetry` on `addr` (every path) from a thread of its own, for the life of the process.
pub fn serve(addr: SocketAddr, telemetry: Telemetry) -> Result<SocketAddr, String> {
    let server = tiny_http::Server::http(addr).map_err(|e| e.to_string())?;
    let bound = server.server_addr().to_ip().unwrap_or(addr);
    std::thread::Builder::new()
        .name("planner-metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let body = telemetry.render();
                let header = tiny_http::Header::from_bytes(
                    &b"Content-Type"[..],
                    &b"application/openmetrics-text; version=1.0.0; charset=utf-8"[..],
                )
                .expect("static header");
                let _ = request.respond(tiny_http::Response::from_string(body).with_header(header));
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_figure_with_labels() {
        let t = Telemetry::default();
        t.table_started("users", 1000, 0);
        t.batch_done("users", 500, 250.0, 500, Duration::from_millis(20));
        t.probe(Duration::from_millis(3), Duration::from_millis(4), false);
        t.pause_started(&PauseReason::Requested);
        t.error("batch_retried");
        let text = t.render();
        for line in [
            "planner_backfill_rows_done{table=\"users\"} 500",
            "planner_backfill_rows_total{table=\"users\"} 1000",
            "planner_backfill_batch_size 500",
            "planner_backfill_batch_duration_seconds_count 1",
            "planner_backfill_pauses_total{reason=\"requested\"} 1",
            "planner_backfill_throttle_state{state=\"paused\",reason=\"requested\"} 1",
            "planner_backfill_throttle_state{state=\"running\",reason=\"\"} 0",
            "planner_backfill_errors_total{kind=\"batch_retried\"} 1",
            "planner_backfill_probe_bound_seconds 0.004",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
    }
}
