//! The diff of a side-by-side view: per code point, what changed from the source to the
//! paragraph.
//!
//! Both paragraphs are tokenized the same way for every language: a CJK character is one
//! token (a character-level diff for Chinese), a run of letters or digits is one token (a
//! word-level diff for English), and whitespace runs and punctuation are tokens of their
//! own. It runs `similar`'s Myers diff under a deadline, so a pathological pair costs a
//! coarser diff, never a frozen report.

use std::ops::Range;
use std::time::{Duration, Instant};

use similar::{Algorithm, DiffTag};

/// Most time spent diffing one pair before settling for a coarser diff.
const DIFF_DEADLINE: Duration = Duration::from_millis(250);

/// What the diff says of a code point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// In both texts.
    Same,
    /// Only in the old text (the source).
    Deleted,
    /// Only in the new text (the paragraph).
    Inserted,
    /// Rewritten: replaced by (or replacing) other text.
    Changed,
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FDF     // radicals
        | 0x3040..=0x30FF   // kana
        | 0x3100..=0x312F   // bopomofo
        | 0x3400..=0x4DBF   // extension A
        | 0x4E00..=0x9FFF   // unified ideographs
        | 0xAC00..=0xD7AF   // hangul
        | 0xF900..=0xFAFF   // compatibility ideographs
        | 0xFF66..=0xFF9F   // half-width kana
        | 0x20000..=0x3FFFF // extensions B and later
    )
}

/// Diff tokens of a text, each with the code point it starts at: one per CJK character,
/// one per run of letters and digits, one per run of whitespace, one per other character.
fn tokens(text: &str) -> Vec<(usize, &str)> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Class {
        Word,
        Space,
        One,
    }
    let class = |c: char| {
        if is_cjk(c) {
            Class::One
        } else if c.is_alphanumeric() || c == '_' {
            Class::Word
        } else if c.is_whitespace() {
            Class::Space
        } else {
            Class::One
        }
    };
    let mut out = Vec::new();
    let mut current: Option<(usize, usize, Class)> = None;
    for (ci, (bi, c)) in text.char_indices().enumerate() {
        let k = class(c);
        if let Some((cs, bs, ck)) = current {
            if ck == k && k != Class::One {
                continue;
            }
            out.push((cs, &text[bs..bi]));
        }
        current = Some((ci, bi, k));
    }
    if let Some((cs, bs, _)) = current {
        out.push((cs, &text[bs..]));
    }
    out
}

/// Per code point edits turning `old` into `new`: a character-level diff for CJK text and
/// a word-level one for alphabetic text (see the module docs).
pub fn edits(old: &str, new: &str) -> (Vec<Edit>, Vec<Edit>) {
    let (ot, nt) = (tokens(old), tokens(new));
    let (on, nn) = (old.chars().count(), new.chars().count());
    let ok: Vec<&str> = ot.iter().map(|t| t.1).collect();
    let nk: Vec<&str> = nt.iter().map(|t| t.1).collect();
    let ops = similar::capture_diff_slices_deadline(
        Algorithm::Myers,
        &ok,
        &nk,
        Some(Instant::now() + DIFF_DEADLINE),
    );
    let chars = |toks: &[(usize, &str)], total: usize, r: Range<usize>| {
        let at = |i: usize| toks.get(i).map_or(total, |t| t.0);
        at(r.start)..at(r.end)
    };
    let mut oe = vec![Edit::Same; on];
    let mut ne = vec![Edit::Same; nn];
    for op in ops {
        let (tag, or, nr) = op.as_tag_tuple();
        let e = match tag {
            DiffTag::Equal => continue,
            DiffTag::Delete => Edit::Deleted,
            DiffTag::Insert => Edit::Inserted,
            DiffTag::Replace => Edit::Changed,
        };
        let or = chars(&ot, on, or);
        let nr = chars(&nt, nn, nr);
        if let Some(s) = oe.get_mut(or) {
            s.fill(e);
        }
        if let Some(s) = ne.get_mut(nr) {
            s.fill(e);
        }
    }
    (oe, ne)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_characters_for_chinese_and_words_for_english() {
        let t: Vec<&str> = tokens("黄河 is long, 很长")
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(
            t,
            ["黄", "河", " ", "is", " ", "long", ",", " ", "很", "长"]
        );
        let starts: Vec<usize> = tokens("ab 黄c").into_iter().map(|t| t.0).collect();
        assert_eq!(starts, [0, 2, 3, 4]);
    }

    #[test]
    fn chinese_diff_marks_changed_characters() {
        let (old, new) = edits("全市法院需要强化保护", "人民法院需要加大保护");
        use Edit::*;
        assert_eq!(
            old,
            [
                Changed, Changed, Same, Same, Same, Same, Changed, Changed, Same, Same
            ]
        );
        assert_eq!(new, old);
        let (old, new) = edits("黄河保护", "黄河生态保护");
        assert!(old.iter().all(|e| *e == Same));
        assert_eq!(new, [Same, Same, Inserted, Inserted, Same, Same]);
    }

    #[test]
    fn english_diff_is_word_level() {
        let (old, new) = edits("the quick fox", "the slow fox jumps");
        use Edit::*;
        // "quick" (5 chars) became "slow" (4 chars); " jumps" was added.
        assert_eq!(&old[4..9], [Changed; 5]);
        assert_eq!(&new[4..8], [Changed; 4]);
        assert_eq!(&new[12..], [Inserted; 6]);
        assert!(old[..4].iter().chain(&old[9..]).all(|e| *e == Same));
    }
}
