//! The checks of the fuzz targets (`fuzz/`), one function per target, each taking the
//! fuzzer's bytes and panicking if an invariant breaks. They live in the library so that
//! the same checks run on the committed corpus in a stable `cargo test`
//! (`tests/fuzz_corpus.rs`) as under libFuzzer. Not a public API: hidden from the docs.

use prost::Message;

use crate::engine::Settings;
use crate::grpc::convert::{query_options, report_from_pb};
use crate::grpc::pb;
use crate::text::normalize::{normalize, tokenize, tokenize_graphemes};
use crate::text::paragraph::{Split, split_paragraphs_with};

/// Proto → domain: a `SubmitRequest`'s options and a `Report` (what `scan --server`
/// converts back) from arbitrary bytes. Never panics; accepted options are valid, and
/// every accepted report's offsets are ordered ranges.
pub fn convert(data: &[u8]) {
    if let Ok(req) = pb::SubmitRequest::decode(data) {
        let defaults = Settings::default().query_options();
        if let Ok(opts) = query_options(req.options, defaults) {
            assert!(opts.validate().is_ok(), "accepted invalid options {opts:?}");
        }
    }
    if let Ok(report) = pb::Report::decode(data)
        && let Ok(report) = report_from_pb(report, "fuzzed")
    {
        for p in &report.paragraphs {
            assert!(p.start <= p.end, "paragraph range {}..{}", p.start, p.end);
            for m in &p.matches {
                assert!(m.source.start <= m.source.end);
                for s in &m.spans {
                    assert!(s.start <= s.end && s.source_start <= s.source_end, "{s:?}");
                }
            }
        }
    }
}

/// The normalizer and both tokenizers on arbitrary text: no panic, the fast tokenizer
/// gives exactly the reference tokenizer's tokens, and every token is a range of code
/// points of the text, after the previous one (or the same range), whose normalized
/// form holds a letter or digit (the text
/// itself may not: NFKC turns the Kangxi radical `⼕` into the ideograph `匚`).
pub fn tokenize_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let chars: Vec<char> = text.chars().collect();
    let norm = normalize(text);
    assert_eq!(norm.text.chars().count(), norm.origin.len());
    for &(start, end) in &norm.origin {
        assert!(start < end && end as usize <= chars.len(), "{start}..{end}");
    }
    let tokens = tokenize(text);
    assert_eq!(
        tokens,
        tokenize_graphemes(text),
        "fast path differs on {text:?}"
    );
    // Tokens are in order and do not overlap, except that one character NFKC expands into
    // several of an unspaced script (`㌿` → `ホン`) gives several tokens of its range.
    let mut last = (0, 0);
    for t in &tokens {
        assert!(t.start < t.end && t.end as usize <= chars.len(), "{t:?}");
        assert!(
            t.start >= last.1 || (t.start, t.end) == last,
            "{t:?} overlaps {last:?}"
        );
        last = (t.start, t.end);
        let piece: String = chars[t.start as usize..t.end as usize].iter().collect();
        let normalized = normalize(&piece).text;
        assert!(normalized.chars().any(char::is_alphanumeric), "{piece:?}");
    }
}

/// Paragraph splitting, every way: paragraphs are in order, do not overlap, have content,
/// and their byte and code-point offsets agree and slice the text.
pub fn paragraphs(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for split in [Split::Auto, Split::BlankLines, Split::Lines, Split::None] {
        let mut last = (0, 0, 0);
        for (i, p) in split_paragraphs_with(text, split).iter().enumerate() {
            assert_eq!(p.index, i);
            let content = text.get(p.byte_start..p.byte_end).unwrap_or_else(|| {
                panic!(
                    "{split:?}: bytes {}..{} do not slice",
                    p.byte_start, p.byte_end
                )
            });
            assert!(
                !content.trim().is_empty(),
                "{split:?}: empty paragraph {p:?}"
            );
            assert_eq!(text[..p.byte_start].chars().count(), p.start, "{split:?}");
            assert_eq!(content.chars().count(), p.end - p.start, "{split:?}");
            assert_eq!(p.text(text), content);
            assert!(
                p.byte_start >= last.0 && p.line > last.2 || i == 0,
                "{split:?}: out of order"
            );
            assert!(
                p.byte_start >= last.1,
                "{split:?}: overlaps the previous paragraph"
            );
            assert_eq!(
                text[..p.byte_start].matches('\n').count() + 1,
                p.line,
                "{split:?}"
            );
            last = (p.byte_start, p.byte_end, p.line);
        }
    }
}

/// The batch's JSON Lines record parser against `serde_json`: never panics, and when
/// `serde_json` reads the line as one object whose `text` is a string, the parser accepts
/// it with that text and the `id` as JSON; when `serde_json` reads an object without a
/// string `text`, or not an object, it refuses it. (It may accept a line `serde_json`
/// refuses: the values of other fields are skipped unchecked, so a number out of `f64`'s
/// range there is no error.)
pub fn jsonl_record(data: &[u8]) {
    let parsed = crate::batch::parse_default_record(data);
    let Ok(reference) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let expected = reference.as_object().and_then(|object| {
        let text = object.get("text")?.as_str()?;
        Some((object.get("id").map(|id| id.to_string()), text.to_string()))
    });
    match (parsed, expected) {
        (Ok(got), Some(want)) => assert_eq!(got, want),
        (Err(_), None) => {}
        (got, want) => panic!("parse_record gave {got:?}, serde_json {want:?}"),
    }
}
