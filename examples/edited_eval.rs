//! The edited-copy stage ([`neardup::edit`]) measured: detection with and without it, and
//! its cost. The tables of BENCHMARKS.md, "Edited copies".
//!
//! ```text
//! cargo run --release --example edited_eval -- DIR [--rounds N]
//! ```
//!
//! `DIR` is laid out like the project's development data (`synthetic-dev/{sources,
//! variants}.jsonl`, `clough-stevenson/pairs.jsonl`). For synthetic-dev, the protocol of
//! `examples/eval.rs` (every source indexed, every variant checked) with the stage off
//! and on; then the cost: the same variants checked, and all sources then all variants
//! submitted to a fresh engine, with the stage off and on in alternating rounds (default
//! 3), one thread: engine time alone, and with the analysis of the submitted texts, as a
//! Submit of text does it. Clough & Stevenson: every Wikipedia source indexed, every answer
//! checked.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use neardup::MatchKind;
use neardup::engine::{Engine, Settings};
use neardup::text::Split;

#[path = "../tests/util/synthetic.rs"]
mod synthetic;

fn with_edited(edited: bool) -> Settings {
    Settings {
        edited,
        ..Settings::default()
    }
}

/// What one round of [`cost`] measured.
#[derive(Default)]
struct Cost {
    /// Checking every variant against the indexed sources.
    check: Duration,
    /// Submitting every source then every variant to a fresh engine (engine time only).
    submit: Duration,
    /// Analyzing the texts of those submissions (the same work whether the stage is on).
    analysis: Duration,
    edited_matches: usize,
}

/// Times to check every variant against the indexed sources, and to submit every source
/// then every variant to a fresh engine.
fn cost(dir: &Path, edited: bool) -> Cost {
    let sources = synthetic::read_jsonl(&dir.join("sources.jsonl"));
    let variants = synthetic::read_jsonl(&dir.join("variants.jsonl"));
    let mut texts: HashMap<String, Arc<str>> = HashMap::new();
    for r in sources.iter().chain(&variants) {
        texts.insert(
            r["id"].as_str().unwrap().into(),
            r["text"].as_str().unwrap().into(),
        );
    }
    let lookup = |n: &str| texts.get(n).cloned();
    let engine = Engine::new(with_edited(edited)).unwrap();
    let opts = engine.settings().query_options();
    let mut analysis = Duration::ZERO;
    let mut analyzed = |r: &serde_json::Value| {
        let t = Instant::now();
        let doc = engine.analyze_with(r["text"].as_str().unwrap(), Split::None);
        analysis += t.elapsed();
        doc
    };
    let mut submit = Duration::ZERO;
    for r in &sources {
        let doc = analyzed(r);
        let t = Instant::now();
        engine
            .submit(
                r["id"].as_str().unwrap(),
                &doc,
                BTreeMap::new(),
                0,
                &opts,
                false,
                Split::None,
                &lookup,
            )
            .unwrap();
        submit += t.elapsed();
    }
    let docs: Vec<_> = variants.iter().map(&mut analyzed).collect();
    let mut check = Duration::ZERO;
    let mut edited_matches = 0;
    for doc in &docs {
        let t = Instant::now();
        let report = engine.check(doc, "variant", &opts, &lookup).unwrap();
        check += t.elapsed();
        edited_matches += report
            .paragraphs
            .iter()
            .flat_map(|p| &p.matches)
            .filter(|m| m.kind == MatchKind::Edited)
            .count();
    }
    for (r, doc) in variants.iter().zip(&docs) {
        let t = Instant::now();
        engine
            .submit(
                r["id"].as_str().unwrap(),
                doc,
                BTreeMap::new(),
                0,
                &opts,
                false,
                Split::None,
                &lookup,
            )
            .unwrap();
        submit += t.elapsed();
    }
    Cost {
        check,
        submit,
        analysis,
        edited_matches,
    }
}

/// Clough & Stevenson: (label → (pairs, own source found)) with the stage off and on.
fn clough(path: &Path, edited: bool) -> BTreeMap<String, (usize, usize, usize)> {
    let pairs = synthetic::read_jsonl(path);
    let engine = Engine::new(with_edited(edited)).unwrap();
    let opts = engine.settings().query_options();
    let mut texts: HashMap<String, Arc<str>> = HashMap::new();
    for p in &pairs {
        let b = p["b"].as_str().unwrap();
        if !texts.contains_key(b) {
            engine
                .insert(b, &engine.analyze_with(b, Split::None), Split::None)
                .unwrap();
            texts.insert(b.to_string(), b.into());
        }
    }
    let lookup = |n: &str| texts.get(n).cloned();
    let mut out: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for p in &pairs {
        let b = p["b"].as_str().unwrap();
        let a = engine.analyze_with(p["a"].as_str().unwrap(), Split::None);
        let report = engine.check(&a, "a", &opts, &lookup).unwrap();
        let matched: HashSet<&str> = report
            .paragraphs
            .iter()
            .flat_map(|r| r.matches.iter().map(|m| &*m.source.name))
            .collect();
        let t = out
            .entry(p["label"].as_str().unwrap().to_string())
            .or_default();
        t.0 += 1;
        t.1 += matched.contains(b) as usize;
        t.2 += matched.iter().any(|m| *m != b) as usize;
    }
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(3usize);
    let Some(dir) = args.first().filter(|a| !a.starts_with("--")) else {
        eprintln!("usage: edited_eval DIR [--rounds N]");
        return ExitCode::from(2);
    };
    let dir = Path::new(dir);
    let synthetic_dir = dir.join("synthetic-dev");
    if synthetic_dir.join("variants.jsonl").exists() {
        let off = synthetic::evaluate(&synthetic_dir, with_edited(false));
        let on = synthetic::evaluate(&synthetic_dir, with_edited(true));
        println!("Synthetic-dev, edited stage off / on\n");
        println!(
            "| lang | kind | variants | recall off | recall on | false match off | false match on |"
        );
        println!("|---|---|---|---|---|---|---|");
        for (key, a) in &off {
            let b = &on[key];
            println!(
                "| {} | {} | {} | {:.3} | {:.3} | {:.2} % | {:.2} % |",
                key.0,
                key.1,
                a.variants,
                a.recall(),
                b.recall(),
                100.0 * a.false_rate(),
                100.0 * b.false_rate()
            );
        }
        let mut total = [Cost::default(), Cost::default()];
        for _ in 0..rounds {
            for (k, edited) in [false, true].into_iter().enumerate() {
                let c = cost(&synthetic_dir, edited);
                let t = &mut total[k];
                t.check += c.check;
                t.submit += c.submit;
                t.analysis += c.analysis;
                t.edited_matches = t.edited_matches.max(c.edited_matches);
            }
        }
        let per = |d: Duration| d.as_secs_f64() / rounds as f64;
        let [off, on] = &total;
        // A Submit of text does the analysis too, the same work off and on.
        let analysis = per(off.analysis + on.analysis) / 2.0;
        println!(
            "\nCost ({rounds} rounds, one thread): check all variants {:.3} s off, {:.3} s on \
             (+{:.1} %); submit all sources and variants {:.3} s off, {:.3} s on (+{:.1} %; \
             throughput {:.1} % of off); with their analysis ({analysis:.3} s), as a Submit of \
             text does it, {:.1} % of off; {} edited matches in the checks",
            per(off.check),
            per(on.check),
            100.0 * (per(on.check) / per(off.check) - 1.0),
            per(off.submit),
            per(on.submit),
            100.0 * (per(on.submit) / per(off.submit) - 1.0),
            100.0 * per(off.submit) / per(on.submit),
            100.0 * (per(off.submit) + analysis) / (per(on.submit) + analysis),
            on.edited_matches,
        );
    } else {
        eprintln!("edited_eval: no synthetic-dev under {}", dir.display());
    }
    let cs = dir.join("clough-stevenson/pairs.jsonl");
    if cs.exists() {
        let (off, on) = (clough(&cs, false), clough(&cs, true));
        println!("\nClough & Stevenson, edited stage off / on\n");
        println!("| label | pairs | own source off | own source on | another pair's text on |");
        println!("|---|---|---|---|---|");
        for (label, a) in &off {
            let b = on[label];
            println!(
                "| {label} | {} | {:.3} | {:.3} | {:.3} |",
                a.0,
                a.1 as f64 / a.0 as f64,
                b.1 as f64 / b.0 as f64,
                b.2 as f64 / b.0 as f64
            );
        }
    }
    ExitCode::SUCCESS
}
