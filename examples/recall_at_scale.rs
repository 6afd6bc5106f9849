//! Recall on synthetic-dev when the index also holds N unrelated paragraphs from a
//! corpus (JSON Lines with a "text" field, such as the benchmark corpora of
//! BENCHMARKS.md): checks that skipping saturated LSH buckets (`max_bucket`) costs no
//! recall at scale. SYNTHETIC is a synthetic-dev folder (`sources.jsonl`,
//! `variants.jsonl`); by default the subset in `tests/data/synthetic-dev`.
//!
//! It also prints the candidate funnel (`EngineStats::funnel`): of the indexed candidates
//! the variants' checks examined, how many the sketch let through to an exact comparison of
//! sets, and how many of those matched; then the same for checks of 5,000 corpus paragraphs
//! that were not indexed (the common case of an ingestion: new text, mostly unrelated).
//!
//! `cargo run --release --example recall_at_scale -- CORPUS_DIR [N] [SYNTHETIC]`

use neardup::engine::{Engine, NoTexts, Settings};
use neardup::text::Split;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;

fn jsonl(path: &std::path::Path) -> impl Iterator<Item = serde_json::Value> {
    std::io::BufReader::new(std::fs::File::open(path).unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .expect("usage: recall_at_scale CORPUS_DIR [N] [SYNTHETIC]");
    let n: usize = args.next().map_or(300_000, |s| s.parse().expect("N"));
    let data = args.next().map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/synthetic-dev"),
        std::path::PathBuf::from,
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let corpus: Vec<String> = files
        .iter()
        .flat_map(|f| jsonl(f))
        .filter_map(|v| v["text"].as_str().map(String::from))
        .take(n + 5_000)
        .collect();
    let (corpus, fresh) = corpus.split_at(n.min(corpus.len()));
    let engine = Engine::new(Settings::default()).unwrap();
    corpus.par_iter().enumerate().for_each(|(i, t)| {
        let doc = engine.analyze_with(t.as_str(), Split::None);
        engine
            .insert(&format!("corpus-{i}"), &doc, Split::None)
            .unwrap();
    });
    for s in jsonl(&data.join("sources.jsonl")) {
        let doc = engine.analyze_with(s["text"].as_str().unwrap(), Split::None);
        engine
            .insert(s["id"].as_str().unwrap(), &doc, Split::None)
            .unwrap();
    }
    let opts = engine.settings().query_options();
    let mut tally: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for v in jsonl(&data.join("variants.jsonl")) {
        let kind = format!(
            "{} {}",
            v["lang"].as_str().unwrap(),
            v["kind"].as_str().unwrap()
        );
        if kind.contains("negative") || kind.contains("heavy") {
            continue;
        }
        let doc = engine.analyze_with(v["text"].as_str().unwrap(), Split::None);
        let r = engine.check(&doc, "q", &opts, &NoTexts).unwrap();
        let found: HashSet<&str> = r
            .paragraphs
            .iter()
            .flat_map(|p| p.matches.iter().map(|m| &*m.source.name))
            .collect();
        let t = tally.entry(kind).or_default();
        t.0 += 1;
        t.1 += found.contains(v["source_id"].as_str().unwrap()) as usize;
    }
    let variants = engine.stats().funnel;
    for t in fresh {
        let doc = engine.analyze_with(t.as_str(), Split::None);
        engine.check(&doc, "q", &opts, &NoTexts).unwrap();
    }
    let all = engine.stats().funnel;
    let funnel = |what: &str, candidates: u64, verified: u64, matched: u64| {
        let share = |a: u64, b: u64| a as f64 / b.max(1) as f64;
        println!(
            "{what}: {candidates} candidates, {verified} verified ({:.3}), {matched} matched \
             ({:.3} of verified)",
            share(verified, candidates),
            share(matched, verified)
        );
    };
    println!(
        "index: {} corpus paragraphs + synthetic-dev sources",
        corpus.len()
    );
    for (kind, (total, found)) in tally {
        println!("{kind:<16} {:.3}", found as f64 / total as f64);
    }
    let v = variants;
    funnel("funnel, variants", v.candidates, v.verified, v.matched);
    funnel(
        &format!("funnel, {} unindexed corpus paragraphs", fresh.len()),
        all.candidates - v.candidates,
        all.verified - v.verified,
        all.matched - v.matched,
    );
}
