//! LSH banding over MinHash signatures: the bands × rows choice and the band keys.
//!
//! A signature is cut into `bands` bands of `rows` values; two paragraphs become
//! candidates when any band is equal, which happens with probability
//! `P(s) = 1 - (1 - s^rows)^bands` for Jaccard similarity `s` (the S-curve).
//! [`LshParams::optimal`] picks bands × rows for a threshold by minimizing the weighted
//! areas of false positives (`∫₀ᵗ P`) and false negatives (`∫ₜ¹ 1 - P`); candidates are
//! verified exactly afterwards, so the default weights favour recall.
//!
//! Each band's values hash to a 64-bit [`BandKey`]; the buckets themselves live in an
//! index (`crate::index`), which also decides how a large bucket is read.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::index::BandKey;
use crate::minhash::Signature;

/// A bands × rows setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LshParams {
    /// Number of bands (and of bucket entries per indexed paragraph).
    pub bands: usize,
    /// Signature values per band.
    pub rows: usize,
}

impl LshParams {
    /// Probability that a pair of Jaccard similarity `s` becomes a candidate.
    pub fn probability(&self, s: f64) -> f64 {
        1.0 - (1.0 - s.powi(self.rows as i32)).powi(self.bands as i32)
    }

    /// The bands × rows (with `bands · rows ≤ num_perm`, `bands ≤ max_bands`) that
    /// minimizes `fp_weight · ∫₀ᵗ P + fn_weight · ∫ₜ¹ (1 - P)`.
    pub fn optimal(
        threshold: f64,
        num_perm: usize,
        max_bands: usize,
        fp_weight: f64,
        fn_weight: f64,
    ) -> LshParams {
        let mut best = (f64::INFINITY, LshParams { bands: 1, rows: 1 });
        for bands in 1..=num_perm.min(max_bands).max(1) {
            for rows in 1..=(num_perm / bands).max(1) {
                let p = LshParams { bands, rows };
                let fp = integrate(|s| p.probability(s), 0.0, threshold);
                let fnr = integrate(|s| 1.0 - p.probability(s), threshold, 1.0);
                let cost = fp_weight * fp + fn_weight * fnr;
                if cost < best.0 - 1e-12 {
                    best = (cost, p);
                }
            }
        }
        best.1
    }

    /// The S-curve at `points` evenly spaced similarities from 0 to 1, as (s, P(s)).
    pub fn s_curve(&self, points: usize) -> Vec<(f64, f64)> {
        let n = points.max(2) - 1;
        (0..=n)
            .map(|i| i as f64 / n as f64)
            .map(|s| (s, self.probability(s)))
            .collect()
    }
}

/// Simpson's rule with 64 intervals: the integrands are smooth polynomials.
fn integrate(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    let n = 64;
    let h = (b - a) / n as f64;
    let mut sum = f(a) + f(b);
    for i in 1..n {
        sum += f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    sum * h / 3.0
}

/// The bucket keys of a signature: a 64-bit hash of each band's values and its index.
pub fn band_keys(params: LshParams, seed: u64, sig: &Signature) -> Vec<BandKey> {
    let mut bytes = [0u8; 4 * 64];
    (0..params.bands)
        .map(|b| {
            let rows = &sig.0[b * params.rows..(b + 1) * params.rows];
            let mut h = 0u64;
            for chunk in rows.chunks(64) {
                for (i, v) in chunk.iter().enumerate() {
                    bytes[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
                }
                h = xxh3_64_with_seed(
                    &bytes[..4 * chunk.len()],
                    seed ^ h ^ (b as u64).wrapping_mul(0xA24B_AED4_963E_E407),
                );
            }
            h
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minhash::MinHasher;

    #[test]
    fn optimal_params_put_the_threshold_on_the_s_curve() {
        let p = LshParams::optimal(0.5, 128, 128, 0.5, 0.5);
        assert!(p.bands * p.rows <= 128);
        assert!(
            p.probability(0.3) < 0.2 && p.probability(0.7) > 0.9,
            "{p:?}"
        );
        // Recall-weighted, bounded bands: the default operating point.
        let p = LshParams::optimal(0.2, 128, 32, 0.05, 0.95);
        assert!(p.bands <= 32);
        assert!(p.probability(0.2) > 0.98, "{p:?}");
        let curve = p.s_curve(11);
        assert_eq!(curve.len(), 11);
        assert!(curve.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn similar_signatures_share_bands_and_far_ones_do_not() {
        let h = MinHasher::new(128, 3);
        let params = LshParams::optimal(0.5, 128, 32, 0.5, 0.5);
        let a: Vec<u32> = (0..100).collect();
        let b: Vec<u32> = (5..105).collect();
        let far: Vec<u32> = (1000..1100).collect();
        let keys = |set: &[u32]| band_keys(params, 3, &h.signature(set));
        let (ka, kb, kf) = (keys(&a), keys(&b), keys(&far));
        assert_eq!(ka.len(), params.bands);
        assert!(ka.iter().zip(&kb).any(|(x, y)| x == y));
        assert!(ka.iter().zip(&kf).all(|(x, y)| x != y));
    }
}
