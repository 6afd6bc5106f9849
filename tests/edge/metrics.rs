//! The Prometheus endpoint, scraped over HTTP and parsed: call counters and latency
//! histograms by method and code, namespace gauges, WAL group-commit figures and the
//! restart phases move with what the test did.

use std::collections::BTreeMap;
use std::sync::Arc;

use neardup::engine::Settings;
use neardup::grpc::pb;
use neardup::server::EdgeConfig;
use neardup::store::{WalOptions, WalStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use crate::util::server::TestServer;

/// `GET /metrics`: the status line's code and the body.
async fn scrape(addr: std::net::SocketAddr) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

/// Samples of the text format: metric name → (labels → value).
type Samples = BTreeMap<String, Vec<(BTreeMap<String, String>, f64)>>;

fn parse(text: &str) -> Samples {
    let mut samples = Samples::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let inside = rest.strip_suffix('}').unwrap();
                let labels = inside
                    .split(',')
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap();
                        (k.to_string(), v.trim_matches('"').to_string())
                    })
                    .collect();
                (name, labels)
            }
        };
        samples
            .entry(name.to_string())
            .or_default()
            .push((labels, value));
    }
    samples
}

/// The value of `name` whose labels include all of `want`.
fn value(samples: &Samples, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples.get(name)?.iter().find_map(|(labels, v)| {
        want.iter()
            .all(|(k, wv)| labels.get(*k).is_some_and(|lv| lv == wv))
            .then_some(*v)
    })
}

fn calls(samples: &Samples, method: &str, code: &str) -> f64 {
    value(
        samples,
        "neardup_rpc_requests_total",
        &[
            ("service", "neardup.v1.NearDup"),
            ("method", method),
            ("code", code),
        ],
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn counters_move_with_the_calls_made() {
    let dir = tempfile::tempdir().unwrap();
    let edge = EdgeConfig::default();
    let options = WalOptions {
        observer: Some(edge.metrics.wal_observer()),
        ..WalOptions::new(&Settings::default())
    };
    let store = Arc::new(WalStore::open(dir.path(), options).unwrap());
    let server = TestServer::with_edge(Default::default(), store, edge, true).await;
    let mut client = server.client().await;
    let metrics_addr = server.metrics_addr.unwrap();

    let (head, body) = scrape(metrics_addr).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase().contains("application/openmetrics-text"),
        "{head}"
    );
    let before = parse(&body);
    assert_eq!(calls(&before, "Submit", "OK"), 0.0);

    for i in 0..3 {
        client
            .submit(super::submit("news", &format!("d{i}"), i))
            .await
            .unwrap();
    }
    let err = client
        .check(pb::CheckRequest {
            namespace: "missing".into(),
            text: super::text(1),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = client
        .submit(pb::SubmitRequest {
            document_id: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let (_, body) = scrape(metrics_addr).await;
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    let after = parse(&body);
    assert_eq!(calls(&after, "Submit", "OK"), 3.0, "{body}");
    assert_eq!(calls(&after, "Check", "NOT_FOUND"), 1.0, "{body}");
    assert_eq!(calls(&after, "Submit", "INVALID_ARGUMENT"), 1.0, "{body}");
    assert_eq!(calls(&after, "Check", "OK"), 0.0, "{body}");
    let latency = |suffix: &str, method: &str, code: &str| {
        value(
            &after,
            &format!("neardup_rpc_duration_seconds_{suffix}"),
            &[("method", method), ("code", code)],
        )
        .unwrap()
    };
    assert_eq!(latency("count", "Submit", "OK"), 3.0);
    assert!(latency("sum", "Submit", "OK") > 0.0);
    // The largest finite bucket holds every call of a test this fast.
    let buckets: Vec<f64> = after["neardup_rpc_duration_seconds_bucket"]
        .iter()
        .filter(|(l, _)| l["method"] == "Submit" && l["code"] == "OK")
        .map(|(_, v)| *v)
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(*buckets.last().unwrap(), 3.0);
    // Health checks of the test client are counted under their own service.
    assert!(
        value(
            &after,
            "neardup_rpc_requests_total",
            &[("service", "grpc.health.v1.Health"), ("code", "OK")]
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(value(&after, "neardup_rpc_in_flight", &[]), Some(0.0));
    assert_eq!(
        value(&after, "neardup_inflight_request_bytes", &[]),
        Some(0.0)
    );

    let ns = [("namespace", "news")];
    assert_eq!(value(&after, "neardup_namespace_documents", &ns), Some(3.0));
    assert_eq!(
        value(&after, "neardup_namespace_paragraphs", &ns),
        Some(6.0)
    );
    assert!(value(&after, "neardup_namespace_index_bytes", &ns).unwrap() > 0.0);
    assert_eq!(value(&after, "neardup_jobs_running", &[]), Some(0.0));
    assert_eq!(value(&after, "neardup_jobs_waiting", &[]), Some(0.0));

    // Four records logged (the creation of "news" by its first Submit, three documents),
    // each fsynced (the calls were sequential).
    assert_eq!(value(&after, "neardup_wal_appends_total", &[]), Some(4.0));
    assert!(value(&after, "neardup_wal_append_bytes_total", &[]).unwrap() > 0.0);
    assert_eq!(
        value(&after, "neardup_wal_fsync_duration_seconds_count", &[]),
        Some(4.0)
    );
    assert_eq!(
        value(&after, "neardup_wal_records_per_fsync_sum", &[]),
        Some(4.0)
    );
    assert!(
        value(
            &after,
            "neardup_restart_duration_seconds",
            &[("phase", "index")]
        )
        .is_some()
    );
    server.stop().await;
}
