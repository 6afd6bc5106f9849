//! The editorial report: one self-contained HTML page showing what a scan found recycled.
//!
//! [`render`] turns a [`Scan`] into a page an editor reads rather
//! than parses: a summary that leads with the passages (runs reprinted from one source:
//! both sides' paragraphs and lines, paragraph count, kinds), then documents, paragraphs,
//! recycled paragraphs, share of the text recycled, sources ranked by how much was taken
//! from each; each passage side by side (every pair's comparison, in order); every document in full with
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
//! What the page shows is computed first, by the report model ([`Overview`]); this module
//! only writes it. The side-by-side views' diffs are [`diff`]'s; the page's CSS and script
//! are in `assets.rs`.
//!
//! Pages stay light for long inputs: no work happens in the browser, closed comparisons
//! are `<details>` (not laid out until opened) and paragraphs use `content-visibility`.
//!
//! This module does no I/O: the `scan` command writes the string where it was asked to.

mod assets;
pub mod diff;

use std::fmt::Write as _;

use self::assets::{CSS, JS};
use self::diff::{Edit, edits};
use super::model::{Overview, Scan, owners};
use super::passage::Passage;
use crate::engine::{Match, ParagraphReport, ParagraphStatus};
use crate::text::Chars;
use crate::verify::MatchKind;

/// Colours in the source palette (labels cycle through them; the label stays unique).
const COLOURS: usize = 8;
/// Line styles that tell sources apart without colour.
const STYLES: usize = 4;

/// `write!` into a `String`, which cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// Renders the report on `scan` as one HTML page.
pub fn render(scan: &Scan) -> String {
    let page = Page(Overview::new(&scan.documents));
    let bytes: usize = scan.documents.iter().map(|d| d.text.len()).sum();
    let mut out = String::with_capacity(24 * 1024 + bytes * 3);
    page.page(&mut out);
    out
}

/// The page writer, over what the model computed.
struct Page<'a>(Overview<'a>);

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

impl Page<'_> {
    /// The label, colour and line-style classes of a source.
    fn source_class(&self, name: &str) -> (usize, String) {
        let r = self.0.rank.get(name).copied().unwrap_or(0);
        (
            r + 1,
            format!("c{} t{}", r % COLOURS, (r + r / COLOURS) % STYLES),
        )
    }

    /// How a paragraph is named in a link: `¶12` in the same document, `name ¶12` in
    /// another.
    fn paragraph_label(&self, out: &mut String, from_doc: usize, doc: usize, paragraph: usize) {
        if doc != from_doc {
            escape(out, basename(&self.0.scanned[doc].name));
            out.push(' ');
        }
        w!(out, "¶{}", paragraph + 1);
    }

    fn page(&self, out: &mut String) {
        let title = match self.0.scanned {
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
        self.passage_views(out);
        for di in 0..self.0.scanned.len() {
            self.document(out, di);
        }
        if self.0.scanned.is_empty() {
            out.push_str("<p class=\"empty\">No documents were scanned.</p>\n");
        }
        out.push_str("</main>\n</div>\n<script id=\"neardup-report-js\">");
        out.push_str(JS);
        out.push_str("</script>\n</body>\n</html>\n");
    }

    fn sidebar(&self, out: &mut String, title: &str) {
        let (mut paragraphs, mut recycled, mut too_short) = (0, 0, 0);
        let (mut chars, mut recycled_chars, mut shared_chars) = (0usize, 0usize, 0usize);
        let mut kinds = [0usize; 4];
        for (di, d) in self.0.scanned.iter().enumerate() {
            for p in &d.report.paragraphs {
                let n = self.0.texts[di].clamp(p.start, p.end).len();
                paragraphs += 1;
                chars += n;
                if p.status == ParagraphStatus::TooShort {
                    too_short += 1;
                }
                if let Some(best) = p.matches.first() {
                    recycled += 1;
                    recycled_chars += n;
                    shared_chars += owners(p, self.0.texts[di].len())
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
        out.push_str("</h1>\n");
        // An editor's first question is what was reprinted from where.
        self.passages(out);
        out.push_str("<dl class=\"stats\">\n");
        stat(out, "Documents", &group(self.0.scanned.len()), "");
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
        out.push_str("</dl>\n");
        out.push_str(
            "<p class=\"tools\">\
             <button type=\"button\" id=\"nd-review\" aria-pressed=\"false\" \
             title=\"Only recycled paragraphs, each beside its source (link: #review)\">Review side by side</button> \
             <button type=\"button\" id=\"nd-open\">Open all</button> \
             <button type=\"button\" id=\"nd-close\">Close all</button></p>\n",
        );
        out.push_str("<p class=\"kinds\">");
        for (k, n) in KINDS.iter().zip(kinds) {
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
        if self.0.sources.is_empty() {
            out.push_str("<p class=\"none\">Nothing recycled.</p>\n");
        } else {
            let max = self
                .0
                .sources
                .iter()
                .map(|s| s.chars)
                .max()
                .unwrap_or(0)
                .max(1);
            out.push_str("<ol class=\"sources\">\n");
            for s in &self.0.sources {
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
        for (di, d) in self.0.scanned.iter().enumerate() {
            if self.0.scanned.len() > 1 {
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
                    (None, _) if p.boilerplate => out.push_str(" short"),
                    (None, _) if self.0.reused_by.contains_key(&(di, p.index)) => {
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
             <li><span class=\"kind k-exact\">exact</span> identical after normalization · <span class=\"kind k-near\">near</span> Jaccard at or above the threshold · <span class=\"kind k-partial\">partial</span> one mostly contains the other · <span class=\"kind k-edited\">edited</span> heavily rewritten, found by aligning the words</li>\n\
             <li><span class=\"kind k-short\">too short</span> too short to judge · <span class=\"kind k-orig\">source</span> reused later</li>\n\
             </ul>\n</aside>\n",
        );
    }

    /// The passages of every document: what was reprinted from where, as runs.
    fn passages(&self, out: &mut String) {
        let all = self.all_passages();
        w!(
            out,
            "<h2>Passages <small>runs reprinted from one source</small></h2>\n"
        );
        if all.is_empty() {
            out.push_str("<p class=\"none\">No passages.</p>\n");
            return;
        }
        let from = self.unnamed();
        out.push_str("<ol class=\"passages\">\n");
        for (di, k, p) in all {
            out.push_str("<li>");
            self.passage_line(out, from, di, p);
            w!(
                out,
                " <a class=\"side-link\" href=\"#d{di}-g{k}\">side by side</a></li>\n"
            );
        }
        out.push_str("</ol>\n");
    }

    /// The document whose name links leave out: the only one, if there is one.
    fn unnamed(&self) -> usize {
        if self.0.scanned.len() == 1 {
            0
        } else {
            usize::MAX
        }
    }

    /// Every document's passages, as (document, passage number, passage).
    fn all_passages(&self) -> Vec<(usize, usize, &Passage)> {
        self.0
            .passages
            .iter()
            .enumerate()
            .flat_map(|(di, ps)| ps.iter().enumerate().map(move |(k, p)| (di, k, p)))
            .collect()
    }

    /// One passage in a line: its source's tag, its paragraphs on both sides (linked),
    /// lines, paragraph count and kinds. Names are left out for document `from`.
    fn passage_line(&self, out: &mut String, from: usize, di: usize, p: &Passage) {
        let (label, class) = self.source_class(&p.source_name);
        let (first, last) = (p.pairs[0], p.pairs[p.pairs.len() - 1]);
        w!(
            out,
            "<span class=\"tag {class}\">S{label}</span> <span><a href=\"#d{di}-p{}\">",
            first.paragraph
        );
        self.paragraph_label(out, from, di, first.paragraph);
        w!(out, "–¶{}</a> from ", last.paragraph + 1);
        match self.0.by_name.get(&*p.source_name) {
            Some(&sd) => {
                w!(out, "<a href=\"#d{sd}-p{}\">", first.source_paragraph);
                self.paragraph_label(out, from, sd, first.source_paragraph);
                w!(out, "–¶{}</a>", last.source_paragraph + 1);
            }
            None => {
                escape(out, basename(&p.source_name));
                w!(
                    out,
                    " ¶{}–¶{}",
                    first.source_paragraph + 1,
                    last.source_paragraph + 1
                );
            }
        }
        w!(
            out,
            "</span><span class=\"amount\">lines {}–{} from {}–{} · {} ¶ · ",
            p.range.first_line,
            p.range.last_line,
            p.source_range.first_line,
            p.source_range.last_line,
            p.pairs.len()
        );
        escape(out, &p.kinds.describe());
        if !p.skipped.is_empty() {
            w!(out, " · {} skipped", p.skipped.len());
        }
        out.push_str("</span>");
    }

    /// Every passage side by side: each of its pairs as the paragraph's comparison with
    /// its source paragraph, in order, and the paragraphs it skips where they fall.
    fn passage_views(&self, out: &mut String) {
        let all = self.all_passages();
        if all.is_empty() {
            return;
        }
        let from = self.unnamed();
        out.push_str(
            "<section class=\"passage-views\" id=\"passages\">\n<h2>Passages side by side</h2>\n",
        );
        for (di, k, p) in all {
            let report = &self.0.scanned[di].report;
            w!(
                out,
                "<article class=\"passage-view\" id=\"d{di}-g{k}\" data-start=\"{}\" data-end=\"{}\" \
                 data-source-start=\"{}\" data-source-end=\"{}\" data-source=\"",
                p.range.start,
                p.range.end,
                p.source_range.start,
                p.source_range.end
            );
            escape(out, &p.source_name);
            out.push_str("\">\n<header class=\"passage-head\">");
            self.passage_line(out, from, di, p);
            out.push_str("</header>\n<details class=\"cmp\"><summary>Side by side</summary>\n");
            let mut skipped = p.skipped.iter().peekable();
            for pair in &p.pairs {
                while let Some(&&s) = skipped.peek().filter(|&&&s| s < pair.paragraph) {
                    w!(
                        out,
                        "<p class=\"skipped\" data-paragraph=\"{s}\">¶{} is not paired (short, new or edited)</p>\n",
                        s + 1
                    );
                    skipped.next();
                }
                let Some(para) = report.paragraphs.get(pair.paragraph) else {
                    continue;
                };
                let m = para.matches.iter().find(|m| {
                    m.source.name == p.source_name && m.source.paragraph == pair.source_paragraph
                });
                if let Some(m) = m {
                    self.pair(out, di, para, m);
                }
            }
            out.push_str("</details>\n</article>\n");
        }
        out.push_str("</section>\n");
    }

    fn document(&self, out: &mut String, di: usize) {
        let d = &self.0.scanned[di];
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
        let text = &self.0.texts[di];
        let body = text.slice(p.start, p.end);
        let heading = body.starts_with('#');
        let reused = self.0.reused_by.get(&(di, p.index));
        out.push_str("<article class=\"para");
        if let Some(m) = p.matches.first() {
            let (_, class) = self.source_class(&m.source.name);
            w!(out, " rec {class}");
        } else if p.status == ParagraphStatus::TooShort {
            out.push_str(" short");
        } else if p.boilerplate {
            out.push_str(" boilerplate");
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
        } else if p.boilerplate {
            out.push_str("<span class=\"kind k-short\">boilerplate</span>");
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
                .map(|m| self.0.rank.get(&*m.source.name).copied().unwrap_or(0))
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
        let sd = self.0.by_name.get(&*m.source.name).copied();
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
        let sd = self.0.by_name.get(&*m.source.name).copied();
        let this = &self.0.texts[di];
        let source_text = sd.map(|sd| &self.0.texts[sd]);
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

/// The kinds, most alike first, as the sidebar counts them.
const KINDS: [MatchKind; 4] = [
    MatchKind::Exact,
    MatchKind::Near,
    MatchKind::Partial,
    MatchKind::Edited,
];

fn kind_index(kind: MatchKind) -> usize {
    KINDS.iter().position(|&k| k == kind).unwrap_or(0)
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

/// Which side of the comparison a text is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Old,
    New,
}

/// Writes code points `start..end` of `text`, escaped, with `marks` (sorted, disjoint,
/// absolute code-point ranges, each with its opening `<mark>` tag) and, inside them, the
/// diff `edits` (one per code point from `start`; empty: no diff).
fn write_marked(
    out: &mut String,
    text: &Chars,
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
    text: &Chars,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, Settings, SourceRef, Span};
    use crate::report::ScannedDocument;
    use crate::scan::scan;
    use crate::verify::Scores;

    fn html_of(docs: &[(&str, &str)]) -> (Vec<ScannedDocument>, String) {
        let engine = Engine::new(Settings::default()).unwrap();
        let scanned = scan(
            &engine,
            docs.iter().map(|(n, t)| (n.to_string(), t.to_string())),
        )
        .unwrap();
        let html = render(&Scan::new(scanned.clone()));
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
    fn marked_text_nests_edits_inside_marks() {
        let t = Chars::new("a<b>c黄河d");
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
        let t = Chars::new(&scanned[1].text);
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
        let model = Overview::new(&scanned);
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
            boilerplate: false,
        };
        let doc = ScannedDocument {
            name: "x".into(),
            text: "黄河🙂<x>".into(),
            report: crate::engine::Report {
                paragraphs: vec![p.clone(), ParagraphReport { index: 1, ..p }],
                summary: Default::default(),
            },
            repairs: Vec::new(),
            alignments: Vec::new(),
        };
        let html = render(&Scan::new(vec![doc]));
        assert!(html.contains("The source text is not in this report."));
        assert!(html.contains(
            "<p class=\"txt\">河<mark class=\"hl c0 t0\" data-tag=\"S1\">🙂&lt;x&gt;</mark></p>"
        ));
        assert!(render(&Scan::default()).contains("No documents were scanned."));
    }
}
