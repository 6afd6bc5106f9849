//! The engine's second stage for heavily edited copies ([`crate::edit`]) on the
//! analyzer's types: which rejected candidates are in the grey zone (sketch first, then
//! the paragraph's bit filter, then the exact set merge), the text stage for a grey pair,
//! and the spans of an `edited` match, kept from that stage. The embedded engine, a
//! remote index and the batch all decide with these.

use super::{Aligned, Span};
use crate::edit::{self, AlignedRun, Unit};
use crate::index::Sketch;
use crate::text::ParagraphText;
use crate::verify::{self, Scores, SetFilter};
use std::cell::OnceCell;

/// What the grey-zone tests need of the paragraph, besides its set and sketch.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Its alignment units (tokens).
    pub units: usize,
    /// Its length in words.
    pub words: f64,
}

impl Size {
    /// The size of an analyzed paragraph.
    pub fn of(text: &ParagraphText) -> Size {
        Size {
            units: text.tokens.len(),
            words: text.length as f64,
        }
    }
}

/// A paragraph as the grey-zone tests read it: its sketch, size and shingle set, and the
/// set's bit filter, made at the first candidate that reaches the set test (most are
/// rejected before it).
#[derive(Debug)]
pub struct GreyQuery<'a> {
    sketch: &'a Sketch,
    size: Size,
    set: &'a [u32],
    filter: OnceCell<SetFilter>,
}

impl<'a> GreyQuery<'a> {
    /// The paragraph with this sketch, size and set.
    pub fn new(sketch: &'a Sketch, size: Size, set: &'a [u32]) -> GreyQuery<'a> {
        GreyQuery {
            sketch,
            size,
            set,
            filter: OnceCell::new(),
        }
    }

    /// An analyzed paragraph.
    pub fn of(text: &'a ParagraphText, sketch: &'a Sketch) -> GreyQuery<'a> {
        GreyQuery::new(sketch, Size::of(text), &text.set)
    }

    /// Whether a candidate that `verify` rejected (sketch `s` of a set of `s_len`) goes on
    /// to the set test ([`GreyQuery::scores`]): false for pairs too unequal for an edited
    /// copy ([`edit::may_align`]) and for pairs unlikely to share enough shingles
    /// ([`edit::GREY_REJECT_ALPHA`]).
    pub fn may_be(&self, s: &Sketch, s_len: usize, min_shared: usize) -> bool {
        let Size { units, words } = self.size;
        if !edit::may_align(units, words, s_len, min_shared) {
            return false;
        }
        let q_len = self.set.len();
        let need = verify::shared_needed(q_len, s_len, &edit::grey_thresholds(min_shared));
        self.sketch
            .may_reach_at(s, q_len, s_len, need, edit::GREY_REJECT_ALPHA)
    }

    /// The exact set scores of a candidate that `verify` rejected, if it is in the grey
    /// zone ([`edit::is_grey`]). Some 99 % of the candidates tested are not, so the bit
    /// filter rejects first those that cannot share enough, and only the rest are merged
    /// (a merge that stops early too).
    pub fn scores(&self, s: &[u32], min_shared: usize) -> Option<Scores> {
        let t = edit::grey_thresholds(min_shared);
        let filter = self.filter.get_or_init(|| SetFilter::new(self.set));
        if !filter.may_share(s, verify::shared_needed(self.set.len(), s.len(), &t)) {
            return None;
        }
        verify::candidate_scores(self.set, s, &t).filter(|s| edit::is_grey(s, min_shared))
    }

    /// Both grey-zone tests of a rejected candidate, size and sketch first.
    pub fn test(&self, s: verify::Side<'_>, min_shared: usize) -> Option<Scores> {
        if !self.may_be(s.sketch, s.set.len(), min_shared) {
            return None;
        }
        self.scores(s.set, min_shared)
    }
}

/// The alignment units of a paragraph (its tokens).
pub fn units(text: &ParagraphText) -> Vec<Unit> {
    edit::token_units(&text.tokens)
}

/// The alignment units of a paragraph's text, without the rest of its analysis.
pub fn text_units(analyzer: &crate::analysis::Analyzer, text: &str) -> Vec<Unit> {
    edit::token_units(&analyzer.tokens(text))
}

/// An edited copy as the text stage decided it: its aligned coverage, and the aligned
/// runs that become its spans, so that the report does not analyze the source paragraph
/// and align the pair a second time.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    /// The coverage reported with the match.
    pub aligned: Aligned,
    /// The aligned runs, relative to each paragraph's text.
    pub runs: Vec<AlignedRun>,
}

impl Decided {
    /// The spans of the match: the aligned runs, in code points of both documents, for a
    /// query paragraph starting at code point `start` and a source paragraph at
    /// `source_start`.
    pub fn spans(&self, start: usize, source_start: usize) -> Vec<Span> {
        self.runs
            .iter()
            .map(|r| Span {
                start: start + r.start as usize,
                end: start + r.end as usize,
                source_start: source_start + r.source_start as usize,
                source_end: source_start + r.source_end as usize,
            })
            .collect()
    }
}

/// The text stage for a grey pair: the aligned coverage and runs if it is an edited copy
/// ([`edit::decide`]), from both paragraphs' [`units`].
pub fn decide(q: &[Unit], s: &[Unit], min_shared: usize) -> Option<Decided> {
    edit::decide(q, s, min_shared).map(|e| Decided {
        aligned: Aligned {
            coverage: e.coverage,
            coverage_source: e.coverage_source,
        },
        runs: e.runs,
    })
}
