//! Scanning a sequence of documents with one engine: each is reported against all
//! earlier ones (and its own earlier paragraphs) and then indexed. What it gives is the
//! report model the `scan` command renders ([`crate::report`]).

use std::sync::Arc;

use crate::align::{AlignOptions, Vocabulary, align};
use crate::engine::{Engine, Match, QueryOptions, Span};
use crate::error::Result;
use crate::report::{Aligned, Repaired, ScannedDocument};
use crate::text::repair::{Repair, Unit, find_joins, units};
use crate::text::{Split, split_paragraphs_with};

/// How a scan reads its documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanOptions {
    /// How documents are cut into paragraphs.
    pub split: Split,
    /// Whether paragraphs cut at page breaks are also judged joined with their
    /// continuations ([`ScannedDocument::repairs`]).
    pub repair: Repair,
    /// Whether to run the passage mode: reused text between each document and the
    /// earlier documents its paragraphs match, wherever paragraphs begin and end
    /// ([`ScannedDocument::alignments`]).
    pub align: bool,
}

/// Function words for the passage mode: the tokens found in the most scanned documents.
const STOPWORDS: usize = 50;

/// Scans `(name, text)` pairs in order. Names must be distinct.
pub fn scan(
    engine: &Engine,
    documents: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<ScannedDocument>> {
    scan_with(engine, documents, Split::Auto)
}

/// [`scan`] with a choice of paragraph splitting (and no page-break repair).
pub fn scan_with(
    engine: &Engine,
    documents: impl IntoIterator<Item = (String, String)>,
    split: Split,
) -> Result<Vec<ScannedDocument>> {
    scan_with_options(
        engine,
        documents,
        ScanOptions {
            split,
            repair: Repair::Off,
            align: false,
        },
    )
}

/// [`scan`] with [`ScanOptions`].
pub fn scan_with_options(
    engine: &Engine,
    documents: impl IntoIterator<Item = (String, String)>,
    options: ScanOptions,
) -> Result<Vec<ScannedDocument>> {
    let split = options.split;
    let opts = engine.settings().query_options();
    let mut out: Vec<ScannedDocument> = Vec::new();
    for (name, text) in documents {
        let analyzed = engine.analyze_with(text, split);
        // The texts of the documents scanned so far are here: no store is needed.
        let texts = |n: &str| out.iter().find(|d| &*d.name == n).map(|d| d.text.clone());
        let submitted = engine.submit(
            &name,
            &analyzed,
            Default::default(),
            0,
            &opts,
            false,
            split,
            &texts,
        )?;
        out.push(ScannedDocument {
            name: name.into(),
            text: analyzed.text,
            report: submitted.report,
            repairs: Vec::new(),
            alignments: Vec::new(),
        });
        if options.repair == Repair::Auto {
            let doc = &out[out.len() - 1];
            let spans = split_paragraphs_with(&doc.text, split);
            let joins = find_joins(&doc.text, &spans);
            let mut repairs = Vec::new();
            for unit in units(&spans, &joins).into_iter().filter(Unit::is_repaired) {
                let texts = |n: &str| out.iter().find(|d| &*d.name == n).map(|d| d.text.clone());
                repairs.push(judge_repaired(
                    engine, &doc.name, &doc.text, unit, &opts, &texts,
                )?);
            }
            let last = out.len() - 1;
            out[last].repairs = repairs;
        }
    }
    if options.align {
        align_all(&mut out);
    }
    Ok(out)
}

/// The passage mode over scanned documents: each is aligned with the earlier documents
/// that its paragraph matches name (the paragraph index picks the candidates, so a
/// document is aligned with few others).
fn align_all(docs: &mut [ScannedDocument]) {
    let vocab = Vocabulary::from_documents(docs.iter().map(|d| &*d.text), STOPWORDS);
    let options = AlignOptions::default();
    for di in 0..docs.len() {
        let mut sources: Vec<usize> = Vec::new();
        for m in docs[di].report.paragraphs.iter().flat_map(|p| &p.matches) {
            if let Some(si) = docs[..di].iter().position(|d| d.name == m.source.name)
                && !sources.contains(&si)
            {
                sources.push(si);
            }
        }
        let mut found: Vec<Aligned> = sources
            .into_iter()
            .flat_map(|si| {
                let source = docs[si].name.clone();
                align(&docs[di].text, &docs[si].text, &vocab, &options)
                    .into_iter()
                    .map(move |alignment| Aligned {
                        source: source.clone(),
                        alignment,
                    })
            })
            .collect();
        found.sort_by_key(|a| (a.alignment.start, a.alignment.source_start));
        docs[di].alignments = found;
    }
}

/// Judges a repaired paragraph of document `name` (already indexed) against the index:
/// its joined text is checked like a paragraph of its own, and what it repeats is kept
/// when it is earlier than the paragraph (another document, or an earlier paragraph of
/// this one) and not one of its own pieces. Spans map back to the pieces.
fn judge_repaired(
    engine: &Engine,
    name: &str,
    text: &str,
    unit: Unit,
    opts: &QueryOptions,
    texts: &dyn Fn(&str) -> Option<Arc<str>>,
) -> Result<Repaired> {
    let joined = unit.joined_text(text);
    let analyzed = engine.analyze_with(joined.text.as_str(), Split::None);
    let report = engine.check(&analyzed, name, opts, &texts)?;
    let first = unit.pieces[0].index;
    let matches = report
        .paragraphs
        .into_iter()
        .flat_map(|p| p.matches)
        .filter(|m| &*m.source.name != name || m.source.paragraph < first)
        .map(|m| Match {
            spans: m
                .spans
                .iter()
                .flat_map(|s| {
                    // The shared text is the same on both sides: the source range is cut
                    // where the paragraph's is.
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
    Ok(Repaired {
        pieces: unit.pieces,
        matches,
    })
}

/// Unique display names for files given on a command line: a repeated name gets `#2`,
/// `#3`… so that each submission is its own document.
pub fn unique_names(names: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashMap::<&str, usize>::new();
    names
        .iter()
        .map(|n| {
            let count = seen.entry(n).or_insert(0);
            *count += 1;
            if *count == 1 {
                n.clone()
            } else {
                format!("{n}#{count}")
            }
        })
        .collect()
}
