//! Detection quality on labelled data that may not ship with the repository: the tables
//! of BENCHMARKS.md, "Detection quality on synthetic-dev" and "Other labelled data".
//!
//! ```text
//! cargo run --release --example eval -- DIR            # the tables, then the targets
//! cargo run --release --example eval -- DIR --sweep    # shingle × threshold sweep
//! ```
//!
//! `DIR` is laid out like the project's development data: `synthetic-dev/{sources,
//! variants}.jsonl`, `clough-stevenson/pairs.jsonl`, `msrp/val.jsonl`, `stsb/dev.jsonl`
//! (JSON Lines pair files `{"a","b","label"|"score"}`). A set that is missing is skipped
//! with a note; `tests/data` (the redistributable synthetic-dev subset) works too.
//!
//! Exits with 1 when a target is missed (the synthetic-dev targets of `tests/quality.rs`;
//! Clough & Stevenson `cut` and `light` found, independent answers not; unrelated STS-B
//! pairs not reported), with 2 on a bad command line.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use neardup::engine::{Engine, NoTexts, Settings};
use neardup::text::Split;
use serde_json::Value;

#[path = "../tests/util/synthetic.rs"]
mod synthetic;

/// Per label: pairs, pairs whose own `b` is matched, `a`s matching another pair's `b`.
type PairTally = BTreeMap<String, (usize, usize, usize)>;

/// Pair data sets: every `b` is indexed (one paragraph each), every `a` is checked.
fn evaluate_pairs(path: &Path, label: impl Fn(&Value) -> String) -> PairTally {
    let engine = Engine::new(Settings::default()).expect("valid settings");
    let opts = engine.settings().query_options();
    let pairs = synthetic::read_jsonl(path);
    let mut names = HashSet::new();
    for p in &pairs {
        let b = p["b"].as_str().unwrap();
        // Identical `b` texts recur across pairs: index each text once.
        if names.insert(b.to_string()) {
            engine
                .insert(b, &engine.analyze_with(b, Split::None), Split::None)
                .unwrap();
        }
    }
    let mut out = PairTally::new();
    for p in &pairs {
        let b = p["b"].as_str().unwrap();
        let a = engine.analyze_with(p["a"].as_str().unwrap(), Split::None);
        let report = engine.check(&a, "a", &opts, &NoTexts).unwrap();
        let matched: HashSet<&str> = report
            .paragraphs
            .iter()
            .flat_map(|r| r.matches.iter().map(|m| &*m.source.name))
            .collect();
        let t = out.entry(label(p)).or_default();
        t.0 += 1;
        t.1 += matched.contains(b) as usize;
        t.2 += matched.iter().any(|m| *m != b) as usize;
    }
    out
}

fn print_pairs(title: &str, t: &PairTally) {
    println!(
        "\n{title}\n\n| label | pairs | own source matched | matched another pair's text |\n|---|---|---|---|"
    );
    for (label, (n, own, other)) in t {
        println!(
            "| {label} | {n} | {:.3} | {:.3} |",
            *own as f64 / *n as f64,
            *other as f64 / *n as f64
        );
    }
}

/// Share of a label's pairs whose own source is matched (0 for an absent label).
fn own(t: &PairTally, label: &str) -> f64 {
    t.get(label)
        .map_or(0.0, |(n, own, _)| *own as f64 / (*n).max(1) as f64)
}

/// `path` if it exists, else a note on standard error.
fn present(path: PathBuf) -> Option<PathBuf> {
    if path.exists() {
        Some(path)
    } else {
        eprintln!("eval: {} not found, skipped", path.display());
        None
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sweep = args.iter().any(|a| a == "--sweep");
    let dirs: Vec<&String> = args.iter().filter(|a| *a != "--sweep").collect();
    let [dir] = dirs.as_slice() else {
        eprintln!("usage: eval DIR [--sweep]   (DIR laid out like the development data)");
        return ExitCode::from(2);
    };
    let dir = Path::new(dir.as_str());
    let synthetic_dir = dir.join("synthetic-dev");
    let synthetic_dir = present(synthetic_dir.join("variants.jsonl")).map(|_| synthetic_dir);
    if sweep {
        let Some(synthetic_dir) = synthetic_dir else {
            return ExitCode::from(2);
        };
        synthetic::print_sweep(&synthetic_dir);
        return ExitCode::SUCCESS;
    }

    let mut failures = Vec::new();
    let mut evaluated = 0;
    if let Some(synthetic_dir) = synthetic_dir {
        evaluated += 1;
        println!("Detection quality on {}\n", synthetic_dir.display());
        let tallies = synthetic::evaluate(&synthetic_dir, Settings::default());
        synthetic::print_table(&tallies);
        failures.extend(synthetic::missed_targets(&tallies));
    }
    if let Some(path) = present(dir.join("clough-stevenson/pairs.jsonl")) {
        evaluated += 1;
        let t = evaluate_pairs(&path, |p| p["label"].as_str().unwrap().to_string());
        print_pairs("Clough & Stevenson (answer vs Wikipedia source)", &t);
        // g2pE_taskc (label cut) was copied from another article: 11 of 12 is all there is.
        for label in ["cut", "light"] {
            if own(&t, label) < 11.0 / 12.0 {
                failures.push(format!("Clough & Stevenson {label}: {:.3}", own(&t, label)));
            }
        }
        if own(&t, "non") > 0.05 {
            failures.push(format!("Clough & Stevenson non: {:.3}", own(&t, "non")));
        }
    }
    if let Some(path) = present(dir.join("msrp/val.jsonl")) {
        evaluated += 1;
        let t = evaluate_pairs(&path, |p| format!("label {}", p["label"]));
        print_pairs("MSRP validation (sentence pairs)", &t);
    }
    if let Some(path) = present(dir.join("stsb/dev.jsonl")) {
        evaluated += 1;
        let t = evaluate_pairs(&path, |p| {
            let s = p["score"].as_f64().unwrap();
            let band = if s < 2.0 {
                "score 0-2"
            } else if s < 4.0 {
                "score 2-4"
            } else {
                "score 4-5"
            };
            band.to_string()
        });
        print_pairs("STS-B dev (sentence pairs)", &t);
        if own(&t, "score 0-2") > 0.05 {
            failures.push(format!(
                "STS-B unrelated pairs (score < 2) matched: {:.3}",
                own(&t, "score 0-2")
            ));
        }
    }
    if evaluated == 0 {
        eprintln!("eval: no labelled data under {}", dir.display());
        return ExitCode::from(2);
    }
    if failures.is_empty() {
        println!("\nall targets met");
        ExitCode::SUCCESS
    } else {
        println!("\ntargets missed:");
        for f in &failures {
            println!("  {f}");
        }
        ExitCode::from(1)
    }
}
