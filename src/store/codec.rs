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

use super::{Fingerprint, StoredRecord};

/// Version of everything this module writes. Bump it on any change of layout.
pub const FORMAT_VERSION: u32 = 1;
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

const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Store (or replace) a document; the payload is kept encoded.
    Put,
    /// Forget a document.
    Delete,
}

/// The parts of a payload that replay needs: what happened to which document. The text
/// stays compressed until [`decode_record`] is asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadKey {
    /// Put or delete.
    pub op: Op,
    /// Namespace of the document.
    pub namespace: String,
    /// Name of the document.
    pub name: String,
}

/// Encodes a put. Compresses the text when it is long enough to gain from it.
pub fn encode_put(record: &StoredRecord) -> Arc<[u8]> {
    let text = record.text.as_bytes();
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
    let meta_len: usize = record
        .metadata
        .iter()
        .map(|(k, v)| 8 + k.len() + v.len())
        .sum();
    let stored = compressed.as_deref().unwrap_or(text);
    let mut out = Vec::with_capacity(
        1 + 8 + record.namespace.len() + record.name.len() + 8 + 4 + meta_len + 9 + stored.len(),
    );
    out.push(OP_PUT);
    put_str(&mut out, &record.namespace);
    put_str(&mut out, &record.name);
    out.extend_from_slice(&record.stored_at_ms.to_le_bytes());
    out.extend_from_slice(&(record.metadata.len() as u32).to_le_bytes());
    for (k, v) in &record.metadata {
        put_str(&mut out, k);
        put_str(&mut out, v);
    }
    out.push(if compressed.is_some() {
        TEXT_ZSTD
    } else {
        TEXT_RAW
    });
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    put_bytes(&mut out, stored);
    out.into()
}

/// Encodes a delete.
pub fn encode_delete(namespace: &str, name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + namespace.len() + name.len());
    out.push(OP_DELETE);
    put_str(&mut out, namespace);
    put_str(&mut out, name);
    out
}

/// Reads the operation and the document's key of a payload.
pub fn decode_key(payload: &[u8]) -> Option<PayloadKey> {
    let mut r = Reader::new(payload);
    let op = match r.u8()? {
        OP_PUT => Op::Put,
        OP_DELETE => Op::Delete,
        _ => return None,
    };
    let namespace = r.string()?;
    let name = r.string()?;
    if op == Op::Delete && !r.is_empty() {
        return None;
    }
    Some(PayloadKey {
        op,
        namespace,
        name,
    })
}

/// Decodes a put payload into the record it stores (decompressing the text).
pub fn decode_record(payload: &[u8]) -> Option<StoredRecord> {
    let mut r = Reader::new(payload);
    if r.u8()? != OP_PUT {
        return None;
    }
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
    Some(StoredRecord {
        namespace,
        name,
        text: String::from_utf8(text).ok()?,
        metadata,
        stored_at_ms,
    })
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

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
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

    /// A length-prefixed UTF-8 string.
    pub fn string(&mut self) -> Option<String> {
        std::str::from_utf8(self.bytes()?).ok().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str) -> StoredRecord {
        StoredRecord {
            namespace: "ns".into(),
            name: "doc-1".into(),
            text: text.into(),
            metadata: BTreeMap::from([("lang".into(), "zh".into()), ("src".into(), "x".into())]),
            stored_at_ms: 1_700_000_000_123,
        }
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
    fn every_truncation_and_bit_flip_of_a_payload_is_refused_without_panic() {
        let payload = encode_put(&record(&"text that compresses well. ".repeat(20)));
        for cut in 0..payload.len() {
            assert_eq!(decode_record(&payload[..cut]), None, "cut at {cut}");
        }
        for i in 0..payload.len() {
            let mut bad = payload.to_vec();
            bad[i] ^= 0x5a;
            // Must not panic; a flip in the text may still decode, to different text.
            let _ = decode_record(&bad);
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
    }
}
