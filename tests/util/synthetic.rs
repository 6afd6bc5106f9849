//! The synthetic-dev protocol, shared by `tests/quality.rs` (on the subset shipped in
//! `tests/data/synthetic-dev`) and `examples/eval.rs` (on a full data folder given on its
//! command line), so both measure the same thing.
//!
//! Every source and distractor paragraph is indexed, then each variant is checked (not
//! indexed). A variant is found when its source (and, for merges, its secondary source)
//! is among the matches; any match outside the expected set (source, secondary source,
//! `also_similar`, `negative_of_id`) is a false match. `NEARDUP_EVAL_VERBOSE=1` prints
//! every miss and every false match with its exact scores.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use neardup::engine::{Engine, Settings};
use neardup::text::Split;
use serde_json::Value;

/// The kinds of variant in the data, each expected in both languages.
pub const KINDS: [&str; 11] = [
    "exact",
    "format",
    "hard_negative",
    "heavy_edit",
    "light_edit",
    "medium_edit",
    "merge",
    "negative",
    "reorder",
    "sent_delete",
    "split",
];

/// One JSON value per line of `path`.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}

/// Counts for one (lang, kind).
#[derive(Debug, Default)]
pub struct Tally {
    /// Variants checked.
    pub variants: usize,
    /// Sources expected to be found (0 for negatives).
    pub expected: usize,
    /// Of those, found.
    pub found: usize,
    /// Variants with at least one match outside their expected set.
    pub with_false_match: usize,
}

impl Tally {
    /// Share of the expected sources found (1 when none is expected).
    pub fn recall(&self) -> f64 {
        if self.expected == 0 {
            1.0
        } else {
            self.found as f64 / self.expected as f64
        }
    }

    /// Share of the variants with a false match.
    pub fn false_rate(&self) -> f64 {
        self.with_false_match as f64 / self.variants.max(1) as f64
    }
}

/// Tallies by (lang, kind).
pub type Tallies = BTreeMap<(String, String), Tally>;

/// Indexes `dir/sources.jsonl` and checks every variant of `dir/variants.jsonl`.
pub fn evaluate(dir: &Path, settings: Settings) -> Tallies {
    let verbose = std::env::var_os("NEARDUP_EVAL_VERBOSE").is_some();
    let engine = Engine::new(settings).expect("valid settings");
    let opts = engine.settings().query_options();
    let mut stored: HashMap<String, Arc<str>> = HashMap::new();
    for s in read_jsonl(&dir.join("sources.jsonl")) {
        let doc = engine.analyze_with(s["text"].as_str().unwrap(), Split::None);
        engine
            .insert(s["id"].as_str().unwrap(), &doc, Split::None)
            .unwrap();
        stored.insert(s["id"].as_str().unwrap().to_string(), doc.text.clone());
    }
    let texts = |name: &str| stored.get(name).cloned();
    let mut tallies = Tallies::new();
    for v in read_jsonl(&dir.join("variants.jsonl")) {
        let (lang, kind) = (v["lang"].as_str().unwrap(), v["kind"].as_str().unwrap());
        let mut wanted = vec![v["source_id"].as_str().unwrap().to_string()];
        if let Some(s) = v.get("secondary_source_id").and_then(Value::as_str) {
            wanted.push(s.to_string());
        }
        let mut allowed: HashSet<String> = wanted.iter().cloned().collect();
        if let Some(n) = v.get("negative_of_id").and_then(Value::as_str) {
            allowed.insert(n.to_string());
        }
        for a in v
            .get("also_similar")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            allowed.insert(a["id"].as_str().unwrap().to_string());
        }
        let doc = engine.analyze_with(v["text"].as_str().unwrap(), Split::None);
        let report = engine.check(&doc, "variant", &opts, &texts).unwrap();
        let matched: HashSet<String> = report
            .paragraphs
            .iter()
            .flat_map(|p| p.matches.iter().map(|m| m.source.name.to_string()))
            .collect();
        let negative = matches!(kind, "negative" | "hard_negative");
        if verbose && !negative && wanted.iter().any(|w| !matched.contains(w)) {
            print_miss(&texts, &v, &wanted[0], &report);
        }
        if verbose {
            for m in report
                .paragraphs
                .iter()
                .flat_map(|p| p.matches.iter())
                .filter(|m| !allowed.contains(&*m.source.name))
            {
                let source = texts(&m.source.name).unwrap_or_else(|| "".into());
                println!(
                    "FALSE {lang} {kind} {} {:?} {:?}\n  V: {}\n  S: {source}",
                    v["id"], m.kind, m.scores, v["text"]
                );
            }
        }
        let t = tallies
            .entry((lang.to_string(), kind.to_string()))
            .or_default();
        t.variants += 1;
        if !negative {
            t.expected += wanted.len();
            t.found += wanted.iter().filter(|w| matched.contains(*w)).count();
        }
        t.with_false_match += matched.iter().any(|m| !allowed.contains(m)) as usize;
    }
    tallies
}

fn print_miss(
    texts: &dyn Fn(&str) -> Option<Arc<str>>,
    v: &Value,
    source_id: &str,
    report: &neardup::Report,
) {
    let source = texts(source_id).unwrap_or_else(|| "".into());
    let best: Vec<String> = report
        .paragraphs
        .iter()
        .flat_map(|p| p.matches.iter())
        .map(|m| {
            format!(
                "{}:{:.3}/{:.3}/{:.3}",
                m.source.name, m.scores.jaccard, m.scores.containment, m.scores.containment_source
            )
        })
        .collect();
    let q = neardup::text::analyze_paragraph(v["text"].as_str().unwrap(), 2, 0);
    let s = neardup::text::analyze_paragraph(&source, 2, 0);
    let sc = neardup::verify::scores(&q.set, &s.set);
    println!(
        "MISS {} {} {} exact {sc:?} len {} / {} matches {best:?}\n  V: {}\n  S: {}",
        v["lang"], v["kind"], v["id"], q.length, s.length, v["text"], source
    );
}

/// The table of BENCHMARKS.md, "Detection quality on synthetic-dev".
pub fn print_table(tallies: &Tallies) {
    println!("| lang | kind | variants | recall | variants with a false match |");
    println!("|---|---|---|---|---|");
    for ((lang, kind), t) in tallies {
        println!(
            "| {lang} | {kind} | {} | {:.3} | {:.2} % |",
            t.variants,
            t.recall(),
            100.0 * t.false_rate()
        );
    }
}

/// Recall below target for a kind, or false matches on more than 0.5 % of a kind of
/// negatives: one line each. The targets are the ones in BENCHMARKS.md.
pub fn missed_targets(tallies: &Tallies) -> Vec<String> {
    let mut failures = Vec::new();
    for ((lang, kind), t) in tallies {
        let target = match kind.as_str() {
            "exact" | "format" | "light_edit" | "reorder" | "sent_delete" => 0.995,
            "medium_edit" => 0.90,
            "split" | "merge" => 0.98,
            _ => 0.0,
        };
        if t.recall() < target {
            failures.push(format!(
                "{lang} {kind}: recall {:.3} < {target}",
                t.recall()
            ));
        }
        if matches!(kind.as_str(), "negative" | "hard_negative")
            && t.with_false_match as f64 > 0.005 * t.variants as f64
        {
            failures.push(format!(
                "{lang} {kind}: {} of {} with a false match",
                t.with_false_match, t.variants
            ));
        }
    }
    failures
}

/// The measurement behind the defaults: shingle size × threshold (BENCHMARKS.md, "Why
/// these defaults").
pub fn print_sweep(dir: &Path) {
    println!(
        "| shingle | threshold | en medium | zh medium | en split | zh split | negatives with a false match |"
    );
    println!("|---|---|---|---|---|---|---|");
    for shingle in [1, 2, 3] {
        for threshold in [0.15, 0.2, 0.3, 0.5] {
            let settings = Settings {
                shingle,
                threshold,
                lsh_threshold: threshold.min(0.2),
                ..Settings::default()
            };
            let t = evaluate(dir, settings);
            let r = |lang: &str, kind: &str| t[&(lang.to_string(), kind.to_string())].recall();
            let negatives: Vec<&Tally> = t
                .iter()
                .filter(|((_, k), _)| k.contains("negative"))
                .map(|(_, v)| v)
                .collect();
            let false_rate = negatives.iter().map(|t| t.with_false_match).sum::<usize>() as f64
                / negatives.iter().map(|t| t.variants).sum::<usize>() as f64;
            println!(
                "| {shingle} | {threshold} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} % |",
                r("en", "medium_edit"),
                r("zh", "medium_edit"),
                r("en", "split"),
                r("zh", "split"),
                100.0 * false_rate
            );
        }
    }
}
