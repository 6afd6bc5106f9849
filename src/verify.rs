//! Verification of a candidate pair: exact scores, the kind of match, shared spans.
//!
//! Scores are exact set figures over the 32-bit shingle hashes (a false hash collision
//! between two given paragraphs has probability about `n·m / 2³²`, below 10⁻⁵ for
//! paragraphs of a few hundred shingles), so no estimate error enters a decision.
//!
//! Kinds: `exact` (identical after normalization), `near` (Jaccard ≥ threshold and at
//! least `min_shared` shingles in common: on six-word sentences, two shared bigrams such
//! as "a man" and "man is" reach Jaccard 0.25 and mean nothing), `partial` (one
//! paragraph is mostly inside the other: containment ≥ its threshold,
//! at least `min_shared` shingles in common, and Jaccard at least half the `near`
//! threshold — so a fragment must be a fair share of the paragraph it came from, and a
//! short heading whose words recur in a long paragraph is not reported; or, for long
//! texts stitched from pieces of another, at least 8 × `min_shared` shingles in common and
//! half the containment threshold).

use crate::index::Sketch;
use crate::text::Shingle;

/// Exact similarity figures of a (query, source) pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// |Q ∩ S| / |Q ∪ S|.
    pub jaccard: f64,
    /// |Q ∩ S| / |Q|: how much of the query paragraph is in the source.
    pub containment: f64,
    /// |Q ∩ S| / |S|: how much of the source paragraph is in the query.
    pub containment_source: f64,
    /// |Q ∩ S|.
    pub shared: usize,
}

/// Exact scores of two sorted, distinct sets.
pub fn scores(q: &[u32], s: &[u32]) -> Scores {
    let shared = shared_at_least(q, s, 0).unwrap_or(0);
    scores_from(q.len(), s.len(), shared)
}

/// What verification needs of one side of a pair.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// The sorted distinct shingle hashes.
    pub set: &'a [u32],
    /// The hash of the normalized token sequence.
    pub content_hash: u64,
    /// The b-bit MinHash sketch.
    pub sketch: &'a Sketch,
}

/// The kind and exact scores of a candidate `s` for paragraph `q`, or `None`.
///
/// The sketches reject first, without touching the sets, the candidates that cannot share
/// enough shingles for any kind of match ([`Sketch::may_reach`]); then an early-exit merge
/// of the sets does ([`candidate_scores`]).
pub fn verify(q: Side<'_>, s: Side<'_>, t: &Thresholds) -> Option<(MatchKind, Scores)> {
    let need = shared_needed(q.set.len(), s.set.len(), t);
    if !q.sketch.may_reach(s.sketch, q.set.len(), s.set.len(), need) {
        return None;
    }
    verify_sets(q.set, q.content_hash, s.set, s.content_hash, t)
}

/// The kind and exact scores of a pair from its sets and content hashes (no sketch test).
pub fn verify_sets(
    q: &[u32],
    q_hash: u64,
    s: &[u32],
    s_hash: u64,
    t: &Thresholds,
) -> Option<(MatchKind, Scores)> {
    let scores = candidate_scores(q, s, t)?;
    let identical = q_hash == s_hash && q == s;
    classify(&scores, identical, t).map(|kind| (kind, scores))
}

/// Exact scores of a candidate pair, or `None` as soon as the merge shows that too few
/// shingles can be shared for any kind of match (most candidates share a common phrase
/// or two and are dropped after a few steps). Never `None` for a pair that [`classify`]
/// would accept.
pub fn candidate_scores(q: &[u32], s: &[u32], t: &Thresholds) -> Option<Scores> {
    let need = shared_needed(q.len(), s.len(), t);
    shared_at_least(q, s, need).map(|shared| scores_from(q.len(), s.len(), shared))
}

/// The fewest shingles sets of sizes `a` and `b` must share for [`classify`] to accept
/// them as any kind of match (rounded down, and a little less, so that float error never
/// drops a match).
pub fn shared_needed(a: usize, b: usize, t: &Thresholds) -> usize {
    let (a, b) = (a as f64, b as f64);
    let near = (t.jaccard * (a + b) / (1.0 + t.jaccard)).max(t.min_shared as f64);
    let partial = (t.containment * a.min(b)).max(t.min_shared as f64);
    let long = (t.containment / 2.0 * a.min(b)).max((LONG_REUSE * t.min_shared) as f64);
    (near.min(partial).min(long) - 1e-6).floor().max(0.0) as usize
}

/// `|q ∩ s|` of two sorted sets, or `None` once fewer than `need` can be reached.
fn shared_at_least(q: &[u32], s: &[u32], need: usize) -> Option<usize> {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < q.len() && j < s.len() {
        if shared + (q.len() - i).min(s.len() - j) < need {
            return None;
        }
        // Without branches on the comparison, which is a coin toss for the CPU's
        // predictor (the grey-zone test of the edited-copy stage is made of these merges).
        let (a, b) = (q[i], s[j]);
        shared += usize::from(a == b);
        i += usize::from(a <= b);
        j += usize::from(b <= a);
    }
    (shared >= need).then_some(shared)
}

/// A bit filter of a sorted set's elements, for testing many candidates against one
/// paragraph: the elements of another set whose bit is set are at least as many as the
/// two share, so a candidate that falls short of a need is rejected exactly, in one pass
/// over its own set. That pass has no chain of dependent comparisons, as the merge of
/// [`candidate_scores`] has, and is several times faster; it is worth it where most
/// candidates fail (the edited-copy stage's grey zone, [`crate::engine::edited`]).
#[derive(Debug, Clone)]
pub struct SetFilter {
    /// One bit per value of the top bits of an element: about 32 bits an element, so
    /// that about one probe in 32 of an element it lacks finds a bit set.
    words: Vec<u64>,
    shift: u32,
}

impl SetFilter {
    /// The filter of a sorted set of shingle hashes (uniform, so the top bits spread).
    pub fn new(set: &[u32]) -> SetFilter {
        let bits = (set.len() * 32).next_power_of_two().clamp(64, 1 << 26);
        let shift = 32 - bits.trailing_zeros();
        let mut words = vec![0u64; bits / 64];
        for &x in set {
            let b = (x >> shift) as usize;
            words[b / 64] |= 1 << (b % 64);
        }
        SetFilter { words, shift }
    }

    /// False only when `other` (sorted or not) cannot share `need` elements with the
    /// filtered set.
    pub fn may_share(&self, other: &[u32], need: usize) -> bool {
        let bit = |x: u32| {
            let b = (x >> self.shift) as usize;
            ((self.words[b / 64] >> (b % 64)) & 1) as usize
        };
        // Probes in blocks with no test between them, so that they overlap; the early
        // exits are taken between blocks.
        let (mut hits, mut left) = (0, other.len());
        for block in other.chunks(16) {
            hits += block.iter().map(|&x| bit(x)).sum::<usize>();
            left -= block.len();
            if hits >= need {
                return true;
            }
            if hits + left < need {
                return false;
            }
        }
        hits >= need
    }
}

fn scores_from(q: usize, s: usize, shared: usize) -> Scores {
    let ratio = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    Scores {
        jaccard: ratio(shared, q + s - shared),
        containment: ratio(shared, q),
        containment_source: ratio(shared, s),
        shared,
    }
}

/// A score rounded to four decimals, as reports print it.
pub fn round_score(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// How a paragraph repeats an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchKind {
    /// Identical after normalization.
    Exact,
    /// Jaccard at or above the threshold.
    Near,
    /// A fragment or a superset of the source: containment at or above its threshold.
    Partial,
    /// A heavily edited copy: the set scores are below the thresholds, but the two token
    /// sequences align over much of both (decided by [`crate::edit`]).
    Edited,
}

impl MatchKind {
    /// Lower-case name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Near => "near",
            MatchKind::Partial => "partial",
            MatchKind::Edited => "edited",
        }
    }
}

/// Decision thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Jaccard for `near`.
    pub jaccard: f64,
    /// Containment (either way) for `partial`.
    pub containment: f64,
    /// Shared shingles needed for `near` and `partial` (8 times as many for the
    /// long-reuse `partial`; see the module docs).
    pub min_shared: usize,
}

/// The kind of match, if any, for a verified pair.
///
/// A pair where one paragraph is (mostly) inside the other but not the other way round
/// is `partial` even when its Jaccard would pass for `near`: "half of that paragraph"
/// tells an editor more than "similar to that paragraph".
pub fn classify(scores: &Scores, identical: bool, t: &Thresholds) -> Option<MatchKind> {
    let high = scores.containment.max(scores.containment_source);
    let low = scores.containment.min(scores.containment_source);
    if identical {
        Some(MatchKind::Exact)
    } else if high >= t.containment
        && low < t.containment
        && scores.shared >= t.min_shared
        && scores.jaccard >= t.jaccard / 2.0
    {
        Some(MatchKind::Partial)
    } else if scores.jaccard >= t.jaccard && scores.shared >= t.min_shared {
        Some(MatchKind::Near)
    } else if high >= t.containment / 2.0 && scores.shared >= LONG_REUSE * t.min_shared {
        // A long text stitched from pieces of another: relative scores stay low, but
        // this much shared text does not happen by topic alone.
        Some(MatchKind::Partial)
    } else {
        None
    }
}

/// A pair sharing this many times `min_shared` shingles, and half the containment
/// threshold, is a partial repeat whatever its Jaccard (see BENCHMARKS.md, Clough &
/// Stevenson).
pub const LONG_REUSE: usize = 8;

/// A run of text shared by both paragraphs, as token ranges `[q_first, q_last)` and
/// `[s_first, s_last)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSpan {
    /// First query token.
    pub q_first: u32,
    /// One past the last query token.
    pub q_last: u32,
    /// First source token.
    pub s_first: u32,
    /// One past the last source token.
    pub s_last: u32,
}

/// Aligns the shingles two paragraphs share into maximal runs, in query order.
///
/// Greedy: each run starts at the first unconsumed query shingle that occurs in the
/// source, at the source position where the most following shingles agree (of its first
/// 32 in source order). Runs that overlap the previous one on either side are merged into
/// it, so the spans of a reordered paragraph come out as
/// one span per moved piece.
pub fn shared_spans(q: &[Shingle], s: &[Shingle]) -> Vec<TokenSpan> {
    // Every source position by shingle, in source order within one shingle: one sorted
    // table, where a map of lists would allocate a list per distinct shingle.
    let mut positions: Vec<(u32, usize)> =
        s.iter().enumerate().map(|(j, sh)| (sh.hash, j)).collect();
    positions.sort_unstable();
    let mut spans: Vec<TokenSpan> = Vec::new();
    let mut next_s = 0usize;
    let mut i = 0usize;
    while i < q.len() {
        let h = q[i].hash;
        let from = positions.partition_point(|&(k, _)| k < h);
        let n = positions[from..].partition_point(|&(k, _)| k == h);
        if n == 0 {
            i += 1;
            continue;
        }
        let cands = positions[from..from + n].iter().map(|&(_, j)| j);
        let run = |j: usize| {
            (1..)
                .take_while(|&l| {
                    i + l < q.len() && j + l < s.len() && q[i + l].hash == s[j + l].hash
                })
                .count()
                + 1
        };
        // The longest run wins; among equals, the one that continues in source order.
        let (len, j) = cands
            .take(32)
            .map(|j| (run(j), j))
            .max_by_key(|&(len, j)| (len, j >= next_s, std::cmp::Reverse(j)))
            .expect("positions are never empty");
        let span = TokenSpan {
            q_first: q[i].first,
            q_last: q[i + len - 1].last,
            s_first: s[j].first,
            s_last: s[j + len - 1].last,
        };
        match spans.last_mut() {
            Some(prev)
                if prev.q_last >= span.q_first
                    && prev.s_last >= span.s_first
                    && prev.s_first <= span.s_first =>
            {
                prev.q_last = prev.q_last.max(span.q_last);
                prev.s_last = prev.s_last.max(span.s_last);
            }
            _ => spans.push(span),
        }
        next_s = j + len;
        i += len;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::analyze_paragraph;

    #[test]
    fn scores_are_exact_set_figures() {
        let s = scores(&[1, 2, 3, 4], &[3, 4, 5]);
        assert_eq!(s.shared, 2);
        assert!((s.jaccard - 2.0 / 5.0).abs() < 1e-12);
        assert!((s.containment - 0.5).abs() < 1e-12);
        assert!((s.containment_source - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(scores(&[], &[1]).jaccard, 0.0);
    }

    fn sorted_set(seed: u64, n: usize) -> Vec<u32> {
        let mut v: Vec<u32> = (0..n as u64)
            .map(|i| xxhash_rust::xxh3::xxh3_64_with_seed(&i.to_le_bytes(), seed) as u32)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn the_filter_rejects_sets_that_share_too_little() {
        let a = sorted_set(1, 200);
        let f = SetFilter::new(&a);
        assert!(f.may_share(&a, a.len()) && f.may_share(&[], 0));
        // Unrelated sets of 200 share nothing; about 6 of 200 probes find a bit set.
        let unrelated = (2..50).filter(|&seed| !f.may_share(&sorted_set(seed, 200), 20));
        assert!(unrelated.count() >= 45);
        assert!(!f.may_share(&a[..5], 6));
    }

    proptest::proptest! {
        // Never rejects a pair that shares what is needed.
        #[test]
        fn the_filter_never_rejects_what_is_shared(
            seed in 0u64..1000,
            n in 0usize..400,
            m in 0usize..400,
            common in 0usize..200,
        ) {
            let q = sorted_set(seed, n + common);
            let mut s = sorted_set(seed + 1, m);
            s.extend(q.iter().take(common));
            s.sort_unstable();
            s.dedup();
            let shared = scores(&q, &s).shared;
            let f = SetFilter::new(&q);
            proptest::prop_assert!(f.may_share(&s, shared));
            proptest::prop_assert!(!f.may_share(&s, s.len() + 1));
        }
    }

    #[test]
    fn classify_orders_exact_near_partial() {
        let t = Thresholds {
            jaccard: 0.5,
            containment: 0.8,
            min_shared: 5,
        };
        let near = scores(&[1, 2, 3, 4, 5, 6, 7], &[1, 2, 3, 4, 5, 6, 8]);
        assert_eq!(classify(&near, true, &t), Some(MatchKind::Exact));
        assert_eq!(classify(&near, false, &t), Some(MatchKind::Near));
        // The same Jaccard on tiny sets rests on too few shingles to mean anything.
        let tiny = scores(&[1, 2, 3, 4], &[1, 2, 3, 5]);
        assert_eq!(classify(&tiny, false, &t), None);
        let fragment: Vec<u32> = (0..10).collect();
        let whole: Vec<u32> = (0..40).collect();
        assert_eq!(
            classify(&scores(&fragment, &whole), false, &t),
            Some(MatchKind::Partial)
        );
        // A heading: fully contained but too small to mean anything, in absolute terms…
        assert_eq!(classify(&scores(&[1, 2, 3], &whole), false, &t), None);
        // …or relative to the paragraph it is found in.
        let long: Vec<u32> = (0..200).collect();
        assert_eq!(classify(&scores(&fragment, &long), false, &t), None);
    }

    #[test]
    fn fragments_and_stitched_texts_are_partial() {
        let t = Thresholds {
            jaccard: 0.2,
            containment: 0.6,
            min_shared: 5,
        };
        // Half of a paragraph is a fragment, though its Jaccard passes for near.
        let whole: Vec<u32> = (0..40).collect();
        let half: Vec<u32> = (0..20).collect();
        assert_eq!(
            classify(&scores(&half, &whole), false, &t),
            Some(MatchKind::Partial)
        );
        assert_eq!(
            classify(&scores(&whole, &half), false, &t),
            Some(MatchKind::Partial)
        );
        // A long answer stitched from pieces of a longer article: 35 % of it, 70 shingles.
        let answer: Vec<u32> = (0..70).chain(1000..1130).collect();
        let article: Vec<u32> = (0..600).collect();
        assert_eq!(
            classify(&scores(&answer, &article), false, &t),
            Some(MatchKind::Partial)
        );
        assert_eq!(
            candidate_scores(&answer, &article, &t),
            Some(scores(&answer, &article))
        );
        // Written on the same topic: a fifth of the bigrams in common is not reuse.
        let topic: Vec<u32> = (0..38).chain(1000..1162).collect();
        assert_eq!(classify(&scores(&topic, &article), false, &t), None);
    }

    #[test]
    fn candidate_scores_never_drops_a_match() {
        let t = Thresholds {
            jaccard: 0.2,
            containment: 0.6,
            min_shared: 7,
        };
        let mut x = 12345u64;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        let (mut matches, mut dropped) = (0, 0);
        for _ in 0..20_000 {
            let (na, nb, shared) = (next(60) as u32, next(200) as u32, next(60) as u32);
            let q: Vec<u32> = (0..shared).chain(1000..1000 + na).collect();
            let mut s: Vec<u32> = (0..shared.min(nb)).chain(5000..5000 + nb).collect();
            s.sort_unstable();
            let scores = scores(&q, &s);
            if classify(&scores, false, &t).is_some() {
                matches += 1;
                assert_eq!(candidate_scores(&q, &s, &t), Some(scores));
            } else if candidate_scores(&q, &s, &t).is_none() {
                dropped += 1;
            }
        }
        assert!(matches > 1000 && dropped > 1000, "{matches} {dropped}");
        assert_eq!(
            candidate_scores(&[1, 2, 3, 4, 5, 6, 7, 8], &[9, 10, 11, 12], &t),
            None
        );
    }

    #[test]
    fn spans_cover_the_shared_text_on_both_sides() {
        let q = analyze_paragraph(
            "new words here then the quick brown fox jumps over the lazy dog",
            2,
            0,
        );
        let s = analyze_paragraph("the quick brown fox jumps over the lazy dog and more", 2, 0);
        let spans = shared_spans(&q.shingles, &s.shingles);
        assert_eq!(
            spans,
            [TokenSpan {
                q_first: 4,
                q_last: 13,
                s_first: 0,
                s_last: 9
            }]
        );
    }

    #[test]
    fn reordered_sentences_give_one_span_per_piece() {
        let q = analyze_paragraph("gamma delta epsilon zeta. alpha beta gamma delta", 2, 0);
        let s = analyze_paragraph("alpha beta gamma delta. gamma delta epsilon zeta", 2, 0);
        let spans = shared_spans(&q.shingles, &s.shingles);
        assert_eq!(spans.len(), 2, "{spans:?}");
        assert_eq!(
            (
                spans[0].q_first,
                spans[0].q_last,
                spans[0].s_first,
                spans[0].s_last
            ),
            (0, 4, 4, 8)
        );
        assert_eq!(
            (
                spans[1].q_first,
                spans[1].q_last,
                spans[1].s_first,
                spans[1].s_last
            ),
            (4, 8, 0, 4)
        );
    }
}
