//! Load generator for `neardup serve`.
//!
//! ```text
//! cargo run --release --example loadgen -- ingest --docs 20000 --paragraphs 10 --streams 4
//! cargo run --release --example loadgen -- mix --clients 32 --seconds 20 --check-share 0.9
//! ```
//!
//! Texts are synthetic and deterministic: paragraph `k` of document `d` is one sentence of
//! 30–60 words drawn from a 20,000-word made-up vocabulary (capital first letter, full stop
//! at the end, so page-break repair sees complete paragraphs), generated from `(d, k)`, so
//! `mix` can send near copies (one word changed) of paragraphs that `ingest` indexed
//! without keeping them.
//!
//! `ingest` loads documents `0..docs` over `streams` concurrent `SubmitStream`s and prints
//! documents and paragraphs per second. `mix` runs `clients` concurrent callers, each on
//! its own connection, for `seconds`; each call is a Check (share `check-share`) or a
//! Submit of a new document, where `dup-share` of the paragraphs are near copies of
//! indexed ones, and `page-breaks` of the paragraphs are cut mid-sentence, the rest
//! continuing in the next block (in lower case), as a column break leaves them. It prints
//! calls per second and p50/p90/p99/max latency per method.
//!
//! `--repair` and `--passages` set `QueryOptions.repair` and `passage_mode` in every Submit
//! and Check (`ingest` included); unset, the server's defaults apply (repair auto, passages
//! off):
//!
//! ```text
//! cargo run --release --example loadgen -- --repair auto --passages on mix --check-share 0 --page-breaks 0.1
//! ```

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use neardup::grpc::pb;
use neardup::grpc::pb::near_dup_client::NearDupClient;
use tonic::transport::Channel;

#[derive(Parser)]
struct Args {
    /// Server URL.
    #[arg(long, default_value = "http://127.0.0.1:50051", global = true)]
    server: String,
    /// Namespace to load and query.
    #[arg(long, default_value = "loadgen", global = true)]
    namespace: String,
    /// Paragraphs per document.
    #[arg(long, default_value_t = 10, global = true)]
    paragraphs: usize,
    /// Page-break repair asked for in Submit and Check (unset: the server's default).
    #[arg(long, value_enum, global = true)]
    repair: Option<RepairArg>,
    /// Passage mode asked for in Submit and Check (unset: the server's default).
    #[arg(long, value_enum, global = true)]
    passages: Option<Switch>,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Clone, Copy, ValueEnum)]
enum RepairArg {
    Off,
    Auto,
}

#[derive(Clone, Copy, ValueEnum)]
enum Switch {
    On,
    Off,
}

impl Args {
    /// The query options every request carries.
    fn options(&self) -> pb::QueryOptions {
        pb::QueryOptions {
            repair: match self.repair {
                None => pb::PageBreakRepair::Unspecified,
                Some(RepairArg::Off) => pb::PageBreakRepair::Off,
                Some(RepairArg::Auto) => pb::PageBreakRepair::Auto,
            } as i32,
            passage_mode: match self.passages {
                None => pb::PassageMode::Unspecified,
                Some(Switch::On) => pb::PassageMode::On,
                Some(Switch::Off) => pb::PassageMode::Off,
            } as i32,
            ..Default::default()
        }
    }

    /// What `options` asks for, for the summary line.
    fn describe(&self) -> String {
        let repair = match self.repair {
            None => "server default",
            Some(RepairArg::Off) => "off",
            Some(RepairArg::Auto) => "auto",
        };
        let passages = match self.passages {
            None => "server default",
            Some(Switch::On) => "on",
            Some(Switch::Off) => "off",
        };
        format!("repair {repair}, passages {passages}")
    }
}

#[derive(Subcommand)]
enum Mode {
    /// Bulk-load documents over SubmitStream.
    Ingest {
        /// Documents to load (ids 0..docs, offset by --first).
        #[arg(long, default_value_t = 10_000)]
        docs: u64,
        /// First document number.
        #[arg(long, default_value_t = 0)]
        first: u64,
        /// Concurrent streams.
        #[arg(long, default_value_t = 4)]
        streams: u64,
    },
    /// Concurrent Check/Submit callers.
    Mix {
        /// Concurrent clients.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// How long to run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Share of calls that are Check (the rest Submit new documents).
        #[arg(long, default_value_t = 0.9)]
        check_share: f64,
        /// Share of paragraphs that are near copies of indexed ones.
        #[arg(long, default_value_t = 0.3)]
        dup_share: f64,
        /// Documents indexed so far (ids 0..indexed), the pool near copies come from.
        #[arg(long, default_value_t = 10_000)]
        indexed: u64,
        /// Share of paragraphs cut mid-sentence and continued in the next block.
        #[arg(long, default_value_t = 0.0)]
        page_breaks: f64,
        /// Run number: runs against one server need distinct numbers, so that their new
        /// documents (ids and texts) differ from those of earlier runs.
        #[arg(long, default_value_t = 0)]
        run: u64,
    },
}

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn word(i: u64) -> String {
    let mut rng = Rng::new(i + 1_000_003);
    let len = 3 + rng.below(7);
    (0..len)
        .map(|_| (b'a' + rng.below(26) as u8) as char)
        .collect()
}

struct Vocabulary(Vec<String>);

impl Vocabulary {
    fn new() -> Vocabulary {
        Vocabulary((0..20_000).map(word).collect())
    }

    fn paragraph(&self, doc: u64, k: usize) -> Vec<&str> {
        let mut rng = Rng::new(doc.wrapping_mul(1_000_033) ^ (k as u64 + 7));
        let n = 30 + rng.below(31);
        (0..n)
            .map(|_| self.0[rng.below(self.0.len() as u64) as usize].as_str())
            .collect()
    }

    fn document(&self, doc: u64, paragraphs: usize) -> String {
        (0..paragraphs)
            .map(|k| sentence(&self.paragraph(doc, k)))
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// A new document (number `doc`) where `dup` of the paragraphs are near copies of
    /// paragraphs of documents `0..indexed`, and `breaks` of them are cut mid-sentence.
    fn mixed(&self, rng: &mut Rng, doc: u64, mix: &Mixed) -> String {
        let chance = |rng: &mut Rng, share: f64| (rng.below(10_000) as f64) < share * 10_000.0;
        let mut blocks = Vec::new();
        for k in 0..mix.paragraphs {
            let words = if mix.indexed > 0 && chance(rng, mix.dup) {
                let mut words = self.paragraph(
                    rng.below(mix.indexed),
                    rng.below(mix.paragraphs as u64) as usize,
                );
                let i = rng.below(words.len() as u64) as usize;
                words[i] = "changed";
                words
            } else {
                self.paragraph(doc, k)
            };
            if mix.breaks > 0.0 && chance(rng, mix.breaks) {
                // Cut in the middle third: the first piece has no full stop, the second
                // opens in lower case.
                let at = words.len() / 3 + rng.below(words.len() as u64 / 3) as usize;
                let mut head = sentence(&words[..at]);
                head.pop();
                blocks.push(head);
                blocks.push(format!("{}.", words[at..].join(" ")));
            } else {
                blocks.push(sentence(&words));
            }
        }
        blocks.join("\n\n")
    }
}

/// What `mix` sends in its Submits and Checks.
struct Mixed {
    paragraphs: usize,
    dup: f64,
    indexed: u64,
    breaks: f64,
    run: u64,
}

/// `words` as a sentence: the first letter upper case, a full stop at the end.
fn sentence(words: &[&str]) -> String {
    let mut s = words.join(" ");
    if let Some(first) = s.get(..1) {
        let upper = first.to_ascii_uppercase();
        s.replace_range(..1, &upper);
    }
    s.push('.');
    s
}

async fn connect(url: &str) -> NearDupClient<Channel> {
    let channel = Channel::from_shared(url.to_string())
        .expect("bad --server URL")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    NearDupClient::new(channel)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn print_latencies(name: &str, mut us: Vec<u64>, elapsed: Duration, paragraphs: usize) {
    us.sort_unstable();
    let calls = us.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{name:<7} {:>8} calls {:>9.1} calls/s {:>10.0} paragraphs/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms",
        us.len(),
        calls,
        calls * paragraphs as f64,
        percentile(&us, 0.50),
        percentile(&us, 0.90),
        percentile(&us, 0.99),
        percentile(&us, 1.0),
    );
}

async fn ingest(args: &Args, docs: u64, first: u64, streams: u64) {
    let vocabulary = std::sync::Arc::new(Vocabulary::new());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..streams {
        let mut client = connect(&args.server).await;
        let vocabulary = vocabulary.clone();
        let (namespace, paragraphs) = (args.namespace.clone(), args.paragraphs);
        let options = args.options();
        tasks.push(tokio::spawn(async move {
            // Documents s, s+streams, s+2·streams… generated lazily as the stream pulls.
            let requests = tokio_stream::iter((first + s..first + docs).step_by(streams as usize))
                .map(move |d| pb::SubmitRequest {
                    namespace: namespace.clone(),
                    document_id: format!("doc-{d}"),
                    text: vocabulary.document(d, paragraphs),
                    options: Some(pb::QueryOptions {
                        include_spans: Some(false),
                        ..options
                    }),
                    ..Default::default()
                });
            let mut responses = client.submit_stream(requests).await.unwrap().into_inner();
            let (mut ok, mut failed) = (0u64, 0u64);
            while let Some(r) = responses.message().await.unwrap() {
                match r.result {
                    Some(pb::submit_stream_response::Result::Submitted(_)) => ok += 1,
                    _ => failed += 1,
                }
            }
            (ok, failed)
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        let (o, f) = t.await.unwrap();
        ok += o;
        failed += f;
    }
    let elapsed = started.elapsed();
    let secs = elapsed.as_secs_f64();
    println!(
        "ingest: {ok} documents ({failed} failed), {} paragraphs in {secs:.2} s over {streams} streams: {:.0} documents/s, {:.0} paragraphs/s",
        ok * args.paragraphs as u64,
        ok as f64 / secs,
        (ok * args.paragraphs as u64) as f64 / secs,
    );
}

use tokio_stream::StreamExt;

async fn mix(args: &Args, clients: usize, seconds: u64, check_share: f64, mix: Mixed) {
    let mix = std::sync::Arc::new(mix);
    let vocabulary = std::sync::Arc::new(Vocabulary::new());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut client = connect(&args.server).await;
        let vocabulary = vocabulary.clone();
        let (namespace, mix, options) = (args.namespace.clone(), mix.clone(), args.options());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(mix.run * 1_000_003 + c as u64 + 99);
            let (mut checks, mut submits, mut errors) = (Vec::new(), Vec::new(), 0u64);
            let mut n = 0u64;
            while Instant::now() < deadline {
                // New documents get numbers far above the indexed ones, distinct per client
                // and run.
                let doc = 1_000_000_000 + mix.run * 10_000_000_000 + (c as u64) * 100_000_000 + n;
                n += 1;
                let text = vocabulary.mixed(&mut rng, doc, &mix);
                let is_check = (rng.below(10_000) as f64) < check_share * 10_000.0;
                let t = Instant::now();
                let ok = if is_check {
                    client
                        .check(pb::CheckRequest {
                            namespace: namespace.clone(),
                            text,
                            options: Some(options),
                            ..Default::default()
                        })
                        .await
                        .is_ok()
                } else {
                    client
                        .submit(pb::SubmitRequest {
                            namespace: namespace.clone(),
                            document_id: format!("doc-{doc}"),
                            text,
                            options: Some(options),
                            ..Default::default()
                        })
                        .await
                        .is_ok()
                };
                let us = t.elapsed().as_micros() as u64;
                match (ok, is_check) {
                    (false, _) => errors += 1,
                    (true, true) => checks.push(us),
                    (true, false) => submits.push(us),
                }
            }
            (checks, submits, errors)
        }));
    }
    let (mut checks, mut submits, mut errors) = (Vec::new(), Vec::new(), 0);
    for t in tasks {
        let (c, s, e) = t.await.unwrap();
        checks.extend(c);
        submits.extend(s);
        errors += e;
    }
    let elapsed = started.elapsed();
    println!(
        "mix: {clients} clients, {:.1} s, {} paragraphs per document, {:.0}% Check, {:.0}% near copies, {:.0}% cut at page breaks, {}, {errors} errors",
        elapsed.as_secs_f64(),
        args.paragraphs,
        check_share * 100.0,
        mix.dup * 100.0,
        mix.breaks * 100.0,
        args.describe(),
    );
    print_latencies("Check", checks, elapsed, args.paragraphs);
    print_latencies("Submit", submits, elapsed, args.paragraphs);
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match args.mode {
        Mode::Ingest {
            docs,
            first,
            streams,
        } => ingest(&args, docs, first, streams.max(1)).await,
        Mode::Mix {
            clients,
            seconds,
            check_share,
            dup_share,
            indexed,
            page_breaks,
            run,
        } => {
            let m = Mixed {
                paragraphs: args.paragraphs,
                dup: dup_share,
                indexed,
                breaks: page_breaks,
                run,
            };
            mix(&args, clients.max(1), seconds, check_share, m).await
        }
    }
}
