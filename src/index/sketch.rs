//! [`Sketch`]: a b-bit MinHash summary of a paragraph, to reject candidates cheaply.
//!
//! The sketch keeps the low byte of [`SKETCH_LEN`] MinHash values that the LSH bands do not
//! use (so that being a candidate, which means sharing a band, does not bias the
//! estimate). Two bytes agree with probability `J + (1 - J) / 256` for sets of Jaccard
//! similarity `J`, independently for each value, so the number of agreeing bytes is
//! binomial.
//!
//! [`Sketch::may_reach`] is a one-sided exact binomial test: it rejects a candidate only
//! when so few bytes agree that a pair exactly at the Jaccard it would need for any kind of
//! match would show that few less than [`REJECT_ALPHA`] of the time. It thus loses about
//! one true match in 200 of those exactly at that bound, and far fewer above it: none of
//! the 11,084 matches among 778,284 candidates measured in BENCHMARKS.md ("The candidate
//! funnel"). [`Sketch::may_reach_at`] takes another level: the edited-copy stage's grey
//! zone, far below any kind of match, uses a looser one. A normal approximation three
//! standard errors wide lost none either but let through 1.8 times as many non-matches,
//! because at the small Jaccards most candidates have the binomial is far from normal.

use crate::lsh::LshParams;
use crate::minhash::Signature;

/// Bytes in a sketch.
pub const SKETCH_LEN: usize = 64;

/// The chance, for a pair exactly at the bound, of being rejected.
pub const REJECT_ALPHA: f64 = 0.005;

/// The low bytes of 64 MinHash values. All zero (and never compared) for a paragraph too
/// short to index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sketch(pub [u8; SKETCH_LEN]);

impl Default for Sketch {
    fn default() -> Sketch {
        Sketch([0; SKETCH_LEN])
    }
}

impl Sketch {
    /// The sketch of a signature whose first `lsh.bands * lsh.rows` values are banded: the
    /// values after those, wrapping around to the banded ones when the signature is too
    /// short to have 64 more (then slightly biased towards agreeing).
    pub fn of(sig: &Signature, lsh: LshParams) -> Sketch {
        let values = &sig.0;
        let mut out = [0u8; SKETCH_LEN];
        if values.is_empty() {
            return Sketch(out);
        }
        let start = (lsh.bands * lsh.rows) % values.len();
        for (i, b) in out.iter_mut().enumerate() {
            *b = values[(start + i) % values.len()] as u8;
        }
        Sketch(out)
    }

    /// Estimated Jaccard similarity of the two sets.
    pub fn jaccard(&self, other: &Sketch) -> f64 {
        let agree = self.agreeing(other) as f64 / SKETCH_LEN as f64;
        ((agree - 1.0 / 256.0) / (1.0 - 1.0 / 256.0)).max(0.0)
    }

    /// Bytes that agree with `other`'s.
    fn agreeing(&self, other: &Sketch) -> usize {
        self.0
            .iter()
            .zip(other.0.iter())
            .filter(|(a, b)| a == b)
            .count()
    }

    /// Whether sets of sizes `a` and `b` with these sketches may share `need` elements,
    /// i.e. may reach Jaccard `need / (a + b - need)`: false only when so few bytes agree
    /// that such a pair would rarely show it (see the module docs).
    pub fn may_reach(&self, other: &Sketch, a: usize, b: usize, need: usize) -> bool {
        self.may_reach_at(other, a, b, need, REJECT_ALPHA)
    }

    /// [`Sketch::may_reach`] at another rejection level.
    pub fn may_reach_at(
        &self,
        other: &Sketch,
        a: usize,
        b: usize,
        need: usize,
        alpha: f64,
    ) -> bool {
        if need == 0 {
            return true;
        }
        let union = (a + b).saturating_sub(need).max(1) as f64;
        let j = (need as f64 / union).min(1.0);
        let p = j + (1.0 - j) / 256.0;
        !below_lower_tail(self.agreeing(other), SKETCH_LEN, p, alpha)
    }
}

/// Whether `P(K <= k) < alpha` for `K ~ Binomial(n, p)`, summing the tail term by term
/// and stopping as soon as it reaches `alpha` (after a few terms for most candidates).
fn below_lower_tail(k: usize, n: usize, p: f64, alpha: f64) -> bool {
    if k >= n || p <= 0.0 {
        return false;
    }
    if p >= 1.0 {
        return true;
    }
    let ratio = p / (1.0 - p);
    let mut term = (1.0 - p).powi(n as i32);
    let mut tail = term;
    for i in 0..k {
        if tail >= alpha {
            return false;
        }
        term *= (n - i) as f64 / (i + 1) as f64 * ratio;
        tail += term;
    }
    tail < alpha
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minhash::MinHasher;

    fn sketch(h: &MinHasher, set: &[u32]) -> Sketch {
        Sketch::of(&h.signature(set), LshParams { bands: 20, rows: 1 })
    }

    #[test]
    fn estimates_track_jaccard_and_reject_far_pairs() {
        let h = MinHasher::new(128, 9);
        let a: Vec<u32> = (0..200).collect();
        let same = sketch(&h, &a);
        assert_eq!(same.jaccard(&same), 1.0);
        // Jaccard 1/3: 100 shared of 300.
        let b: Vec<u32> = (100..300).collect();
        let est = same.jaccard(&sketch(&h, &b));
        assert!((est - 1.0 / 3.0).abs() < 0.2, "{est}");
        // Disjoint sets cannot share 60 of 200 + 200 elements…
        let far: Vec<u32> = (10_000..10_200).collect();
        assert!(!same.may_reach(&sketch(&h, &far), 200, 200, 60));
        // …but the pair at Jaccard 1/3 may share 100.
        assert!(same.may_reach(&sketch(&h, &b), 200, 200, 100));
        assert!(same.may_reach(&sketch(&h, &far), 200, 200, 0));
    }

    #[test]
    fn the_lower_tail_is_the_binomial_one() {
        // Binomial(64, 0.2): P(K <= 4) = 0.00206..., P(K <= 5) = 0.00673...
        assert!(below_lower_tail(4, 64, 0.2, 0.005));
        assert!(!below_lower_tail(5, 64, 0.2, 0.005));
        assert!(!below_lower_tail(64, 64, 0.9, 0.5));
        assert!(below_lower_tail(63, 64, 1.0, 0.5));
        assert!(!below_lower_tail(0, 64, 0.0, 0.5));
    }

    #[test]
    fn a_looser_level_rejects_pairs_a_little_below_its_bound() {
        // Sketches with exactly `k` agreeing bytes, for sets of 100 and 100 that would
        // need 10 in common (Jaccard 0.053, where 3.6 bytes agree on average).
        let with_agreeing = |k: usize| {
            let mut b = [1u8; SKETCH_LEN];
            b[..k].fill(0);
            Sketch(b)
        };
        let zero = Sketch::default();
        assert!(zero.may_reach(&with_agreeing(0), 100, 100, 10));
        assert!(!zero.may_reach_at(&with_agreeing(1), 100, 100, 10, 0.2));
        assert!(zero.may_reach_at(&with_agreeing(2), 100, 100, 10, 0.2));
    }

    proptest::proptest! {
        // A pair that shares twice what is needed is (almost) never rejected: even at
        // the bound itself only one in 200 is.
        #[test]
        fn pairs_above_the_bound_are_kept(shared in 20usize..200, only in 0usize..200, seed in 0u64..1000) {
            let h = MinHasher::new(128, seed);
            let a: Vec<u32> = (0..(shared + only) as u32).collect();
            let b: Vec<u32> = (only as u32..(2 * only + shared) as u32).collect();
            let (sa, sb) = (sketch(&h, &a), sketch(&h, &b));
            proptest::prop_assert!(sa.may_reach(&sb, a.len(), b.len(), shared / 2));
        }
    }
}
