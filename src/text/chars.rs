//! Code-point ranges of a text as byte slices.
//!
//! Reports and the index give positions in code points (what a user's editor counts), and
//! Rust slices by bytes. Walking the text from its start for every range makes a report of
//! a long document quadratic in its length, and a table of every code point costs eight
//! bytes each. [`Chars`] keeps the byte offset of every [`STRIDE`]-th code point instead
//! (none for ASCII, where the two agree), so a range is found in at most `STRIDE` steps.

use std::ops::Range;

/// Code points between two marks of the table.
pub const STRIDE: usize = 64;

/// A text with a sparse table of its code-point boundaries.
#[derive(Debug, Clone)]
pub struct Chars<'a> {
    text: &'a str,
    /// Length in code points.
    len: usize,
    /// Byte offset of code point `k * STRIDE`, for each `k`; empty for ASCII text.
    marks: Vec<usize>,
}

impl<'a> Chars<'a> {
    /// The table of `text`: one pass over it.
    pub fn new(text: &'a str) -> Chars<'a> {
        if text.is_ascii() {
            return Chars {
                text,
                len: text.len(),
                marks: Vec::new(),
            };
        }
        let mut marks = Vec::with_capacity(text.len() / STRIDE + 1);
        let mut len = 0;
        for (k, (at, _)) in text.char_indices().enumerate() {
            if k % STRIDE == 0 {
                marks.push(at);
            }
            len = k + 1;
        }
        Chars { text, len, marks }
    }

    /// Length in code points.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty text.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Byte offset of code point `at` (`at <= len`).
    fn byte(&self, at: usize) -> usize {
        if at >= self.len {
            return self.text.len();
        }
        if self.marks.is_empty() {
            return at;
        }
        let from = self.marks[at / STRIDE];
        let skip = at % STRIDE;
        match self.text[from..].char_indices().nth(skip) {
            Some((b, _)) => from + b,
            None => self.text.len(),
        }
    }

    /// Code points `start..end`, or `None` when the text does not reach that far. A
    /// reversed range is the empty slice at `start`.
    pub fn get(&self, start: usize, end: usize) -> Option<&'a str> {
        if start > self.len || end > self.len {
            return None;
        }
        let from = self.byte(start);
        if end <= start {
            return Some(&self.text[from..from]);
        }
        Some(&self.text[from..self.byte(end)])
    }

    /// Clamps a code-point range to the text (an empty range when reversed).
    pub fn clamp(&self, start: usize, end: usize) -> Range<usize> {
        let end = end.min(self.len);
        start.min(end)..end
    }

    /// Code points `start..end`, clamped to the text.
    pub fn slice(&self, start: usize, end: usize) -> &'a str {
        let r = self.clamp(start, end);
        self.get(r.start, r.end).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slices_by_code_point_and_clamps() {
        let t = Chars::new("黄河a🙂b");
        assert_eq!(t.len(), 5);
        assert_eq!(t.slice(1, 4), "河a🙂");
        assert_eq!(t.slice(3, 99), "🙂b");
        assert_eq!(t.slice(4, 2), "");
        assert_eq!(t.slice(50, 60), "");
        assert_eq!(t.get(0, 5), Some("黄河a🙂b"));
        assert_eq!(t.get(5, 5), Some(""));
        assert_eq!(t.get(2, 6), None);
        assert_eq!(t.get(6, 6), None);
        assert_eq!(t.get(3, 1), Some(""));
    }

    /// What the table must agree with: a walk from the text's start.
    fn walked(text: &str, start: usize, end: usize) -> Option<&str> {
        let mut bytes = text.char_indices().map(|(b, _)| b).chain([text.len()]);
        let from = bytes.nth(start)?;
        let to = if end > start {
            bytes.nth(end - start - 1)?
        } else {
            from
        };
        Some(&text[from..to])
    }

    proptest! {
        #[test]
        fn agrees_with_a_walk_from_the_start(
            text in "[a-z 黄河🙂。]{0,300}",
            start in 0usize..320,
            len in 0usize..200,
        ) {
            let t = Chars::new(&text);
            prop_assert_eq!(t.len(), text.chars().count());
            let end = start + len;
            prop_assert_eq!(t.get(start, end), walked(&text, start, end));
            prop_assert_eq!(t.get(end, start), walked(&text, end, start));
        }
    }
}
