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
//!
//! With [`Fold::Simplified`], a Han character's token hashes as its Simplified form
//! ([`crate::text::fold`]): a zh-Hant reprint gives the tokens of its zh-Hans original,
//! with offsets on the characters as written. The option is a compile-time branch on the
//! Han path only, so [`tokenize`] (no folding) runs exactly the code it ran before.

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

/// How Han characters are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Fold {
    /// As written (the default: token hashes are pinned and never change).
    #[default]
    None,
    /// Traditional characters hash as their Simplified forms.
    Simplified,
}

/// The hash of a one-character token `c`, folded or not.
#[inline(always)]
fn char_hash<const FOLD: bool>(c: char) -> u64 {
    let c = if FOLD {
        super::fold::to_simplified(c)
    } else {
        c
    };
    let mut b = [0u8; 4];
    xxh3_64(c.encode_utf8(&mut b).as_bytes())
}

/// The token of a word whose normalized bytes are `word`.
fn word_token(word: &[u8], start: u32, end: u32) -> Token {
    Token {
        hash: xxh3_64(word),
        start,
        end,
        weight: WORD_WEIGHT,
    }
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

/// What the fast path of [`tokenize`] knows about a character: how it takes part in
/// UAX #29 words once normalized. Every character with a class other than
/// [`Class::Other`] is its own grapheme cluster whenever the next character has such a
/// class too, is never dropped, and normalizes to one known character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// ASCII letter, or a full-width one (NFKC maps it to ASCII). Word content.
    Letter,
    /// ASCII digit or full-width digit. Word content (UAX #29 joins `1.5`, not `a.5`).
    Digit,
    /// `_` (ExtendNumLet): joins letters and digits, is not content.
    Underscore,
    /// `:` `·` (MidLetter): joins two letters.
    MidLetter,
    /// `.` `'` `‘` `’` (MidNumLet, Single_Quote): joins two letters or two digits.
    MidNumLet,
    /// `,` `;` (MidNum): joins two digits.
    MidNum,
    /// Whitespace and punctuation that break words on both sides and are not content.
    Separator,
    /// A Han ideograph (stable under NFKC and case folding): one token by itself.
    Han,
    /// Anything else: left to [`tokenize_graphemes`].
    Other,
}

impl Class {
    fn is_word(self) -> bool {
        matches!(self, Class::Letter | Class::Digit | Class::Underscore)
    }

    /// A word boundary on either side of this character, which no UAX #29 rule looks
    /// across.
    fn is_break(self) -> bool {
        matches!(self, Class::Separator | Class::Han)
    }
}

/// One character as the fast path sees it.
#[derive(Debug, Clone, Copy)]
struct FastChar {
    class: Class,
    /// The normalized, case-folded ASCII byte of a letter or digit.
    byte: u8,
    /// Length in UTF-8 bytes (0 past the end of the text).
    len: u8,
}

const fn ascii_class(b: u8) -> (Class, u8) {
    match b {
        b'a'..=b'z' => (Class::Letter, b),
        b'A'..=b'Z' => (Class::Letter, b + 32),
        b'0'..=b'9' => (Class::Digit, b),
        b'_' => (Class::Underscore, 0),
        b':' => (Class::MidLetter, 0),
        b'.' | b'\'' => (Class::MidNumLet, 0),
        b',' | b';' => (Class::MidNum, 0),
        _ => (Class::Separator, 0),
    }
}

const ASCII_CLASSES: [(Class, u8); 128] = {
    let mut table = [(Class::Separator, 0u8); 128];
    let mut b = 0;
    while b < 128 {
        table[b] = ascii_class(b as u8);
        b += 1;
    }
    table
};

/// The character starting at byte `i` of `bytes` (valid UTF-8, `i` on a boundary).
#[inline(always)]
fn fast_char(bytes: &[u8], i: usize) -> FastChar {
    let Some(&b0) = bytes.get(i) else {
        return FastChar {
            class: Class::Separator,
            byte: 0,
            len: 0,
        };
    };
    if b0 < 0x80 {
        let (class, byte) = ASCII_CLASSES[b0 as usize];
        return FastChar {
            class,
            byte,
            len: 1,
        };
    }
    let cont = |k: usize| (bytes[i + k] & 0x3F) as u32;
    let (u, len) = match b0 {
        0xC0..=0xDF => (((b0 & 0x1F) as u32) << 6 | cont(1), 2),
        0xE0..=0xEF => (((b0 & 0x0F) as u32) << 12 | cont(1) << 6 | cont(2), 3),
        _ => (
            ((b0 & 0x07) as u32) << 18 | cont(1) << 12 | cont(2) << 6 | cont(3),
            4,
        ),
    };
    let (class, byte) = match u {
        // Full-width ASCII: NFKC maps U+FF01..=U+FF5E to U+0021..=U+007E.
        0xFF01..=0xFF5E => ASCII_CLASSES[(u - 0xFEE0) as usize],
        // Ideographs assigned since Unicode 3.0: no decomposition, no case.
        0x4E00..=0x9FA5 | 0x3400..=0x4DB5 => (Class::Han, 0),
        0x00B7 => (Class::MidLetter, 0),
        0x2018 | 0x2019 => (Class::MidNumLet, 0),
        // Ideographic space (NFKC: a space), CJK and typographic punctuation that
        // normalize to themselves.
        0x3000..=0x3002 | 0x3008..=0x3011 | 0x2013 | 0x2014 | 0x201C | 0x201D => {
            (Class::Separator, 0)
        }
        _ => (Class::Other, 0),
    };
    FastChar { class, byte, len }
}

/// Splits `text` into tokens. Offsets are code points of `text`.
///
/// Same tokens as [`tokenize_graphemes`], which normalizes every grapheme cluster and
/// then runs the UAX #29 word segmenter. Most characters of English and Chinese text
/// need neither: ASCII, full-width ASCII, Han ideographs and common punctuation are
/// handled here one character at a time, with the UAX #29 rules that
/// apply to them: WB5/8/9/10/13a/13b join letters, digits and `_`; WB6/7 join
/// letter-mid-letter; WB11/12 join digit-mid-digit; everything else breaks. Anything
/// else (accents, combining marks, other scripts, emoji, invisible characters) sends
/// the stretch around it, from the last break no rule looks across (a separator or an
/// ideograph on one side) to the next one, to [`tokenize_graphemes`].
pub fn tokenize(text: &str) -> Vec<Token> {
    tokenize_fast::<false>(text)
}

/// [`tokenize`] with a choice of [`Fold`].
pub fn tokenize_with(text: &str, fold: Fold) -> Vec<Token> {
    match fold {
        Fold::None => tokenize_fast::<false>(text),
        Fold::Simplified => tokenize_fast::<true>(text),
    }
}

fn tokenize_fast<const FOLD: bool>(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::with_capacity(text.len() / 4);
    let mut word: Vec<u8> = Vec::with_capacity(32);
    let (mut word_start, mut word_end) = (0u32, 0u32);
    // Last position with a break no rule looks across: (byte, code point, tokens).
    let mut safe = (0usize, 0u32, 0usize);
    let (mut pp, mut p) = (Class::Separator, Class::Separator);
    let (mut i, mut cp) = (0usize, 0u32);
    let mut current = fast_char(bytes, 0);
    while i < bytes.len() {
        let next_i = i + current.len as usize;
        let next = fast_char(bytes, next_i);
        let (c, n) = (current.class, next.class);
        if c == Class::Other || n == Class::Other {
            // Hand the stretch from the last safe break to the next one to the
            // grapheme-wise tokenizer, and go on after it.
            word.clear();
            tokens.truncate(safe.2);
            let (mut end, mut end_cp, mut prev) = (next_i, cp + 1, c);
            while end < bytes.len() {
                let here = fast_char(bytes, end);
                if prev != Class::Other
                    && here.class != Class::Other
                    && (prev.is_break() || here.class.is_break())
                {
                    break;
                }
                prev = here.class;
                end += here.len as usize;
                end_cp += 1;
            }
            tokenize_graphemes_into::<FOLD>(&text[safe.0..end], safe.1, &mut tokens);
            (i, cp) = (end, end_cp);
            safe = (i, cp, tokens.len());
            (pp, p) = (Class::Separator, Class::Separator);
            current = fast_char(bytes, i);
            continue;
        }
        let joined = match c {
            Class::Letter | Class::Digit | Class::Underscore if p.is_word() => true,
            Class::Letter => {
                pp == Class::Letter && matches!(p, Class::MidLetter | Class::MidNumLet)
            }
            Class::Digit => pp == Class::Digit && matches!(p, Class::MidNum | Class::MidNumLet),
            Class::MidLetter => p == Class::Letter && n == Class::Letter,
            Class::MidNumLet => {
                (p == Class::Letter && n == Class::Letter)
                    || (p == Class::Digit && n == Class::Digit)
            }
            Class::MidNum => p == Class::Digit && n == Class::Digit,
            _ => false,
        };
        if !joined {
            if !word.is_empty() {
                tokens.push(word_token(&word, word_start, word_end));
                word.clear();
            }
            if p.is_break() || c.is_break() {
                safe = (i, cp, tokens.len());
            }
        }
        match c {
            Class::Letter | Class::Digit => {
                if word.is_empty() {
                    word_start = cp;
                }
                word.push(current.byte);
                // The ASCII letters and digits that follow all join the word (WB5/8/9/10):
                // take them in a tight loop, each once the byte after it shows it is
                // its own grapheme (ASCII, or the end of the text).
                let (mut j, mut k, mut before, mut last) = (next_i, cp + 1, p, c);
                while matches!(bytes.get(j + 1), None | Some(0..=0x7F)) {
                    let Some(&b) = bytes.get(j) else { break };
                    let (class, byte) = ASCII_CLASSES[(b & 0x7F) as usize];
                    if b >= 0x80 || !matches!(class, Class::Letter | Class::Digit) {
                        break;
                    }
                    word.push(byte);
                    (before, last) = (last, class);
                    (j, k) = (j + 1, k + 1);
                }
                word_end = k;
                (pp, p) = (before, last);
                (i, cp) = (j, k);
                current = if j == next_i {
                    next
                } else {
                    fast_char(bytes, j)
                };
                continue;
            }
            Class::Han => tokens.push(Token {
                hash: if FOLD {
                    // The fast path's Han range is one three-byte UTF-8 character.
                    let c = text[i..next_i].chars().next().unwrap_or_default();
                    char_hash::<true>(c)
                } else {
                    xxh3_64(&bytes[i..next_i])
                },
                start: cp,
                end: cp + 1,
                weight: CHAR_WEIGHT,
            }),
            _ => {}
        }
        (pp, p) = (p, c);
        (i, cp) = (next_i, cp + 1);
        current = next;
    }
    if !word.is_empty() {
        tokens.push(word_token(&word, word_start, word_end));
    }
    tokens
}

/// The reference tokenizer: [`normalize`] grapheme by grapheme, then UAX #29 words over
/// the normalized text. [`tokenize`] gives exactly the same tokens, faster; this one is
/// kept for the text its fast path does not cover, and to test and benchmark against.
pub fn tokenize_graphemes(text: &str) -> Vec<Token> {
    tokenize_graphemes_with(text, Fold::None)
}

/// [`tokenize_graphemes`] with a choice of [`Fold`]: the reference for [`tokenize_with`].
pub fn tokenize_graphemes_with(text: &str, fold: Fold) -> Vec<Token> {
    let mut tokens = Vec::with_capacity(text.len() / 4);
    match fold {
        Fold::None => tokenize_graphemes_into::<false>(text, 0, &mut tokens),
        Fold::Simplified => tokenize_graphemes_into::<true>(text, 0, &mut tokens),
    }
    tokens
}

/// [`tokenize_graphemes`], appending to `tokens` with offsets shifted by `offset`.
fn tokenize_graphemes_into<const FOLD: bool>(text: &str, offset: u32, tokens: &mut Vec<Token>) {
    let norm = normalize(text);
    let mut word = String::new();
    let mut word_range: Option<(u32, u32)> = None;
    let mut char_index = 0usize;
    let flush = |word: &mut String, range: &mut Option<(u32, u32)>, tokens: &mut Vec<Token>| {
        // A run of combining marks with no base character is not a word.
        if let Some((start, end)) = range
            .take()
            .filter(|_| word.chars().any(char::is_alphanumeric))
        {
            tokens.push(word_token(word.as_bytes(), start + offset, end + offset));
        }
        word.clear();
    };
    for piece in norm.text.split_word_bounds() {
        for c in piece.chars() {
            let origin = norm.origin[char_index];
            char_index += 1;
            if is_unspaced_script(c) && !is_mark(c) {
                flush(&mut word, &mut word_range, tokens);
                tokens.push(Token {
                    hash: char_hash::<FOLD>(c),
                    start: origin.0 + offset,
                    end: origin.1 + offset,
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
        flush(&mut word, &mut word_range, tokens);
    }
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

    /// Characters chosen to hit every rule the fast path relies on, and every way out of it.
    const ALPHABET: &[char] = &[
        'a',
        'B',
        'z',
        '0',
        '7',
        '_',
        ':',
        '.',
        '\'',
        ',',
        ';',
        '-',
        ' ',
        '\t',
        '\n',
        '\r',
        '"',
        '!',
        'ａ',
        'Ｚ',
        '１',
        '，',
        '．',
        '：',
        '；',
        '＿',
        '＇',
        '！',
        '（',
        '\u{3000}',
        '、',
        '。',
        '《',
        '》',
        '“',
        '”',
        '‘',
        '’',
        '·',
        '—',
        '–',
        '…',
        '保',
        '护',
        '㐀',
        '\u{301}',
        '\u{FE00}',
        '\u{200B}',
        '\u{AD}',
        '\u{200D}',
        'é',
        'ß',
        'İ',
        'ﬁ',
        '①',
        'カ',
        'ひ',
        'ภ',
        '한',
        '\u{1F1EB}',
        '\u{1F600}',
        '\u{0600}',
        'א',
        '״',
        '\u{FEFF}',
        '\u{2060}',
        '\u{FF65}',
        '\u{F900}',
        '々',
    ];

    fn assert_same(text: &str) {
        assert_eq!(tokenize(text), tokenize_graphemes(text), "{text:?}");
    }

    #[test]
    fn fast_path_matches_grapheme_tokenizer_on_samples() {
        for text in [
            "Don't re-arrange, e.g. 3.14 or 1,000; a_b __c x:y 'q' a.b.c a..b 1.a a1.2",
            "保护黄河，是2023年的ＡＢＣ大计。１，０００ x：y “引”（括）",
            "café cafe\u{301} don’t a·b zero\u{200B}width x\u{AD}y\r\nz",
            "漢\u{FE00}字 e\u{301}\u{302} 👩\u{200D}💻 🇫🇷🇩🇪 ﬁne",
            "",
            " ",
            "a",
            "é",
        ] {
            assert_same(text);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        #[test]
        fn fast_path_matches_grapheme_tokenizer(
            picks in proptest::collection::vec(0..ALPHABET.len(), 0..24)
        ) {
            let text: String = picks.iter().map(|&i| ALPHABET[i]).collect();
            proptest::prop_assert_eq!(tokenize(&text), tokenize_graphemes(&text), "{:?}", text);
        }

        #[test]
        fn fast_path_matches_grapheme_tokenizer_on_any_text(text in "\\PC{0,40}") {
            proptest::prop_assert_eq!(tokenize(&text), tokenize_graphemes(&text), "{:?}", text);
        }

        #[test]
        fn folded_fast_path_matches_folded_grapheme_tokenizer(
            picks in proptest::collection::vec(0..ALPHABET.len() + FOLD_ALPHABET.len(), 0..24)
        ) {
            let text: String = picks
                .iter()
                .map(|&i| ALPHABET.get(i).copied().unwrap_or_else(|| FOLD_ALPHABET[i - ALPHABET.len()]))
                .collect();
            proptest::prop_assert_eq!(
                tokenize_with(&text, Fold::Simplified),
                tokenize_graphemes_with(&text, Fold::Simplified),
                "{:?}", text
            );
        }
    }

    /// Traditional characters in and out of the fast path's range, and their forms.
    const FOLD_ALPHABET: &[char] = &[
        '發',
        '发',
        '黃',
        '黄',
        '裡',
        '里',
        '\u{2A6A5}',
        '\u{F900}',
        '乾',
        '干',
    ];

    #[test]
    fn folding_changes_hashes_of_traditional_characters_only() {
        let hant = "黃河發源於青海，ABC 2023年。";
        let hans = "黄河发源于青海，ABC 2023年。";
        let folded = tokenize_with(hant, Fold::Simplified);
        assert_eq!(folded, tokenize_with(hans, Fold::Simplified));
        assert_eq!(
            folded,
            tokenize(hans),
            "Simplified text is unchanged by folding"
        );
        assert_ne!(tokenize(hant), tokenize(hans));
        // Offsets stay on the characters as written.
        let offsets = |t: &[Token]| t.iter().map(|t| (t.start, t.end)).collect::<Vec<_>>();
        assert_eq!(offsets(&folded), offsets(&tokenize(hant)));
    }
}
