//! A stored record whose checksum holds but whose text does not decode (a zstd text that
//! does not decompress, a raw text that is not UTF-8; found by the `wal_record` and
//! `snapshot` fuzz targets). Open reads no texts (restart time), so the server starts and
//! serves the other documents; GetDocument of the damaged one is DATA_LOSS naming the
//! namespace, the document, the file and the offset of its record; Check still works;
//! Then the same from the snapshot the shutdown writes (it copies the damaged records as
//! they are), and deleting and submitting the document again recovers it.

use std::path::Path;
use std::sync::Arc;

use neardup::analysis::Analyzer;
use neardup::engine::Settings;
use neardup::grpc::pb::{self, near_dup_client::NearDupClient};
use neardup::store::{Store, WalOptions, WalStore};
use neardup::text::Split;
use tonic::Code;
use tonic::transport::Channel;

use crate::util::server::TestServer;

const NS: &str = "archive";
/// The header of a WAL segment or snapshot (`src/store/codec.rs`): magic, version,
/// fingerprint, sequence, count, CRC.
const HEADER_LEN: usize = 8 + 4 + 32 + 8 + 8 + 4;
const FRAME_HEADER: usize = 16;
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

fn long_text() -> String {
    let p = "The river authority measured the flood line at the old mill again this spring, \
             and the council asked for a new survey of the embankment before the autumn rains.";
    format!("{p}\n\n{p} It was the third survey in ten years.\n\n{p} Nobody objected.")
}

/// Short enough (under 128 bytes) to be stored uncompressed.
const SHORT: &str = "A short note on the harbour dues, kept as it was typed in.";

fn kept_text() -> String {
    "Residents of the valley complained again about the noise from the highway that cuts \
     through the centre of the town, and the mayor promised a wall."
        .to_string()
}

/// The frame of `file` (a segment or a snapshot) holding the put of document `name`:
/// its offset and the range of its payload.
fn frame_of(file: &[u8], name: &str) -> (usize, std::ops::Range<usize>) {
    // The payload's head: op, then the namespace and the name, each length-prefixed.
    let mut key = (NS.len() as u32).to_le_bytes().to_vec();
    key.extend_from_slice(NS.as_bytes());
    key.extend_from_slice(&(name.len() as u32).to_le_bytes());
    key.extend_from_slice(name.as_bytes());
    let mut at = HEADER_LEN;
    while at + FRAME_HEADER <= file.len() {
        let len = u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
        let payload = at + FRAME_HEADER..at + FRAME_HEADER + len;
        if file[payload.clone()].get(1..1 + key.len()) == Some(&key[..]) {
            return (at, payload);
        }
        at = payload.end;
    }
    panic!("no record of {name:?}");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Damages the stored texts of `zstd-lost` (its compressed text no longer starts with
/// zstd's magic number) and `utf8-lost` (its first byte becomes 0xff, not UTF-8) in a
/// segment, and fixes their checksums so that they still pass them. Returns the offsets
/// of the two frames.
fn damage_texts(file: &mut [u8]) -> [usize; 2] {
    let (zstd_at, payload) = frame_of(file, "zstd-lost");
    let magic = find(&file[payload.clone()], &ZSTD_MAGIC).expect("a zstd text");
    file[payload.start + magic] = 0xff;
    fix_checksum(file, zstd_at, payload.end);
    let (raw_at, payload) = frame_of(file, "utf8-lost");
    assert!(
        file[payload.clone()].ends_with(SHORT.as_bytes()),
        "a raw text"
    );
    file[payload.end - SHORT.len()] = 0xff;
    fix_checksum(file, raw_at, payload.end);
    [zstd_at, raw_at]
}

/// The frame's CRC32 covers its sequence and payload.
fn fix_checksum(file: &mut [u8], at: usize, end: usize) {
    let crc = crc32fast::hash(&file[at + 8..end]);
    file[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
}

fn wal(dir: &Path) -> Arc<dyn Store> {
    let opts = WalOptions {
        compact_min_bytes: u64::MAX,
        ..WalOptions::new(&Settings::default())
    };
    Arc::new(WalStore::open(dir, opts).unwrap())
}

async fn get(client: &mut NearDupClient<Channel>, id: &str) -> Result<pb::Document, tonic::Status> {
    let req = pb::GetDocumentRequest {
        namespace: NS.into(),
        document_id: id.into(),
    };
    Ok(client
        .get_document(req)
        .await?
        .into_inner()
        .document
        .unwrap())
}

fn assert_lost(err: tonic::Status, id: &str, file: &str, offset: usize) {
    assert_eq!(err.code(), Code::DataLoss, "{err:?}");
    for needle in [
        format!("document {id:?}"),
        format!("namespace {NS:?}"),
        format!("in {file} at offset {offset} "),
        "passes its checksum".to_string(),
        "submit it again".to_string(),
    ] {
        assert!(err.message().contains(&needle), "{needle:?} in {err:?}");
    }
}

#[tokio::test]
async fn a_text_that_passes_its_checksum_but_does_not_decode_is_data_loss() {
    let data = tempfile::tempdir().unwrap();
    let analyzer = Analyzer::new(Settings::default().shape()).unwrap();
    let record = |name: &str, text: &str| {
        let doc = analyzer.document(text, Split::Auto);
        neardup::service::record(NS, name, &doc, Split::Auto, &Default::default(), 7)
    };
    let store = wal(data.path());
    store.put(&record("zstd-lost", &long_text())).unwrap();
    store.put(&record("utf8-lost", SHORT)).unwrap();
    store.put(&record("kept", &kept_text())).unwrap();
    drop(store);
    let segment = data.path().join(format!("wal-{:020}.log", 1));
    let mut bytes = std::fs::read(&segment).unwrap();
    let [zstd_at, raw_at] = damage_texts(&mut bytes);
    std::fs::write(&segment, &bytes).unwrap();
    write_regression("wal_record", &{
        let mut input = vec![0u8]; // flags: checksums as they are, no repair
        input.extend_from_slice(&bytes[HEADER_LEN..]);
        input
    });

    let server = TestServer::with(Default::default(), wal(data.path())).await;
    let mut client = server.client().await;
    let name = "wal-00000000000000000001.log";
    let err = get(&mut client, "zstd-lost").await.unwrap_err();
    assert_lost(err, "zstd-lost", name, zstd_at);
    let err = get(&mut client, "utf8-lost").await.unwrap_err();
    assert_lost(err, "utf8-lost", name, raw_at);
    assert_eq!(get(&mut client, "kept").await.unwrap().text, kept_text());

    // Check still works, the damaged document included: its index records are whole,
    // only its text (for spans) is gone.
    let first = long_text().split("\n\n").next().unwrap().to_string();
    let checked = client
        .check(pb::CheckRequest {
            namespace: NS.into(),
            text: format!("{}\n\n{first}", kept_text()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    let sources: Vec<&str> = checked
        .paragraphs
        .iter()
        .map(|p| p.matches[0].source.as_ref().unwrap().document_id.as_str())
        .collect();
    assert_eq!(sources, ["kept", "zstd-lost"]);
    // Stopping writes a snapshot, the damaged records copied as they are.
    server.stop().await;

    let snapshot = std::fs::read(data.path().join("snapshot")).unwrap();
    let count = u64::from_le_bytes(
        snapshot[HEADER_LEN - 12..HEADER_LEN - 4]
            .try_into()
            .unwrap(),
    );
    write_regression("snapshot", &{
        let mut input = vec![0u8, count as u8];
        input.extend_from_slice(&snapshot[HEADER_LEN..]);
        input
    });
    let server = TestServer::with(Default::default(), wal(data.path())).await;
    let mut client = server.client().await;
    let err = get(&mut client, "zstd-lost").await.unwrap_err();
    assert_lost(
        err,
        "zstd-lost",
        "snapshot",
        frame_of(&snapshot, "zstd-lost").0,
    );
    let err = get(&mut client, "utf8-lost").await.unwrap_err();
    assert_lost(
        err,
        "utf8-lost",
        "snapshot",
        frame_of(&snapshot, "utf8-lost").0,
    );
    assert_eq!(get(&mut client, "kept").await.unwrap().text, kept_text());

    // Deleting it and submitting it again brings it back.
    client
        .delete_document(pb::DeleteDocumentRequest {
            namespace: NS.into(),
            document_id: "zstd-lost".into(),
        })
        .await
        .unwrap();
    client
        .submit(pb::SubmitRequest {
            namespace: NS.into(),
            document_id: "zstd-lost".into(),
            text: long_text(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        get(&mut client, "zstd-lost").await.unwrap().text,
        long_text()
    );
    server.stop().await;
}

/// With `NEARDUP_WRITE_SEEDS=<fuzz/corpus>` (as for the store seeds, see FUZZING.md),
/// writes the damaged files as regression inputs of the fuzz targets.
fn write_regression(target: &str, input: &[u8]) {
    if let Ok(dir) = std::env::var("NEARDUP_WRITE_SEEDS") {
        let dir = Path::new(&dir).join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("regression-text-does-not-decode"), input).unwrap();
    }
}
