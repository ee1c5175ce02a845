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
    #[test]
    fn fractions_are_spread_over_the_unit_interval() {
        let samples: Vec<f64> = (0..1000).map(|_| super::fraction()).collect();
        assert!(samples.iter().all(|f| (0.0..1.0).contains(f)));
        let low = samples.iter().filter(|f| **f < 0.5).count();
        assert!((350..650).contains(&low), "{low} of 1000 below one half");
    }
}
