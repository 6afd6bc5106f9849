//! Normalization and tokenization: text in, comparable tokens with their offsets out.
//!
//! Two texts that differ only in width (full-width Ｌａｔｉｎ), case, compatibility forms,
//! punctuation, whitespace or zero-width characters produce the same token hashes.
//! Each extended grapheme cluster is NFKC-normalized and case-folded on its own, so every
//! normalized character can be traced back to the cluster it came from: that is what lets
//! matches be reported as offsets into the caller's original text.
//!
//! Tokens are UAX #29 words for scripts written with spaces. Scripts written without
//! spaces (Han, Hiragana, Katakana, Bopomofo, Thai, Lao, Khmer, Myanmar) give one token
//! per character, so Chinese needs no dictionary.

use caseless::Caseless;
use unicode_normalization::UnicodeNormalization;
use unicode_script::{Script, UnicodeScript};
use unicode_segmentation::UnicodeSegmentation;
use xxhash_rust::xxh3::xxh3_64;

/// Weight of a word token in a shingle; see [`crate::text::shingle`].
pub const WORD_WEIGHT: u8 = 3;
/// Weight of a one-character token of a script written without spaces: a Chinese word
/// is about 1.5 characters long, so three characters weigh as much as two words.
pub const CHAR_WEIGHT: u8 = 2;

/// One token of a paragraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// xxh3 of the token's normalized text.
    pub hash: u64,
    /// First code point of the token in the text it was read from.
    pub start: u32,
    /// One past the last code point of the token in the text it was read from.
    pub end: u32,
    /// [`WORD_WEIGHT`] or [`CHAR_WEIGHT`].
    pub weight: u8,
}

/// True for characters of scripts written without spaces between words.
pub fn is_unspaced_script(c: char) -> bool {
    matches!(
        c.script(),
        Script::Han
            | Script::Hiragana
            | Script::Katakana
            | Script::Bopomofo
            | Script::Thai
            | Script::Lao
            | Script::Khmer
            | Script::Myanmar
    )
}

/// Characters that change nothing a reader sees: they are dropped before anything else.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
    )
}

/// Letters, digits and combining marks are content; everything else separates or is
/// ignored (so "don't" and "don’t" are the same token).
fn is_content(c: char) -> bool {
    c.is_alphanumeric() || is_mark(c)
}

fn is_mark(c: char) -> bool {
    unicode_normalization::char::is_combining_mark(c)
}

/// The normalized form of `text`: one `String` plus, for each of its characters, the
/// original code-point range of the grapheme it came from.
pub struct Normalized {
    /// NFKC + case-folded text, invisible characters dropped.
    pub text: String,
    /// `origin[i]` is the original (start, end) code-point range of normalized char `i`.
    pub origin: Vec<(u32, u32)>,
}

/// NFKC-normalizes and case-folds `text` grapheme by grapheme.
pub fn normalize(text: &str) -> Normalized {
    let mut out = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len());
    let mut cp = 0u32;
    let mut buf = String::new();
    for g in text.graphemes(true) {
        let len = g.chars().count() as u32;
        let range = (cp, cp + len);
        cp += len;
        buf.clear();
        if g.is_ascii() {
            buf.extend(g.chars().map(|c| c.to_ascii_lowercase()));
        } else {
            buf.extend(
                g.chars()
                    .filter(|&c| !is_invisible(c))
                    .nfkc()
                    .default_case_fold(),
            );
        }
        for c in buf.chars() {
            out.push(c);
            origin.push(range);
        }
    }
    Normalized { text: out, origin }
}

/// Splits `text` into tokens. Offsets are code points of `text`.
pub fn tokenize(text: &str) -> Vec<Token> {
    let norm = normalize(text);
    let mut tokens = Vec::with_capacity(text.len() / 4);
    let mut word = String::new();
    let mut word_range: Option<(u32, u32)> = None;
    let mut char_index = 0usize;
    let flush = |word: &mut String, range: &mut Option<(u32, u32)>, tokens: &mut Vec<Token>| {
        // A run of combining marks with no base character is not a word.
        if let Some((start, end)) = range
            .take()
            .filter(|_| word.chars().any(char::is_alphanumeric))
        {
            tokens.push(Token {
                hash: xxh3_64(word.as_bytes()),
                start,
                end,
                weight: WORD_WEIGHT,
            });
        }
        word.clear();
    };
    for piece in norm.text.split_word_bounds() {
        for c in piece.chars() {
            let origin = norm.origin[char_index];
            char_index += 1;
            if is_unspaced_script(c) && !is_mark(c) {
                flush(&mut word, &mut word_range, &mut tokens);
                let mut b = [0u8; 4];
                tokens.push(Token {
                    hash: xxh3_64(c.encode_utf8(&mut b).as_bytes()),
                    start: origin.0,
                    end: origin.1,
                    weight: CHAR_WEIGHT,
                });
            } else if is_content(c) {
                word.push(c);
                word_range = Some(match word_range {
                    Some((s, _)) => (s, origin.1),
                    None => origin,
                });
            }
        }
        flush(&mut word, &mut word_range, &mut tokens);
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        tokenize(text)
            .iter()
            .map(|t| chars[t.start as usize..t.end as usize].iter().collect())
            .collect()
    }

    fn hashes(text: &str) -> Vec<u64> {
        tokenize(text).iter().map(|t| t.hash).collect()
    }

    #[test]
    fn english_words_follow_uax29_and_ignore_punctuation() {
        assert_eq!(
            words("Don't re-arrange, e.g. 3.14!"),
            ["Don't", "re", "arrange", "e.g", "3.14"]
        );
        assert_eq!(hashes("Don't"), hashes("don’t"));
    }

    #[test]
    fn format_changes_do_not_change_tokens() {
        assert_eq!(
            hashes("Ｓｅｃｕｒｉｔｙ  Reminder\tTO all"),
            hashes("security reminder to ALL")
        );
        assert_eq!(hashes("zero\u{200B}width"), hashes("zerowidth"));
        assert_eq!(hashes("Straße"), hashes("STRASSE"));
        assert_eq!(hashes("cafe\u{301}"), hashes("café"));
    }

    #[test]
    fn chinese_is_one_token_per_character_with_offsets() {
        let text = "保护黄河，是2023年的ＡＢＣ大计。";
        assert_eq!(
            words(text),
            [
                "保",
                "护",
                "黄",
                "河",
                "是",
                "2023",
                "年",
                "的",
                "ＡＢＣ",
                "大",
                "计"
            ]
        );
        let t = tokenize(text);
        assert_eq!(t[0].weight, CHAR_WEIGHT);
        assert_eq!(t[5].weight, WORD_WEIGHT);
        assert_eq!(hashes("黄河，。"), hashes("黄河,."));
    }

    #[test]
    fn japanese_and_thai_split_per_character() {
        assert_eq!(words("カタカナ"), ["カ", "タ", "カ", "ナ"]);
        assert_eq!(words("ภาษา").len(), 4);
    }

    proptest::proptest! {
        // Token offsets are ordered ranges of the original text that hold content.
        #[test]
        fn token_offsets_point_at_content(text in "[a-cＡ中カ .,'\u{200B}\u{301}ß\n-]{0,40}") {
            let chars: Vec<char> = text.chars().collect();
            let mut last_end = 0;
            for t in tokenize(&text) {
                proptest::prop_assert!(t.start >= last_end && t.start < t.end && t.end as usize <= chars.len());
                let piece: String = chars[t.start as usize..t.end as usize].iter().collect();
                proptest::prop_assert!(piece.chars().any(char::is_alphanumeric), "{:?}", piece);
                last_end = t.end;
            }
        }
    }

    #[test]
    fn empty_and_symbol_only_text_has_no_tokens() {
        assert!(tokenize("").is_empty());
        assert!(tokenize(" —— ！？ ... ").is_empty());
    }
}
