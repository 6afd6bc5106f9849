//! Scanning a sequence of documents with one engine: each is reported against all
//! earlier ones (and its own earlier paragraphs) and then indexed. What it gives is the
//! report model the `scan` command renders ([`crate::report`]).

use std::sync::Arc;

use crate::align::Vocabulary;
use crate::editorial::{alignments, matched_sources, repairs};
use crate::engine::{Engine, ParagraphStatus, Report};
use crate::error::Result;
use crate::report::ScannedDocument;
use crate::text::repair::Repair;
use crate::text::{Fold, Split};

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
        // Judged against what the paragraph reports are judged against: the earlier
        // documents and this one's earlier paragraphs.
        let repaired = match options.repair {
            Repair::Auto => repairs(engine.analyzer(), &analyzed, &name, |d| {
                engine.check(d, &name, &opts, &texts)
            })?,
            Repair::Off => Vec::new(),
        };
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
            repairs: repaired,
            alignments: Vec::new(),
        });
    }
    if engine.settings().boilerplate > 0 {
        set_boilerplate_apart(engine, &mut out, split)?;
    }
    if options.align {
        align_all(&mut out, engine.settings().fold);
    }
    Ok(out)
}

/// Boilerplate as the whole scan shows it: a paragraph submitted before its K-th copy
/// was seen is boilerplate all the same. Each document is judged again against all the
/// others (an unchanged resubmission: its stored copy left out); a paragraph found to be
/// boilerplate loses its matches, and so do the matches that point at it, so that
/// boilerplate counts as recycling nowhere.
fn set_boilerplate_apart(
    engine: &Engine,
    docs: &mut [ScannedDocument],
    split: Split,
) -> Result<()> {
    let opts = engine.settings().query_options();
    let mut found: Vec<Vec<usize>> = Vec::with_capacity(docs.len());
    for d in docs.iter() {
        let texts = |n: &str| docs.iter().find(|d| &*d.name == n).map(|d| d.text.clone());
        let analyzed = engine.analyze_with(d.text.clone(), split);
        let again = engine.submit(
            &d.name,
            &analyzed,
            Default::default(),
            0,
            &opts,
            false,
            split,
            &texts,
        )?;
        found.push(
            again
                .report
                .paragraphs
                .iter()
                .filter(|p| p.boilerplate)
                .map(|p| p.index)
                .collect(),
        );
    }
    let is_boilerplate = |name: &str, paragraph: usize| {
        docs.iter()
            .position(|d| &*d.name == name)
            .is_some_and(|di| found[di].contains(&paragraph))
    };
    let mut judged: Vec<Report> = Vec::with_capacity(docs.len());
    for (di, d) in docs.iter().enumerate() {
        let mut paragraphs = d.report.paragraphs.clone();
        for p in &mut paragraphs {
            if found[di].contains(&p.index) {
                p.status = ParagraphStatus::New;
                p.boilerplate = true;
                p.matches.clear();
                continue;
            }
            p.matches
                .retain(|m| !is_boilerplate(&m.source.name, m.source.paragraph));
            if p.status == ParagraphStatus::Recycled && p.matches.is_empty() {
                p.status = ParagraphStatus::New;
            }
        }
        judged.push(Report::new(paragraphs));
    }
    for (d, report) in docs.iter_mut().zip(judged) {
        d.report = report;
    }
    Ok(())
}

/// The passage mode over scanned documents: each is aligned with the earlier documents
/// that its paragraph matches name (the paragraph index picks the candidates, so a
/// document is aligned with few others).
fn align_all(docs: &mut [ScannedDocument], fold: Fold) {
    let vocab = Vocabulary::from_documents_with(docs.iter().map(|d| &*d.text), STOPWORDS, fold);
    for di in 0..docs.len() {
        let sources: Vec<(String, Arc<str>)> = matched_sources(&docs[di].report, &docs[di].name)
            .into_iter()
            .filter_map(|n| {
                let source = docs[..di].iter().find(|d| *d.name == *n)?;
                Some((n, source.text.clone()))
            })
            .collect();
        docs[di].alignments = alignments(&docs[di].text, &sources, &vocab);
    }
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
