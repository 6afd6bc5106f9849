//! Crash recovery through the real binary (issue 4): `neardup serve` is killed with
//! SIGKILL at random moments while several clients submit, replace and delete documents
//! (unary calls and `SubmitStream`), then restarted on the same data directory. After each
//! restart every acknowledged change must be there: each acknowledged document is returned
//! by GetDocument with its exact text and paragraphs, and Check finds it; each
//! acknowledged deletion stays deleted; the namespace holds exactly as many documents as
//! the ledger says. A change that was in flight when the server died may or may not have
//! happened, but never half: the document is absent or whole (old or new text).
//!
//! 20 cycles by default; `NEARDUP_CRASH_CYCLES=200` for a longer run, and
//! `NEARDUP_CRASH_SEED=<n>` to replay the kill timings of a run (printed on failure).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use neardup::grpc::pb::{
    self, near_dup_client::NearDupClient, submit_stream_response::Result as Item,
};
use tonic::Code;
use tonic::transport::Channel;

use crate::util::neardup;

const NAMESPACE: &str = "crash";

/// A `neardup serve` child on 127.0.0.1:0 whose log is kept for failure messages.
struct Served {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Served {
    fn start(data_dir: &Path) -> Served {
        let mut child = neardup()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--workers", "2"])
            .env("NEARDUP_LOG", "neardup::store=info,neardup::grpc=warn,warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!(
                    "serve exited before listening: {:?}\n{}",
                    child.wait(),
                    log.lock().unwrap().join("\n")
                );
            };
            if let Some(addr) = line.strip_prefix("neardup: listening on ") {
                break addr.to_string();
            }
            log.lock().unwrap().push(line);
        };
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                if log.len() > 200 {
                    log.remove(0);
                }
                log.push(line);
            }
        });
        Served {
            child,
            url: format!("http://{addr}"),
            log,
        }
    }

    async fn client(&self) -> NearDupClient<Channel> {
        for _ in 0..500 {
            if let Ok(channel) = Channel::from_shared(self.url.clone())
                .unwrap()
                .connect()
                .await
            {
                return NearDupClient::new(channel);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("server at {} did not come up", self.url);
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn sigkill(mut self) -> String {
        self.child.kill().unwrap(); // SIGKILL on Unix
        self.child.wait().unwrap();
        self.log()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// xorshift64*: reproducible kill timings and texts without a dependency.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A text of three paragraphs of made-up words, determined by `key`, sharing nothing
/// with the text of any other key.
fn text_for(key: &str) -> String {
    const SYLLABLES: [&str; 24] = [
        "ka", "ro", "mi", "tu", "sel", "van", "dor", "pli", "ex", "qua", "zen", "lo", "bri", "tas",
        "nu", "fe", "gol", "wir", "sta", "mo", "ich", "pan", "dre", "ul",
    ];
    let mut rng = Rng(xxhash_rust::xxh3::xxh3_64(key.as_bytes()) | 1);
    (0..3)
        .map(|_| {
            let words = 12 + rng.below(8);
            (0..words)
                .map(|_| {
                    (0..2 + rng.below(3))
                        .map(|_| SYLLABLES[rng.below(24) as usize])
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join(" ")
                + "."
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// What the clients were told, and what may or may not have happened.
#[derive(Default, Debug)]
struct Ledger {
    /// Acknowledged: must be there with exactly this text.
    live: BTreeMap<String, String>,
    /// Acknowledged deletions: must be absent.
    deleted: BTreeSet<String>,
    /// In flight when the server died: one of these states (`None` = absent).
    in_doubt: BTreeMap<String, BTreeSet<Option<String>>>,
    /// Acknowledgements received, for the summary.
    acks: usize,
}

impl Ledger {
    /// Before sending a put of `text` under `id`: afterwards it holds its current text
    /// (or nothing) or the new one.
    fn begin_put(&mut self, id: &str, text: &str) {
        let before = self.live.remove(id);
        self.deleted.remove(id);
        let states = self.in_doubt.entry(id.to_string()).or_default();
        if states.is_empty() {
            states.insert(before);
        }
        states.insert(Some(text.to_string()));
    }

    fn ack_put(&mut self, id: &str, text: &str) {
        self.in_doubt.remove(id);
        self.live.insert(id.to_string(), text.to_string());
        self.acks += 1;
    }

    fn begin_delete(&mut self, id: &str) {
        let before = self.live.remove(id);
        let states = self.in_doubt.entry(id.to_string()).or_default();
        states.insert(before);
        states.insert(None);
    }

    fn ack_delete(&mut self, id: &str) {
        self.in_doubt.remove(id);
        self.deleted.insert(id.to_string());
        self.acks += 1;
    }
}

fn submit(id: &str, text: &str) -> pb::SubmitRequest {
    pb::SubmitRequest {
        namespace: NAMESPACE.into(),
        document_id: id.into(),
        text: text.into(),
        metadata: [("key".to_string(), id.to_string())].into(),
        replace: true,
        ..Default::default()
    }
}

/// Unary Submit, with a replacement and a deletion of its own earlier documents now and
/// then, until the server goes away.
async fn unary_client(
    mut client: NearDupClient<Channel>,
    ledger: Arc<Mutex<Ledger>>,
    prefix: String,
) {
    let mut mine: Vec<String> = Vec::new();
    for i in 0u64.. {
        let (id, text, delete) = match i % 10 {
            4 if !mine.is_empty() => {
                let id = mine[(i as usize * 7) % mine.len()].clone();
                let text = text_for(&format!("{id}/v{i}"));
                (id, text, false)
            }
            7 if !mine.is_empty() => (
                mine.swap_remove((i as usize * 3) % mine.len()),
                String::new(),
                true,
            ),
            _ => {
                let id = format!("{prefix}-{i}");
                let text = text_for(&id);
                (id, text, false)
            }
        };
        if delete {
            ledger.lock().unwrap().begin_delete(&id);
            let request = pb::DeleteDocumentRequest {
                namespace: NAMESPACE.into(),
                document_id: id.clone(),
            };
            match client.delete_document(request).await {
                Ok(_) => ledger.lock().unwrap().ack_delete(&id),
                Err(_) => return,
            }
        } else {
            ledger.lock().unwrap().begin_put(&id, &text);
            match client.submit(submit(&id, &text)).await {
                Ok(_) => {
                    ledger.lock().unwrap().ack_put(&id, &text);
                    if !mine.contains(&id) {
                        mine.push(id);
                    }
                }
                Err(_) => return,
            }
        }
    }
}

/// SubmitStream of new documents, at most 8 unanswered at a time, until the server goes
/// away.
async fn stream_client(
    mut client: NearDupClient<Channel>,
    ledger: Arc<Mutex<Ledger>>,
    prefix: String,
) {
    let window = Arc::new(tokio::sync::Semaphore::new(8));
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::SubmitRequest>(8);
    let feeder_ledger = ledger.clone();
    let feeder_window = window.clone();
    let feeder = tokio::spawn(async move {
        for i in 0u64.. {
            let Ok(permit) = feeder_window.acquire().await else {
                return;
            };
            permit.forget();
            let id = format!("{prefix}-{i}");
            let text = text_for(&id);
            feeder_ledger.lock().unwrap().begin_put(&id, &text);
            if tx.send(submit(&id, &text)).await.is_err() {
                return;
            }
        }
    });
    if let Ok(response) = client
        .submit_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
    {
        let mut responses = response.into_inner();
        while let Ok(Some(item)) = responses.message().await {
            if let Some(Item::Submitted(_)) = item.result {
                let text = text_for(&item.document_id);
                ledger.lock().unwrap().ack_put(&item.document_id, &text);
            }
            window.add_permits(1);
        }
    }
    window.close();
    feeder.abort();
    let _ = feeder.await;
}

async fn get(client: &mut NearDupClient<Channel>, id: &str) -> Option<pb::Document> {
    let request = pb::GetDocumentRequest {
        namespace: NAMESPACE.into(),
        document_id: id.into(),
    };
    match client.get_document(request).await {
        Ok(r) => Some(r.into_inner().document.expect("a document")),
        Err(s) if s.code() == Code::NotFound => None,
        Err(s) => panic!("GetDocument {id}: {s}"),
    }
}

/// Checks the ledger against the restarted server, resolving what was in doubt, and
/// returns how many documents were checked one by one.
async fn verify(
    client: &mut NearDupClient<Channel>,
    ledger: &mut Ledger,
    recent: &BTreeSet<String>,
    everything: bool,
    rng: &mut Rng,
) -> usize {
    // In-flight changes: absent or whole, never anything else. What is there now was
    // recovered from disk, so it counts as acknowledged from here on.
    for (id, states) in std::mem::take(&mut ledger.in_doubt) {
        let found = get(client, &id).await.map(|d| d.text);
        assert!(
            states.contains(&found),
            "{id}: found {found:?}, expected one of {states:?}"
        );
        // Absent, it leaves the ledger: an acknowledged deletion is already in `deleted`,
        // and a put that never happened needs no further check.
        if let Some(text) = found {
            ledger.deleted.remove(&id);
            ledger.live.insert(id, text);
        }
    }
    let stats = client
        .stats(pb::StatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let documents = stats
        .namespaces
        .iter()
        .find(|n| n.namespace == NAMESPACE)
        .map_or(0, |n| n.documents);
    assert_eq!(
        documents as usize,
        ledger.live.len(),
        "documents after restart"
    );

    let mut checked = 0;
    let sample: Vec<&String> = ledger.live.keys().collect();
    let sampled: BTreeSet<&String> = (0..20.min(sample.len()))
        .map(|_| sample[rng.below(sample.len() as u64) as usize])
        .collect();
    for (id, text) in &ledger.live {
        if !(everything || recent.contains(id) || sampled.contains(id)) {
            continue;
        }
        let doc = get(client, id)
            .await
            .unwrap_or_else(|| panic!("acknowledged {id} is missing"));
        assert_eq!(&doc.text, text, "{id}");
        assert_eq!(doc.paragraphs.len(), 3, "{id}");
        assert_eq!(
            doc.metadata.get("key").map(String::as_str),
            Some(id.as_str())
        );
        checked += 1;
    }
    for id in ledger
        .deleted
        .iter()
        .filter(|id| everything || recent.contains(*id))
    {
        assert!(get(client, id).await.is_none(), "deleted {id} came back");
    }
    // The index came back too: Check finds a few documents as exact repeats of themselves.
    for id in sampled.iter().take(3) {
        let text = &ledger.live[*id];
        let report = client
            .check(pb::CheckRequest {
                namespace: NAMESPACE.into(),
                text: text.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .report
            .unwrap();
        assert_eq!(report.paragraphs.len(), 3);
        for p in &report.paragraphs {
            assert_eq!(p.status(), pb::ParagraphStatus::Recycled, "{id}");
            assert!(
                p.matches
                    .iter()
                    .any(|m| m.source.as_ref().is_some_and(|s| s.document_id == **id)),
                "{id}: {:?}",
                p.matches
            );
        }
    }
    checked
}

#[test]
fn acknowledged_writes_survive_sigkill_of_serve() {
    let cycles: usize = std::env::var("NEARDUP_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("NEARDUP_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test: {cycles} cycles, NEARDUP_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let started = Instant::now();
    let mut recent = BTreeSet::new();
    for cycle in 0..=cycles {
        let served = Served::start(&data);
        let last = cycle == cycles;
        runtime.block_on(async {
            let mut client = served.client().await;
            // No client runs now; the ledger is taken out so no lock is held across awaits.
            let mut taken = std::mem::take(&mut *ledger.lock().unwrap());
            verify(&mut client, &mut taken, &recent, last, &mut rng).await;
            *ledger.lock().unwrap() = taken;
        });
        if last {
            let log = served.log();
            assert!(log.contains("opened data directory"), "{log}");
            break;
        }
        // Kill at a random moment: sometimes while the server is still loading.
        let delay = match rng.below(5) {
            0 => rng.below(20),
            _ => 100 + rng.below(500),
        };
        let log = runtime.block_on(async {
            let mut tasks = Vec::new();
            for c in 0..4 {
                let client = served.client().await;
                let prefix = format!("k{cycle}-c{c}");
                tasks.push(if c < 2 {
                    tokio::spawn(unary_client(client, ledger.clone(), prefix))
                } else {
                    tokio::spawn(stream_client(client, ledger.clone(), prefix))
                });
            }
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let log = served.sigkill();
            for t in tasks {
                t.await.unwrap();
            }
            log
        });
        let l = ledger.lock().unwrap();
        assert!(
            !log.contains("panicked"),
            "cycle {cycle} (seed {seed}): server panicked:\n{log}"
        );
        recent = l
            .live
            .keys()
            .chain(l.deleted.iter())
            .filter(|id| id.starts_with(&format!("k{cycle}-")))
            .cloned()
            .collect();
        eprintln!(
            "cycle {cycle}: killed after {delay} ms; {} live, {} deleted, {} in doubt, {} acks",
            l.live.len(),
            l.deleted.len(),
            l.in_doubt.len(),
            l.acks
        );
    }
    let l = ledger.lock().unwrap();
    assert!(
        l.acks > cycles,
        "too few acknowledged writes to mean anything: {}",
        l.acks
    );
    eprintln!("crash test done in {:?}", started.elapsed());
}

/// The frames of a WAL segment: (offset, first payload byte). The layout is the store's
/// (`src/store/codec.rs`): a header, then `len: u32 | crc: u32 | seq: u64 | payload`.
fn frames(segment: &[u8]) -> Vec<(usize, u8)> {
    const HEADER_LEN: usize = 8 + 4 + 32 + 8 + 8 + 4;
    let mut out = Vec::new();
    let mut at = HEADER_LEN;
    while at + 16 < segment.len() {
        let len = u32::from_le_bytes(segment[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, segment[at + 16]));
        at += 16 + len;
    }
    out
}

/// A damaged deletion in the middle of the log, through the binary: `serve` refuses to
/// start, naming the segment, the offset, the deletion and the records after it, rather
/// than skip it and bring the deleted document back next to later ones (a state that
/// never existed). `serve --repair` starts from the state before the damage, which did
/// exist, and says what it dropped; the next start needs no repair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_deletion_refuses_to_start_until_repaired_and_never_resurrects() {
    use crate::util::child::Served as Child;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let args = ["--data-dir", dir];
    let served = Child::start(&args, "warn");
    let url = format!("http://{}", served.addr);
    let mut client = NearDupClient::new(Channel::from_shared(url).unwrap().connect_lazy());
    for id in ["a", "b"] {
        client.submit(submit(id, &text_for(id))).await.unwrap();
    }
    client
        .delete_document(pb::DeleteDocumentRequest {
            namespace: NAMESPACE.into(),
            document_id: "a".into(),
        })
        .await
        .unwrap();
    client.submit(submit("c", &text_for("c"))).await.unwrap();
    // A crash, so that the log is not folded into a snapshot at shutdown.
    drop(served);

    let mut segments: Vec<_> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    let segment = segments.pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    const OP_DELETE: u8 = 2;
    let (delete, _) = *frames(&bytes)
        .iter()
        .find(|(_, op)| *op == OP_DELETE)
        .expect("a delete frame");
    bytes[delete + 5] ^= 0x10; // its checksum
    std::fs::write(&segment, &bytes).unwrap();

    let refused = neardup()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", dir])
        .env("NEARDUP_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    for needle in [
        segment.display().to_string(),
        format!("offset {delete}"),
        "probably: #4 delete \"a\" in namespace \"crash\"".to_string(),
        "#5 put \"c\" in namespace \"crash\"".to_string(),
        "--repair".to_string(),
    ] {
        assert!(stderr.contains(&needle), "{needle:?} in {stderr}");
    }
    // Refusing changed nothing.
    assert_eq!(std::fs::read(&segment).unwrap(), bytes);

    let state = |served: &Child| {
        let url = format!("http://{}", served.addr);
        async move {
            let mut client = NearDupClient::new(Channel::from_shared(url).unwrap().connect_lazy());
            let mut present = Vec::new();
            for id in ["a", "b", "c"] {
                if let Some(doc) = get(&mut client, id).await {
                    assert_eq!(doc.text, text_for(id));
                    present.push(id);
                }
            }
            present
        }
    };
    let repaired = Child::start(&["--data-dir", dir, "--repair"], "warn");
    let log = repaired.log();
    assert!(log.contains("repaired the write-ahead log"), "{log}");
    assert!(log.contains("#5 put \"c\" in namespace \"crash\""), "{log}");
    // The state after sequence 3 (a and b stored), never {a, b, c}.
    assert_eq!(state(&repaired).await, ["a", "b"]);
    assert!(repaired.terminate().success());
    assert_eq!(
        std::fs::read_dir(data.path().join("damaged"))
            .unwrap()
            .count(),
        1
    );

    let again = Child::start(&args, "warn");
    assert!(!again.log().contains("repaired"), "{}", again.log());
    assert_eq!(state(&again).await, ["a", "b"]);
}
