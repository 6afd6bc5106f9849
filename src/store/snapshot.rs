//! Snapshots: every live record at one point of the log, in one file.
//!
//! Invariants:
//! - A snapshot is written to `snapshot.tmp` in the data directory, fsynced, renamed over
//!   `snapshot`, and the directory fsynced; only then may the WAL segments it covers be
//!   deleted. A crash at any point leaves either the old snapshot or the new one.
//! - Its header records the format version, the engine [`Fingerprint`], the last log
//!   sequence it includes and the number of records; each record is a CRC-checked frame
//!   whose sequence is the record's place in load order. A snapshot that does not read
//!   back exactly (count, checksums, nothing after the last record) is refused: a
//!   rename is atomic, so a damaged snapshot is never a torn write.

use fs_err::{self as fs, File};
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};
use std::path::Path;
use std::sync::Arc;

use super::codec::{self, FORMAT_VERSION, FRAME_HEADER, Header, OLDEST_VERSION, SNAPSHOT_MAGIC};
use super::{Fingerprint, StoreError};

/// File name of the current snapshot.
pub const SNAPSHOT: &str = "snapshot";
/// File name a snapshot is written under before it is renamed.
pub const SNAPSHOT_TMP: &str = "snapshot.tmp";

/// A snapshot read back.
#[derive(Debug)]
pub struct Snapshot {
    /// Its header (fingerprint, last sequence, count).
    pub header: Header,
    /// Size of the file.
    pub bytes: u64,
    /// The file, open for reading the records back.
    pub file: Arc<File>,
}

/// Writes a snapshot of the `records` that `payload` gives, as `(order, payload)`, durably.
/// Returns its size in bytes, the offset of each record's frame (in the order given) and
/// the new snapshot, open for reading.
pub fn write(
    dir: &Path,
    fingerprint: Fingerprint,
    last_seq: u64,
    records: &[u64],
    mut payload: impl FnMut(usize) -> Result<Arc<[u8]>, StoreError>,
) -> Result<(u64, Vec<u64>, Arc<File>), StoreError> {
    let tmp = dir.join(SNAPSHOT_TMP);
    let result = (|| {
        let file = File::create(&tmp)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let header = Header {
            magic: SNAPSHOT_MAGIC,
            version: FORMAT_VERSION,
            fingerprint,
            seq: last_seq,
            count: records.len() as u64,
        };
        out.write_all(&header.encode())?;
        let mut bytes = codec::HEADER_LEN as u64;
        let mut frame = Vec::new();
        let mut offsets = Vec::with_capacity(records.len());
        for (i, order) in records.iter().enumerate() {
            let payload = payload(i)?;
            frame.clear();
            codec::encode_frame(&mut frame, *order, &payload);
            out.write_all(&frame)?;
            offsets.push(bytes);
            bytes += frame.len() as u64;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, dir.join(SNAPSHOT))?;
        sync_dir(dir)?;
        let file = Arc::new(File::open(dir.join(SNAPSHOT))?);
        Ok((bytes, offsets, file))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads the snapshot of `dir`, if there is one, calling `record(order, frame offset,
/// payload)` for each record in load order (none for a snapshot of a format version this
/// build does not read: the caller refuses it). Nothing is kept in memory.
pub fn read(
    dir: &Path,
    mut record: impl FnMut(u64, u64, &[u8]) -> Result<(), StoreError>,
) -> Result<Option<Snapshot>, StoreError> {
    let path = dir.join(SNAPSHOT);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let bytes = file.metadata()?.len();
    let damaged = |what: &str| {
        StoreError::Corrupt(format!(
            "snapshot {} is damaged ({what}); it cannot be a torn write, so the disk or \
             another program changed it; restore the data directory from a backup",
            path.display()
        ))
    };
    let mut input = BufReader::with_capacity(1 << 20, file);
    let mut head = [0u8; codec::HEADER_LEN];
    input
        .read_exact(&mut head)
        .map_err(|_| damaged("short header"))?;
    let header = match Header::decode(&head, SNAPSHOT_MAGIC) {
        Ok(h) => h,
        Err(e) => return Err(damaged(&format!("bad header: {e:?}"))),
    };
    let reader = Arc::new(File::open(&path)?);
    if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&header.version) {
        return Ok(Some(Snapshot {
            header,
            bytes,
            file: reader,
        }));
    }
    let mut frame = Vec::new();
    let mut offset = codec::HEADER_LEN as u64;
    for i in 0..header.count {
        frame.resize(FRAME_HEADER, 0);
        input
            .read_exact(&mut frame[..FRAME_HEADER])
            .map_err(|_| damaged(&format!("ends at record {i} of {}", header.count)))?;
        let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        if len > codec::MAX_PAYLOAD || (len as u64) > bytes {
            return Err(damaged(&format!("record {i} has a bad length")));
        }
        frame.resize(FRAME_HEADER + len, 0);
        input
            .read_exact(&mut frame[FRAME_HEADER..])
            .map_err(|_| damaged(&format!("ends inside record {i}")))?;
        match codec::read_frame(&frame, 0) {
            codec::FrameRead::Frame { seq, payload, .. } => record(seq, offset, payload)?,
            _ => return Err(damaged(&format!("record {i} fails its checksum"))),
        }
        offset += frame.len() as u64;
    }
    let mut extra = [0u8; 1];
    if input.read(&mut extra)? != 0 {
        return Err(damaged("bytes after the last record"));
    }
    Ok(Some(Snapshot {
        header,
        bytes,
        file: reader,
    }))
}

/// Fsyncs a directory, so that files created, renamed or removed in it stay so.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}
