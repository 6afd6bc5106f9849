//! Text analysis: from a document to paragraphs, tokens and shingles.
//!
//! The pipeline is `paragraph` (where each paragraph is) → `normalize` (what its tokens
//! are, script-aware) → `shingle` (runs of tokens, hashed). Everything here is pure: no
//! index, no I/O, no shared state.

pub mod chars;
pub mod fold;
pub mod normalize;
pub mod paragraph;
pub mod repair;
pub mod shingle;

pub use chars::Chars;
pub use normalize::{Fold, Token, tokenize, tokenize_with};
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
    analyze_paragraph_with(text, k, seed, Fold::None)
}

/// [`analyze_paragraph`] with a choice of [`Fold`].
pub fn analyze_paragraph_with(text: &str, k: usize, seed: u64, fold: Fold) -> ParagraphText {
    let tokens = tokenize_with(text, fold);
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

#[cfg(test)]
mod pinned {
    //! Outputs pinned before the tokenizer and MinHash were optimized: token hashes and
    //! offsets, shingle hashes and signatures must never change, or stored indexes and
    //! snapshots stop matching new text.
    use super::*;
    use crate::minhash::MinHasher;

    const TEXTS: [&str; 6] = [
        "Subj: Security Reminder To: all SRCF staff. Don't re-arrange, e.g. 3.14 or 1,000; \
         a_b __c x:y 'quoted' ok!",
        "保护黄河，是2023年的ＡＢＣ大计。“引号”（括号）、顿号；冒号：《书名》「引」——破折号…",
        "Café naïve Straße ＳＴＲＡＳＳＥ cafe\u{301} zero\u{200B}width soft\u{AD}hyphen don’t ‘x’ a·b",
        "カタカナ ひらがな ภาษาไทย 한국어 🇫🇷🇩🇪 👩\u{200D}💻 e\u{301}\u{302} 漢\u{FE00}字 ﬁne ①②",
        "line one\r\nline two\n\n\ttabbed\u{3000}ideographic\u{A0}nbsp  1，000 2．5 x：y",
        "",
    ];

    fn digest(k: usize, seed: u64) -> u64 {
        let hasher = MinHasher::new(128, seed);
        let mut bytes = Vec::new();
        for text in TEXTS {
            let p = analyze_paragraph(text, k, seed);
            for t in &p.tokens {
                bytes.extend_from_slice(&t.hash.to_le_bytes());
                bytes.extend_from_slice(&t.start.to_le_bytes());
                bytes.extend_from_slice(&t.end.to_le_bytes());
                bytes.push(t.weight);
            }
            for s in &p.shingles {
                bytes.extend_from_slice(&s.hash.to_le_bytes());
                bytes.extend_from_slice(&s.first.to_le_bytes());
                bytes.extend_from_slice(&s.last.to_le_bytes());
            }
            for v in hasher.signature(&p.set).0.iter() {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            bytes.extend_from_slice(&p.content_hash.to_le_bytes());
        }
        xxh3_64(&bytes)
    }

    #[test]
    fn outputs_are_pinned() {
        let got = [digest(2, 0x6e65_6172_6475_7030), digest(3, 7), digest(1, 0)];
        assert_eq!(
            got,
            [0xf15672ab95bdebf0, 0x9e2b65cb9a66c7f3, 0xfa4bfa8c0ba58a63],
            "{got:#x?}"
        );
    }

    #[test]
    fn first_tokens_are_pinned() {
        let t = tokenize("Don't stop 保护");
        let got: Vec<(u64, u32, u32, u8)> = t
            .iter()
            .map(|t| (t.hash, t.start, t.end, t.weight))
            .collect();
        assert_eq!(
            got,
            [
                (0x9242c3e492fc3ed9, 0, 5, 3),
                (0x00194eb9d5e9a9c0, 6, 10, 3),
                (0xface95d344687942, 11, 12, 2),
                (0xbe2ec0f574b19975, 12, 13, 2),
            ],
            "{got:#x?}"
        );
    }
}
