//! Reconnect delays: exponential from 100 ms, doubling up to 5 s, each delay
//! jittered by ±20% so the syncers of several instances that lost the same
//! peer do not reconnect in lockstep.

use std::time::Duration;

use rand::Rng;

/// The first delay after a failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest delay before jitter.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Jitter, as a fraction of the delay, either way.
pub const JITTER: f64 = 0.2;

/// The delay schedule of one peer's reconnections.
#[derive(Clone, Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    pub fn new() -> Backoff {
        Backoff { next: BACKOFF_MIN }
    }

    /// Starts over from [`BACKOFF_MIN`] (after a session that worked).
    pub fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }

    /// Returns the delay before the next attempt (jittered) and doubles the
    /// one after it, up to [`BACKOFF_MAX`].
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        let factor = rng.gen_range((1.0 - JITTER)..=(1.0 + JITTER));
        base.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn delays_double_to_the_cap_within_jitter() {
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..200 {
            let mut b = Backoff::new();
            let mut base = BACKOFF_MIN;
            for _ in 0..20 {
                let d = b.next_delay(&mut rng);
                assert!(d >= base.mul_f64(1.0 - JITTER), "{d:?} below {base:?} - 20%");
                assert!(d <= base.mul_f64(1.0 + JITTER), "{d:?} above {base:?} + 20%");
                base = (base * 2).min(BACKOFF_MAX);
            }
            // Capped: never more than 6 s, whatever the number of failures.
            assert!(b.next_delay(&mut rng) <= BACKOFF_MAX.mul_f64(1.0 + JITTER));
        }
    }

    #[test]
    fn first_delays_and_reset() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut b = Backoff::new();
        let first = b.next_delay(&mut rng);
        assert!(first >= Duration::from_millis(80) && first <= Duration::from_millis(120));
        let second = b.next_delay(&mut rng);
        assert!(second >= Duration::from_millis(160) && second <= Duration::from_millis(240));
        for _ in 0..10 {
            b.next_delay(&mut rng);
        }
        b.reset();
        let again = b.next_delay(&mut rng);
        assert!(again <= Duration::from_millis(120));
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut rng = SmallRng::seed_from_u64(3);
        let delays: Vec<Duration> = (0..50).map(|_| Backoff::new().next_delay(&mut rng)).collect();
        let min = delays.iter().min().unwrap();
        let max = delays.iter().max().unwrap();
        assert!(*max - *min > Duration::from_millis(20), "no jitter: {min:?}..{max:?}");
    }
}
