//! LSH banding over MinHash signatures, in a concurrent, memory-lean map.
//!
//! A signature is cut into `bands` bands of `rows` values; two paragraphs become
//! candidates when any band is equal, which happens with probability
//! `P(s) = 1 - (1 - s^rows)^bands` for Jaccard similarity `s` (the S-curve).
//! [`LshParams::optimal`] picks bands × rows for a threshold by minimizing the weighted
//! areas of false positives (`∫₀ᵗ P`) and false negatives (`∫ₜ¹ 1 - P`); candidates are
//! verified exactly afterwards, so the default weights favour recall.
//!
//! Buckets live in [`PostingMap`], keyed by a 32-bit hash of (band, values): a bucket
//! with one paragraph costs 8 bytes plus table overhead. A false key collision only adds
//! a candidate that verification discards. A bucket of more than `max_bucket` ids holds a
//! value shared by very many paragraphs (a common bigram); reading it whole would make
//! every query slow, so a query reads only `max_bucket / 8` of its ids: the first one
//! inserted (usually the original that later paragraphs repeat) and the most recent ones,
//! which still find a paragraph that is being repeated over and over.

use dashmap::DashMap;
use std::hash::{BuildHasherDefault, Hasher};
use xxhash_rust::xxh3::xxh3_64_with_seed;

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

/// Hasher for keys that are already hashes: one multiply spreads them over 64 bits.
#[derive(Default, Clone, Copy)]
pub struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01B3);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (n as u64 ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Build = BuildHasherDefault<PrehashedKey>;

/// A concurrent multimap from 32-bit keys to 32-bit ids, lean for the common case of
/// one id per key: such keys live in `single` (8 bytes an entry); further ids for the
/// same key go to `multi`. A key may have ids in both maps; readers take the union.
#[derive(Default)]
pub struct PostingMap {
    single: DashMap<u32, u32, Build>,
    multi: DashMap<u32, Vec<u32>, Build>,
}

impl PostingMap {
    /// Adds `id` under `key`.
    pub fn insert(&self, key: u32, id: u32) {
        use dashmap::mapref::entry::Entry;
        match self.single.entry(key) {
            Entry::Vacant(v) => {
                v.insert(id);
            }
            Entry::Occupied(_) => self.multi.entry(key).or_default().push(id),
        }
    }

    /// Removes one occurrence of `id` under `key`; returns whether it was there.
    pub fn remove(&self, key: u32, id: u32) -> bool {
        if self.single.remove_if(&key, |_, &v| v == id).is_some() {
            return true;
        }
        let mut found = false;
        let mut emptied = false;
        if let Some(mut ids) = self.multi.get_mut(&key)
            && let Some(pos) = ids.iter().position(|&v| v == id)
        {
            ids.swap_remove(pos);
            found = true;
            emptied = ids.is_empty();
        }
        if emptied {
            self.multi.remove_if(&key, |_, ids| ids.is_empty());
        }
        found
    }

    /// Number of ids under `key`.
    pub fn len_of(&self, key: u32) -> usize {
        self.single.contains_key(&key) as usize + self.multi.get(&key).map_or(0, |v| v.len())
    }

    /// Calls `f` with at most `limit` ids under `key` (all of them when there are no
    /// more): the first one inserted, which is usually the original of what follows, and
    /// the most recent others. Returns the number of ids under `key`.
    pub fn for_each(&self, key: u32, limit: usize, mut f: impl FnMut(u32)) -> usize {
        let single = self.single.get(&key).map(|v| *v).filter(|_| limit > 0);
        let rest = limit - single.is_some() as usize;
        single.into_iter().for_each(&mut f);
        let multi = self.multi.get(&key);
        if let Some(ids) = &multi {
            ids.iter().rev().take(rest).for_each(|&id| f(id));
        }
        single.is_some() as usize + multi.map_or(0, |ids| ids.len())
    }

    /// Heap bytes held by the tables (capacity, not just length), for `stats`.
    pub fn memory_bytes(&self) -> usize {
        let single_entry = std::mem::size_of::<(u32, u32)>() + 1;
        let multi_entry = std::mem::size_of::<(u32, Vec<u32>)>() + 1;
        let single: usize = self
            .single
            .shards()
            .iter()
            .map(|s| s.read().capacity() * single_entry)
            .sum();
        let multi: usize = self
            .multi
            .shards()
            .iter()
            .map(|s| s.read().capacity() * multi_entry)
            .sum::<usize>()
            + self
                .multi
                .iter()
                .map(|ids| ids.capacity() * 4)
                .sum::<usize>();
        single + multi
    }
}

/// Bands of MinHash signatures in a [`PostingMap`].
pub struct LshIndex {
    params: LshParams,
    max_bucket: usize,
    seed: u64,
    buckets: PostingMap,
}

impl LshIndex {
    /// An empty index. `max_bucket` bounds the ids read from one bucket per query.
    pub fn new(params: LshParams, max_bucket: usize, seed: u64) -> LshIndex {
        LshIndex {
            params,
            max_bucket,
            seed,
            buckets: PostingMap::default(),
        }
    }

    /// The index's bands × rows.
    pub fn params(&self) -> LshParams {
        self.params
    }

    /// The bucket keys of a signature, one per band.
    pub fn band_keys(&self, sig: &Signature) -> Vec<u32> {
        band_keys(self.params, self.seed, sig)
    }

    /// Indexes `id` under the given band keys (from [`LshIndex::band_keys`]).
    pub fn insert(&self, id: u32, keys: &[u32]) {
        for &k in keys {
            self.buckets.insert(k, id);
        }
    }

    /// Removes `id` from the given band keys.
    pub fn remove(&self, id: u32, keys: &[u32]) {
        for &k in keys {
            self.buckets.remove(k, id);
        }
    }

    /// Calls `f` with every id sharing a band with `keys` (an id may come more than
    /// once). A bucket of more than `max_bucket` ids gives only `max_bucket / 8`: its
    /// first id and its most recent ones, enough to find an original and a paragraph
    /// repeated again and again, cheap for a bucket that merely shares a common bigram.
    pub fn candidates(&self, keys: &[u32], mut f: impl FnMut(u32)) {
        for &k in keys {
            let limit = read_limit(self.buckets.len_of(k), self.max_bucket);
            self.buckets.for_each(k, limit, &mut f);
        }
    }

    /// Heap bytes of the bucket tables.
    pub fn memory_bytes(&self) -> usize {
        self.buckets.memory_bytes()
    }
}

/// The key of a paragraph's content hash in an exact-duplicate [`PostingMap`]: its upper
/// 32 bits (a collision only adds a candidate that verification rejects).
pub fn exact_key(content_hash: u64) -> u32 {
    (content_hash >> 32) as u32
}

/// How many of a bucket's `len` ids a query reads: all of them up to `max_bucket`, else
/// `max_bucket / 8`, the first and the most recent (see the module docs and
/// [`PostingMap::for_each`]).
pub fn read_limit(len: usize, max_bucket: usize) -> usize {
    if len <= max_bucket {
        max_bucket
    } else {
        (max_bucket / 8).max(1)
    }
}

/// The bucket keys of a signature: a 32-bit hash of each band's values and its index.
pub fn band_keys(params: LshParams, seed: u64, sig: &Signature) -> Vec<u32> {
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
            (h >> 32) as u32
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
    fn posting_map_insert_lookup_remove() {
        let m = PostingMap::default();
        m.insert(7, 1);
        m.insert(7, 2);
        m.insert(7, 3);
        m.insert(8, 4);
        let mut got = vec![];
        assert_eq!(m.for_each(7, 10, |id| got.push(id)), 3);
        got.sort();
        assert_eq!(got, [1, 2, 3]);
        let mut read = vec![];
        assert_eq!(m.for_each(7, 2, |id| read.push(id)), 3);
        assert_eq!(read, [1, 3], "the first and the most recent");
        assert!(m.remove(7, 1) && m.remove(7, 3) && !m.remove(7, 3));
        assert_eq!(m.len_of(7), 1);
        assert!(m.remove(7, 2));
        assert_eq!(m.len_of(7), 0);
        assert!(m.memory_bytes() > 0);
    }

    #[test]
    fn similar_sets_are_candidates_and_removed_ones_are_not() {
        let h = MinHasher::new(128, 3);
        let params = LshParams::optimal(0.5, 128, 32, 0.5, 0.5);
        let index = LshIndex::new(params, 100, 3);
        let a: Vec<u32> = (0..100).collect();
        let b: Vec<u32> = (5..105).collect();
        let far: Vec<u32> = (1000..1100).collect();
        let ka = index.band_keys(&h.signature(&a));
        index.insert(1, &ka);
        let mut hits = vec![];
        index.candidates(&index.band_keys(&h.signature(&b)), |id| hits.push(id));
        assert!(hits.contains(&1));
        hits.clear();
        index.candidates(&index.band_keys(&h.signature(&far)), |id| hits.push(id));
        assert!(hits.is_empty());
        index.remove(1, &ka);
        index.candidates(&ka, |id| hits.push(id));
        assert!(hits.is_empty());
    }
}
