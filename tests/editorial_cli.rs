//! Editorial depth through `neardup scan` (the binary): passages in the JSON, text and
//! HTML reports of the magazine, with offsets that slice the original text.

use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Output;

use crate::scan::MAGAZINE_REPEATS;
use crate::util::{neardup, slice_chars, test_data};

fn run(args: &[&str]) -> Output {
    let out = neardup().args(args).output().expect("neardup runs");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json_lines(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn magazine() -> (String, String) {
    let path = test_data("magazine-zh/magazine.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    (path.to_str().unwrap().to_string(), text)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

/// The magazine's passages as the JSON report gives them, once each: (lines, source
/// lines, pairs, exact, near).
#[test]
fn magazine_passages_are_in_the_json_report_and_slice_the_text() {
    let (path, text) = magazine();
    let lines = json_lines(&run(&["scan", "--format", "json", &path]));
    let mut pairs = BTreeSet::new();
    let mut passages = BTreeSet::new();
    for l in &lines {
        for m in l["matches"].as_array().unwrap() {
            pairs.insert((u(&l["line"]), u(&m["line"])));
        }
        let Some(ps) = l["passages"].as_array() else {
            continue;
        };
        for p in ps {
            // The paragraph is one of the passage's pairs, inside its range.
            assert!(
                p["pairs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|q| q[0] == l["paragraph"])
            );
            assert!(u(&p["start"]) <= u(&l["start"]) && u(&l["end"]) <= u(&p["end"]));
            // Both ranges start and end at the first and last paired paragraphs' text.
            let this = slice_chars(&text, u(&p["start"]), u(&p["end"]));
            let source = slice_chars(&text, u(&p["source_start"]), u(&p["source_end"]));
            let lines_of = |s: &str| s.matches('\n').count() as u64;
            assert_eq!(u(&p["lines"][0]) + lines_of(&this), u(&p["lines"][1]));
            assert_eq!(
                u(&p["source_lines"][0]) + lines_of(&source),
                u(&p["source_lines"][1])
            );
            let first_line = text.lines().nth(u(&p["lines"][0]) as usize - 1).unwrap();
            // (A heading's range starts after its `## `.)
            assert!(
                first_line.ends_with(this.lines().next().unwrap()),
                "{first_line:?}"
            );
            passages.insert((
                (u(&p["lines"][0]), u(&p["lines"][1])),
                (u(&p["source_lines"][0]), u(&p["source_lines"][1])),
                p["pairs"].as_array().unwrap().len(),
                u(&p["kinds"]["exact"]),
                u(&p["kinds"]["near"]),
            ));
        }
    }
    // Passages change nothing in the paragraph matches.
    assert_eq!(pairs, MAGAZINE_REPEATS.iter().copied().collect());
    assert_eq!(
        passages,
        BTreeSet::from([
            ((133, 135), (59, 61), 2, 1, 1),
            ((137, 147), (55, 67), 6, 6, 0),
            ((161, 165), (37, 41), 3, 3, 0),
            ((179, 215), (151, 187), 19, 18, 1),
        ])
    );
    // Every recycled paragraph of the magazine is in a passage.
    assert!(
        lines
            .iter()
            .filter(|l| !l["matches"].as_array().unwrap().is_empty())
            .all(|l| l["passages"].is_array())
    );
}

#[test]
fn magazine_passages_lead_the_text_and_html_reports() {
    let (path, _) = magazine();
    let text = stdout(&run(&["scan", &path]));
    let block = text.split("passages\n").nth(1).expect("a passages block");
    assert_eq!(
        block.lines().next().unwrap(),
        format!("  {path}:179-215 reprints {path}:151-187  19 paragraphs (18 exact, 1 near)")
    );
    assert_eq!(block.lines().take_while(|l| !l.is_empty()).count(), 4);
    assert!(text.ends_with("30 of 103 paragraphs recycled in 1 file (0 too short to judge)\n"));

    let html = stdout(&run(&["scan", "--format", "html", &path]));
    let (summary, _) = html.split_once("<main>").unwrap();
    let passages = summary
        .split("<h2>Passages")
        .nth(1)
        .expect("passages in the summary");
    assert!(summary.find("<h2>Passages").unwrap() < summary.find("<h2>Sources").unwrap());
    assert!(
        passages.contains("<a href=\"#d0-p84\">¶85–¶103</a> from <a href=\"#d0-p70\">¶71–¶89</a>")
    );
    assert!(passages.contains("lines 179–215 from 151–187 · 19 ¶ · 18 exact, 1 near"));
    // Still one self-contained page.
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
}

/// Submit the magazine over gRPC: the report carries the same four passages, with
/// offsets that slice the submitted text, and the paragraph matches are the 39 pairs.
#[tokio::test]
async fn magazine_passages_are_in_the_grpc_report() {
    use neardup::grpc::pb;
    let (_, text) = magazine();
    let server = crate::util::server::TestServer::start().await;
    let mut client = server.client().await;
    let r = client
        .submit(pb::SubmitRequest {
            document_id: "magazine".into(),
            text: text.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let report = r.report.unwrap();
    let pairs: BTreeSet<(u64, u64)> = report
        .paragraphs
        .iter()
        .flat_map(|p| {
            p.matches
                .iter()
                .map(move |m| (p.line as u64, m.source.as_ref().unwrap().line as u64))
        })
        .collect();
    assert_eq!(pairs, MAGAZINE_REPEATS.iter().copied().collect());
    let found: Vec<_> = report
        .passages
        .iter()
        .map(|p| {
            assert!(p.same_document);
            assert_eq!(p.source_document_id, "magazine");
            let first = &report.paragraphs[p.pairs[0].paragraph as usize];
            let last = &report.paragraphs[p.pairs.last().unwrap().paragraph as usize];
            assert_eq!((p.start, p.end), (first.start, last.end));
            let this = slice_chars(&text, p.start, p.end);
            let source = slice_chars(&text, p.source_start, p.source_end);
            assert!(!this.is_empty() && !source.is_empty());
            let near = p
                .pairs
                .iter()
                .filter(|q| q.kind() == pb::MatchKind::Near)
                .count();
            (
                (p.line, p.last_paragraph_line),
                (p.source_line, p.source_last_paragraph_line),
                p.pairs.len(),
                near,
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ((179, 215), (151, 187), 19, 1),
            ((137, 147), (55, 67), 6, 0),
            ((161, 165), (37, 41), 3, 0),
            ((133, 135), (59, 61), 2, 1),
        ]
    );
}

fn token_hashes(text: &str) -> Vec<u64> {
    neardup::text::tokenize(text)
        .iter()
        .map(|t| t.hash)
        .collect()
}

/// `scan --repair auto` (the default): every paragraph of the magazine cut at a page
/// break with evidence for its continuation is joined with it, and nothing else (the
/// text report lists them); what the joined paragraph repeats has spans that slice the
/// original text, across the break. The paragraph matches stay the 39 pairs; `--repair off` reports no repair.
#[test]
fn magazine_page_breaks_are_repaired_in_the_scan_report() {
    let (path, text) = magazine();
    let lines = json_lines(&run(&["scan", "--format", "json", &path]));
    let mut pairs = BTreeSet::new();
    let mut joins = Vec::new();
    let (mut spans, mut crossing) = (0, 0);
    for l in &lines {
        for m in l["matches"].as_array().unwrap() {
            pairs.insert((u(&l["line"]), u(&m["line"])));
        }
        let Some(r) = l.get("repaired") else {
            continue;
        };
        let pieces = r["pieces"].as_array().unwrap();
        assert_eq!(pieces[0][0], l["paragraph"]);
        assert_eq!(
            (u(&pieces[0][1]), u(&pieces[0][2])),
            (u(&l["start"]), u(&l["end"]))
        );
        joins.push(pieces.iter().map(|p| u(&p[3]) as usize).collect::<Vec<_>>());
        let inside = |a: u64, b: u64| pieces.iter().any(|p| u(&p[1]) <= a && b <= u(&p[2]));
        for m in r["matches"].as_array().unwrap() {
            let source = (u(&m["start"]), u(&m["end"]));
            let mut in_piece = BTreeSet::new();
            for s in m["spans"].as_array().unwrap() {
                let (a, b, c, d) = (u(&s[0]), u(&s[1]), u(&s[2]), u(&s[3]));
                assert!(inside(a, b), "span {a}..{b} outside the pieces");
                assert!(source.0 <= c && d <= source.1);
                assert_eq!(
                    token_hashes(&slice_chars(&text, a, b)),
                    token_hashes(&slice_chars(&text, c, d))
                );
                spans += 1;
                in_piece.insert(pieces.iter().position(|p| u(&p[1]) <= a && b <= u(&p[2])));
            }
            crossing += usize::from(in_piece.len() > 1);
        }
    }
    // The recycled cut paragraphs carry their repair in the JSON report (lines are for
    // paragraphs with matches; 177 has none of its own).
    assert_eq!(joins, [[165, 167], [193, 195], [205, 207]]);
    assert!(
        spans > 0 && crossing > 0,
        "{spans} spans, {crossing} across a break"
    );
    assert_eq!(pairs, MAGAZINE_REPEATS.iter().copied().collect());

    let off = stdout(&run(&[
        "scan", "--format", "json", "--repair", "off", &path,
    ]));
    assert!(!off.contains("\"repaired\""));
    assert_eq!(off.lines().count(), 30);
    // The text report lists every repair: TRUE_JOINS of tests/editorial.rs, less the one
    // the text gives no evidence for.
    let text_report = stdout(&run(&["scan", &path]));
    let block = text_report.split("page breaks repaired\n").nth(1).unwrap();
    let listed: Vec<&str> = block
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| l.trim_start().split("  ").next().unwrap())
        .collect();
    let expect: Vec<String> = [
        (17, 43),
        (29, 131),
        (89, 91),
        (165, 167),
        (177, 179),
        (193, 195),
        (205, 207),
    ]
    .iter()
    .map(|(a, b)| format!("{path}:{a}+{b}"))
    .collect();
    assert_eq!(listed, expect);
    assert!(block.starts_with(&format!("  {path}:17+43  repeats nothing\n")));
}

/// Code points of `[a, b)` that are also in `[c, d)`.
fn overlap((a, b): (u64, u64), (c, d): (u64, u64)) -> u64 {
    b.min(d).saturating_sub(a.max(c))
}

/// `scan --passages`: a passage of the magazine that starts in the middle of one
/// paragraph and ends in the middle of another, printed as one paragraph of a new
/// article, is reported as one character range on each side, as PAN scores it.
#[test]
fn passage_mode_finds_reuse_across_paragraph_boundaries() {
    let (path, text) = magazine();
    let lines: Vec<&str> = text.split('\n').collect();
    let half = |s: &str, first: bool| -> String {
        let n = s.chars().count() / 2;
        if first {
            s.chars().take(n).collect()
        } else {
            s.chars().skip(n).collect()
        }
    };
    // The second half of line 57, line 59, and the first half of line 61.
    let (head, tail) = (half(lines[56], false), half(lines[60], true));
    let copied = format!("{head}{}{tail}", lines[58]);
    let intro =
        "本刊讯 记者近日走访了多地基层单位，了解到各地在推进社会治理方面的新做法。以下为采访手记。";
    let outro = "采访结束时，当地干部表示，将继续总结经验，不断完善工作机制，让群众有更多获得感。";
    let article = format!("{intro}\n\n据介绍，{copied}\n\n{outro}\n");
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("article.txt");
    std::fs::write(&b, &article).unwrap();
    let b = b.to_str().unwrap();

    let chars = |s: &str| s.chars().count() as u64;
    let at = chars(&format!("{intro}\n\n据介绍，"));
    let truth = (at, at + chars(&copied));
    let source_at = chars(&text[..text.find(&head).unwrap()]);
    let source_truth = (source_at, source_at + chars(&copied) + 4); // two blank lines

    let out = json_lines(&run(&["scan", "--format", "json", "--passages", &path, b]));
    let found: Vec<&Value> = out
        .iter()
        .filter(|l| l.get("alignment").is_some())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["document"], b);
    assert_eq!(found[0]["source"], path.as_str());
    let a = &found[0]["alignment"];
    let this = (u(&a["start"]), u(&a["end"]));
    let source = (u(&a["source_start"]), u(&a["source_end"]));
    // Character recall and precision of both sides, as PAN measures them.
    let len = |(a, b): (u64, u64)| (b - a) as f64;
    assert!(
        overlap(this, truth) as f64 / len(truth) >= 0.98,
        "{this:?} vs {truth:?}"
    );
    assert!(
        overlap(this, truth) as f64 / len(this) >= 0.95,
        "{this:?} vs {truth:?}"
    );
    assert!(overlap(source, source_truth) as f64 / len(source_truth) >= 0.98);
    assert!(overlap(source, source_truth) as f64 / len(source) >= 0.9);
    // The reported text is the copied text.
    let reported = slice_chars(&article, this.0, this.1);
    assert!(
        copied.contains(reported.trim_start_matches('，')),
        "{reported}"
    );

    // Off by default; and the paragraph matches do not change with it.
    let plain = json_lines(&run(&["scan", "--format", "json", &path, b]));
    assert!(plain.iter().all(|l| l.get("alignment").is_none()));
    assert_eq!(plain.len(), out.len() - 1);
}
