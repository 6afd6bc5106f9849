//! The editorial report: one self-contained HTML page showing what a scan found recycled.
//!
//! [`render`] turns the output of [`crate::scan::scan`] into a page an editor reads rather
//! than parses: a summary (documents, paragraphs, recycled paragraphs, share of the text
//! recycled, sources ranked by how much was taken from each), every document in full with
//! its recycled passages highlighted, and for each recycled paragraph a side-by-side view
//! against each of its sources, with the shared spans marked on both sides and the edits
//! (deleted, inserted, changed text) shown by a diff.
//!
//! Invariants:
//! - **Self-contained.** Inline CSS and one short inline script (open the comparison of a
//!   linked paragraph; open or close all); no external scripts, fonts, styles or images,
//!   so the file opens offline and can be mailed or archived.
//! - **Everything from the input is escaped** (texts and names, in text and in
//!   attributes): a document containing `<script>` shows it and runs nothing.
//! - **Offsets are code points**, as everywhere in neardup: texts are sliced through a
//!   table of character boundaries, so a highlight never splits a character, and an
//!   offset past the end of a text is clamped rather than trusted (input never panics).
//! - **Stable anchors**: document `i` is `#d{i}`, its paragraph `j` (0-based, as in the
//!   JSON report) is `#d{i}-p{j}`; a match links to its source paragraph and the source
//!   links back to every paragraph that reuses it.
//! - **Distinguishable without colour**: a source is a document; each gets a label (`S1`
//!   is the source most taken from) shown on its highlights, and a line style (solid,
//!   double, dashed, dotted) as well as a colour.
//!
//! The diff tokenizes both paragraphs the same way for every language: a CJK character is
//! one token (a character-level diff for Chinese), a run of letters or digits is one token
//! (a word-level diff for English), and whitespace runs and punctuation are tokens of their
//! own. It runs `similar`'s Myers diff under a deadline, so a pathological pair costs a
//! coarser diff, never a frozen report.
//!
//! Pages stay light for long inputs: no work happens in the browser, closed comparisons
//! are `<details>` (not laid out until opened) and paragraphs use `content-visibility`.
//!
//! This module does no I/O: the `scan` command writes the string where it was asked to.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::time::{Duration, Instant};

use similar::{Algorithm, DiffTag};

use crate::engine::{Match, ParagraphReport, ParagraphStatus};
use crate::scan::ScannedDocument;
use crate::verify::MatchKind;

/// Colours in the source palette (labels cycle through them; the label stays unique).
const COLOURS: usize = 8;
/// Line styles that tell sources apart without colour.
const STYLES: usize = 4;
/// Most time spent diffing one pair before settling for a coarser diff.
const DIFF_DEADLINE: Duration = Duration::from_millis(250);

/// `write!` into a `String`, which cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// Renders the report on `scanned` (in scan order) as one HTML page.
pub fn render(scanned: &[ScannedDocument]) -> String {
    let report = Model::new(scanned);
    let bytes: usize = scanned.iter().map(|d| d.text.len()).sum();
    let mut out = String::with_capacity(24 * 1024 + bytes * 3);
    report.page(&mut out);
    out
}

/// Escapes text for HTML text and for quoted attribute values.
pub fn escape(out: &mut String, text: &str) {
    let mut last = 0;
    for (i, b) in text.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&text[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&text[last..]);
}

/// A document's text with a table of its character boundaries, for slicing by code point.
struct Text<'a> {
    text: &'a str,
    /// Byte offset of each code point, then the text's length.
    bounds: Vec<usize>,
}

impl<'a> Text<'a> {
    fn new(text: &'a str) -> Text<'a> {
        let mut bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        bounds.push(text.len());
        Text { text, bounds }
    }

    /// Length in code points.
    fn len(&self) -> usize {
        self.bounds.len() - 1
    }

    /// Clamps a code-point range to the text (an empty range when reversed).
    fn clamp(&self, start: usize, end: usize) -> Range<usize> {
        let end = end.min(self.len());
        start.min(end)..end
    }

    /// Code points `start..end`, clamped to the text.
    fn slice(&self, start: usize, end: usize) -> &'a str {
        let r = self.clamp(start, end);
        &self.text[self.bounds[r.start]..self.bounds[r.end]]
    }
}

/// A source document and how much was taken from it.
struct Source<'a> {
    /// Its name.
    name: &'a str,
    /// Its position among the scanned documents (`None`: not among them).
    doc: Option<usize>,
    /// Recycled paragraphs that match it at all.
    paragraphs: usize,
    /// Code points of recycled paragraphs attributed to it (each shared code point goes
    /// to the best match that covers it).
    chars: usize,
    /// Order of first appearance, to break ties.
    first: usize,
}

/// Everything the page shows, computed once.
struct Model<'a> {
    scanned: &'a [ScannedDocument],
    texts: Vec<Text<'a>>,
    /// Document position by name (the first document of that name).
    by_name: HashMap<&'a str, usize>,
    /// Sources, best first; a source's label is `S{rank + 1}`.
    sources: Vec<Source<'a>>,
    /// Rank of each source by name.
    rank: HashMap<&'a str, usize>,
    /// (document, paragraph) → the (document, paragraph)s that reuse it.
    reused_by: HashMap<(usize, usize), Vec<(usize, usize)>>,
}

/// Code points of each paragraph attributed to a match: for each code point of the
/// paragraph (clamped to a text of `len` code points), the index of the first (best) match
/// whose spans cover it.
fn owners(p: &ParagraphReport, len: usize) -> Vec<Option<usize>> {
    let end = p.end.min(len);
    let start = p.start.min(end);
    let mut own = vec![None; end - start];
    for (i, m) in p.matches.iter().enumerate().rev() {
        for s in &m.spans {
            let a = s.start.clamp(start, end) - start;
            let b = s.end.clamp(start, end) - start;
            for o in own.iter_mut().take(b).skip(a) {
                *o = Some(i);
            }
        }
    }
    own
}

/// Sorts ranges and merges those that overlap (ranges that only touch stay apart, so
/// each span of a paragraph keeps its own highlight); empty ranges are dropped.
fn merge_overlapping(mut ranges: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    ranges.retain(|r| r.0 < r.1);
    ranges.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a < last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

impl<'a> Model<'a> {
    fn new(scanned: &'a [ScannedDocument]) -> Model<'a> {
        let texts: Vec<Text> = scanned.iter().map(|d| Text::new(&d.text)).collect();
        let mut by_name = HashMap::new();
        for (i, d) in scanned.iter().enumerate() {
            by_name.entry(&*d.name).or_insert(i);
        }
        let mut sources: Vec<Source> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut reused_by: HashMap<(usize, usize), Vec<(usize, usize)>> = HashMap::new();
        for (di, d) in scanned.iter().enumerate() {
            for p in d.report.paragraphs.iter().filter(|p| !p.matches.is_empty()) {
                let mut seen: Vec<usize> = Vec::new();
                for m in &p.matches {
                    let name: &str = &m.source.name;
                    let next = sources.len();
                    let si = *index.entry(name).or_insert(next);
                    if si == next {
                        sources.push(Source {
                            name,
                            doc: by_name.get(name).copied(),
                            paragraphs: 0,
                            chars: 0,
                            first: next,
                        });
                    }
                    if !seen.contains(&si) {
                        seen.push(si);
                        sources[si].paragraphs += 1;
                    }
                    if let Some(sd) = by_name.get(name) {
                        let users = reused_by.entry((*sd, m.source.paragraph)).or_default();
                        if users.last() != Some(&(di, p.index)) {
                            users.push((di, p.index));
                        }
                    }
                }
                for owner in owners(p, texts[di].len()).into_iter().flatten() {
                    sources[index[&*p.matches[owner].source.name]].chars += 1;
                }
            }
        }
        sources.sort_by(|a, b| {
            (b.chars, b.paragraphs, a.first).cmp(&(a.chars, a.paragraphs, b.first))
        });
        let rank = sources
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name, i))
            .collect();
        Model {
            scanned,
            texts,
            by_name,
            sources,
            rank,
            reused_by,
        }
    }

    /// The label, colour and line-style classes of a source.
    fn source_class(&self, name: &str) -> (usize, String) {
        let r = self.rank.get(name).copied().unwrap_or(0);
        (
            r + 1,
            format!("c{} t{}", r % COLOURS, (r + r / COLOURS) % STYLES),
        )
    }

    /// How a paragraph is named in a link: `¶12` in the same document, `name ¶12` in
    /// another.
    fn paragraph_label(&self, out: &mut String, from_doc: usize, doc: usize, paragraph: usize) {
        if doc != from_doc {
            escape(out, basename(&self.scanned[doc].name));
            out.push(' ');
        }
        w!(out, "¶{}", paragraph + 1);
    }

    fn page(&self, out: &mut String) {
        let title = match self.scanned {
            [one] => format!("Recycled text in {}", basename(&one.name)),
            docs => format!("Recycled text in {} documents", docs.len()),
        };
        out.push_str("<!DOCTYPE html>\n<html lang=\"und\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        out.push_str("<meta name=\"generator\" content=\"neardup ");
        out.push_str(env!("CARGO_PKG_VERSION"));
        out.push_str("\">\n<title>");
        escape(out, &title);
        out.push_str("</title>\n<style>");
        out.push_str(CSS);
        out.push_str("</style>\n</head>\n<body>\n<div class=\"layout\">\n");
        self.sidebar(out, &title);
        out.push_str("<main>\n");
        for di in 0..self.scanned.len() {
            self.document(out, di);
        }
        if self.scanned.is_empty() {
            out.push_str("<p class=\"empty\">No documents were scanned.</p>\n");
        }
        out.push_str("</main>\n</div>\n<script id=\"neardup-report-js\">");
        out.push_str(JS);
        out.push_str("</script>\n</body>\n</html>\n");
    }

    fn sidebar(&self, out: &mut String, title: &str) {
        let (mut paragraphs, mut recycled, mut too_short) = (0, 0, 0);
        let (mut chars, mut recycled_chars, mut shared_chars) = (0usize, 0usize, 0usize);
        let mut kinds = [0usize; 3];
        for (di, d) in self.scanned.iter().enumerate() {
            for p in &d.report.paragraphs {
                let n = self.texts[di].clamp(p.start, p.end).len();
                paragraphs += 1;
                chars += n;
                if p.status == ParagraphStatus::TooShort {
                    too_short += 1;
                }
                if let Some(best) = p.matches.first() {
                    recycled += 1;
                    recycled_chars += n;
                    shared_chars += owners(p, self.texts[di].len())
                        .iter()
                        .filter(|o| o.is_some())
                        .count();
                    kinds[kind_index(best.kind)] += 1;
                }
            }
        }
        out.push_str(
            "<aside class=\"panel\">\n<p class=\"brand\">neardup · editorial report</p>\n<h1>",
        );
        escape(out, title);
        out.push_str("</h1>\n<dl class=\"stats\">\n");
        stat(out, "Documents", &group(self.scanned.len()), "");
        stat(out, "Paragraphs", &group(paragraphs), "");
        stat(
            out,
            "Recycled",
            &group(recycled),
            &format!("{} of paragraphs", percent(recycled, paragraphs)),
        );
        stat(
            out,
            "Text recycled",
            &percent(recycled_chars, chars),
            &format!("{} in shared passages", percent(shared_chars, chars)),
        );
        out.push_str(
            "</dl>\n<p class=\"tools\">\
             <button type=\"button\" id=\"nd-review\" aria-pressed=\"false\" \
             title=\"Only recycled paragraphs, each beside its source (link: #review)\">Review side by side</button> \
             <button type=\"button\" id=\"nd-open\">Open all</button> \
             <button type=\"button\" id=\"nd-close\">Close all</button></p>\n",
        );
        out.push_str("<p class=\"kinds\">");
        for (k, n) in [MatchKind::Exact, MatchKind::Near, MatchKind::Partial]
            .iter()
            .zip(kinds)
        {
            w!(
                out,
                "<span class=\"kind k-{0}\">{0}</span> {1} ",
                k.as_str(),
                group(n)
            );
        }
        w!(
            out,
            "<span class=\"kind k-short\">too short</span> {}</p>\n",
            group(too_short)
        );

        out.push_str("<h2>Sources <small>by text taken</small></h2>\n");
        if self.sources.is_empty() {
            out.push_str("<p class=\"none\">Nothing recycled.</p>\n");
        } else {
            let max = self
                .sources
                .iter()
                .map(|s| s.chars)
                .max()
                .unwrap_or(0)
                .max(1);
            out.push_str("<ol class=\"sources\">\n");
            for s in &self.sources {
                let (label, class) = self.source_class(s.name);
                w!(out, "<li><span class=\"tag {class}\">S{label}</span> ");
                match s.doc {
                    Some(d) => w!(out, "<a href=\"#d{d}\" title=\""),
                    None => out.push_str("<span title=\""),
                }
                escape(out, s.name);
                out.push_str("\">");
                escape(out, basename(s.name));
                out.push_str(if s.doc.is_some() { "</a>" } else { "</span>" });
                w!(
                    out,
                    "<span class=\"amount\">{} chars · {} ¶</span>\
                     <span class=\"bar\"><span class=\"{class}\" style=\"width:{:.1}%\"></span></span></li>\n",
                    group(s.chars),
                    group(s.paragraphs),
                    100.0 * s.chars as f64 / max as f64
                );
            }
            out.push_str("</ol>\n");
        }

        out.push_str("<h2>Paragraph map</h2>\n");
        for (di, d) in self.scanned.iter().enumerate() {
            if self.scanned.len() > 1 {
                w!(out, "<p class=\"map-name\"><a href=\"#d{di}\">");
                escape(out, basename(&d.name));
                out.push_str("</a></p>\n");
            }
            out.push_str("<div class=\"map\">");
            for p in &d.report.paragraphs {
                w!(out, "<a href=\"#d{di}-p{}\" class=\"cell", p.index);
                match (p.matches.first(), p.status) {
                    (Some(m), _) => {
                        let (_, class) = self.source_class(&m.source.name);
                        w!(out, " rec {class}");
                    }
                    (None, ParagraphStatus::TooShort) => out.push_str(" short"),
                    (None, _) if self.reused_by.contains_key(&(di, p.index)) => {
                        out.push_str(" orig")
                    }
                    (None, _) => {}
                }
                w!(out, "\" title=\"¶{} · line {}", p.index + 1, p.line);
                if let Some(m) = p.matches.first() {
                    let (label, _) = self.source_class(&m.source.name);
                    w!(out, " · {} from S{label} ", m.kind.as_str());
                    escape(out, basename(&m.source.name));
                    w!(out, " ¶{}", m.source.paragraph + 1);
                } else if p.status == ParagraphStatus::TooShort {
                    out.push_str(" · too short to judge");
                }
                out.push_str("\"></a>");
            }
            out.push_str("</div>\n");
        }

        out.push_str(
            "<h2>Legend</h2>\n<ul class=\"legend\">\n\
             <li><mark class=\"hl c0 t0\">shared text</mark> highlighted in its source's colour and line style, labelled S1, S2…</li>\n\
             <li><del>deleted</del> in the source only · <ins>inserted</ins> in the paragraph only · <ins class=\"chg\">changed</ins> rewritten</li>\n\
             <li><span class=\"kind k-exact\">exact</span> identical after normalization · <span class=\"kind k-near\">near</span> Jaccard at or above the threshold · <span class=\"kind k-partial\">partial</span> one mostly contains the other</li>\n\
             <li><span class=\"kind k-short\">too short</span> too short to judge · <span class=\"kind k-orig\">source</span> reused later</li>\n\
             </ul>\n</aside>\n",
        );
    }

    fn document(&self, out: &mut String, di: usize) {
        let d = &self.scanned[di];
        let s = &d.report.summary;
        let class = if s.recycled == 0 { "doc no-rec" } else { "doc" };
        w!(
            out,
            "<section class=\"{class}\" id=\"d{di}\">\n<header class=\"doc-head\"><h2>"
        );
        escape(out, basename(&d.name));
        out.push_str("</h2><p class=\"path\">");
        escape(out, &d.name);
        w!(
            out,
            "</p><p class=\"meta\">{} paragraphs · {} recycled ({} of the text) · {} too short · {} source{}</p></header>\n",
            group(s.paragraphs),
            group(s.recycled),
            percent_f(s.recycled_share),
            group(s.too_short),
            group(s.distinct_sources),
            if s.distinct_sources == 1 { "" } else { "s" }
        );
        if d.report.paragraphs.is_empty() {
            out.push_str("<p class=\"empty\">No paragraphs.</p>\n");
        }
        for p in &d.report.paragraphs {
            self.paragraph(out, di, p);
        }
        out.push_str("</section>\n");
    }

    fn paragraph(&self, out: &mut String, di: usize, p: &ParagraphReport) {
        let text = &self.texts[di];
        let body = text.slice(p.start, p.end);
        let heading = body.starts_with('#');
        let reused = self.reused_by.get(&(di, p.index));
        out.push_str("<article class=\"para");
        if let Some(m) = p.matches.first() {
            let (_, class) = self.source_class(&m.source.name);
            w!(out, " rec {class}");
        } else if p.status == ParagraphStatus::TooShort {
            out.push_str(" short");
        } else if reused.is_some() {
            out.push_str(" orig");
        }
        if heading {
            out.push_str(" hd");
        }
        w!(
            out,
            "\" id=\"d{di}-p{0}\">\n<div class=\"gutter\"><a class=\"pn\" href=\"#d{di}-p{0}\">¶{1}</a><span class=\"ln\">line {2}</span>",
            p.index,
            p.index + 1,
            p.line
        );
        if p.status == ParagraphStatus::TooShort {
            out.push_str("<span class=\"kind k-short\">too short</span>");
        } else if p.matches.is_empty() && reused.is_some() {
            out.push_str("<span class=\"kind k-orig\">source</span>");
        }
        out.push_str("</div>\n<div class=\"body\">\n");

        if !p.matches.is_empty() {
            out.push_str("<p class=\"chips\">");
            for m in &p.matches {
                self.chip(out, di, m);
            }
            out.push_str("</p>\n");
        }

        // The text, each shared code point highlighted with its best match's source.
        let mut marks = Vec::new();
        if !p.matches.is_empty() {
            let labels: Vec<usize> = p
                .matches
                .iter()
                .map(|m| self.rank.get(&*m.source.name).copied().unwrap_or(0))
                .collect();
            let own = owners(p, text.len());
            let base = text.clamp(p.start, p.end).start;
            let mut tagged: Vec<usize> = Vec::new();
            let mut i = 0;
            while i < own.len() {
                let Some(o) = own[i] else {
                    i += 1;
                    continue;
                };
                let r = labels[o];
                let mut j = i + 1;
                while j < own.len() && own[j].map(|o| labels[o]) == Some(r) {
                    j += 1;
                }
                let class = format!("c{} t{}", r % COLOURS, (r + r / COLOURS) % STYLES);
                let open = if tagged.contains(&r) {
                    format!("<mark class=\"hl {class}\">")
                } else {
                    tagged.push(r);
                    format!("<mark class=\"hl {class}\" data-tag=\"S{}\">", r + 1)
                };
                marks.push((base + i, base + j, open));
                i = j;
            }
        }
        out.push_str("<p class=\"txt\">");
        write_marked(out, text, p.start, p.end, &marks, &[], Side::Old);
        out.push_str("</p>\n");

        if let Some(users) = reused {
            out.push_str("<p class=\"reused\">Reused in ");
            for (k, (ud, up)) in users.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                w!(out, "<a href=\"#d{ud}-p{up}\">");
                self.paragraph_label(out, di, *ud, *up);
                out.push_str("</a>");
            }
            out.push_str("</p>\n");
        }

        if !p.matches.is_empty() {
            w!(
                out,
                "<details class=\"cmp\"><summary>Compare with {}</summary>\n",
                if p.matches.len() == 1 {
                    "the source".to_string()
                } else {
                    format!("{} sources", p.matches.len())
                }
            );
            for m in &p.matches {
                self.pair(out, di, p, m);
            }
            out.push_str("</details>\n");
        }
        out.push_str("</div>\n</article>\n");
    }

    /// The link to a match's source: label, place, kind and Jaccard.
    fn chip(&self, out: &mut String, di: usize, m: &Match) {
        let (label, class) = self.source_class(&m.source.name);
        w!(
            out,
            "<span class=\"chip\"><span class=\"kind k-{0}\">{0}</span> ",
            m.kind.as_str()
        );
        self.source_link(out, di, m, label, &class);
        w!(
            out,
            " <span class=\"score\" title=\"Jaccard similarity\">J {:.2}</span></span>",
            m.scores.jaccard
        );
    }

    fn source_link(&self, out: &mut String, di: usize, m: &Match, label: usize, class: &str) {
        let sd = self.by_name.get(&*m.source.name).copied();
        match sd {
            Some(sd) => w!(
                out,
                "<a class=\"src\" href=\"#d{sd}-p{}\">",
                m.source.paragraph
            ),
            None => out.push_str("<span class=\"src\">"),
        }
        w!(out, "<span class=\"tag {class}\">S{label}</span> ");
        match sd {
            Some(sd) => self.paragraph_label(out, di, sd, m.source.paragraph),
            None => {
                escape(out, basename(&m.source.name));
                w!(out, " ¶{}", m.source.paragraph + 1);
            }
        }
        w!(out, " · line {}", m.source.line);
        out.push_str(if sd.is_some() { "</a>" } else { "</span>" });
    }

    /// The side-by-side view of a paragraph and one source.
    fn pair(&self, out: &mut String, di: usize, p: &ParagraphReport, m: &Match) {
        let (label, class) = self.source_class(&m.source.name);
        let sd = self.by_name.get(&*m.source.name).copied();
        let this = &self.texts[di];
        let source_text = sd.map(|sd| &self.texts[sd]);
        let this_range = this.clamp(p.start, p.end);
        let source_range = source_text.map_or(0..0, |t| t.clamp(m.source.start, m.source.end));
        let old = source_text.map_or("", |t| t.slice(source_range.start, source_range.end));
        let new = this.slice(this_range.start, this_range.end);
        let (old_edits, new_edits) = edits(old, new);
        let count = |e: &[Edit], which: Edit| e.iter().filter(|x| **x == which).count();

        out.push_str("<section class=\"pair\" data-source=\"");
        match sd {
            Some(sd) => w!(out, "d{sd}-p{}", m.source.paragraph),
            None => escape(out, &m.source.name),
        }
        w!(
            out,
            "\" data-kind=\"{0}\">\n<header class=\"pair-head\"><span class=\"kind k-{0}\">{0}</span> ",
            m.kind.as_str()
        );
        self.source_link(out, di, m, label, &class);
        w!(
            out,
            "<span class=\"scores\"><span title=\"shared shingles over all shingles of both\">Jaccard <b class=\"jaccard\">{:.3}</b></span>\
             <span title=\"share of this paragraph found in the source\">this in source <b class=\"containment\">{:.3}</b></span>\
             <span title=\"share of the source found in this paragraph\">source in this <b class=\"containment-source\">{:.3}</b></span>\
             <span>shared shingles <b class=\"shared\">{}</b></span></span>",
            m.scores.jaccard,
            m.scores.containment,
            m.scores.containment_source,
            group(m.scores.shared)
        );
        w!(
            out,
            "<span class=\"delta\"><del>−{}</del> <ins>+{}</ins> <ins class=\"chg\">~{}</ins> characters</span></header>\n",
            group(count(&old_edits, Edit::Deleted)),
            group(count(&new_edits, Edit::Inserted)),
            group(count(&new_edits, Edit::Changed).max(count(&old_edits, Edit::Changed)))
        );

        let sp = format!("<mark class=\"sp {class}\">");
        let this_marks: Vec<(usize, usize, String)> =
            merge_overlapping(m.spans.iter().map(|s| (s.start, s.end)).collect())
                .into_iter()
                .map(|(a, b)| (a, b, sp.clone()))
                .collect();
        let source_marks: Vec<(usize, usize, String)> = merge_overlapping(
            m.spans
                .iter()
                .map(|s| (s.source_start, s.source_end))
                .collect(),
        )
        .into_iter()
        .map(|(a, b)| (a, b, sp.clone()))
        .collect();

        out.push_str("<div class=\"cols\">\n<div class=\"side source\"><h4><span>Source</span> ");
        match (sd, source_text) {
            (Some(sd), Some(t)) => {
                w!(out, "<a href=\"#d{sd}-p{}\">", m.source.paragraph);
                self.paragraph_label(out, di, sd, m.source.paragraph);
                out.push_str("</a></h4><p class=\"txt\">");
                write_marked(
                    out,
                    t,
                    source_range.start,
                    source_range.end,
                    &source_marks,
                    &old_edits,
                    Side::Old,
                );
                out.push_str("</p>");
            }
            _ => {
                escape(out, basename(&m.source.name));
                out.push_str("</h4><p class=\"none\">The source text is not in this report.</p>");
            }
        }
        w!(
            out,
            "</div>\n<div class=\"side this\"><h4><span>This paragraph</span> ¶{}</h4><p class=\"txt\">",
            p.index + 1
        );
        write_marked(
            out,
            this,
            this_range.start,
            this_range.end,
            &this_marks,
            &new_edits,
            Side::New,
        );
        out.push_str("</p></div>\n</div>\n</section>\n");
    }
}

fn stat(out: &mut String, name: &str, value: &str, note: &str) {
    w!(out, "<div><dt>{name}</dt><dd>{value}");
    if !note.is_empty() {
        w!(out, "<small>{note}</small>");
    }
    out.push_str("</dd></div>\n");
}

fn kind_index(kind: MatchKind) -> usize {
    match kind {
        MatchKind::Exact => 0,
        MatchKind::Near => 1,
        MatchKind::Partial | MatchKind::Edited => 2,
    }
}

/// The last component of a path-like name.
fn basename(name: &str) -> &str {
    name.rsplit(['/', '\\'])
        .find(|s| !s.is_empty())
        .unwrap_or(name)
}

/// `12345` → `12,345`.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percent(n: usize, d: usize) -> String {
    percent_f(if d == 0 { 0.0 } else { n as f64 / d as f64 })
}

fn percent_f(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// What the diff says of a code point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    /// In both texts.
    Same,
    /// Only in the old text (the source).
    Deleted,
    /// Only in the new text (the paragraph).
    Inserted,
    /// Rewritten: replaced by (or replacing) other text.
    Changed,
}

/// Which side of the comparison a text is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Old,
    New,
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
/// a word-level one for alphabetic text (see [`tokens`]).
fn edits(old: &str, new: &str) -> (Vec<Edit>, Vec<Edit>) {
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

/// Writes code points `start..end` of `text`, escaped, with `marks` (sorted, disjoint,
/// absolute code-point ranges, each with its opening `<mark>` tag) and, inside them, the
/// diff `edits` (one per code point from `start`; empty: no diff).
fn write_marked(
    out: &mut String,
    text: &Text,
    start: usize,
    end: usize,
    marks: &[(usize, usize, String)],
    edits: &[Edit],
    side: Side,
) {
    let r = text.clamp(start, end);
    let (start, end) = (r.start, r.end);
    let mut i = start;
    let mut k = 0;
    while i < end {
        while k < marks.len() && marks[k].1 <= i {
            k += 1;
        }
        let (open, stop) = match marks.get(k) {
            Some(m) if m.0 <= i => (Some(&m.2), m.1.min(end)),
            Some(m) => (None, m.0.min(end)),
            None => (None, end),
        };
        if let Some(open) = open {
            out.push_str(open);
        }
        write_edits(out, text, i, stop, start, edits, side);
        if open.is_some() {
            out.push_str("</mark>");
        }
        i = stop;
    }
}

/// Writes `a..b` of `text` with the runs of `edits` (indexed from `base`) wrapped in
/// `<del>` and `<ins>`.
fn write_edits(
    out: &mut String,
    text: &Text,
    a: usize,
    b: usize,
    base: usize,
    edits: &[Edit],
    side: Side,
) {
    let edit = |i: usize| edits.get(i - base).copied().unwrap_or(Edit::Same);
    let mut i = a;
    while i < b {
        let e = edit(i);
        let mut j = i + 1;
        while j < b && edit(j) == e {
            j += 1;
        }
        let (open, close) = match (e, side) {
            (Edit::Same, _) => ("", ""),
            (Edit::Deleted, _) => ("<del>", "</del>"),
            (Edit::Inserted, _) => ("<ins>", "</ins>"),
            (Edit::Changed, Side::Old) => ("<del class=\"chg\">", "</del>"),
            (Edit::Changed, Side::New) => ("<ins class=\"chg\">", "</ins>"),
        };
        out.push_str(open);
        escape(out, text.slice(i, j));
        out.push_str(close);
        i = j;
    }
}

/// Opens the comparison of a paragraph reached by a link; opens all or none on request;
/// toggles review mode (only recycled paragraphs, comparisons open; `#review` on load).
const JS: &str = r#"
(function () {
  var d = document, body = d.body;
  function all(open) {
    var list = d.querySelectorAll("details.cmp");
    for (var i = 0; i < list.length; i++) list[i].open = open;
  }
  function review(on) {
    body.classList.toggle("review", on);
    d.getElementById("nd-review").setAttribute("aria-pressed", on ? "true" : "false");
    all(on);
  }
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    if (id === "review") { review(true); return; }
    var t = id && d.getElementById(id);
    var c = t && t.querySelector("details.cmp");
    if (c) c.open = true;
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  d.getElementById("nd-review").addEventListener("click", function () {
    review(!body.classList.contains("review"));
  });
  d.getElementById("nd-open").addEventListener("click", function () { all(true); });
  d.getElementById("nd-close").addEventListener("click", function () { all(false); });
})();
"#;

const CSS: &str = r#"
:root {
  --paper: #f5f3ee; --card: #fff; --ink: #1d232b; --muted: #66707c; --rule: #e2ded5;
  --accent: #27405f;
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Hiragino Sans GB",
    "Microsoft YaHei", "Noto Sans CJK JP", "Noto Sans CJK KR", sans-serif;
  --serif: "Iowan Old Style", "Charter", "Source Serif 4", Georgia, "Noto Serif CJK SC",
    "Source Han Serif SC", "Songti SC", "SimSun", "Noto Sans CJK SC", serif;
}
* { box-sizing: border-box; }
html { scroll-padding-top: 6rem; }
body { margin: 0; background: var(--paper); color: var(--ink); font: 15px/1.55 var(--sans); }
a { color: var(--accent); }
.layout { display: grid; grid-template-columns: 340px minmax(0, 1fr); align-items: start; }
.panel { position: sticky; top: 0; max-height: 100vh; overflow-y: auto; padding: 1.4rem 1.3rem 2rem;
  border-right: 1px solid var(--rule); background: #fbfaf7; }
.brand { margin: 0; font-size: .72rem; letter-spacing: .12em; text-transform: uppercase; color: var(--muted); }
h1 { font: 600 1.35rem/1.3 var(--serif); margin: .35rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: .78rem; letter-spacing: .08em; text-transform: uppercase; color: var(--muted);
  margin: 1.5rem 0 .6rem; border-bottom: 1px solid var(--rule); padding-bottom: .3rem; }
h2 small { text-transform: none; letter-spacing: 0; font-weight: 400; }
.stats { display: grid; grid-template-columns: 1fr 1fr; gap: .6rem; margin: 0; }
.stats div { background: var(--card); border: 1px solid var(--rule); border-radius: 8px; padding: .55rem .7rem; }
.stats dt { font-size: .72rem; color: var(--muted); text-transform: uppercase; letter-spacing: .06em; }
.stats dd { margin: 0; font: 600 1.45rem/1.2 var(--serif); }
.stats small { display: block; font: 400 .72rem/1.3 var(--sans); color: var(--muted); }
.kinds { font-size: .82rem; margin: .8rem 0 0; line-height: 2; }
.kind { display: inline-block; font: 600 .66rem/1.5 var(--sans); letter-spacing: .06em; text-transform: uppercase;
  padding: 0 .4rem; border-radius: 3px; border: 1px solid transparent; vertical-align: .1em; }
.k-exact { background: #7a1f2b; color: #fff; }
.k-near { background: #f3c969; color: #3b2a00; }
.k-partial { background: #fff; color: #1e5d63; border-color: #1e5d63; }
.k-short { background: #fff; color: var(--muted); border: 1px dashed #9aa1a9; }
.k-orig { background: #e8edf4; color: var(--accent); }
.sources { list-style: none; margin: 0; padding: 0; font-size: .86rem; }
.sources li { display: grid; grid-template-columns: auto 1fr; gap: .15rem .5rem; align-items: center; margin-bottom: .55rem; }
.sources a, .sources li > span[title] { overflow-wrap: anywhere; }
.amount { grid-column: 2; font-size: .74rem; color: var(--muted); }
.bar { grid-column: 1 / 3; height: 6px; background: #ebe7df; border-radius: 3px; overflow: hidden; }
.bar span { display: block; height: 100%; background: var(--line); }
.tag { display: inline-block; font: 700 .7rem/1.45 var(--sans); padding: 0 .35rem; border-radius: 3px;
  background: var(--bg); color: var(--dark); border: 2px var(--style) var(--line); }
.map-name { margin: .6rem 0 .3rem; font-size: .8rem; }
.map { display: flex; flex-wrap: wrap; gap: 2px; }
.cell { width: 11px; height: 11px; border-radius: 2px; background: #dedad2; display: block; }
.cell.rec { background-color: var(--line); }
.cell.rec.t1 { background-image: linear-gradient(#fff 0 0); background-size: 100% 2px; background-position: 0 50%; background-repeat: no-repeat; }
.cell.rec.t2 { background-image: repeating-linear-gradient(45deg, rgba(255,255,255,.75) 0 2px, transparent 2px 5px); }
.cell.rec.t3 { background-image: radial-gradient(#fff 1.2px, transparent 1.3px); background-size: 5px 5px; }
.cell.short { background: #fff; border: 1px dashed #9aa1a9; }
.cell.orig { background: #fff; border: 2px solid var(--accent); }
.cell:hover { outline: 2px solid var(--ink); }
.legend { padding-left: 1rem; font-size: .8rem; color: #3a424c; margin: 0; }
.legend li { margin-bottom: .45rem; }
.tools button { font: 500 .76rem var(--sans); padding: .3rem .55rem; border: 1px solid #c9c3b8; border-radius: 6px;
  background: var(--card); color: var(--ink); cursor: pointer; }
.tools { margin: .8rem 0 0; display: flex; flex-wrap: wrap; gap: .4rem; }
.tools button:hover { background: #f0ede6; }
.tools button[aria-pressed="true"] { background: var(--accent); color: #fff; border-color: var(--accent); }
.review .para:not(.rec) { display: none; }
.review .para.rec > .body > .txt, .review .chips, .review .doc.no-rec,
.review details.cmp > summary { display: none; }
.review .pair:first-of-type { margin-top: 0; }
main { padding: 1.4rem 2rem 4rem; min-width: 0; }
.doc { max-width: 1060px; margin: 0 auto 2.5rem; }
.doc-head { position: sticky; top: 0; z-index: 2; background: var(--paper); padding: .4rem 0 .5rem;
  border-bottom: 2px solid var(--ink); margin-bottom: .8rem; }
.doc-head h2 { font: 600 1.25rem/1.3 var(--serif); color: var(--ink); text-transform: none; letter-spacing: 0;
  margin: 0; border: 0; padding: 0; }
.path { margin: 0; font-size: .75rem; color: var(--muted); overflow-wrap: anywhere; }
.meta { margin: .1rem 0 0; font-size: .82rem; color: #3a424c; }
.para { display: grid; grid-template-columns: 5.2rem minmax(0, 1fr); gap: .9rem; padding: .55rem .9rem .55rem .6rem;
  margin: 0 0 .35rem; border-left: 4px solid transparent; border-radius: 4px;
  content-visibility: auto; contain-intrinsic-size: auto 90px; }
.para.rec { background: var(--card); border-left: 5px var(--style) var(--line); box-shadow: 0 1px 2px rgba(0,0,0,.05); }
.para.short { border-left: 3px dashed #b3b8bf; }
.para.short .txt { color: var(--muted); }
.para.orig { border-left: 4px solid #b9c6d8; }
.para:target { outline: 3px solid #e0a526; outline-offset: 2px; }
.gutter .kind { white-space: nowrap; }
.gutter { font-size: .74rem; color: var(--muted); display: flex; flex-direction: column; align-items: flex-start; gap: .2rem; padding-top: .2rem; }
.pn { font-weight: 700; color: var(--ink); text-decoration: none; font-size: .82rem; }
.pn:hover { text-decoration: underline; }
.txt { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font: 1rem/1.8 var(--serif); }
.hd .txt { font-weight: 700; font-size: 1.12rem; }
.chips { margin: 0 0 .3rem; display: flex; flex-wrap: wrap; gap: .35rem .9rem; font-size: .8rem; }
.chip { white-space: nowrap; }
.src { text-decoration: none; }
.src:hover { text-decoration: underline; }
.score { color: var(--muted); font-variant-numeric: tabular-nums; }
.reused { margin: .35rem 0 0; font-size: .78rem; color: var(--muted); }
mark { color: inherit; }
mark.hl { background: var(--bg); text-decoration: underline 2px var(--style) var(--line); text-underline-offset: .3em;
  text-decoration-skip-ink: none; border-radius: 2px; }
mark.hl[data-tag]::before { content: attr(data-tag); font: 700 .62rem/1 var(--sans); color: #fff; background: var(--dark);
  padding: .1rem .25rem; border-radius: 3px; margin-right: .25rem; vertical-align: .3em; }
details.cmp { margin-top: .5rem; }
details.cmp > summary { cursor: pointer; font-size: .8rem; font-weight: 600; color: var(--accent); width: max-content; }
.pair { border: 1px solid var(--rule); border-radius: 6px; margin-top: .6rem; background: #fdfcfa; }
.pair-head { display: flex; flex-wrap: wrap; align-items: center; gap: .35rem 1rem; padding: .45rem .7rem;
  border-bottom: 1px solid var(--rule); font-size: .8rem; background: #f7f5f0; border-radius: 6px 6px 0 0; }
.scores { display: flex; flex-wrap: wrap; gap: .2rem .8rem; color: var(--muted); font-variant-numeric: tabular-nums; }
.scores b { color: var(--ink); font-weight: 600; }
.delta { margin-left: auto; color: var(--muted); }
.cols { display: grid; grid-template-columns: 1fr 1fr; }
.side { padding: .5rem .8rem .7rem; min-width: 0; }
.side + .side { border-left: 1px solid var(--rule); }
.side h4 { margin: 0 0 .3rem; font-size: .78rem; font-weight: 600; color: var(--muted); }
.side h4 span { font-size: .68rem; text-transform: uppercase; letter-spacing: .08em; margin-right: .35rem; }
.side .txt { font-size: .95rem; line-height: 1.75; }
mark.sp { background: var(--bg); border-bottom: 2px var(--style) var(--line); padding-bottom: 1px; }
del, ins { text-decoration-thickness: 1.5px; }
del { background: #ffd9d6; color: #8a1020; text-decoration: line-through; }
ins { background: #c9f0d2; color: #0b5a24; text-decoration: underline; text-underline-offset: .25em; }
del.chg, ins.chg { background: #e4e1ff; color: #2d1f7a; text-decoration: none; box-shadow: inset 0 0 0 1px #7b6fd6; border-radius: 2px; }
.delta del, .delta ins, .legend del, .legend ins { padding: 0 .2rem; border-radius: 2px; }
.none, .empty { color: var(--muted); font-style: italic; }
.c0 { --bg: #fde9b0; --line: #b7791f; --dark: #7b4f0c; }
.c1 { --bg: #d3e7fb; --line: #2b6cb0; --dark: #1c4a7c; }
.c2 { --bg: #fbd9e3; --line: #b83280; --dark: #86215c; }
.c3 { --bg: #d6f1d6; --line: #2f855a; --dark: #1f5c3d; }
.c4 { --bg: #e6ddfb; --line: #6b46c1; --dark: #4a2f8a; }
.c5 { --bg: #fde0c8; --line: #c05621; --dark: #853a14; }
.c6 { --bg: #cdeeea; --line: #2c7a7b; --dark: #1d5556; }
.c7 { --bg: #e8edc6; --line: #6b7a1f; --dark: #4a5514; }
.t0 { --style: solid; } .t1 { --style: double; } .t2 { --style: dashed; } .t3 { --style: dotted; }
.para.rec.t1 { border-left-width: 7px; }
@media (max-width: 900px) {
  .layout { display: block; }
  .panel { position: static; max-height: none; border-right: 0; border-bottom: 1px solid var(--rule); }
  main { padding: 1rem; }
  .cols { grid-template-columns: 1fr; }
  .side + .side { border-left: 0; border-top: 1px solid var(--rule); }
}
@media print {
  .layout { display: block; } .panel { position: static; max-height: none; } .tools { display: none; }
  .para { content-visibility: visible; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, Settings, SourceRef, Span};
    use crate::scan::scan;
    use crate::verify::Scores;

    fn html_of(docs: &[(&str, &str)]) -> (Vec<ScannedDocument>, String) {
        let engine = Engine::new(Settings::default()).unwrap();
        let scanned = scan(
            &engine,
            docs.iter().map(|(n, t)| (n.to_string(), t.to_string())),
        )
        .unwrap();
        let html = render(&scanned);
        (scanned, html)
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        let mut out = String::new();
        escape(&mut out, r#"<a href="x" onclick='y'>&amp;</a>"#);
        assert_eq!(
            out,
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        let mut out = String::new();
        escape(&mut out, "黄河 <b>");
        assert_eq!(out, "黄河 &lt;b&gt;");
    }

    #[test]
    fn text_slices_by_code_point_and_clamps() {
        let t = Text::new("黄河a🙂b");
        assert_eq!(t.len(), 5);
        assert_eq!(t.slice(1, 4), "河a🙂");
        assert_eq!(t.slice(3, 99), "🙂b");
        assert_eq!(t.slice(4, 2), "");
        assert_eq!(t.slice(50, 60), "");
    }

    #[test]
    fn overlapping_ranges_merge_but_touching_ones_stay_apart() {
        assert_eq!(
            merge_overlapping(vec![(1908, 2052), (1902, 1906), (1941, 1944), (5, 5)]),
            vec![(1902, 1906), (1908, 2052)]
        );
        assert_eq!(
            merge_overlapping(vec![(4, 6), (0, 4), (5, 9)]),
            vec![(0, 4), (4, 9)]
        );
    }

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

    #[test]
    fn marked_text_nests_edits_inside_marks() {
        let t = Text::new("a<b>c黄河d");
        let marks = vec![(1, 6, "<mark>".to_string())];
        let edits = [
            Edit::Same,
            Edit::Same,
            Edit::Inserted,
            Edit::Same,
            Edit::Same,
            Edit::Changed,
            Edit::Same,
            Edit::Same,
        ];
        let mut out = String::new();
        write_marked(&mut out, &t, 0, 8, &marks, &edits, Side::New);
        assert_eq!(
            out,
            "a<mark>&lt;<ins>b</ins>&gt;c<ins class=\"chg\">黄</ins></mark>河d"
        );
    }

    #[test]
    fn group_and_percent_format_numbers() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(0, 0), "0.0%");
        assert_eq!(basename("../a/b/magazine.txt"), "magazine.txt");
        assert_eq!(basename("x/"), "x");
    }

    const PARA: &str = "The river carries silt from the plateau down to the sea every single year, \
                        and the courts along its banks have agreed to protect it together.";

    #[test]
    fn a_repeated_paragraph_links_both_ways_and_shows_its_spans() {
        let a = format!(
            "Intro paragraph that is long enough to be judged on its own merits here.\n\n{PARA}\n\nShort."
        );
        let b = format!(
            "{}\n\nSomething else entirely, with words of its own and nothing in common.",
            PARA.replace("silt", "mud")
        );
        let (scanned, html) = html_of(&[("a.txt", &a), ("dir/b.txt", &b)]);
        let p = &scanned[1].report.paragraphs[0];
        assert_eq!(p.status, ParagraphStatus::Recycled);
        let m = &p.matches[0];
        assert_eq!((&*m.source.name, m.source.paragraph), ("a.txt", 1));
        // Link from the copy to the source and back.
        assert!(html.contains("id=\"d1-p0\""));
        assert!(html.contains("<a class=\"src\" href=\"#d0-p1\"><span class=\"tag c0 t0\">S1</span> a.txt ¶2 · line 3</a>"));
        assert!(html.contains("Reused in <a href=\"#d1-p0\">b.txt ¶1</a>"));
        // The source paragraph is marked as such, the short one as too short.
        assert!(html.contains("<article class=\"para orig\" id=\"d0-p1\">"));
        assert!(html.contains("<article class=\"para short\" id=\"d0-p2\">"));
        // The edit is visible on both sides.
        assert!(html.contains("<del class=\"chg\">silt</del>"));
        assert!(html.contains("<ins class=\"chg\">mud</ins>"));
        // Each span is highlighted.
        let t = Text::new(&scanned[1].text);
        for s in &m.spans {
            let mut expect = String::new();
            escape(&mut expect, t.slice(s.start, s.end));
            let plain = html
                .replace("<ins class=\"chg\">", "")
                .replace("</ins>", "");
            assert!(plain.contains(&expect), "span {s:?} not shown");
        }
        // Summary: two documents, one recycled paragraph, one source.
        assert!(html.contains("<dt>Documents</dt><dd>2</dd>"));
        assert!(html.contains("<dt>Recycled</dt><dd>1<small>"));
        assert_eq!(html.matches("<li><span class=\"tag").count(), 1);
    }

    #[test]
    fn sources_are_ranked_by_text_taken() {
        let long = "Alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon.";
        let short = "One two three four five six seven eight nine ten eleven twelve.";
        let c = format!("{short}\n\n{long}");
        let (scanned, html) = html_of(&[("small.txt", short), ("big.txt", long), ("c.txt", &c)]);
        assert_eq!(scanned[2].report.summary.recycled, 2);
        let model = Model::new(&scanned);
        let names: Vec<&str> = model.sources.iter().map(|s| s.name).collect();
        assert_eq!(names, ["big.txt", "small.txt"]);
        // Each source is credited with the code points its spans cover in c.txt.
        let covered = |i: usize| -> usize {
            let m = &scanned[2].report.paragraphs[i].matches[0];
            merge_overlapping(m.spans.iter().map(|s| (s.start, s.end)).collect())
                .iter()
                .map(|(a, b)| b - a)
                .sum()
        };
        assert_eq!(model.sources[0].chars, covered(1));
        assert_eq!(model.sources[1].chars, covered(0));
        assert!(covered(1) > long.chars().count() - 3);
        assert!(html.contains("<span class=\"tag c1 t1\">S2</span> <a href=\"#d0\""));
    }

    #[test]
    fn bogus_offsets_do_not_panic() {
        let source = SourceRef {
            document: None,
            name: "missing.txt".into(),
            paragraph: 7,
            start: 5,
            end: 1_000,
            line: 3,
        };
        let m = Match {
            source,
            kind: MatchKind::Near,
            scores: Scores {
                jaccard: 0.5,
                containment: 0.5,
                containment_source: 0.5,
                shared: 4,
            },
            spans: vec![Span {
                start: 2,
                end: 900,
                source_start: 800,
                source_end: 3,
            }],
            copies: 0,
            aligned: None,
        };
        let p = ParagraphReport {
            index: 0,
            start: 1,
            end: usize::MAX,
            line: 1,
            status: ParagraphStatus::Recycled,
            matches: vec![m],
        };
        let doc = ScannedDocument {
            name: "x".into(),
            text: "黄河🙂<x>".into(),
            report: crate::engine::Report {
                paragraphs: vec![p.clone(), ParagraphReport { index: 1, ..p }],
                summary: Default::default(),
            },
        };
        let html = render(&[doc]);
        assert!(html.contains("The source text is not in this report."));
        assert!(html.contains(
            "<p class=\"txt\">河<mark class=\"hl c0 t0\" data-tag=\"S1\">🙂&lt;x&gt;</mark></p>"
        ));
        assert!(render(&[]).contains("No documents were scanned."));
    }
}
