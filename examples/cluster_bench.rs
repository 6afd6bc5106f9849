//! A short benchmark of the Redis Cluster index against the embedded one, through gRPC,
//! with in-process servers on loopback: one-paragraph Check latency (p50/p99, one call at
//! a time), ingest paragraphs/s (unary Submits from 16 concurrent tasks, one paragraph a
//! document) for the embedded server, one replica and two replicas, and the cluster's
//! bytes per paragraph (`INFO memory`, summed over primaries, before and after the
//! one-replica ingest; the zstd texts' share given apart).
//!
//! ```sh
//! bench/redis-cluster.sh start /tmp/rc 7000
//! cargo run --release --example cluster_bench -- redis-cluster://127.0.0.1:7000 2000
//! bench/redis-cluster.sh stop /tmp/rc
//! ```
//! The texts are the shipped `tests/data/synthetic-dev` paragraphs (sources, then variants).

use std::sync::Arc;
use std::time::{Duration, Instant};

use neardup::cluster::{ClusterOptions, ClusterService, parse_url};
use neardup::engine::Settings;
use neardup::grpc::backend::Backing;
use neardup::grpc::pb::near_dup_client::NearDupClient;
use neardup::grpc::pb::{CheckRequest, StatsRequest, SubmitRequest};
use neardup::server::{Listeners, ServerConfig, serve};
use neardup::store::{MemStore, Store};
use tonic::transport::Channel;

const TASKS: usize = 16;

async fn start(backing: Backing) -> NearDupClient<Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ServerConfig {
        listen: addr,
        data_dir: std::env::temp_dir(),
        settings: Settings::default(),
        limits: Default::default(),
        store: Default::default(),
        edge: Default::default(),
    };
    tokio::spawn(serve(
        config,
        backing,
        Listeners::from(listener),
        std::future::pending(),
    ));
    loop {
        if let Ok(mut c) = NearDupClient::connect(format!("http://{addr}")).await
            && c.stats(StatsRequest::default()).await.is_ok()
        {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn texts(n: usize) -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/synthetic-dev");
    ["sources.jsonl", "variants.jsonl"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(format!("{dir}/{f}"))
                .unwrap()
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["text"].as_str().unwrap().to_string()
                })
                .collect::<Vec<_>>()
        })
        .take(n)
        .collect()
}

/// Submits `texts` from `TASKS` tasks spread over `clients`; paragraphs/s.
async fn ingest(clients: &[NearDupClient<Channel>], ns: &str, texts: &[String]) -> f64 {
    let started = Instant::now();
    let texts = Arc::new(texts.to_vec());
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let mut c = clients[t % clients.len()].clone();
        let (texts, ns) = (texts.clone(), ns.to_string());
        tasks.push(tokio::spawn(async move {
            let mut paragraphs = 0u64;
            for (i, text) in texts.iter().enumerate().skip(t).step_by(TASKS) {
                let r = c
                    .submit(SubmitRequest {
                        namespace: ns.clone(),
                        document_id: format!("d{i}"),
                        text: text.clone(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                paragraphs += r.into_inner().report.unwrap().paragraphs.len() as u64;
            }
            paragraphs
        }));
    }
    let mut paragraphs = 0;
    for t in tasks {
        paragraphs += t.await.unwrap();
    }
    paragraphs as f64 / started.elapsed().as_secs_f64()
}

/// p50 and p99 of one-paragraph Checks, one at a time, in ms.
async fn checks(client: &NearDupClient<Channel>, ns: &str, texts: &[String]) -> (f64, f64) {
    let mut c = client.clone();
    let mut ms: Vec<f64> = Vec::new();
    for text in texts {
        let t = Instant::now();
        c.check(CheckRequest {
            namespace: ns.into(),
            text: format!("{text} With a small change."),
            ..Default::default()
        })
        .await
        .unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() * 99 / 100])
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: cluster_bench redis-cluster://... [PARAGRAPHS]");
    let n: usize = args.next().map_or(2000, |a| a.parse().unwrap());
    let texts = texts(n);
    let queries: Vec<String> = texts.iter().step_by((n / 300).max(1)).cloned().collect();
    let run = std::process::id();
    let cluster = || async {
        Arc::new(
            ClusterService::connect(
                Settings::default(),
                ClusterOptions::new(parse_url(&url).unwrap()),
            )
            .await
            .unwrap(),
        )
    };
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let embedded = start(store.into()).await;
    let one = cluster().await;
    let replica1 = start(one.clone().into()).await;
    let replica2 = start(cluster().await.into()).await;

    let ns = format!("bench-embedded-{run}");
    let rate_e = ingest(std::slice::from_ref(&embedded), &ns, &texts).await;
    let (p50_e, p99_e) = checks(&embedded, &ns, &queries).await;

    let ns1 = format!("bench-one-{run}");
    let before = one.memory().await.unwrap();
    let rate_1 = ingest(std::slice::from_ref(&replica1), &ns1, &texts).await;
    let after = one.memory().await.unwrap();
    let (p50_1, p99_1) = checks(&replica1, &ns1, &queries).await;
    let text_bytes: usize = texts
        .iter()
        .map(|t| zstd::bulk::compress(t.as_bytes(), 3).unwrap().len())
        .sum();

    let ns2 = format!("bench-two-{run}");
    let rate_2 = ingest(&[replica1.clone(), replica2.clone()], &ns2, &texts).await;
    let (p50_2, p99_2) = checks(&replica2, &ns2, &queries).await;

    let per = (after.saturating_sub(before)) as f64 / texts.len() as f64;
    let text_per = text_bytes as f64 / texts.len() as f64;
    println!(
        "paragraphs: {}, checks: {} (one at a time)",
        texts.len(),
        queries.len()
    );
    println!("| index | ingest paragraphs/s | Check p50 ms | Check p99 ms |");
    println!("|---|---|---|---|");
    println!("| embedded | {rate_e:.0} | {p50_e:.2} | {p99_e:.2} |");
    println!("| cluster, 1 replica | {rate_1:.0} | {p50_1:.2} | {p99_1:.2} |");
    println!("| cluster, 2 replicas | {rate_2:.0} | {p50_2:.2} | {p99_2:.2} |");
    println!(
        "cluster bytes per paragraph: {per:.0} in all, of which ~{text_per:.0} zstd text (plus key overhead): {:.0} without texts",
        per - text_per
    );
    for (service, ns) in [(&one, &ns1), (&one, &ns2)] {
        service.delete_namespace(ns).await.unwrap();
    }
}
