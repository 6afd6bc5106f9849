//! On-disk encoding shared by the WAL segments and the snapshot: file headers, record
//! frames and record payloads. Pure functions over byte slices, no I/O.
//!
//! Invariants:
//! - A frame is `len: u32 | crc: u32 | seq: u64 | payload[len]`, little-endian; the CRC32
//!   covers `seq` and the payload, so a flipped bit anywhere in a frame but its length is
//!   caught, and a damaged length shows up as a CRC mismatch or a frame past the end.
//! - A header is a fixed-size block ending in its own CRC32; it carries the format
//!   version and the [`Fingerprint`] of the engine settings the data was written with.
//! - Decoding never panics and never allocates more than the input it was given (plus
//!   a text's declared size, which is bounded by [`MAX_TEXT_BYTES`]).
//! - Texts longer than [`COMPRESS_MIN`] bytes are zstd-compressed when that saves space.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Fingerprint, StoredDocument, StoredRecord};
use crate::analysis::ParagraphRecord;
use crate::index::{SKETCH_LEN, Sketch};
use crate::text::Split;

/// Version of everything this module writes. Bump it on any change of layout.
///
/// - 1: puts carry the text only (the index was rebuilt by analyzing it again).
/// - 2: puts also carry the document's analysis (paragraph records) and split mode, so a
///   restart loads the index instead of recomputing it.
/// - 3: namespaces are logged: created (also kept in snapshots, so an empty namespace
///   survives a restart) and deleted with all their documents in one record. A format-2
///   build would skip these records as unreadable, and bring the documents of a deleted
///   namespace back, so it must refuse such files rather than read them.
///
/// Versions 1 and 2 are still read.
pub const FORMAT_VERSION: u32 = 3;
/// The oldest version this build reads.
pub const OLDEST_VERSION: u32 = 1;
/// Most paragraph records a put may declare (decoding refuses more).
pub const MAX_RECORDS: usize = 1 << 20;
/// Most values (shingles, band keys) one paragraph record may declare.
pub const MAX_VALUES: usize = 1 << 24;
/// Bytes of a frame before its payload.
pub const FRAME_HEADER: usize = 16;
/// Largest payload a frame may carry.
pub const MAX_PAYLOAD: usize = 1 << 30;
/// Largest text a record may declare (decoding refuses more rather than allocate it).
pub const MAX_TEXT_BYTES: usize = 1 << 30;
/// Texts shorter than this are stored as they are.
pub const COMPRESS_MIN: usize = 128;
/// zstd level: fast, since compression sits on the acknowledgement path.
const ZSTD_LEVEL: i32 = 1;

thread_local! {
    // zstd contexts are costly to set up (a level-1 compressor allocates its window), so
    // each thread keeps one of each. `None` if zstd could not allocate one.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Compressor::new(ZSTD_LEVEL).ok());
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Decompressor::new().ok());
}

/// A put of format 1: the text only.
const OP_PUT_TEXT: u8 = 1;
const OP_DELETE: u8 = 2;
/// A put of format 2: catalog entry, analysis, text.
const OP_PUT: u8 = 3;
/// Format 3: a namespace was created.
const OP_CREATE_NAMESPACE: u8 = 4;
/// Format 3: a namespace and every document in it were deleted.
const OP_DELETE_NAMESPACE: u8 = 5;
const TEXT_RAW: u8 = 0;
const TEXT_ZSTD: u8 = 1;

/// Size of a file header: magic, version, fingerprint, two u64 fields, CRC.
pub const HEADER_LEN: usize = 8 + 4 + Fingerprint::ENCODED_LEN + 8 + 8 + 4;

/// The fixed block at the start of a WAL segment or a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// File kind: [`WAL_MAGIC`] or [`SNAPSHOT_MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`] of the writer.
    pub version: u32,
    /// Settings of the engine the data belongs to.
    pub fingerprint: Fingerprint,
    /// WAL: sequence of the segment's first record. Snapshot: last sequence it includes.
    pub seq: u64,
    /// WAL: 0. Snapshot: number of records that follow.
    pub count: u64,
}

/// Magic of a WAL segment.
pub const WAL_MAGIC: [u8; 8] = *b"NDUPWAL\0";
/// Magic of a snapshot.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"NDUPSNAP";

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer bytes than a header.
    Short,
    /// Not this kind of file.
    Magic,
    /// The CRC does not match.
    Checksum,
}

impl Header {
    /// The encoded header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let mut w = Vec::with_capacity(HEADER_LEN);
        w.extend_from_slice(&self.magic);
        w.extend_from_slice(&self.version.to_le_bytes());
        self.fingerprint.encode_into(&mut w);
        w.extend_from_slice(&self.seq.to_le_bytes());
        w.extend_from_slice(&self.count.to_le_bytes());
        let crc = crc32fast::hash(&w);
        w.extend_from_slice(&crc.to_le_bytes());
        out.copy_from_slice(&w);
        out
    }

    /// Reads a header of the given kind from the start of `bytes`.
    pub fn decode(bytes: &[u8], magic: [u8; 8]) -> Result<Header, HeaderError> {
        let Some(block) = bytes.get(..HEADER_LEN) else {
            return Err(HeaderError::Short);
        };
        if block[..8] != magic {
            return Err(HeaderError::Magic);
        }
        let (body, crc) = block.split_at(HEADER_LEN - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().unwrap_or_default()) {
            return Err(HeaderError::Checksum);
        }
        let mut r = Reader::new(&body[8..]);
        let version = r.u32().ok_or(HeaderError::Short)?;
        let fingerprint = Fingerprint::decode(&mut r).ok_or(HeaderError::Short)?;
        let seq = r.u64().ok_or(HeaderError::Short)?;
        let count = r.u64().ok_or(HeaderError::Short)?;
        Ok(Header {
            magic,
            version,
            fingerprint,
            seq,
            count,
        })
    }
}

/// Appends one frame carrying `payload` under sequence `seq`.
pub fn encode_frame(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_le_bytes());
    crc.update(payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
}

/// What lies at an offset of a log.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameRead<'a> {
    /// A good frame, and the offset just past it.
    Frame {
        /// Its sequence number.
        seq: u64,
        /// Its payload.
        payload: &'a [u8],
        /// Offset of the next frame.
        next: usize,
    },
    /// The input ends exactly here.
    End,
    /// The frame is cut short by the end of the input (a torn write, or a bad length).
    Truncated,
    /// The frame is all there but its CRC does not match.
    Checksum,
}

/// Reads the frame at `offset` of `buf`.
pub fn read_frame(buf: &[u8], offset: usize) -> FrameRead<'_> {
    let Some(rest) = buf.get(offset..) else {
        return FrameRead::Truncated;
    };
    if rest.is_empty() {
        return FrameRead::End;
    }
    if rest.len() < FRAME_HEADER {
        return FrameRead::Truncated;
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    if len > MAX_PAYLOAD {
        return FrameRead::Checksum;
    }
    let Some(body) = rest.get(8..FRAME_HEADER + len) else {
        return FrameRead::Truncated;
    };
    if crc32fast::hash(body) != crc {
        return FrameRead::Checksum;
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&body[..8]);
    FrameRead::Frame {
        seq: u64::from_le_bytes(seq),
        payload: &body[8..],
        next: offset + FRAME_HEADER + len,
    }
}

/// Looks past a damaged frame at `from` for the next good one whose sequence lies in
/// `(after, after + window]`, and returns its offset. The sequence filter keeps random
/// bytes that happen to look like a frame header from being taken for one.
pub fn resync(buf: &[u8], from: usize, after: u64, window: u64) -> Option<usize> {
    let mut offset = from + 1;
    while offset + FRAME_HEADER <= buf.len() {
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&buf[offset + 8..offset + 16]);
        let seq = u64::from_le_bytes(seq);
        if seq > after
            && seq - after <= window
            && matches!(read_frame(buf, offset), FrameRead::Frame { .. })
        {
            return Some(offset);
        }
        offset += 1;
    }
    None
}

/// One logged change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Store (or replace) a document; the payload is kept encoded.
    Put,
    /// Forget a document.
    Delete,
    /// Create a namespace.
    CreateNamespace,
    /// Forget a namespace and every document in it.
    DeleteNamespace,
}

/// The parts of a payload that replay needs: what happened to which document (or
/// namespace). The text stays compressed until [`decode_text`] is asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadKey {
    /// What happened.
    pub op: Op,
    /// Namespace of the document, or the namespace itself.
    pub namespace: String,
    /// Name of the document (empty for a namespace operation).
    pub name: String,
}

/// Encodes a put: the catalog entry, the analysis, then the text (last, so that loading
/// the index never touches it). Compresses the text when it is long enough to gain.
pub fn encode_put(record: &StoredRecord) -> Arc<[u8]> {
    let d = &record.document;
    let records = d.records.as_deref().unwrap_or_default();
    let analysis_len: usize = 4 + records
        .iter()
        .map(|r| 24 + 4 + 4 * r.set.len() + 4 + 8 * r.band_keys.len() + SKETCH_LEN)
        .sum::<usize>();
    let mut out = encode_head(
        OP_PUT,
        d,
        1 + 8 + 4 + 4 + analysis_len + 9 + record.text.len(),
    );
    out.push(split_code(d.split));
    out.extend_from_slice(&d.text_hash.to_le_bytes());
    out.extend_from_slice(&d.paragraphs.to_le_bytes());
    out.extend_from_slice(&(analysis_len as u32).to_le_bytes());
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    for r in records {
        for v in [r.index, r.start, r.end, r.line] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&r.content_hash.to_le_bytes());
        out.extend_from_slice(&(r.set.len() as u32).to_le_bytes());
        for v in &r.set {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(r.band_keys.len() as u32).to_le_bytes());
        for v in &r.band_keys {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&r.sketch.0);
    }
    encode_text(&mut out, &record.text);
    out.into()
}

/// Namespace, name, timestamp and metadata: the head every put starts with.
fn encode_head(op: u8, d: &StoredDocument, rest: usize) -> Vec<u8> {
    let meta_len: usize = d.metadata.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    let mut out =
        Vec::with_capacity(1 + 8 + d.namespace.len() + d.name.len() + 12 + meta_len + rest);
    out.push(op);
    put_str(&mut out, &d.namespace);
    put_str(&mut out, &d.name);
    out.extend_from_slice(&d.stored_at_ms.to_le_bytes());
    out.extend_from_slice(&(d.metadata.len() as u32).to_le_bytes());
    for (k, v) in &d.metadata {
        put_str(&mut out, k);
        put_str(&mut out, v);
    }
    out
}

fn encode_text(out: &mut Vec<u8>, text: &str) {
    let text = text.as_bytes();
    let compressed = if text.len() >= COMPRESS_MIN {
        COMPRESSOR
            .with(|c| match &mut *c.borrow_mut() {
                Some(c) => c.compress(text).ok(),
                None => None,
            })
            .filter(|c| c.len() < text.len())
    } else {
        None
    };
    out.push(if compressed.is_some() {
        TEXT_ZSTD
    } else {
        TEXT_RAW
    });
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    put_bytes(out, compressed.as_deref().unwrap_or(text));
}

/// Encodes a put of format 1 (text only), as older builds wrote it: for the tests of
/// reading such files.
#[cfg(test)]
pub fn encode_put_v1(record: &StoredRecord) -> Arc<[u8]> {
    let mut out = encode_head(OP_PUT_TEXT, &record.document, 9 + record.text.len());
    encode_text(&mut out, &record.text);
    out.into()
}

fn split_code(split: Split) -> u8 {
    match split {
        Split::Auto => 0,
        Split::BlankLines => 1,
        Split::Lines => 2,
        Split::None => 3,
    }
}

fn split_of(code: u8) -> Option<Split> {
    Some(match code {
        0 => Split::Auto,
        1 => Split::BlankLines,
        2 => Split::Lines,
        3 => Split::None,
        _ => return None,
    })
}

/// Encodes a delete.
pub fn encode_delete(namespace: &str, name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + namespace.len() + name.len());
    out.push(OP_DELETE);
    put_str(&mut out, namespace);
    put_str(&mut out, name);
    out
}

/// Encodes the creation (`delete: false`) or the deletion of a namespace.
pub fn encode_namespace(namespace: &str, delete: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + namespace.len());
    out.push(if delete {
        OP_DELETE_NAMESPACE
    } else {
        OP_CREATE_NAMESPACE
    });
    put_str(&mut out, namespace);
    out
}

/// Reads the operation and the document's key of a payload.
pub fn decode_key(payload: &[u8]) -> Option<PayloadKey> {
    let mut r = Reader::new(payload);
    let op = match r.u8()? {
        OP_PUT | OP_PUT_TEXT => Op::Put,
        OP_DELETE => Op::Delete,
        OP_CREATE_NAMESPACE => Op::CreateNamespace,
        OP_DELETE_NAMESPACE => Op::DeleteNamespace,
        _ => return None,
    };
    let namespace = r.string()?;
    let name = match op {
        Op::Put | Op::Delete => r.string()?,
        Op::CreateNamespace | Op::DeleteNamespace => String::new(),
    };
    if op != Op::Put && !r.is_empty() {
        return None;
    }
    Some(PayloadKey {
        op,
        namespace,
        name,
    })
}

/// Decodes what a put payload stores of a document, without its text (format 2), or
/// with `records: None` for a format-1 put, whose text must be analyzed again (its
/// `text_hash` is then computed from the text, which is decompressed for that).
pub fn decode_document(payload: &[u8]) -> Option<StoredDocument> {
    let mut r = Reader::new(payload);
    let op = r.u8()?;
    let (namespace, name, stored_at_ms, metadata) = decode_head(&mut r)?;
    let mut d = StoredDocument {
        namespace,
        name,
        metadata,
        stored_at_ms,
        text_hash: 0,
        split: Split::Auto,
        paragraphs: 0,
        records: None,
    };
    match op {
        OP_PUT_TEXT => {
            let text = decode_text_at(&mut r)?;
            d.text_hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        }
        OP_PUT => {
            d.split = split_of(r.u8()?)?;
            d.text_hash = r.u64()?;
            d.paragraphs = r.u32()?;
            let analysis = r.bytes()?;
            d.records = Some(decode_analysis(analysis)?);
            // The text must be there and whole, even though it is not decoded here.
            skip_text(&mut r)?;
        }
        _ => return None,
    }
    Some(d)
}

/// Decodes the text of a put payload (either format). A format-2 text must also be the
/// text its catalog entry's `text_hash` names: a text that decodes to something else
/// would put spans on the wrong characters.
pub fn decode_text(payload: &[u8]) -> Option<String> {
    let mut r = Reader::new(payload);
    let op = r.u8()?;
    decode_head(&mut r)?;
    match op {
        OP_PUT_TEXT => decode_text_at(&mut r),
        OP_PUT => {
            r.u8()?;
            let text_hash = r.u64()?;
            r.u32()?;
            r.bytes()?;
            decode_text_at(&mut r)
                .filter(|text| xxhash_rust::xxh3::xxh3_64(text.as_bytes()) == text_hash)
        }
        _ => None,
    }
}

/// Decodes a whole put payload (either format).
#[cfg(test)]
pub fn decode_record(payload: &[u8]) -> Option<StoredRecord> {
    Some(StoredRecord {
        document: decode_document(payload)?,
        text: decode_text(payload)?,
    })
}

type Head = (String, String, u64, BTreeMap<String, String>);

fn decode_head(r: &mut Reader<'_>) -> Option<Head> {
    let namespace = r.string()?;
    let name = r.string()?;
    let stored_at_ms = r.u64()?;
    let count = r.u32()?;
    let mut metadata = BTreeMap::new();
    for _ in 0..count {
        let k = r.string()?;
        let v = r.string()?;
        metadata.insert(k, v);
    }
    Some((namespace, name, stored_at_ms, metadata))
}

fn decode_analysis(bytes: &[u8]) -> Option<Vec<ParagraphRecord>> {
    let mut r = Reader::new(bytes);
    let n = r.u32()? as usize;
    // Each record takes at least 32 bytes: a count beyond that is damage, not a reason to
    // allocate.
    if n > MAX_RECORDS || n > bytes.len() / 32 {
        return None;
    }
    let mut records = Vec::with_capacity(n);
    for _ in 0..n {
        let (index, start, end, line) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?);
        let content_hash = r.u64()?;
        let set = r.array(4, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))?;
        let band_keys = r.array(8, |b| {
            u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        })?;
        let mut sketch = [0u8; SKETCH_LEN];
        sketch.copy_from_slice(r.take(SKETCH_LEN)?);
        if start > end || !set.is_sorted_by(|a, b| a < b) {
            return None;
        }
        records.push(ParagraphRecord {
            index,
            start,
            end,
            line,
            content_hash,
            set,
            band_keys,
            sketch: Sketch(sketch),
        });
    }
    r.is_empty().then_some(records)
}

fn skip_text(r: &mut Reader<'_>) -> Option<()> {
    let codec = r.u8()?;
    let raw_len = r.u32()? as usize;
    r.bytes()?;
    (r.is_empty() && raw_len <= MAX_TEXT_BYTES && codec <= TEXT_ZSTD).then_some(())
}

fn decode_text_at(r: &mut Reader<'_>) -> Option<String> {
    let codec = r.u8()?;
    let raw_len = r.u32()? as usize;
    let stored = r.bytes()?;
    if !r.is_empty() || raw_len > MAX_TEXT_BYTES {
        return None;
    }
    let text = match codec {
        TEXT_RAW => stored.to_vec(),
        TEXT_ZSTD => {
            let text = DECOMPRESSOR.with(|d| match &mut *d.borrow_mut() {
                Some(d) => d.decompress(stored, raw_len).ok(),
                None => None,
            })?;
            if text.len() != raw_len {
                return None;
            }
            text
        }
        _ => return None,
    };
    String::from_utf8(text).ok()
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// A bounds-checked little-endian reader: every method returns `None` past the end.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    /// `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    /// A count-prefixed array of fixed-size values, refusing a count that the rest of
    /// the input cannot hold.
    pub fn array<T>(&mut self, size: usize, f: impl Fn(&[u8]) -> T) -> Option<Vec<T>> {
        let n = self.u32()? as usize;
        if n > MAX_VALUES || n.checked_mul(size)? > self.buf.len() {
            return None;
        }
        let bytes = self.take(n * size)?;
        Some(bytes.chunks_exact(size).map(f).collect())
    }

    /// A length-prefixed UTF-8 string.
    pub fn string(&mut self) -> Option<String> {
        std::str::from_utf8(self.bytes()?).ok().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str) -> StoredRecord {
        let mut r = crate::store::tests::record("ns", "doc-1", text);
        r.document.metadata =
            BTreeMap::from([("lang".into(), "zh".into()), ("src".into(), "x".into())]);
        r
    }

    #[test]
    fn analysis_round_trips_and_format_one_still_reads() {
        let text = "保护黄河，是2023年的大计。黄河流域生态保护和高质量发展是重大国家战略。\n\n\
                    The committee reviewed the annual budget in detail and found that spending on roads had doubled.";
        let r = record(text);
        let records = r.document.records.as_ref().unwrap();
        assert_eq!(records.len(), 2);
        assert!(
            records
                .iter()
                .all(|p| !p.set.is_empty() && !p.band_keys.is_empty())
        );
        let payload = encode_put(&r);
        assert_eq!(decode_document(&payload).as_ref(), Some(&r.document));
        assert_eq!(decode_text(&payload).as_deref(), Some(text));
        // Format 1: the text only; the document comes back to be analyzed again.
        let old = encode_put_v1(&r);
        let d = decode_document(&old).unwrap();
        assert_eq!(d.records, None);
        assert_eq!(d.text_hash, r.document.text_hash);
        assert_eq!(
            (d.name.as_str(), d.metadata.clone()),
            ("doc-1", r.document.metadata.clone())
        );
        assert_eq!(decode_text(&old).as_deref(), Some(text));
    }

    #[test]
    fn put_round_trips_short_and_compressed_texts() {
        let short = record("短い text");
        let payload = encode_put(&short);
        assert_eq!(payload[payload.len() - short.text.len() - 9], TEXT_RAW);
        assert_eq!(decode_record(&payload), Some(short));

        let long = record(&"重复的段落 repeated paragraph text. ".repeat(50));
        let payload = encode_put(&long);
        assert!(
            payload.len() < long.text.len() / 4,
            "{} bytes for {}",
            payload.len(),
            long.text.len()
        );
        assert_eq!(decode_record(&payload), Some(long));
        assert_eq!(
            decode_key(&payload),
            Some(PayloadKey {
                op: Op::Put,
                namespace: "ns".into(),
                name: "doc-1".into()
            })
        );
    }

    #[test]
    fn delete_round_trips_and_is_not_a_record() {
        let payload = encode_delete("ns", "gone");
        assert_eq!(
            decode_key(&payload),
            Some(PayloadKey {
                op: Op::Delete,
                namespace: "ns".into(),
                name: "gone".into()
            })
        );
        assert_eq!(decode_record(&payload), None);
    }

    #[test]
    fn namespace_operations_round_trip_and_are_not_records() {
        for (delete, op) in [(false, Op::CreateNamespace), (true, Op::DeleteNamespace)] {
            let payload = encode_namespace("新闻-2024", delete);
            assert_eq!(
                decode_key(&payload),
                Some(PayloadKey {
                    op,
                    namespace: "新闻-2024".into(),
                    name: String::new()
                })
            );
            assert_eq!(decode_record(&payload), None);
            for cut in 0..payload.len() {
                assert_eq!(decode_key(&payload[..cut]), None, "cut at {cut}");
            }
            let mut longer = payload.clone();
            longer.push(0);
            assert_eq!(decode_key(&longer), None);
        }
    }

    #[test]
    fn every_truncation_and_bit_flip_of_a_payload_is_refused_without_panic() {
        let payload = encode_put(&record(&"text that compresses well. ".repeat(20)));
        for cut in 0..payload.len() {
            assert_eq!(decode_record(&payload[..cut]), None, "cut at {cut}");
        }
        for i in 0..payload.len() {
            let mut bad = payload.to_vec();
            bad[i] ^= 0x5a;
            // Must not panic; a flip in the text may still decode, but not to a different
            // text (its hash is checked).
            if let Some(decoded) = decode_record(&bad) {
                assert_eq!(decoded.text, decode_text(&payload).unwrap(), "flip at {i}");
            }
            let _ = decode_key(&bad);
        }
    }

    #[test]
    fn frames_detect_truncation_and_corruption() {
        let mut log = Vec::new();
        encode_frame(&mut log, 7, b"first");
        let second = log.len();
        encode_frame(&mut log, 8, b"second payload");
        match read_frame(&log, 0) {
            FrameRead::Frame { seq, payload, next } => {
                assert_eq!((seq, payload, next), (7, &b"first"[..], second));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(read_frame(&log, log.len()), FrameRead::End);
        for cut in second + 1..log.len() {
            assert_eq!(read_frame(&log[..cut], second), FrameRead::Truncated);
        }
        for i in second + 4..log.len() {
            let mut bad = log.clone();
            bad[i] ^= 1;
            assert_eq!(read_frame(&bad, second), FrameRead::Checksum, "flip at {i}");
        }
    }

    #[test]
    fn resync_finds_the_next_good_frame_after_damage() {
        let mut log = Vec::new();
        encode_frame(&mut log, 1, b"one");
        let damaged = log.len();
        encode_frame(&mut log, 2, b"two two two");
        let third = log.len();
        encode_frame(&mut log, 3, b"three");
        log[damaged] = 0xff; // length now points far past the end
        assert_eq!(read_frame(&log, damaged), FrameRead::Truncated);
        assert_eq!(resync(&log, damaged, 1, 1000), Some(third));
        assert_eq!(resync(&log, damaged, 3, 1000), None);
    }

    #[test]
    fn header_round_trips_and_detects_damage() {
        let header = Header {
            magic: WAL_MAGIC,
            version: FORMAT_VERSION,
            fingerprint: Fingerprint::from_settings(&crate::Settings::default()),
            seq: 42,
            count: 0,
        };
        let bytes = header.encode();
        assert_eq!(Header::decode(&bytes, WAL_MAGIC), Ok(header));
        assert_eq!(
            Header::decode(&bytes, SNAPSHOT_MAGIC),
            Err(HeaderError::Magic)
        );
        assert_eq!(
            Header::decode(&bytes[..HEADER_LEN - 1], WAL_MAGIC),
            Err(HeaderError::Short)
        );
        let mut bad = bytes;
        bad[20] ^= 1;
        assert_eq!(Header::decode(&bad, WAL_MAGIC), Err(HeaderError::Checksum));
        // Folding rides in the shingle field's upper half: it round-trips, and a header
        // without it is what it was before folding existed (shingle 2 alone).
        assert_eq!(bytes[16..20], 2u32.to_le_bytes());
        let folded = Header {
            fingerprint: Fingerprint::from_settings(&crate::Settings {
                fold: crate::text::Fold::Simplified,
                ..Default::default()
            }),
            ..header
        };
        assert_ne!(folded.fingerprint.fold, 0);
        assert_eq!(Header::decode(&folded.encode(), WAL_MAGIC), Ok(folded));
        assert_ne!(folded.fingerprint, header.fingerprint);
    }
}
