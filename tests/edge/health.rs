//! Health is NOT_SERVING while the index is being restored (and the service answers
//! UNAVAILABLE), SERVING after, and NOT_SERVING again from the moment shutdown is asked,
//! through the grace period in which calls are still answered.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use neardup::analysis::Analyzer;
use neardup::engine::Settings;
use neardup::grpc::pb;
use neardup::server::EdgeConfig;
use neardup::service::record;
use neardup::store::Store;
use neardup::text::Split;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::util::server::{FlakyStore, TestServer, health, wait_serving};

#[tokio::test]
async fn not_serving_until_restored() {
    let store = Arc::new(FlakyStore::default());
    store
        .inner
        .put(&record(
            "default",
            "kept",
            &Analyzer::new(Settings::default().shape())
                .unwrap()
                .document(super::text(3), Split::Auto),
            Split::Auto,
            &Default::default(),
            1,
        ))
        .unwrap();
    store.hold_load.store(true, Ordering::SeqCst);
    let server = TestServer::with(Default::default(), store.clone()).await;
    let channel = server.channel_now().await;
    assert_eq!(health(&channel).await, ServingStatus::NotServing);
    let mut client = pb::near_dup_client::NearDupClient::new(channel.clone());
    let err = client.stats(pb::StatsRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains("restored"), "{}", err.message());

    store.hold_load.store(false, Ordering::SeqCst);
    wait_serving(&channel).await;
    let doc = client
        .get_document(pb::GetDocumentRequest {
            namespace: String::new(),
            document_id: "kept".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .document
        .unwrap();
    assert_eq!(doc.text, super::text(3));
    server.stop().await;
}

#[tokio::test]
async fn not_serving_while_draining() {
    let grace = Duration::from_secs(3);
    let edge = EdgeConfig {
        shutdown_grace: grace,
        ..EdgeConfig::default()
    };
    let mut server = TestServer::with_edge(
        Default::default(),
        Arc::new(FlakyStore::default()),
        edge,
        false,
    )
    .await;
    let channel = server.channel().await;
    let mut client = pb::near_dup_client::NearDupClient::new(channel.clone());
    client.submit(super::submit("", "a", 1)).await.unwrap();
    let asked = Instant::now();
    server.begin_stop();
    while health(&channel).await == ServingStatus::Serving {
        assert!(
            asked.elapsed() < grace,
            "still SERVING after the grace period"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Draining: NOT_SERVING, and calls are still answered.
    assert!(asked.elapsed() < grace);
    client
        .get_document(pb::GetDocumentRequest {
            namespace: String::new(),
            document_id: "a".into(),
        })
        .await
        .unwrap();
    server.join().await.unwrap();
    assert!(asked.elapsed() >= grace);
}
