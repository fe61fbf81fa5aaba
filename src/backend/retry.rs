//! Backoff between retries: exponential with ±50 % jitter, so a retrying planner and the
//! application's own retries do not line up behind the same lock again.

use std::time::Duration;

/// Longest single pause between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The pause before retry number `attempt` (0-based): `base × 2^attempt`, capped, ×[0.5, 1.5).
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16)).min(MAX_BACKOFF);
    exp.mul_f64(0.5 + random_unit())
}

/// 0.0..1.0 from std's per-instance random hasher seed: enough for jitter, no extra crate.
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_is_bounded_and_jittered() {
        let base = Duration::from_millis(200);
        let mut seen = std::collections::BTreeSet::new();
        for attempt in 0..20 {
            let d = backoff(base, attempt);
            let exp = base.saturating_mul(1u32 << attempt.min(16)).min(MAX_BACKOFF);
            assert!(d >= exp.mul_f64(0.5) && d < exp.mul_f64(1.5), "attempt {attempt}: {d:?}");
            seen.insert(backoff(base, 0).as_micros());
        }
        assert!(seen.len() > 1, "no jitter: {seen:?}");
    }
}
