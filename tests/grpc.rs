//! The gRPC service, through the generated tonic client, against a server on
//! 127.0.0.1:0; and `neardup serve` + `neardup scan --server` through the binary.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use neardup::analysis::Analyzer;
use neardup::engine::Settings;
use neardup::grpc::Limits;
use neardup::grpc::pb::{self, submit_stream_response::Result as Item};
use neardup::service::record;
use neardup::store::{MemStore, Store};
use neardup::text::Split;
use tonic::Code;

use crate::util::server::{FlakyStore, TestServer};
use crate::util::slice_chars;

const INTRO: &str = "北京时间周二上午，国家统计局发布了最新一季度的经济数据，显示消费市场持续回暖，服务业增长明显加快。";
const BUDGET: &str = "The committee met on Tuesday to discuss the new budget proposal for the coming fiscal year and its consequences.";
const RIVER: &str = "Residents of the valley have long complained about the noise from the highway that cuts through the town centre.";
const RIVER2: &str = "Residents of the valley have long complained about the noise from the highway which cuts through the town centre.";
const FRESH: &str = "An entirely different paragraph about gardening, tomatoes and the careful pruning of old apple trees in spring.";
const OTHER: &str = "Quarterly shipping volumes at the northern port fell sharply after the strike, according to the harbour authority.";

fn submit(id: &str, text: &str) -> pb::SubmitRequest {
    pb::SubmitRequest {
        document_id: id.into(),
        text: text.into(),
        ..Default::default()
    }
}

fn check(text: &str) -> pb::CheckRequest {
    pb::CheckRequest {
        text: text.into(),
        ..Default::default()
    }
}

fn statuses(report: &pb::Report) -> Vec<pb::ParagraphStatus> {
    report.paragraphs.iter().map(|p| p.status()).collect()
}

#[tokio::test]
async fn recycled_paragraph_is_reported_with_source_and_offsets() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let a = format!("{INTRO}\n\n{BUDGET}\n\n{RIVER}\n");
    let r = client.submit(submit("a", &a)).await.unwrap().into_inner();
    assert_eq!(r.outcome(), pb::SubmitOutcome::Created);
    assert_eq!(r.namespace, "default");
    let report = r.report.unwrap();
    assert_eq!(statuses(&report), vec![pb::ParagraphStatus::New; 3]);

    let b = format!("短标题\n\n{FRESH}\n\n{INTRO}\n\n{RIVER2}");
    let r = client.submit(submit("b", &b)).await.unwrap().into_inner();
    let report = r.report.unwrap();
    use pb::ParagraphStatus::*;
    assert_eq!(statuses(&report), vec![TooShort, New, Recycled, Recycled]);

    // The Chinese paragraph: an exact copy of a's first paragraph.
    let p = &report.paragraphs[2];
    assert_eq!((p.index, p.line), (2, 5));
    assert_eq!(slice_chars(&b, p.start, p.end), INTRO);
    assert_eq!(p.matches.len(), 1);
    let m = &p.matches[0];
    assert_eq!(m.kind(), pb::MatchKind::Exact);
    assert_eq!(
        (m.jaccard, m.containment, m.containment_source),
        (1.0, 1.0, 1.0)
    );
    let src = m.source.as_ref().unwrap();
    assert_eq!((src.document_id.as_str(), src.same_document), ("a", false));
    assert_eq!((src.paragraph, src.line, src.start), (0, 1, 0));
    assert_eq!(slice_chars(&a, src.start, src.end), INTRO);

    // The English paragraph: a near copy of a's third paragraph.
    let p = &report.paragraphs[3];
    assert_eq!(slice_chars(&b, p.start, p.end), RIVER2);
    let m = &p.matches[0];
    assert_eq!(m.kind(), pb::MatchKind::Near);
    assert!(m.jaccard > 0.6 && m.jaccard < 1.0, "{}", m.jaccard);
    let src = m.source.as_ref().unwrap();
    assert_eq!(
        (src.document_id.as_str(), src.paragraph, src.line),
        ("a", 2, 5)
    );
    assert_eq!(slice_chars(&a, src.start, src.end), RIVER);
    assert!(!m.spans.is_empty());
    for s in &m.spans {
        let here = slice_chars(&b, s.start, s.end);
        assert_eq!(here, slice_chars(&a, s.source_start, s.source_end));
        assert!(RIVER.contains(&here) && RIVER2.contains(&here), "{here}");
    }
    // Spans cover everything but the changed word.
    let covered: u64 = m.spans.iter().map(|s| s.end - s.start).sum();
    assert!(covered as usize >= RIVER2.chars().count() - 20);

    let summary = report.summary.unwrap();
    assert_eq!(
        (
            summary.paragraphs,
            summary.recycled,
            summary.too_short,
            summary.distinct_sources
        ),
        (4, 2, 1, 1)
    );
    let total = (3 + FRESH.len() + INTRO.chars().count() + RIVER2.len()) as f64;
    let recycled = (INTRO.chars().count() + RIVER2.len()) as f64;
    assert!((summary.recycled_share - recycled / total).abs() < 1e-9);
    server.stop().await;
}

#[tokio::test]
async fn resubmission_is_idempotent_conflicts_and_replaces() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let a = format!("{BUDGET}\n\n{RIVER}");
    client.submit(submit("a", &a)).await.unwrap();
    let again = client.submit(submit("a", &a)).await.unwrap().into_inner();
    assert_eq!(again.outcome(), pb::SubmitOutcome::Unchanged);
    // Not compared with its own stored copy.
    assert_eq!(
        statuses(&again.report.unwrap()),
        vec![pb::ParagraphStatus::New; 2]
    );

    let other = format!("{BUDGET}\n\n{FRESH}");
    let err = client.submit(submit("a", &other)).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");

    let mut replace = submit("a", &other);
    replace.replace = true;
    let r = client.submit(replace).await.unwrap().into_inner();
    assert_eq!(r.outcome(), pb::SubmitOutcome::Replaced);
    let doc = get(&mut client, "", "a").await.unwrap();
    assert_eq!(doc.text, other);
    // The old text is gone from the index: RIVER matches nothing now.
    let report = client
        .check(check(RIVER))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(statuses(&report), vec![pb::ParagraphStatus::New]);
    server.stop().await;
}

async fn get(
    client: &mut pb::near_dup_client::NearDupClient<tonic::transport::Channel>,
    ns: &str,
    id: &str,
) -> Result<pb::Document, tonic::Status> {
    let r = client
        .get_document(pb::GetDocumentRequest {
            namespace: ns.into(),
            document_id: id.into(),
        })
        .await?;
    Ok(r.into_inner().document.unwrap())
}

async fn documents(
    client: &mut pb::near_dup_client::NearDupClient<tonic::transport::Channel>,
) -> u64 {
    let stats = client
        .stats(pb::StatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    stats.namespaces.iter().map(|n| n.documents).sum()
}

#[tokio::test]
async fn check_indexes_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    client.submit(submit("a", BUDGET)).await.unwrap();
    let mut req = check(&format!("{FRESH}\n\n{BUDGET}"));
    req.document_id = "draft".into();
    for _ in 0..2 {
        let r = client.check(req.clone()).await.unwrap().into_inner();
        let report = r.report.unwrap();
        use pb::ParagraphStatus::*;
        assert_eq!(statuses(&report), vec![New, Recycled]);
        let src = report.paragraphs[1].matches[0].source.clone().unwrap();
        assert_eq!(src.document_id, "a");
    }
    assert_eq!(documents(&mut client).await, 1);
    let err = get(&mut client, "", "draft").await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // A paragraph repeated inside the checked text points to the text itself.
    let r = client
        .check(check(&format!("{FRESH}\n\n{OTHER}\n\n{FRESH}")))
        .await
        .unwrap()
        .into_inner();
    let m = &r.report.unwrap().paragraphs[2].matches[0];
    let src = m.source.as_ref().unwrap();
    assert!(src.same_document);
    assert_eq!((src.paragraph, m.kind()), (0, pb::MatchKind::Exact));
    assert_eq!(documents(&mut client).await, 1);
    server.stop().await;
}

#[tokio::test]
async fn delete_removes_matches() {
    let store = Arc::new(MemStore::default());
    let server = TestServer::with(Limits::default(), store.clone()).await;
    let mut client = server.client().await;
    let mut req = submit("a", &format!("{BUDGET}\n\n{RIVER}"));
    req.namespace = "news".into();
    client.submit(req).await.unwrap();
    client
        .submit({
            let mut r = submit("b", OTHER);
            r.namespace = "news".into();
            r
        })
        .await
        .unwrap();
    let mut probe = check(RIVER2);
    probe.namespace = "news".into();
    let before = client.check(probe.clone()).await.unwrap().into_inner();
    assert_eq!(
        statuses(&before.report.unwrap()),
        vec![pb::ParagraphStatus::Recycled]
    );

    let deleted = client
        .delete_document(pb::DeleteDocumentRequest {
            namespace: "news".into(),
            document_id: "a".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.paragraphs, 2);
    let after = client.check(probe).await.unwrap().into_inner();
    assert_eq!(
        statuses(&after.report.unwrap()),
        vec![pb::ParagraphStatus::New]
    );
    assert_eq!(
        get(&mut client, "news", "a").await.unwrap_err().code(),
        Code::NotFound
    );
    let names: Vec<String> = store.load().unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, vec!["b"]);
    let again = client
        .delete_document(pb::DeleteDocumentRequest {
            namespace: "news".into(),
            document_id: "a".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn get_document_and_stats() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let text = format!("Title\n\n{BUDGET}\n\n\n{INTRO}");
    let mut req = submit("a", &text);
    req.metadata
        .insert("url".into(), "https://example.org/a".into());
    client.submit(req).await.unwrap();
    let doc = get(&mut client, "", "a").await.unwrap();
    assert_eq!(doc.document_id, "a");
    assert_eq!(doc.text, text);
    assert_eq!(
        doc.metadata.get("url").map(String::as_str),
        Some("https://example.org/a")
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(doc.stored_at_unix_ms <= now && doc.stored_at_unix_ms > now - 60_000);
    let paragraphs: Vec<(u32, String)> = doc
        .paragraphs
        .iter()
        .map(|p| (p.line, slice_chars(&text, p.start, p.end)))
        .collect();
    assert_eq!(
        paragraphs,
        vec![(1, "Title".into()), (3, BUDGET.into()), (6, INTRO.into())]
    );

    let stats = client
        .stats(pb::StatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.namespaces.len(), 1);
    let ns = &stats.namespaces[0];
    // "Title" is too short to index.
    assert_eq!(
        (ns.namespace.as_str(), ns.documents, ns.paragraphs),
        ("default", 1, 2)
    );
    assert!(ns.index_bytes > 0);
    let s = stats.settings.unwrap();
    assert_eq!((s.num_perm, s.shingle), (128, 2));
    assert!(s.bands >= 1 && s.bands * s.rows <= s.num_perm);
    assert_eq!((s.threshold, s.containment), (0.2, 0.6));
    assert_eq!(
        stats.limits.unwrap().max_paragraphs,
        Limits::default().max_paragraphs as u64
    );
    let err = client
        .stats(pb::StatsRequest {
            namespace: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn every_error_has_its_code() {
    let limits = Limits {
        max_text_bytes: 2000,
        max_paragraphs: 5,
        max_message_bytes: 4000,
        ..Limits::default()
    };
    let server = TestServer::with(limits, Arc::new(MemStore::default())).await;
    let mut client = server.client().await;
    client.submit(submit("a", BUDGET)).await.unwrap();

    let with_options = |o: pb::QueryOptions| {
        let mut r = submit("x", RIVER);
        r.options = Some(o);
        r
    };
    let invalid = [
        submit("", RIVER),
        submit("x", ""),
        submit("x", " \n\n "),
        with_options(pb::QueryOptions {
            threshold: Some(0.0),
            ..Default::default()
        }),
        with_options(pb::QueryOptions {
            threshold: Some(1.5),
            ..Default::default()
        }),
        with_options(pb::QueryOptions {
            containment: Some(-1.0),
            ..Default::default()
        }),
        with_options(pb::QueryOptions {
            max_matches: Some(0),
            ..Default::default()
        }),
        pb::SubmitRequest {
            namespace: "bad\nname".into(),
            ..submit("x", RIVER)
        },
    ];
    for req in invalid {
        let err = client.submit(req.clone()).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{req:?}: {err:?}");
    }
    let err = client.check(check("")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let mut unknown = check(RIVER);
    unknown.namespace = "nowhere".into();
    assert_eq!(
        client.check(unknown).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        get(&mut client, "", "missing").await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        get(&mut client, "nowhere", "a").await.unwrap_err().code(),
        Code::NotFound
    );
    let err = client
        .delete_document(pb::DeleteDocumentRequest {
            namespace: String::new(),
            document_id: "missing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let err = client.submit(submit("a", RIVER)).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(err.message().contains("replace"), "{}", err.message());

    let long = RIVER.repeat(20);
    let err = client.submit(submit("long", &long)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("2000"), "{}", err.message());
    let err = client.check(check(&long)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    let many = ["one two three"; 6].join("\n\n");
    let err = client.submit(submit("many", &many)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("6 paragraphs"), "{}", err.message());
    // Past the message size limit the transport refuses the request before decoding it.
    let huge = "x".repeat(5000);
    let err = client.submit(submit("huge", &huge)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");

    // Nothing above was stored.
    assert_eq!(documents(&mut client).await, 1);
    server.stop().await;
}

#[tokio::test]
async fn store_failure_rolls_back_and_is_unavailable() {
    let store = Arc::new(FlakyStore::default());
    let server = TestServer::with(Limits::default(), store.clone()).await;
    let mut client = server.client().await;
    client.submit(submit("a", BUDGET)).await.unwrap();
    store.fail.store(true, Ordering::SeqCst);

    let err = client.submit(submit("b", RIVER)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(
        get(&mut client, "", "b").await.unwrap_err().code(),
        Code::NotFound
    );
    let report = client
        .check(check(RIVER))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(statuses(&report), vec![pb::ParagraphStatus::New]);

    // A failed replace restores the old text.
    let mut replace = submit("a", RIVER);
    replace.replace = true;
    assert_eq!(
        client.submit(replace).await.unwrap_err().code(),
        Code::Unavailable
    );
    assert_eq!(get(&mut client, "", "a").await.unwrap().text, BUDGET);
    let report = client
        .check(check(BUDGET))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(statuses(&report), vec![pb::ParagraphStatus::Recycled]);

    let err = client
        .delete_document(pb::DeleteDocumentRequest {
            namespace: String::new(),
            document_id: "a".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(get(&mut client, "", "a").await.is_ok());
    server.stop().await;
}

#[tokio::test]
async fn overload_is_resource_exhausted() {
    let store = Arc::new(FlakyStore::default());
    let limits = Limits {
        workers: 1,
        max_pending: 1,
        ..Limits::default()
    };
    let server = TestServer::with(limits, store.clone()).await;
    let mut client = server.client().await;
    store.hold.store(true, Ordering::SeqCst);
    let mut first = client.clone();
    let slow = tokio::spawn(async move { first.submit(submit("a", BUDGET)).await });
    while !store.entered.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let err = client.submit(submit("b", RIVER)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("overloaded"), "{}", err.message());
    store.hold.store(false, Ordering::SeqCst);
    let ok = slow.await.unwrap().unwrap().into_inner();
    assert_eq!(ok.outcome(), pb::SubmitOutcome::Created);
    client.submit(submit("b", RIVER)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn stream_answers_in_order_and_continues_past_bad_items() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let requests = vec![
        submit("a", &format!("{BUDGET}\n\n{RIVER}")),
        submit("", RIVER),
        submit("b", &format!("{FRESH}\n\n{RIVER2}")),
        submit("a", OTHER),
        submit("c", "\u{0}"),
        submit("d", OTHER),
    ];
    let responses: Vec<pb::SubmitStreamResponse> = {
        use tokio_stream::StreamExt;
        let stream = client
            .submit_stream(tokio_stream::iter(requests))
            .await
            .unwrap()
            .into_inner();
        stream.map(|r| r.unwrap()).collect().await
    };
    let seen: Vec<(u64, &str)> = responses
        .iter()
        .map(|r| (r.sequence, r.document_id.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![(0, "a"), (1, ""), (2, "b"), (3, "a"), (4, "c"), (5, "d")]
    );
    let code = |i: usize| match responses[i].result.as_ref().unwrap() {
        Item::Submitted(_) => Code::Ok,
        Item::Error(e) => Code::from_i32(e.code),
    };
    assert_eq!(
        (0..6).map(code).collect::<Vec<_>>(),
        vec![
            Code::Ok,
            Code::InvalidArgument,
            Code::Ok,
            Code::AlreadyExists,
            Code::Ok,
            Code::Ok
        ]
    );
    // Items are applied in stream order: b sees a.
    let Some(Item::Submitted(b)) = &responses[2].result else {
        panic!("b failed")
    };
    let m = &b.report.as_ref().unwrap().paragraphs[1].matches[0];
    assert_eq!(m.source.as_ref().unwrap().document_id, "a");
    assert_eq!(documents(&mut client).await, 4);
    server.stop().await;
}

#[tokio::test]
async fn stream_of_many_items_keeps_order() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let n = 300u64;
    let requests: Vec<pb::SubmitRequest> = (0..n)
        .map(|i| {
            submit(
                &format!("doc-{i}"),
                &format!("{FRESH} Number {i}.\n\n{OTHER}"),
            )
        })
        .collect();
    use tokio_stream::StreamExt;
    let mut stream = client
        .submit_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut i = 0;
    while let Some(r) = stream.next().await {
        let r = r.unwrap();
        assert_eq!((r.sequence, r.document_id), (i, format!("doc-{i}")));
        let Some(Item::Submitted(s)) = r.result else {
            panic!("item {i} failed")
        };
        let summary = s.report.unwrap().summary.unwrap();
        // From the 10th document on, both paragraphs are in 10 documents: boilerplate
        // (the server's default --boilerplate), not recycling.
        let (recycled, boilerplate) = match i {
            0 => (0, 0),
            1..=8 => (2, 0),
            _ => (0, 2),
        };
        assert_eq!(
            (summary.recycled, summary.boilerplate),
            (recycled, boilerplate),
            "{i}"
        );
        i += 1;
    }
    assert_eq!(i, n);
    server.stop().await;
}

#[tokio::test]
async fn restores_engines_from_the_store() {
    let store = Arc::new(MemStore::default());
    for (ns, name, text) in [
        ("default", "a", BUDGET),
        ("news", "b", RIVER),
        ("news", "c", OTHER),
    ] {
        let analyzer = Analyzer::new(Settings::default().shape()).unwrap();
        let doc = analyzer.document(text, Split::Auto);
        let metadata = BTreeMap::from([("k".to_string(), name.to_string())]);
        store
            .put(&record(ns, name, &doc, Split::Auto, &metadata, 42))
            .unwrap();
    }
    let server = TestServer::with(Limits::default(), store).await;
    let mut client = server.client().await;
    assert_eq!(documents(&mut client).await, 3);
    let doc = get(&mut client, "news", "c").await.unwrap();
    assert_eq!((doc.text.as_str(), doc.stored_at_unix_ms), (OTHER, 42));
    assert_eq!(doc.metadata.get("k").map(String::as_str), Some("c"));
    let mut probe = check(RIVER2);
    probe.namespace = "news".into();
    let report = client
        .check(probe)
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    let src = report.paragraphs[0].matches[0].source.clone().unwrap();
    assert_eq!(src.document_id, "b");
    server.stop().await;
}

#[tokio::test]
async fn health_reports_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let server = TestServer::start().await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["neardup.v1.NearDup", ""] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn reflection_lists_the_service() {
    use tokio_stream::StreamExt;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let server = TestServer::start().await;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let requests = vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "neardup.v1.NearDup".into(),
            )),
        },
    ];
    let responses: Vec<_> = reflection
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap().message_response.unwrap())
        .collect()
        .await;
    let MessageResponse::ListServicesResponse(list) = &responses[0] else {
        panic!("{:?}", responses[0])
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"neardup.v1.NearDup"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    let MessageResponse::FileDescriptorResponse(files) = &responses[1] else {
        panic!("{:?}", responses[1])
    };
    assert!(!files.file_descriptor_proto.is_empty());
    server.stop().await;
}

/// grpcurl up to 1.8 (the one a user can install from the package registry) speaks
/// reflection v1alpha only: the server answers it as it answers v1.
#[tokio::test]
async fn reflection_v1alpha_lists_the_services_and_serves_the_proto() {
    use prost::Message;
    use tokio_stream::StreamExt;
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    let server = TestServer::start().await;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = |r| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(r),
    };
    let requests = vec![
        request(MessageRequest::ListServices(String::new())),
        request(MessageRequest::FileContainingSymbol(
            "neardup.v1.NearDup".into(),
        )),
    ];
    let responses: Vec<_> = reflection
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap().message_response.unwrap())
        .collect()
        .await;
    let MessageResponse::ListServicesResponse(list) = &responses[0] else {
        panic!("{:?}", responses[0])
    };
    let mut names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
            "neardup.v1.NearDup"
        ]
    );
    let MessageResponse::FileDescriptorResponse(files) = &responses[1] else {
        panic!("{:?}", responses[1])
    };
    let file = files
        .file_descriptor_proto
        .iter()
        .map(|b| prost_types::FileDescriptorProto::decode(b.as_slice()).unwrap())
        .find(|f| f.package() == "neardup.v1")
        .expect("the file of neardup.v1");
    assert_eq!(file.name(), "neardup/v1/neardup.proto");
    let service = &file.service[0];
    assert_eq!(service.name(), "NearDup");
    let methods: Vec<&str> = service.method.iter().map(|m| m.name()).collect();
    assert_eq!(
        methods,
        [
            "Submit",
            "Check",
            "SubmitStream",
            "GetDocument",
            "DeleteDocument",
            "Stats",
            "CreateNamespace",
            "DeleteNamespace",
            "ListNamespaces",
        ]
    );
    server.stop().await;
}

mod cli {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Stdio};

    use crate::util::neardup;

    struct Served {
        child: Child,
        url: String,
        _data: tempfile::TempDir,
    }

    impl Served {
        fn start(args: &[&str]) -> Served {
            let data = tempfile::tempdir().unwrap();
            let mut child = neardup()
                .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
                .arg(data.path())
                .args(args)
                .env("NEARDUP_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
            let addr = loop {
                let line = lines.next().expect("serve exited").unwrap();
                if let Some(addr) = line.strip_prefix("neardup: listening on ") {
                    break addr.to_string();
                }
            };
            // Keep draining its log so it never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            Served {
                child,
                url: format!("http://{addr}"),
                _data: data,
            }
        }

        /// SIGTERM, then its exit status.
        fn terminate(mut self) -> std::process::ExitStatus {
            let pid = self.child.id().to_string();
            let killed = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap();
            assert!(killed.success());
            self.child.wait().unwrap()
        }
    }

    impl Drop for Served {
        fn drop(&mut self) {
            let _ = self.child.kill();
        }
    }

    fn run(args: &[&str]) -> (i32, String, String) {
        let out = neardup().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    #[test]
    fn scan_against_server_prints_the_offline_report() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        let b = dir.path().join("b.txt");
        std::fs::write(
            &a,
            format!(
                "{}\n\n{}\n\n{}\n",
                super::INTRO,
                super::BUDGET,
                super::RIVER
            ),
        )
        .unwrap();
        std::fs::write(
            &b,
            format!(
                "{}\n\n{}\n\n{}\n",
                super::FRESH,
                super::INTRO,
                super::RIVER2
            ),
        )
        .unwrap();
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        let served = Served::start(&[]);
        let url = served.url.clone();

        let (code, offline, _) = run(&["scan", "--color", "never", a, b]);
        assert_eq!(code, 0);
        assert!(offline.contains("2 of 6 paragraphs recycled"), "{offline}");
        let (code, remote, err) = run(&[
            "scan", "--color", "never", "--server", &url, "--submit", a, b,
        ]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(remote, offline);

        // Check (the default) against what is now indexed, in JSON: b's paragraphs repeat
        // a's (and b's own stored copy, which Check does not exclude).
        let (code, json, err) = run(&["scan", "--format", "json", "--server", &url, b]);
        assert_eq!(code, 0, "{err}");
        let sources: Vec<String> = json
            .lines()
            .flat_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["matches"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["document"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(sources.iter().any(|s| s == a), "{json}");

        // The text report quotes sources that are only on the server.
        let c = dir.path().join("c.txt");
        std::fs::write(&c, super::RIVER2).unwrap();
        let (code, text, err) = run(&[
            "scan",
            "--color",
            "never",
            "--server",
            &url,
            c.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(text.contains(&format!("from {a}:5")), "{text}");
        assert!(text.contains("source: Residents of the valley"), "{text}");

        // Checking against a namespace that holds nothing: one line that says so and how
        // to index files, and exit code 3 (documented in --help and the README).
        let (code, out, err) = run(&["scan", "--server", &url, "--namespace", "nowhere", a]);
        assert_eq!(code, 3, "{err}");
        assert!(out.is_empty(), "{out}");
        assert_eq!(
            err,
            format!(
                "neardup: namespace \"nowhere\" on {url} holds no documents yet, so there is \
                 nothing to check against; index files first with `neardup scan --server {url} \
                 --namespace nowhere --submit FILE...`\n"
            )
        );
        let (_, help, _) = run(&["scan", "--help"]);
        assert!(
            help.contains("  3  scan --server without --submit: the namespace holds no documents"),
            "{help}"
        );

        assert!(served.terminate().success());
    }

    /// Issue 9: checking against a fresh server said NOT_FOUND. Now one line says the
    /// namespace holds nothing and how to submit, and the exit code is 3, both on a fresh
    /// server and once its only document is deleted.
    #[test]
    fn check_against_an_empty_namespace_says_so_and_exits_3() {
        let dir = tempfile::tempdir().unwrap();
        let draft = dir.path().join("draft.txt");
        std::fs::write(&draft, format!("{}\n\n{}\n", super::INTRO, super::INTRO)).unwrap();
        let draft = draft.to_str().unwrap();
        let served = Served::start(&[]);
        let url = served.url.clone();
        let expected = format!(
            "neardup: namespace \"default\" on {url} holds no documents yet, so there is \
             nothing to check against; index files first with `neardup scan --server {url} \
             --namespace default --submit FILE...`\n"
        );
        let (code, out, err) = run(&["scan", "--server", &url, draft]);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (3, "", expected.as_str())
        );

        let (code, _, err) = run(&["scan", "--server", &url, "--submit", draft]);
        assert_eq!(code, 0, "{err}");
        let (code, out, err) = run(&["scan", "--server", &url, draft]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("recycled"), "{out}");

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut client =
                neardup::grpc::pb::near_dup_client::NearDupClient::connect(url.clone())
                    .await
                    .unwrap();
            client
                .delete_document(super::pb::DeleteDocumentRequest {
                    namespace: String::new(),
                    document_id: draft.to_string(),
                })
                .await
                .unwrap();
        });
        let (code, out, err) = run(&["scan", "--server", &url, draft]);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (3, "", expected.as_str())
        );
        assert!(served.terminate().success());
    }

    #[test]
    fn invalid_config_exits_2() {
        for args in [
            vec!["serve", "--threshold", "1.5"],
            vec!["serve", "--workers", "0"],
            vec![
                "serve",
                "--max-text-bytes",
                "100",
                "--max-message-bytes",
                "10",
            ],
            vec!["serve", "--listen", "not-an-address"],
        ] {
            let (code, _, err) = run(&args);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(!err.is_empty());
        }
        let (_, _, err) = run(&["serve", "--threshold", "1.5"]);
        assert!(err.contains("threshold"), "{err}");
    }
}

#[tokio::test]
async fn deadline_is_honoured_and_retry_is_idempotent() {
    let store = Arc::new(FlakyStore::default());
    let server = TestServer::with(Limits::default(), store.clone()).await;
    let mut client = server.client().await;
    store.hold.store(true, Ordering::SeqCst);
    let mut req = tonic::Request::new(submit("a", BUDGET));
    req.set_timeout(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let err = client.submit(req).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{err:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // The write that had started finishes on its worker; a retry is idempotent.
    store.hold.store(false, Ordering::SeqCst);
    let mut outcome = pb::SubmitOutcome::Unspecified;
    for _ in 0..100 {
        let r = client
            .submit(submit("a", BUDGET))
            .await
            .unwrap()
            .into_inner();
        outcome = r.outcome();
        if outcome == pb::SubmitOutcome::Unchanged {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(outcome, pb::SubmitOutcome::Unchanged);
    assert_eq!(store.inner.load().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn stream_holds_back_a_fast_producer() {
    use std::sync::atomic::AtomicUsize;
    use tokio_stream::StreamExt;
    let store = Arc::new(FlakyStore::default());
    let limits = Limits {
        stream_window: 8,
        ..Limits::default()
    };
    let server = TestServer::with(limits, store.clone()).await;
    let mut client = server.client().await;
    // The first item's store write hangs; the rest are 8 KB items (bad ones, cheap to
    // refuse) that the producer offers as fast as the transport takes them.
    store.hold.store(true, Ordering::SeqCst);
    let n = 1000;
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let filler = FRESH.repeat(75);
    let requests = tokio_stream::iter(0..n).map(move |i| {
        counter.fetch_add(1, Ordering::SeqCst);
        if i == 0 {
            submit("first", BUDGET)
        } else {
            submit("", &filler)
        }
    });
    let mut responses = client.submit_stream(requests).await.unwrap().into_inner();
    while !store.entered.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Wait until the producer stops (the count holds still over a quarter second), not a
    // fixed time: a loaded machine may take longer to fill the window, and only the end
    // state is asserted. If the server never stopped reading, the producer would run to
    // the end and fail the bound below.
    let mut after = pulled.load(Ordering::SeqCst);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let now = pulled.load(Ordering::SeqCst);
        if now == after || now >= n {
            break;
        }
        after = now;
    }
    // The server stopped reading: the producer is stuck well short of the end.
    eprintln!("producer got {after} of {n} items out while the server was stuck");
    assert!(after < n / 2, "producer got {after} of {n} items out");
    store.hold.store(false, Ordering::SeqCst);
    let mut count = 0;
    while let Some(r) = responses.message().await.unwrap() {
        let expected = if count == 0 {
            Code::Ok
        } else {
            Code::InvalidArgument
        };
        let code = match r.result.unwrap() {
            Item::Submitted(_) => Code::Ok,
            Item::Error(e) => Code::from_i32(e.code),
        };
        assert_eq!((r.sequence, code), (count as u64, expected));
        count += 1;
    }
    assert_eq!(count, n);
    server.stop().await;
}

/// A paragraph of its own for round `round` (so rounds never match each other), with
/// word `edit` changed.
fn round_paragraph(round: usize, edit: usize) -> String {
    let words: Vec<String> = (0..40)
        .map(|w| {
            if w == edit {
                format!("edited{round}x{edit}")
            } else {
                format!("word{}r{round}", (w * 7919 + round * 104_729) % 100_003)
            }
        })
        .collect();
    words.join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submits_of_one_paragraph_report_exactly_one_new() {
    // As many workers as callers, so that submissions really overlap.
    let limits = Limits {
        workers: 64,
        ..Limits::default()
    };
    let server = TestServer::with(limits, Arc::new(MemStore::default())).await;
    let client = server.client().await;
    for round in 0..50 {
        let text = round_paragraph(round, usize::MAX);
        let calls: Vec<_> = (0..64)
            .map(|i| {
                let mut client = client.clone();
                let req = submit(&format!("r{round}-{i}"), &text);
                tokio::spawn(async move { client.submit(req).await.unwrap().into_inner() })
            })
            .collect();
        let mut new = 0;
        for call in calls {
            let report = call.await.unwrap().report.unwrap();
            if report.paragraphs[0].status() == pb::ParagraphStatus::New {
                new += 1;
            }
        }
        assert_eq!(
            new, 1,
            "round {round}: {new} submissions reported the paragraph new"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_concurrent_near_duplicates_exactly_one_reports_the_other() {
    let limits = Limits {
        workers: 64,
        ..Limits::default()
    };
    let server = TestServer::with(limits, Arc::new(MemStore::default())).await;
    let client = server.client().await;
    for round in 0..50 {
        let calls: Vec<_> = [3, 30]
            .into_iter()
            .enumerate()
            .map(|(i, edit)| {
                let mut client = client.clone();
                let req = submit(&format!("r{round}-{i}"), &round_paragraph(round, edit));
                tokio::spawn(async move { client.submit(req).await.unwrap().into_inner() })
            })
            .collect();
        let mut reporting = Vec::new();
        for call in calls {
            let r = call.await.unwrap();
            let matches = &r.report.unwrap().paragraphs[0].matches;
            if let Some(m) = matches.first() {
                assert_eq!(m.kind(), pb::MatchKind::Near);
                reporting.push((r.document_id, m.source.clone().unwrap().document_id));
            }
        }
        assert_eq!(reporting.len(), 1, "round {round}: {reporting:?}");
        assert_ne!(reporting[0].0, reporting[0].1);
    }
    server.stop().await;
}

/// A restart builds the tables in one go from the stored analyses (`PostingMap::freeze`):
/// the reports must be those of the server that indexed the documents one by one, and the
/// restored index must take deletions and new documents like any other.
#[tokio::test]
async fn a_restarted_server_reports_what_it_reported_before() {
    use crate::util::synthetic::read_jsonl;
    let dir = crate::util::test_data("synthetic-dev");
    let sources = read_jsonl(&dir.join("sources.jsonl"));
    let variants = read_jsonl(&dir.join("variants.jsonl"));
    let text = |v: &serde_json::Value| v["text"].as_str().unwrap().to_string();
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let probes: Vec<String> = variants.iter().step_by(7).take(150).map(text).collect();
    async fn reports(
        client: &mut pb::near_dup_client::NearDupClient<tonic::transport::Channel>,
        probes: &[String],
    ) -> Vec<pb::Report> {
        let mut out = vec![];
        for p in probes {
            let r = client.check(check(p)).await.unwrap().into_inner().report;
            out.push(r.unwrap());
        }
        out
    }
    let server = TestServer::with(Limits::default(), store.clone()).await;
    let mut client = server.client().await;
    // Two source paragraphs a document, so that matches name paragraphs past the first.
    for (i, pair) in sources.chunks(2).enumerate() {
        let body = pair.iter().map(text).collect::<Vec<_>>().join("\n\n");
        client
            .submit(submit(&format!("doc-{i:04}"), &body))
            .await
            .unwrap();
    }
    let before = reports(&mut client, &probes).await;
    let found = before
        .iter()
        .filter(|r| r.paragraphs.iter().any(|p| !p.matches.is_empty()))
        .count();
    assert!(found > 100, "only {found} of {} probes match", probes.len());
    server.stop().await;

    let server = TestServer::with(Limits::default(), store).await;
    let mut client = server.client().await;
    assert_eq!(reports(&mut client, &probes).await, before);
    // A deleted restored document stops matching; a new one is found, and finds the
    // restored ones.
    let first = before
        .iter()
        .flat_map(|r| &r.paragraphs)
        .find_map(|p| p.matches.first()?.source.clone())
        .unwrap();
    let probe = probes
        .iter()
        .zip(&before)
        .find(|(_, r)| {
            r.paragraphs.iter().any(|p| {
                p.matches
                    .first()
                    .and_then(|m| m.source.as_ref())
                    .is_some_and(|s| s.document_id == first.document_id)
            })
        })
        .unwrap()
        .0
        .clone();
    client
        .delete_document(pb::DeleteDocumentRequest {
            namespace: "default".into(),
            document_id: first.document_id.clone(),
        })
        .await
        .unwrap();
    let sources_of = |r: &pb::Report| -> Vec<String> {
        r.paragraphs
            .iter()
            .flat_map(|p| &p.matches)
            .filter_map(|m| Some(m.source.as_ref()?.document_id.clone()))
            .collect()
    };
    let after = client.check(check(&probe)).await.unwrap().into_inner();
    assert!(!sources_of(&after.report.unwrap()).contains(&first.document_id));
    let submitted = client
        .submit(submit("new", &probe))
        .await
        .unwrap()
        .into_inner();
    let again = client.check(check(&probe)).await.unwrap().into_inner();
    assert!(sources_of(&again.report.unwrap()).contains(&"new".to_string()));
    assert!(submitted.report.is_some());
    server.stop().await;
}
