//! The checks of the fuzz targets (`fuzz/`), one function per target, each taking the
//! fuzzer's bytes and panicking if an invariant breaks. They live in the library so that
//! the same checks run on the committed corpus in a stable `cargo test`
//! (`tests/fuzz_corpus.rs`) as under libFuzzer. Not a public API: hidden from the docs.

use std::sync::atomic::{AtomicU64, Ordering};

use prost::Message;

use crate::engine::Settings;
use crate::grpc::convert::{query_options, report_from_pb};
use crate::grpc::pb;
use crate::store::codec::{self, SNAPSHOT_MAGIC, WAL_MAGIC};
use crate::store::{
    Fingerprint, FsyncPolicy, Store, StoreError, StoredRecord, WalOptions, WalStore, snapshot,
};
use crate::text::normalize::{normalize, tokenize, tokenize_graphemes};
use crate::text::paragraph::{Split, split_paragraphs_with};

/// Proto → domain: a `SubmitRequest`'s options and a `Report` (what `scan --server`
/// converts back) from arbitrary bytes. Never panics; accepted options are valid, and
/// every accepted report's offsets are ordered ranges.
pub fn convert(data: &[u8]) {
    if let Ok(req) = pb::SubmitRequest::decode(data) {
        let defaults = Settings::default().query_options();
        if let Ok(opts) = query_options(req.options, defaults) {
            assert!(opts.validate().is_ok(), "accepted invalid options {opts:?}");
        }
    }
    if let Ok(report) = pb::Report::decode(data)
        && let Ok(report) = report_from_pb(report, "fuzzed")
    {
        for p in &report.paragraphs {
            assert!(p.start <= p.end, "paragraph range {}..{}", p.start, p.end);
            for m in &p.matches {
                assert!(m.source.start <= m.source.end);
                for s in &m.spans {
                    assert!(s.start <= s.end && s.source_start <= s.source_end, "{s:?}");
                }
            }
        }
    }
}

/// The normalizer and both tokenizers on arbitrary text: no panic, the fast tokenizer
/// gives exactly the reference tokenizer's tokens, and every token is a range of code
/// points of the text, after the previous one (or the same range), whose normalized
/// form holds a letter or digit (the text
/// itself may not: NFKC turns the Kangxi radical `⼕` into the ideograph `匚`).
pub fn tokenize_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let chars: Vec<char> = text.chars().collect();
    let norm = normalize(text);
    assert_eq!(norm.text.chars().count(), norm.origin.len());
    for &(start, end) in &norm.origin {
        assert!(start < end && end as usize <= chars.len(), "{start}..{end}");
    }
    let tokens = tokenize(text);
    assert_eq!(
        tokens,
        tokenize_graphemes(text),
        "fast path differs on {text:?}"
    );
    // Tokens are in order and do not overlap, except that one character NFKC expands into
    // several of an unspaced script (`㌿` → `ホン`) gives several tokens of its range.
    let mut last = (0, 0);
    for t in &tokens {
        assert!(t.start < t.end && t.end as usize <= chars.len(), "{t:?}");
        assert!(
            t.start >= last.1 || (t.start, t.end) == last,
            "{t:?} overlaps {last:?}"
        );
        last = (t.start, t.end);
        let piece: String = chars[t.start as usize..t.end as usize].iter().collect();
        let normalized = normalize(&piece).text;
        assert!(normalized.chars().any(char::is_alphanumeric), "{piece:?}");
    }
}

/// Paragraph splitting, every way: paragraphs are in order, do not overlap, have content,
/// and their byte and code-point offsets agree and slice the text.
pub fn paragraphs(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for split in [Split::Auto, Split::BlankLines, Split::Lines, Split::None] {
        let mut last = (0, 0, 0);
        for (i, p) in split_paragraphs_with(text, split).iter().enumerate() {
            assert_eq!(p.index, i);
            let content = text.get(p.byte_start..p.byte_end).unwrap_or_else(|| {
                panic!(
                    "{split:?}: bytes {}..{} do not slice",
                    p.byte_start, p.byte_end
                )
            });
            assert!(
                !content.trim().is_empty(),
                "{split:?}: empty paragraph {p:?}"
            );
            assert_eq!(text[..p.byte_start].chars().count(), p.start, "{split:?}");
            assert_eq!(content.chars().count(), p.end - p.start, "{split:?}");
            assert_eq!(p.text(text), content);
            assert!(
                p.byte_start >= last.0 && p.line > last.2 || i == 0,
                "{split:?}: out of order"
            );
            assert!(
                p.byte_start >= last.1,
                "{split:?}: overlaps the previous paragraph"
            );
            assert_eq!(
                text[..p.byte_start].matches('\n').count() + 1,
                p.line,
                "{split:?}"
            );
            last = (p.byte_start, p.byte_end, p.line);
        }
    }
}

/// The batch's JSON Lines record parser against `serde_json`: never panics, and when
/// `serde_json` reads the line as one object whose `text` is a string, the parser accepts
/// it with that text and the `id` as JSON; when `serde_json` reads an object without a
/// string `text`, or not an object, it refuses it. (It may accept a line `serde_json`
/// refuses: the values of other fields are skipped unchecked, so a number out of `f64`'s
/// range there is no error.)
pub fn jsonl_record(data: &[u8]) {
    let parsed = crate::batch::parse_default_record(data);
    let Ok(reference) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let expected = reference.as_object().and_then(|object| {
        let text = object.get("text")?.as_str()?;
        Some((object.get("id").map(|id| id.to_string()), text.to_string()))
    });
    match (parsed, expected) {
        (Ok(got), Some(want)) => assert_eq!(got, want),
        (Err(_), None) => {}
        (got, want) => panic!("parse_record gave {got:?}, serde_json {want:?}"),
    }
}

/// Store decoding, WAL side. The bytes are decoded as one record payload (key, catalog
/// entry, analysis, text: never a panic, and what decodes encodes back to the same), then
/// used as the body of a WAL segment behind a valid header, which [`WalStore::open`]
/// replays. The first byte is flags: bit 0 fixes each frame's checksum first (so the
/// fuzzer reaches replay with frames that pass their CRC), bit 1 opens with
/// [`WalOptions::repair`]. Opening must not panic; a store that opens loads every document with its text (or reports the text lost, by name: [`StoreError::DataLoss`]); a store refused for damage in the middle is refused at an offset inside the file, opens with a repair, and then opens without one.
pub fn wal_record(data: &[u8]) {
    payload(data);
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let mut file = header(WAL_MAGIC, 1, 0).to_vec();
    file.extend_from_slice(&fixed(body, flags & 1 != 0));
    open_fuzzed(&format!("wal-{:020}.log", 1), &file, flags & 2 != 0);
}

/// Store decoding, snapshot side: the bytes after two (flags as in [`wal_record`], and
/// the record count the header declares) are the body of a snapshot behind a valid
/// header, which [`WalStore::open`] reads, with the checks of [`wal_record`].
pub fn snapshot(data: &[u8]) {
    let [flags, count, body @ ..] = data else {
        return;
    };
    let mut file = header(SNAPSHOT_MAGIC, u64::from(*count), u64::from(*count)).to_vec();
    file.extend_from_slice(&fixed(body, flags & 1 != 0));
    open_fuzzed(snapshot::SNAPSHOT, &file, flags & 2 != 0);
}

/// One record payload: decoding never panics, a put that decodes whole encodes back to
/// the same document and text, and the key agrees with the document.
fn payload(data: &[u8]) {
    let key = codec::decode_key(data);
    let document = codec::decode_document(data);
    let text = codec::decode_text(data);
    if let (Some(key), Some(document)) = (&key, &document) {
        assert_eq!(key.op, codec::Op::Put);
        assert_eq!(
            (&key.namespace, &key.name),
            (&document.namespace, &document.name)
        );
    }
    if let (Some(document), Some(text)) = (document, text)
        && document.records.is_some()
    {
        let record = StoredRecord { document, text };
        let encoded = codec::encode_put(&record);
        assert_eq!(
            codec::decode_document(&encoded).as_ref(),
            Some(&record.document)
        );
        assert_eq!(codec::decode_text(&encoded).as_ref(), Some(&record.text));
    }
}

fn header(magic: [u8; 8], seq: u64, count: u64) -> [u8; codec::HEADER_LEN] {
    codec::Header {
        magic,
        version: codec::FORMAT_VERSION,
        fingerprint: Fingerprint::from_settings(&Settings::default()),
        seq,
        count,
    }
    .encode()
}

/// `body` with the checksum of each whole frame recomputed, if `fix`.
fn fixed(body: &[u8], fix: bool) -> Vec<u8> {
    let mut out = body.to_vec();
    let mut at = 0usize;
    while fix && at + codec::FRAME_HEADER <= out.len() {
        let len = u32::from_le_bytes([out[at], out[at + 1], out[at + 2], out[at + 3]]) as usize;
        let Some(end) = (at + codec::FRAME_HEADER).checked_add(len) else {
            break;
        };
        if end > out.len() {
            break;
        }
        let crc = crc32fast::hash(&out[at + 8..end]);
        out[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
    out
}

/// Writes `file` as `name` in an empty data directory and opens a [`WalStore`] on it.
/// Never a panic; it opens, or refuses with an error. Opened, every document it loads has
/// its text, or its text is reported lost by name. Refused for damage in the middle of the log, the damage lies inside the
/// file, a repair opens it, and the store then opens without repair.
fn open_fuzzed(name: &str, file: &[u8], repair: bool) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "neardup-fuzz-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    std::fs::write(dir.join(name), file).expect("a temporary file");
    let options = |repair| WalOptions {
        fsync: FsyncPolicy::Never,
        compact_min_bytes: u64::MAX,
        repair,
        ..WalOptions::new(&Settings::default())
    };
    let check = |store: WalStore| {
        // A put whose checksum holds but whose body does not decode passes open (which
        // reads keys only) and is refused here, by name (found by this target).
        let documents = match store.load() {
            Ok(documents) => documents,
            Err(StoreError::Corrupt(message)) => {
                assert!(message.contains("does not decode"), "{message}");
                return;
            }
            Err(e) => panic!("load failed: {e}"),
        };
        for d in &documents {
            match store.text(&d.namespace, &d.name) {
                Ok(Some(_)) => {}
                // A text whose record passes its checksum but that does not decode passes
                // open (which decodes no texts, for restart time) and is found here: it
                // must be data loss naming the document (found by this target), never
                // a missing text or an error a retry could clear.
                Err(StoreError::DataLoss(message)) => assert!(
                    message.contains(&format!("document {:?}", d.name))
                        && message.contains(&format!("namespace {:?}", d.namespace)),
                    "{message}"
                ),
                text => panic!("{:?}/{:?}: no text ({text:?})", d.namespace, d.name),
            }
        }
        store
            .namespaces()
            .expect("a store that opened lists its namespaces");
    };
    match WalStore::open(&dir, options(repair)) {
        Ok(store) => check(store),
        Err(StoreError::Damaged(damage)) => {
            assert!(!repair, "a repair refused: {damage}");
            assert!(damage.offset <= file.len() as u64, "{damage}");
            let repaired = WalStore::open(&dir, options(true))
                .unwrap_or_else(|e| panic!("the repair of {damage} failed: {e}"));
            drop(repaired);
            let store = WalStore::open(&dir, options(false))
                .unwrap_or_else(|e| panic!("after a repair, open failed: {e}"));
            check(store);
        }
        Err(_) => {}
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Seeds of the store targets, made by the current encoder: a log of puts (short and
/// compressed texts), a replacement, deletions and namespace changes, and the snapshot
/// of the same store; each as the bytes its target takes. `tests/fuzz_corpus.rs` runs
/// them (so they follow the format) and the committed corpus starts from them.
pub fn store_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let settings = Settings::default();
    let analyzer = crate::analysis::Analyzer::new(settings.shape()).expect("default settings");
    let record = |ns: &str, name: &str, text: String| {
        let doc = analyzer.document(text, Split::Auto);
        crate::service::record(ns, name, &doc, Split::Auto, &Default::default(), 7)
    };
    let short = "A short paragraph of a few words, long enough to be indexed by the engine.";
    let long = format!("{short}\n\n").repeat(20) + "中文段落也在这里，以便测试字符切分。";
    let mut seeds = Vec::new();
    for (i, r) in [
        record("ns", "a", short.to_string()),
        record("ns", "b", long.clone()),
    ]
    .iter()
    .enumerate()
    {
        seeds.push((
            "wal_record",
            format!("seed-put-{i}"),
            codec::encode_put(r).to_vec(),
        ));
    }
    seeds.push((
        "wal_record",
        "seed-delete".into(),
        codec::encode_delete("ns", "a"),
    ));
    seeds.push((
        "wal_record",
        "seed-create-namespace".into(),
        codec::encode_namespace("x", false),
    ));

    let dir = std::env::temp_dir().join(format!("neardup-fuzz-seeds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = WalOptions {
        compact_min_bytes: u64::MAX,
        ..WalOptions::new(&settings)
    };
    let store = WalStore::open(&dir, options.clone()).expect("a new store");
    let store_ops = |store: &WalStore| -> Result<(), StoreError> {
        store.create_namespace("empty")?;
        store.put(&record("ns", "a", short.to_string()))?;
        store.put(&record("ns", "b", long.clone()))?;
        store.put(&record("gone", "g", short.to_string()))?;
        store.put(&record("ns", "a", format!("{short} Replaced.")))?;
        store.delete("ns", "b")?;
        store.delete_namespace("gone")?;
        Ok(())
    };
    store_ops(&store).expect("store writes");
    drop(store);
    let segment = std::fs::read(dir.join(format!("wal-{:020}.log", 1))).expect("the segment");
    for flags in [0u8, 1, 2] {
        let mut seed = vec![flags];
        seed.extend_from_slice(&segment[codec::HEADER_LEN..]);
        seeds.push(("wal_record", format!("seed-log-flags-{flags}"), seed));
    }
    let store = WalStore::open(&dir, options).expect("the store again");
    store.compact().expect("a snapshot");
    drop(store);
    let snap = std::fs::read(dir.join(snapshot::SNAPSHOT)).expect("the snapshot");
    let count = codec::Header::decode(&snap, SNAPSHOT_MAGIC)
        .expect("its header")
        .count as u8;
    for flags in [0u8, 1] {
        let mut seed = vec![flags, count];
        seed.extend_from_slice(&snap[codec::HEADER_LEN..]);
        seeds.push(("snapshot", format!("seed-flags-{flags}"), seed));
    }
    let _ = std::fs::remove_dir_all(&dir);
    seeds
}
