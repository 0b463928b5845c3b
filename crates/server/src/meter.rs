//! How many lines were relayed per second over the last minute, for `/stats`: a ring of
//! per-second counts.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds the meter remembers.
const SECONDS: usize = 60;

/// Counts per second, for the last [`SECONDS`] seconds.
#[derive(Debug)]
pub struct LineMeter {
    counts: [u64; SECONDS],
    /// The second (since the epoch) the newest count is for.
    second: u64,
}

impl Default for LineMeter {
    fn default() -> LineMeter {
        LineMeter {
            counts: [0; SECONDS],
            second: 0,
        }
    }
}

fn now_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl LineMeter {
    /// Counts `lines` relayed now.
    pub fn add(&mut self, lines: u64) {
        self.advance(now_second());
        self.counts[slot(self.second)] += lines;
    }

    /// Lines per second, averaged over the last minute.
    pub fn per_second(&mut self) -> f64 {
        self.advance(now_second());
        self.counts.iter().sum::<u64>() as f64 / SECONDS as f64
    }

    /// Clears the counts of the seconds that passed since the newest.
    fn advance(&mut self, second: u64) {
        if second <= self.second {
            return;
        }
        let passed = (second - self.second).min(SECONDS as u64);
        for step in 1..=passed {
            self.counts[slot(self.second + step)] = 0;
        }
        self.second = second;
    }
}

fn slot(second: u64) -> usize {
    (second % SECONDS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fall_out_after_a_minute() {
        let mut meter = LineMeter::default();
        meter.advance(1000);
        meter.counts[slot(1000)] += 120;
        meter.advance(1030);
        meter.counts[slot(1030)] += 60;
        assert_eq!(meter.counts.iter().sum::<u64>(), 180);
        meter.advance(1061);
        assert_eq!(meter.counts.iter().sum::<u64>(), 60);
        meter.advance(5000);
        assert_eq!(meter.counts.iter().sum::<u64>(), 0);
    }
}
