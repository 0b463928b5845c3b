//! Flood control: a token bucket deciding how fast the server reads a client (or all the
//! clients of one address), and how often an address may connect.

use std::time::{Duration, Instant};

/// Allows a burst of lines, then a steady rate. When the bucket is empty the connection
/// stops reading until a token is due, so TCP pushes back on the sender; nothing is dropped.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    burst: f64,
    per_second: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilling at `per_second`; `None` if either is 0,
    /// which turns the limit off.
    pub fn new(burst: u32, per_second: f64, now: Instant) -> Option<TokenBucket> {
        (burst > 0 && per_second > 0.0).then(|| TokenBucket {
            burst: f64::from(burst),
            per_second,
            tokens: f64::from(burst),
            refilled_at: now,
        })
    }

    /// Whether the bucket is full again (nothing of its past use is left to remember).
    pub fn is_full(&mut self, now: Instant) -> bool {
        let _ = self.check(now);
        self.tokens >= self.burst
    }

    /// `Ok` if a line may be handled now, otherwise how long until one may.
    pub fn check(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_second,
            ))
        }
    }

    /// Spends a token on a line (call after a successful [`check`](Self::check)).
    pub fn take(&mut self) {
        self.tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(3, 10.0, start).expect("enabled");
        for _ in 0..3 {
            assert_eq!(bucket.check(start), Ok(()));
            bucket.take();
        }
        let wait = bucket.check(start).expect_err("bucket should be empty");
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100));
        let later = start + Duration::from_millis(100);
        assert_eq!(bucket.check(later), Ok(()));
        bucket.take();
        assert!(bucket.check(later).is_err());
    }

    #[test]
    fn refill_never_exceeds_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2, 10.0, start).expect("enabled");
        let much_later = start + Duration::from_secs(3600);
        for _ in 0..2 {
            assert_eq!(bucket.check(much_later), Ok(()));
            bucket.take();
        }
        assert!(bucket.check(much_later).is_err());
    }

    #[test]
    fn zero_turns_it_off() {
        assert!(TokenBucket::new(0, 10.0, Instant::now()).is_none());
        assert!(TokenBucket::new(20, 0.0, Instant::now()).is_none());
    }
}
