//! Traditional ↔ Simplified folding against text converted by another tool: every
//! distinct magazine paragraph and its zh-Hant forms from OpenCC's own converter
//! (`tests/data/zh-hant/make_fixture.py`, Python `opencc`). With folding, a reprint in
//! Traditional characters is the same paragraph as its Simplified original; without it,
//! it is mostly a different one. Through the analyzer, `neardup scan --fold`, gRPC
//! Check and Submit on a server with the setting, and `serve`'s data directory.

use neardup::text::fold::fold_str;
use neardup::text::{Fold, analyze_paragraph_with, tokenize_with};
use neardup::verify::scores;
use serde_json::Value;

use crate::util::child::Served;
use crate::util::server::TestServer;
use crate::util::{neardup, slice_chars};

const FIXTURE: &str = include_str!("data/zh-hant/magazine-hant.jsonl");
const SEED: u64 = 0x6e65_6172_6475_7030;

fn rows() -> Vec<Value> {
    FIXTURE
        .lines()
        .map(|l| serde_json::from_str(l).expect("fixture lines are JSON"))
        .collect()
}

#[test]
fn hant_reprints_match_their_hans_originals_only_when_folded() {
    let (mut pairs, mut exact_folded, mut exact_plain) = (0, 0, 0);
    let (mut min_folded, mut sum_plain) = (1.0f64, 0.0f64);
    for row in rows() {
        let hans = row["hans"].as_str().unwrap();
        for variant in ["s2t", "s2tw", "s2hk"] {
            let hant = row[variant].as_str().unwrap();
            pairs += 1;
            let [a, b] = [hans, hant].map(|t| analyze_paragraph_with(t, 2, SEED, Fold::Simplified));
            let [c, d] = [hans, hant].map(|t| analyze_paragraph_with(t, 2, SEED, Fold::None));
            exact_folded += usize::from(a.content_hash == b.content_hash);
            exact_plain += usize::from(c.content_hash == d.content_hash);
            min_folded = min_folded.min(scores(&a.set, &b.set).jaccard);
            sum_plain += scores(&c.set, &d.set).jaccard;
        }
    }
    let mean_plain = sum_plain / pairs as f64;
    eprintln!(
        "{pairs} pairs: exact folded {exact_folded}, exact unfolded {exact_plain}, \
         min Jaccard folded {min_folded:.3}, mean Jaccard unfolded {mean_plain:.3}"
    );
    assert_eq!(pairs, 159);
    // Every reprint is the same paragraph once folded (OpenCC converts character for
    // character here, and folding undoes each conversion).
    assert_eq!(exact_folded, pairs);
    assert_eq!(min_folded, 1.0);
    assert_eq!(exact_plain, 0);
    assert!(mean_plain < 0.3, "{mean_plain}");
}

#[test]
fn folded_tokens_keep_offsets_on_the_characters_as_written() {
    for row in rows().iter().take(10) {
        let hant = row["s2t"].as_str().unwrap();
        let hans = row["hans"].as_str().unwrap();
        let chars: Vec<char> = hant.chars().collect();
        let folded = tokenize_with(hant, Fold::Simplified);
        let plain = tokenize_with(hant, Fold::None);
        let offsets =
            |t: &[neardup::text::Token]| t.iter().map(|t| (t.start, t.end)).collect::<Vec<_>>();
        assert_eq!(offsets(&folded), offsets(&plain));
        // OpenCC kept every paragraph's length, so a token at the same offsets in the
        // original is the same character once folded.
        let original = tokenize_with(hans, Fold::Simplified);
        for (t, o) in folded.iter().zip(&original) {
            assert_eq!((t.start, t.end), (o.start, o.end));
            if t.hash != o.hash {
                let piece: String = chars[t.start as usize..t.end as usize].iter().collect();
                panic!("{piece:?} does not fold to its original");
            }
        }
    }
}

/// The fixture as two documents: the zh-Hans paragraphs, and their zh-Hant forms of
/// `variant` (`s2t`, `s2tw`, `s2hk`), in the same order, one paragraph each.
fn documents(variant: &str) -> (String, String) {
    let rows = rows();
    let join = |key: &str| {
        rows.iter()
            .map(|r| r[key].as_str().unwrap())
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    (join("hans"), join(variant))
}

/// Paragraphs long enough to be judged, by the default settings.
fn judged(text: &str) -> usize {
    let engine = neardup::Engine::new(neardup::Settings::default()).unwrap();
    engine
        .analyze(text)
        .paragraphs
        .iter()
        .filter(|p| !p.too_short)
        .count()
}

/// A span of a match on the reprint: both sides are the same text once folded, and the
/// reprint's side is its own characters (Traditional ones included), not the original's.
fn assert_span_on_the_characters_as_written(
    hant: &str,
    hans: &str,
    [start, end, source_start, source_end]: [u64; 4],
) -> bool {
    let this = slice_chars(hant, start, end);
    let source = slice_chars(hans, source_start, source_end);
    assert!(!this.is_empty());
    assert_eq!(fold_str(&this), fold_str(&source), "{this:?} / {source:?}");
    this != source
}

#[test]
fn scan_with_fold_reports_a_hant_reprint_as_exact_copies_of_its_hans_original() {
    let (hans, hant) = documents("s2tw");
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("hans.txt"), dir.path().join("hant.txt"));
    std::fs::write(&a, &hans).unwrap();
    std::fs::write(&b, &hant).unwrap();
    let scan = |fold: &str| {
        let out = neardup()
            .args([
                "scan", "--format", "json", "--repair", "off", "--fold", fold,
            ])
            .args([&a, &b])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["document"].as_str().unwrap().ends_with("hant.txt"))
            .collect::<Vec<_>>()
    };
    let judged = judged(&hant);
    assert_eq!(judged, 53);
    let (mut exact, mut traditional_spans) = (0, 0);
    for line in scan("simplified") {
        let i = line["paragraph"].as_u64().unwrap();
        let original = line["matches"].as_array().unwrap().iter().find(|m| {
            m["document"].as_str().unwrap().ends_with("hans.txt")
                && m["paragraph"].as_u64() == Some(i)
                && m["kind"] == "exact"
        });
        let Some(m) = original else { continue };
        exact += 1;
        for s in m["spans"].as_array().unwrap() {
            let s: [u64; 4] = serde_json::from_value(s.clone()).unwrap();
            traditional_spans +=
                usize::from(assert_span_on_the_characters_as_written(&hant, &hans, s));
        }
    }
    // Every paragraph of the reprint is an exact copy of its original, and the spans
    // slice the Traditional text as written.
    assert_eq!(exact, judged);
    assert!(traditional_spans >= judged, "{traditional_spans}");
    // Without folding, not one is.
    let unfolded = scan("none");
    assert!(
        unfolded
            .iter()
            .flat_map(|l| l["matches"].as_array().unwrap())
            .all(|m| m["kind"] != "exact"),
    );
}

#[tokio::test]
async fn grpc_with_fold_reports_a_hant_reprint_against_its_hans_original() {
    use neardup::grpc::pb;
    let (hans, hant) = documents("s2hk");
    let judged = judged(&hant);
    let mut reported = Vec::new();
    for fold in [Fold::Simplified, Fold::None] {
        let server = TestServer::with_settings(neardup::Settings {
            fold,
            ..Default::default()
        })
        .await;
        let mut client = server.client().await;
        client
            .submit(pb::SubmitRequest {
                document_id: "hans".into(),
                text: hans.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        let stats = client
            .stats(pb::StatsRequest::default())
            .await
            .unwrap()
            .into_inner();
        let expected = match fold {
            Fold::Simplified => pb::HanFold::Simplified,
            Fold::None => pb::HanFold::None,
        };
        assert_eq!(stats.settings.unwrap().fold(), expected);
        // Check and Submit report the same.
        let checked = client
            .check(pb::CheckRequest {
                text: hant.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .report
            .unwrap();
        let submitted = client
            .submit(pb::SubmitRequest {
                document_id: "hant".into(),
                text: hant.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .report
            .unwrap();
        let mut exact = 0;
        for report in [&checked, &submitted] {
            for p in &report.paragraphs {
                let original = p.matches.iter().find(|m| {
                    let s = m.source.as_ref().unwrap();
                    s.document_id == "hans"
                        && s.paragraph == p.index
                        && m.kind() == pb::MatchKind::Exact
                });
                if let Some(m) = original {
                    exact += 1;
                    assert!(!m.spans.is_empty());
                    for s in &m.spans {
                        assert_span_on_the_characters_as_written(
                            &hant,
                            &hans,
                            [s.start, s.end, s.source_start, s.source_end],
                        );
                    }
                }
            }
        }
        reported.push(exact);
        server.stop().await;
    }
    assert_eq!(reported, [2 * judged, 0]);
}

/// The fold is recorded with a data directory: `serve` refuses the directory with the
/// other fold, and with the same one it restores the folded index.
#[tokio::test]
async fn serve_refuses_a_data_directory_made_with_another_fold() {
    use neardup::grpc::pb::{self, near_dup_client::NearDupClient};
    let (hans, hant) = documents("s2t");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let connect = |addr: String| async move {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        crate::util::server::wait_serving(&channel).await;
        NearDupClient::new(channel)
    };
    let served = Served::start(&["--data-dir", data, "--fold", "simplified"], "info");
    let mut client = connect(served.addr.clone()).await;
    client
        .submit(pb::SubmitRequest {
            document_id: "hans".into(),
            text: hans.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    drop(client);
    assert!(served.terminate().success());

    let mut refused = neardup()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = refused.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = refused.kill();
            panic!("serve started on a directory made with another fold");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut refused.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("fold=simplified"), "{stderr}");
    assert!(stderr.contains("--reindex"), "{stderr}");

    let served = Served::start(&["--data-dir", data, "--fold", "simplified"], "info");
    let mut client = connect(served.addr.clone()).await;
    let report = client
        .check(pb::CheckRequest {
            text: hant,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    let exact = report
        .paragraphs
        .iter()
        .filter(|p| p.matches.iter().any(|m| m.kind() == pb::MatchKind::Exact))
        .count();
    assert_eq!(exact, judged(&hans));
    drop(client);
    assert!(served.terminate().success());
}
