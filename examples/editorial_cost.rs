//! Per-call costs of the editorial modules on the magazine (a quick run, not a
//! benchmark: `cargo run --release --example editorial_cost -- MAGAZINE`).
//!
//! Prints, for each step, the mean time of one call over enough repetitions to take
//! about a second: tokenizing the whole magazine without and with Traditional →
//! Simplified folding, on the Simplified text and on its Traditional conversion (the
//! fixture's `s2t` paragraphs), finding page-break joins, and grouping the scan report
//! into passages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use neardup::engine::{Engine, Settings};
use neardup::report::passage::{PassageOptions, passages};
use neardup::text::repair::find_joins;
use neardup::text::{Fold, split_paragraphs, tokenize_with};

fn time<T>(label: &str, mut f: impl FnMut() -> T) -> Duration {
    std::hint::black_box(f()); // warm up (the fold table is built on first use)
    let (mut n, started) = (0u32, Instant::now());
    while started.elapsed() < Duration::from_secs(1) {
        std::hint::black_box(f());
        n += 1;
    }
    let each = started.elapsed() / n;
    println!("{label:<44} {:>10.1} µs", each.as_secs_f64() * 1e6);
    each
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: editorial_cost MAGAZINE [HANT_JSONL]");
    let text = std::fs::read_to_string(&path).expect("readable magazine");
    let hant: String = std::env::args()
        .nth(2)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|jsonl| {
            jsonl
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|v| v["s2t"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
                .join("\n\n")
        })
        .unwrap_or_default();
    println!(
        "magazine: {} characters; Traditional text: {} characters",
        text.chars().count(),
        hant.chars().count()
    );
    let plain = time("tokenize (no folding)", || tokenize_with(&text, Fold::None));
    let folded = time("tokenize (folding)", || {
        tokenize_with(&text, Fold::Simplified)
    });
    println!(
        "{:<44} {:>10.2}",
        "  folding / no folding",
        folded.as_secs_f64() / plain.as_secs_f64()
    );
    if !hant.is_empty() {
        let plain = time("tokenize zh-Hant (no folding)", || {
            tokenize_with(&hant, Fold::None)
        });
        let folded = time("tokenize zh-Hant (folding)", || {
            tokenize_with(&hant, Fold::Simplified)
        });
        println!(
            "{:<44} {:>10.2}",
            "  folding / no folding",
            folded.as_secs_f64() / plain.as_secs_f64()
        );
    }
    let spans = split_paragraphs(&text);
    time("split_paragraphs", || split_paragraphs(&text));
    time("find_joins (page-break repair)", || {
        find_joins(&text, &spans)
    });
    let engine = Engine::new(Settings::default()).expect("default settings");
    let scanned = time("scan (one document, fresh engine each call)", || {
        let engine = Engine::new(Settings::default()).expect("default settings");
        neardup::scan::scan(&engine, [("m".to_string(), text.clone())]).expect("scan")
    });
    let docs = neardup::scan::scan(&engine, [("m".to_string(), text.clone())]).expect("scan");
    let shared: Arc<str> = text.as_str().into();
    let grouped = time("passages (from the scan report)", || {
        passages(
            &docs[0].report,
            &text,
            &|_| Some(shared.clone()),
            PassageOptions::default(),
        )
    });
    println!(
        "{:<44} {:>10.3}",
        "  passages / scan",
        grouped.as_secs_f64() / scanned.as_secs_f64()
    );
}
