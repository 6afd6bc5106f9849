//! Overload with large documents, through the binary: 4× more concurrent callers than the
//! byte budget can hold. The server refuses the excess with RESOURCE_EXHAUSTED, quickly
//! (before reading their bodies); its resident memory stays under a stated bound; and
//! every write it acknowledged is there afterwards, whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use neardup::grpc::pb::{self, near_dup_client::NearDupClient};
use tonic::Code;
use tonic::transport::Channel;

use crate::util::child::{Served, rss_bytes};

const MIB: usize = 1 << 20;
/// Size of each document.
const DOC_BYTES: usize = MIB;
/// The server's byte budget: room for 7 such requests at once.
const BUDGET: usize = 8 * MIB;
/// 4× what the budget holds.
const CALLERS: usize = 32;
/// Peak resident memory allowed, over the server's own resident memory once started.
/// Measured on a shared 2-core machine (debug build): with the budget, 7 documents
/// accepted and a peak 70 MiB over the start; with a budget large enough for all 32
/// callers, a peak 147 MiB over it (all 32 MiB of requests held at once, encoded,
/// decoded and analyzed).
const RSS_BOUND: u64 = 112 * MIB as u64;

/// A document of about `DOC_BYTES` of English-like words, different for each `seed`.
fn document(seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut text = String::with_capacity(DOC_BYTES + 1024);
    while text.len() < DOC_BYTES {
        for w in 0..60 {
            let n = next();
            let len = 2 + (n % 8) as usize;
            if w > 0 {
                text.push(' ');
            }
            text.extend((0..len).map(|i| (b'a' + ((n >> (8 + 5 * i)) % 26) as u8) as char));
        }
        text.push_str(".\n\n");
    }
    text
}

async fn connect(addr: &str) -> NearDupClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    NearDupClient::new(channel).max_decoding_message_size(64 * MIB)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_refused_quickly_with_bounded_memory_and_nothing_acknowledged_lost() {
    let data = tempfile::tempdir().unwrap();
    let served = Served::start(
        &[
            "--data-dir",
            data.path().to_str().unwrap(),
            "--workers",
            "1",
            "--max-pending",
            "1024",
            "--max-message-bytes",
            &(2 * MIB).to_string(),
            "--max-text-bytes",
            &(2 * MIB).to_string(),
            "--max-inflight-bytes",
            &BUDGET.to_string(),
        ],
        "warn",
    );
    let baseline = served.rss_bytes();
    let pid = served.pid();
    let peak = Arc::new(AtomicU64::new(baseline));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let texts: Vec<Arc<String>> = (0..CALLERS as u64).map(|i| Arc::new(document(i))).collect();
    let mut callers = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let (addr, text) = (served.addr.clone(), text.clone());
        callers.push(tokio::spawn(async move {
            let mut client = connect(&addr).await;
            let request = pb::SubmitRequest {
                document_id: format!("doc-{i}"),
                text: text.to_string(),
                ..Default::default()
            };
            let started = Instant::now();
            let result = client.submit(request).await;
            (i, result.map(drop), started.elapsed())
        }));
    }
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    for caller in callers {
        let (i, result, latency) = caller.await.unwrap();
        match result {
            Ok(()) => acked.push((i, latency)),
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                assert!(
                    status.message().contains("bytes of requests in flight"),
                    "{}",
                    status.message()
                );
                refused.push(latency);
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    refused.sort();
    let slowest_ack = acked.iter().map(|(_, l)| *l).max().unwrap_or_default();
    eprintln!(
        "overload: {} acknowledged (slowest {slowest_ack:?}), {} refused (median {:?}, slowest {:?}); \
         RSS {} MiB at start, peak {} MiB",
        acked.len(),
        refused.len(),
        refused.get(refused.len() / 2),
        refused.last(),
        baseline / MIB as u64,
        peak / MIB as u64
    );
    assert!(!acked.is_empty(), "nothing was accepted");
    assert!(
        refused.len() >= CALLERS / 2,
        "only {} of {CALLERS} refused",
        refused.len()
    );
    // Refused at the first bytes, not after queueing behind the accepted ones.
    let slowest_refusal = *refused.last().unwrap();
    assert!(
        slowest_refusal < Duration::from_secs(5) && slowest_refusal < slowest_ack,
        "slowest refusal {slowest_refusal:?}, slowest acknowledgement {slowest_ack:?}"
    );
    assert!(
        peak - baseline < RSS_BOUND,
        "peak RSS {} MiB over a start of {} MiB",
        peak / MIB as u64,
        baseline / MIB as u64
    );

    // Every acknowledged write is there, whole; nothing refused is.
    let mut client = connect(&served.addr).await;
    for (i, text) in texts.iter().enumerate() {
        let got = client
            .get_document(pb::GetDocumentRequest {
                namespace: String::new(),
                document_id: format!("doc-{i}"),
            })
            .await;
        if acked.iter().any(|(a, _)| *a == i) {
            assert_eq!(got.unwrap().into_inner().document.unwrap().text, **text);
        } else {
            assert_eq!(got.unwrap_err().code(), Code::NotFound);
        }
    }
    assert!(served.terminate().success());
}
