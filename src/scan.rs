//! Scanning a sequence of documents with one engine: each is reported against all
//! earlier ones (and its own earlier paragraphs) and then indexed. What it gives is the
//! report model the `scan` command renders ([`crate::report`]).

use crate::engine::Engine;
use crate::error::Result;
use crate::report::ScannedDocument;
use crate::text::Split;

/// Scans `(name, text)` pairs in order. Names must be distinct.
pub fn scan(
    engine: &Engine,
    documents: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<ScannedDocument>> {
    scan_with(engine, documents, Split::Auto)
}

/// [`scan`] with a choice of paragraph splitting.
pub fn scan_with(
    engine: &Engine,
    documents: impl IntoIterator<Item = (String, String)>,
    split: Split,
) -> Result<Vec<ScannedDocument>> {
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
        });
    }
    Ok(out)
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
