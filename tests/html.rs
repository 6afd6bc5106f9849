//! `neardup scan --format html`: the report is built through the binary and parsed with
//! `scraper`, then checked against the JSON report of the same scan (every recycled
//! paragraph with its source links and its spans, sliced from the file by code point)
//! and against hostile input (markup in texts and file names is shown, never run).

use std::path::{Path, PathBuf};

use scraper::{ElementRef, Html, Selector};
use serde_json::Value;

use crate::util::{neardup, test_data};

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| panic!("bad selector {s}: {e:?}"))
}

fn text(e: ElementRef) -> String {
    e.text().collect()
}

fn one<'a>(scope: ElementRef<'a>, selector: &str) -> ElementRef<'a> {
    let selector_ = sel(selector);
    let mut found = scope.select(&selector_);
    let first = found
        .next()
        .unwrap_or_else(|| panic!("no {selector} in {}", scope.value().name()));
    assert!(found.next().is_none(), "more than one {selector}");
    first
}

/// Runs `neardup scan --format html --output` and returns the page.
fn html_report(files: &[PathBuf], dir: &Path) -> String {
    let out = dir.join("report.html");
    let status = neardup()
        .args(["scan", "--format", "html", "--output"])
        .arg(&out)
        .args(files)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(out).unwrap()
}

fn json_report(files: &[PathBuf]) -> Vec<Value> {
    let out = neardup()
        .args(["scan", "--format", "json"])
        .args(files)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn n(v: &Value) -> usize {
    v.as_u64().unwrap() as usize
}

/// Code points `a..b`.
fn slice(chars: &[char], a: usize, b: usize) -> String {
    chars[a..b].iter().collect()
}

/// Sorted ranges, those that overlap merged (touching ones stay apart).
fn merged(mut ranges: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    ranges.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a < last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

#[test]
fn magazine_report_shows_every_recycled_paragraph_with_its_source_and_spans() {
    let path = test_data("magazine-zh/magazine.txt");
    let chars: Vec<char> = std::fs::read_to_string(&path).unwrap().chars().collect();
    let dir = tempfile::tempdir().unwrap();
    let json = json_report(std::slice::from_ref(&path));
    let page = html_report(std::slice::from_ref(&path), dir.path());
    let html = Html::parse_document(&page);
    let root = html.root_element();
    assert!(json.len() >= 20, "the magazine repeats many paragraphs");

    // Summary and structure.
    let recycled = root
        .select(&sel(".stats div"))
        .find(|d| text(one(*d, "dt")) == "Recycled")
        .unwrap();
    assert!(text(one(recycled, "dd")).starts_with(&json.len().to_string()));
    assert_eq!(root.select(&sel("article.para.rec")).count(), json.len());
    assert_eq!(
        root.select(&sel("article.para details.cmp")).count(),
        json.len()
    );
    let source = one(root, "ol.sources li");
    assert_eq!(text(one(source, ".tag")), "S1");
    assert_eq!(one(source, "a").value().attr("href"), Some("#d0"));
    assert!(page.len() < 1_000_000, "report is {} bytes", page.len());

    let mut spans_checked = 0;
    for line in &json {
        let id = format!("d0-p{}", line["paragraph"]);
        let (start, end) = (n(&line["start"]), n(&line["end"]));
        let article = one(root, &format!("article#{id}"));
        let body = one(article, ".body > p.txt");
        assert_eq!(text(body), slice(&chars, start, end), "{id} text");

        // Highlighted in the document: exactly the code points some span covers.
        let matches = line["matches"].as_array().unwrap();
        let all_spans = matches
            .iter()
            .flat_map(|m| m["spans"].as_array().unwrap())
            .map(|s| (n(&s[0]), n(&s[1])))
            .collect();
        let mut covered = String::new();
        let mut last = 0;
        for (a, b) in merged(all_spans) {
            covered += &slice(&chars, a.max(last), b.max(last));
            last = last.max(b);
        }
        let marked: String = body.select(&sel("mark.hl")).map(text).collect();
        assert_eq!(marked, covered, "{id} highlights");

        let pairs: Vec<ElementRef> = article.select(&sel("section.pair")).collect();
        assert_eq!(pairs.len(), matches.len(), "{id} comparisons");
        for (m, pair) in matches.iter().zip(pairs) {
            let target = format!("d0-p{}", m["paragraph"]);
            assert_eq!(pair.value().attr("data-source"), Some(target.as_str()));
            assert_eq!(pair.value().attr("data-kind"), m["kind"].as_str());
            // Links both ways: to the source, which exists and links back.
            let link = format!("a[href=\"#{target}\"]");
            assert!(
                article
                    .select(&sel(&format!(".chips {link}")))
                    .next()
                    .is_some()
            );
            assert!(pair.select(&sel(&link)).next().is_some());
            let source = one(root, &format!("article#{target}"));
            assert!(
                source
                    .select(&sel(&format!(".reused a[href=\"#{id}\"]")))
                    .next()
                    .is_some(),
                "{target} links back to {id}"
            );
            // Kind and scores.
            let head = text(one(pair, ".pair-head"));
            assert!(head.contains(m["kind"].as_str().unwrap()));
            let shown: f64 = text(one(pair, ".scores .jaccard"))
                .parse()
                .unwrap_or_else(|e| panic!("{head}: {e}"));
            assert!(
                (shown - m["jaccard"].as_f64().unwrap()).abs() < 6e-4,
                "{head}"
            );
            // Both texts in full, the spans highlighted on each side.
            let (src_start, src_end) = (n(&m["start"]), n(&m["end"]));
            let this_side = one(pair, ".side.this .txt");
            let source_side = one(pair, ".side.source .txt");
            assert_eq!(text(this_side), slice(&chars, start, end));
            assert_eq!(text(source_side), slice(&chars, src_start, src_end));
            let spans = m["spans"].as_array().unwrap();
            assert!(!spans.is_empty());
            for (side, (a, b)) in [(this_side, (0, 1)), (source_side, (2, 3))] {
                let expect: Vec<String> =
                    merged(spans.iter().map(|s| (n(&s[a]), n(&s[b]))).collect())
                        .into_iter()
                        .map(|(x, y)| slice(&chars, x, y))
                        .collect();
                let shown: Vec<String> = side.select(&sel("mark.sp")).map(text).collect();
                assert_eq!(shown, expect, "{id} vs {target}");
                spans_checked += expect.len();
            }
            // An exact repeat has nothing deleted or inserted.
            if m["kind"] == "exact" {
                assert!(pair.select(&sel(".txt del, .txt ins")).next().is_none());
            }
        }
    }
    assert!(spans_checked >= 2 * json.len());

    // A near repeat shows its edits on both sides.
    let near = json
        .iter()
        .flat_map(|l| l["matches"].as_array().unwrap())
        .filter(|m| m["kind"] == "near")
        .count();
    assert!(near > 0);
    assert!(root.select(&sel(".side.source .txt del")).next().is_some());
    assert!(root.select(&sel(".side.this .txt ins")).next().is_some());
}

#[test]
fn html_goes_to_standard_output_without_output_flag() {
    let out = neardup()
        .args(["scan", "--format", "html"])
        .arg(test_data("magazine-zh/magazine.txt"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    let html = Html::parse_document(&page);
    assert_eq!(
        text(one(html.root_element(), "title")),
        "Recycled text in magazine.txt"
    );
}

const HOSTILE: &str = "<script>alert(1)</script> <img src=x onerror=alert(2)> \
    \" onmouseover=\"alert(3)\" 'quoted' & &amp; &lt;b&gt; </p></article></main> \
    and enough plain words after it to be judged as a paragraph of its own.";

#[test]
fn hostile_input_is_shown_as_text_and_runs_nothing() {
    // The source has a hostile name (it appears in attributes and link texts); the copy
    // adds an unclosed `<script>` and has a short paragraph of markup.
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("<b onclick=\"x\">&'a.txt");
    let b = dir.path().join("b.txt");
    std::fs::write(
        &a,
        format!(
            "{HOSTILE}\n\nA second paragraph, harmless and long enough to be judged by itself."
        ),
    )
    .unwrap();
    std::fs::write(&b, format!("{HOSTILE} <script>\n\nshort <i>")).unwrap();
    let page = html_report(&[a.clone(), b], dir.path());
    let html = Html::parse_document(&page);
    let root = html.root_element();

    // Our script only, no element from the input, no event handler attribute.
    let scripts: Vec<ElementRef> = root.select(&sel("script")).collect();
    assert_eq!(scripts.len(), 1);
    assert_eq!(scripts[0].value().attr("id"), Some("neardup-report-js"));
    for tag in ["img", "i", "b[onclick]", "p > p", "main main"] {
        assert!(root.select(&sel(tag)).next().is_none(), "{tag} injected");
    }
    for e in root.descendent_elements() {
        for (name, _) in e.value().attrs() {
            assert!(!name.starts_with("on"), "{name} on <{}>", e.value().name());
        }
    }

    // The texts and the file name are shown literally, in text and in attributes.
    let name = "<b onclick=\"x\">&'a.txt";
    assert_eq!(text(one(root, "#d0-p0 .body > .txt")), HOSTILE);
    assert_eq!(
        text(one(root, "#d1-p0 .body > .txt")),
        format!("{HOSTILE} <script>")
    );
    assert_eq!(text(one(root, "#d1-p1 .body > .txt")), "short <i>");
    assert!(one(root, "#d1-p1").value().classes().any(|c| c == "short"));
    let pair = one(root, "#d1-p0 section.pair");
    assert_eq!(pair.value().attr("data-source"), Some("d0-p0"));
    assert_eq!(text(one(pair, ".side.source .txt")), HOSTILE);
    assert_eq!(
        text(one(pair, ".side.this .txt")),
        format!("{HOSTILE} <script>")
    );
    assert!(text(one(pair, ".pair-head a.src")).contains(name));
    assert_eq!(text(one(root, "#d0 h2")), name);
    assert_eq!(text(one(root, "#d0 .path")), a.display().to_string());
    let source = one(root, "ol.sources li a");
    assert_eq!(text(source), name);
    assert_eq!(
        source.value().attr("title"),
        Some(a.display().to_string().as_str())
    );
    assert!(
        one(root, ".map a.rec[href=\"#d1-p0\"]")
            .value()
            .attr("title")
            .unwrap()
            .contains(name)
    );
    assert_eq!(text(one(root, "title")), "Recycled text in 2 documents");
}

/// The summary leads with the passages (both sides' paragraphs, lines, paragraph count,
/// kinds), each links to its side-by-side view, and that view shows every pair of the
/// JSON report's passage, in order, with both paragraphs' texts sliced from the file.
#[test]
fn magazine_passages_lead_the_summary_and_are_shown_side_by_side() {
    let path = test_data("magazine-zh/magazine.txt");
    let chars: Vec<char> = std::fs::read_to_string(&path).unwrap().chars().collect();
    let dir = tempfile::tempdir().unwrap();
    let json = json_report(std::slice::from_ref(&path));
    let page = html_report(std::slice::from_ref(&path), dir.path());
    let html = Html::parse_document(&page);
    let root = html.root_element();

    // The JSON passages, once each, by their ranges; and each paragraph's range.
    let mut expected: std::collections::BTreeMap<[usize; 4], Value> = Default::default();
    let mut paragraphs: std::collections::HashMap<usize, (usize, usize)> = Default::default();
    for line in &json {
        paragraphs.insert(n(&line["paragraph"]), (n(&line["start"]), n(&line["end"])));
        for p in line["passages"].as_array().into_iter().flatten() {
            let key = ["start", "end", "source_start", "source_end"].map(|k| n(&p[k]));
            expected.insert(key, p.clone());
        }
    }
    assert_eq!(expected.len(), 4);

    // The summary: passages before the figures and the sources.
    let aside = one(root, "aside.panel");
    let first_h2 = aside.select(&sel("h2")).next().unwrap();
    assert!(text(first_h2).starts_with("Passages"));
    let summary = page.split("<main>").next().unwrap();
    assert!(summary.find("<ol class=\"passages\">") < summary.find("<dl class=\"stats\">"));
    let items: Vec<ElementRef> = aside.select(&sel("ol.passages li")).collect();
    assert_eq!(items.len(), expected.len());
    assert!(text(items[0]).contains("lines 179–215 from 151–187 · 19 ¶ · 18 exact, 1 near"));

    let mut seen = 0;
    for item in items {
        let href = one(item, "a.side-link").value().attr("href").unwrap();
        let view = one(root, &format!("article.passage-view{href}"));
        let attr = |k: &str| view.value().attr(k).unwrap().parse::<usize>().unwrap();
        let key = [
            "data-start",
            "data-end",
            "data-source-start",
            "data-source-end",
        ]
        .map(attr);
        let p = &expected[&key];
        assert_eq!(view.value().attr("data-source"), p["source"].as_str());
        // The same line of figures as the summary's.
        assert_eq!(
            text(one(view, "header .amount")),
            text(one(item, ".amount"))
        );
        let pairs: Vec<ElementRef> = view.select(&sel("section.pair")).collect();
        let want = p["pairs"].as_array().unwrap();
        assert_eq!(pairs.len(), want.len());
        let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
        for (pair, w) in pairs.iter().zip(want) {
            let (i, j) = (n(&w[0]), n(&w[1]));
            assert_eq!(pair.value().attr("data-source"), Some(&*format!("d0-p{j}")));
            *kinds
                .entry(pair.value().attr("data-kind").unwrap().into())
                .or_default() += 1;
            let (start, end) = paragraphs[&i];
            assert_eq!(
                text(one(*pair, ".side.this .txt")),
                slice(&chars, start, end)
            );
            let (s_start, s_end) = match paragraphs.get(&j) {
                Some(&r) => r,
                // A source paragraph that repeats nothing has no line of its own: take
                // its range from the match.
                None => {
                    let line = json.iter().find(|l| n(&l["paragraph"]) == i).unwrap();
                    let m = line["matches"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|m| n(&m["paragraph"]) == j)
                        .unwrap();
                    (n(&m["start"]), n(&m["end"]))
                }
            };
            assert_eq!(
                text(one(*pair, ".side.source .txt")),
                slice(&chars, s_start, s_end)
            );
        }
        for (kind, count) in p["kinds"].as_object().unwrap() {
            assert_eq!(kinds.get(kind).copied().unwrap_or(0), n(count), "{kind}");
        }
        seen += 1;
    }
    assert_eq!(seen, 4);
}
