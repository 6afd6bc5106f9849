//! Editorial depth on the magazine (`tests/data/magazine-zh/magazine.txt`): page-break
//! repair finds the cut paragraphs and their continuations, and passages group the
//! recycled paragraphs into the reprinted articles, through the public API.

use neardup::engine::{Engine, Settings};
use neardup::report::passage::{KindMix, PassageOptions, passages};
use neardup::text::repair::{BreakKind, cut_paragraphs, find_joins, units};
use neardup::text::split_paragraphs;
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::scan::MAGAZINE_REPEATS;
use crate::util::slice_chars;

const MAGAZINE: &str = include_str!("data/magazine-zh/magazine.txt");

/// Every paragraph of the magazine that ends mid-sentence, and the paragraph that
/// continues it, as (line, line), found by reading the magazine:
///
/// - 17 "…大力实施“党建+基层治" → 43 "理”行动，压实…" (基层治理, after a byline and
///   another article's opening);
/// - 29 "…水沙关系不协调，水" → 131 "质污染问题易发…" (水质; the rest of section 一 of the
///   Yulin article is printed only in its second copy, after that copy's title);
/// - 67 "…司法保护力度；助力" → 79 "黄河国家文化公园建设，促进黄河文化创新发展。…"
///   (section 三 of the Yulin article, after the 海南 article's section 三 opening);
/// - 89 "…“四级联动+多网联动”矛盾" → 91 "纠纷多元调解渠道…" (矛盾纠纷);
/// - 165 → 167, 193 → 195 "…人员" → "密集区、…" (人员密集区);
/// - 177 → 179, 205 → 207 "…随时随地接受群众报" → "警求助…" (报警求助).
///
/// Two more paragraphs end mid-sentence and have no continuation in the document: 41
/// ("…人员", the first printing of the 白城 article, whose "密集区…" blocks both follow
/// their own copies 165 and 193) and 147 (the second copy of 67, whose continuation 79
/// precedes it). Two paragraphs start mid-sentence whose cut head is lost: 69 ("校、进医院…",
/// after 53, which the layout glued to another article's sentence end) and 151 ("警务求助…").
const TRUE_JOINS: &[(usize, usize)] = &[
    (17, 43),
    (29, 131),
    (67, 79),
    (89, 91),
    (165, 167),
    (177, 179),
    (193, 195),
    (205, 207),
];

/// The one true join the text itself gives no evidence for: nothing reads across
/// "助力|黄河" (the pair is seen nowhere else), 79 opens like a sentence, and it is
/// neither next to 67 nor the only candidate. A reader joins them on grammar (助力 wants
/// an object) and on the article's structure; `auto` leaves 67 open rather than guess.
const UNEVIDENCED: &[(usize, usize)] = &[(67, 79)];

fn line_of(index: usize) -> usize {
    split_paragraphs(MAGAZINE)[index].line
}

#[test]
fn magazine_page_breaks_are_joined_exactly_where_the_text_shows_it() {
    let spans = split_paragraphs(MAGAZINE);
    let joins = find_joins(MAGAZINE, &spans);
    let found: Vec<(usize, usize)> = joins
        .iter()
        .map(|j| (line_of(j.cut), line_of(j.continuation)))
        .collect();
    let expected: Vec<(usize, usize)> = TRUE_JOINS
        .iter()
        .copied()
        .filter(|p| !UNEVIDENCED.contains(p))
        .collect();
    assert_eq!(found, expected);
    assert!(joins.iter().all(|j| j.kind == BreakKind::MidSentence));
    let cuts: Vec<usize> = cut_paragraphs(MAGAZINE, &spans)
        .into_iter()
        .map(line_of)
        .collect();
    assert_eq!(cuts, [17, 29, 41, 67, 89, 147, 165, 177, 193, 205]);

    // Each repaired paragraph reads across its break, and maps back to both pieces.
    let repaired: Vec<_> = units(&spans, &joins)
        .into_iter()
        .filter(|u| u.is_repaired())
        .collect();
    assert_eq!(repaired.len(), expected.len());
    let joined: Vec<String> = repaired
        .iter()
        .map(|u| u.joined_text(MAGAZINE).text)
        .collect();
    for word in [
        "基层治理”行动",
        "水质污染",
        "矛盾纠纷多元",
        "人员密集区",
        "报警求助",
    ] {
        assert!(joined.iter().any(|t| t.contains(word)), "{word}");
    }
    for u in &repaired {
        let j = u.joined_text(MAGAZINE);
        let n = j.text.chars().count() as u64;
        let ranges = j.to_document(0, n as usize);
        assert_eq!(ranges.len(), 2);
        for (range, piece) in ranges.iter().zip(&u.pieces) {
            assert_eq!(*range, (piece.start, piece.end));
        }
        let back: String = ranges
            .iter()
            .map(|&(a, b)| slice_chars(MAGAZINE, a as u64, b as u64))
            .collect();
        assert_eq!(back, j.text);
    }
}

#[test]
fn magazine_reprinted_articles_are_passages_and_the_paragraph_matches_do_not_change() {
    let engine = Engine::new(Settings::default()).unwrap();
    let docs = neardup::scan::scan(
        &engine,
        [("magazine.txt".to_string(), MAGAZINE.to_string())],
    )
    .unwrap();
    let report = &docs[0].report;
    let pairs: BTreeSet<(u64, u64)> = report
        .paragraphs
        .iter()
        .flat_map(|p| {
            p.matches
                .iter()
                .map(|m| (p.line as u64, m.source.line as u64))
        })
        .collect();
    assert_eq!(pairs, MAGAZINE_REPEATS.iter().copied().collect());

    let text: Arc<str> = MAGAZINE.into();
    // (lines, source lines, pairs, kinds) of each passage.
    type Found = ((usize, usize), (usize, usize), usize, KindMix);
    let found: Vec<Found> = passages(
        report,
        MAGAZINE,
        &|_| Some(text.clone()),
        PassageOptions::default(),
    )
    .into_iter()
    .map(|p| {
        assert_eq!(&*p.source_name, "magazine.txt");
        assert!(p.skipped.is_empty());
        (
            (p.range.first_line, p.range.last_line),
            (p.source_range.first_line, p.source_range.last_line),
            p.pairs.len(),
            p.kinds,
        )
    })
    .collect();
    let mix = |exact, near| KindMix {
        exact,
        near,
        partial: 0,
        edited: 0,
    };
    assert_eq!(
        found,
        [
            // The third printing of the 白城 article reprints the second, section by
            // section; one paragraph lightly edited (警务求助 / 警求助).
            ((179, 215), (151, 187), 19, mix(18, 1)),
            // The second copy of the Yulin article: sections 二 and 三 of the first…
            ((137, 147), (55, 67), 6, mix(6, 0)),
            // …the second printing of the 白城 article's section 一…
            ((161, 165), (37, 41), 3, mix(3, 0)),
            // …and the tail of the Yulin article's section 一, one paragraph edited
            // (全市法院需要强化 / 人民法院需要加大), printed before section 二.
            ((133, 135), (59, 61), 2, mix(1, 1)),
        ]
    );
}

/// (reprints, reprints found, boilerplate paragraphs reported as recycling, boilerplate
/// paragraphs reported as boilerplate) of a scan of the synthetic boilerplate corpus
/// with boilerplate at `k` documents.
fn boilerplate_scan(k: usize) -> (usize, usize, usize, usize) {
    let issues = crate::util::boilerplate::corpus();
    let engine = Engine::new(Settings {
        boilerplate: k,
        ..Settings::default()
    })
    .unwrap();
    let docs = neardup::scan::scan(
        &engine,
        issues.iter().map(|i| (i.name.clone(), i.text.clone())),
    )
    .unwrap();
    let (mut reprints, mut found, mut recycled, mut set_apart) = (0, 0, 0, 0);
    for (issue, doc) in issues.iter().zip(&docs) {
        for &(p, ref first) in &issue.reprints {
            reprints += 1;
            let matches = &doc.report.paragraphs[p].matches;
            found += usize::from(matches.iter().any(|m| &*m.source.name == first));
        }
        for &p in &issue.boilerplate {
            let p = &doc.report.paragraphs[p];
            recycled += usize::from(!p.matches.is_empty());
            set_apart += usize::from(p.boilerplate);
        }
        // Boilerplate is not recycling in the summaries.
        let s = &doc.report.summary;
        assert_eq!(
            s.recycled,
            doc.report
                .paragraphs
                .iter()
                .filter(|p| !p.matches.is_empty())
                .count()
        );
    }
    (reprints, found, recycled, set_apart)
}

/// The synthetic boilerplate corpus (a masthead and a copyright line in 50 issues, and
/// real reprints in up to 4): with the default `K` (10), no masthead or copyright line is
/// reported as recycling, all 98 are boilerplate, and every reprint is still found. The
/// default's margin: every `K` from 5 to 29 (the largest allowed: an exact copy's
/// bucket is read 2 × max_matches + 8 ids at a time) does the same; 4 takes the most
/// reprinted article for boilerplate. Without boilerplate (0), all 98 are reported as
/// recycling, as before.
#[test]
fn boilerplate_is_set_apart_and_every_reprint_is_still_found() {
    let (reprints, found, recycled, set_apart) = boilerplate_scan(Settings::default().boilerplate);
    eprintln!(
        "reprints {reprints}, found {found}, boilerplate recycled {recycled}, set apart {set_apart}"
    );
    assert_eq!(Settings::default().boilerplate, 10);
    assert!(reprints >= 20, "{reprints}");
    assert_eq!((found, recycled, set_apart), (reprints, 0, 2 * 50));
    for k in 5..=29 {
        assert_eq!(boilerplate_scan(k), (reprints, reprints, 0, 100), "K = {k}");
    }
    let (_, found, _, _) = boilerplate_scan(4);
    assert!(found < reprints);
    assert_eq!(boilerplate_scan(0), (reprints, reprints, 2 * 49, 0));
}

/// In the service, boilerplate is judged online from what the namespace holds: once an
/// issue's masthead and copyright line are in 10 issues, Submit reports them as
/// boilerplate (earlier issues saw fewer copies); a Check sees every copy; and a restart
/// over the same store judges the same, since it is derived from the restored index.
#[tokio::test]
async fn grpc_sets_boilerplate_apart_online_and_after_a_restart() {
    use neardup::grpc::{Limits, pb};
    use neardup::store::MemStore;
    let issues = crate::util::boilerplate::corpus();
    let store = Arc::new(MemStore::default());
    let server = crate::util::server::TestServer::with(Limits::default(), store.clone()).await;
    let mut client = server.client().await;
    let status = |r: &pb::Report, i: usize| r.paragraphs[i].status();
    for (n, issue) in issues.iter().enumerate() {
        let report = client
            .submit(pb::SubmitRequest {
                document_id: issue.name.clone(),
                text: issue.text.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .report
            .unwrap();
        let want = if n + 1 >= 10 {
            pb::ParagraphStatus::Boilerplate
        } else if n == 0 {
            pb::ParagraphStatus::New
        } else {
            pb::ParagraphStatus::Recycled
        };
        for &p in &issue.boilerplate {
            assert_eq!(status(&report, p), want, "{} ¶{p}", issue.name);
        }
        let s = report.summary.unwrap();
        assert_eq!(s.boilerplate as usize, if n + 1 >= 10 { 2 } else { 0 });
        for &(p, ref first) in &issue.reprints {
            let m = &report.paragraphs[p].matches;
            assert!(
                m.iter()
                    .any(|m| m.source.as_ref().unwrap().document_id == *first)
            );
        }
    }
    server.stop().await;
    let server = crate::util::server::TestServer::with(Limits::default(), store).await;
    let mut client = server.client().await;
    let first = &issues[0];
    let report = client
        .check(pb::CheckRequest {
            text: first.text.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    for &p in &first.boilerplate {
        assert_eq!(status(&report, p), pb::ParagraphStatus::Boilerplate);
    }
    server.stop().await;
}
