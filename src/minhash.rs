//! MinHash signatures from 32-bit shingle hashes.
//!
//! Permutation `i` maps a shingle hash `x` to `(a_i · x + c_i) >> 32` (64-bit wrapping
//! arithmetic, `a_i` odd): Dietzfelbinger's multiply-add-shift, a 2-independent family for
//! 32-bit keys, cheap enough that one xxh3 per shingle is the only real hashing. There are
//! three loops over the permutations, which give the same signatures: a portable one
//! (the reference), and on x86-64 hand-written AVX2 and AVX-512F ones (8 or 16
//! permutations at a time, see `x86`), since a portable build only targets SSE2 and the
//! 64-bit multiply does not vectorize there. The best loop the CPU runs is picked at run
//! time (`NEARDUP_NO_SIMD` forces the portable one; `neardup settings` names the choice).
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

    /// Makes this the signature of the union of both sets (the minimum of each pair of
    /// values), as if `other`'s hashes had been folded in. Values past the shorter
    /// signature are left as they are.
    pub fn merge(&mut self, other: &Signature) {
        for (v, &o) in self.0.iter_mut().zip(other.0.iter()) {
            *v = (*v).min(o);
        }
    }

    /// True for the signature of the empty set: every value still `u32::MAX`.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&v| v == u32::MAX)
    }

    /// Estimated number of distinct hashes folded in. Each value is the minimum of `n`
    /// values spread evenly over `0..2^32`, whose mean is `2^32 / (n + 1)`; the estimate
    /// is `k / Σ (v / (2^32 - 1)) - 1` (as in datasketch), with a relative standard error
    /// of about `1 / sqrt(k)` for `k` permutations. The empty set gives 0, and values
    /// that are all 0 (no finite set is that likely) infinity.
    pub fn cardinality(&self) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let sum: f64 = self.0.iter().map(|&v| v as f64 / u32::MAX as f64).sum();
        self.0.len() as f64 / sum - 1.0
    }
}

type UpdateFn = fn(&MinHasher, &mut [u32], &[u32]);

/// The parameters of 16 consecutive permutations, laid out for the SIMD loops:
/// `vpmuludq` multiplies the low 32 bits of each 64-bit lane, so even and odd
/// permutations go to separate vectors, and the high halves of `a` to a third.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Block {
    a_even: [u64; 8],
    a_odd: [u64; 8],
    c_even: [u64; 8],
    c_odd: [u64; 8],
    a_hi: [u32; 16],
}

/// Builds signatures; cheap to share between threads.
#[derive(Clone)]
pub struct MinHasher {
    a: Box<[u64]>,
    c: Box<[u64]>,
    /// `a` and `c` of the first `16 * blocks.len()` permutations, for the SIMD loops.
    blocks: Box<[Block]>,
    update: UpdateFn,
    implementation: &'static str,
}

impl std::fmt::Debug for MinHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MinHasher")
            .field("num_perm", &self.a.len())
            .field("implementation", &self.implementation)
            .finish()
    }
}

impl MinHasher {
    /// A family of `num_perm` permutations drawn deterministically from `seed`.
    pub fn new(num_perm: usize, seed: u64) -> MinHasher {
        let (update, implementation) = select_update();
        Self::build(num_perm, seed, update, implementation)
    }

    /// As [`MinHasher::new`], with a given loop (`portable`, `avx2` or `avx512`; see
    /// [`implementations`]) instead of the best one: for benchmarks and tests. `None`
    /// if this CPU cannot run it. Signatures are the same whichever loop makes them.
    pub fn with_implementation(num_perm: usize, seed: u64, name: &str) -> Option<MinHasher> {
        let (update, implementation) = available_updates().into_iter().find(|&(_, n)| n == name)?;
        Some(Self::build(num_perm, seed, update, implementation))
    }

    /// A family with the given multipliers `a` and offsets `c` (one of each per
    /// permutation; `a` should be odd), such as [`MinHasher::parameters`] of another
    /// hasher. `None` when the two lengths differ.
    pub fn from_parameters(a: &[u64], c: &[u64]) -> Option<MinHasher> {
        if a.len() != c.len() {
            return None;
        }
        let (update, implementation) = select_update();
        Some(Self::assemble(a.into(), c.into(), update, implementation))
    }

    /// The multipliers and offsets of the permutations, in order.
    pub fn parameters(&self) -> (&[u64], &[u64]) {
        (&self.a, &self.c)
    }

    fn build(num_perm: usize, seed: u64, update: UpdateFn, implementation: &'static str) -> Self {
        let draw = |i: usize, salt: u64| xxh3_64_with_seed(&(i as u64).to_le_bytes(), seed ^ salt);
        let a: Box<[u64]> = (0..num_perm)
            .map(|i| draw(i, 0x9E37_79B9_7F4A_7C15) | 1)
            .collect();
        let c: Box<[u64]> = (0..num_perm)
            .map(|i| draw(i, 0xC2B2_AE3D_27D4_EB4F))
            .collect();
        Self::assemble(a, c, update, implementation)
    }

    fn assemble(
        a: Box<[u64]>,
        c: Box<[u64]>,
        update: UpdateFn,
        implementation: &'static str,
    ) -> Self {
        let blocks = a
            .chunks_exact(16)
            .zip(c.chunks_exact(16))
            .map(|(a, c)| {
                let mut b = Block::default();
                for i in 0..8 {
                    b.a_even[i] = a[2 * i];
                    b.a_odd[i] = a[2 * i + 1];
                    b.c_even[i] = c[2 * i];
                    b.c_odd[i] = c[2 * i + 1];
                }
                for (hi, a) in b.a_hi.iter_mut().zip(a) {
                    *hi = (a >> 32) as u32;
                }
                b
            })
            .collect();
        MinHasher {
            a,
            c,
            blocks,
            update,
            implementation,
        }
    }

    /// Number of permutations.
    pub fn num_perm(&self) -> usize {
        self.a.len()
    }

    /// The loop this hasher runs: `portable`, `avx2` or `avx512`.
    pub fn implementation(&self) -> &'static str {
        self.implementation
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

/// Permutations `from..` of `h`, one at a time: the reference every loop must agree with.
#[inline(always)]
fn update_body(h: &MinHasher, from: usize, sig: &mut [u32], hashes: &[u32]) {
    let n = sig.len().min(h.a.len()).min(h.c.len());
    if from >= n {
        return;
    }
    let (a, c, sig) = (&h.a[from..n], &h.c[from..n], &mut sig[from..n]);
    for &x in hashes {
        let x = x as u64;
        for ((s, &a), &c) in sig.iter_mut().zip(a).zip(c) {
            let v = (a.wrapping_mul(x).wrapping_add(c) >> 32) as u32;
            *s = (*s).min(v);
        }
    }
}

fn update_portable(h: &MinHasher, sig: &mut [u32], hashes: &[u32]) {
    update_body(h, 0, sig, hashes)
}

/// The SIMD loops. For `x < 2^32` and `a = 2^32 a_hi + a_lo`,
/// `(a x + c) >> 32 = (hi32(a_lo x + c) + lo32(a_hi x)) mod 2^32` (all mod 2^64): two
/// 32 × 32 → 64-bit multiplies (`vpmuludq`, even and odd permutations) and one 32-bit
/// one (`vpmulld`) give 8 (AVX2) or 16 (AVX-512) permutations at a time, in 32-bit
/// lanes, with no 64-bit multiply (which AVX2 lacks). Minima stay in registers while
/// the loop runs over the whole set, one group of permutations at a time.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Block, MinHasher, update_body};
    use std::arch::x86_64::*;

    pub(super) fn update_avx2(h: &MinHasher, sig: &mut [u32], hashes: &[u32]) {
        // SAFETY: only selected by `available_updates` after AVX2 was detected.
        unsafe { avx2(h, sig, hashes) }
    }

    pub(super) fn update_avx512(h: &MinHasher, sig: &mut [u32], hashes: &[u32]) {
        // SAFETY: only selected by `available_updates` after AVX-512F was detected.
        unsafe { avx512(h, sig, hashes) }
    }

    #[target_feature(enable = "avx2")]
    fn avx2(h: &MinHasher, sig: &mut [u32], hashes: &[u32]) {
        let blocks = &h.blocks[..h.blocks.len().min(sig.len() / 16)];
        for (block, sig) in blocks.iter().zip(sig.chunks_exact_mut(16)) {
            avx2_block(block, sig, hashes);
        }
        update_body(h, 16 * blocks.len(), sig, hashes);
    }

    #[target_feature(enable = "avx2")]
    fn avx2_block(b: &Block, sig: &mut [u32], hashes: &[u32]) {
        assert!(sig.len() >= 16);
        // SAFETY: every load and store is within `b` (64-byte aligned, 8 u64 or 16
        // u32 per array) or within the first 16 values of `sig` (checked above).
        unsafe {
            let ld = |p: *const u64| _mm256_load_si256(p as *const __m256i);
            let (ae0, ae1) = (ld(b.a_even.as_ptr()), ld(b.a_even.as_ptr().add(4)));
            let (ao0, ao1) = (ld(b.a_odd.as_ptr()), ld(b.a_odd.as_ptr().add(4)));
            let (ce0, ce1) = (ld(b.c_even.as_ptr()), ld(b.c_even.as_ptr().add(4)));
            let (co0, co1) = (ld(b.c_odd.as_ptr()), ld(b.c_odd.as_ptr().add(4)));
            let ah0 = _mm256_load_si256(b.a_hi.as_ptr() as *const __m256i);
            let ah1 = _mm256_load_si256(b.a_hi.as_ptr().add(8) as *const __m256i);
            let sp = sig.as_mut_ptr() as *mut __m256i;
            let mut s0 = _mm256_loadu_si256(sp);
            let mut s1 = _mm256_loadu_si256(sp.add(1));
            for &x in hashes {
                let x = _mm256_set1_epi32(x as i32);
                let e0 = _mm256_add_epi64(_mm256_mul_epu32(ae0, x), ce0);
                let o0 = _mm256_add_epi64(_mm256_mul_epu32(ao0, x), co0);
                let e1 = _mm256_add_epi64(_mm256_mul_epu32(ae1, x), ce1);
                let o1 = _mm256_add_epi64(_mm256_mul_epu32(ao1, x), co1);
                let h0 = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(e0), o0);
                let h1 = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(e1), o1);
                let v0 = _mm256_add_epi32(h0, _mm256_mullo_epi32(ah0, x));
                let v1 = _mm256_add_epi32(h1, _mm256_mullo_epi32(ah1, x));
                s0 = _mm256_min_epu32(s0, v0);
                s1 = _mm256_min_epu32(s1, v1);
            }
            _mm256_storeu_si256(sp, s0);
            _mm256_storeu_si256(sp.add(1), s1);
        }
    }

    #[target_feature(enable = "avx512f")]
    fn avx512(h: &MinHasher, sig: &mut [u32], hashes: &[u32]) {
        let mut blocks = &h.blocks[..h.blocks.len().min(sig.len() / 16)];
        let done = 16 * blocks.len();
        let mut rest = &mut sig[..done];
        // Four blocks (64 permutations) per pass keep 20 parameter vectors and 4
        // minima in the 32 registers.
        while blocks.len() >= 4 {
            let (b, s);
            (b, blocks) = blocks.split_at(4);
            (s, rest) = rest.split_at_mut(64);
            avx512_blocks::<4>(b, s, hashes);
        }
        while !blocks.is_empty() {
            let (b, s);
            (b, blocks) = blocks.split_at(1);
            (s, rest) = rest.split_at_mut(16);
            avx512_blocks::<1>(b, s, hashes);
        }
        update_body(h, done, sig, hashes);
    }

    #[target_feature(enable = "avx512f")]
    fn avx512_blocks<const G: usize>(b: &[Block], sig: &mut [u32], hashes: &[u32]) {
        assert!(b.len() == G && sig.len() == 16 * G);
        // SAFETY: every load and store is within a `Block` (64-byte aligned arrays of
        // 64 bytes) or within `sig` (16 values per block, checked above).
        unsafe {
            let z = _mm512_setzero_si512();
            let (mut ae, mut ao, mut ce, mut co, mut ah, mut s) =
                ([z; G], [z; G], [z; G], [z; G], [z; G], [z; G]);
            for i in 0..G {
                ae[i] = _mm512_load_si512(b[i].a_even.as_ptr() as *const _);
                ao[i] = _mm512_load_si512(b[i].a_odd.as_ptr() as *const _);
                ce[i] = _mm512_load_si512(b[i].c_even.as_ptr() as *const _);
                co[i] = _mm512_load_si512(b[i].c_odd.as_ptr() as *const _);
                ah[i] = _mm512_load_si512(b[i].a_hi.as_ptr() as *const _);
                s[i] = _mm512_loadu_si512(sig.as_ptr().add(16 * i) as *const _);
            }
            for &x in hashes {
                let x = _mm512_set1_epi32(x as i32);
                for i in 0..G {
                    let e = _mm512_add_epi64(_mm512_mul_epu32(ae[i], x), ce[i]);
                    let o = _mm512_add_epi64(_mm512_mul_epu32(ao[i], x), co[i]);
                    let hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64::<32>(e), o);
                    let v = _mm512_add_epi32(hi, _mm512_mullo_epi32(ah[i], x));
                    s[i] = _mm512_min_epu32(s[i], v);
                }
            }
            for (i, v) in s.iter().enumerate() {
                _mm512_storeu_si512(sig.as_mut_ptr().add(16 * i) as *mut _, *v);
            }
        }
    }
}

/// The loops this CPU can run, best last.
fn available_updates() -> Vec<(UpdateFn, &'static str)> {
    #[allow(unused_mut)]
    let mut all: Vec<(UpdateFn, &'static str)> = vec![(update_portable, "portable")];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            all.push((x86::update_avx2, "avx2"));
        }
        if std::is_x86_feature_detected!("avx512f") {
            all.push((x86::update_avx512, "avx512"));
        }
    }
    all
}

fn select_update() -> (UpdateFn, &'static str) {
    let all = available_updates();
    if std::env::var_os("NEARDUP_NO_SIMD").is_some() {
        return all[0];
    }
    all[all.len() - 1]
}

/// Which implementation [`MinHasher::new`] picks on this CPU: `avx512`, `avx2` or
/// `portable` (set `NEARDUP_NO_SIMD` to force the portable loop, for comparisons).
pub fn implementation() -> &'static str {
    select_update().1
}

/// Every implementation this CPU can run, portable first.
pub fn implementations() -> Vec<&'static str> {
    available_updates().into_iter().map(|(_, n)| n).collect()
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

    #[test]
    fn every_implementation_gives_the_same_signatures() {
        let names = implementations();
        assert_eq!(names[0], "portable");
        assert!(MinHasher::with_implementation(8, 0, "no-such-loop").is_none());
        let set: Vec<u32> = (0..300u32)
            .map(|i| i.wrapping_mul(2654435761) ^ (i << 29))
            .chain([0, 1, u32::MAX, u32::MAX - 1, 1 << 31])
            .collect();
        for num_perm in [1, 7, 15, 16, 17, 31, 32, 33, 48, 64, 100, 128, 129, 256] {
            for seed in [0, 9, u64::MAX] {
                let reference = MinHasher::with_implementation(num_perm, seed, "portable").unwrap();
                for &name in &names {
                    let h = MinHasher::with_implementation(num_perm, seed, name).unwrap();
                    assert_eq!(h.implementation(), name);
                    for part in [&set[..0], &set[..1], &set[..37], &set[..]] {
                        assert_eq!(
                            h.signature(part),
                            reference.signature(part),
                            "{name} num_perm={num_perm} seed={seed} n={}",
                            part.len()
                        );
                    }
                    let mut sig = h.signature(&set[..10]);
                    h.update(&mut sig, &set[10..]);
                    assert_eq!(sig, reference.signature(&set), "{name} update");
                }
            }
        }
    }

    #[test]
    fn merge_is_the_signature_of_the_union() {
        let h = MinHasher::new(64, 5);
        let mut a = h.signature(&[1, 2, 3]);
        assert!(!a.is_empty() && h.signature(&[]).is_empty());
        a.merge(&h.signature(&[3, 4, 5]));
        assert_eq!(a, h.signature(&[1, 2, 3, 4, 5]));
        let mut empty = h.signature(&[]);
        empty.merge(&a);
        assert_eq!(empty, a);
    }

    #[test]
    fn parameters_rebuild_the_same_family() {
        let h = MinHasher::new(40, 11);
        let (a, c) = h.parameters();
        assert_eq!((a.len(), c.len()), (40, 40));
        let again = MinHasher::from_parameters(a, c).unwrap();
        let set: Vec<u32> = (0..500u32).map(|i| i.wrapping_mul(0x9E37_79B9)).collect();
        assert_eq!(again.signature(&set), h.signature(&set));
        assert!(MinHasher::from_parameters(&a[..3], &c[..2]).is_none());
    }

    #[test]
    fn cardinality_is_estimated_within_its_error() {
        let h = MinHasher::new(1024, 3);
        assert_eq!(h.signature(&[]).cardinality(), 0.0);
        assert_eq!(Signature(vec![0; 4].into()).cardinality(), f64::INFINITY);
        for n in [1u32, 10, 100, 1000, 20_000] {
            let set: Vec<u32> = (0..n)
                .map(|i| i.wrapping_mul(2654435761) ^ 0x5bd1_e995)
                .collect();
            let est = h.signature(&set).cardinality();
            // Relative standard error 1/sqrt(1024) = 3 %: five of them, plus one for n = 1.
            assert!(
                (est - n as f64).abs() <= 0.16 * n as f64 + 1.0,
                "n={n} estimate={est}"
            );
        }
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
