//! Stateless pseudo-randomness for the synthetic bank.
//!
//! Nothing is stored per customer, so every generated value is recomputed from a hash
//! of `(seed, topic, keys…)`. The mixing function is splitmix64's finaliser: tiny,
//! well studied, and identical on every platform, so the same seed yields the same bank
//! everywhere. Only integer arithmetic is used (no floating point, whose transcendental
//! functions may differ between platforms).

/// The splitmix64 increment (2^64 / golden ratio); also used to separate keys.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// splitmix64's output function: a bijective, avalanche-quality 64-bit mix.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A short stream of random numbers, determined entirely by its seed, topic and keys.
///
/// Each attribute family has its own topic, so adding a new attribute never shifts the
/// values of existing ones.
#[derive(Debug, Clone)]
pub(crate) struct Draw {
    state: u64,
}

impl Draw {
    /// The stream for `topic` and the given keys (customer index, slot, …) under `seed`.
    pub(crate) fn new(seed: u64, topic: u64, keys: &[u64]) -> Draw {
        let mut state = mix64(seed.wrapping_add(GOLDEN)) ^ mix64(topic.wrapping_mul(GOLDEN));
        for key in keys {
            state = mix64(state ^ key.wrapping_add(GOLDEN));
        }
        Draw { state }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-40 for our `n`).
    /// `n == 0` yields 0 rather than panicking.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`; `hi < lo` yields `lo`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(hi - lo + 1)
    }

    /// Same as [`Draw::range`] for signed bounds.
    pub(crate) fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(hi.abs_diff(lo) + 1) as i64
    }

    /// True with probability `per_mille / 1000`.
    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An index chosen with the given relative weights (at least one must be non-zero).
    pub(crate) fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut roll = self.below(total);
        for (index, weight) in weights.iter().enumerate() {
            if roll < *weight {
                return index;
            }
            roll -= weight;
        }
        weights.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_give_same_stream_and_other_inputs_differ() {
        let a: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(Draw::new(1, 2, &[3]), |d, _| Some(d.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(Draw::new(1, 2, &[3]), |d, _| Some(d.next_u64()))
            .collect();
        let c: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(Draw::new(2, 2, &[3]), |d, _| Some(d.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn bounded_draws_stay_in_bounds() {
        let mut draw = Draw::new(42, 7, &[]);
        for _ in 0..10_000 {
            assert!(draw.below(10) < 10);
            let v = draw.range(5, 9);
            assert!((5..=9).contains(&v));
            let s = draw.range_i64(-3, 3);
            assert!((-3..=3).contains(&s));
        }
        assert_eq!(draw.below(0), 0);
        assert_eq!(draw.range(9, 5), 9);
        assert_eq!(draw.weighted(&[0, 0, 5]), 2);
    }
}
