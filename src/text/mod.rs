//! Text analysis: from a document to paragraphs, tokens and shingles.
//!
//! The pipeline is `paragraph` (where each paragraph is) → `normalize` (what its tokens
//! are, script-aware) → `shingle` (runs of tokens, hashed). Everything here is pure: no
//! index, no I/O, no shared state.

pub mod normalize;
pub mod paragraph;
pub mod shingle;

pub use normalize::{Token, tokenize};
pub use paragraph::{ParagraphSpan, Split, split_paragraphs, split_paragraphs_with};
pub use shingle::{Shingle, shingle_set, shingles};

use xxhash_rust::xxh3::xxh3_64;

/// Everything the engine needs to know about one paragraph's content.
#[derive(Debug, Clone)]
pub struct ParagraphText {
    /// The paragraph's tokens (offsets relative to the paragraph's start).
    pub tokens: Vec<Token>,
    /// The paragraph's shingles in text order.
    pub shingles: Vec<Shingle>,
    /// The sorted distinct shingle hashes.
    pub set: Vec<u32>,
    /// Hash of the whole normalized token sequence: equal for paragraphs that are
    /// identical after normalization.
    pub content_hash: u64,
    /// Length in word equivalents (a word counts 1, a Chinese character 2/3).
    pub length: f32,
}

/// Tokenizes and shingles one paragraph's text.
pub fn analyze_paragraph(text: &str, k: usize, seed: u64) -> ParagraphText {
    let tokens = tokenize(text);
    let shingles = shingles(&tokens, k, seed);
    let set = shingle_set(&shingles);
    let mut bytes = Vec::with_capacity(tokens.len() * 8);
    for t in &tokens {
        bytes.extend_from_slice(&t.hash.to_le_bytes());
    }
    let weight: u32 = tokens.iter().map(|t| t.weight as u32).sum();
    ParagraphText {
        content_hash: xxh3_64(&bytes) ^ seed,
        length: weight as f32 / normalize::WORD_WEIGHT as f32,
        tokens,
        shingles,
        set,
    }
}
