//! Index memory per paragraph, measured: indexes N distinct paragraphs and prints
//! `engine.stats().index_bytes / N` (the LSH and exact-hash tables) and the growth of
//! the process's resident set (everything: texts, paragraph records, tables).
//!
//! Paragraphs are synthetic but shaped like `synthetic-dev`: half English (words drawn
//! from the English sources' vocabulary), half Chinese (characters drawn from the
//! Chinese sources), each as long as a randomly chosen real source paragraph, ten to a
//! document. Drawn at random, they share almost no band, which is the worst case for
//! the tables (one bucket entry per band per paragraph).
//!
//! ```text
//! cargo run --release --example indexmem -- [PARAGRAPHS] [SOURCES.jsonl]
//! ```
//!
//! (`SOURCES.jsonl` defaults to `tests/data/synthetic-dev/sources.jsonl`.)

use neardup::text::Split;
use neardup::{Engine, Settings};

/// Resident set size in bytes, from /proc (Linux); 0 elsewhere.
fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// A small deterministic generator (PCG-style LCG), so runs are repeatable.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let sources = args.next().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/synthetic-dev/sources.jsonl"
        )
        .into()
    });

    let mut words: Vec<String> = Vec::new();
    let mut chars: Vec<char> = Vec::new();
    let (mut en_lens, mut zh_lens) = (Vec::new(), Vec::new());
    for line in std::fs::read_to_string(&sources)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let text = v["text"].as_str().unwrap_or_default();
        if v["lang"] == "zh" {
            let cs: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
            zh_lens.push(cs.len());
            chars.extend(cs);
        } else {
            let ws: Vec<&str> = text.split_whitespace().collect();
            en_lens.push(ws.len());
            words.extend(ws.into_iter().map(String::from));
        }
    }
    assert!(
        !words.is_empty() && !chars.is_empty(),
        "no English or Chinese paragraphs in {sources}"
    );

    let mut rng = Rng(0x6e65_6172_6475_7030);
    let mut paragraph = |i: usize| -> String {
        if i.is_multiple_of(2) {
            let len = en_lens[rng.below(en_lens.len())];
            (0..len)
                .map(|_| words[rng.below(words.len())].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            let len = zh_lens[rng.below(zh_lens.len())];
            (0..len).map(|_| chars[rng.below(chars.len())]).collect()
        }
    };

    let settings = Settings::default();
    let engine = Engine::new(settings.clone()).expect("default settings are valid");
    let rss_before = rss_bytes();
    let per_doc = 10;
    let mut made = 0;
    let mut doc_id = 0;
    while made < n {
        let k = per_doc.min(n - made);
        let text = (made..made + k)
            .map(&mut paragraph)
            .collect::<Vec<_>>()
            .join("\n\n");
        made += k;
        let doc = engine.analyze(text);
        engine
            .insert(&format!("doc-{doc_id}"), &doc, Split::Auto)
            .expect("fresh name");
        doc_id += 1;
    }
    let rss_after = rss_bytes();
    let stats = engine.stats();
    let indexed = stats.paragraphs.max(1);
    println!(
        "{}",
        serde_json::json!({
            "paragraphs_generated": n,
            "paragraphs_indexed": stats.paragraphs,
            "documents": stats.documents,
            "lsh_bands": stats.lsh.bands,
            "lsh_rows": stats.lsh.rows,
            "index_bytes": stats.index_bytes,
            "index_bytes_per_paragraph": stats.index_bytes as f64 / indexed as f64,
            "rss_growth_bytes": rss_after.saturating_sub(rss_before),
            "rss_growth_per_paragraph": rss_after.saturating_sub(rss_before) as f64 / indexed as f64,
            "rss_total_bytes": rss_after,
            "record_bytes_per_paragraph": stats.record_bytes as f64 / indexed as f64,
        })
    );
    Ok(())
}
