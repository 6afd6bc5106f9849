//! Engine-level scale check: index N paragraphs from JSON Lines files (`{"text": ...}` per
//! line, as the benchmark corpora of BENCHMARKS.md are), then time `check` on a
//! sample of them, one thread, and print p50/p99 latency and index bytes per paragraph.
//!
//! `cargo run --release --example check_latency -- /tmp/corpora/en 1000000 2000`

use neardup::engine::{Engine, NoTexts, Settings};
use neardup::text::Split;
use rayon::prelude::*;
use std::io::BufRead;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: check_latency DIR [N] [QUERIES]");
    let n: usize = args.next().map_or(1_000_000, |s| s.parse().expect("N"));
    let queries: usize = args.next().map_or(2000, |s| s.parse().expect("QUERIES"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut texts = Vec::with_capacity(n);
    'outer: for f in files {
        for line in std::io::BufReader::new(std::fs::File::open(f).unwrap()).lines() {
            let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            if let Some(t) = v["text"].as_str() {
                texts.push(t.to_string());
                if texts.len() == n {
                    break 'outer;
                }
            }
        }
    }
    let max_bucket =
        std::env::var("MAX_BUCKET").map_or(Settings::default().max_bucket, |s| s.parse().unwrap());
    let engine = Engine::new(Settings {
        max_bucket,
        ..Settings::default()
    })
    .unwrap();
    let opts = engine.settings().query_options();
    let start = Instant::now();
    texts.par_iter().enumerate().for_each(|(i, t)| {
        let doc = engine.analyze_with(t.as_str(), Split::None);
        engine.insert(&i.to_string(), &doc, Split::None).unwrap();
    });
    let stats = engine.stats();
    println!(
        "indexed {} paragraphs ({} too short) in {:.1} s; index {} bytes/paragraph",
        texts.len(),
        texts.len() - stats.paragraphs,
        start.elapsed().as_secs_f64(),
        stats.index_bytes / stats.paragraphs.max(1)
    );
    let step = (texts.len() / queries.max(1)).max(1);
    let mut times = Vec::new();
    let mut matched = 0;
    for t in texts.iter().step_by(step).take(queries) {
        let t0 = Instant::now();
        let doc = engine.analyze_with(t.as_str(), Split::None);
        let r = engine.check(&doc, "q", &opts, &NoTexts).unwrap();
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        times.push(ms);
        matched += r.summary.recycled;
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    println!(
        "check: {} queries, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {matched} matched",
        times.len(),
        q(0.5),
        q(0.99),
        q(1.0)
    );
}
