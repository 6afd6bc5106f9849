//! Splitting a document into paragraphs that keep their place in the original text.
//!
//! A paragraph is a run of non-blank lines; a text with no blank line at all is split
//! at every line break instead (page-layout exports often have no blank lines).
//! Markdown heading markers (`#`) and surrounding whitespace are not content, so a
//! paragraph's range starts after them. Offsets are in Unicode code points (what
//! Python's `text[start:end]` takes) and in bytes (what Rust slicing takes).

/// Where one paragraph sits in its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParagraphSpan {
    /// 0-based position among the document's paragraphs.
    pub index: usize,
    /// First code point of the paragraph's content.
    pub start: usize,
    /// One past the last code point of the paragraph's content.
    pub end: usize,
    /// First byte of the paragraph's content.
    pub byte_start: usize,
    /// One past the last byte of the paragraph's content.
    pub byte_end: usize,
    /// 1-based line of the paragraph's first character.
    pub line: usize,
}

impl ParagraphSpan {
    /// The paragraph's content as a slice of the document it was split from.
    pub fn text<'a>(&self, document: &'a str) -> &'a str {
        &document[self.byte_start..self.byte_end]
    }
}

struct Line {
    byte_start: usize,
    byte_end: usize,
    char_start: usize,
    number: usize,
    blank: bool,
}

/// How a text is cut into paragraphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Split {
    /// At blank lines; at every line break when the text has no blank line.
    #[default]
    Auto,
    /// At blank lines only.
    BlankLines,
    /// At every line break.
    Lines,
    /// The whole text is one paragraph (for inputs that are already paragraphs).
    None,
}

/// Splits `text` into paragraphs, in order, the [`Split::Auto`] way.
pub fn split_paragraphs(text: &str) -> Vec<ParagraphSpan> {
    split_paragraphs_with(text, Split::Auto)
}

/// Splits `text` into paragraphs, in order. Empty paragraphs (a lone `#`) are skipped.
pub fn split_paragraphs_with(text: &str, split: Split) -> Vec<ParagraphSpan> {
    let mut lines = Vec::new();
    let (mut byte, mut chars) = (0, 0);
    for (number, raw) in text.split_inclusive('\n').enumerate() {
        let content = raw.trim_end_matches(['\n', '\r']);
        lines.push(Line {
            byte_start: byte,
            byte_end: byte + content.len(),
            char_start: chars,
            number: number + 1,
            blank: content.trim().is_empty(),
        });
        byte += raw.len();
        chars += raw.chars().count();
    }
    let per_line = match split {
        Split::Auto => !lines.iter().any(|l| l.blank),
        Split::Lines => true,
        Split::BlankLines | Split::None => false,
    };
    let mut blocks: Vec<(usize, usize)> = Vec::new(); // line index ranges, inclusive start, exclusive end
    let mut open: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        match (line.blank, open) {
            (false, None) => open = Some(i),
            (true, Some(s)) if split != Split::None => {
                blocks.push((s, i));
                open = None;
            }
            (false, Some(s)) if per_line => {
                blocks.push((s, i));
                open = Some(i);
            }
            _ => {}
        }
    }
    if let Some(s) = open {
        // With `Split::None` the block runs to the last non-blank line.
        let end = lines
            .iter()
            .rposition(|l| !l.blank)
            .map_or(lines.len(), |i| i + 1);
        blocks.push((s, end.max(s + 1)));
    }

    let mut out = Vec::with_capacity(blocks.len());
    for (first, last) in blocks {
        let (head, tail) = (&lines[first], &lines[last - 1]);
        let block = &text[head.byte_start..tail.byte_end];
        let Some((lead, trimmed)) = content_of(block) else {
            continue;
        };
        let byte_start = head.byte_start + lead;
        let byte_end = byte_start + trimmed.len();
        let start = head.char_start + block[..lead].chars().count();
        let end = start + trimmed.chars().count();
        // The first content character may sit on a later line only if the block
        // opened with whitespace-only text, which cannot happen (blank lines end blocks).
        let line = head.number + block[..lead].matches('\n').count();
        out.push(ParagraphSpan {
            index: out.len(),
            start,
            end,
            byte_start,
            byte_end,
            line,
        });
    }
    out
}

/// Strips surrounding whitespace and a leading Markdown heading marker (`#` to `######`
/// followed by whitespace or the end). Returns the byte offset of the content in `block`
/// and the content, or `None` when nothing is left.
fn content_of(block: &str) -> Option<(usize, &str)> {
    let trimmed_start = block.len() - block.trim_start().len();
    let mut rest = &block[trimmed_start..];
    let hashes = rest.bytes().take_while(|&b| b == b'#').count();
    if (1..=6).contains(&hashes) {
        let after = &rest[hashes..];
        if after.is_empty() || after.starts_with(char::is_whitespace) {
            rest = after;
        }
    }
    let lead_ws = rest.len() - rest.trim_start().len();
    rest = &rest[lead_ws..];
    if rest.starts_with('#') {
        // A closing-hash-only heading such as "## ##" has no content.
        if rest.trim_end().bytes().all(|b| b == b'#') {
            return None;
        }
    }
    let content = rest.trim_end();
    if content.is_empty() {
        return None;
    }
    Some((block.len() - rest.len(), content))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(doc: &str) -> Vec<&str> {
        split_paragraphs(doc).iter().map(|p| p.text(doc)).collect()
    }

    fn slice_chars(doc: &str, start: usize, end: usize) -> String {
        doc.chars().skip(start).take(end - start).collect()
    }

    #[test]
    fn splits_at_blank_lines_and_strips_headings() {
        let doc = "# 标题\n\n第一段，\n继续。\n\n  \n## Second heading\n\nlast";
        assert_eq!(
            texts(doc),
            ["标题", "第一段，\n继续。", "Second heading", "last"]
        );
        let spans = split_paragraphs(doc);
        assert_eq!(
            spans.iter().map(|p| p.line).collect::<Vec<_>>(),
            [1, 3, 7, 9]
        );
        for p in &spans {
            assert_eq!(slice_chars(doc, p.start, p.end), p.text(doc));
        }
    }

    #[test]
    fn text_without_blank_lines_splits_at_line_breaks() {
        let doc = "one line\r\ntwo line\nthree";
        assert_eq!(texts(doc), ["one line", "two line", "three"]);
        assert_eq!(split_paragraphs(doc)[2].line, 3);
    }

    #[test]
    fn hash_without_space_is_content_and_empty_headings_vanish() {
        assert_eq!(
            texts("#hashtag here\n\n#\n\n###### \n\n####### seven"),
            ["#hashtag here", "####### seven"]
        );
        assert!(split_paragraphs("").is_empty());
        assert!(split_paragraphs("\n\n \u{3000}\n").is_empty());
    }

    #[test]
    fn split_modes() {
        let doc = "a\nb\n\nc";
        let with = |split| {
            split_paragraphs_with(doc, split)
                .iter()
                .map(|p| p.text(doc))
                .collect::<Vec<_>>()
        };
        assert_eq!(with(Split::Auto), ["a\nb", "c"]);
        assert_eq!(with(Split::BlankLines), ["a\nb", "c"]);
        assert_eq!(with(Split::Lines), ["a", "b", "c"]);
        assert_eq!(with(Split::None), ["a\nb\n\nc"]);
        assert_eq!(
            split_paragraphs_with("\n# x\n\n", Split::None)[0].text("\n# x\n\n"),
            "x"
        );
    }

    proptest::proptest! {
        // Offsets slice the original text, in code points and in bytes, for any text.
        #[test]
        fn offsets_slice_the_original_text(text in "[a中 #\r\n\u{3000}é\u{301}]{0,60}", mode in 0..4usize) {
            let split = [Split::Auto, Split::BlankLines, Split::Lines, Split::None][mode];
            let spans = split_paragraphs_with(&text, split);
            for (i, p) in spans.iter().enumerate() {
                let by_chars = slice_chars(&text, p.start, p.end);
                proptest::prop_assert_eq!(&by_chars, p.text(&text));
                proptest::prop_assert!(!by_chars.is_empty() && by_chars.trim() == by_chars);
                proptest::prop_assert_eq!(p.index, i);
                let line = text.chars().take(p.start).filter(|&c| c == '\n').count() + 1;
                proptest::prop_assert_eq!(p.line, line);
            }
        }
    }

    #[test]
    fn full_width_space_is_whitespace() {
        let doc = "\u{3000}\u{3000}段落\u{3000}\n\n下一段";
        let spans = split_paragraphs(doc);
        assert_eq!(spans[0].text(doc), "段落");
        assert_eq!((spans[0].start, spans[0].end), (2, 4));
    }
}
