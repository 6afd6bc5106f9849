//! The report model: what `neardup scan` renders, whatever the format. A scan is the
//! scanned documents in scan order, each with its text and its engine report, and the
//! texts of sources that are not among them (documents on a server) where they are known.
//! [`Overview`] derives what a summary shows from it: the sources ranked by how much text
//! was taken from each, and which paragraphs reuse each source paragraph.
//!
//! Offsets are code points everywhere; [`Chars`] slices a text by code point and clamps
//! an offset past the end rather than trusting it (input never panics).

use std::collections::HashMap;
use std::sync::Arc;

use super::passage::{Passage, PassageOptions, passages};
use crate::engine::{Match, ParagraphReport, Report};
use crate::text::{Chars, ParagraphSpan};

/// One scanned document and its report.
#[derive(Debug, Clone)]
pub struct ScannedDocument {
    /// The name it was scanned under (a file name).
    pub name: Arc<str>,
    /// Its text.
    pub text: Arc<str>,
    /// What each of its paragraphs repeats.
    pub report: Report,
    /// Paragraphs cut at a page break and judged again joined with their continuations
    /// (empty unless the scan repairs page breaks).
    pub repairs: Vec<Repaired>,
    /// Reused text found regardless of paragraph boundaries (empty unless the scan runs
    /// the passage mode, [`crate::align`]), in order of this document.
    pub alignments: Vec<Aligned>,
}

/// A reused passage between a document and an earlier one, as character ranges of
/// both (PAN's text alignment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aligned {
    /// The source document's name.
    pub source: Arc<str>,
    /// The ranges, in code points of both texts.
    pub alignment: crate::align::Alignment,
}

/// A paragraph cut at a page or column break, joined with the block that continues it
/// and judged as one paragraph. The paragraph reports stay as they were: this is what
/// the joined paragraph repeats besides.
#[derive(Debug, Clone, PartialEq)]
pub struct Repaired {
    /// The pieces in reading order (the cut paragraph first), as the document's
    /// paragraphs: indexes, ranges and lines of the original text.
    pub pieces: Vec<ParagraphSpan>,
    /// What the joined paragraph repeats, best first. Spans are ranges of the original
    /// text, a span that crosses the break being cut in two (one per piece).
    pub matches: Vec<Match>,
}

/// What a scan renders: the scanned documents, and the texts of other sources.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The scanned documents, in scan order.
    pub documents: Vec<ScannedDocument>,
    /// Texts of sources that are not among `documents` (documents on a server), by name,
    /// where they were fetched.
    pub sources: HashMap<String, String>,
}

impl Scan {
    /// A scan of these documents, with no other sources.
    pub fn new(documents: Vec<ScannedDocument>) -> Scan {
        Scan {
            documents,
            sources: HashMap::new(),
        }
    }

    /// The text of the document or source called `name`, if it is known (a scanned
    /// document's first).
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.documents
            .iter()
            .find(|d| &*d.name == name)
            .map(|d| &*d.text)
            .or_else(|| self.sources.get(name).map(String::as_str))
    }

    /// The passages of document `di` (longest first), with both sides' lines where the
    /// texts are known.
    pub fn passages(&self, di: usize) -> Vec<Passage> {
        let d = &self.documents[di];
        let text_of = |name: &str| self.text_of(name).map(Arc::<str>::from);
        passages_in(d, &text_of)
    }
}

/// The passages of `d`, `text_of` giving a source's text by name.
fn passages_in(d: &ScannedDocument, text_of: &dyn Fn(&str) -> Option<Arc<str>>) -> Vec<Passage> {
    passages(
        &d.report,
        &d.text,
        &|s| text_of(&s.name),
        PassageOptions::default(),
    )
}

/// A source document and how much was taken from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceShare<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its position among the scanned documents (`None`: not among them).
    pub doc: Option<usize>,
    /// Recycled paragraphs that match it at all.
    pub paragraphs: usize,
    /// Code points of recycled paragraphs attributed to it (each shared code point goes
    /// to the best match that covers it).
    pub chars: usize,
    /// Order of first appearance, to break ties.
    pub first: usize,
}

/// What a scan's report shows besides the reports themselves, computed once: the sources
/// ranked by how much was taken from each, and which paragraphs reuse each source
/// paragraph.
#[derive(Debug)]
pub struct Overview<'a> {
    /// The scanned documents, in scan order.
    pub scanned: &'a [ScannedDocument],
    /// Their texts, for slicing by code point.
    pub texts: Vec<Chars<'a>>,
    /// Document position by name (the first document of that name).
    pub by_name: HashMap<&'a str, usize>,
    /// Sources, most taken from first (a source's label is `S{rank + 1}`).
    pub sources: Vec<SourceShare<'a>>,
    /// Rank of each source by name.
    pub rank: HashMap<&'a str, usize>,
    /// (document, paragraph) → the (document, paragraph)s that reuse it.
    pub reused_by: HashMap<(usize, usize), Vec<(usize, usize)>>,
    /// Each document's passages, longest first ([`Scan::passages`]).
    pub passages: Vec<Vec<Passage>>,
}

/// Code points of each paragraph attributed to a match: for each code point of the
/// paragraph (clamped to a text of `len` code points), the index of the first (best) match
/// whose spans cover it.
pub fn owners(p: &ParagraphReport, len: usize) -> Vec<Option<usize>> {
    let end = p.end.min(len);
    let start = p.start.min(end);
    let mut own = vec![None; end - start];
    for (i, m) in p.matches.iter().enumerate().rev() {
        for s in &m.spans {
            let a = s.start.clamp(start, end) - start;
            let b = s.end.clamp(start, end) - start;
            for o in own.iter_mut().take(b).skip(a) {
                *o = Some(i);
            }
        }
    }
    own
}

impl<'a> Overview<'a> {
    /// The overview of `scanned` (in scan order).
    pub fn new(scanned: &'a [ScannedDocument]) -> Overview<'a> {
        let texts: Vec<Chars> = scanned.iter().map(|d| Chars::new(&d.text)).collect();
        let mut by_name = HashMap::new();
        for (i, d) in scanned.iter().enumerate() {
            by_name.entry(&*d.name).or_insert(i);
        }
        let mut sources: Vec<SourceShare> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut reused_by: HashMap<(usize, usize), Vec<(usize, usize)>> = HashMap::new();
        for (di, d) in scanned.iter().enumerate() {
            for p in d.report.paragraphs.iter().filter(|p| !p.matches.is_empty()) {
                let mut seen: Vec<usize> = Vec::new();
                for m in &p.matches {
                    let name: &str = &m.source.name;
                    let next = sources.len();
                    let si = *index.entry(name).or_insert(next);
                    if si == next {
                        sources.push(SourceShare {
                            name,
                            doc: by_name.get(name).copied(),
                            paragraphs: 0,
                            chars: 0,
                            first: next,
                        });
                    }
                    if !seen.contains(&si) {
                        seen.push(si);
                        sources[si].paragraphs += 1;
                    }
                    if let Some(sd) = by_name.get(name) {
                        let users = reused_by.entry((*sd, m.source.paragraph)).or_default();
                        if users.last() != Some(&(di, p.index)) {
                            users.push((di, p.index));
                        }
                    }
                }
                for owner in owners(p, texts[di].len()).into_iter().flatten() {
                    sources[index[&*p.matches[owner].source.name]].chars += 1;
                }
            }
        }
        sources.sort_by(|a, b| {
            (b.chars, b.paragraphs, a.first).cmp(&(a.chars, a.paragraphs, b.first))
        });
        let rank = sources
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name, i))
            .collect();
        let text_of = |name: &str| by_name.get(name).map(|&i| scanned[i].text.clone());
        let passages = scanned.iter().map(|d| passages_in(d, &text_of)).collect();
        Overview {
            scanned,
            texts,
            by_name,
            sources,
            rank,
            reused_by,
            passages,
        }
    }
}
