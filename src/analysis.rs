//! The one analyzer: text → paragraphs → tokens → shingle set → signature → band keys,
//! content hash and sketch. The engine, the batch and the service all analyze with it, so
//! a paragraph is the same set and the same keys on every path.
//!
//! Analysis is pure CPU work over one text and the settings that shape an index (the
//! [`IndexShape`]); it needs no lock and no index, so callers run it in parallel and
//! before they touch any shared state.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::index::{BandKey, Sketch, exact_key};
use crate::lsh::{LshParams, band_keys};
use crate::minhash::MinHasher;
use crate::text::{
    Fold, ParagraphSpan, ParagraphText, Shingle, Split, Token, analyze_paragraph_with, shingles,
    split_paragraphs_with, tokenize_with,
};

/// The settings that shape signatures and the index. Data indexed under one shape is never
/// mixed with another (the store records it as a fingerprint).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexShape {
    /// MinHash permutations.
    pub num_perm: usize,
    /// Shingle size in words (a Chinese character counts 2/3 of a word).
    pub shingle: usize,
    /// Seed of the shingle hash and the MinHash permutations.
    pub seed: u64,
    /// Paragraphs shorter than this many words (Chinese: 1.5 characters a word) are too
    /// short to judge.
    pub min_length: f64,
    /// LSH bands × rows.
    pub lsh: LshParams,
    /// How Han characters are read (Traditional folded to Simplified, or as written).
    pub fold: Fold,
}

/// One analyzed paragraph: where it is, what it is made of, and how it is looked up.
#[derive(Debug, Clone)]
pub struct AnalyzedParagraph {
    /// Where it is in the document.
    pub span: ParagraphSpan,
    /// Its tokens, shingles and set.
    pub text: ParagraphText,
    /// Its LSH bucket keys, one per band (empty when too short).
    pub band_keys: Vec<BandKey>,
    /// Its small sketch for cheap candidate rejection (empty when too short).
    pub sketch: Sketch,
    /// Shorter than the minimum length: reported as such, never matched, not indexed.
    pub too_short: bool,
}

impl AnalyzedParagraph {
    /// The key of its content in the exact-copy map.
    pub fn exact_key(&self) -> BandKey {
        exact_key(self.text.content_hash)
    }

    /// What an index keeps of it (and a store persists, so that a restart does not
    /// analyze again); `None` when it is too short to index.
    pub fn record(&self) -> Option<ParagraphRecord> {
        (!self.too_short).then(|| ParagraphRecord {
            index: self.span.index as u32,
            start: self.span.start as u32,
            end: self.span.end as u32,
            line: self.span.line as u32,
            content_hash: self.text.content_hash,
            set: self.text.set.clone(),
            band_keys: self.band_keys.clone(),
            sketch: self.sketch,
        })
    }
}

/// What the index keeps of an analyzed paragraph long enough to judge: where it is in its
/// document, its content hash, shingle set, band keys and sketch. The store persists it
/// beside the text, so that a restart loads the index instead of recomputing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParagraphRecord {
    /// 0-based position among the document's paragraphs.
    pub index: u32,
    /// First code point in the document.
    pub start: u32,
    /// One past the last code point.
    pub end: u32,
    /// 1-based line.
    pub line: u32,
    /// Hash of the normalized token sequence.
    pub content_hash: u64,
    /// Sorted distinct shingle hashes.
    pub set: Vec<u32>,
    /// One key per band.
    pub band_keys: Vec<BandKey>,
    /// Sketch for cheap candidate rejection.
    pub sketch: Sketch,
}

/// A document cut into analyzed paragraphs.
#[derive(Debug, Clone)]
pub struct AnalyzedDocument {
    /// The original text.
    pub text: Arc<str>,
    /// Its paragraphs, in order.
    pub paragraphs: Vec<AnalyzedParagraph>,
}

/// Turns texts into analyzed paragraphs for one [`IndexShape`]. Cheap to share.
#[derive(Debug, Clone)]
pub struct Analyzer {
    shape: IndexShape,
    hasher: MinHasher,
}

impl Analyzer {
    /// An analyzer for `shape`, whose values are checked.
    pub fn new(shape: IndexShape) -> Result<Analyzer> {
        if !(1..=1024).contains(&shape.num_perm) {
            return Err(Error::invalid(
                "num_perm",
                format!("{} is not in 1..=1024", shape.num_perm),
            ));
        }
        if !(1..=16).contains(&shape.shingle) {
            return Err(Error::invalid(
                "shingle",
                format!("{} is not in 1..=16", shape.shingle),
            ));
        }
        if !(shape.min_length >= 0.0 && shape.min_length <= 10_000.0) {
            return Err(Error::invalid(
                "min_length",
                format!("{} is not in 0..=10000", shape.min_length),
            ));
        }
        Ok(Analyzer {
            hasher: MinHasher::new(shape.num_perm, shape.seed),
            shape,
        })
    }

    /// The shape this analyzer produces.
    pub fn shape(&self) -> &IndexShape {
        &self.shape
    }

    /// Splits a document and analyzes every paragraph.
    pub fn document(&self, text: impl Into<Arc<str>>, split: Split) -> AnalyzedDocument {
        let text: Arc<str> = text.into();
        let paragraphs = split_paragraphs_with(&text, split)
            .into_iter()
            .map(|span| self.paragraph(&text, span))
            .collect();
        AnalyzedDocument { text, paragraphs }
    }

    /// Analyzes the paragraph of `document` at `span`.
    pub fn paragraph(&self, document: &str, span: ParagraphSpan) -> AnalyzedParagraph {
        let text = self.paragraph_text(span.text(document));
        let too_short = self.too_short(&text);
        let (band_keys, sketch) = if too_short {
            (Vec::new(), Sketch::default())
        } else {
            let sig = self.hasher.signature(&text.set);
            (
                band_keys(self.shape.lsh, self.shape.seed, &sig),
                Sketch::of(&sig, self.shape.lsh),
            )
        };
        AnalyzedParagraph {
            span,
            text,
            band_keys,
            sketch,
            too_short,
        }
    }

    /// Tokens, shingles and set of a paragraph's text (what spans are aligned on).
    pub fn paragraph_text(&self, text: &str) -> ParagraphText {
        analyze_paragraph_with(text, self.shape.shingle, self.shape.seed, self.shape.fold)
    }

    /// The tokens of a text, as this analyzer reads them (folded or not).
    pub fn tokens(&self, text: &str) -> Vec<Token> {
        tokenize_with(text, self.shape.fold)
    }

    /// The tokens and shingles of a text, without the rest of its analysis: what shared
    /// spans are made of.
    pub fn shingled(&self, text: &str) -> (Vec<Token>, Vec<Shingle>) {
        let tokens = self.tokens(text);
        let shingles = shingles(&tokens, self.shape.shingle, self.shape.seed);
        (tokens, shingles)
    }

    /// The band keys of a set (what [`Analyzer::paragraph`] gives for a paragraph with
    /// that set): for recomputing an indexed paragraph's keys without its text.
    pub fn band_keys_of(&self, set: &[u32]) -> Vec<BandKey> {
        band_keys(self.shape.lsh, self.shape.seed, &self.hasher.signature(set))
    }

    /// The one too-short rule: fewer word equivalents than `min_length`, or no shingle.
    pub fn too_short(&self, text: &ParagraphText) -> bool {
        text.length < self.shape.min_length as f32 || text.set.is_empty()
    }
}
