//! Page-break repair: find paragraphs cut at a page or column break and the block that
//! continues them, so the two can be judged as one paragraph.
//!
//! A layout export cuts a paragraph where its page ended and prints the rest pages later,
//! often after other articles' text. The cut paragraph lacks its sentence end; its
//! continuation starts mid-sentence. This module finds such (cut, continuation) pairs
//! ([`find_joins`]) and turns a document's paragraphs into [`Unit`]s, each one paragraph
//! or a repaired one made of several pieces, that keep the offsets of every piece: spans
//! found in a repaired paragraph map back to slices of the original text
//! ([`JoinedText::to_document`]). Nothing is rewritten: the stored text stays as sent.
//!
//! # Evidence
//!
//! A paragraph is *cut* when it is prose (it has a clause or sentence mark somewhere, or
//! at least eight words: headings and bylines have neither) that is not a heading and does not end with a sentence
//! or clause end (`。！？…；：.!?;:`, closing quotes and brackets aside); a final hyphen
//! after a letter is a cut mid-word. A later paragraph may continue it on three kinds
//! of evidence:
//!
//! - **across**: the text reads across the break. A run of one or two tokens on each side
//!   (Chinese characters, or words) occurs inside some other paragraph of the document,
//!   while the continuation's own opening (one token longer) occurs nowhere else: "治" |
//!   "理”行动" reads as 治理, seen 36 times, and "理行" is never seen alone. A hyphen cut
//!   reads across when the joined word occurs elsewhere.
//! - **fragment**: the continuation cannot start a sentence: it opens with a lower-case
//!   letter, with punctuation, or with a closing quote or bracket whose opening is not in
//!   its first clause (`理”行动，…`).
//! - **adjacent**: it is the very next paragraph.
//!
//! # Unambiguous joins
//!
//! [`find_joins`] accepts pairs in three rounds, strongest first: (1) the text reads across
//! and is seen at least twice elsewhere; (2) the next paragraph, with either kind of
//! other evidence; (3) a fragment, when it is the only candidate for its cut and the cut
//! the only one for it. In each round a pair is taken only if it is the single best for
//! its cut and for its continuation; a tie (two identical copies of a continuation, two
//! identical cuts) joins nothing. A cut whose continuation is not in the document — lost,
//! or printed only in another copy — stays as it is: [`cut_paragraphs`] lists every cut
//! so a report can say which were left open.

use std::collections::HashMap;

use super::normalize::{Token, WORD_WEIGHT, is_unspaced_script, tokenize};
use super::paragraph::ParagraphSpan;

/// Whether page-break repair runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repair {
    /// Paragraphs are judged as split.
    Off,
    /// Cut paragraphs are joined with their continuations where the evidence is
    /// unambiguous (see the module docs).
    #[default]
    Auto,
}

/// Where a paragraph was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakKind {
    /// Between words or characters, mid-sentence.
    MidSentence,
    /// Inside a word, marked by a hyphen at the end of the cut paragraph (the hyphen is
    /// not part of the repaired text).
    MidWord,
}

/// Why a continuation was joined to a cut paragraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Evidence {
    /// How often the text across the break occurs inside other paragraphs (0: not
    /// seen).
    pub across: u32,
    /// The continuation cannot start a sentence.
    pub fragment: bool,
    /// The continuation is the next paragraph.
    pub adjacent: bool,
}

/// A cut paragraph and the paragraph that continues it (indexes into the spans given to
/// [`find_joins`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Join {
    /// The paragraph cut at the break.
    pub cut: usize,
    /// The paragraph that continues it, later in the document.
    pub continuation: usize,
    /// Where the cut fell.
    pub kind: BreakKind,
    /// What shows it.
    pub evidence: Evidence,
}

/// What the repair needs to know about one paragraph.
struct Block {
    tokens: Vec<Token>,
    /// `Some` when the paragraph is cut.
    cut: Option<BreakKind>,
    /// Can continue a cut paragraph: prose and not a heading.
    prose: bool,
    fragment: bool,
}

/// Sentence and clause ends: a paragraph ending with one of these is not cut.
fn is_end(c: char) -> bool {
    matches!(
        c,
        '。' | '！' | '？' | '…' | '；' | '：' | '.' | '!' | '?' | ';' | ':' | '．' | '｡'
    )
}

/// Marks that show a paragraph is running text (headings and bylines have none).
fn is_clause_mark(c: char) -> bool {
    matches!(
        c,
        '，' | '。' | '；' | '！' | '？' | ',' | '.' | ';' | '!' | '?'
    )
}

fn is_closer(c: char) -> bool {
    matches!(
        c,
        '”' | '’' | '」' | '』' | '）' | ')' | '》' | '】' | ']' | '"' | '\'' | '〉'
    )
}

fn opener_of(c: char) -> Option<char> {
    Some(match c {
        '”' => '“',
        '’' => '‘',
        '」' => '「',
        '』' => '『',
        '）' => '（',
        ')' => '(',
        '》' => '《',
        '】' => '【',
        ']' => '[',
        '〉' => '〈',
        _ => return None,
    })
}

/// True when `text` opens in the middle of a sentence, by its form alone.
fn opens_as_fragment(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if first.is_lowercase() || matches!(first, '，' | '、' | '。' | '；' | '：' | ',' | ';') {
        return true;
    }
    if is_closer(first) && opener_of(first).is_some() {
        return true;
    }
    // A closing quote or bracket in the first clause whose opening is not before it.
    let clause = text
        .split(['，', '。', '；', '！', '？', ',', '.', ';'])
        .next()
        .unwrap_or("");
    let mut open: Vec<char> = Vec::new();
    for c in clause.chars() {
        if let Some(o) = opener_of(c) {
            if open.last() == Some(&o) {
                open.pop();
            } else {
                return true;
            }
        } else if matches!(
            c,
            '“' | '‘' | '「' | '『' | '（' | '(' | '《' | '【' | '[' | '〈'
        ) {
            open.push(c);
        }
    }
    false
}

/// True when the line holding `span` starts with a Markdown heading marker.
fn is_heading(text: &str, span: &ParagraphSpan) -> bool {
    let line_start = text[..span.byte_start].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..span.byte_start]
        .trim_start()
        .starts_with('#')
}

fn block(text: &str, span: &ParagraphSpan) -> Block {
    let body = span.text(text);
    let heading = is_heading(text, span);
    let tokens = tokenize(body);
    // Running text has clause marks; a sentence cut before its first one is still prose
    // when it has many words (headings and bylines are short; Chinese prose has a comma
    // every few characters).
    let words = tokens.iter().filter(|t| t.weight == WORD_WEIGHT).count();
    let prose = !heading && (body.chars().any(is_clause_mark) || words >= 8);
    let mut rev = body.chars().rev();
    let cut = match (rev.next(), rev.next()) {
        _ if !prose => None,
        // The hyphen must end the paragraph itself: the repaired text drops it.
        (Some('-'), Some(c)) if c.is_alphabetic() => Some(BreakKind::MidWord),
        _ => match body.trim_end_matches(is_closer).chars().next_back() {
            Some(c) if !is_end(c) => Some(BreakKind::MidSentence),
            _ => None,
        },
    };
    Block {
        tokens,
        cut,
        prose,
        fragment: opens_as_fragment(body),
    }
}

fn ngram_key(tokens: &[Token]) -> u64 {
    tokens
        .iter()
        .fold(tokens.len() as u64, |h, t| h.rotate_left(17) ^ t.hash)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Counts of token n-grams (n = 1..=4) inside the document's distinct paragraphs, as a
/// sorted list of n-gram keys, for the n-grams that can be asked for: single tokens, and
/// longer ones starting with a token that ends a cut paragraph or opens a paragraph.
struct Grams(Vec<u64>);

impl Grams {
    fn new(blocks: &[Block]) -> Grams {
        let mut wanted = std::collections::HashSet::new();
        for b in blocks {
            if b.cut.is_some() {
                wanted.extend(b.tokens.iter().rev().take(2).map(|t| t.hash));
            }
            wanted.extend(b.tokens.first().map(|t| t.hash));
        }
        let mut seen = std::collections::HashSet::new();
        let mut keys = Vec::new();
        for b in blocks {
            if !seen.insert(ngram_key(&b.tokens)) {
                continue; // an identical copy says nothing new about the language
            }
            let t = &b.tokens;
            // Every word counts once (a hyphen cut asks for the joined word), longer
            // n-grams only from the wanted starts.
            keys.extend(t.windows(1).map(ngram_key));
            for i in (0..t.len()).filter(|&i| wanted.contains(&t[i].hash)) {
                keys.extend((i + 2..=(i + 4).min(t.len())).map(|end| ngram_key(&t[i..end])));
            }
        }
        keys.sort_unstable();
        Grams(keys)
    }

    fn count(&self, tokens: &[Token]) -> u32 {
        let key = ngram_key(tokens);
        let first = self.0.partition_point(|&k| k < key);
        self.0[first..].iter().take_while(|&&k| k == key).count() as u32
    }
}

/// Occurrences of `gram` in `tokens`.
fn occurrences(tokens: &[Token], gram: &[Token]) -> u32 {
    let hashes: Vec<u64> = gram.iter().map(|t| t.hash).collect();
    tokens
        .windows(gram.len())
        .filter(|w| w.iter().map(|t| t.hash).eq(hashes.iter().copied()))
        .count() as u32
}

/// A document as the repair sees it.
struct Doc<'a> {
    text: &'a str,
    spans: &'a [ParagraphSpan],
    blocks: Vec<Block>,
    grams: Grams,
    /// `opening_seen[i][b - 1]`: the first `b + 1` tokens of paragraph `i` occur in
    /// another paragraph.
    opening_seen: Vec<[bool; 2]>,
}

impl Doc<'_> {
    /// How often the text reads across the break from paragraph `ci` into `ni` elsewhere.
    fn across(&self, ci: usize, ni: usize, kind: BreakKind) -> u32 {
        let (text, spans, grams) = (self.text, self.spans, &self.grams);
        let (h, c) = (&self.blocks[ci].tokens, &self.blocks[ni].tokens);
        let (Some(_), Some(_)) = (h.last(), c.first()) else {
            return 0;
        };
        if kind == BreakKind::MidWord {
            let chars = |span: &ParagraphSpan, t: &Token| -> String {
                span.text(text)
                    .chars()
                    .skip(t.start as usize)
                    .take((t.end - t.start) as usize)
                    .collect()
            };
            let joined = format!(
                "{}{}",
                chars(&spans[ci], &h[h.len() - 1]),
                chars(&spans[ni], &c[0])
            );
            return match tokenize(&joined).as_slice() {
                [one] => grams.count(std::slice::from_ref(one)),
                _ => 0,
            };
        }
        let mut best = 0;
        for a in 1..=2.min(h.len()) {
            for b in 1..=2.min(c.len()) {
                // The opening is seen on its own somewhere else: it need not be a fragment
                // of anything.
                if self.opening_seen[ni][b - 1] {
                    continue;
                }
                let mut gram: Vec<Token> = h[h.len() - a..].to_vec();
                gram.extend_from_slice(&c[..b]);
                best = best.max(grams.count(&gram));
            }
        }
        best
    }
}

/// The paragraphs of `spans` that are cut (see the module docs), in order.
pub fn cut_paragraphs(text: &str, spans: &[ParagraphSpan]) -> Vec<usize> {
    spans
        .iter()
        .enumerate()
        .filter(|(_, s)| block(text, s).cut.is_some())
        .map(|(i, _)| i)
        .collect()
}

/// The unambiguous (cut, continuation) pairs of a document, in order of the cut.
/// `spans` are the document's paragraphs in order, as [`super::split_paragraphs`] gives
/// them.
pub fn find_joins(text: &str, spans: &[ParagraphSpan]) -> Vec<Join> {
    let blocks: Vec<Block> = spans.iter().map(|s| block(text, s)).collect();
    if blocks.iter().all(|b| b.cut.is_none()) {
        return Vec::new();
    }
    let grams = Grams::new(&blocks);
    let opening_seen = blocks
        .iter()
        .map(|b| {
            [1, 2].map(|n| {
                let opening = b.tokens.get(..n + 1).unwrap_or(&[]);
                !opening.is_empty() && grams.count(opening) > occurrences(&b.tokens, opening)
            })
        })
        .collect();
    let doc = Doc {
        text,
        spans,
        blocks,
        grams,
        opening_seen,
    };
    let mut candidates: Vec<Join> = Vec::new();
    for (ci, cut) in doc.blocks.iter().enumerate() {
        let Some(kind) = cut.cut else { continue };
        for (ni, next) in doc.blocks.iter().enumerate().skip(ci + 1) {
            if !next.prose || next.tokens.is_empty() {
                continue;
            }
            let evidence = Evidence {
                across: doc.across(ci, ni, kind),
                fragment: next.fragment,
                adjacent: ni == ci + 1,
            };
            if evidence.across > 0 || evidence.fragment {
                candidates.push(Join {
                    cut: ci,
                    continuation: ni,
                    kind,
                    evidence,
                });
            }
        }
    }
    let rounds: [fn(&Evidence) -> bool; 3] = [
        |e| e.across >= 2,
        |e| e.adjacent && (e.across >= 1 || e.fragment),
        |e| e.fragment,
    ];
    let strength = |e: &Evidence| (e.across.min(2), e.adjacent, e.fragment);
    let mut joins: Vec<Join> = Vec::new();
    let mut taken_cut = vec![false; spans.len()];
    let mut taken_next = vec![false; spans.len()];
    for (round, qualifies) in rounds.iter().enumerate() {
        let open: Vec<&Join> = candidates
            .iter()
            .filter(|j| !taken_cut[j.cut] && !taken_next[j.continuation])
            .collect();
        let pool: Vec<&Join> = open
            .iter()
            .copied()
            .filter(|j| qualifies(&j.evidence))
            .collect();
        let mut accepted = Vec::new();
        for j in &pool {
            let rivals = |same: &dyn Fn(&Join) -> bool| {
                pool.iter()
                    .filter(|k| same(k) && !std::ptr::eq(**k, *j))
                    .any(|k| strength(&k.evidence) >= strength(&j.evidence))
            };
            if rivals(&|k| k.cut == j.cut) || rivals(&|k| k.continuation == j.continuation) {
                continue;
            }
            // The last round takes a fragment only when nothing else could go there.
            if round == 2
                && open.iter().any(|k| {
                    !std::ptr::eq(*k, *j) && (k.cut == j.cut || k.continuation == j.continuation)
                })
            {
                continue;
            }
            accepted.push(**j);
        }
        for j in accepted {
            taken_cut[j.cut] = true;
            taken_next[j.continuation] = true;
            joins.push(j);
        }
    }
    joins.sort_by_key(|j| j.cut);
    joins
}

/// One paragraph as it is judged: a single block, or a cut block and its continuations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The pieces in reading order (the first is the paragraph where the unit starts).
    pub pieces: Vec<ParagraphSpan>,
    /// `breaks[i]` is how `pieces[i]` was cut before `pieces[i + 1]`.
    pub breaks: Vec<BreakKind>,
}

impl Unit {
    /// True for a repaired paragraph (two or more pieces).
    pub fn is_repaired(&self) -> bool {
        self.pieces.len() > 1
    }

    /// The text to analyze, and where each of its characters is in the document.
    pub fn joined_text(&self, document: &str) -> JoinedText {
        let mut text = String::new();
        let mut segments = Vec::with_capacity(self.pieces.len());
        let mut at = 0usize;
        for (i, piece) in self.pieces.iter().enumerate() {
            let mut body = piece.text(document);
            let mut len = piece.end - piece.start;
            if self.breaks.get(i) == Some(&BreakKind::MidWord) {
                body = &body[..body.len() - 1]; // the hyphen: one byte, one code point
                len -= 1;
            }
            if i > 0 && self.breaks[i - 1] == BreakKind::MidSentence {
                let spaced = |c: Option<char>| c.is_some_and(|c| !is_unspaced_script(c));
                if spaced(text.chars().next_back()) && spaced(body.chars().next()) {
                    text.push(' ');
                    at += 1;
                }
            }
            segments.push(Segment {
                start: at,
                document_start: piece.start,
                len,
            });
            text.push_str(body);
            at += len;
        }
        JoinedText { text, segments }
    }
}

/// A run of a [`JoinedText`] that is a run of the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    start: usize,
    document_start: usize,
    len: usize,
}

/// The text of a [`Unit`] as one string, with the map back to the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedText {
    /// The pieces' texts, joined (a space between two words cut mid-sentence; nothing
    /// between Chinese characters; a hyphen at a mid-word cut dropped).
    pub text: String,
    segments: Vec<Segment>,
}

impl JoinedText {
    /// The document code-point ranges that code points `start..end` of [`Self::text`]
    /// come from, one per piece they touch (a separator added by the join maps to
    /// nothing).
    pub fn to_document(&self, start: usize, end: usize) -> Vec<(usize, usize)> {
        self.segments
            .iter()
            .filter_map(|s| {
                let (a, b) = (start.max(s.start), end.min(s.start + s.len));
                (a < b).then(|| {
                    (
                        s.document_start + a - s.start,
                        s.document_start + b - s.start,
                    )
                })
            })
            .collect()
    }
}

/// The document's paragraphs as units: joined pieces become one unit (in the place of
/// their first piece), every other paragraph is a unit of its own.
pub fn units(spans: &[ParagraphSpan], joins: &[Join]) -> Vec<Unit> {
    let mut next: HashMap<usize, (usize, BreakKind)> = HashMap::new();
    let mut continues = vec![false; spans.len()];
    for j in joins {
        next.insert(j.cut, (j.continuation, j.kind));
        continues[j.continuation] = true;
    }
    let mut out = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        if continues[i] {
            continue;
        }
        let mut unit = Unit {
            pieces: vec![*span],
            breaks: Vec::new(),
        };
        let mut at = i;
        while let Some(&(n, kind)) = next.get(&at) {
            unit.pieces.push(spans[n]);
            unit.breaks.push(kind);
            at = n;
        }
        out.push(unit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::split_paragraphs;

    fn joins(doc: &str) -> Vec<(usize, usize, BreakKind)> {
        find_joins(doc, &split_paragraphs(doc))
            .into_iter()
            .map(|j| (j.cut, j.continuation, j.kind))
            .collect()
    }

    fn slice(doc: &str, (a, b): (usize, usize)) -> String {
        doc.chars().skip(a).take(b - a).collect()
    }

    #[test]
    fn english_cut_mid_sentence_joins_the_next_paragraph() {
        let doc = "The council met on Monday and, after a long debate, decided to\n\n\
                   postpone the vote on the new budget until May.\n\nA new paragraph starts here.";
        assert_eq!(joins(doc), [(0, 1, BreakKind::MidSentence)]);
        let spans = split_paragraphs(doc);
        let units = units(&spans, &find_joins(doc, &spans));
        assert_eq!(units.len(), 2);
        let joined = units[0].joined_text(doc);
        assert!(
            joined.text.contains("decided to postpone the vote"),
            "{}",
            joined.text
        );
        // Every range maps back onto the text it came from.
        let start = joined.text.find("to postpone").unwrap();
        let ranges = joined.to_document(start, start + "to postpone".len());
        let pieces: Vec<String> = ranges.iter().map(|&r| slice(doc, r)).collect();
        assert_eq!(pieces, ["to", "postpone"]);
    }

    #[test]
    fn english_hyphen_cut_joins_the_word_and_drops_the_hyphen() {
        let doc = "Rapid development changed the valley. The pace of deve-\n\n\
                   lopment slowed after the floods, and the mills closed.";
        assert_eq!(joins(doc), [(0, 1, BreakKind::MidWord)]);
        let spans = split_paragraphs(doc);
        let joins = find_joins(doc, &spans);
        assert_eq!(
            joins[0].evidence.across, 1,
            "the joined word occurs elsewhere"
        );
        let joined = units(&spans, &joins)[0].joined_text(doc);
        assert!(
            joined.text.contains("pace of development slowed"),
            "{}",
            joined.text
        );
        let at = joined.text.find("development slowed").unwrap();
        let at = joined.text[..at].chars().count();
        let ranges = joined.to_document(at, at + "development".len());
        let pieces: Vec<String> = ranges.iter().map(|&r| slice(doc, r)).collect();
        assert_eq!(pieces, ["deve", "lopment"]);
    }

    #[test]
    fn english_continuation_after_an_inserted_block_is_found_when_it_is_the_only_one() {
        let doc = "Officials said the bridge would reopen once the engineers had\n\n\
                   ADVERTISEMENT. Subscribe today and save on every issue.\n\n\
                   finished their inspection of the damaged supports.";
        assert_eq!(joins(doc), [(0, 2, BreakKind::MidSentence)]);
    }

    #[test]
    fn two_cuts_and_two_fragments_far_apart_are_ambiguous() {
        let doc = "The first report described how the river had\n\n\
                   The second report noted that the harvest was\n\n\
                   Unrelated text about the weather, which was fine.\n\n\
                   risen by two metres in a single night.\n\n\
                   smaller than in any year since records began.";
        assert_eq!(joins(doc), []);
    }

    #[test]
    fn headings_lists_and_complete_paragraphs_are_not_cut() {
        let doc = "# Introduction\n\nChapter 3\n\nThe results follow:\n\n\
                   they are listed below.\n\nAll is well.\n\nsmall letters start this one.";
        assert!(cut_paragraphs(doc, &split_paragraphs(doc)).is_empty());
        assert_eq!(joins(doc), []);
    }

    #[test]
    fn chinese_cut_joins_a_continuation_pages_later_that_reads_across() {
        // The break falls inside 治理, a word the document uses elsewhere; the
        // continuation opens with a closing quote whose opening is on the other side.
        let doc = "# 甲\n\n构建全方位治理格局，大力实施“党建+基层治\n\n\
                   另一篇文章的内容，讲的是黄河流域的生态保护。\n\n\
                   理”行动，压实责任，全面提升基层治理的主导性。\n\n\
                   推动基层治理从“上级着力”向“上下用力”转变。";
        assert_eq!(joins(doc), [(1, 3, BreakKind::MidSentence)]);
        let spans = split_paragraphs(doc);
        let unit = units(&spans, &find_joins(doc, &spans))
            .into_iter()
            .find(Unit::is_repaired)
            .unwrap();
        let joined = unit.joined_text(doc);
        assert!(joined.text.contains("基层治理”行动"), "{}", joined.text);
        let total: usize = joined.text.chars().count();
        let back: String = joined
            .to_document(0, total)
            .into_iter()
            .map(|r| slice(doc, r))
            .collect();
        assert_eq!(back, joined.text);
    }

    proptest::proptest! {
        // Whatever the text, joins point forward, each paragraph is in one unit, and
        // every unit's text maps back onto slices of the document.
        #[test]
        fn units_cover_every_paragraph_once(text in "[a-c中文，。 \n-]{0,80}") {
            let spans = split_paragraphs(&text);
            let joins = find_joins(&text, &spans);
            for j in &joins {
                proptest::prop_assert!(j.cut < j.continuation);
            }
            let units = units(&spans, &joins);
            let mut seen: Vec<usize> = units.iter().flat_map(|u| u.pieces.iter().map(|p| p.index)).collect();
            seen.sort_unstable();
            proptest::prop_assert_eq!(seen, (0..spans.len()).collect::<Vec<_>>());
            for u in &units {
                let joined = u.joined_text(&text);
                let n = joined.text.chars().count();
                for (a, b) in joined.to_document(0, n) {
                    proptest::prop_assert!(a < b && b <= text.chars().count());
                }
            }
        }
    }
}
