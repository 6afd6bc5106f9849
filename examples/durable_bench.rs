//! Durable storage benchmark: streaming ingest throughput through the write-ahead log
//! (fsync before each acknowledgement, concurrent writers sharing fsyncs), then the
//! restart time of the same data directory (open + replay, restore of the index from the
//! stored analyses).
//!
//! ```text
//! cargo run --release --example durable_bench -- [PARAGRAPHS] [WRITERS] [MODE] [FSYNC]
//! ```
//!
//! `PARAGRAPHS` (default 1000000) are written as documents of 5 paragraphs of ~40 words
//! by `WRITERS` threads (default 64). `MODE` is `store` (only the store: what durability
//! costs) or `engine` (each document is also submitted to an engine first, as the server
//! does). `FSYNC` is `always` (default), `never` or an interval like `100ms`. The data
//! directory is a temporary directory on the current file system.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use neardup::engine::Settings;
use neardup::service::{Service, Submission, record};
use neardup::store::{FsyncPolicy, Store, WalOptions, WalStore};
use neardup::text::Split;

const PARAGRAPHS_PER_DOC: usize = 5;

/// A paragraph of ~40 made-up words, distinct for each `n`.
fn paragraph(n: u64) -> String {
    const SYLLABLES: [&str; 32] = [
        "ka", "ro", "mi", "tu", "sel", "van", "dor", "pli", "ex", "qua", "zen", "lo", "bri", "tas",
        "nu", "fe", "gol", "wir", "sta", "mo", "ich", "pan", "dre", "ul", "ost", "jen", "hav",
        "ri", "bel", "cun", "ya", "gri",
    ];
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let words = 35 + next() % 10;
    let mut out = String::new();
    for w in 0..words {
        if w > 0 {
            out.push(' ');
        }
        for _ in 0..2 + next() % 2 {
            out.push_str(SYLLABLES[(next() % 32) as usize]);
        }
    }
    out.push('.');
    out
}

fn document(d: u64) -> String {
    (0..PARAGRAPHS_PER_DOC as u64)
        .map(|p| paragraph(d * PARAGRAPHS_PER_DOC as u64 + p))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let paragraphs: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let writers: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let with_engine = args.get(2).is_some_and(|m| m == "engine");
    let fsync: FsyncPolicy = args
        .get(3)
        .map_or(Ok(FsyncPolicy::Always), |f| f.parse())
        .expect("FSYNC");
    let docs = paragraphs / PARAGRAPHS_PER_DOC as u64;
    let settings = Settings::default();
    let dir = tempfile::tempdir_in(".").expect("temp dir");
    let options = WalOptions {
        fsync,
        ..WalOptions::new(&settings)
    };
    println!(
        "{} paragraphs in {docs} documents, {writers} writers, fsync {fsync}, mode {}",
        docs * PARAGRAPHS_PER_DOC as u64,
        if with_engine { "engine" } else { "store" }
    );

    // Ingest: through the service's write transaction (engine, then store), or the
    // store alone with the analysis the service would persist.
    let store: Arc<dyn Store> =
        Arc::new(WalStore::open(dir.path(), options.clone()).expect("open"));
    let service = Service::open(settings.clone(), store.clone()).expect("service");
    let next = Arc::new(AtomicU64::new(0));
    let text_bytes = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..writers {
            let (store, service, next, text_bytes) = (&store, &service, &next, &text_bytes);
            let settings = &settings;
            s.spawn(move || {
                loop {
                    let d = next.fetch_add(1, Ordering::Relaxed);
                    if d >= docs {
                        return;
                    }
                    let name = format!("doc-{d}");
                    let text = document(d);
                    text_bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
                    let doc = service.analyzer().document(text, Split::Auto);
                    if with_engine {
                        let submission = Submission {
                            namespace: "bench".into(),
                            id: name,
                            doc,
                            split: Split::Auto,
                            metadata: Default::default(),
                            opts: settings.query_options(),
                            replace: true,
                        };
                        service.submit(submission, || {}).expect("submit");
                    } else {
                        let r = record("bench", &name, &doc, Split::Auto, &Default::default(), d);
                        store.put(&r).expect("put");
                    }
                }
            });
        }
    });
    let ingest = started.elapsed();
    let disk: u64 = std::fs::read_dir(dir.path())
        .expect("data dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    let text_bytes = text_bytes.load(Ordering::Relaxed);
    println!(
        "ingest: {:.2} s, {:.0} paragraphs/s, {:.0} documents/s",
        ingest.as_secs_f64(),
        paragraphs as f64 / ingest.as_secs_f64(),
        docs as f64 / ingest.as_secs_f64(),
    );
    println!(
        "disk: {:.1} MiB for {:.1} MiB of text ({:.2}x)",
        disk as f64 / (1 << 20) as f64,
        text_bytes as f64 / (1 << 20) as f64,
        disk as f64 / text_bytes as f64
    );
    drop(service);
    drop(store);

    // Restart: open (replay), then restore the index from the stored analyses, as the
    // server does before it reports SERVING.
    for what in ["the log", "the snapshot"] {
        let started = Instant::now();
        let store: Arc<dyn Store> =
            Arc::new(WalStore::open(dir.path(), options.clone()).expect("reopen"));
        let opened = started.elapsed();
        let service = Service::open(settings.clone(), store.clone()).expect("restore");
        let restored = started.elapsed();
        println!(
            "restart from {what}: open+replay {:.2} s, restore {:.2} s, total {:.2} s ({} documents)",
            opened.as_secs_f64(),
            (restored - opened).as_secs_f64(),
            restored.as_secs_f64(),
            service.documents()
        );
        if what == "the log" {
            let compact_started = Instant::now();
            let stats = store.compact().expect("compact");
            println!(
                "compaction: {:.2} s, {:.1} MiB -> {:.1} MiB",
                compact_started.elapsed().as_secs_f64(),
                stats.bytes_before as f64 / (1 << 20) as f64,
                stats.bytes_after as f64 / (1 << 20) as f64
            );
        }
    }
}
