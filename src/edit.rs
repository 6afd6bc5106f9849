//! The second stage for edited copies: alignment of two paragraphs' token sequences.
//!
//! Shingle sets stop working once a fifth of a paragraph is edited: every substitution
//! breaks each shingle that covers it, and a heavily edited copy keeps about as many
//! bigrams with its source (Jaccard 0.10–0.19) as an unrelated paragraph on the same topic.
//! What an edit does not destroy is the order of what is left. This module aligns the two
//! paragraphs' unit sequences (Smith–Waterman with affine gaps, banded) and reports how
//! much of each side the alignment matches: the aligned coverage.
//!
//! Units are whole tokens ([`Level::Token`], what the engine uses: a word, or a Chinese
//! character) or the letters and digits of the normalized tokens ([`Level::Char`]: a typo
//! costs one letter, not a word, at some 25 times the cost on English).
//!
//! An alignment is a chain of local alignments in text order, found in one pass: a cell
//! may start the next piece after the best chain above and to the left of it, for
//! [`Scoring::min_score`]. A copy whose middle was rewritten still aligns at both ends, and
//! text that only shares vocabulary yields a few short pieces.
//!
//! Cheap bounds come first ([`decide`]): the grey zone itself is chosen from set figures
//! ([`grey_thresholds`], which the caller tests with the b-bit sketch and then the exact set
//! merge), then lengths, the unigram overlap ([`overlap_len`]) and the longest common
//! subsequence ([`lcs_len`]) bound the coverage before anything is aligned; the band and
//! [`MAX_CELLS`] bound the alignment itself. [`is_edited`] is the rule; BENCHMARKS.md,
//! "Edited copies", has the measurement behind it.
//!
//! Pure: no index, no I/O.

use crate::text::normalize::{CHAR_WEIGHT, Token, WORD_WEIGHT, normalize};
use crate::verify::{self, Scores};
use std::collections::HashMap;

/// What one alignment unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// One unit per token (a word, or a Chinese character).
    Token,
    /// One unit per letter or digit of each normalized token.
    Char,
}

/// One unit of a paragraph, with the code points and the token it comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    /// Equal for equal units.
    pub key: u64,
    /// A whole token (a word at [`Level::Token`], or a character of a script written
    /// without spaces), not a letter of a word.
    pub whole: bool,
    /// Its share of a word: its token's length in words (a word 1, a Chinese character
    /// 2/3), divided among the token's units.
    pub words: f32,
    /// Index of its token.
    pub token: u32,
    /// First code point in the paragraph text.
    pub start: u32,
    /// One past the last code point.
    pub end: u32,
}

impl Unit {
    /// Token `i` of a paragraph as a unit, from only what [`decide`] reads of it: its key
    /// and its share of a word. Its offsets are token positions, not code points, so the
    /// runs of an alignment of such units are no spans.
    pub fn bare(i: usize, key: u64, words: f32) -> Unit {
        Unit {
            key,
            whole: true,
            words,
            token: i as u32,
            start: i as u32,
            end: i as u32 + 1,
        }
    }
}

/// The units of a paragraph at [`Level::Token`]: one per token.
pub fn token_units(tokens: &[Token]) -> Vec<Unit> {
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| Unit {
            key: t.hash,
            whole: true,
            words: t.weight as f32 / WORD_WEIGHT as f32,
            token: i as u32,
            start: t.start,
            end: t.end,
        })
        .collect()
}

/// The units of a paragraph, from its text and its tokens (offsets relative to `text`).
pub fn units(text: &str, tokens: &[Token], level: Level) -> Vec<Unit> {
    if level == Level::Token {
        return token_units(tokens);
    }
    // Byte offset of every code point, so tokens can be sliced by code points.
    let bytes: Vec<usize> = text
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()))
        .collect();
    let mut out = Vec::with_capacity(tokens.len() * 6);
    for (i, t) in tokens.iter().enumerate() {
        let (Some(&b0), Some(&b1)) = (bytes.get(t.start as usize), bytes.get(t.end as usize))
        else {
            continue;
        };
        let n = normalize(&text[b0..b1]);
        let whole = t.weight == CHAR_WEIGHT;
        let first = out.len();
        for (c, &(s, e)) in n.text.chars().zip(&n.origin) {
            if c.is_alphanumeric() {
                out.push(Unit {
                    key: c as u64,
                    whole,
                    words: 0.0,
                    token: i as u32,
                    start: t.start + s,
                    end: t.start + e,
                });
            }
        }
        let share = t.weight as f32 / WORD_WEIGHT as f32 / (out.len() - first).max(1) as f32;
        for u in &mut out[first..] {
            u.words = share;
        }
    }
    out
}

/// Alignment scores: `matched` for equal units, penalties for the rest. A gap of length
/// `L` costs `gap_open + L · gap_extend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scoring {
    /// Score of two equal letters of words.
    pub letter: i32,
    /// Score of two equal whole tokens (words, or characters of scripts written without
    /// spaces: a Chinese character says as much as a word).
    pub token: i32,
    /// Penalty for two different units aligned to each other.
    pub mismatch: i32,
    /// Penalty for opening a gap.
    pub gap_open: i32,
    /// Penalty for each unit of a gap.
    pub gap_extend: i32,
    /// What starting another local alignment of the chain costs: each piece after the
    /// first must be worth more than this.
    pub min_score: i32,
}

impl Default for Scoring {
    /// The classic +1 / −1 / gap −(2 + L) for letters; a whole token (a Chinese character)
    /// matches for 3, as much as the three to five letters of an English word. Measured
    /// on synthetic-dev (BENCHMARKS.md): 2 lost 5 % of Chinese heavy edits.
    fn default() -> Scoring {
        Scoring {
            letter: 1,
            token: 3,
            mismatch: 1,
            gap_open: 2,
            gap_extend: 1,
            min_score: 12,
        }
    }
}

/// A chain of local alignments: the matched unit pairs, in order on both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alignment {
    /// Score of the chain: the local alignments' scores, less [`Scoring::min_score`] for
    /// each one after the first.
    pub score: i64,
    /// Number of local alignments in the chain.
    pub pieces: usize,
    /// `(query unit, source unit)` of every matched pair, increasing on both sides.
    pub pairs: Vec<(u32, u32)>,
}

/// Aligns `q` with `s` (see the module docs). The band admits alignments whose diagonal
/// stays within `band` units of the diagonals between the two corners' (so a copy with
/// 50 % of its text inserted still fits). Cost: `O(len(q) · (|len(q) − len(s)| + 2 band))`.
pub fn align(q: &[Unit], s: &[Unit], sc: &Scoring, band: usize) -> Alignment {
    align_on(q, s, sc, corner_diagonals(q.len(), s.len(), band))
}

/// The diagonals (`j − i`: source unit less query unit) between the two corners' of a
/// `q` by `s` matrix, widened by `band` on each side.
pub fn corner_diagonals(q: usize, s: usize, band: usize) -> (i64, i64) {
    let d = s as i64 - q as i64;
    (d.min(0) - band as i64, d.max(0) + band as i64)
}

/// The diagonals [`edit_score`] aligns on: the corners' and those where the two share
/// pairs of adjacent units (the middle 80 % of those, so that a stray common pair does
/// not widen it), widened by [`default_band`] on each side. A text rewritten from the
/// middle of a longer one lies far from the corners' diagonals (a student's answer
/// reworking one section of an article), and a band around them alone misses it.
pub fn diagonals(q: &[Unit], s: &[Unit]) -> (i64, i64) {
    let band = default_band(q.len(), s.len());
    let (mut lo, mut hi) = corner_diagonals(q.len(), s.len(), 0);
    // The first position of each distinct pair of adjacent keys, sorted by pair.
    let pairs = |u: &[Unit]| {
        let mut v: Vec<(u64, i64)> = (u.windows(2).enumerate())
            .map(|(i, w)| (w[0].key ^ w[1].key.rotate_left(23), i as i64))
            .collect();
        v.sort_unstable();
        v.dedup_by_key(|p| p.0);
        v
    };
    let mut offsets = Vec::new();
    for_each_common(
        &pairs(q),
        &pairs(s),
        |p| p.0,
        |x, y| offsets.push(y.1 - x.1),
    );
    if !offsets.is_empty() {
        offsets.sort_unstable();
        let trim = offsets.len() / 10;
        lo = lo.min(offsets[trim]);
        hi = hi.max(offsets[offsets.len() - 1 - trim]);
    }
    (lo - band as i64, hi + band as i64)
}

/// [`align`] on the diagonals `lo..=hi` (`j − i`). Cost: `O(len(q) · (hi − lo))`.
///
/// One pass of Gotoh's local alignment, where a cell may also start a new piece after
/// the best chain that ends above and to the left of it, for [`Scoring::min_score`]: the
/// best chain of pieces in text order, each worth more than that, without realigning.
///
/// A pair whose band holds more than [`MAX_CELLS`] cells is not aligned (empty result):
/// paragraphs of some thousands of units each fit, a whole book given as one paragraph
/// does not.
pub fn align_on(q: &[Unit], s: &[Unit], sc: &Scoring, diagonals: (i64, i64)) -> Alignment {
    if q.is_empty() || s.is_empty() {
        return Alignment::default();
    }
    let (n, m) = (q.len() as i64, s.len() as i64);
    // No cell lies beyond the matrix's own diagonals.
    let (lo, hi) = (diagonals.0.max(-n), diagonals.1.min(m));
    if lo > hi {
        return Alignment::default();
    }
    let width = (hi - lo + 1) as usize;
    if q.len().saturating_mul(width) > MAX_CELLS {
        return Alignment::default();
    }
    let cell = |i: usize, j: usize| (i - 1) * width + (j as i64 - i as i64 - lo) as usize;
    // Row i-1 of H, F and of B (the best score in the band above and left of a cell,
    // with its cell), indexed by column; a row overwrites them in place.
    let mut h = vec![0i32; s.len() + 2];
    let mut f = vec![NEG; s.len() + 2];
    let mut b = vec![(0i32, u32::MAX); s.len() + 2];
    let mut trace = vec![0u8; q.len() * width];
    let keys: Vec<u64> = s.iter().map(|u| u.key).collect();
    // (cell, where the chain before it ends) for cells that start a new piece, in
    // increasing cell order.
    let mut jumps: Vec<(u32, u32)> = Vec::new();
    let (open, ext) = (sc.gap_open + sc.gap_extend, sc.gap_extend);
    let mut best = (0i32, 0usize, 0usize);
    for i in 1..=q.len() {
        let jlo = (i as i64 + lo).max(1);
        let jhi = (i as i64 + hi).min(m);
        if jlo > jhi {
            break;
        }
        let (jlo, jhi) = (jlo as usize, jhi as usize);
        let matched = if q[i - 1].whole { sc.token } else { sc.letter };
        let key = q[i - 1].key;
        // Row i-1 at column jlo-1 (0 left of the matrix).
        let (mut h_diag, mut b_diag) = if jlo >= 2 {
            (h[jlo - 1], b[jlo - 1])
        } else {
            (0, (0, u32::MAX))
        };
        let mut b_left = b_diag;
        let (mut h_left, mut e) = (0i32, NEG);
        let row = cell(i, jlo);
        let cells = h[jlo..=jhi]
            .iter_mut()
            .zip(&mut f[jlo..=jhi])
            .zip(&mut b[jlo..=jhi])
            .zip(&keys[jlo - 1..jhi])
            .zip(&mut trace[row..=row + (jhi - jlo)]);
        for (k, ((((h, f), b), &s_key), trace)) in cells.enumerate() {
            let (h_up, b_up) = (*h, *b);
            let mut code = 0u8;
            e = if e - ext > h_left - open {
                code |= E_EXTENDS;
                e - ext
            } else {
                h_left - open
            };
            let fv = if *f - ext > h_up - open {
                code |= F_EXTENDS;
                *f - ext
            } else {
                h_up - open
            };
            *f = fv;
            // The diagonal step continues a piece; a match may also start the next piece
            // or the first one.
            let (d, kind) = if s_key != key {
                (h_diag - sc.mismatch, 0)
            } else {
                let jump = b_diag.0 - sc.min_score;
                if h_diag > 0 && h_diag >= jump {
                    (h_diag + matched, 0)
                } else if jump > 0 {
                    (jump + matched, JUMP)
                } else {
                    (matched, FRESH)
                }
            };
            let mut hv = 0;
            if d > hv {
                hv = d;
                code |= FROM_DIAG | kind;
            }
            if e > hv {
                hv = e;
                code = (code & !(3 | JUMP | FRESH)) | FROM_E;
            }
            if fv > hv {
                hv = fv;
                code = (code & !(3 | JUMP | FRESH)) | FROM_F;
            }
            *trace = code;
            let at = (row + k) as u32;
            if code & (3 | JUMP) == FROM_DIAG | JUMP {
                jumps.push((at, b_diag.1));
            }
            let mut bv = if b_up.0 >= b_left.0 { b_up } else { b_left };
            if hv > bv.0 {
                bv = (hv, at);
            }
            h_diag = h_up;
            b_diag = b_up;
            h_left = hv;
            b_left = bv;
            *h = hv;
            *b = bv;
            if hv > best.0 {
                best = (hv, i, jlo + k);
            }
        }
        // Row i+1 reads column jhi+1 of this row: outside the band, nothing aligned
        // there, and the best chain so far is the one to its left.
        if jhi < s.len() {
            h[jhi + 1] = 0;
            f[jhi + 1] = NEG;
            b[jhi + 1] = b_left;
        }
    }
    if best.0 == 0 {
        return Alignment::default();
    }
    let (mut i, mut j) = (best.1, best.2);
    let mut pairs = Vec::new();
    let mut pieces = 1;
    let mut state = 0u8; // 0: H, 1: E, 2: F
    loop {
        let at = cell(i, j);
        let code = trace[at];
        match state {
            0 => match code & 3 {
                FROM_DIAG => {
                    if q[i - 1].key == s[j - 1].key {
                        pairs.push((i as u32 - 1, j as u32 - 1));
                    }
                    if code & FRESH != 0 || i == 1 || j == 1 {
                        break;
                    }
                    if code & JUMP != 0 {
                        let Ok(k) = jumps.binary_search_by_key(&(at as u32), |&(c, _)| c) else {
                            break;
                        };
                        let to = jumps[k].1;
                        // Back from a band cell index to its (i, j).
                        let (ti, d) = (to as usize / width, to as usize % width);
                        i = ti + 1;
                        j = (i as i64 + lo + d as i64) as usize;
                        pieces += 1;
                    } else {
                        i -= 1;
                        j -= 1;
                    }
                }
                FROM_E => state = 1,
                FROM_F => state = 2,
                _ => break,
            },
            1 => {
                if code & E_EXTENDS == 0 {
                    state = 0;
                }
                j -= 1;
            }
            _ => {
                if code & F_EXTENDS == 0 {
                    state = 0;
                }
                i -= 1;
            }
        }
        if i == 0 || j == 0 {
            break;
        }
    }
    pairs.reverse();
    Alignment {
        score: best.0 as i64,
        pieces,
        pairs,
    }
}

/// Most cells [`align`] fills (one byte of traceback each).
pub const MAX_CELLS: usize = 1 << 22;

/// A band width for sequences of these lengths: a tenth of the longer one, at least 8.
pub fn default_band(q: usize, s: usize) -> usize {
    (q.max(s) / 10).max(8)
}

const NEG: i32 = i32::MIN / 4;
const FROM_DIAG: u8 = 1;
const FROM_E: u8 = 2;
const FROM_F: u8 = 3;
const E_EXTENDS: u8 = 4;
const F_EXTENDS: u8 = 8;
/// A diagonal step that starts the next piece of a chain.
const JUMP: u8 = 16;
/// A diagonal step that starts the first piece.
const FRESH: u8 = 32;

/// A run of consecutive matched units, as token ranges and code-point ranges of both
/// paragraphs (relative to each paragraph's text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlignedRun {
    /// First query token.
    pub q_first: u32,
    /// One past the last query token.
    pub q_last: u32,
    /// First source token.
    pub s_first: u32,
    /// One past the last source token.
    pub s_last: u32,
    /// First query code point.
    pub start: u32,
    /// One past the last query code point.
    pub end: u32,
    /// First source code point.
    pub source_start: u32,
    /// One past the last source code point.
    pub source_end: u32,
}

/// Runs of the alignment: maximal stretches of pairs that are consecutive on both sides.
pub fn runs(alignment: &Alignment, q: &[Unit], s: &[Unit]) -> Vec<AlignedRun> {
    let mut out: Vec<AlignedRun> = Vec::new();
    let mut prev: Option<(u32, u32)> = None;
    for &(i, j) in &alignment.pairs {
        let (a, b) = (q[i as usize], s[j as usize]);
        match (prev, out.last_mut()) {
            (Some((pi, pj)), Some(run)) if i == pi + 1 && j == pj + 1 => {
                run.q_last = a.token + 1;
                run.s_last = b.token + 1;
                run.end = a.end;
                run.source_end = b.end;
            }
            _ => out.push(AlignedRun {
                q_first: a.token,
                q_last: a.token + 1,
                s_first: b.token,
                s_last: b.token + 1,
                start: a.start,
                end: a.end,
                source_start: b.start,
                source_end: b.end,
            }),
        }
        prev = Some((i, j));
    }
    out
}
/// How a grey-zone pair aligns: what the decision and the report need.
#[derive(Debug, Clone, PartialEq)]
pub struct EditScore {
    /// Share of the query's units that the alignment matches.
    pub coverage: f64,
    /// Share of the source's units that the alignment matches.
    pub coverage_source: f64,
    /// Length of the matched text in words (a Chinese character counts 2/3).
    pub matched_words: f64,
    /// The matched runs, in query order.
    pub runs: Vec<AlignedRun>,
    /// The alignment itself.
    pub alignment: Alignment,
}

/// Aligns two paragraphs' units (from [`units`]) with the default scoring and band.
pub fn edit_score(q: &[Unit], s: &[Unit]) -> EditScore {
    let alignment = align_on(q, s, &Scoring::default(), diagonals(q, s));
    let share = |n: usize| {
        if n == 0 {
            0.0
        } else {
            alignment.pairs.len() as f64 / n as f64
        }
    };
    EditScore {
        coverage: share(q.len()),
        coverage_source: share(s.len()),
        matched_words: alignment
            .pairs
            .iter()
            .map(|&(i, _)| q[i as usize].words as f64)
            .sum(),
        runs: runs(&alignment, q, s),
        alignment,
    }
}

/// Least coverage of both sides for an edited copy; see BENCHMARKS.md, "Edited copies".
pub const EDITED_COVERAGE: f64 = 0.35;

/// The decision for a grey-zone pair. `min_shared` is the engine's
/// (`Settings::min_shared`): the shingles a `partial` match needs, here counted as words
/// of matched text. The pair is
/// - an edited copy when the alignment matches at least [`EDITED_COVERAGE`] of each side
///   and at least `2 · min_shared` words (parallel headings such as "二、提升组织之力，
///   构筑多元化基层共治体系" and "三、提升服务之能，构筑共享型基层善治体系" match half of
///   each other and mean nothing);
/// - or a long text reworked from pieces of another: half that coverage of either side,
///   and as many words as `verify` wants shingles for a stitched text
///   ([`verify::LONG_REUSE`] × `min_shared`).
pub fn is_edited(score: &EditScore, min_shared: usize) -> bool {
    let (low, high) = (
        score.coverage.min(score.coverage_source),
        score.coverage.max(score.coverage_source),
    );
    let words = |k: usize| (k * min_shared) as f64;
    (low >= EDITED_COVERAGE && score.matched_words >= words(2))
        || (high >= EDITED_COVERAGE / 2.0 && score.matched_words >= words(verify::LONG_REUSE))
}

/// The grey zone in set figures: a candidate the set rules reject is aligned only if its
/// exact scores would pass these thresholds (`verify::candidate_scores` with them, after
/// the sketch test `Sketch::may_reach` with [`verify::shared_needed`] of them). Jaccard
/// [`GREY_JACCARD`], containment [`GREY_CONTAINMENT`], and at least half the engine's
/// `min_shared` shingles in common; see BENCHMARKS.md, "Edited copies".
pub fn grey_thresholds(min_shared: usize) -> verify::Thresholds {
    verify::Thresholds {
        jaccard: GREY_JACCARD,
        containment: GREY_CONTAINMENT,
        min_shared: min_shared.div_ceil(2).max(2),
    }
}

/// Least word-bigram Jaccard of a pair worth aligning.
pub const GREY_JACCARD: f64 = 0.05;

/// The chance that the sketch test of the grey zone (`Sketch::may_reach_at`) rejects a
/// pair exactly at its bound, forty times the set rules' (`REJECT_ALPHA`, 0.005). At the
/// grey zone's Jaccard (0.05) a 64-byte sketch with no agreeing byte at all still has
/// probability 0.029, so at the set rules' level it rejects nothing, and the exact merge
/// ran on every candidate they reject (some 99 % of those merges find no grey pair). At
/// this level a pair at the bound is rejected when at most one byte agrees (probability
/// 0.135), but the heavily edited copies the zone is for keep Jaccard 0.10–0.19 with their
/// sources: one at 0.1 is lost one time in 130, one at 0.15 one in 3,400. BENCHMARKS.md,
/// "Edited copies", has what it saves and what it lost.
pub const GREY_REJECT_ALPHA: f64 = 0.2;

/// Least containment (either way) of a pair worth aligning: a short text mostly
/// rewritten from a part of a long one.
pub const GREY_CONTAINMENT: f64 = 0.2;

/// Whether exact set scores put a rejected pair in the grey zone ([`grey_thresholds`]).
pub fn is_grey(scores: &Scores, min_shared: usize) -> bool {
    let t = grey_thresholds(min_shared);
    scores.shared >= t.min_shared
        && (scores.jaccard >= t.jaccard
            || scores.containment.max(scores.containment_source) >= t.containment)
}

/// Whether a paragraph of `units` units and `words` words can be an edited copy of a
/// source whose set holds `source_set` distinct shingles, from that size alone: the test
/// before any grey-zone work on a candidate. [`is_edited`] wants `2 · min_shared` words
/// matched, and unless the paragraph is long enough for a reworked text
/// ([`verify::LONG_REUSE`] × `min_shared` words), the two lengths within
/// [`EDITED_COVERAGE`] of each other; a source has at least as many units as shingles.
pub fn may_align(units: usize, words: f64, source_set: usize, min_shared: usize) -> bool {
    // Word counts are sums of fractions (a Chinese character is 2/3): a little slack.
    let reaches = |k: usize| words + 1e-3 >= (k * min_shared) as f64;
    reaches(verify::LONG_REUSE)
        || (reaches(2) && units as f64 >= EDITED_COVERAGE * source_set as f64)
}

/// The text stage for a grey-zone pair, cheapest test first: lengths, the unigram overlap
/// and the longest common subsequence bound the coverage ([`may_be_edited`]), and only
/// then are the two aligned. `Some` when [`is_edited`] accepts the pair.
pub fn decide(q: &[Unit], s: &[Unit], min_shared: usize) -> Option<EditScore> {
    if !may_be_edited(q, s, min_shared) {
        return None;
    }
    let score = edit_score(q, s);
    is_edited(&score, min_shared).then_some(score)
}

/// Whether [`is_edited`] can accept the pair: from lengths, then the unigram overlap
/// ([`overlap_len`]), then the longest common subsequence ([`lcs_len`]), each computed
/// only when the one before leaves room, and each bounding both the coverage and the
/// matched words. False means reject without aligning.
pub fn may_be_edited(q: &[Unit], s: &[Unit], min_shared: usize) -> bool {
    let (n, m) = (q.len() as f64, s.len() as f64);
    // Matched words are counted on the query side: `k` matched units are at most `k`
    // times its widest unit.
    let words: f64 = q.iter().map(|u| u.words as f64).sum();
    let widest = q.iter().map(|u| u.words as f64).fold(0.0, f64::max);
    let (copy_words, long_words) = (
        (2 * min_shared) as f64,
        (verify::LONG_REUSE * min_shared) as f64,
    );
    let copy = n.min(m) / n.max(m) >= EDITED_COVERAGE && words >= copy_words;
    let long = words >= long_words;
    let passes = |matched: usize| {
        let (bq, bs) = (share(matched, q.len()), share(matched, s.len()));
        let most = matched as f64 * widest;
        (copy && bq.min(bs) >= EDITED_COVERAGE && most >= copy_words)
            || (long && bq.max(bs) >= EDITED_COVERAGE / 2.0 && most >= long_words)
    };
    (copy || long) && passes(overlap_len(q, s)) && passes(lcs_len(q, s))
}

fn share(matched: usize, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        matched as f64 / n as f64
    }
}

/// An upper bound of the coverage of each side that needs no alignment: the matched pairs
/// of any alignment are a common subsequence, so no more units can match than the
/// longest one (bit-parallel, `O(len(q) · len(s) / 64)`).
pub fn coverage_bound(q: &[Unit], s: &[Unit]) -> (f64, f64) {
    let lcs = lcs_len(q, s);
    (share(lcs, q.len()), share(lcs, s.len()))
}

/// Units the two sequences have in common as multisets, order ignored: a bound of the
/// longest common subsequence in `O((n + m) log(n + m))`.
pub fn overlap_len(q: &[Unit], s: &[Unit]) -> usize {
    let sorted = |u: &[Unit]| {
        let mut k: Vec<u64> = u.iter().map(|u| u.key).collect();
        k.sort_unstable();
        k
    };
    let mut shared = 0;
    for_each_common(&sorted(q), &sorted(s), |&k| k, |_, _| shared += 1);
    shared
}

/// Calls `f` with each pair of elements of `a` and `b` (both sorted by `key`) whose keys
/// are equal, in order, each element in at most one pair.
fn for_each_common<T>(a: &[T], b: &[T], key: impl Fn(&T) -> u64, mut f: impl FnMut(&T, &T)) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match key(&a[i]).cmp(&key(&b[j])) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                f(&a[i], &b[j]);
                i += 1;
                j += 1;
            }
        }
    }
}

/// Length of the longest common subsequence of the unit keys (Hyyrö's bit-vector form
/// of Allison–Dix).
pub fn lcs_len(q: &[Unit], s: &[Unit]) -> usize {
    let words = q.len().div_ceil(64);
    if words == 0 || s.is_empty() {
        return 0;
    }
    // Positions of each query key, as bit vectors, one after the other in `masks`.
    let mut slot: HashMap<u64, usize> = HashMap::with_capacity(q.len());
    let mut masks: Vec<u64> = Vec::new();
    for (i, u) in q.iter().enumerate() {
        let next = slot.len();
        let k = *slot.entry(u.key).or_insert(next);
        if k == next {
            masks.resize(masks.len() + words, 0);
        }
        masks[k * words + i / 64] |= 1 << (i % 64);
    }
    let mut v = vec![u64::MAX; words];
    for u in s {
        let Some(&k) = slot.get(&u.key) else {
            continue;
        };
        let m = &masks[k * words..(k + 1) * words];
        // V = (V + (V & M)) | (V & !M), with the carry running across words.
        let mut carry = 0u64;
        for (vw, &mw) in v.iter_mut().zip(m) {
            let x = *vw & mw;
            let (sum, c1) = vw.overflowing_add(x);
            let (sum, c2) = sum.overflowing_add(carry);
            carry = (c1 || c2) as u64;
            *vw = sum | (*vw & !mw);
        }
    }
    // Bits past the query's length are not positions (a carry may have reached them).
    if !q.len().is_multiple_of(64) {
        v[words - 1] |= u64::MAX << (q.len() % 64);
    }
    v.iter().map(|w| w.count_zeros() as usize).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize::tokenize;
    use proptest::prelude::*;

    fn char_units(text: &str) -> Vec<Unit> {
        units(text, &tokenize(text), Level::Char)
    }

    fn slice(text: &str, start: u32, end: u32) -> String {
        text.chars()
            .skip(start as usize)
            .take((end - start) as usize)
            .collect()
    }

    /// The letters and digits a slice holds, normalized: what two aligned runs share.
    fn content(text: &str) -> String {
        normalize(text)
            .text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect()
    }

    const EN: &str = "The committee reviewed the annual budget in detail and found that \
                      spending on road maintenance had doubled since the previous year.";
    const ZH: &str = "叙利亚过渡政府内政部13日称，叙安全部队和美军部队13日在霍姆斯省巴尔米拉市附近联合巡逻时遭到袭击。";

    #[test]
    fn identical_paragraphs_align_completely_in_one_run() {
        for text in [EN, ZH] {
            let u = char_units(text);
            let e = edit_score(&u, &u);
            assert_eq!((e.coverage, e.coverage_source), (1.0, 1.0));
            assert_eq!(e.runs.len(), 1, "{:?}", e.runs);
            let r = e.runs[0];
            assert_eq!(
                slice(text, r.start, r.end),
                text.trim_end_matches(['.', '。'])
            );
            assert_eq!((r.q_first, r.q_last), (0, tokenize(text).len() as u32));
            assert!(is_edited(&e, 5));
            assert!(may_be_edited(&u, &u, 5));
        }
    }

    #[test]
    fn a_known_edit_script_gives_the_expected_coverage() {
        let letters = |t: &str| content(t).chars().count() as f64;
        // One substituted letter (maintenance → maintenanse): all letters but one match.
        let typo = EN.replace("maintenance", "maintenanse");
        let e = edit_score(&char_units(&typo), &char_units(EN));
        let n = letters(EN);
        assert_eq!(e.coverage, (n - 1.0) / n);
        assert_eq!(e.coverage_source, (n - 1.0) / n);
        // An inserted word: every source letter matches, the query has 8 more.
        let inserted = EN.replace("annual budget", "annual overtime budget");
        let e = edit_score(&char_units(&inserted), &char_units(EN));
        assert_eq!(e.coverage_source, 1.0);
        assert_eq!(e.coverage, n / (n + 8.0));
        // Two deleted Chinese characters (政府): the query is all in the source.
        let deleted = ZH.replacen("政府", "", 1);
        let e = edit_score(&char_units(&deleted), &char_units(ZH));
        let n = letters(ZH);
        assert_eq!(e.coverage, 1.0);
        assert_eq!(e.coverage_source, (n - 2.0) / n);
    }

    #[test]
    fn a_rewritten_middle_leaves_both_ends_aligned() {
        let source = format!("{EN} {EN}");
        let rewritten = format!(
            "{} Meanwhile rainfall in the northern provinces was well below the seasonal \
             average for the third year running. {}",
            &EN[..40],
            &EN[40..]
        );
        let q = char_units(&rewritten);
        let s = char_units(&source);
        let e = edit_score(&q, &s);
        assert!(e.alignment.pieces >= 2, "{:?}", e.alignment.pieces);
        assert!(e.runs.len() >= 2);
        assert!(e.coverage > 0.5 && e.coverage_source > 0.45, "{e:?}");
    }

    #[test]
    fn runs_slice_texts_with_the_same_content_on_both_sides() {
        let edited = "The Committee reviewed the yearly budget in detail and found that \
                      spending on roads maintenence had doubled since previous year!";
        let q = char_units(edited);
        let s = char_units(EN);
        let e = edit_score(&q, &s);
        assert!(e.runs.len() > 2);
        for r in &e.runs {
            let (a, b) = (
                slice(edited, r.start, r.end),
                slice(EN, r.source_start, r.source_end),
            );
            assert_eq!(content(&a), content(&b), "{a:?} vs {b:?}");
        }
        // Chinese with full-width digits in the query.
        let zh = ZH.replace("13日称", "１３日宣称");
        let e = edit_score(&char_units(&zh), &char_units(ZH));
        for r in &e.runs {
            let (a, b) = (
                slice(&zh, r.start, r.end),
                slice(ZH, r.source_start, r.source_end),
            );
            assert_eq!(content(&a), content(&b), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn unrelated_text_on_the_same_topic_is_not_an_edited_copy() {
        let other = "The committee will meet again next month to discuss the budget for \
                     public libraries, which was cut by a third last year.";
        let e = edit_score(&char_units(other), &char_units(EN));
        assert!(!is_edited(&e, 5), "{e:?}");
        let other = "叙利亚外交部14日发表声明，谴责以色列对大马士革郊区的空袭，并呼吁联合国安理会采取行动。";
        let e = edit_score(&char_units(other), &char_units(ZH));
        assert!(!is_edited(&e, 5), "{e:?}");
        // Parallel headings share half their characters, but too few to mean anything.
        let (a, b) = (
            "二、提升组织之力，构筑多元化基层共治体系",
            "三、提升服务之能，构筑共享型基层善治体系",
        );
        let e = edit_score(&char_units(a), &char_units(b));
        assert!(
            e.coverage.min(e.coverage_source) >= EDITED_COVERAGE,
            "{e:?}"
        );
        assert!(!is_edited(&e, 5), "{e:?}");
    }

    #[test]
    fn token_level_aligns_whole_words() {
        let t = tokenize(EN);
        let u = units(EN, &t, Level::Token);
        assert_eq!(u.len(), t.len());
        let edited = EN.replace("annual", "yearly");
        let v = units(&edited, &tokenize(&edited), Level::Token);
        let a = align(&v, &u, &Scoring::default(), default_band(v.len(), u.len()));
        assert_eq!(a.pairs.len(), u.len() - 1);
        let e = edit_score(&v, &u);
        assert_eq!(e.coverage_source, (u.len() - 1) as f64 / u.len() as f64);
    }

    #[test]
    fn too_few_words_in_common_are_rejected_before_aligning() {
        // Two 45-word paragraphs with 10 words in common, in order: a fifth of each side,
        // enough coverage for a long reworked text, but far fewer than its 40 words.
        let words = |tag: &str| -> Vec<String> {
            (0..45)
                .map(|i| {
                    if i % 4 == 0 && i < 40 {
                        format!("w{i}")
                    } else {
                        format!("{tag}{i}")
                    }
                })
                .collect()
        };
        let (a, b) = (words("a").join(" "), words("b").join(" "));
        let (q, s) = (token_units(&tokenize(&a)), token_units(&tokenize(&b)));
        assert_eq!((q.len(), lcs_len(&q, &s)), (45, 10));
        let (bq, _) = coverage_bound(&q, &s);
        assert!(bq >= EDITED_COVERAGE / 2.0);
        assert!(!may_be_edited(&q, &s, 5));
        assert!(!is_edited(&edit_score(&q, &s), 5));
        // A paragraph against itself passes it.
        assert!(may_be_edited(&q, &q, 5));
    }

    #[test]
    fn sizes_alone_rule_out_short_paragraphs_and_much_longer_sources() {
        // min_shared 5: 10 words for an edited copy, 40 for a reworked long text.
        assert!(!may_align(9, 9.0, 9, 5));
        assert!(!may_align(12, 12.0, 40, 5));
        assert!(may_align(12, 12.0, 34, 5));
        assert!(may_align(40, 40.0, 1000, 5));
        // 15 Chinese characters are 10 words.
        assert!(may_align(15, 15.0 * 2.0 / 3.0, 20, 5));
    }

    #[test]
    fn empty_and_one_unit_inputs_are_fine() {
        let one = char_units("a");
        let none = char_units("");
        let zh = char_units("河");
        for (q, s) in [
            (&one, &none),
            (&none, &one),
            (&none, &none),
            (&one, &one),
            (&zh, &one),
        ] {
            let e = edit_score(q, s);
            assert!(e.coverage <= 1.0 && e.coverage_source <= 1.0);
            let (a, b) = coverage_bound(q, s);
            assert!(a <= 1.0 && b <= 1.0);
            assert!(!may_be_edited(q, s, 5) && !is_edited(&e, 5));
        }
        // One matching letter aligns, but is far too little text to judge.
        let e = edit_score(&one, &one);
        assert_eq!((e.coverage, e.runs.len()), (1.0, 1));
        assert!(!is_edited(&e, 5) && !may_be_edited(&one, &one, 5));
        assert_eq!(coverage_bound(&none, &none), (0.0, 0.0));
    }

    #[test]
    fn oversized_pairs_are_not_aligned() {
        let big = "lorem ipsum dolor ".repeat(1500);
        let u = char_units(&big);
        assert!(u.len() * default_band(u.len(), u.len()) > MAX_CELLS);
        assert_eq!(edit_score(&u, &u).alignment, Alignment::default());
        // Just under the limit, it is.
        let fits = "lorem ipsum dolor ".repeat(200);
        let v = char_units(&fits);
        assert_eq!(edit_score(&v, &v).coverage, 1.0);
    }

    #[test]
    fn overlap_bounds_the_lcs() {
        let (a, b) = (char_units("abcbdab"), char_units("bdcaba"));
        assert_eq!(overlap_len(&a, &b), 6);
        assert_eq!(lcs_len(&a, &b), 4);
    }

    /// The textbook dynamic programme.
    fn naive_lcs(a: &[Unit], b: &[Unit]) -> usize {
        let mut row = vec![0usize; b.len() + 1];
        for x in a {
            let mut diag = 0;
            for (j, y) in b.iter().enumerate() {
                let up = row[j + 1];
                row[j + 1] = if x.key == y.key {
                    diag + 1
                } else {
                    up.max(row[j])
                };
                diag = up;
            }
        }
        row[b.len()]
    }

    #[test]
    fn lcs_of_known_sequences() {
        assert_eq!(lcs_len(&char_units("abcbdab"), &char_units("bdcaba")), 4);
        let long = EN.repeat(3);
        let u = char_units(&long);
        assert!(u.len() > 128);
        assert_eq!(lcs_len(&u, &u), u.len());
        let v = char_units(&long.replace("committee", "board"));
        assert_eq!(lcs_len(&u, &v), naive_lcs(&u, &v));
        assert_eq!(lcs_len(&v, &u), naive_lcs(&u, &v));
    }

    proptest! {
        #[test]
        fn bit_parallel_lcs_is_the_lcs(a in "[abc河 ]{0,150}", b in "[abc河 ]{0,150}") {
            let (q, s) = (char_units(&a), char_units(&b));
            prop_assert_eq!(lcs_len(&q, &s), naive_lcs(&q, &s));
        }


        #[test]
        fn never_panics_and_everything_is_in_bounds(
            a in "[a-e 河流黄 ,.'Ａ\u{301}\n]{0,60}",
            b in "[a-e 河流黄 ,.'Ａ\u{301}\n]{0,60}",
            band in 0usize..12,
        ) {
            let (q, s) = (char_units(&a), char_units(&b));
            let (na, nb) = (a.chars().count() as u32, b.chars().count() as u32);
            let sc = Scoring { min_score: 2, ..Scoring::default() };
            let al = align(&q, &s, &sc, band);
            prop_assert!(al.pairs.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
            for &(i, j) in &al.pairs {
                prop_assert!((i as usize) < q.len() && (j as usize) < s.len());
                prop_assert_eq!(q[i as usize].key, s[j as usize].key);
            }
            for r in runs(&al, &q, &s) {
                prop_assert!(r.start < r.end && r.end <= na);
                prop_assert!(r.source_start < r.source_end && r.source_end <= nb);
                prop_assert!(r.q_first < r.q_last && r.s_first < r.s_last);
                prop_assert_eq!(content(&slice(&a, r.start, r.end)), content(&slice(&b, r.source_start, r.source_end)));
            }
            let e = edit_score(&q, &s);
            prop_assert!((0.0..=1.0).contains(&e.coverage) && (0.0..=1.0).contains(&e.coverage_source));
            let (bq, bs) = coverage_bound(&q, &s);
            prop_assert!(bq >= e.coverage - 1e-12 && bs >= e.coverage_source - 1e-12);
            prop_assert!(!is_edited(&e, 1) || may_be_edited(&q, &s, 1));
            let words: f64 = q.iter().map(|u| u.words as f64).sum();
            prop_assert!(!is_edited(&e, 1) || may_align(q.len(), words, s.len(), 1));
            prop_assert!(overlap_len(&q, &s) >= lcs_len(&q, &s));
            for u in q.iter() {
                prop_assert!(u.start < u.end && u.end <= na);
            }
        }
    }
}
