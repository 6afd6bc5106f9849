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

/// A repaired paragraph as compared across interfaces: pieces as (paragraph, start,
/// end, line), and each match as (source paragraph, kind, spans).
type RepairView = (Vec<[u64; 4]>, Vec<(u64, String, Vec<[u64; 4]>)>);

fn pb_repairs(report: &neardup::grpc::pb::Report) -> Vec<RepairView> {
    report
        .repaired
        .iter()
        .map(|r| {
            let pieces = r
                .pieces
                .iter()
                .map(|p| [p.index as u64, p.start, p.end, p.line as u64])
                .collect();
            let matches = r
                .matches
                .iter()
                .map(|m| {
                    let s = m.source.as_ref().unwrap();
                    assert!(s.same_document, "{s:?}");
                    let kind = m.kind().as_str_name().trim_start_matches("MATCH_KIND_");
                    let spans = m
                        .spans
                        .iter()
                        .map(|s| [s.start, s.end, s.source_start, s.source_end])
                        .collect();
                    (s.paragraph as u64, kind.to_lowercase(), spans)
                })
                .collect();
            (pieces, matches)
        })
        .collect()
}

/// Page-break repair as a Check and Submit option: on by default, the repaired
/// paragraphs and what they repeat are those `scan --repair auto` reports, spans slice
/// the submitted text (the stored text is the text as submitted), `off` gives none, and
/// a value the server does not know is INVALID_ARGUMENT.
#[tokio::test]
async fn magazine_page_breaks_are_repaired_in_grpc_check_and_submit() {
    use neardup::grpc::pb;
    let (_, text) = magazine();
    let engine = neardup::Engine::new(neardup::Settings::default()).unwrap();
    let scanned = neardup::scan::scan_with_options(
        &engine,
        [("magazine".to_string(), text.clone())],
        neardup::scan::ScanOptions::default(),
    )
    .unwrap();
    let expected: Vec<RepairView> = scanned[0]
        .repairs
        .iter()
        .map(|r| {
            let pieces = r
                .pieces
                .iter()
                .map(|p| [p.index as u64, p.start as u64, p.end as u64, p.line as u64])
                .collect();
            let matches = r
                .matches
                .iter()
                .map(|m| {
                    let spans = m
                        .spans
                        .iter()
                        .map(|s| [s.start, s.end, s.source_start, s.source_end].map(|v| v as u64))
                        .collect();
                    (
                        m.source.paragraph as u64,
                        m.kind.as_str().to_string(),
                        spans,
                    )
                })
                .collect();
            (pieces, matches)
        })
        .collect();
    let lines: Vec<u64> = expected.iter().map(|r| r.0[0][3]).collect();
    assert_eq!(lines, [17, 29, 89, 165, 177, 193, 205]);
    assert!(expected.iter().any(|r| !r.1.is_empty()));

    let server = crate::util::server::TestServer::start().await;
    let mut client = server.client().await;
    let options = |repair: pb::PageBreakRepair| {
        Some(pb::QueryOptions {
            repair: repair as i32,
            ..Default::default()
        })
    };
    // Check, against a namespace that does not hold the magazine.
    client
        .submit(pb::SubmitRequest {
            namespace: "other".into(),
            document_id: "unrelated".into(),
            text: "Something else entirely, written for this one test only.".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let check = |options: Option<pb::QueryOptions>| pb::CheckRequest {
        namespace: "other".into(),
        document_id: "magazine".into(),
        text: text.clone(),
        options,
    };
    let client2 = client.clone();
    let checked = |req| {
        let mut c = client2.clone();
        async move { c.check(req).await.unwrap().into_inner().report.unwrap() }
    };
    assert_eq!(pb_repairs(&checked(check(None)).await), expected);
    let auto = checked(check(options(pb::PageBreakRepair::Auto))).await;
    assert_eq!(pb_repairs(&auto), expected);
    let off = checked(check(options(pb::PageBreakRepair::Off))).await;
    assert!(off.repaired.is_empty());
    // The paragraph reports do not change.
    assert_eq!(off.paragraphs, auto.paragraphs);

    // Submit: the same repairs, and the stored text is the text as submitted.
    let submit = |options: Option<pb::QueryOptions>, id: &str| pb::SubmitRequest {
        document_id: id.into(),
        text: text.clone(),
        options,
        ..Default::default()
    };
    let submitted = client
        .submit(submit(None, "magazine"))
        .await
        .unwrap()
        .into_inner();
    let report = submitted.report.unwrap();
    assert_eq!(pb_repairs(&report), expected);
    for r in &report.repaired {
        for s in r.matches.iter().flat_map(|m| &m.spans) {
            assert_eq!(
                token_hashes(&slice_chars(&text, s.start, s.end)),
                token_hashes(&slice_chars(&text, s.source_start, s.source_end))
            );
        }
    }
    let stored = client
        .get_document(pb::GetDocumentRequest {
            document_id: "magazine".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .document
        .unwrap();
    assert_eq!(stored.text, text);
    let off = client
        .submit(submit(options(pb::PageBreakRepair::Off), "magazine-2"))
        .await
        .unwrap()
        .into_inner();
    assert!(off.report.unwrap().repaired.is_empty());

    // Values the server does not know.
    for bad in [
        pb::QueryOptions {
            repair: 9,
            ..Default::default()
        },
        pb::QueryOptions {
            passage_mode: -1,
            ..Default::default()
        },
    ] {
        let status = client.check(check(Some(bad))).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        let status = client
            .submit(submit(Some(bad), "magazine-3"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    }
    server.stop().await;
}

/// The passage mode as a Check option: the magazine's second half against its first
/// half, stored; reused text comes as character ranges of both texts that hold the same
/// text, and only when asked for.
#[tokio::test]
async fn passage_mode_is_a_grpc_check_option() {
    use neardup::grpc::pb;
    let (_, text) = magazine();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let (first, second) = (lines[..130].concat(), lines[130..].concat());
    let server = crate::util::server::TestServer::start().await;
    let mut client = server.client().await;
    client
        .submit(pb::SubmitRequest {
            document_id: "first-half".into(),
            text: first.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let check = |mode: pb::PassageMode| pb::CheckRequest {
        text: second.clone(),
        options: Some(pb::QueryOptions {
            passage_mode: mode as i32,
            ..Default::default()
        }),
        ..Default::default()
    };
    let on = client
        .check(check(pb::PassageMode::On))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert!(on.alignments.len() >= 3, "{:?}", on.alignments);
    for a in &on.alignments {
        assert_eq!(a.source_document_id, "first-half");
        let this = slice_chars(&second, a.start, a.end);
        let source = slice_chars(&first, a.source_start, a.source_end);
        assert!(this.chars().count() >= 150 && source.chars().count() >= 150);
        // The two ranges hold the same text, for the most part.
        let set = |t: &str| -> BTreeSet<u64> { token_hashes(t).into_iter().collect() };
        let (x, y) = (set(&this), set(&source));
        let shared = x.intersection(&y).count() as f64;
        assert!(
            shared / x.len().max(y.len()) as f64 > 0.5,
            "{this:?} / {source:?}"
        );
    }
    for mode in [pb::PassageMode::Off, pb::PassageMode::Unspecified] {
        let off = client.check(check(mode)).await.unwrap().into_inner();
        assert!(off.report.unwrap().alignments.is_empty());
    }
    server.stop().await;
}
