//! The human-readable report of `neardup scan`: one block per recycled paragraph (where
//! it is, each match with its scores and source, an excerpt of both sides), then the
//! paragraphs repaired at page breaks and what they repeat joined, then the passages
//! (runs of paragraphs reprinting a run of one source, [`super::passage`]), the passage
//! mode's reused text when it ran, then a summary line. ANSI colour when asked for.

use std::collections::HashMap;
use std::io::Write;

use super::model::Scan;
use crate::engine::ParagraphStatus;
use crate::text::Chars;
use crate::verify::MatchKind;

/// The first `n` characters of a paragraph on one line, with an ellipsis when cut.
fn excerpt(text: &Chars, start: usize, end: usize, n: usize) -> String {
    let len = end.saturating_sub(start);
    let mut s: String = text
        .slice(start, start + len.min(n))
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    if len > n {
        s.push('…');
    }
    s
}

/// The 1-based line of code point `at` of `text`.
fn line_at(text: &str, at: usize) -> usize {
    1 + text.chars().take(at).filter(|&c| c == '\n').count()
}

struct Paint(bool);

impl Paint {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Writes the report; a source's excerpt is taken from its text when the scan has it.
pub fn write(out: &mut dyn Write, scan: &Scan, color: bool) -> std::io::Result<()> {
    let paint = Paint(color);
    let scanned = &scan.documents;
    let mut texts: HashMap<&str, &str> = scan
        .sources
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    texts.extend(scanned.iter().map(|d| (&*d.name, &*d.text)));
    // One table per text: excerpts of a long document's paragraphs do not walk it from its
    // start each time.
    let chars: HashMap<&str, Chars> = texts.iter().map(|(&k, &v)| (k, Chars::new(v))).collect();
    let empty = Chars::new("");
    let text_of = |name: &str| chars.get(name).unwrap_or(&empty);
    let (mut total, mut recycled, mut too_short, mut boilerplate) = (0, 0, 0, 0);
    for doc in scanned {
        boilerplate += doc.report.summary.boilerplate;
        total += doc.report.summary.paragraphs;
        recycled += doc.report.summary.recycled;
        too_short += doc.report.summary.too_short;
        for p in doc
            .report
            .paragraphs
            .iter()
            .filter(|p| p.status == ParagraphStatus::Recycled)
        {
            writeln!(
                out,
                "{}",
                paint.paint("1", &format!("{}:{}", doc.name, p.line))
            )?;
            for m in &p.matches {
                let kind = paint.paint(
                    match m.kind {
                        MatchKind::Exact => "31",
                        MatchKind::Near => "33",
                        MatchKind::Partial => "36",
                        MatchKind::Edited => "35",
                    },
                    &format!("{:<7}", m.kind.as_str()),
                );
                writeln!(
                    out,
                    "  {kind} jaccard {:.2}  containment {:.2} / {:.2}  from {}:{}",
                    m.scores.jaccard,
                    m.scores.containment,
                    m.scores.containment_source,
                    m.source.name,
                    m.source.line
                )?;
            }
            let best = &p.matches[0];
            writeln!(
                out,
                "    this:   {}",
                excerpt(text_of(&doc.name), p.start, p.end, 60)
            )?;
            writeln!(
                out,
                "    source: {}",
                excerpt(
                    text_of(&best.source.name),
                    best.source.start,
                    best.source.end,
                    60
                )
            )?;
            writeln!(out)?;
        }
    }
    let mut heading = false;
    for doc in scanned {
        for r in &doc.repairs {
            if !heading {
                writeln!(out, "{}", paint.paint("1", "page breaks repaired"))?;
                heading = true;
            }
            let lines: Vec<String> = r.pieces.iter().map(|p| p.line.to_string()).collect();
            write!(out, "  {}:{}", doc.name, lines.join("+"))?;
            match r.matches.first() {
                None => writeln!(out, "  repeats nothing")?,
                Some(m) => writeln!(
                    out,
                    "  {} jaccard {:.2}  containment {:.2} / {:.2}  from {}:{}{}",
                    m.kind.as_str(),
                    m.scores.jaccard,
                    m.scores.containment,
                    m.scores.containment_source,
                    m.source.name,
                    m.source.line,
                    match r.matches.len() {
                        1 => String::new(),
                        n => format!(" (and {} more)", n - 1),
                    }
                )?,
            }
        }
    }
    if heading {
        writeln!(out)?;
    }
    let mut heading = false;
    for (di, doc) in scanned.iter().enumerate() {
        for p in scan.passages(di) {
            if !heading {
                writeln!(out, "{}", paint.paint("1", "passages"))?;
                heading = true;
            }
            writeln!(
                out,
                "  {}:{}-{} reprints {}:{}-{}  {} paragraphs ({}){}",
                doc.name,
                p.range.first_line,
                p.range.last_line,
                p.source_name,
                p.source_range.first_line,
                p.source_range.last_line,
                p.pairs.len(),
                p.kinds.describe(),
                match p.skipped.len() {
                    0 => String::new(),
                    n => format!(", {n} skipped"),
                }
            )?;
        }
    }
    if heading {
        writeln!(out)?;
    }
    let mut heading = false;
    for doc in scanned {
        for a in &doc.alignments {
            if !heading {
                writeln!(
                    out,
                    "{}",
                    paint.paint("1", "passages across paragraph boundaries")
                )?;
                heading = true;
            }
            let source = texts.get(&*a.source).copied().unwrap_or("");
            let r = &a.alignment;
            writeln!(
                out,
                "  {}:{}-{} [{}..{}] reuses {}:{}-{} [{}..{}]",
                doc.name,
                line_at(&doc.text, r.start),
                line_at(&doc.text, r.end.saturating_sub(1)),
                r.start,
                r.end,
                a.source,
                line_at(source, r.source_start),
                line_at(source, r.source_end.saturating_sub(1)),
                r.source_start,
                r.source_end
            )?;
        }
    }
    if heading {
        writeln!(out)?;
    }
    let files = if scanned.len() == 1 {
        "1 file".to_string()
    } else {
        format!("{} files", scanned.len())
    };
    // Boilerplate is named only where there is some, so reports without it read as before.
    let boilerplate = match boilerplate {
        0 => String::new(),
        n => format!(", {n} boilerplate"),
    };
    writeln!(
        out,
        "{} of {total} paragraphs recycled in {files} ({too_short} too short to judge{boilerplate})",
        paint.paint("1", &recycled.to_string())
    )?;
    Ok(())
}
