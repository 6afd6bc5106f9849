//! The Redis Cluster index, through gRPC, against a real cluster.
//!
//! Every test here needs a running Redis Cluster and is ignored by a plain `cargo test`.
//! `.ci/run` starts one (`bench/redis-cluster.sh`) and runs them with
//! `NEARDUP_REDIS_CLUSTER=redis-cluster://... NEARDUP_REDIS_CLUSTER_DIR=DIR
//! cargo test --test cluster -- --ignored --test-threads=1`; run so, a missing or
//! unreachable cluster fails them, it never skips them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use neardup::cluster::{ClusterOptions, ClusterService, RedisIndex, parse_url};
use neardup::engine::Settings;
use neardup::grpc::Limits;
use neardup::grpc::pb::near_dup_client::NearDupClient;
use neardup::grpc::pb::{
    CheckRequest, DeleteDocumentRequest, GetDocumentRequest, Report, StatsRequest, SubmitOutcome,
    SubmitRequest,
};
use neardup::server::{Listeners, ServerConfig, serve};
use neardup::store::{MemStore, Store};
use redis::AsyncCommands;
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;

const IGNORE: &str = "needs a Redis Cluster; .ci/run starts one";

fn seeds() -> Vec<String> {
    let url = std::env::var("NEARDUP_REDIS_CLUSTER").unwrap_or_else(|_| {
        panic!("NEARDUP_REDIS_CLUSTER is not set: these tests need a Redis Cluster ({IGNORE})")
    });
    parse_url(&url).unwrap()
}

/// A namespace no other run has used.
fn fresh(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{what}-{}-{nanos}", std::process::id())
}

/// A server over `backing` on 127.0.0.1:0, stopped when dropped.
struct Server {
    client: NearDupClient<Channel>,
    _stop: oneshot::Sender<()>,
}

async fn start(backing: neardup::grpc::backend::Backing) -> Server {
    start_with(backing, Limits::default()).await
}

async fn start_with(backing: neardup::grpc::backend::Backing, limits: Limits) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ServerConfig {
        listen: addr,
        data_dir: std::env::temp_dir(),
        settings: Settings::default(),
        limits,
        store: Default::default(),
        edge: Default::default(),
    };
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(serve(config, backing, Listeners::from(listener), async {
        let _ = rx.await;
    }));
    let url = format!("http://{addr}");
    let mut client = None;
    for _ in 0..200 {
        if let Ok(c) = NearDupClient::connect(url.clone()).await {
            client = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut client = client.expect("server did not come up");
    // Ready once Stats answers (UNAVAILABLE while starting).
    for _ in 0..200 {
        if client.stats(StatsRequest::default()).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Server { client, _stop: tx }
}

async fn cluster_service(options: ClusterOptions) -> Arc<ClusterService> {
    Arc::new(
        ClusterService::connect(Settings::default(), options)
            .await
            .expect("cannot reach the Redis Cluster"),
    )
}

async fn replica() -> (Server, Arc<ClusterService>) {
    let service = cluster_service(ClusterOptions::new(seeds())).await;
    (start(service.clone().into()).await, service)
}

async fn embedded() -> Server {
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    start(store.into()).await
}

fn submit(ns: &str, id: &str, text: &str) -> SubmitRequest {
    SubmitRequest {
        namespace: ns.into(),
        document_id: id.into(),
        text: text.into(),
        ..Default::default()
    }
}

async fn submit_report(c: &mut NearDupClient<Channel>, req: SubmitRequest) -> (i32, Report) {
    let r = c.submit(req).await.unwrap().into_inner();
    (r.outcome, r.report.unwrap())
}

async fn check(c: &mut NearDupClient<Channel>, ns: &str, text: &str) -> Report {
    c.check(CheckRequest {
        namespace: ns.into(),
        text: text.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .report
    .unwrap()
}

/// Sources of the report's matches, by document id.
fn sources(report: &Report) -> BTreeSet<String> {
    report
        .paragraphs
        .iter()
        .flat_map(|p| &p.matches)
        .filter_map(|m| m.source.as_ref())
        .filter(|s| !s.same_document)
        .map(|s| s.document_id.clone())
        .collect()
}

fn lines(path: &str, n: usize) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    text.lines()
        .take(n)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Redis keys of a namespace, on every primary.
async fn keys_of(ns: &str) -> usize {
    let client = redis::cluster::ClusterClient::new(seeds()).unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    let Some(n): Option<u64> = conn.hget("nd:namespaces", ns).await.unwrap() else {
        return 0;
    };
    let mut total = 0;
    for seed in seeds() {
        let mut node = redis::Client::open(seed)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut node).await.unwrap();
        if redis::from_redis_value::<String>(role[0].clone()).unwrap() != "master" {
            continue;
        }
        for pattern in [format!("nd:{n}:*"), format!("nd:{{{n}:*")] {
            let mut keys: redis::AsyncIter<String> = node.scan_match(&pattern).await.unwrap();
            while futures_util::StreamExt::next(&mut keys).await.is_some() {
                total += 1;
            }
        }
    }
    total
}

/// Without auto-creation, a replica refuses a Submit to a namespace that does not exist,
/// as the embedded server does, until CreateNamespace makes it.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Redis Cluster; .ci/run starts one"]
async fn a_replica_without_auto_creation_needs_create_namespace() {
    let ns = fresh("nocreate");
    let mut limits = Limits::default();
    limits.namespaces.auto_create = false;
    let mut a = start_with(
        cluster_service(ClusterOptions::new(seeds())).await.into(),
        limits,
    )
    .await;
    let docs = lines("synthetic-dev/sources.jsonl", 1);
    let err = a
        .client
        .submit(submit(&ns, &docs[0].0, &docs[0].1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert!(
        err.message().contains("CreateNamespace"),
        "{}",
        err.message()
    );
    a.client
        .create_namespace(neardup::grpc::pb::CreateNamespaceRequest {
            namespace: ns.clone(),
        })
        .await
        .unwrap();
    let (outcome, _) = submit_report(&mut a.client, submit(&ns, &docs[0].0, &docs[0].1)).await;
    assert_eq!(outcome, SubmitOutcome::Created as i32);
}

/// Sets `maxmemory` on every primary (0: no limit).
async fn set_maxmemory(bytes: u64) {
    for seed in seeds() {
        let mut node = redis::Client::open(seed)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut node).await.unwrap();
        if redis::from_redis_value::<String>(role[0].clone()).unwrap() != "master" {
            continue;
        }
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory")
            .arg(bytes)
            .query_async(&mut node)
            .await
            .unwrap();
    }
}

/// A cluster at its `maxmemory` refuses a submission with RESOURCE_EXHAUSTED (full: wait
/// for room), not UNAVAILABLE (retry at once); with room again, submissions succeed.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Redis Cluster; .ci/run starts one"]
async fn a_full_cluster_is_resource_exhausted() {
    let ns = fresh("full");
    let (mut a, _) = replica().await;
    let docs = lines("synthetic-dev/sources.jsonl", 3);
    let (outcome, _) = submit_report(&mut a.client, submit(&ns, &docs[0].0, &docs[0].1)).await;
    assert_eq!(outcome, SubmitOutcome::Created as i32);
    set_maxmemory(1).await;
    let refused = a.client.submit(submit(&ns, &docs[1].0, &docs[1].1)).await;
    set_maxmemory(0).await;
    let err = refused.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("maxmemory"), "{}", err.message());
    let (outcome, _) = submit_report(&mut a.client, submit(&ns, &docs[2].0, &docs[2].1)).await;
    assert_eq!(outcome, SubmitOutcome::Created as i32);
    let seen = check(&mut a.client, &ns, &docs[0].1).await;
    assert!(sources(&seen).contains(&docs[0].0));
}

/// The same inputs through an embedded server and a cluster-backed one give the same
/// reports: submissions (with in-document repeats, resubmissions, conflicts and
/// replacements), checks, and checks after deletions.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Redis Cluster; .ci/run starts one"]
async fn parity_with_the_embedded_server() {
    let ns = fresh("parity");
    let (mut cluster, _) = replica().await;
    let mut local = embedded().await;
    let docs = lines("synthetic-dev/sources.jsonl", 40);
    let variants = lines("synthetic-dev/variants.jsonl", 160);
    // Documents of several paragraphs, some repeating each other.
    let mut inputs: Vec<(String, String)> = docs
        .chunks(2)
        .map(|c| {
            (
                c[0].0.clone(),
                format!("{}\n\n{}\n\n{}", c[0].1, c[1].1, c[0].1),
            )
        })
        .collect();
    inputs.extend(variants.iter().cloned());
    // One paragraph copied 70 times, with and without a changed word: buckets past the
    // spill threshold and past max_bucket (read as first + most recent, on the server).
    let copied = "The same short notice was printed again and again in every issue of the paper.";
    for i in 0..70 {
        let text = match i % 3 {
            0 => copied.to_string(),
            1 => copied.replace("short", "brief"),
            _ => format!("{copied} Again."),
        };
        inputs.push((format!("copy-{i}"), text));
    }
    let mut compared = 0;
    for (id, text) in &inputs {
        let a = submit_report(&mut cluster.client, submit(&ns, id, text)).await;
        let b = submit_report(&mut local.client, submit(&ns, id, text)).await;
        assert_eq!(a, b, "submit {id}");
        compared +=
            a.1.paragraphs
                .iter()
                .filter(|p| !p.matches.is_empty())
                .count();
    }
    assert!(compared > 100, "too few matches compared: {compared}");
    // Idempotent resubmission, conflict, replacement.
    let (id, text) = &inputs[0];
    for c in [&mut cluster.client, &mut local.client] {
        let (outcome, _) = submit_report(c, submit(&ns, id, text)).await;
        assert_eq!(outcome, SubmitOutcome::Unchanged as i32);
        let err = c
            .submit(submit(
                &ns,
                id,
                "A different text altogether, long enough to index here.",
            ))
            .await;
        assert_eq!(err.unwrap_err().code(), Code::AlreadyExists);
    }
    let mut replace = submit(&ns, &inputs[1].0, &inputs[2].1);
    replace.replace = true;
    let a = submit_report(&mut cluster.client, replace.clone()).await;
    let b = submit_report(&mut local.client, replace).await;
    assert_eq!(a.0, SubmitOutcome::Replaced as i32);
    assert_eq!(a, b);
    // Checks, then deletions and the same checks again.
    for round in 0..2 {
        for (_, text) in variants.iter().step_by(7) {
            let a = check(&mut cluster.client, &ns, text).await;
            let b = check(&mut local.client, &ns, text).await;
            assert_eq!(a, b, "check, round {round}");
        }
        for (id, _) in inputs.iter().skip(3 + round).step_by(3) {
            for c in [&mut cluster.client, &mut local.client] {
                c.delete_document(DeleteDocumentRequest {
                    namespace: ns.clone(),
                    document_id: id.clone(),
                })
                .await
                .unwrap();
            }
        }
    }
    let get = |c: &mut NearDupClient<Channel>| {
        let mut c = c.clone();
        let ns = ns.clone();
        let id = inputs[0].0.clone();
        async move {
            c.get_document(GetDocumentRequest {
                namespace: ns,
                document_id: id,
            })
            .await
            .unwrap()
            .into_inner()
            .document
            .unwrap()
        }
    };
    let (mut a, mut b) = (get(&mut cluster.client).await, get(&mut local.client).await);
    a.stored_at_unix_ms = 0;
    b.stored_at_unix_ms = 0;
    assert_eq!(a, b);
    let stats = |c: &mut NearDupClient<Channel>| {
        let mut c = c.clone();
        let ns = ns.clone();
        async move {
            let s = c
                .stats(StatsRequest { namespace: ns })
                .await
                .unwrap()
                .into_inner();
            (
                s.namespaces[0].documents,
                s.namespaces[0].paragraphs,
                s.cluster_used_memory_bytes,
            )
        }
    };
    let (a, b) = (
        stats(&mut cluster.client).await,
        stats(&mut local.client).await,
    );
    assert_eq!((a.0, a.1), (b.0, b.1));
    assert!(a.2 > 0 && b.2 == 0, "cluster memory {} / {}", a.2, b.2);
}

/// A write acknowledged by one replica is seen by the other at once; with WAIT.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Redis Cluster; .ci/run starts one"]
async fn two_replicas_see_each_other() {
    let ns = fresh("replicas");
    let (mut a, _) = replica().await;
    let mut options = ClusterOptions::new(seeds());
    options.wait_replicas = 1;
    let mut b = start(cluster_service(options).await.into()).await;
    let docs = lines("synthetic-dev/sources.jsonl", 30);
    for (i, (id, text)) in docs.iter().enumerate() {
        let (writer, reader) = if i % 2 == 0 {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let (outcome, _) = submit_report(&mut writer.client, submit(&ns, id, text)).await;
        assert_eq!(outcome, SubmitOutcome::Created as i32);
        let seen = check(&mut reader.client, &ns, text).await;
        assert_eq!(sources(&seen), BTreeSet::from([id.clone()]), "{id}");
        let got = reader
            .client
            .get_document(GetDocumentRequest {
                namespace: ns.clone(),
                document_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .document
            .unwrap();
        assert_eq!(got.text, *text);
        // The same submission on the other replica is idempotent.
        let (outcome, _) = submit_report(&mut reader.client, submit(&ns, id, text)).await;
        assert_eq!(outcome, SubmitOutcome::Unchanged as i32);
    }
}

/// Two replicas submit near-duplicates at the same moment: exactly one reports the other.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Redis Cluster; .ci/run starts one"]
async fn concurrent_near_duplicates_across_replicas() {
    let ns = fresh("concurrent");
    let (a, _) = replica().await;
    let (b, _) = replica().await;
    let docs = lines("synthetic-dev/sources.jsonl", 50);
    for (round, (id, text)) in docs.iter().enumerate() {
        let near = format!("{text} And one more closing remark.");
        let (mut ca, mut cb) = (a.client.clone(), b.client.clone());
        let (ra, rb) = tokio::join!(
            submit_report(&mut ca, submit(&ns, &format!("{id}-a"), text)),
            submit_report(&mut cb, submit(&ns, &format!("{id}-b"), &near)),
        );
        let a_reports_b = sources(&ra.1).contains(&format!("{id}-b"));
        let b_reports_a = sources(&rb.1).contains(&format!("{id}-a"));
        assert!(
            a_reports_b != b_reports_a,
            "round {round}: a reports b {a_reports_b}, b reports a {b_reports_a}"
        );
    }
}

/// Deleting a document: afterwards nothing matches it and its keys are gone; deleting the
/// namespace removes every key it had.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Redis Cluster; .ci/run starts one"]
async fn delete_and_namespace_deletion_clean_keys() {
    let ns = fresh("delete");
    let (mut a, service) = replica().await;
    let docs = lines("synthetic-dev/sources.jsonl", 10);
    let before = {
        submit_report(
            &mut a.client,
            submit(
                &ns,
                "seed",
                "A seed document that creates the namespace and stays in it.",
            ),
        )
        .await;
        keys_of(&ns).await
    };
    for (id, text) in &docs {
        submit_report(&mut a.client, submit(&ns, id, text)).await;
    }
    assert!(keys_of(&ns).await > before);
    for (id, text) in &docs {
        let r = a
            .client
            .delete_document(DeleteDocumentRequest {
                namespace: ns.clone(),
                document_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(r.paragraphs >= 1);
        assert!(
            sources(&check(&mut a.client, &ns, text).await).is_empty(),
            "{id}"
        );
        let again = a
            .client
            .delete_document(DeleteDocumentRequest {
                namespace: ns.clone(),
                document_id: id.clone(),
            })
            .await;
        assert_eq!(again.unwrap_err().code(), Code::NotFound);
    }
    // Only the seed's keys (and the namespace's counters) are left.
    assert_eq!(keys_of(&ns).await, before);
    let removed = service.delete_namespace(&ns).await.unwrap();
    assert!(removed >= before, "{removed} < {before}");
    let client = redis::cluster::ClusterClient::new(seeds()).unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    assert_eq!(
        conn.hget::<_, _, Option<u64>>("nd:namespaces", &ns)
            .await
            .unwrap(),
        None
    );
    let err = a
        .client
        .check(CheckRequest {
            namespace: ns.clone(),
            text: "A seed document that creates the namespace and stays in it.".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(err.unwrap_err().code(), Code::NotFound);
}

/// A replica started with other engine settings refuses to start, and says why.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Redis Cluster; .ci/run starts one"]
async fn a_replica_with_other_settings_is_refused() {
    // The cluster's fingerprint exists once any replica has connected.
    replica().await;
    let other = Settings {
        num_perm: 64,
        ..Settings::default()
    };
    let err = ClusterService::connect(other, ClusterOptions::new(seeds()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("other engine settings"), "{err}");
    let url = std::env::var("NEARDUP_REDIS_CLUSTER").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_neardup"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--num-perm",
            "64",
            "--index",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("other engine settings"), "{stderr}");
}

/// A primary killed by its PID mid-ingest: calls fail with UNAVAILABLE (and nothing else)
/// until the failover, then succeed; the replica process keeps serving.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Redis Cluster; .ci/run starts one"]
async fn a_primary_killed_mid_ingest() {
    let dir = std::env::var("NEARDUP_REDIS_CLUSTER_DIR")
        .expect("NEARDUP_REDIS_CLUSTER_DIR (the cluster's directory) is not set");
    let ns = fresh("failover");
    let mut options = ClusterOptions::new(seeds());
    options.lease = Duration::from_secs(3);
    let mut a = start(cluster_service(options).await.into()).await;
    let docs = lines("synthetic-dev/sources.jsonl", 400);
    // A primary: the node of the first seed, if it still is one, else any.
    let client = redis::cluster::ClusterClient::new(seeds()).unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut conn)
        .await
        .unwrap();
    let port = nodes
        .lines()
        .find(|l| l.contains("master") && !l.contains("fail"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|a| a.split(['@', ':']).nth(1))
        .unwrap()
        .to_string();
    let pid: i32 = std::fs::read_to_string(format!("{dir}/{port}/pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut failures = 0;
    let mut killed_at = None;
    let mut recovered_at = None;
    for (i, (id, text)) in docs.iter().enumerate() {
        if i == 20 {
            std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .unwrap();
            killed_at = Some(Instant::now());
        }
        // Each document is retried until it goes in.
        loop {
            match a.client.submit(submit(&ns, id, text)).await {
                Ok(r) => {
                    let outcome = r.into_inner().outcome;
                    assert!(
                        outcome == SubmitOutcome::Created as i32
                            || outcome == SubmitOutcome::Unchanged as i32
                    );
                    if killed_at.is_some() && failures > 0 && recovered_at.is_none() {
                        recovered_at = Some(Instant::now());
                    }
                    break;
                }
                Err(status) => {
                    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                    failures += 1;
                    let since = killed_at.map_or(Duration::ZERO, |t| t.elapsed());
                    assert!(
                        since < Duration::from_secs(30),
                        "no recovery after {since:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        if recovered_at.is_some_and(|t| t.elapsed() > Duration::from_secs(1)) {
            break;
        }
    }
    // Bring the node back (it rejoins as a replica), for the tests that follow.
    let restarted = std::process::Command::new(format!(
        "{}/bench/redis-cluster.sh",
        env!("CARGO_MANIFEST_DIR")
    ))
    .args(["restart", &dir, &port])
    .status()
    .unwrap();
    assert!(restarted.success());
    assert!(failures > 0, "killing a primary made no call fail");
    let recovered = recovered_at.expect("no call succeeded after the failover");
    eprintln!(
        "failover: {failures} UNAVAILABLE answers, recovered {:?} after the kill",
        recovered - killed_at.unwrap()
    );
    // What was acknowledged well before the kill is there (a write acknowledged in the
    // last moment before it may be lost without --redis-wait: replication is asynchronous).
    let done = lines("synthetic-dev/sources.jsonl", 15);
    for (id, text) in &done {
        assert!(
            sources(&check(&mut a.client, &ns, text).await).contains(id),
            "{id}"
        );
    }
}

/// A submission that died half-way (created and appended, never finished): refused by
/// name while pending, then no source of any report once its lease has passed, reaped,
/// and its name free again.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Redis Cluster; .ci/run starts one"]
async fn a_crashed_submission_is_never_complete_and_is_reaped() {
    use neardup::analysis::Analyzer;
    use neardup::cluster::index::Shared;
    use neardup::index::{Bucket, Document, Index, Map};
    use neardup::text::Split;

    let ns = fresh("crashed");
    let mut options = ClusterOptions::new(seeds());
    options.lease = Duration::from_secs(1);
    let mut a = start(cluster_service(options).await.into()).await;
    submit_report(
        &mut a.client,
        submit(
            &ns,
            "seed",
            "A seed document that creates the namespace for this test.",
        ),
    )
    .await;
    let client = redis::cluster::ClusterClient::new(seeds()).unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    let n: u64 = conn.hget("nd:namespaces", &ns).await.unwrap();
    let settings = Settings::default();
    let analyzer = Analyzer::new(settings.shape()).unwrap();
    let index = RedisIndex::new(Arc::new(Shared::new(conn, analyzer.clone(), 1000)), n);
    let (_, text) = lines("synthetic-dev/sources.jsonl", 1).remove(0);
    let doc = analyzer.document(text.as_str(), Split::Auto);
    let records: Vec<_> = doc.paragraphs.iter().filter_map(|p| p.record()).collect();
    let document = Document {
        id: 0,
        name: "crashed".into(),
        metadata: Default::default(),
        stored_at_ms: 0,
        text_hash: xxhash_rust::xxh3::xxh3_64(text.as_bytes()),
        split: Split::Auto,
        paragraphs: doc.paragraphs.len(),
    };
    let created = index.create(document, &records, false).await.unwrap();
    let mut entries = Vec::new();
    for (p, &id) in doc
        .paragraphs
        .iter()
        .filter(|p| !p.too_short)
        .zip(&created.paragraphs)
    {
        entries.push((
            Bucket {
                map: Map::Exact,
                key: p.exact_key(),
            },
            id,
        ));
        for &key in &p.band_keys {
            entries.push((
                Bucket {
                    map: Map::Bands,
                    key,
                },
                id,
            ));
        }
    }
    index.append(&entries).await.unwrap();
    // In progress: not a stored document.
    let got = a
        .client
        .get_document(GetDocumentRequest {
            namespace: ns.clone(),
            document_id: "crashed".into(),
        })
        .await;
    assert_eq!(got.unwrap_err().code(), Code::Unavailable);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sources(&check(&mut a.client, &ns, &text).await).is_empty());
    let (outcome, report) = submit_report(&mut a.client, submit(&ns, "crashed", &text)).await;
    assert_eq!(outcome, SubmitOutcome::Created as i32);
    assert!(sources(&report).is_empty());
    assert_eq!(
        sources(&check(&mut a.client, &ns, &text).await),
        BTreeSet::from(["crashed".to_string()])
    );
}

/// `neardup migrate` copies an embedded data directory into the cluster (again: nothing
/// more), and a replica then answers from it.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Redis Cluster; .ci/run starts one"]
async fn migrate_a_data_directory() {
    use neardup::service::{Service, Submission};
    use neardup::store::{WalOptions, WalStore};
    use neardup::text::Split;

    let ns = fresh("migrated");
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::default();
    let docs = lines("synthetic-dev/sources.jsonl", 12);
    {
        let store = WalStore::open(dir.path(), WalOptions::new(&settings)).unwrap();
        let service = Service::open(settings.clone(), Arc::new(store)).unwrap();
        for (id, text) in &docs {
            let submission = Submission {
                namespace: ns.clone(),
                id: id.clone(),
                doc: service.analyzer().document(text.as_str(), Split::Auto),
                split: Split::Auto,
                metadata: [("from".to_string(), "disk".to_string())].into(),
                opts: settings.query_options(),
                replace: false,
            };
            service.submit(submission, || {}).unwrap();
        }
        service.close().unwrap();
    }
    let url = std::env::var("NEARDUP_REDIS_CLUSTER").unwrap();
    let migrate = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_neardup"))
            .args(["migrate", "--from"])
            .arg(dir.path())
            .args(["--to", &url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = migrate();
    assert!(
        first.contains(&format!("migrated {} documents", docs.len())),
        "{first}"
    );
    let again = migrate();
    assert!(
        again.contains(&format!(
            "migrated 0 documents to {url} ({} already there)",
            docs.len()
        )),
        "{again}"
    );
    let (mut a, _) = replica().await;
    for (id, text) in &docs {
        assert_eq!(
            sources(&check(&mut a.client, &ns, text).await),
            BTreeSet::from([id.clone()])
        );
        let got = a
            .client
            .get_document(GetDocumentRequest {
                namespace: ns.clone(),
                document_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .document
            .unwrap();
        assert_eq!(got.text, *text);
        assert_eq!(got.metadata.get("from").map(String::as_str), Some("disk"));
    }
}
