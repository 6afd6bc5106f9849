//! The JSON wire types of a report, and the JSON Lines renderer of `neardup scan --format
//! json`: one set of serde structs for everything that writes (or reads) report JSON.
//! The gRPC wire format is the proto's; these are its JSON Lines counterpart for files and
//! pipes.
//!
//! A report is JSON Lines: one [`ParagraphLine`] per paragraph that has at least one
//! match or is boilerplate (`"boilerplate": true`, with no matches), in scan order (a recycled paragraph cut at a page break carries its repair in
//! `repaired`; the text report lists every repair); with the passage
//! mode (`scan --passages`), each document's lines are followed by its
//! [`AlignmentLine`]s. Offsets are code points; lines are 1-based; paragraphs 0-based.
//! Scores are rounded to four decimals ([`round_score`]).
//!
//! A paragraph that belongs to a passage (a run of paragraphs reprinting a run of one
//! source, [`super::passage`]) carries it in `passages`, one [`PassageLine`] per source;
//! the field is left out when empty, so lines outside passages read as they always did.
//!
//! Fields are declared in alphabetical order: the key order of the JSON Lines report
//! since its first release, which consumers that compare lines as text rely on.

use std::collections::HashMap;
use std::io::Write;

use serde::{Deserialize, Serialize};

use super::model::{Repaired, Scan};
use super::passage::Passage;
use crate::engine::{Match, ParagraphReport};
use crate::verify::round_score;

/// One paragraph that repeats earlier text, and what it repeats; or a boilerplate
/// paragraph (`"boilerplate": true`, no matches).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParagraphLine {
    /// True for boilerplate (left out otherwise).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub boilerplate: bool,
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
    /// The passages it is part of (left out when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passages: Vec<PassageLine>,
    /// When it was cut at a page break and repaired: the joined paragraph (left out
    /// otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repaired: Option<RepairedLine>,
    /// Its first code point.
    pub start: usize,
}

/// A line of the passage mode (`scan --passages` only): reused text between the
/// document and an earlier one, wherever paragraphs begin and end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlignmentLine {
    /// The ranges.
    pub alignment: AlignmentRanges,
    /// The scanned document's name.
    pub document: String,
    /// The source document's name.
    pub source: String,
}

/// The ranges of an [`AlignmentLine`], in code points, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlignmentRanges {
    /// One past its last code point in this document.
    pub end: usize,
    /// One past its last code point in the source.
    pub source_end: usize,
    /// Its first code point in the source.
    pub source_start: usize,
    /// Its first code point in this document.
    pub start: usize,
}

/// A paragraph cut at a page break, joined with its continuation and judged as one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepairedLine {
    /// What the joined paragraph repeats (spans are ranges of the original text, one per
    /// piece a shared run touches).
    pub matches: Vec<MatchLine>,
    /// Its pieces in reading order: `[paragraph, start, end, line]`.
    pub pieces: Vec<[usize; 4]>,
}

impl From<&Repaired> for RepairedLine {
    fn from(r: &Repaired) -> RepairedLine {
        RepairedLine {
            matches: r.matches.iter().map(MatchLine::from).collect(),
            pieces: r
                .pieces
                .iter()
                .map(|p| [p.index, p.start, p.end, p.line])
                .collect(),
        }
    }
}

/// A passage: consecutive recycled paragraphs that follow consecutive paragraphs of one
/// source. Ranges are code points, `[start, end)`; lines are 1-based, first and last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassageLine {
    /// One past its last code point in this document.
    pub end: usize,
    /// Paired paragraphs by kind: `{"exact": n, "near": n, "partial": n}`.
    pub kinds: KindCounts,
    /// Its first and last lines in this document.
    pub lines: [usize; 2],
    /// The paired paragraphs, `[paragraph, source paragraph]`, in order.
    pub pairs: Vec<[usize; 2]>,
    /// Paragraphs inside it that are not paired (short, new or edited).
    pub skipped: Vec<usize>,
    /// The source document's name.
    pub source: String,
    /// One past its last code point in the source.
    pub source_end: usize,
    /// Its first and last lines in the source.
    pub source_lines: [usize; 2],
    /// Its first code point in the source.
    pub source_start: usize,
    /// Its first code point in this document.
    pub start: usize,
}

/// Paired paragraphs of a passage by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounts {
    /// Identical after normalization.
    pub exact: usize,
    /// Lightly edited.
    pub near: usize,
    /// Fragments or supersets.
    pub partial: usize,
    /// Heavily edited copies, found by alignment.
    pub edited: usize,
}

impl From<&Passage> for PassageLine {
    fn from(p: &Passage) -> PassageLine {
        PassageLine {
            end: p.range.end,
            kinds: KindCounts {
                exact: p.kinds.exact,
                near: p.kinds.near,
                partial: p.kinds.partial,
                edited: p.kinds.edited,
            },
            lines: [p.range.first_line, p.range.last_line],
            pairs: p
                .pairs
                .iter()
                .map(|q| [q.paragraph, q.source_paragraph])
                .collect(),
            skipped: p.skipped.clone(),
            source: p.source_name.to_string(),
            source_end: p.source_range.end,
            source_lines: [p.source_range.first_line, p.source_range.last_line],
            source_start: p.source_range.start,
            start: p.range.start,
        }
    }
}

/// One earlier paragraph that a paragraph repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchLine {
    /// For an `edited` match: the share of this paragraph inside aligned runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aligned_coverage: Option<f64>,
    /// For an `edited` match: the share of the source inside aligned runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aligned_coverage_source: Option<f64>,
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
    /// `exact`, `near`, `partial` or `edited`.
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
            boilerplate: p.boilerplate,
            document: document.to_string(),
            end: p.end,
            line: p.line,
            matches: p.matches.iter().map(MatchLine::from).collect(),
            paragraph: p.index,
            passages: Vec::new(),
            repaired: None,
            start: p.start,
        }
    }
}

impl From<&Match> for MatchLine {
    fn from(m: &Match) -> MatchLine {
        MatchLine {
            aligned_coverage: m.aligned.map(|a| round_score(a.coverage)),
            aligned_coverage_source: m.aligned.map(|a| round_score(a.coverage_source)),
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
    for (di, doc) in scan.documents.iter().enumerate() {
        let found = scan.passages(di);
        let passages: Vec<PassageLine> = found.iter().map(PassageLine::from).collect();
        // The passages of each paired paragraph, in order, without a search of every
        // passage's pairs for every paragraph.
        let mut of_paragraph: HashMap<usize, Vec<usize>> = HashMap::new();
        for (k, q) in found.iter().enumerate() {
            for x in &q.pairs {
                let ks = of_paragraph.entry(x.paragraph).or_default();
                if ks.last() != Some(&k) {
                    ks.push(k);
                }
            }
        }
        let repaired = |i: usize| doc.repairs.iter().find(|r| r.pieces[0].index == i);
        for p in doc
            .report
            .paragraphs
            .iter()
            .filter(|p| !p.matches.is_empty() || p.boilerplate)
        {
            let mut line = ParagraphLine::new(&doc.name, p);
            line.repaired = repaired(p.index).map(RepairedLine::from);
            line.passages = of_paragraph.get(&p.index).map_or_else(Vec::new, |ks| {
                ks.iter().map(|&k| passages[k].clone()).collect()
            });
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
        for a in &doc.alignments {
            let r = &a.alignment;
            let line = AlignmentLine {
                alignment: AlignmentRanges {
                    end: r.end,
                    source_end: r.source_end,
                    source_start: r.source_start,
                    start: r.start,
                },
                document: doc.name.to_string(),
                source: a.source.to_string(),
            };
            serde_json::to_writer(&mut *out, &line)?;
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
