//! Counting deliveries: a log-linear latency histogram with fixed memory, and per-sender
//! sequence tracking that tells lost, duplicated and reordered deliveries apart.

use std::time::Duration;

/// Values below `2^SUB_BITS` get a bucket each; above, every power of two is split into
/// `2^(SUB_BITS - 1)` buckets, so a bucket is at most 1/128 of its value wide (0.8%).
const SUB_BITS: u32 = 8;
const EXACT: u64 = 1 << SUB_BITS;
const PER_OCTAVE: u64 = 1 << (SUB_BITS - 1);
const BUCKETS: usize = (EXACT + (64 - SUB_BITS as u64) * PER_OCTAVE) as usize;

/// A histogram of durations in nanoseconds (HDR-style: log-linear buckets, 0.8% precision,
/// about 60 KiB whatever the number of samples). Min, max and mean are exact.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

fn bucket_of(value: u64) -> usize {
    if value < EXACT {
        return value as usize;
    }
    let octave = u64::from(63 - value.leading_zeros()); // >= SUB_BITS
    let shift = octave - u64::from(SUB_BITS) + 1;
    let sub = (value >> shift) - PER_OCTAVE; // in 0..PER_OCTAVE
    (EXACT + (octave - u64::from(SUB_BITS)) * PER_OCTAVE + sub) as usize
}

/// The largest value that falls into `bucket`.
fn bucket_top(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < EXACT {
        return bucket;
    }
    let octave = (bucket - EXACT) / PER_OCTAVE + u64::from(SUB_BITS);
    let sub = (bucket - EXACT) % PER_OCTAVE;
    let shift = octave - u64::from(SUB_BITS) + 1;
    let bottom = (PER_OCTAVE + sub) << shift;
    bottom + ((1u64 << shift) - 1)
}

impl Histogram {
    /// Adds one sample.
    pub fn record(&mut self, nanos: u64) {
        self.counts[bucket_of(nanos)] += 1;
        self.count += 1;
        self.sum += u128::from(nanos);
        self.min = self.min.min(nanos);
        self.max = self.max.max(nanos);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of samples.
    #[cfg(test)]
    fn count(&self) -> u64 {
        self.count
    }

    /// The value at or below which `percent`% of the samples fall (rounded up to its
    /// bucket's top, never above the maximum); `None` without samples.
    pub fn percentile(&self, percent: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((percent / 100.0 * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(bucket_top(bucket).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// The usual summary: p50, p90, p99, max and mean.
    pub fn summary(&self) -> Option<Summary> {
        let percentile = |percent| Duration::from_nanos(self.percentile(percent).unwrap_or(0));
        (self.count > 0).then(|| Summary {
            count: self.count,
            p50: percentile(50.0),
            p90: percentile(90.0),
            p99: percentile(99.0),
            max: Duration::from_nanos(self.max),
            mean: Duration::from_nanos((self.sum / u128::from(self.count)) as u64),
        })
    }
}

/// Percentiles of a [`Histogram`], with its sample count, maximum and mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub count: u64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub mean: Duration,
}

/// How one delivery relates to those seen before from the same sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next one expected.
    InOrder,
    /// New, but later than the next one expected (some are missing, so far).
    Ahead,
    /// New, but a later one arrived before it.
    Late,
    /// Seen before.
    Duplicate,
    /// A sequence number the sender never used.
    OutOfRange,
}

/// What one receiver has seen from one sender whose sequence numbers run from 0 to
/// `limit - 1`. Costs a counter while deliveries come in order; only the first one out of
/// order allocates a bitmap of `limit` bits, so a correct server costs no memory.
#[derive(Debug, Clone, Default)]
pub struct SeqTrack {
    next: u64,
    seen: Option<Box<[u64]>>,
}

impl SeqTrack {
    /// Records the arrival of `seq`.
    pub fn record(&mut self, seq: u64, limit: u64) -> Arrival {
        if seq >= limit {
            return Arrival::OutOfRange;
        }
        let Some(seen) = &mut self.seen else {
            if seq == self.next {
                self.next += 1;
                return Arrival::InOrder;
            }
            if seq < self.next {
                // Everything below `next` arrived exactly once, in order.
                return Arrival::Duplicate;
            }
            let mut seen = vec![0u64; limit.div_ceil(64) as usize].into_boxed_slice();
            for earlier in 0..self.next {
                set_bit(&mut seen, earlier);
            }
            set_bit(&mut seen, seq);
            self.seen = Some(seen);
            self.next = seq + 1;
            return Arrival::Ahead;
        };
        if seen[(seq / 64) as usize] & (1 << (seq % 64)) != 0 {
            return Arrival::Duplicate;
        }
        set_bit(seen, seq);
        if seq < self.next {
            return Arrival::Late;
        }
        let ahead = seq > self.next;
        self.next = seq + 1;
        if ahead {
            Arrival::Ahead
        } else {
            Arrival::InOrder
        }
    }
}

fn set_bit(bits: &mut [u64], index: u64) {
    bits[(index / 64) as usize] |= 1 << (index % 64);
}

/// Delivery counts of a set of receivers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Distinct messages received (each counted once per receiver).
    pub unique: u64,
    /// Received again.
    pub duplicated: u64,
    /// Received after a later message from the same sender.
    pub reordered: u64,
    /// Not a message this run sent to this receiver (unknown sender or sequence number,
    /// or the receiver's own message echoed back).
    pub unexpected: u64,
}

impl Tally {
    /// Counts one arrival.
    pub fn count(&mut self, arrival: Arrival) {
        match arrival {
            Arrival::InOrder | Arrival::Ahead => self.unique += 1,
            Arrival::Late => {
                self.unique += 1;
                self.reordered += 1;
            }
            Arrival::Duplicate => self.duplicated += 1,
            Arrival::OutOfRange => self.unexpected += 1,
        }
    }

    /// Adds another set of receivers' counts.
    pub fn merge(&mut self, other: &Tally) {
        self.unique += other.unique;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.unexpected += other.unexpected;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut previous_top = None;
        for bucket in 0..BUCKETS {
            let top = bucket_top(bucket);
            let bottom = previous_top.map_or(0, |top: u64| top + 1);
            assert_eq!(bucket_of(bottom), bucket, "bottom of bucket {bucket}");
            assert_eq!(bucket_of(top), bucket, "top of bucket {bucket}");
            assert!(
                (top - bottom) as f64 <= bottom as f64 / 127.0 + 1.0,
                "bucket {bucket}"
            );
            previous_top = Some(top);
        }
        assert_eq!(previous_top, Some(u64::MAX));
    }

    #[test]
    fn percentiles_of_uniform_samples_are_within_precision() {
        let mut histogram = Histogram::default();
        for value in 1..=100_000u64 {
            histogram.record(value * 1000);
        }
        for (percent, exact) in [
            (50.0, 50_000_000.0),
            (90.0, 90_000_000.0),
            (99.0, 99_000_000.0),
        ] {
            let value = histogram.percentile(percent).expect("samples") as f64;
            assert!(
                value >= exact && value <= exact * 1.008,
                "p{percent}: {value}"
            );
        }
        assert_eq!(histogram.percentile(100.0), Some(100_000_000));
        let summary = histogram.summary().expect("samples");
        assert_eq!(summary.max, Duration::from_millis(100));
        assert_eq!(summary.mean, Duration::from_nanos(50_000_500));
        assert_eq!(summary.count, 100_000);
    }

    #[test]
    fn small_values_are_exact_and_percentiles_stay_within_min_and_max() {
        let mut histogram = Histogram::default();
        for value in [3, 3, 7, 200] {
            histogram.record(value);
        }
        assert_eq!(histogram.percentile(50.0), Some(3));
        assert_eq!(histogram.percentile(75.0), Some(7));
        assert_eq!(histogram.percentile(99.0), Some(200));
        assert_eq!(histogram.percentile(0.0), Some(3));

        let mut single = Histogram::default();
        single.record(1_234_567);
        assert_eq!(single.percentile(50.0), Some(1_234_567));
        assert_eq!(Histogram::default().percentile(50.0), None);
        assert_eq!(Histogram::default().summary(), None);
    }

    #[test]
    fn merged_histograms_count_everything() {
        let mut left = Histogram::default();
        let mut right = Histogram::default();
        left.record(10);
        right.record(1_000_000);
        right.record(5);
        left.merge(&right);
        assert_eq!(left.count(), 3);
        assert_eq!(left.percentile(1.0), Some(5));
        assert_eq!(left.percentile(100.0), Some(1_000_000));
    }

    #[test]
    fn in_order_deliveries_need_no_bitmap() {
        let mut track = SeqTrack::default();
        for seq in 0..1000 {
            assert_eq!(track.record(seq, 1000), Arrival::InOrder);
        }
        assert!(track.seen.is_none());
        assert_eq!(track.record(5, 1000), Arrival::Duplicate);
        assert_eq!(track.record(1000, 1000), Arrival::OutOfRange);
    }

    #[test]
    fn gaps_late_arrivals_and_duplicates_are_told_apart() {
        let mut track = SeqTrack::default();
        let mut tally = Tally::default();
        let arrivals: Vec<Arrival> = [0, 1, 3, 2, 3, 4, 2, 9, 7]
            .into_iter()
            .map(|seq| {
                let arrival = track.record(seq, 10);
                tally.count(arrival);
                arrival
            })
            .collect();
        use Arrival::*;
        assert_eq!(
            arrivals,
            [
                InOrder, InOrder, Ahead, Late, Duplicate, InOrder, Duplicate, Ahead, Late
            ]
        );
        assert_eq!(
            tally,
            Tally {
                unique: 7,
                duplicated: 2,
                reordered: 2,
                unexpected: 0
            }
        );
    }
}
