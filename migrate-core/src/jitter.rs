//! Randomness for spreading out retries: many processes that wait for the
//! same thing must not all ask again at the same moment. Not for secrets.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// A number in `[0, 1)`, different in each process and on each call.
pub(crate) fn fraction() -> f64 {
    // Each `RandomState` is keyed afresh (randomly seeded per process);
    // the clock varies the keys' output further within a thread.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn backoff_grows_to_its_cap_and_varies() {
        let mut backoff =
            super::Backoff::new(Duration::from_millis(10), Duration::from_millis(200));
        let pauses: Vec<Duration> = (0..20).map(|_| backoff.pause()).collect();
        assert!(pauses[0] >= Duration::from_millis(5) && pauses[0] <= Duration::from_millis(10));
        assert!(pauses.iter().all(|p| *p <= Duration::from_millis(200)));
        assert!(pauses[19] >= Duration::from_millis(100), "{pauses:?}");
        let mut other = super::Backoff::new(Duration::from_millis(10), Duration::from_millis(200));
        let others: Vec<Duration> = (0..20).map(|_| other.pause()).collect();
        assert_ne!(pauses, others, "two waiters pause in step");
    }

    #[test]
    fn fractions_are_spread_over_the_unit_interval() {
        let samples: Vec<f64> = (0..1000).map(|_| super::fraction()).collect();
        assert!(samples.iter().all(|f| (0.0..1.0).contains(f)));
        let low = samples.iter().filter(|f| **f < 0.5).count();
        assert!((350..650).contains(&low), "{low} of 1000 below one half");
    }
}

/// Pauses between polls for something another process holds: growing by
/// half each time from `first` up to `cap`, each drawn between half and
/// the whole of that, so that many waiters spread out instead of asking
/// in step.
#[derive(Debug, Clone)]
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "tokio-postgres")),
    allow(dead_code)
)]
pub(crate) struct Backoff {
    next: std::time::Duration,
    cap: std::time::Duration,
}

#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "tokio-postgres")),
    allow(dead_code)
)]
impl Backoff {
    pub(crate) fn new(first: std::time::Duration, cap: std::time::Duration) -> Self {
        Backoff { next: first, cap }
    }

    /// The next pause.
    pub(crate) fn pause(&mut self) -> std::time::Duration {
        let pause = self.next.mul_f64(0.5 + fraction() / 2.0);
        self.next = self.next.mul_f64(1.5).min(self.cap);
        pause
    }
}
