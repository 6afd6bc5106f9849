//! MinHash signatures from 32-bit shingle hashes.
//!
//! Permutation `i` maps a shingle hash `x` to `(a_i · x + c_i) >> 32` (64-bit wrapping
//! arithmetic, `a_i` odd): Dietzfelbinger's multiply-add-shift, a 2-independent family for
//! 32-bit keys, cheap enough that one xxh3 per shingle is the only real hashing. The
//! inner loop runs over permutations with no branches, so it vectorizes; since a portable
//! x86-64 build only targets SSE2, the loop is compiled a second time with AVX2 enabled
//! and picked at run time when the CPU has it.
//!
//! The estimate of Jaccard similarity is the share of equal signature values; its
//! standard error is `sqrt(J (1 - J) / num_perm)` (0.044 at J = 0.5 with 128
//! permutations), which the property tests check against exact Jaccard.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// A MinHash signature: one minimum per permutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature(pub Box<[u32]>);

impl Signature {
    /// Estimated Jaccard similarity: the share of permutations whose minima agree.
    /// Returns 0 for signatures of different lengths.
    pub fn jaccard(&self, other: &Signature) -> f64 {
        if self.0.len() != other.0.len() || self.0.is_empty() {
            return 0.0;
        }
        let equal = self
            .0
            .iter()
            .zip(other.0.iter())
            .filter(|(a, b)| a == b)
            .count();
        equal as f64 / self.0.len() as f64
    }

    /// Standard error of [`Signature::jaccard`] for a true similarity `j` and `num_perm`
    /// permutations: the estimate is a binomial share.
    pub fn standard_error(j: f64, num_perm: usize) -> f64 {
        (j * (1.0 - j) / num_perm as f64).sqrt()
    }
}

type UpdateFn = fn(&MinHasher, &mut [u32], &[u32]);

/// Builds signatures; cheap to share between threads.
#[derive(Clone)]
pub struct MinHasher {
    a: Box<[u64]>,
    c: Box<[u64]>,
    update: UpdateFn,
}

impl std::fmt::Debug for MinHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MinHasher")
            .field("num_perm", &self.a.len())
            .finish()
    }
}

impl MinHasher {
    /// A family of `num_perm` permutations drawn deterministically from `seed`.
    pub fn new(num_perm: usize, seed: u64) -> MinHasher {
        let draw = |i: usize, salt: u64| xxh3_64_with_seed(&(i as u64).to_le_bytes(), seed ^ salt);
        let a = (0..num_perm)
            .map(|i| draw(i, 0x9E37_79B9_7F4A_7C15) | 1)
            .collect();
        let c = (0..num_perm)
            .map(|i| draw(i, 0xC2B2_AE3D_27D4_EB4F))
            .collect();
        MinHasher {
            a,
            c,
            update: select_update().0,
        }
    }

    /// Number of permutations.
    pub fn num_perm(&self) -> usize {
        self.a.len()
    }

    /// The signature of a set of shingle hashes. An empty set gives all `u32::MAX`.
    pub fn signature(&self, set: &[u32]) -> Signature {
        let mut sig = vec![u32::MAX; self.a.len()].into_boxed_slice();
        (self.update)(self, &mut sig, set);
        Signature(sig)
    }

    /// Folds more shingle hashes into an existing signature.
    pub fn update(&self, sig: &mut Signature, hashes: &[u32]) {
        (self.update)(self, &mut sig.0, hashes);
    }
}

#[inline(always)]
fn update_body(h: &MinHasher, sig: &mut [u32], hashes: &[u32]) {
    let n = sig.len().min(h.a.len()).min(h.c.len());
    let (a, c, sig) = (&h.a[..n], &h.c[..n], &mut sig[..n]);
    for &x in hashes {
        let x = x as u64;
        for ((s, &a), &c) in sig.iter_mut().zip(a).zip(c) {
            let v = (a.wrapping_mul(x).wrapping_add(c) >> 32) as u32;
            *s = (*s).min(v);
        }
    }
}

fn update_portable(h: &MinHasher, sig: &mut [u32], hashes: &[u32]) {
    update_body(h, sig, hashes)
}

#[cfg(target_arch = "x86_64")]
fn update_avx2(h: &MinHasher, sig: &mut [u32], hashes: &[u32]) {
    #[target_feature(enable = "avx2")]
    fn inner(h: &MinHasher, sig: &mut [u32], hashes: &[u32]) {
        update_body(h, sig, hashes)
    }
    // SAFETY: only selected by `select_update` after AVX2 was detected on this CPU.
    unsafe { inner(h, sig, hashes) }
}

fn select_update() -> (UpdateFn, &'static str) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::env::var_os("NEARDUP_NO_SIMD").is_none() {
        return (update_avx2, "avx2");
    }
    (update_portable, "portable")
}

/// Which implementation [`MinHasher`] uses on this CPU: `avx2` or `portable` (set
/// `NEARDUP_NO_SIMD` to force the portable loop, for comparisons).
pub fn implementation() -> &'static str {
    select_update().1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact_jaccard(a: &[u32], b: &[u32]) -> f64 {
        let sa: std::collections::HashSet<_> = a.iter().collect();
        let sb: std::collections::HashSet<_> = b.iter().collect();
        let inter = sa.intersection(&sb).count() as f64;
        let union = sa.union(&sb).count() as f64;
        if union == 0.0 { 1.0 } else { inter / union }
    }

    #[test]
    fn identical_sets_identical_signatures_and_order_does_not_matter() {
        let h = MinHasher::new(128, 1);
        assert_eq!(h.signature(&[1, 2, 3]), h.signature(&[3, 2, 1, 2]));
        assert_eq!(
            h.signature(&[1, 2, 3]).jaccard(&h.signature(&[1, 2, 3])),
            1.0
        );
        let mut s = h.signature(&[1]);
        h.update(&mut s, &[2, 3]);
        assert_eq!(s, h.signature(&[1, 2, 3]));
    }

    #[test]
    fn portable_and_dispatched_agree() {
        let h = MinHasher::new(100, 9);
        let set: Vec<u32> = (0..500u32).map(|i| i.wrapping_mul(2654435761)).collect();
        let mut portable = vec![u32::MAX; 100];
        update_portable(&h, &mut portable, &set);
        assert_eq!(&*h.signature(&set).0, &portable[..]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        // Overlapping random sets: the estimate stays within five standard errors (a
        // failure chance of 6e-7 per case, so the test is not flaky) plus one
        // permutation's worth for the discreteness of the estimate.
        #[test]
        fn estimate_within_error_bound(shared in 0usize..300, only_a in 0usize..300, only_b in 0usize..300, seed in any::<u64>()) {
            prop_assume!(shared + only_a + only_b > 0);
            let mut rng = seed;
            let mut next = || { rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (rng >> 32) as u32 };
            let common: Vec<u32> = (0..shared).map(|_| next()).collect();
            let mut a = common.clone(); a.extend((0..only_a).map(|_| next()));
            let mut b = common; b.extend((0..only_b).map(|_| next()));
            let h = MinHasher::new(256, seed);
            let exact = exact_jaccard(&a, &b);
            let est = h.signature(&a).jaccard(&h.signature(&b));
            prop_assert!((est - exact).abs() <= 5.0 * Signature::standard_error(exact, 256) + 1.0 / 256.0,
                "estimate {est} exact {exact}");
        }
    }
}
