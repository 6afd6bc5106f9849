//! Editorial depth that needs the index, for `scan` and the service alike: paragraphs
//! repaired at page breaks, judged with a check of their joined text, and the passage
//! mode, run on the documents a report's matches name.
//!
//! Both are computed besides a document's report and change nothing in it, and neither
//! rewrites a text: a repaired paragraph's spans are mapped back to the pieces of the
//! original. The check is the caller's (an engine in memory, or a namespace of the
//! service), so this module knows no transport and no store.

use crate::align::{AlignOptions, Prepared, Vocabulary, align_prepared};
use crate::analysis::{AnalyzedDocument, AnalyzedParagraph, Analyzer};
use crate::engine::{Match, Report, Span};
use crate::report::{Aligned, Repaired};
use crate::text::ParagraphSpan;
use crate::text::normalize::{Fold, Token, tokenize_with};
use crate::text::repair::{Repair, Unit, find_joins, units};

/// Which page-break repair and passage mode a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EditorialOptions {
    /// Page-break repair (`auto` by default).
    pub repair: Repair,
    /// Whether to run the passage mode (off by default: it aligns whole texts).
    pub passages: bool,
}

/// The paragraphs of `doc` (named `name`) cut at a page break and joined with their
/// continuations, each with what the joined paragraph repeats. `check` reports on a
/// document against everything indexed before `doc`: it is given the paragraphs of
/// `doc` before the repaired one that share a bucket with it, then the repaired one, so
/// that the repaired paragraph is judged as the paragraph reports are (against other
/// documents and this one's earlier paragraphs). What it finds is kept when it is not one of the paragraph's own
/// pieces or a later paragraph (as a stored copy of `doc` would give).
pub fn repairs<E>(
    analyzer: &Analyzer,
    doc: &AnalyzedDocument,
    name: &str,
    mut check: impl FnMut(&AnalyzedDocument) -> Result<Report, E>,
) -> Result<Vec<Repaired>, E> {
    let spans: Vec<ParagraphSpan> = doc.paragraphs.iter().map(|p| p.span).collect();
    let joins = find_joins(&doc.text, &spans);
    let mut out = Vec::new();
    for unit in units(&spans, &joins).into_iter().filter(Unit::is_repaired) {
        let first = unit.pieces[0].index;
        let joined = unit.joined_text(&doc.text);
        // The joined paragraph's offsets are those of its own text (mapped back below).
        let span = ParagraphSpan {
            index: first,
            start: 0,
            end: joined.text.chars().count(),
            byte_start: 0,
            byte_end: joined.text.len(),
            line: unit.pieces[0].line,
        };
        let repaired = analyzer.paragraph(&joined.text, span);
        // Of the earlier paragraphs, only those that share a bucket (its exact key or a
        // band key) with the joined paragraph can be its candidates: the check is given
        // those alone, in order, and does not judge the others for nothing. A match
        // names its source by the paragraph's own index, so nothing is renumbered.
        let shares = |p: &&AnalyzedParagraph| {
            !p.too_short
                && (p.exact_key() == repaired.exact_key()
                    || p.band_keys.iter().any(|k| repaired.band_keys.contains(k)))
        };
        let mut paragraphs: Vec<_> = doc.paragraphs[..first.min(doc.paragraphs.len())]
            .iter()
            .filter(shares)
            .cloned()
            .collect();
        paragraphs.push(repaired);
        let checked = AnalyzedDocument {
            text: joined.text.as_str().into(),
            paragraphs,
        };
        let report = check(&checked)?;
        let matches = report
            .paragraphs
            .into_iter()
            .next_back()
            .map(|p| p.matches)
            .unwrap_or_default()
            .into_iter()
            .filter(|m| &*m.source.name != name || m.source.paragraph < first)
            .map(|m| Match {
                spans: m
                    .spans
                    .iter()
                    .flat_map(|s| {
                        // The shared text is the same on both sides: the source range is
                        // cut where the paragraph's is.
                        let mut at = s.source_start;
                        joined
                            .to_document(s.start, s.end)
                            .into_iter()
                            .map(move |(a, b)| {
                                let end = (at + (b - a)).min(s.source_end);
                                let span = Span {
                                    start: a,
                                    end: b,
                                    source_start: at,
                                    source_end: end,
                                };
                                at = end;
                                span
                            })
                    })
                    .collect(),
                ..m
            })
            .collect();
        out.push(Repaired {
            pieces: unit.pieces,
            matches,
        });
    }
    Ok(out)
}

/// The names of the other documents a report's matches point at, in order of first
/// appearance: the documents the passage mode aligns a text with.
pub fn matched_sources(report: &Report, name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in report.paragraphs.iter().flat_map(|p| &p.matches) {
        if &*m.source.name != name && !out.iter().any(|n| *n == *m.source.name) {
            out.push(m.source.name.to_string());
        }
    }
    out
}

/// The passage mode: reused text between `text` and each of `sources` (name, text),
/// wherever paragraphs begin and end, in order of `text`. `text` is read once, however
/// many sources there are.
pub fn alignments(
    text: &str,
    sources: &[(String, std::sync::Arc<str>)],
    vocab: &Vocabulary,
) -> Vec<Aligned> {
    let options = AlignOptions::default();
    if sources.is_empty() {
        return Vec::new();
    }
    let prepared = Prepared::new(text, vocab, &options);
    collect(
        &prepared,
        sources
            .iter()
            .map(|(name, source)| (name, Prepared::new(source, vocab, &options))),
        &options,
    )
}

/// [`alignments`] with the vocabulary a service builds for one text: the `stopwords`
/// tokens that occur most often in `text` and its sources, read with `fold`. Each text
/// is tokenized once, for the vocabulary and its alignments alike.
pub fn alignments_among(
    text: &str,
    sources: &[(String, std::sync::Arc<str>)],
    stopwords: usize,
    fold: Fold,
) -> Vec<Aligned> {
    if sources.is_empty() {
        // Nothing to align with: no text to read.
        return Vec::new();
    }
    let options = AlignOptions::default();
    let tokens: Vec<Vec<Token>> = std::iter::once(text)
        .chain(sources.iter().map(|(_, t)| &**t))
        .map(|t| tokenize_with(t, fold))
        .collect();
    let vocab =
        Vocabulary::from_token_occurrences(tokens.iter().map(Vec::as_slice), stopwords, fold);
    let mut tokens = tokens.into_iter();
    let first = tokens.next().expect("the text's tokens");
    let prepared = Prepared::from_tokens(text, first, &vocab, &options);
    collect(
        &prepared,
        sources
            .iter()
            .zip(tokens)
            .map(|((name, source), t)| (name, Prepared::from_tokens(source, t, &vocab, &options))),
        &options,
    )
}

/// `text`'s alignments with each source, in order of `text`.
fn collect<'a>(
    text: &Prepared,
    sources: impl Iterator<Item = (&'a String, Prepared)>,
    options: &AlignOptions,
) -> Vec<Aligned> {
    let mut found: Vec<Aligned> = Vec::new();
    for (name, source) in sources {
        let name: std::sync::Arc<str> = name.as_str().into();
        found.extend(
            align_prepared(text, &source, options)
                .into_iter()
                .map(|alignment| Aligned {
                    source: name.clone(),
                    alignment,
                }),
        );
    }
    found.sort_by_key(|a| (a.alignment.start, a.alignment.source_start));
    found
}
