//! PAN text-alignment evaluation of `neardup::align` on a corpus in PAN-PC layout.
//!
//! ```sh
//! cargo run --release --example pan_eval -- DATA/pan-format-id
//! cargo run --release --example pan_eval -- DIR --all-pairs      # every suspicious × source
//! cargo run --release --example pan_eval -- DIR min_cosine=0.3   # override an AlignOptions field
//! cargo run --release --example pan_eval -- DIR --dump FILE       # also write every detection
//! ```
//!
//! `--dump FILE` writes each detection (pair and ranges, one a line), then, for each
//! suspicious document, what the service's passage mode reports against every source
//! (`neardup::editorial::alignments`, with a vocabulary of the texts' own most frequent
//! tokens, as the service builds it): a golden file to compare before and after a change
//! to the alignment code.
//!
//! `DIR` holds `suspicious-documents/*.{txt,xml}` and `source-documents/*.txt`; each XML
//! lists the plagiarism cases of its document (`this_offset`, `this_length`,
//! `source_reference`, `source_offset`, `source_length`, `type`, `obfuscation`;
//! zero-based character offsets). The program aligns every (suspicious, source) pair with
//! a case (or every pair, with `--all-pairs`) and prints the measures of Potthast et al.
//! (2010): character recall per obfuscation, macro-averaged character precision,
//! granularity and plagdet.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use neardup::align::{AlignOptions, Alignment, Vocabulary, align};

/// One case or one detection: ranges on both sides, in characters.
#[derive(Debug, Clone)]
struct Pair {
    suspicious: String,
    source: String,
    range: (usize, usize),
    source_range: (usize, usize),
}

struct Case {
    pair: Pair,
    obfuscation: &'static str,
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_string())
}

/// The obfuscation classes of the PAN corpora, under the names of the issue.
fn class(kind: &str, obfuscation: &str) -> &'static str {
    match (kind, obfuscation) {
        ("simulated", _) => "manual paraphrase",
        (_, "none") => "verbatim",
        (_, "random-shuffling" | "random") => "shuffled",
        (_, "semantic-variation" | "semantic") => "word substitution",
        (_, "pos-preserving" | "pos") => "pos-preserving",
        _ => "other",
    }
}

fn read_cases(dir: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut xmls: Vec<PathBuf> = std::fs::read_dir(dir.join("suspicious-documents"))
        .expect("DIR/suspicious-documents exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    xmls.sort();
    for path in xmls {
        let xml = std::fs::read_to_string(&path).expect("readable XML");
        let suspicious = attribute(&xml, "reference").unwrap_or_else(|| {
            path.with_extension("txt")
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into()
        });
        for tag in xml.split("<feature").skip(1) {
            let tag = &tag[..tag.find("/>").unwrap_or(tag.len())];
            let tag = format!(" {tag}");
            if attribute(&tag, "name").as_deref() != Some("plagiarism") {
                continue;
            }
            let num = |n: &str| -> usize {
                attribute(&tag, n)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{}: {n}", path.display()))
            };
            let (o, l, so, sl) = (
                num("this_offset"),
                num("this_length"),
                num("source_offset"),
                num("source_length"),
            );
            cases.push(Case {
                pair: Pair {
                    suspicious: suspicious.clone(),
                    source: attribute(&tag, "source_reference").expect("source_reference"),
                    range: (o, o + l),
                    source_range: (so, so + sl),
                },
                obfuscation: class(
                    &attribute(&tag, "type").unwrap_or_default(),
                    &attribute(&tag, "obfuscation").unwrap_or_default(),
                ),
            });
        }
    }
    cases
}

fn texts(dir: &Path, sub: &str) -> BTreeMap<String, String> {
    std::fs::read_dir(dir.join(sub))
        .unwrap_or_else(|e| panic!("{sub}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).expect("UTF-8 text"),
            )
        })
        .collect()
}

/// Total length of a union of ranges.
fn union_len(mut ranges: Vec<(usize, usize)>) -> usize {
    ranges.retain(|r| r.1 > r.0);
    ranges.sort_unstable();
    let (mut total, mut current): (usize, Option<(usize, usize)>) = (0, None);
    for (s, e) in ranges {
        current = match current {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    total + current.map_or(0, |(s, e)| e - s)
}

fn overlap(a: (usize, usize), b: (usize, usize)) -> (usize, usize) {
    (a.0.max(b.0), a.1.min(b.1))
}

/// A detection detects a case when both refer to the same documents and overlap on
/// both sides.
fn detects(case: &Pair, r: &Pair) -> bool {
    case.suspicious == r.suspicious
        && case.source == r.source
        && overlap(case.range, r.range).0 < overlap(case.range, r.range).1
        && overlap(case.source_range, r.source_range).0
            < overlap(case.source_range, r.source_range).1
}

/// |⊔ (x ⊓ y)| / |x| for one case (or detection) `x` against the others `ys`.
fn covered(x: &Pair, ys: &[&Pair]) -> f64 {
    let a = union_len(ys.iter().map(|y| overlap(x.range, y.range)).collect());
    let b = union_len(
        ys.iter()
            .map(|y| overlap(x.source_range, y.source_range))
            .collect(),
    );
    let len = (x.range.1 - x.range.0) + (x.source_range.1 - x.source_range.0);
    (a + b) as f64 / len as f64
}

fn set_option(o: &mut AlignOptions, kv: &str) {
    let (k, v) = kv
        .split_once('=')
        .unwrap_or_else(|| panic!("KEY=VALUE, not {kv}"));
    let f = || {
        v.parse::<f64>()
            .unwrap_or_else(|_| panic!("{k}: {v} is not a number"))
    };
    let u = || {
        v.parse::<usize>()
            .unwrap_or_else(|_| panic!("{k}: {v} is not a count"))
    };
    match k {
        "shingle" => o.shingle = u(),
        "window" => o.window = u(),
        "stopword_ngram" => o.stopword_ngram = u(),
        "min_cover" => o.min_cover = f(),
        "min_cover_tokens" => o.min_cover_tokens = u(),
        "min_cosine" => o.min_cosine = f(),
        "min_dice" => o.min_dice = f(),
        "keep" => o.keep = f(),
        "max_gap" => o.max_gap = u(),
        "min_passage_cosine" => o.min_passage_cosine = f(),
        "min_chars" => o.min_chars = u(),
        _ => panic!("unknown option {k}"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .expect("usage: pan_eval DIR [--all-pairs] [KEY=VALUE]..."),
    );
    let mut options = AlignOptions::default();
    let (mut all_pairs, mut stopwords) = (false, 50usize);
    let mut dump: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--all-pairs" => all_pairs = true,
            "--dump" => dump = Some(PathBuf::from(args.next().expect("--dump FILE"))),
            s if s.starts_with("stopwords=") => stopwords = s[10..].parse().expect("a count"),
            s => set_option(&mut options, s),
        }
    }
    let cases = read_cases(&dir);
    let suspicious = texts(&dir, "suspicious-documents");
    let sources = texts(&dir, "source-documents");
    let vocab = Vocabulary::from_documents(
        suspicious
            .values()
            .chain(sources.values())
            .map(String::as_str),
        stopwords,
    );
    let with_cases: BTreeSet<&str> = cases.iter().map(|c| c.pair.suspicious.as_str()).collect();
    let pairs: BTreeSet<(String, String)> = if all_pairs {
        suspicious
            .keys()
            .flat_map(|s| sources.keys().map(move |r| (s.clone(), r.clone())))
            .collect()
    } else {
        cases
            .iter()
            .map(|c| (c.pair.suspicious.clone(), c.pair.source.clone()))
            .collect()
    };
    let started = Instant::now();
    let mut detections: Vec<Pair> = Vec::new();
    for (s, r) in &pairs {
        let (Some(st), Some(rt)) = (suspicious.get(s), sources.get(r)) else {
            panic!("missing text for {s} or {r}");
        };
        for Alignment {
            start,
            end,
            source_start,
            source_end,
        } in align(st, rt, &vocab, &options)
        {
            detections.push(Pair {
                suspicious: s.clone(),
                source: r.clone(),
                range: (start, end),
                source_range: (source_start, source_end),
            });
        }
    }
    let elapsed = started.elapsed();
    if let Some(path) = &dump {
        write_dump(path, &detections, &suspicious, &sources, stopwords);
    }

    let mut recall_by: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut granularity = Vec::new();
    for c in &cases {
        let hits: Vec<&Pair> = detections.iter().filter(|r| detects(&c.pair, r)).collect();
        recall_by
            .entry(c.obfuscation)
            .or_default()
            .push(covered(&c.pair, &hits));
        if !hits.is_empty() {
            granularity.push(hits.len() as f64);
        }
    }
    let precision: Vec<f64> = detections
        .iter()
        .map(|r| {
            let hits: Vec<&Pair> = cases
                .iter()
                .map(|c| &c.pair)
                .filter(|c| detects(c, r))
                .collect();
            covered(r, &hits)
        })
        .collect();
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let all: Vec<f64> = recall_by.values().flatten().copied().collect();
    let (rec, prec) = (mean(&all), mean(&precision));
    let gran = if granularity.is_empty() {
        1.0
    } else {
        mean(&granularity)
    };
    let f1 = if rec + prec > 0.0 {
        2.0 * rec * prec / (rec + prec)
    } else {
        0.0
    };
    let plagdet = f1 / (1.0 + gran).log2();

    println!(
        "{} cases in {} suspicious documents; {} pairs aligned{} in {:.2} s ({:.1} ms a pair)",
        cases.len(),
        with_cases.len(),
        pairs.len(),
        if all_pairs { " (all pairs)" } else { "" },
        elapsed.as_secs_f64(),
        1000.0 * elapsed.as_secs_f64() / pairs.len().max(1) as f64
    );
    println!("{:<20} {:>6} {:>8}", "obfuscation", "cases", "recall");
    for (k, v) in &recall_by {
        println!("{k:<20} {:>6} {:>8.3}", v.len(), mean(v));
    }
    println!("{:<20} {:>6} {:>8.3}", "all", all.len(), rec);
    let counts: HashMap<bool, usize> = precision.iter().fold(HashMap::new(), |mut m, &p| {
        *m.entry(p > 0.0).or_insert(0) += 1;
        m
    });
    println!(
        "detections {} ({} touching no case); precision {prec:.3}; granularity {gran:.3}; plagdet {plagdet:.3}",
        detections.len(),
        counts.get(&false).copied().unwrap_or(0)
    );
}

/// The `--dump` file: the detections, then the service's passage mode of each suspicious
/// document against all sources.
fn write_dump(
    path: &Path,
    detections: &[Pair],
    suspicious: &BTreeMap<String, String>,
    sources: &BTreeMap<String, String>,
    stopwords: usize,
) {
    use std::fmt::Write as _;
    let mut out = String::new();
    for d in detections {
        let _ = writeln!(
            out,
            "align {} {} {:?} {:?}",
            d.suspicious, d.source, d.range, d.source_range
        );
    }
    let all: Vec<(String, std::sync::Arc<str>)> = sources
        .iter()
        .map(|(n, t)| (n.clone(), t.as_str().into()))
        .collect();
    for (name, text) in suspicious {
        let texts = std::iter::once(text.as_str()).chain(all.iter().map(|(_, t)| &**t));
        let vocab = Vocabulary::from_occurrences(texts, stopwords, neardup::text::Fold::None);
        for a in neardup::editorial::alignments(text, &all, &vocab) {
            let f = a.alignment;
            let _ = writeln!(
                out,
                "passages {name} {} ({}, {}) ({}, {})",
                a.source, f.start, f.end, f.source_start, f.source_end
            );
        }
    }
    std::fs::write(path, out).expect("the --dump file");
}
