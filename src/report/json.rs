//! The JSON wire types of a report, and the JSON Lines renderer of `neardup scan --format
//! json`: one set of serde structs for everything that writes (or reads) report JSON.
//! The gRPC wire format is the proto's; these are its JSON Lines counterpart for files and
//! pipes.
//!
//! A report is JSON Lines: one [`ParagraphLine`] per paragraph that has at least one
//! match, in scan order. Offsets are code points; lines are 1-based; paragraphs 0-based.
//! Scores are rounded to four decimals ([`round_score`]).
//!
//! Fields are declared in alphabetical order: the key order of the JSON Lines report
//! since its first release, which consumers that compare lines as text rely on.

use std::io::Write;

use serde::{Deserialize, Serialize};

use super::model::Scan;
use crate::engine::{Match, ParagraphReport};
use crate::verify::round_score;

/// One paragraph that repeats earlier text, and what it repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParagraphLine {
    /// The scanned document's name.
    pub document: String,
    /// One past the paragraph's last code point.
    pub end: usize,
    /// 1-based line of its first character.
    pub line: usize,
    /// Its matches, best first (as the engine orders them).
    pub matches: Vec<MatchLine>,
    /// 0-based index among the document's paragraphs.
    pub paragraph: usize,
    /// Its first code point.
    pub start: usize,
}

/// One earlier paragraph that a paragraph repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchLine {
    /// |Q ∩ S| / |Q|: how much of this paragraph is in the source.
    pub containment: f64,
    /// |Q ∩ S| / |S|: how much of the source is in this paragraph.
    pub containment_source: f64,
    /// The source document's name.
    pub document: String,
    /// One past the source paragraph's last code point.
    pub end: usize,
    /// Jaccard similarity of the shingle sets.
    pub jaccard: f64,
    /// `exact`, `near` or `partial`.
    pub kind: String,
    /// 1-based line of the source paragraph.
    pub line: usize,
    /// 0-based index of the source paragraph in its document.
    pub paragraph: usize,
    /// Shared text: `[start, end, source_start, source_end]`.
    pub spans: Vec<[usize; 4]>,
    /// The source paragraph's first code point.
    pub start: usize,
}

impl ParagraphLine {
    /// The line of paragraph `p` of document `document`.
    pub fn new(document: &str, p: &ParagraphReport) -> ParagraphLine {
        ParagraphLine {
            document: document.to_string(),
            end: p.end,
            line: p.line,
            matches: p.matches.iter().map(MatchLine::from).collect(),
            paragraph: p.index,
            start: p.start,
        }
    }
}

impl From<&Match> for MatchLine {
    fn from(m: &Match) -> MatchLine {
        MatchLine {
            containment: round_score(m.scores.containment),
            containment_source: round_score(m.scores.containment_source),
            document: m.source.name.to_string(),
            end: m.source.end,
            jaccard: round_score(m.scores.jaccard),
            kind: m.kind.as_str().to_string(),
            line: m.source.line,
            paragraph: m.source.paragraph,
            spans: m
                .spans
                .iter()
                .map(|s| [s.start, s.end, s.source_start, s.source_end])
                .collect(),
            start: m.source.start,
        }
    }
}

/// Writes the JSON Lines report: one line per paragraph with at least one match.
pub fn write(out: &mut dyn Write, scan: &Scan) -> std::io::Result<()> {
    for doc in &scan.documents {
        for p in doc
            .report
            .paragraphs
            .iter()
            .filter(|p| !p.matches.is_empty())
        {
            serde_json::to_writer(&mut *out, &ParagraphLine::new(&doc.name, p))?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, Settings};
    use crate::report::Scan;

    #[test]
    fn lines_keep_their_format_and_read_back() {
        let para = "The quick brown fox jumps over the lazy dog near the river bank today.";
        let engine = Engine::new(Settings::default()).unwrap();
        let docs =
            crate::scan::scan(&engine, [("a".to_string(), format!("{para}\n\n{para}"))]).unwrap();
        let mut out = Vec::new();
        write(&mut out, &Scan::new(docs)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"document\":\"a\",\"end\":142,\"line\":3,\"matches\":[{\"containment\":1.0,\
             \"containment_source\":1.0,\"document\":\"a\",\"end\":70,\"jaccard\":1.0,\
             \"kind\":\"exact\",\"line\":1,\"paragraph\":0,\"spans\":[[72,141,0,69]],\
             \"start\":0}],\"paragraph\":1,\"start\":72}\n"
        );
        let line: ParagraphLine = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(
            (line.paragraph, line.matches[0].kind.as_str()),
            (1, "exact")
        );
    }
}
