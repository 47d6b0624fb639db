//! Evenly spread, individually jittered event times that can be addressed directly.
//!
//! Transactions and login events are never stored: event `j` (0 = oldest) of a
//! timeline falls in the `j`-th of `count` equal slices of the timeline's active time
//! and is jittered inside its slice by a hash. Times are therefore strictly increasing
//! in `j`, the `k`-th newest event is computable directly, and a time filter becomes
//! an index range found by binary search.

use std::ops::Range;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};

use super::prng::Draw;

/// Events happen between 07:00 and 23:00 Beijing time, as most banking traffic does.
const FIRST_HOUR: u32 = 7;
/// Sixteen active hours a day, in seconds.
const ACTIVE_SECONDS_PER_DAY: u64 = 16 * 3600;

#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    first_day: NaiveDate,
    days: u64,
    count: u64,
    draw_seed: u64,
    topic: u64,
    key: [u64; 2],
}

/// One page of a timeline, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimelinePage {
    /// Event indices (0 = oldest), newest first.
    pub(crate) indices: Vec<u64>,
    pub(crate) next_offset: Option<u64>,
    pub(crate) total: u64,
}

impl Timeline {
    /// `count` events over the `days` days starting at `first_day`; the jitter of each
    /// event is drawn from `(seed, topic, key, j)`.
    pub(crate) fn new(
        first_day: NaiveDate,
        days: u64,
        count: u64,
        seed: u64,
        topic: u64,
        key: [u64; 2],
    ) -> Timeline {
        Timeline {
            first_day,
            days,
            count: count.min(days * ACTIVE_SECONDS_PER_DAY),
            draw_seed: seed,
            topic,
            key,
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// The time of event `j` (0 = oldest); `j` must be below `count`.
    pub(crate) fn at(&self, j: u64) -> NaiveDateTime {
        let span = u128::from(self.days * ACTIVE_SECONDS_PER_DAY);
        let count = u128::from(self.count.max(1));
        let lo = (span * u128::from(j) / count) as u64;
        let hi = (span * u128::from(j + 1) / count) as u64;
        let mut draw = Draw::new(self.draw_seed, self.topic, &[self.key[0], self.key[1], j]);
        let t = lo + draw.below(hi.saturating_sub(lo).max(1));
        let day = self.first_day + Duration::days((t / ACTIVE_SECONDS_PER_DAY) as i64);
        let start = NaiveTime::from_hms_opt(FIRST_HOUR, 0, 0).unwrap_or(NaiveTime::MIN);
        day.and_time(start) + Duration::seconds((t % ACTIVE_SECONDS_PER_DAY) as i64)
    }

    /// Indices (oldest first) of the events inside `[from, to]` (both inclusive, either open).
    pub(crate) fn within(
        &self,
        from: Option<NaiveDateTime>,
        to: Option<NaiveDateTime>,
    ) -> Range<u64> {
        let lo = match from {
            Some(from) => partition_point(self.count, |j| self.at(j) < from),
            None => 0,
        };
        let hi = match to {
            Some(to) => partition_point(self.count, |j| self.at(j) <= to),
            None => self.count,
        };
        lo..hi.max(lo)
    }

    /// The events in `[from, to]`, newest first, skipping `offset` and taking `limit`.
    pub(crate) fn page(
        &self,
        from: Option<NaiveDateTime>,
        to: Option<NaiveDateTime>,
        offset: u64,
        limit: u64,
    ) -> TimelinePage {
        let range = self.within(from, to);
        let total = range.end - range.start;
        let taken = total.saturating_sub(offset).min(limit);
        let indices = (0..taken).map(|k| range.end - 1 - offset - k).collect();
        let next = offset.saturating_add(taken);
        TimelinePage {
            indices,
            next_offset: (taken > 0 && next < total).then_some(next),
            total,
        }
    }
}

/// The first index in `0..len` for which `pred` is false, given that `pred` holds on a
/// prefix of the range (as `slice::partition_point`, without a slice).
fn partition_point(len: u64, pred: impl Fn(u64) -> bool) -> u64 {
    let (mut lo, mut hi) = (0u64, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(count: u64) -> Timeline {
        let first = NaiveDate::from_ymd_opt(2024, 6, 1).expect("valid date");
        Timeline::new(first, 365, count, 42, 9, [1, 2])
    }

    #[test]
    fn times_strictly_increase_and_stay_in_active_hours() {
        let line = timeline(2_000);
        let times: Vec<_> = (0..line.count()).map(|j| line.at(j)).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        use chrono::Timelike;
        assert!(times.iter().all(|t| (7..23).contains(&t.hour())));
    }

    #[test]
    fn paging_covers_everything_once_and_respects_filters() {
        let line = timeline(777);
        let from = line.at(100);
        let to = line.at(600) - Duration::seconds(1);
        let mut seen = Vec::new();
        let mut offset = 0;
        loop {
            let page = line.page(Some(from), Some(to), offset, 37);
            assert_eq!(page.total, 500);
            seen.extend(page.indices);
            match page.next_offset {
                Some(next) => offset = next,
                None => break,
            }
        }
        let expected: Vec<u64> = (100..600).rev().collect();
        assert_eq!(seen, expected);
        assert_eq!(line.page(None, None, 10_000, 5).indices, Vec::<u64>::new());
        assert_eq!(line.page(Some(to), Some(from), 0, 5).total, 0);
    }
}
