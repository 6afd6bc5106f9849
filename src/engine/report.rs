//! What the engine answers: per-paragraph reports, matches, spans and totals.

use std::collections::HashSet;
use std::sync::Arc;

use crate::verify::{MatchKind, Scores};

pub use crate::index::{DocId, Document};

/// Whether a paragraph repeats anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParagraphStatus {
    /// Repeats nothing earlier.
    New,
    /// Repeats at least one earlier paragraph.
    Recycled,
    /// Too short to judge.
    TooShort,
}

/// The earlier paragraph a match points to.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRef {
    /// Its document (`None`: the document being checked, which is not stored).
    pub document: Option<DocId>,
    /// Its document's name (the caller's id).
    pub name: Arc<str>,
    /// Its index in that document.
    pub paragraph: usize,
    /// Its first code point in that document.
    pub start: usize,
    /// One past its last code point.
    pub end: usize,
    /// Its 1-based line.
    pub line: usize,
}

/// A run of shared text: code-point ranges in the query document and the source document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Start in the query document.
    pub start: usize,
    /// End in the query document.
    pub end: usize,
    /// Start in the source document.
    pub source_start: usize,
    /// End in the source document.
    pub source_end: usize,
}

/// One earlier paragraph that a paragraph repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The earlier paragraph.
    pub source: SourceRef,
    /// How it is repeated.
    pub kind: MatchKind,
    /// Exact scores.
    pub scores: Scores,
    /// Shared text (empty unless asked for, or when the source text is not available).
    pub spans: Vec<Span>,
    /// Later paragraphs identical to this source (after normalization) that this paragraph
    /// also repeats, left out of the list so that it leads with distinct originals.
    pub copies: usize,
    /// For an `edited` match, how much of each side the alignment covers.
    pub aligned: Option<Aligned>,
}

/// The aligned coverage of an `edited` match: the share of each paragraph's tokens inside
/// the alignment (see [`crate::edit`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aligned {
    /// Share of the query paragraph.
    pub coverage: f64,
    /// Share of the source paragraph.
    pub coverage_source: f64,
}

/// The report on one paragraph.
#[derive(Debug, Clone, PartialEq)]
pub struct ParagraphReport {
    /// 0-based position in the document.
    pub index: usize,
    /// First code point.
    pub start: usize,
    /// One past the last code point.
    pub end: usize,
    /// 1-based line.
    pub line: usize,
    /// New, recycled or too short.
    pub status: ParagraphStatus,
    /// Best matches first: exact, then near, then partial; higher Jaccard first.
    pub matches: Vec<Match>,
    /// Boilerplate (a masthead, a copyright line): it recurs, exact or near, in at least
    /// [`crate::Settings::boilerplate`] distinct documents, itself included. Not
    /// recycling: its status is `New` and it has no matches. (A flag rather than a status,
    /// so that code matching on the statuses stays as it is.)
    pub boilerplate: bool,
}

/// Totals over a document's report.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Paragraphs in the document.
    pub paragraphs: usize,
    /// Paragraphs with at least one match.
    pub recycled: usize,
    /// Paragraphs too short to judge.
    pub too_short: usize,
    /// Share of the paragraphs' code points that are in recycled paragraphs.
    pub recycled_share: f64,
    /// Distinct documents matched (the document itself counts when it repeats itself).
    pub distinct_sources: usize,
    /// Paragraphs that are boilerplate (not counted as recycled).
    pub boilerplate: usize,
}

impl Summary {
    /// The totals of a document's paragraph reports.
    pub fn of(paragraphs: &[ParagraphReport]) -> Summary {
        let total: usize = paragraphs.iter().map(|p| p.end - p.start).sum();
        let recycled = || {
            paragraphs
                .iter()
                .filter(|p| p.status == ParagraphStatus::Recycled)
        };
        let recycled_chars: usize = recycled().map(|p| p.end - p.start).sum();
        let sources: HashSet<Option<DocId>> = paragraphs
            .iter()
            .flat_map(|p| p.matches.iter().map(|m| m.source.document))
            .collect();
        Summary {
            paragraphs: paragraphs.len(),
            recycled: recycled().count(),
            too_short: paragraphs
                .iter()
                .filter(|p| p.status == ParagraphStatus::TooShort)
                .count(),
            recycled_share: if total == 0 {
                0.0
            } else {
                recycled_chars as f64 / total as f64
            },
            distinct_sources: sources.len(),
            boilerplate: paragraphs.iter().filter(|p| p.boilerplate).count(),
        }
    }
}

/// The report on one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Per paragraph, in order.
    pub paragraphs: Vec<ParagraphReport>,
    /// Totals.
    pub summary: Summary,
}

impl Report {
    /// A report of these paragraphs, with their totals.
    pub fn new(paragraphs: Vec<ParagraphReport>) -> Report {
        let summary = Summary::of(&paragraphs);
        Report {
            paragraphs,
            summary,
        }
    }
}

/// What `submit` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    /// The stored document's id.
    pub id: DocId,
    /// False when the same text was already stored under that name (nothing changed).
    pub created: bool,
    /// True when an earlier text under that name was replaced.
    pub replaced: bool,
    /// The report (against everything indexed before this document).
    pub report: Report,
}

/// Engine-wide counts and sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineStats {
    /// Stored documents.
    pub documents: usize,
    /// Indexed paragraphs (too-short ones are not indexed).
    pub paragraphs: usize,
    /// Bytes of the LSH and exact-hash tables.
    pub index_bytes: usize,
    /// Bytes of the paragraph records (shingle sets, sketches) and the catalog.
    pub record_bytes: usize,
    /// Bands × rows in use.
    pub lsh: crate::lsh::LshParams,
    /// The candidate funnel since the engine started.
    pub funnel: super::Funnel,
}
