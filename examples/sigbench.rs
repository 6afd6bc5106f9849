//! Single-threaded MinHash throughput, for `bench/compare.sh`.
//!
//! Reads paragraphs from a JSON Lines file (objects with `lang` and `text`, such as
//! `synthetic-dev/sources.jsonl`) and, per language, times:
//!
//! - `text`: text → tokens → shingles → set → 128-permutation signature: the engine's
//!   per-paragraph analysis (`analyze_paragraph`) and the signature;
//! - `set`: signature from the already-built shingle set (the MinHash loop alone), and
//!   `set-portable`, `set-avx2`, `set-avx512`: the same with each loop this CPU can run;
//! - `strings` (with `--shingles FILE`): signature from shingle *strings* built by another
//!   tokenizer (one JSON array of strings per line, same order as the paragraphs), each
//!   hashed with xxh3 first: exactly the work rensa and datasketch do from shingles.
//!
//! Times are process CPU time (`CLOCK_PROCESS_CPUTIME_ID`), not wall time: on a shared
//! machine a wall clock mostly measures the other processes. `--wall` uses wall time.
//! Every measurement is repeated and the median is printed, one JSON object a line:
//! `{"tool":"neardup","lang":"en","stage":"text","paragraphs":550,"per_sec":…}`.
//!
//! ```text
//! cargo run --release --example sigbench -- tests/data/synthetic-dev/sources.jsonl \
//!     [--shingles bench/out/shingles.jsonl] [--repeat 7] [--min-seconds 0.3] [--wall]
//! ```

use std::hint::black_box;
use std::time::Instant;

use neardup::Settings;
use neardup::minhash::{self, MinHasher};
use neardup::text::{analyze_paragraph, shingle_set, shingles, tokenize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

struct Args {
    input: String,
    shingles: Option<String>,
    repeat: usize,
    min_seconds: f64,
    wall: bool,
}

/// Seconds on the chosen clock: process CPU time, or wall time.
#[derive(Clone, Copy)]
struct Clock {
    wall: bool,
    start: Instant,
}

impl Clock {
    fn now(&self) -> f64 {
        if self.wall {
            return self.start.elapsed().as_secs_f64();
        }
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to write to; the clock id is a constant.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    }
}

fn parse_args() -> Args {
    let mut args = Args {
        input: String::new(),
        shingles: None,
        repeat: 7,
        min_seconds: 0.3,
        wall: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--shingles" => args.shingles = it.next(),
            "--wall" => args.wall = true,
            "--repeat" => args.repeat = it.next().and_then(|v| v.parse().ok()).unwrap_or(7),
            "--min-seconds" => {
                args.min_seconds = it.next().and_then(|v| v.parse().ok()).unwrap_or(0.3)
            }
            _ => args.input = a,
        }
    }
    if args.input.is_empty() {
        eprintln!(
            "usage: sigbench PARAGRAPHS.jsonl [--shingles FILE] [--repeat N] [--min-seconds S] [--wall]"
        );
        std::process::exit(2);
    }
    args
}

/// Runs `f` (one pass over all paragraphs) often enough to last `min_seconds`, `repeat`
/// times, and returns the median seconds per pass.
fn median_pass_seconds(clock: Clock, repeat: usize, min_seconds: f64, mut f: impl FnMut()) -> f64 {
    let start = clock.now();
    f();
    let once = (clock.now() - start).max(1e-6);
    let passes = ((min_seconds / once).ceil() as usize).max(1);
    let mut samples: Vec<f64> = (0..repeat.max(1))
        .map(|_| {
            let start = clock.now();
            for _ in 0..passes {
                f();
            }
            (clock.now() - start) / passes as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn report(clock: &str, lang: &str, stage: &str, paragraphs: usize, bytes: usize, seconds: f64) {
    println!(
        "{}",
        serde_json::json!({
            "tool": "neardup",
            "lang": lang,
            "stage": stage,
            "paragraphs": paragraphs,
            "seconds": seconds,
            "per_sec": paragraphs as f64 / seconds,
            "mb_per_sec": bytes as f64 / seconds / 1e6,
            "minhash": minhash::implementation(),
            "clock": clock,
        })
    );
}

fn main() -> std::io::Result<()> {
    let args = parse_args();
    let input = std::fs::read_to_string(&args.input)?;
    let mut paragraphs: Vec<(String, String)> = Vec::new();
    for line in input.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let lang = v["lang"].as_str().unwrap_or("?").to_string();
        let text = v["text"].as_str().unwrap_or("").to_string();
        paragraphs.push((lang, text));
    }
    let strings: Option<Vec<Vec<String>>> = match &args.shingles {
        Some(path) => Some(
            std::fs::read_to_string(path)?
                .lines()
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()?,
        ),
        None => None,
    };
    if let Some(s) = &strings {
        assert_eq!(s.len(), paragraphs.len(), "one shingle list per paragraph");
    }

    let clock = Clock {
        wall: args.wall,
        start: Instant::now(),
    };
    let clock_name = if args.wall { "wall" } else { "cpu" };
    let settings = Settings::default();
    let hasher = MinHasher::new(settings.num_perm, settings.seed);
    let (k, seed) = (settings.shingle, settings.seed);

    let mut langs: Vec<&str> = paragraphs.iter().map(|(l, _)| l.as_str()).collect();
    langs.sort_unstable();
    langs.dedup();
    for lang in langs {
        let idx: Vec<usize> = (0..paragraphs.len())
            .filter(|&i| paragraphs[i].0 == lang)
            .collect();
        let texts: Vec<&str> = idx.iter().map(|&i| paragraphs[i].1.as_str()).collect();
        let bytes: usize = texts.iter().map(|t| t.len()).sum();

        let secs = median_pass_seconds(clock, args.repeat, args.min_seconds, || {
            for t in &texts {
                let analyzed = analyze_paragraph(t, k, seed);
                black_box(hasher.signature(&analyzed.set));
            }
        });
        report(clock_name, lang, "text", texts.len(), bytes, secs);

        let sets: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| shingle_set(&shingles(&tokenize(t), k, seed)))
            .collect();
        let secs = median_pass_seconds(clock, args.repeat, args.min_seconds, || {
            for s in &sets {
                black_box(hasher.signature(s));
            }
        });
        report(clock_name, lang, "set", sets.len(), bytes, secs);
        for name in minhash::implementations() {
            let h = MinHasher::with_implementation(settings.num_perm, seed, name)
                .expect("listed as available");
            let secs = median_pass_seconds(clock, args.repeat, args.min_seconds, || {
                for s in &sets {
                    black_box(h.signature(s));
                }
            });
            report(
                clock_name,
                lang,
                &format!("set-{name}"),
                sets.len(),
                bytes,
                secs,
            );
        }

        if let Some(strings) = &strings {
            let lists: Vec<&Vec<String>> = idx.iter().map(|&i| &strings[i]).collect();
            let mut set: Vec<u32> = Vec::new();
            let secs = median_pass_seconds(clock, args.repeat, args.min_seconds, || {
                for list in &lists {
                    set.clear();
                    set.extend(
                        list.iter()
                            .map(|s| (xxh3_64_with_seed(s.as_bytes(), seed) >> 32) as u32),
                    );
                    black_box(hasher.signature(&set));
                }
            });
            report(clock_name, lang, "strings", lists.len(), bytes, secs);
        }
    }
    Ok(())
}
