//! Throttle arithmetic, kept pure so it is unit-tested: batch size adaptation and rate pacing.

use std::time::Duration;

/// The throttle settings of a running backfill (may be changed while it runs).
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleSettings {
    /// Rows per batch to start with (and to keep, without a target batch time).
    pub batch: u32,
    /// Bounds for the adapted batch size.
    pub min_batch: u32,
    pub max_batch: u32,
    /// Fixed pause after every batch.
    pub sleep: Duration,
    /// Upper bound on rows per second, averaged from the start of the run.
    pub max_rate: Option<f64>,
    /// Adapt the batch size so each batch takes about this long.
    pub target_batch_time: Option<Duration>,
    /// Adapt the batch size and pauses so the latency probe's p99 stays within this bound
    /// (`--hold-latency`); it then owns the batch size (`target_batch_time` is not used).
    pub hold_latency: Option<super::latency::HoldLatency>,
}

/// Default upper bound of the adapted batch size (`--max-batch`). Measured with
/// `cargo bench --bench backfill` (PostgreSQL 15, shared_buffers 128MB, 2 cores): a batch's fixed
/// cost (round trip, planning, the checkpoint row) is a fraction of a millisecond (~0.1 ms from
/// the rates at 1,000 and 10,000 rows per batch), so past ~10,000 rows (~25 ms of work) bigger
/// batches buy no throughput: with --target-batch-time 100ms, batches
/// settling at ~35,000 rows (the former bound of 50,000) and at 10,000 rows backfilled 4M rows at
/// the same rate within noise (0.90-0.97 of a bulk UPDATE). They do cost the concurrent workload:
/// each holds its row locks ~3x longer and writes ~14 MB of WAL (measured: ~400 bytes a row
/// with full-page images after a checkpoint), over three times the 4 MB wal_buffers such a server
/// has (10,000 rows: ~4 MB), and the workload's p99 during the backfill was 7-8 ms instead of
/// ~5.8 ms.
pub const DEFAULT_MAX_BATCH: u32 = 10_000;

/// Default rows per batch (`--batch`), the same as the adaptive bound. Measured on 2026-12-02
/// through the real flow (`planner backfill` of a 1M-row table with the plan's sync trigger, four
/// pairs interleaved): the backfill's server process spent 2-30 % (median 7 %) less CPU per row
/// at 10,000 rows per batch than at 1,000. Each batch is planned afresh (~0.5 ms), is a round trip
/// and a commit, and is preceded by the main-session lock check (~1 ms on a loaded server); on a
/// loaded machine each round trip also waits to be scheduled. Batches of 10,000 rows take ~40 ms
/// on such a server; see [`DEFAULT_MAX_BATCH`] for what larger ones cost the workload.
pub const DEFAULT_BATCH: u32 = 10_000;

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            batch: DEFAULT_BATCH,
            min_batch: 100,
            max_batch: DEFAULT_MAX_BATCH,
            sleep: Duration::ZERO,
            max_rate: None,
            target_batch_time: None,
            hold_latency: None,
        }
    }
}

/// Largest change of the batch size from one batch to the next: one slow batch (a checkpoint,
/// a lock wait) must not collapse the size, nor one fast batch explode it.
const MAX_STEP: f64 = 2.0;

/// The batch size state of one run.
#[derive(Debug, Clone)]
pub struct Throttle {
    pub settings: ThrottleSettings,
    batch: u32,
}

impl Throttle {
    pub fn new(settings: ThrottleSettings) -> Self {
        let mut t = Throttle { batch: settings.batch, settings };
        t.batch = t.clamp(t.batch as f64);
        t
    }

    /// Replace the settings of a running backfill; the batch size restarts from the new `batch`
    /// only when it changed.
    pub fn update(&mut self, settings: ThrottleSettings) {
        let batch_changed = settings.batch != self.settings.batch;
        self.settings = settings;
        let base = if batch_changed { self.settings.batch } else { self.batch };
        self.batch = self.clamp(base as f64);
    }

    /// The bounds bind only when adapting: an explicit `--batch 50` stays 50 (back-offs may
    /// still halve it down to that size's own floor).
    fn bounds(&self) -> (u32, u32) {
        let s = &self.settings;
        let (min, max) = if self.adapting() {
            (s.min_batch, s.max_batch)
        } else {
            (s.min_batch.min(s.batch), s.max_batch.max(s.batch))
        };
        let min = min.max(1);
        let mut max = max.max(min);
        // With a rate limit, one batch never holds more than a second's worth of rows,
        // so the rate holds over any window of a second or more, not only on average.
        if let Some(rate) = self.settings.max_rate {
            max = max.min((rate.ceil() as u32).max(1));
        }
        (min.min(max), max)
    }

    /// The batch size is adapted (by batch time or by the latency probe).
    pub fn adapting(&self) -> bool {
        self.settings.target_batch_time.is_some() || self.settings.hold_latency.is_some()
    }

    /// The bounds the adapted batch size stays within.
    pub fn batch_bounds(&self) -> (u32, u32) {
        self.bounds()
    }

    /// Set the batch size (the latency controller's decision), within the bounds.
    pub fn set_batch(&mut self, size: u32) {
        self.batch = self.clamp(size as f64);
    }

    fn clamp(&self, size: f64) -> u32 {
        let (min, max) = self.bounds();
        (size.round() as u32).clamp(min, max)
    }

    /// Rows to take in the next batch.
    pub fn batch_size(&self) -> u32 {
        self.batch
    }

    /// Learn from a finished batch: `rows` keys visited in `took`. Only full batches say
    /// anything about speed (the last, short one does not).
    pub fn record_batch(&mut self, rows: u64, took: Duration) {
        let Some(target) = self.settings.target_batch_time else { return };
        if self.settings.hold_latency.is_some() {
            return;
        }
        if rows < self.batch as u64 || took.is_zero() {
            return;
        }
        let ratio = (target.as_secs_f64() / took.as_secs_f64()).clamp(1.0 / MAX_STEP, MAX_STEP);
        self.batch = self.clamp(self.batch as f64 * ratio);
    }

    /// Halve the batch size (sessions were kept waiting by the last batch).
    pub fn back_off(&mut self) {
        self.batch = self.clamp(self.batch as f64 / 2.0);
    }

    /// How long to wait before the next batch, given `rows` done in `elapsed` of this run:
    /// the fixed sleep, or longer when the rate limit demands it.
    pub fn delay(&self, rows: u64, elapsed: Duration) -> Duration {
        let mut delay = self.settings.sleep;
        if let Some(rate) = self.settings.max_rate.filter(|r| *r > 0.0) {
            let due = Duration::from_secs_f64(rows as f64 / rate);
            delay = delay.max(due.saturating_sub(elapsed));
        }
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fixed_batch_without_target() {
        let mut t = Throttle::new(ThrottleSettings { batch: 500, ..Default::default() });
        t.record_batch(500, ms(900));
        assert_eq!(t.batch_size(), 500);
        assert_eq!(t.delay(500, ms(900)), Duration::ZERO);
    }

    #[test]
    fn target_batch_time_grows_and_shrinks_in_bounded_steps() {
        let s = ThrottleSettings {
            batch: 1000,
            min_batch: 100,
            max_batch: 10_000,
            target_batch_time: Some(ms(100)),
            ..Default::default()
        };
        let mut t = Throttle::new(s);
        t.record_batch(1000, ms(50));
        assert_eq!(t.batch_size(), 2000, "twice as fast as the target: double");
        t.record_batch(2000, ms(1));
        assert_eq!(t.batch_size(), 4000, "never more than double per batch");
        t.record_batch(4000, ms(10_000));
        assert_eq!(t.batch_size(), 2000, "never less than half per batch");
        t.record_batch(2000, ms(125));
        assert_eq!(t.batch_size(), 1600);
        t.record_batch(100, ms(1));
        assert_eq!(t.batch_size(), 1600, "a short last batch says nothing");
    }

    #[test]
    fn adapted_size_stays_within_bounds() {
        let s = ThrottleSettings {
            batch: 1000,
            min_batch: 800,
            max_batch: 1500,
            target_batch_time: Some(ms(100)),
            ..Default::default()
        };
        let mut t = Throttle::new(s);
        t.record_batch(1000, ms(10));
        assert_eq!(t.batch_size(), 1500);
        t.record_batch(1500, ms(1000));
        assert_eq!(t.batch_size(), 800);
        t.back_off();
        assert_eq!(t.batch_size(), 800);
    }

    #[test]
    fn an_explicit_batch_outside_the_adaptive_bounds_is_kept() {
        let t = Throttle::new(ThrottleSettings { batch: 20, ..Default::default() });
        assert_eq!(t.batch_size(), 20);
        let t = Throttle::new(ThrottleSettings { batch: 200_000, ..Default::default() });
        assert_eq!(t.batch_size(), 200_000);
        let t = Throttle::new(ThrottleSettings {
            batch: 20,
            target_batch_time: Some(ms(100)),
            ..Default::default()
        });
        assert_eq!(t.batch_size(), 100, "adapting: within --min-batch..--max-batch");
    }

    #[test]
    fn max_rate_paces_from_the_start_of_the_run() {
        let t = Throttle::new(ThrottleSettings { batch: 100, max_rate: Some(1000.0), ..Default::default() });
        // 100 rows at 1000 rows/s are due at 100 ms; 30 ms went by.
        assert_eq!(t.delay(100, ms(30)), ms(70));
        assert_eq!(t.delay(100, ms(200)), Duration::ZERO, "behind schedule: no wait");
        let t = Throttle::new(ThrottleSettings {
            batch: 100,
            max_rate: Some(1000.0),
            sleep: ms(500),
            ..Default::default()
        });
        assert_eq!(t.delay(100, ms(30)), ms(500), "the longer of sleep and pacing");
    }

    #[test]
    fn max_rate_caps_a_batch_at_one_second_of_rows() {
        let t = Throttle::new(ThrottleSettings { batch: 5000, max_rate: Some(250.0), ..Default::default() });
        assert_eq!(t.batch_size(), 250);
        let t = Throttle::new(ThrottleSettings { batch: 5000, max_rate: Some(0.5), ..Default::default() });
        assert_eq!(t.batch_size(), 1);
    }

    #[test]
    fn settings_update_keeps_adapted_size_unless_batch_changed() {
        let s = ThrottleSettings { batch: 1000, target_batch_time: Some(ms(100)), ..Default::default() };
        let mut t = Throttle::new(s.clone());
        t.record_batch(1000, ms(50));
        t.update(ThrottleSettings { sleep: ms(10), ..s.clone() });
        assert_eq!(t.batch_size(), 2000);
        t.update(ThrottleSettings { batch: 300, ..s });
        assert_eq!(t.batch_size(), 300);
    }
}
