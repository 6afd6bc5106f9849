//! Heavily edited copies (`edited` matches, issue 16) through every interface: the gRPC
//! service (kind, aligned coverage, spans, the per-request switch), `neardup scan --format
//! json` and `--format html`, and `neardup dedup --edited`. An unrelated paragraph on the same topic, sharing
//! its vocabulary, is reported by none of them.

use std::path::Path;

use neardup::grpc::pb;
use serde_json::Value;

use crate::util::server::TestServer;
use crate::util::{neardup, slice_chars};

/// The source paragraph.
const SOURCE: &str = "The city council voted on Monday evening to close the old public library \
    on Elm Street next spring, citing rising repair costs, falling visitor numbers and a long \
    delay in state funding for the building.";
/// A rewrite of it: a third of the words replaced, the order kept (word-bigram Jaccard 0.15,
/// below every set rule).
const EDITED: &str = "On Monday night the town council decided to shut the ancient public \
    library on Elm Street by next summer, blaming growing repair costs, shrinking visitor \
    figures and a lengthy wait for state money for the building.";
/// Another paragraph on the same library: the same names and vocabulary, other content.
const TOPIC: &str = "Volunteers at the public library on Elm Street will run a book fair in \
    the spring, and the organisers hope the event will bring more visitors and new funding \
    to the council's oldest building.";

fn check(text: &str, edited: Option<bool>) -> pb::CheckRequest {
    pb::CheckRequest {
        text: text.into(),
        options: Some(pb::QueryOptions {
            edited,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn grpc_reports_an_edited_copy_with_its_coverage_and_not_a_same_topic_paragraph() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    client
        .submit(pb::SubmitRequest {
            document_id: "library".into(),
            text: SOURCE.into(),
            ..Default::default()
        })
        .await
        .unwrap();

    let report = client
        .check(check(EDITED, None))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    let p = &report.paragraphs[0];
    assert_eq!(p.status(), pb::ParagraphStatus::Recycled);
    assert_eq!(p.matches.len(), 1);
    let m = &p.matches[0];
    assert_eq!(m.kind(), pb::MatchKind::Edited);
    assert_eq!(m.source.as_ref().unwrap().document_id, "library");
    assert!(m.jaccard < 0.2, "{}", m.jaccard);
    let (q, s) = (
        m.aligned_coverage.unwrap(),
        m.aligned_coverage_source.unwrap(),
    );
    assert!(
        (0.35..1.0).contains(&q) && (0.35..1.0).contains(&s),
        "{q} {s}"
    );
    // Spans are the aligned runs: the same words on both sides, the longest one the
    // library's name and street.
    assert!(m.spans.len() >= 4, "{:?}", m.spans);
    for span in &m.spans {
        let a = slice_chars(EDITED, span.start, span.end).to_lowercase();
        let b = slice_chars(SOURCE, span.source_start, span.source_end).to_lowercase();
        assert_eq!(a, b);
    }
    let longest = m
        .spans
        .iter()
        .map(|s| slice_chars(EDITED, s.start, s.end))
        .max_by_key(|t| t.len())
        .unwrap();
    assert_eq!(longest, "public library on Elm Street");

    // Off for this request: nothing is reported.
    let off = client
        .check(check(EDITED, Some(false)))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(off.paragraphs[0].status(), pb::ParagraphStatus::New);

    let topic = client
        .check(check(TOPIC, None))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(topic.paragraphs[0].status(), pb::ParagraphStatus::New);
    assert!(topic.paragraphs[0].matches.is_empty());
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn scan_json_reports_the_edited_copy_only() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        write(dir.path(), "source.txt", SOURCE),
        write(dir.path(), "edited.txt", EDITED),
        write(dir.path(), "topic.txt", TOPIC),
    ];
    let out = neardup()
        .args(["scan", "--format", "json"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0]["document"]
            .as_str()
            .unwrap()
            .ends_with("edited.txt")
    );
    let m = &lines[0]["matches"][0];
    assert!(m["document"].as_str().unwrap().ends_with("source.txt"));
    assert_eq!(m["kind"], "edited");
    let q = m["aligned_coverage"].as_f64().unwrap();
    let s = m["aligned_coverage_source"].as_f64().unwrap();
    assert!(q >= 0.35 && s >= 0.35, "{m}");

    // --no-edited: nothing.
    let off = neardup()
        .args(["scan", "--format", "json", "--no-edited"])
        .args(&files)
        .output()
        .unwrap();
    assert!(off.status.success());
    assert!(
        off.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&off.stdout)
    );
}

#[test]
fn scan_html_counts_the_edited_copy_as_edited() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        write(dir.path(), "source.txt", SOURCE),
        write(dir.path(), "edited.txt", EDITED),
    ];
    let out = neardup()
        .args(["scan", "--format", "html"])
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success());
    let html = String::from_utf8(out.stdout).unwrap();
    let sidebar = html
        .split("<p class=\"kinds\">")
        .nth(1)
        .and_then(|s| s.split("</p>").next())
        .unwrap();
    for (kind, n) in [("exact", 0), ("near", 0), ("partial", 0), ("edited", 1)] {
        let count = format!("<span class=\"kind k-{kind}\">{kind}</span> {n} ");
        assert!(sidebar.contains(&count), "{count} not in {sidebar}");
    }
    assert!(html.contains(".k-edited {"), "no style for edited");
}

#[test]
fn dedup_counts_edited_copies_as_duplicates_with_edited_only() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let records: Vec<String> = [("source", SOURCE), ("edited", EDITED), ("topic", TOPIC)]
        .iter()
        .map(|(id, text)| serde_json::json!({"id": id, "text": text}).to_string())
        .collect();
    std::fs::write(&input, records.join("\n") + "\n").unwrap();
    let run = |extra: &[&str]| {
        let kept = dir.path().join("kept.jsonl");
        let matches = dir.path().join("matches.jsonl");
        let out = neardup()
            .arg("dedup")
            .arg("--input")
            .arg(&input)
            .arg("--kept")
            .arg(&kept)
            .arg("--matches")
            .arg(&matches)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ids: Vec<String> = std::fs::read_to_string(&kept)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].to_string())
            .collect();
        (ids, std::fs::read_to_string(&matches).unwrap())
    };
    let (kept, matches) = run(&[]);
    assert_eq!(kept, ["\"source\"", "\"edited\"", "\"topic\""]);
    assert!(matches.is_empty(), "{matches}");

    let (kept, matches) = run(&["--edited"]);
    assert_eq!(kept, ["\"source\"", "\"topic\""]);
    let lines: Vec<Value> = matches
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{matches}");
    assert_eq!(lines[0]["id"], "edited");
    let m = &lines[0]["matches"][0];
    assert_eq!(
        (m["id"].as_str(), m["kind"].as_str()),
        (Some("source"), Some("edited"))
    );
    assert!(m["aligned_coverage"].as_f64().unwrap() >= 0.35, "{m}");
    assert!(
        m["aligned_coverage_source"].as_f64().unwrap() >= 0.35,
        "{m}"
    );
}
