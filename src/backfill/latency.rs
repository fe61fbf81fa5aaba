//! `--hold-latency`: keep the server as responsive as it was before the backfill started.
//!
//! A probe on its own connection (see `probe`) times a short statement several times a second.
//! Before the first batch the controller learns the baseline; afterwards, each time enough new
//! probes arrived, it compares their p99 with the bound and decides: smaller batches and then
//! pauses when the bound is exceeded, bigger batches (after dropping pauses) when well within.
//! Pure arithmetic, unit-tested; every decision is kept with its reason (log, bar, report).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The bound the probe's p99 must stay within.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HoldLatency {
    /// A multiple of the baseline p99 learned before the first batch (`2x`).
    Factor(f64),
    /// An absolute p99 (`5ms`).
    Absolute(Duration),
}

impl FromStr for HoldLatency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(f) = s.strip_suffix(['x', 'X']) {
            return match f.trim().parse::<f64>() {
                Ok(f) if f.is_finite() && f > 1.0 => Ok(HoldLatency::Factor(f)),
                Ok(_) => Err(format!("factor `{s}` must be above 1 (e.g. 2x)")),
                Err(e) => Err(format!("`{s}`: {e} (examples: 2x, 1.5x, 5ms)")),
            };
        }
        match humantime::parse_duration(s) {
            Ok(d) if !d.is_zero() => Ok(HoldLatency::Absolute(d)),
            Ok(_) => Err("must be above zero (examples: 2x, 5ms)".to_string()),
            Err(e) => Err(format!("`{s}`: {e} (examples: 2x, 1.5x, 5ms)")),
        }
    }
}

impl fmt::Display for HoldLatency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HoldLatency::Factor(x) => write!(f, "{x}x"),
            HoldLatency::Absolute(d) => write!(f, "{}", ms(*d)),
        }
    }
}

/// `1.23ms`
pub fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1000.0)
}

/// Probes before the first batch from which the baseline is learned (~2 s at the probe rate).
pub const BASELINE_SAMPLES: usize = 20;
/// Probes in the window whose p99 is compared with the bound (the same count as the baseline,
/// so both p99s are the same statistic).
const WINDOW: usize = 20;
/// New probes needed before the next decision: the effect of the last one must be visible.
const DECIDE_EVERY: usize = 3;
/// Below this share of the bound the backfill speeds up; between it and the bound it holds.
const SPEED_UP_BELOW: f64 = 0.7;
/// A factor bound is never tighter than baseline + this: sub-millisecond baselines would
/// otherwise turn scheduler noise into throttling.
const MIN_HEADROOM: Duration = Duration::from_micros(500);
/// Pauses between batches, once the batch is at its smallest.
const MIN_PAUSE: Duration = Duration::from_millis(20);
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// Growth per decision when well within the bound (shrinking halves).
const GROW: f64 = 1.25;
/// A health pause longer than this makes the baseline stale: the server's load can change a lot
/// in that time (a 10-hour backfill paused for replication lag resumes into another traffic
/// pattern), so the controller learns it again before the next batch. Learning takes ~2 s of
/// probes, little next to such a pause.
pub const RELEARN_AFTER_PAUSE: Duration = Duration::from_secs(60);

/// What a decision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Over the bound: smaller batches or longer pauses.
    SlowDown,
    /// Well within: shorter pauses or bigger batches.
    SpeedUp,
    /// Near the bound, or already at the limit in the wanted direction.
    Hold,
}

/// One decision, kept for the report, the log and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Rows done in this run when it was taken.
    pub rows_done: u64,
    pub p99: Duration,
    pub bound: Duration,
    pub batch_before: u32,
    pub batch_after: u32,
    pub pause_after: Duration,
    pub action: Action,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "probe p99 {} (bound {}): ", ms(self.p99), ms(self.bound))?;
        match self.action {
            Action::Hold => write!(f, "holding batch {}", self.batch_after)?,
            Action::SlowDown | Action::SpeedUp => {
                let verb = if self.action == Action::SlowDown { "slowing" } else { "speeding up" };
                write!(f, "{verb}: batch {} -> {}", self.batch_before, self.batch_after)?
            }
        }
        if !self.pause_after.is_zero() {
            write!(f, ", pause {}ms between batches", self.pause_after.as_millis())?;
        }
        Ok(())
    }
}

/// The controller's state for one run.
#[derive(Debug, Clone)]
pub struct LatencyController {
    pub hold: HoldLatency,
    baseline: Vec<Duration>,
    bound: Option<Duration>,
    window: Vec<Duration>,
    new_since_decision: usize,
    pause: Duration,
}

/// p99 of `samples` (nearest rank); zero when empty.
pub fn p99(samples: &[Duration]) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut s = samples.to_vec();
    s.sort();
    let rank = ((s.len() as f64) * 0.99).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

impl LatencyController {
    pub fn new(hold: HoldLatency) -> Self {
        let bound = match hold {
            HoldLatency::Absolute(d) => Some(d),
            HoldLatency::Factor(_) => None,
        };
        LatencyController {
            hold,
            baseline: Vec::new(),
            bound,
            window: Vec::new(),
            new_since_decision: 0,
            pause: Duration::ZERO,
        }
    }

    /// The bound, once known (a factor needs the baseline first).
    pub fn bound(&self) -> Option<Duration> {
        self.bound
    }

    /// The baseline p99 (None until learned).
    pub fn baseline(&self) -> Option<Duration> {
        (self.baseline.len() >= BASELINE_SAMPLES).then(|| p99(&self.baseline))
    }

    /// A probe measured before the first batch. True once the baseline is complete.
    pub fn learn(&mut self, sample: Duration) -> bool {
        if self.baseline.len() < BASELINE_SAMPLES {
            self.baseline.push(sample);
        }
        if self.baseline.len() >= BASELINE_SAMPLES && self.bound.is_none() {
            if let HoldLatency::Factor(f) = self.hold {
                let base = p99(&self.baseline);
                self.bound = Some(base.mul_f64(f).max(base + MIN_HEADROOM));
            }
        }
        self.baseline.len() >= BASELINE_SAMPLES
    }

    /// After the backfill paused for `paused`: when that was longer than [`RELEARN_AFTER_PAUSE`],
    /// forget the baseline (and, for a factor, the bound derived from it), the window and the
    /// pause between batches, so the next batch waits for a fresh baseline. True when it did.
    /// An absolute bound stays: it does not depend on the baseline.
    pub fn forget_if_paused(&mut self, paused: Duration) -> bool {
        if paused <= RELEARN_AFTER_PAUSE {
            return false;
        }
        self.baseline.clear();
        if let HoldLatency::Factor(_) = self.hold {
            self.bound = None;
        }
        self.window.clear();
        self.new_since_decision = 0;
        self.pause = Duration::ZERO;
        true
    }

    /// A probe measured while the backfill runs.
    pub fn observe(&mut self, sample: Duration) {
        self.window.push(sample);
        if self.window.len() > WINDOW {
            self.window.remove(0);
        }
        self.new_since_decision += 1;
    }

    /// p99 of the current window.
    pub fn current_p99(&self) -> Duration {
        p99(&self.window)
    }

    /// Pause to add after each batch.
    pub fn pause(&self) -> Duration {
        self.pause
    }

    /// After a batch: decide on the next batch size given the current one and its bounds.
    /// None when too few new probes arrived since the last decision (or no bound yet).
    pub fn decide(&mut self, batch: u32, min: u32, max: u32, rows_done: u64) -> Option<Decision> {
        let bound = self.bound?;
        if self.new_since_decision < DECIDE_EVERY || self.window.len() < DECIDE_EVERY {
            return None;
        }
        self.new_since_decision = 0;
        let p = self.current_p99();
        let mut after = batch;
        let action = if p > bound {
            if batch > min {
                after = (batch / 2).max(min);
            } else {
                self.pause = (self.pause * 2).clamp(MIN_PAUSE, MAX_PAUSE);
            }
            // The window still holds the slow probes that caused this: judge the next decision
            // on fresh ones only.
            self.window.clear();
            Action::SlowDown
        } else if p.as_secs_f64() < bound.as_secs_f64() * SPEED_UP_BELOW {
            if !self.pause.is_zero() {
                self.pause /= 2;
                if self.pause < MIN_PAUSE {
                    self.pause = Duration::ZERO;
                }
                Action::SpeedUp
            } else if batch < max {
                after = ((batch as f64 * GROW).ceil() as u32).min(max);
                Action::SpeedUp
            } else {
                Action::Hold
            }
        } else {
            Action::Hold
        };
        Some(Decision {
            rows_done,
            p99: p,
            bound,
            batch_before: batch,
            batch_after: after,
            pause_after: self.pause,
            action,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_factors_and_durations() {
        assert_eq!("2x".parse::<HoldLatency>(), Ok(HoldLatency::Factor(2.0)));
        assert_eq!("1.5X".parse::<HoldLatency>(), Ok(HoldLatency::Factor(1.5)));
        assert_eq!("5ms".parse::<HoldLatency>(), Ok(HoldLatency::Absolute(ms(5))));
        assert!("1x".parse::<HoldLatency>().unwrap_err().contains("above 1"));
        assert!("fast".parse::<HoldLatency>().unwrap_err().contains("examples"));
        assert!("0ms".parse::<HoldLatency>().is_err());
    }

    #[test]
    fn p99_is_nearest_rank() {
        let s: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(p99(&s), ms(99));
        assert_eq!(p99(&[ms(3), ms(1)]), ms(3));
        assert_eq!(p99(&[]), Duration::ZERO);
    }

    #[test]
    fn a_factor_bound_comes_from_the_baseline() {
        let mut c = LatencyController::new(HoldLatency::Factor(2.0));
        assert_eq!(c.decide(1000, 100, 10_000, 0), None, "no bound before the baseline");
        for i in 0..BASELINE_SAMPLES {
            let done = c.learn(ms(if i == 0 { 4 } else { 2 }));
            assert_eq!(done, i + 1 == BASELINE_SAMPLES);
        }
        assert_eq!(c.baseline(), Some(ms(4)));
        assert_eq!(c.bound(), Some(ms(8)));
        let mut tiny = LatencyController::new(HoldLatency::Factor(2.0));
        for _ in 0..BASELINE_SAMPLES {
            tiny.learn(Duration::from_micros(100));
        }
        assert_eq!(tiny.bound(), Some(Duration::from_micros(600)), "at least baseline + 0.5ms");
    }

    #[test]
    fn a_long_pause_makes_the_factor_baseline_stale() {
        let mut c = LatencyController::new(HoldLatency::Factor(2.0));
        for _ in 0..BASELINE_SAMPLES {
            c.learn(ms(2));
        }
        assert_eq!(c.bound(), Some(ms(4)));
        for _ in 0..3 {
            c.observe(ms(30));
        }
        c.decide(100, 100, 10_000, 1).unwrap();
        assert_eq!(c.pause(), MIN_PAUSE);
        assert!(!c.forget_if_paused(RELEARN_AFTER_PAUSE), "a pause up to the limit keeps it");
        assert_eq!((c.baseline(), c.bound()), (Some(ms(2)), Some(ms(4))));
        assert!(c.forget_if_paused(RELEARN_AFTER_PAUSE + ms(1)));
        assert_eq!((c.baseline(), c.bound(), c.pause()), (None, None, Duration::ZERO));
        assert_eq!(c.decide(100, 100, 10_000, 2), None, "no decisions until learned again");
        // The server got busier while paused: the new baseline, and the bound, follow it.
        for i in 0..BASELINE_SAMPLES {
            assert_eq!(c.learn(ms(10)), i + 1 == BASELINE_SAMPLES);
        }
        assert_eq!((c.baseline(), c.bound()), (Some(ms(10)), Some(ms(20))));
        for _ in 0..3 {
            c.observe(ms(15));
        }
        assert_eq!(
            c.decide(1000, 100, 10_000, 3).unwrap().action,
            Action::Hold,
            "15ms is within the new bound"
        );
    }

    #[test]
    fn a_long_pause_keeps_an_absolute_bound() {
        let mut c = LatencyController::new(HoldLatency::Absolute(ms(5)));
        for _ in 0..BASELINE_SAMPLES {
            c.learn(ms(1));
        }
        assert!(c.forget_if_paused(RELEARN_AFTER_PAUSE * 2));
        assert_eq!((c.baseline(), c.bound()), (None, Some(ms(5))));
    }

    #[test]
    fn over_the_bound_halves_the_batch_then_pauses_and_recovers() {
        let mut c = LatencyController::new(HoldLatency::Absolute(ms(10)));
        for _ in 0..3 {
            c.observe(ms(30));
        }
        let d = c.decide(4000, 100, 10_000, 5).unwrap();
        assert_eq!((d.action, d.batch_after, d.pause_after), (Action::SlowDown, 2000, Duration::ZERO));
        assert!(d.to_string().contains("slowing: batch 4000 -> 2000"), "{d}");
        assert_eq!(c.decide(2000, 100, 10_000, 5), None, "needs fresh probes");
        for _ in 0..3 {
            c.observe(ms(30));
        }
        let d = c.decide(100, 100, 10_000, 6).unwrap();
        assert_eq!((d.batch_after, d.pause_after), (100, MIN_PAUSE), "at the floor: pause instead");
        for _ in 0..3 {
            c.observe(ms(1));
        }
        let d = c.decide(100, 100, 10_000, 7).unwrap();
        assert_eq!((d.action, d.batch_after, d.pause_after), (Action::SpeedUp, 100, Duration::ZERO));
        for _ in 0..3 {
            c.observe(ms(1));
        }
        let d = c.decide(100, 100, 10_000, 8).unwrap();
        assert_eq!(
            (d.action, d.batch_after),
            (Action::SpeedUp, 125),
            "pauses go first, then the batch grows"
        );
        for _ in 0..3 {
            c.observe(ms(8));
        }
        assert_eq!(c.decide(125, 100, 10_000, 9).unwrap().action, Action::Hold, "near the bound: hold");
    }
}
