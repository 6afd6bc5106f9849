//! The decisions of a query, as pure functions over what an index returned: verification
//! of a candidate, the order and selection of matches, the concurrent-submit rule and the
//! spans of a match. No index, no I/O: the embedded engine calls them on its maps, and a
//! remote index calls them on what came back over the network.

use std::collections::HashMap;

use super::{DocId, Span};
use crate::analysis::{AnalyzedParagraph, Analyzer};
use crate::index::ParagraphId;
use crate::index::{Sketch, rank};
use crate::text::{Chars, Shingle, Token};
use crate::verify::{self, MatchKind, Scores, Thresholds};

/// Where a verified match's source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An earlier paragraph of the document being reported on, by position.
    Earlier(usize),
    /// An indexed paragraph.
    Indexed {
        /// Its id in the index.
        id: ParagraphId,
        /// Its document.
        doc: DocId,
        /// Its position in that document.
        index: u32,
        /// Its first code point.
        start: u32,
        /// One past its last code point.
        end: u32,
        /// Its 1-based line.
        line: u32,
    },
}

/// A verified match of a paragraph with a candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The candidate.
    pub source: Source,
    /// How it is repeated.
    pub kind: MatchKind,
    /// Exact scores.
    pub scores: Scores,
    /// Place of the source among all sources (document, then paragraph; the document
    /// being reported on is `None`), to break ties in [`rank`].
    pub order: (Option<DocId>, u32),
    /// The source's content hash: identical sources are grouped.
    pub content_hash: u64,
    /// Identical later sources folded into this one.
    pub copies: usize,
    /// For an `edited` match, what the text stage found: coverage and spans.
    pub edited: Option<super::edited::Decided>,
}

/// Verifies a candidate with shingle set `set`, content hash `hash` and sketch `sketch`
/// against paragraph `p` ([`verify::verify`]).
pub fn verify(
    p: &AnalyzedParagraph,
    set: &[u32],
    hash: u64,
    sketch: &Sketch,
    t: &Thresholds,
) -> Option<(MatchKind, Scores)> {
    verify::verify(
        verify::Side {
            set: &p.text.set,
            content_hash: p.text.content_hash,
            sketch: &p.sketch,
        },
        verify::Side {
            set,
            content_hash: hash,
            sketch,
        },
        t,
    )
}

/// [`verify`] once the sketch has let the candidate through: the exact scores and kind
/// from the sets.
pub fn verify_sets(
    p: &AnalyzedParagraph,
    set: &[u32],
    hash: u64,
    t: &Thresholds,
) -> Option<(MatchKind, Scores)> {
    verify::verify_sets(&p.text.set, p.text.content_hash, set, hash, t)
}

/// Orders a paragraph's matches and keeps the first `max`: distinct sources first, best
/// first ([`rank`]), each the earliest of the sources identical to it (after
/// normalization), with the number of those later copies in `copies`; then the copies
/// themselves, best first. A paragraph that repeats an original and many copies of it
/// thus still shows its other sources (the second source of a merged paragraph).
pub fn select(mut found: Vec<Found>, max: usize) -> Vec<Found> {
    found.sort_by(|a, b| rank((a.kind, &a.scores, a.order), (b.kind, &b.scores, b.order)));
    let mut originals: Vec<Found> = Vec::with_capacity(max.min(found.len()));
    let mut copies: Vec<Found> = Vec::new();
    let mut by_content: HashMap<u64, usize> = HashMap::new();
    for f in found {
        match by_content.get(&f.content_hash) {
            // Identical content gives the same scores; an equal hash with other scores
            // is a hash collision, not a copy.
            Some(&k) if originals[k].kind == f.kind && originals[k].scores == f.scores => {
                originals[k].copies += 1;
                copies.push(f);
            }
            _ => {
                by_content.entry(f.content_hash).or_insert(originals.len());
                originals.push(f);
            }
        }
    }
    originals.extend(copies);
    originals.truncate(max);
    originals
}

/// The concurrent-submit rule, for two submissions that may each have seen the other:
/// `mine` and `theirs` are the buckets of the two paragraphs; `saw(b)` says whether this
/// submission found the other paragraph in bucket `b` before appending to it. This one
/// reports the other iff it appended second to their lowest shared bucket (on which,
/// the appends being atomic per bucket, exactly one of them did).
pub fn reports_concurrent<B: Ord + Copy>(
    mine: &[B],
    theirs: &[B],
    saw: impl Fn(B) -> bool,
) -> bool {
    mine.iter()
        .filter(|b| theirs.contains(b))
        .min()
        .is_some_and(|&b| saw(b))
}

/// The shared spans of paragraph `p` and a source paragraph (its tokens and shingles)
/// starting at code point `source_start` of its document: runs of shared shingles (an
/// `edited` match has the spans of its alignment instead,
/// [`super::edited::Decided::spans`]).
pub fn spans(
    p: &AnalyzedParagraph,
    source: (&[Token], &[Shingle]),
    source_start: usize,
) -> Vec<Span> {
    let base_q = p.span.start;
    let (tokens, shingles) = source;
    verify::shared_spans(&p.text.shingles, shingles)
        .into_iter()
        .map(|s| Span {
            start: base_q + p.text.tokens[s.q_first as usize].start as usize,
            end: base_q + p.text.tokens[s.q_last as usize - 1].end as usize,
            source_start: source_start + tokens[s.s_first as usize].start as usize,
            source_end: source_start + tokens[s.s_last as usize - 1].end as usize,
        })
        .collect()
}

/// [`spans`] with a source paragraph given as code points `start..end` of its document's
/// text (empty when the text does not reach that far).
pub fn spans_in_text(
    analyzer: &Analyzer,
    p: &AnalyzedParagraph,
    text: &Chars,
    start: usize,
    end: usize,
) -> Vec<Span> {
    let Some(slice) = text.get(start, end) else {
        return Vec::new();
    };
    let (tokens, shingles) = analyzer.shingled(slice);
    spans(p, (&tokens, &shingles), start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_rule_picks_exactly_one_side() {
        // A appended first to bucket 3 (the lowest shared), B second; on bucket 5 the
        // other way round. Each saw the other on one bucket, and only B reports A.
        let a = [3, 5, 9];
        let b = [1, 3, 5];
        let a_saw = |k| k == 5;
        let b_saw = |k| k == 3;
        assert!(!reports_concurrent(&a, &b, a_saw));
        assert!(reports_concurrent(&b, &a, b_saw));
        assert!(!reports_concurrent(&[1], &[2], |_| true));
    }

    #[test]
    fn selection_leads_with_distinct_originals() {
        let scores = verify::scores(&[1, 2, 3, 4, 5, 6], &[1, 2, 3, 4, 5, 6]);
        let other = verify::scores(&[1, 2, 3, 4, 5, 6], &[1, 2, 3, 4, 5, 7]);
        let found = |doc: u64, hash: u64, kind, scores| Found {
            source: Source::Earlier(0),
            kind,
            scores,
            order: (Some(doc), 0),
            content_hash: hash,
            copies: 0,
            edited: None,
        };
        let many: Vec<Found> = (0..20)
            .map(|d| found(d, 7, MatchKind::Exact, scores))
            .chain([found(99, 8, MatchKind::Near, other)])
            .collect();
        let kept = select(many.clone(), 2);
        assert_eq!(kept.len(), 2);
        assert_eq!((kept[0].order, kept[0].copies), ((Some(0), 0), 19));
        assert_eq!(kept[1].order, (Some(99), 0));
        // With room, the copies follow, best first.
        let all = select(many, 30);
        assert_eq!(all.len(), 21);
        assert_eq!(all[2].order, (Some(1), 0));
    }
}
