//! Criterion benchmarks of the per-paragraph pipeline and of the index.
//!
//! Paragraphs come from `tests/data/synthetic-dev/sources.jsonl` (the English and
//! Chinese paragraphs of the redistributable synthetic-dev subset), so the figures are
//! for realistic text and the benchmarks run from any clone.
//! Throughput is per paragraph (`elements`) or per input byte (`bytes`).
//!
//! ```text
//! cargo bench --bench pipeline                 # everything
//! cargo bench --bench pipeline -- signature    # one group
//! ```
//!
//! `bench/compare.sh` is the cross-library comparison; these track neardup itself.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use neardup::engine::NoTexts;
use neardup::index::PostingMap;
use neardup::lsh::band_keys;
use neardup::minhash::{self, MinHasher};
use neardup::text::normalize::tokenize_graphemes;
use neardup::text::{Split, analyze_paragraph, shingle_set, shingles, tokenize};
use neardup::{Engine, Settings};

/// English and Chinese paragraphs: the synthetic-dev sources shipped in `tests/data`.
fn paragraphs() -> (Vec<String>, Vec<String>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/synthetic-dev/sources.jsonl"
    );
    let data = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (mut en, mut zh) = (Vec::new(), Vec::new());
    for line in data.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
        let text = v["text"].as_str().unwrap_or_default().to_string();
        match v["lang"].as_str() {
            Some("en") => en.push(text),
            Some("zh") => zh.push(text),
            _ => {}
        }
    }
    (en, zh)
}

fn langs() -> [(&'static str, Vec<String>); 2] {
    let (en, zh) = paragraphs();
    [("en", en), ("zh", zh)]
}

fn bytes(texts: &[String]) -> u64 {
    texts.iter().map(|t| t.len() as u64).sum()
}

/// Text → tokens (fast path and the grapheme-wise reference), → shingles, → the
/// whole per-paragraph analysis plus signature.
fn text(c: &mut Criterion) {
    let s = Settings::default();
    let hasher = MinHasher::new(s.num_perm, s.seed);
    for (lang, texts) in langs() {
        let mut g = c.benchmark_group(format!("text/{lang}"));
        g.throughput(Throughput::Bytes(bytes(&texts)));
        g.bench_function("tokenize", |b| {
            b.iter(|| texts.iter().map(|t| tokenize(t).len()).sum::<usize>())
        });
        g.bench_function("tokenize_graphemes", |b| {
            b.iter(|| {
                texts
                    .iter()
                    .map(|t| tokenize_graphemes(t).len())
                    .sum::<usize>()
            })
        });
        let tokens: Vec<_> = texts.iter().map(|t| tokenize(t)).collect();
        g.bench_function("shingles", |b| {
            b.iter(|| {
                tokens
                    .iter()
                    .map(|t| shingle_set(&shingles(t, s.shingle, s.seed)).len())
                    .sum::<usize>()
            })
        });
        g.throughput(Throughput::Elements(texts.len() as u64));
        g.bench_function("text_to_signature", |b| {
            b.iter(|| {
                for t in &texts {
                    let p = analyze_paragraph(t, s.shingle, s.seed);
                    black_box(hasher.signature(&p.set));
                }
            })
        });
        g.finish();
    }
}

/// Signatures at 128 permutations from pre-built shingle sets, with each loop this CPU
/// can run (`portable` is what a generic x86-64 build would be stuck with).
fn signature(c: &mut Criterion) {
    let s = Settings::default();
    for (lang, texts) in langs() {
        let sets: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| analyze_paragraph(t, s.shingle, s.seed).set)
            .collect();
        let mut g = c.benchmark_group(format!("signature/{lang}"));
        g.throughput(Throughput::Elements(sets.len() as u64));
        for name in minhash::implementations() {
            let h = MinHasher::with_implementation(s.num_perm, s.seed, name)
                .expect("listed as available");
            g.bench_with_input(BenchmarkId::new("128", name), &sets, |b, sets| {
                b.iter(|| {
                    for set in sets {
                        black_box(h.signature(set));
                    }
                })
            });
        }
        g.finish();
    }
}

/// LSH band keys, inserts into an empty index, and candidate queries against a full one.
fn lsh(c: &mut Criterion) {
    let s = Settings::default();
    let hasher = MinHasher::new(s.num_perm, s.seed);
    let (en, zh) = paragraphs();
    let sigs: Vec<_> = en
        .iter()
        .chain(&zh)
        .map(|t| hasher.signature(&analyze_paragraph(t, s.shingle, s.seed).set))
        .collect();
    let params = s.lsh_params();
    let policy = s.read_policy();
    let keys: Vec<Vec<u64>> = sigs
        .iter()
        .map(|sig| band_keys(params, s.seed, sig))
        .collect();
    let mut g = c.benchmark_group("lsh");
    g.throughput(Throughput::Elements(sigs.len() as u64));
    g.bench_function("band_keys", |b| {
        b.iter(|| {
            sigs.iter()
                .map(|sig| band_keys(params, s.seed, sig).len())
                .sum::<usize>()
        })
    });
    g.bench_function("insert", |b| {
        b.iter(|| {
            let index = PostingMap::default();
            for (id, k) in keys.iter().enumerate() {
                for &key in k {
                    index.insert(key, id as u32);
                }
            }
            index
        })
    });
    let full = PostingMap::default();
    for (id, k) in keys.iter().enumerate() {
        for &key in k {
            full.insert(key, id as u32);
        }
    }
    g.bench_function("query", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for k in &keys {
                for &key in k {
                    full.read(key, policy, |_| n += 1);
                }
            }
            n
        })
    });
    g.finish();
}

/// The engine end to end: analyze + submit (report and index) of one-paragraph
/// documents into a fresh engine, and analyze + check against a full one.
fn engine(c: &mut Criterion) {
    let (en, zh) = paragraphs();
    let docs: Vec<String> = en.into_iter().chain(zh).collect();
    let settings = Settings::default();
    let opts = settings.query_options();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(docs.len() as u64));
    g.bench_function("submit", |b| {
        b.iter(|| {
            let engine = Engine::new(settings.clone()).expect("valid settings");
            for (i, text) in docs.iter().enumerate() {
                let doc = engine.analyze(text.as_str());
                engine
                    .submit(
                        &i.to_string(),
                        &doc,
                        BTreeMap::new(),
                        0,
                        &opts,
                        false,
                        Split::Auto,
                        &NoTexts,
                    )
                    .expect("fresh name");
            }
            engine
        })
    });
    let engine = Engine::new(settings.clone()).expect("valid settings");
    for (i, text) in docs.iter().enumerate() {
        let doc = engine.analyze(text.as_str());
        engine
            .insert(&i.to_string(), &doc, Split::Auto)
            .expect("fresh name");
    }
    g.bench_function("check", |b| {
        b.iter(|| {
            let mut matched = 0usize;
            for text in &docs {
                let doc = engine.analyze(text.as_str());
                let report = engine
                    .check(&doc, "query", &opts, &NoTexts)
                    .expect("valid options");
                matched += report.paragraphs.len();
            }
            matched
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = text, signature, lsh, engine
}
criterion_main!(benches);
