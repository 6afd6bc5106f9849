//! [`WalStore`]: a write-ahead log with group commit and snapshots, in one data directory.
//!
//! Layout of the directory:
//! - `LOCK`: held with an exclusive file lock while a process has the store open.
//! - `snapshot`: every live record as of one log sequence (see `snapshot`).
//! - `wal-<first seq>.log`: segments of the log, each a header (format version, engine
//!   [`Fingerprint`], first sequence) followed by CRC-checked frames (see `codec`).
//!
//! Invariants:
//! - Every change gets the next sequence number and is appended to the current segment;
//!   `put`/`delete` return only once their frame is written and, under
//!   [`FsyncPolicy::Always`], fsynced. Writers that arrive while a write is under way
//!   queue their frames in a shared buffer; the next leader writes and fsyncs them all at
//!   once (group commit), so concurrent writers share fsyncs.
//! - Replay applies a frame only if its sequence is above the last one applied, so
//!   replaying a segment that a snapshot already covers changes nothing.
//! - On open, a torn or damaged frame is found by its CRC. If good frames follow it (a
//!   damaged record in the middle), it is skipped; otherwise the segment is cut back to
//!   the last good frame (a torn tail). Either way a `tracing::warn!` says what was lost,
//!   and a damaged store is rewritten at once, so the warning is not repeated forever and
//!   the store never refuses to start because of a torn tail.
//! - Compaction writes a snapshot of the live records (temp file, fsync, rename, fsync of
//!   the directory) and only then deletes the segments it covers. It runs in the
//!   background once the log outgrows both [`WalOptions::compact_min_bytes`] and the
//!   live data, so a store's size stays proportional to its live documents.
//! - Any failed write poisons the store: later writes fail instead of being acknowledged
//!   on top of a log whose end is unknown.
//!
//! A [`WalObserver`] given in [`WalOptions::observer`] hears of every append and fsync
//! (for metrics); the store works the same without one.
//!
//! Memory holds where each live record is (a file and an offset), not the record: texts
//! and analyses are read back from the files, with their checksums checked again, when
//! the service asks for them. A record waits in memory only between its enqueueing and
//! the write that makes it durable. Files stay open while records point into them, so a
//! segment deleted by compaction can still be read by a query that located it before.

use fs_err::os::unix::fs::FileExt;
use fs_err::{self as fs, File, OpenOptions};
use std::collections::{BTreeMap, HashMap};
use std::fs::TryLockError;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::codec::{
    self, FORMAT_VERSION, FRAME_HEADER, FrameRead, HEADER_LEN, Header, HeaderError, OLDEST_VERSION,
    Op, WAL_MAGIC,
};
use super::snapshot::{self, sync_dir};
use super::{
    CompactionStats, Fingerprint, FsyncPolicy, Store, StoreError, StoredDocument, StoredRecord,
};
use crate::engine::Settings;

const LOCK_FILE: &str = "LOCK";
/// How far past a damaged frame replay looks for the next good sequence number.
const RESYNC_WINDOW: u64 = 1 << 20;

/// How a [`WalStore`] is opened.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Settings of the engine the data is for; data written under others is refused.
    pub fingerprint: Fingerprint,
    /// When to fsync.
    pub fsync: FsyncPolicy,
    /// Accept data written under other settings and rewrite it under `fingerprint`.
    /// Its stored analyses no longer fit, so [`Store::load`] gives its documents without
    /// them (`records: None`), to be analyzed again.
    pub reindex: bool,
    /// The log is compacted once it holds at least this many bytes (and more than the
    /// live data). `u64::MAX` turns automatic compaction off.
    pub compact_min_bytes: u64,
    /// Hears of appends and fsyncs.
    pub observer: Option<Arc<dyn WalObserver>>,
}

/// Hears what the log does, for metrics. Called on the writing thread: keep it cheap.
pub trait WalObserver: Send + Sync + std::fmt::Debug {
    /// `records` frames of `bytes` bytes in all were written in one go (group commit).
    fn appended(&self, records: u64, bytes: u64);
    /// One fsync of the log took `elapsed` and made `records` frames durable.
    fn synced(&self, elapsed: Duration, records: u64);
}

impl WalOptions {
    /// Defaults for an engine with these settings: fsync always, compact past 64 MiB.
    pub fn new(settings: &Settings) -> WalOptions {
        WalOptions {
            fingerprint: Fingerprint::from_settings(settings),
            fsync: FsyncPolicy::Always,
            reindex: false,
            compact_min_bytes: 64 << 20,
            observer: None,
        }
    }
}

/// What opening a store found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Live documents.
    pub documents: usize,
    /// Records read from the snapshot.
    pub snapshot_records: usize,
    /// Log records applied on top of it.
    pub replayed: u64,
    /// Last sequence applied.
    pub last_seq: u64,
    /// Bytes cut from torn segment tails.
    pub truncated_bytes: u64,
    /// Bytes of damaged records skipped in the middle of a segment.
    pub skipped_bytes: u64,
    /// Sequence numbers missing from the log (records lost to damage).
    pub lost_records: u64,
    /// Whether data written under other settings was taken over (`reindex`).
    pub reindexed: bool,
    /// Time it took to open.
    pub elapsed: Duration,
}

/// A store in a data directory: see the module docs.
#[derive(Debug)]
pub struct WalStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    opts: WalOptions,
    state: Mutex<State>,
    cond: Condvar,
    /// The current segment. Only the leader (the thread with `State::leader` set) and the
    /// periodic flusher touch it.
    writer: Mutex<Segment>,
    compacting: AtomicBool,
    compaction: Mutex<()>,
    recovery: Recovery,
    /// Records were written under other settings: their analyses are not given out.
    reindexed: bool,
    _lock: File,
    /// Failpoint: the next log writes fail as if the disk did.
    #[cfg(test)]
    fail_writes: AtomicBool,
}

#[derive(Debug)]
struct State {
    next_seq: u64,
    /// Frames waiting for the next leader.
    pending: Vec<u8>,
    /// Where each of those frames starts in `pending`: (order, seq, offset).
    pending_frames: Vec<(u64, u64, usize)>,
    /// Every sequence up to this one is written (and synced per policy).
    durable: u64,
    leader: bool,
    failed: Option<String>,
    live: Live,
    log_bytes: u64,
    snapshot_bytes: u64,
    /// Last sequence the snapshot on disk includes.
    snapshot_seq: u64,
}

/// Where a record is: in memory until it is written, then in a file.
#[derive(Debug, Clone)]
enum Place {
    Memory(Arc<[u8]>),
    /// A frame of `len` payload bytes at `offset` of `file`.
    File {
        file: Arc<File>,
        offset: u64,
        len: u32,
    },
}

/// A live record: the sequence that wrote it and where it is.
#[derive(Debug, Clone)]
struct Held {
    seq: u64,
    place: Place,
}

impl Held {
    /// The record's payload, read back (and checked) from its file if need be.
    fn payload(&self) -> Result<Arc<[u8]>, StoreError> {
        match &self.place {
            Place::Memory(p) => Ok(p.clone()),
            Place::File { file, offset, len } => {
                let mut buf = vec![0u8; FRAME_HEADER + *len as usize];
                file.read_exact_at(&mut buf, *offset)?;
                match codec::read_frame(&buf, 0) {
                    FrameRead::Frame { seq, payload, .. } if seq <= self.seq => Ok(payload.into()),
                    _ => Err(StoreError::Corrupt(format!(
                        "a stored record (sequence {}) no longer reads back whole from disk",
                        self.seq
                    ))),
                }
            }
        }
    }
}

/// The live records: where each is, in load order, and where each key sits.
#[derive(Debug, Default)]
struct Live {
    order: HashMap<Vec<u8>, u64>,
    records: BTreeMap<u64, Held>,
    bytes: u64,
}

impl Live {
    /// Records `held` (of `len` payload bytes) under `key`; returns its load order.
    fn put(&mut self, key: Vec<u8>, seq: u64, held: Held, len: u64) -> u64 {
        let order = *self.order.entry(key).or_insert(seq);
        self.bytes += len;
        if let Some(old) = self.records.insert(order, held) {
            self.bytes -= old.len();
        }
        order
    }

    fn delete(&mut self, key: &[u8]) -> bool {
        let Some(order) = self.order.remove(key) else {
            return false;
        };
        if let Some(old) = self.records.remove(&order) {
            self.bytes -= old.len();
        }
        true
    }

    fn held(&self, key: &[u8]) -> Option<Held> {
        self.records.get(self.order.get(key)?).cloned()
    }
}

impl Held {
    fn len(&self) -> u64 {
        match &self.place {
            Place::Memory(p) => p.len() as u64,
            Place::File { len, .. } => *len as u64,
        }
    }
}

fn key_of(namespace: &str, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(4 + namespace.len() + name.len());
    key.extend_from_slice(&(namespace.len() as u32).to_le_bytes());
    key.extend_from_slice(namespace.as_bytes());
    key.extend_from_slice(name.as_bytes());
    key
}

#[derive(Debug)]
struct Segment {
    file: Arc<File>,
    first_seq: u64,
    bytes: u64,
    dirty: bool,
    last_sync: Instant,
    /// Fsyncs issued through this handle (the count carries over on rotation).
    syncs: u64,
    /// Frames written since the last fsync.
    unsynced: u64,
    observer: Option<Arc<dyn WalObserver>>,
}

impl Segment {
    fn path(dir: &Path, first_seq: u64) -> PathBuf {
        dir.join(format!("wal-{first_seq:020}.log"))
    }

    /// Creates an empty segment durably (header fsynced, directory fsynced).
    fn create(dir: &Path, first_seq: u64, fingerprint: Fingerprint) -> std::io::Result<Segment> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(true)
            .open(Segment::path(dir, first_seq))?;
        let header = Header {
            magic: WAL_MAGIC,
            version: FORMAT_VERSION,
            fingerprint,
            seq: first_seq,
            count: 0,
        };
        file.write_all(&header.encode())?;
        file.sync_all()?;
        sync_dir(dir)?;
        Ok(Segment {
            file: Arc::new(file),
            first_seq,
            bytes: HEADER_LEN as u64,
            dirty: false,
            last_sync: Instant::now(),
            syncs: 0,
            unsynced: 0,
            observer: None,
        })
    }

    /// Writes `records` frames, then fsyncs per `policy`.
    fn append(&mut self, buf: &[u8], records: u64, policy: FsyncPolicy) -> std::io::Result<()> {
        // Positioned writes: the file is shared with readers of earlier records.
        self.file.write_all_at(buf, self.bytes)?;
        self.bytes += buf.len() as u64;
        self.dirty = true;
        self.unsynced += records;
        if let Some(o) = &self.observer {
            o.appended(records, buf.len() as u64);
        }
        match policy {
            FsyncPolicy::Always => self.sync(),
            FsyncPolicy::Interval(every) if self.last_sync.elapsed() >= every => self.sync(),
            FsyncPolicy::Interval(_) | FsyncPolicy::Never => Ok(()),
        }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        if self.dirty {
            let started = Instant::now();
            self.file.sync_data()?;
            if let Some(o) = &self.observer {
                o.synced(started.elapsed(), self.unsynced);
            }
            self.dirty = false;
            self.syncs += 1;
            self.unsynced = 0;
        }
        self.last_sync = Instant::now();
        Ok(())
    }
}

/// Segment files of `dir`, by first sequence.
fn list_segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_prefix("wal-"))
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((seq, entry.path()));
    }
    out.sort();
    Ok(out)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// State rebuilt by replaying a directory.
struct Replay {
    live: Live,
    applied: u64,
    mismatch: Option<Fingerprint>,
    /// The store must be rewritten (damage found, or re-indexing).
    rewrite: bool,
    /// The last segment, open for appending, if it can be kept.
    tail: Option<Segment>,
    segments: Vec<(u64, PathBuf)>,
    snapshot_bytes: u64,
    snapshot_seq: u64,
    log_bytes: u64,
    recovery: Recovery,
}

impl WalStore {
    /// Opens (or creates) the store in `dir`, replaying what it holds.
    ///
    /// Fails with [`StoreError::SettingsMismatch`] if the data was written under another
    /// fingerprint (unless `opts.reindex`), [`StoreError::FormatVersion`] if by a format
    /// this build does not read, [`StoreError::Locked`] if another process has it open,
    /// and [`StoreError::Corrupt`] if the snapshot or a segment header is damaged. A torn
    /// or damaged log record is cut or skipped with a warning, never an error.
    pub fn open(dir: impl AsRef<Path>, opts: WalOptions) -> Result<WalStore, StoreError> {
        let start = Instant::now();
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Locked(dir.display().to_string()));
            }
            Err(TryLockError::Error(e)) => return Err(e.into()),
        }
        match fs::remove_file(dir.join(snapshot::SNAPSHOT_TMP)) {
            Ok(()) => tracing::info!(dir = %dir.display(), "removed an unfinished snapshot"),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }

        let mut replay = replay(&dir, &opts)?;
        if let Some(stored) = replay.mismatch {
            if !opts.reindex {
                return Err(StoreError::SettingsMismatch {
                    dir: dir.display().to_string(),
                    stored,
                    current: opts.fingerprint,
                });
            }
            tracing::warn!(
                dir = %dir.display(),
                stored = %stored,
                current = %opts.fingerprint,
                "re-indexing a data directory written under other engine settings"
            );
            replay.recovery.reindexed = true;
            replay.rewrite = true;
        }

        let mut writer = if replay.rewrite || replay.tail.is_none() {
            if replay.rewrite {
                // Snapshot everything under the current fingerprint, then drop the log.
                let records: Vec<(u64, Held)> = replay
                    .live
                    .records
                    .iter()
                    .map(|(o, h)| (*o, h.clone()))
                    .collect();
                let (bytes, offsets, file) =
                    write_snapshot(&dir, opts.fingerprint, replay.applied, &records)?;
                replay.snapshot_bytes = bytes;
                replay.snapshot_seq = replay.applied;
                relocate(&mut replay.live, &records, &offsets, &file);
                replay.tail = None;
                for (_, path) in &replay.segments {
                    fs::remove_file(path)?;
                }
                sync_dir(&dir)?;
            }
            Segment::create(&dir, replay.applied + 1, opts.fingerprint)?
        } else {
            replay
                .tail
                .take()
                .ok_or_else(|| StoreError::Corrupt("no segment to append to after replay".into()))?
        };
        writer.observer = opts.observer.clone();
        let log_bytes = if replay.rewrite {
            writer.bytes
        } else {
            replay.log_bytes.max(writer.bytes)
        };

        let mut recovery = replay.recovery;
        recovery.documents = replay.live.records.len();
        recovery.last_seq = replay.applied;
        recovery.elapsed = start.elapsed();
        tracing::info!(
            dir = %dir.display(),
            documents = recovery.documents,
            snapshot_records = recovery.snapshot_records,
            replayed = recovery.replayed,
            elapsed_ms = recovery.elapsed.as_millis() as u64,
            "opened data directory"
        );

        let inner = Arc::new(Inner {
            dir,
            state: Mutex::new(State {
                next_seq: replay.applied + 1,
                pending: Vec::new(),
                pending_frames: Vec::new(),
                durable: replay.applied,
                leader: false,
                failed: None,
                live: replay.live,
                log_bytes,
                snapshot_bytes: replay.snapshot_bytes,
                snapshot_seq: replay.snapshot_seq,
            }),
            cond: Condvar::new(),
            writer: Mutex::new(writer),
            compacting: AtomicBool::new(false),
            compaction: Mutex::new(()),
            reindexed: recovery.reindexed,
            recovery,
            opts,
            _lock: lock_file,
            #[cfg(test)]
            fail_writes: AtomicBool::new(false),
        });
        if let FsyncPolicy::Interval(every) = inner.opts.fsync {
            let weak = Arc::downgrade(&inner);
            std::thread::Builder::new()
                .name("neardup-wal-sync".into())
                .spawn(move || flush_every(weak, every))?;
        }
        Ok(WalStore { inner })
    }

    /// What opening the store found.
    pub fn recovery(&self) -> &Recovery {
        &self.inner.recovery
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Fsyncs of the log since the store was opened (group commit makes this smaller
    /// than the number of writes when writers are concurrent).
    pub fn log_fsyncs(&self) -> u64 {
        lock(&self.inner.writer).syncs
    }

    /// Bytes the store takes on disk (snapshot and segments).
    pub fn disk_bytes(&self) -> u64 {
        let st = lock(&self.inner.state);
        st.snapshot_bytes + st.log_bytes
    }
}

/// Writes a snapshot of `records` (order and where each is), reading each back.
fn write_snapshot(
    dir: &Path,
    fingerprint: Fingerprint,
    last_seq: u64,
    records: &[(u64, Held)],
) -> Result<(u64, Vec<u64>, Arc<File>), StoreError> {
    let orders: Vec<u64> = records.iter().map(|(o, _)| *o).collect();
    snapshot::write(dir, fingerprint, last_seq, &orders, |i| {
        records[i].1.payload()
    })
}

/// Points the live records just written to a snapshot at it, unless a later write
/// replaced them meanwhile.
fn relocate(live: &mut Live, records: &[(u64, Held)], offsets: &[u64], file: &Arc<File>) {
    for ((order, held), &offset) in records.iter().zip(offsets) {
        if let Some(current) = live.records.get_mut(order)
            && current.seq == held.seq
        {
            current.place = Place::File {
                file: file.clone(),
                offset,
                len: held.len() as u32,
            };
        }
    }
}

fn flush_every(weak: Weak<Inner>, every: Duration) {
    loop {
        std::thread::sleep(every);
        let Some(inner) = weak.upgrade() else { return };
        let synced = lock(&inner.writer).sync();
        if let Err(e) = synced {
            tracing::error!(error = %e, "periodic fsync of the WAL failed");
            lock(&inner.state).failed = Some(format!("fsync failed: {e}"));
        }
    }
}

/// Reads the snapshot and every segment of `dir`, cutting torn tails.
fn replay(dir: &Path, opts: &WalOptions) -> Result<Replay, StoreError> {
    let dir_name = || dir.display().to_string();
    let version_error = |found| StoreError::FormatVersion {
        dir: dir_name(),
        found,
        expected: FORMAT_VERSION,
    };
    let mut r = Replay {
        live: Live::default(),
        applied: 0,
        mismatch: None,
        rewrite: false,
        tail: None,
        segments: Vec::new(),
        snapshot_bytes: 0,
        snapshot_seq: 0,
        log_bytes: 0,
        recovery: Recovery::default(),
    };
    let mut located: Vec<(u64, u64, u32, Vec<u8>)> = Vec::new();
    let snap = snapshot::read(dir, |order, offset, payload| {
        let Some(key) = codec::decode_key(payload).filter(|k| k.op == Op::Put) else {
            return Err(StoreError::Corrupt(format!(
                "snapshot in {} holds an unreadable record (order {order})",
                dir_name()
            )));
        };
        located.push((
            order,
            offset,
            payload.len() as u32,
            key_of(&key.namespace, &key.name),
        ));
        Ok(())
    })?;
    if let Some(snap) = snap {
        if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&snap.header.version) {
            return Err(version_error(snap.header.version));
        }
        if snap.header.fingerprint != opts.fingerprint {
            r.mismatch = Some(snap.header.fingerprint);
        }
        r.recovery.snapshot_records = located.len();
        for (order, offset, len, key) in located {
            let held = Held {
                seq: snap.header.seq,
                place: Place::File {
                    file: snap.file.clone(),
                    offset,
                    len,
                },
            };
            r.live.put(key, order, held, len as u64);
        }
        r.applied = snap.header.seq;
        r.snapshot_seq = snap.header.seq;
        r.snapshot_bytes = snap.bytes;
    }

    let segments = list_segments(dir)?;
    let count = segments.len();
    for (i, (_, path)) in segments.iter().enumerate() {
        let is_last = i + 1 == count;
        let buf = fs::read(path)?;
        let header = match Header::decode(&buf, WAL_MAGIC) {
            Ok(h) => h,
            Err(e) if buf.len() <= HEADER_LEN || e == HeaderError::Short => {
                // Creation was cut short before any record could be written to it.
                tracing::warn!(
                    segment = %path.display(),
                    bytes = buf.len(),
                    "removing a WAL segment whose header was never completed"
                );
                fs::remove_file(path)?;
                sync_dir(dir)?;
                continue;
            }
            Err(e) => {
                return Err(StoreError::Corrupt(format!(
                    "WAL segment {} has a damaged header ({e:?}); move it away to start \
                     without the records it holds",
                    path.display()
                )));
            }
        };
        if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&header.version) {
            return Err(version_error(header.version));
        }
        if header.fingerprint != opts.fingerprint {
            r.mismatch = Some(header.fingerprint);
        }
        let file = Arc::new(OpenOptions::new().read(true).write(true).open(path)?);
        r.segments.push((header.seq, path.clone()));
        let mut offset = HEADER_LEN;
        let mut last_in_file = header.seq.saturating_sub(1);
        loop {
            match codec::read_frame(&buf, offset) {
                FrameRead::Frame { seq, payload, next } => {
                    last_in_file = last_in_file.max(seq);
                    if seq > r.applied {
                        if seq > r.applied + 1 {
                            let lost = seq - r.applied - 1;
                            tracing::warn!(
                                segment = %path.display(),
                                after = r.applied,
                                lost,
                                "WAL records are missing; they cannot be recovered"
                            );
                            r.recovery.lost_records += lost;
                            r.rewrite = true;
                        }
                        let place = Place::File {
                            file: file.clone(),
                            offset: offset as u64,
                            len: payload.len() as u32,
                        };
                        apply(&mut r, path, seq, payload, place);
                        r.applied = seq;
                    }
                    offset = next;
                }
                FrameRead::End => break,
                FrameRead::Truncated | FrameRead::Checksum => {
                    match codec::resync(&buf, offset, last_in_file, RESYNC_WINDOW) {
                        Some(good) => {
                            tracing::warn!(
                                segment = %path.display(),
                                offset,
                                bytes = good - offset,
                                after_seq = last_in_file,
                                "skipping a damaged WAL record (checksum mismatch); the \
                                 store will be rewritten without it"
                            );
                            r.recovery.skipped_bytes += (good - offset) as u64;
                            r.rewrite = true;
                            offset = good;
                        }
                        None => {
                            let cut = buf.len() - offset;
                            tracing::warn!(
                                segment = %path.display(),
                                offset,
                                bytes = cut,
                                last_good_seq = last_in_file,
                                "cutting a torn WAL tail back to the last good record"
                            );
                            r.recovery.truncated_bytes += cut as u64;
                            if is_last {
                                file.set_len(offset as u64)?;
                                file.sync_all()?;
                            } else {
                                r.rewrite = true;
                            }
                            break;
                        }
                    }
                }
            }
        }
        r.log_bytes += offset as u64;
        // Appends go to the last readable segment of this format (a later one may have
        // been dropped; one of an older format is left as it is).
        r.tail = (header.fingerprint == opts.fingerprint && header.version == FORMAT_VERSION).then(
            || Segment {
                file,
                first_seq: header.seq,
                bytes: offset as u64,
                dirty: false,
                last_sync: Instant::now(),
                syncs: 0,
                unsynced: 0,
                observer: None,
            },
        );
    }
    Ok(r)
}

fn apply(r: &mut Replay, path: &Path, seq: u64, payload: &[u8], place: Place) {
    let Some(key) = codec::decode_key(payload) else {
        tracing::warn!(
            segment = %path.display(),
            seq,
            "skipping an unreadable WAL record (checksum good, content not)"
        );
        r.rewrite = true;
        return;
    };
    let k = key_of(&key.namespace, &key.name);
    match key.op {
        Op::Put => {
            r.live
                .put(k, seq, Held { seq, place }, payload.len() as u64);
        }
        Op::Delete => {
            r.live.delete(&k);
        }
    }
    r.recovery.replayed += 1;
}

impl Inner {
    fn failpoint(&self) -> std::io::Result<()> {
        #[cfg(test)]
        if self.fail_writes.load(Ordering::Acquire) {
            return Err(std::io::Error::other("injected write failure"));
        }
        Ok(())
    }

    /// Logs one change and waits until it is durable. `apply` updates the live records
    /// under the same lock that assigns the sequence (so the two orders agree), says
    /// whether there is anything to log and, for a put, returns the record's load order.
    ///
    /// Returns whether the log has grown enough to be compacted.
    fn commit(
        &self,
        payload: &[u8],
        apply: impl FnOnce(&mut Live, u64) -> Option<Option<u64>>,
    ) -> Result<bool, StoreError> {
        let mut st = lock(&self.state);
        if let Some(e) = &st.failed {
            return Err(StoreError::Failed(e.clone()));
        }
        let seq = st.next_seq;
        let Some(order) = apply(&mut st.live, seq) else {
            return Ok(false);
        };
        st.next_seq += 1;
        let at = st.pending.len();
        if let Some(order) = order {
            st.pending_frames.push((order, seq, at));
        }
        codec::encode_frame(&mut st.pending, seq, payload);
        loop {
            if st.durable >= seq {
                return Ok(
                    st.log_bytes >= self.opts.compact_min_bytes && st.log_bytes >= st.live.bytes
                );
            }
            if let Some(e) = &st.failed {
                return Err(StoreError::Failed(e.clone()));
            }
            if st.leader {
                st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            st.leader = true;
            let batch = std::mem::take(&mut st.pending);
            let frames = std::mem::take(&mut st.pending_frames);
            let last = st.next_seq - 1;
            let records = last - st.durable;
            drop(st);
            let written = self.failpoint().and_then(|()| {
                let mut w = lock(&self.writer);
                let base = w.bytes;
                w.append(&batch, records, self.opts.fsync)
                    .map(|()| (w.file.clone(), base))
            });
            st = lock(&self.state);
            st.leader = false;
            match written {
                Ok((file, base)) => {
                    st.durable = last;
                    st.log_bytes += batch.len() as u64;
                    for &(order, seq, at) in &frames {
                        let len = frame_payload_len(&batch, at);
                        if let Some(held) = st.live.records.get_mut(&order)
                            && held.seq == seq
                        {
                            held.place = Place::File {
                                file: file.clone(),
                                offset: base + at as u64,
                                len,
                            };
                        }
                    }
                    if st.pending.is_empty() {
                        // Hand the allocation back for the next batch.
                        let mut batch = batch;
                        batch.clear();
                        st.pending = batch;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "writing the WAL failed; refusing further writes");
                    st.failed = Some(e.to_string());
                }
            }
            self.cond.notify_all();
        }
    }

    /// Snapshots the live records and deletes the segments the snapshot covers.
    fn compact(&self) -> Result<CompactionStats, StoreError> {
        let _one_at_a_time = lock(&self.compaction);
        // Become the only writer: flush what is queued, then start a new segment.
        let mut st = lock(&self.state);
        while st.leader {
            st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if let Some(e) = &st.failed {
            return Err(StoreError::Failed(e.clone()));
        }
        let last = st.next_seq - 1;
        if last == st.snapshot_seq && st.log_bytes <= HEADER_LEN as u64 {
            // Nothing was logged since the last snapshot.
            let bytes = st.snapshot_bytes + st.log_bytes;
            return Ok(CompactionStats {
                documents: st.live.records.len(),
                bytes_before: bytes,
                bytes_after: bytes,
            });
        }
        st.leader = true;
        let batch = std::mem::take(&mut st.pending);
        let frames = std::mem::take(&mut st.pending_frames);
        let bytes_before = st.snapshot_bytes + st.log_bytes + batch.len() as u64;
        let queued = last - st.durable;
        drop(st);

        let mut writer = lock(&self.writer);
        let base = writer.bytes;
        let flushed = writer
            .append(&batch, queued, FsyncPolicy::Never)
            .and_then(|()| writer.sync());
        let written_to = writer.file.clone();
        let rotated = match &flushed {
            // Nothing was logged since the segment was started: keep it.
            Ok(()) if writer.first_seq > last => Ok(()),
            Ok(()) => Segment::create(&self.dir, last + 1, self.opts.fingerprint).map(|mut s| {
                s.syncs = writer.syncs;
                s.observer = writer.observer.take();
                *writer = s;
            }),
            Err(_) => Ok(()),
        };
        drop(writer);

        let mut st = lock(&self.state);
        st.leader = false;
        match &flushed {
            Err(e) => st.failed = Some(e.to_string()),
            Ok(()) => {
                st.durable = last;
                st.log_bytes += batch.len() as u64;
                for &(order, seq, at) in &frames {
                    let len = frame_payload_len(&batch, at);
                    if let Some(held) = st.live.records.get_mut(&order)
                        && held.seq == seq
                    {
                        held.place = Place::File {
                            file: written_to.clone(),
                            offset: base + at as u64,
                            len,
                        };
                    }
                }
            }
        }
        let records: Vec<(u64, Held)> = st
            .live
            .records
            .iter()
            .filter(|(_, h)| h.seq <= last)
            .map(|(o, h)| (*o, h.clone()))
            .collect();
        self.cond.notify_all();
        drop(st);
        flushed?;
        rotated?;

        let (snapshot_bytes, offsets, file) =
            write_snapshot(&self.dir, self.opts.fingerprint, last, &records)?;
        relocate(&mut lock(&self.state).live, &records, &offsets, &file);
        for (first_seq, path) in list_segments(&self.dir)? {
            if first_seq <= last {
                fs::remove_file(path)?;
            }
        }
        sync_dir(&self.dir)?;

        // Only the current segment is left (locks are taken writer first, never both).
        let current = lock(&self.writer).bytes;
        let mut st = lock(&self.state);
        st.log_bytes = current;
        st.snapshot_bytes = snapshot_bytes;
        st.snapshot_seq = last;
        let stats = CompactionStats {
            documents: records.len(),
            bytes_before,
            bytes_after: st.snapshot_bytes + st.log_bytes,
        };
        drop(st);
        tracing::info!(
            documents = stats.documents,
            bytes_before = stats.bytes_before,
            bytes_after = stats.bytes_after,
            last_seq = last,
            "compacted the WAL into a snapshot"
        );
        Ok(stats)
    }
}

/// The payload length of the frame at `at` of an encoded batch.
fn frame_payload_len(batch: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([batch[at], batch[at + 1], batch[at + 2], batch[at + 3]])
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = lock(&self.writer).sync() {
            tracing::error!(error = %e, "final fsync of the WAL failed");
        }
    }
}

impl WalStore {
    fn maybe_compact(&self, due: bool) {
        if !due || self.inner.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = self.inner.clone();
        let spawned = std::thread::Builder::new()
            .name("neardup-compact".into())
            .spawn(move || {
                if let Err(e) = inner.compact() {
                    tracing::warn!(error = %e, "background compaction failed; will retry later");
                }
                inner.compacting.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start a compaction thread");
            self.inner.compacting.store(false, Ordering::Release);
        }
    }

    fn held(&self, namespace: &str, name: &str) -> Option<Held> {
        lock(&self.inner.state).live.held(&key_of(namespace, name))
    }
}

impl Store for WalStore {
    fn put(&self, record: &StoredRecord) -> Result<(), StoreError> {
        let payload = codec::encode_put(record);
        if payload.len() > codec::MAX_PAYLOAD {
            return Err(StoreError::TooLarge(payload.len()));
        }
        let key = key_of(&record.document.namespace, &record.document.name);
        let due = self.inner.commit(&payload, |live, seq| {
            let held = Held {
                seq,
                place: Place::Memory(payload.clone()),
            };
            Some(Some(live.put(key, seq, held, payload.len() as u64)))
        })?;
        self.maybe_compact(due);
        Ok(())
    }

    fn delete(&self, namespace: &str, name: &str) -> Result<(), StoreError> {
        let payload = codec::encode_delete(namespace, name);
        let key = key_of(namespace, name);
        let due = self
            .inner
            .commit(&payload, |live, _| live.delete(&key).then_some(None))?;
        self.maybe_compact(due);
        Ok(())
    }

    fn load(&self) -> Result<Vec<StoredDocument>, StoreError> {
        let held: Vec<Held> = lock(&self.inner.state)
            .live
            .records
            .values()
            .cloned()
            .collect();
        let reindexed = self.inner.reindexed;
        held.par_iter()
            .map(|h| {
                let payload = h.payload()?;
                let mut d = codec::decode_document(&payload).ok_or_else(|| {
                    StoreError::Corrupt("a stored record no longer decodes".to_string())
                })?;
                if reindexed {
                    // Written under other settings: the analysis does not fit this index.
                    d.records = None;
                }
                Ok(d)
            })
            .collect()
    }

    fn text(&self, namespace: &str, name: &str) -> Result<Option<String>, StoreError> {
        let Some(held) = self.held(namespace, name) else {
            return Ok(None);
        };
        let payload = held.payload()?;
        codec::decode_text(&payload).map(Some).ok_or_else(|| {
            StoreError::Corrupt(format!("the stored text of {name:?} no longer decodes"))
        })
    }

    fn compact(&self) -> Result<CompactionStats, StoreError> {
        self.inner.compact()
    }

    fn sync(&self) -> Result<(), StoreError> {
        lock(&self.inner.writer).sync()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{loaded, record};

    fn opts() -> WalOptions {
        WalOptions::new(&Settings::default())
    }

    fn open(dir: &Path) -> WalStore {
        WalStore::open(dir, opts()).unwrap()
    }

    fn texts(store: &WalStore) -> Vec<String> {
        loaded(store).into_iter().map(|r| r.text).collect()
    }

    /// Writes `n` documents `d0..` with texts `text-0..` and closes the store.
    fn write_docs(dir: &Path, n: usize) -> Vec<String> {
        let store = open(dir);
        for i in 0..n {
            store
                .put(&record("ns", &format!("d{i}"), &format!("text-{i}")))
                .unwrap();
        }
        texts(&store)
    }

    fn last_segment(dir: &Path) -> PathBuf {
        list_segments(dir).unwrap().pop().unwrap().1
    }

    /// Offsets of the frames of a segment.
    fn frame_offsets(path: &Path) -> Vec<usize> {
        let buf = fs::read(path).unwrap();
        let mut offsets = Vec::new();
        let mut offset = HEADER_LEN;
        while let FrameRead::Frame { next, .. } = codec::read_frame(&buf, offset) {
            offsets.push(offset);
            offset = next;
        }
        offsets
    }

    #[test]
    fn reopen_recovers_puts_replacements_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            store.put(&record("ns", "a", "a1")).unwrap();
            store.put(&record("ns", "b", "b1")).unwrap();
            store.put(&record("ns", "c", "c1")).unwrap();
            store.put(&record("ns", "a", "a2")).unwrap();
            store.delete("ns", "b").unwrap();
        }
        let store = open(dir.path());
        assert_eq!(texts(&store), ["a2", "c1"]);
        let r = store.recovery();
        assert_eq!((r.documents, r.replayed, r.last_seq), (2, 5, 5));
        assert_eq!(
            (r.truncated_bytes, r.skipped_bytes, r.lost_records),
            (0, 0, 0)
        );
        // Sequence numbers carry on: a write after reopening survives another reopen.
        store.put(&record("ns", "d", "d1")).unwrap();
        drop(store);
        let store = open(dir.path());
        assert_eq!(texts(&store), ["a2", "c1", "d1"]);
        assert_eq!(store.recovery().last_seq, 6);
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _store = open(dir.path());
        let err = WalStore::open(dir.path(), opts()).unwrap_err();
        assert!(matches!(err, StoreError::Locked(_)), "{err}");
        assert!(
            err.to_string()
                .contains("in use by another neardup process")
        );
    }

    #[test]
    fn a_torn_tail_is_cut_back_at_every_possible_length() {
        let dir = tempfile::tempdir().unwrap();
        write_docs(dir.path(), 3);
        let path = last_segment(dir.path());
        let full = fs::read(&path).unwrap();
        let last = *frame_offsets(&path).last().unwrap();
        for cut in last + 1..full.len() {
            fs::write(&path, &full[..cut]).unwrap();
            let store = open(dir.path());
            assert_eq!(texts(&store), ["text-0", "text-1"], "cut at {cut}");
            assert_eq!(store.recovery().truncated_bytes, (cut - last) as u64);
            drop(store);
            assert_eq!(fs::metadata(&path).unwrap().len(), last as u64);
        }
        // After the cut, new records append cleanly behind the last good one.
        let store = open(dir.path());
        assert_eq!(store.recovery().truncated_bytes, 0);
        store.put(&record("ns", "d9", "text-9")).unwrap();
        drop(store);
        assert_eq!(texts(&open(dir.path())), ["text-0", "text-1", "text-9"]);
    }

    #[test]
    fn a_corrupted_last_record_is_cut_and_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        write_docs(dir.path(), 4);
        let path = last_segment(dir.path());
        let mut buf = fs::read(&path).unwrap();
        let last = *frame_offsets(&path).last().unwrap();
        buf[last + 20] ^= 0x40;
        fs::write(&path, &buf).unwrap();
        let store = open(dir.path());
        assert_eq!(texts(&store), ["text-0", "text-1", "text-2"]);
        assert!(store.recovery().truncated_bytes > 0);
        drop(store);
        let store = open(dir.path());
        assert_eq!(store.recovery().truncated_bytes, 0);
        assert_eq!(texts(&store), ["text-0", "text-1", "text-2"]);
    }

    #[test]
    fn a_corrupted_record_in_the_middle_is_skipped_and_the_rest_kept() {
        for damage_length in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            write_docs(dir.path(), 6);
            let path = last_segment(dir.path());
            let mut buf = fs::read(&path).unwrap();
            let third = frame_offsets(&path)[2];
            if damage_length {
                buf[third + 2] = 0x7f; // the frame now claims to be megabytes long
            } else {
                buf[third + 17] ^= 0x01; // a flipped bit in the payload
            }
            fs::write(&path, &buf).unwrap();
            let store = open(dir.path());
            assert_eq!(
                texts(&store),
                ["text-0", "text-1", "text-3", "text-4", "text-5"],
                "damaged length: {damage_length}"
            );
            let r = store.recovery().clone();
            assert!(r.skipped_bytes > 0);
            assert_eq!(r.lost_records, 1);
            assert_eq!(r.truncated_bytes, 0);
            drop(store);
            // The store was rewritten without the damage: the next open is clean.
            let store = open(dir.path());
            assert_eq!(store.recovery().skipped_bytes, 0);
            assert_eq!(store.recovery().lost_records, 0);
            assert_eq!(texts(&store).len(), 5);
        }
    }

    #[test]
    fn other_engine_settings_are_refused_unless_reindexing() {
        let dir = tempfile::tempdir().unwrap();
        write_docs(dir.path(), 2);
        let other = Settings {
            num_perm: 64,
            ..Settings::default()
        };
        let err = WalStore::open(dir.path(), WalOptions::new(&other)).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, StoreError::SettingsMismatch { .. }),
            "{message}"
        );
        assert!(message.contains("num_perm=128"), "{message}");
        assert!(message.contains("num_perm=64"), "{message}");
        assert!(message.contains("--reindex"), "{message}");
        // Other seeds and shingles are just as different.
        for other in [
            Settings {
                seed: 7,
                ..Settings::default()
            },
            Settings {
                shingle: 3,
                ..Settings::default()
            },
        ] {
            assert!(matches!(
                WalStore::open(dir.path(), WalOptions::new(&other)),
                Err(StoreError::SettingsMismatch { .. })
            ));
        }
        // Thresholds only change queries, not the index: accepted.
        let looser = Settings {
            threshold: 0.5,
            ..Settings::default()
        };
        drop(WalStore::open(dir.path(), WalOptions::new(&looser)).unwrap());

        let reindex = WalOptions {
            reindex: true,
            ..WalOptions::new(&other)
        };
        let store = WalStore::open(dir.path(), reindex).unwrap();
        assert!(store.recovery().reindexed);
        assert_eq!(texts(&store), ["text-0", "text-1"]);
        drop(store);
        // Now the directory belongs to the new settings.
        let store = WalStore::open(dir.path(), WalOptions::new(&other)).unwrap();
        assert!(!store.recovery().reindexed);
        drop(store);
        assert!(matches!(
            WalStore::open(dir.path(), opts()),
            Err(StoreError::SettingsMismatch { .. })
        ));
    }

    #[test]
    fn another_format_version_is_refused_even_when_reindexing() {
        let dir = tempfile::tempdir().unwrap();
        write_docs(dir.path(), 1);
        let path = last_segment(dir.path());
        let mut buf = fs::read(&path).unwrap();
        let mut header = Header::decode(&buf, WAL_MAGIC).unwrap();
        header.version = FORMAT_VERSION + 1;
        buf[..HEADER_LEN].copy_from_slice(&header.encode());
        fs::write(&path, &buf).unwrap();
        for reindex in [false, true] {
            let err = WalStore::open(dir.path(), WalOptions { reindex, ..opts() }).unwrap_err();
            assert!(
                matches!(
                    err,
                    StoreError::FormatVersion {
                        found: 3,
                        expected: 2,
                        ..
                    }
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn a_segment_with_an_unfinished_header_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        write_docs(dir.path(), 2);
        let stray = Segment::path(dir.path(), 3);
        fs::write(&stray, [b'N', b'D']).unwrap();
        let store = open(dir.path());
        assert_eq!(texts(&store), ["text-0", "text-1"]);
        assert!(!stray.exists());
        assert_eq!(list_segments(dir.path()).unwrap().len(), 1);
        store.put(&record("ns", "d2", "text-2")).unwrap();
        drop(store);
        assert_eq!(texts(&open(dir.path())), ["text-0", "text-1", "text-2"]);
    }

    #[test]
    fn compaction_shrinks_the_directory_and_keeps_live_data() {
        let dir = tempfile::tempdir().unwrap();
        let options = WalOptions {
            compact_min_bytes: u64::MAX,
            ..opts()
        };
        let store = WalStore::open(dir.path(), options.clone()).unwrap();
        let body = "A paragraph that is replaced again and again. ".repeat(20);
        for round in 0..10 {
            for i in 0..50 {
                let text = format!("{round} {i} {body}");
                store.put(&record("ns", &format!("d{i}"), &text)).unwrap();
            }
        }
        for i in 0..25 {
            store.delete("ns", &format!("d{i}")).unwrap();
        }
        let expected = loaded(&store);
        let before = store.disk_bytes();
        let stats = store.compact().unwrap();
        assert_eq!(stats.documents, 25);
        assert_eq!(stats.bytes_before, before);
        assert_eq!(stats.bytes_after, store.disk_bytes());
        assert!(
            stats.bytes_after * 10 < stats.bytes_before,
            "{} -> {}",
            stats.bytes_before,
            stats.bytes_after
        );
        let on_disk: u64 = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert_eq!(on_disk, stats.bytes_after);
        assert_eq!(list_segments(dir.path()).unwrap().len(), 1);
        store.put(&record("ns", "new", "after compaction")).unwrap();
        drop(store);
        let store = WalStore::open(dir.path(), options).unwrap();
        let mut expected = expected;
        expected.push(record("ns", "new", "after compaction"));
        assert_eq!(loaded(&store), expected);
        assert_eq!(store.recovery().snapshot_records, 25);
        assert_eq!(store.recovery().replayed, 1);
    }

    #[test]
    fn replaying_segments_a_snapshot_already_covers_changes_nothing() {
        // As after a crash between the snapshot's rename and the segments' removal.
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for i in 0..5 {
            store.put(&record("ns", &format!("d{i}"), "v1")).unwrap();
        }
        store.delete("ns", "d0").unwrap();
        let old = last_segment(dir.path());
        let old_bytes = fs::read(&old).unwrap();
        store.compact().unwrap();
        store.put(&record("ns", "d1", "v2")).unwrap();
        drop(store);
        fs::write(&old, &old_bytes).unwrap();
        let store = open(dir.path());
        let loaded = loaded(&store);
        assert_eq!(
            loaded
                .iter()
                .map(|r| (r.document.name.as_str(), r.text.as_str()))
                .collect::<Vec<_>>(),
            [("d1", "v2"), ("d2", "v1"), ("d3", "v1"), ("d4", "v1")]
        );
        assert_eq!(store.recovery().lost_records, 0);
    }

    #[test]
    fn a_compaction_cut_short_leaves_a_store_that_opens_whole() {
        // A crash while the snapshot was being written leaves `snapshot.tmp` behind; a
        // crash before the first segment's records leaves a log that starts later.
        let dir = tempfile::tempdir().unwrap();
        write_docs(dir.path(), 3);
        fs::write(dir.path().join(snapshot::SNAPSHOT_TMP), b"half a snapshot").unwrap();
        let store = open(dir.path());
        assert_eq!(texts(&store), ["text-0", "text-1", "text-2"]);
        assert!(!dir.path().join(snapshot::SNAPSHOT_TMP).exists());
        drop(store);
        // A lost first segment is reported, not ignored.
        let first = last_segment(dir.path());
        let mut buf = fs::read(&first).unwrap();
        let second = frame_offsets(&first)[1];
        buf.drain(HEADER_LEN..second);
        fs::write(&first, &buf).unwrap();
        let store = open(dir.path());
        assert_eq!(texts(&store), ["text-1", "text-2"]);
        assert_eq!(store.recovery().lost_records, 1);
    }

    #[test]
    fn a_failed_write_is_not_acknowledged_and_stops_later_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.put(&record("ns", "a", "durable")).unwrap();
        store.inner.fail_writes.store(true, Ordering::Release);
        let err = store.put(&record("ns", "b", "lost")).unwrap_err();
        assert!(
            matches!(err, StoreError::Failed(ref m) if m.contains("injected")),
            "{err}"
        );
        // Even once the disk is back, nothing more is acknowledged on top of a log whose
        // end is unknown; compaction is refused too.
        store.inner.fail_writes.store(false, Ordering::Release);
        assert!(matches!(
            store.delete("ns", "a"),
            Err(StoreError::Failed(_))
        ));
        assert!(matches!(store.compact(), Err(StoreError::Failed(_))));
        drop(store);
        assert_eq!(texts(&open(dir.path())), ["durable"]);
    }

    #[test]
    fn a_damaged_snapshot_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.put(&record("ns", "a", "text")).unwrap();
        store.compact().unwrap();
        drop(store);
        let path = dir.path().join(snapshot::SNAPSHOT);
        let mut buf = fs::read(&path).unwrap();
        let n = buf.len();
        buf[n - 2] ^= 0xff;
        fs::write(&path, &buf).unwrap();
        let err = WalStore::open(dir.path(), opts()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        assert!(err.to_string().contains("snapshot"), "{err}");
    }

    #[test]
    fn background_compaction_bounds_the_size_of_a_busy_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = WalStore::open(
            dir.path(),
            WalOptions {
                compact_min_bytes: 64 << 10,
                ..opts()
            },
        )
        .unwrap();
        let body = "x".repeat(100);
        for round in 0..200 {
            for i in 0..10 {
                store
                    .put(&record("ns", &format!("d{i}"), &format!("{round}{body}")))
                    .unwrap();
            }
        }
        // Written: ~2000 records of ~150 bytes = ~300 KiB; live: 10 records.
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.inner.compacting.load(Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            store.disk_bytes() < (64 << 10) + 4096,
            "{}",
            store.disk_bytes()
        );
        assert!(dir.path().join(snapshot::SNAPSHOT).exists());
        let loaded = loaded(&store);
        assert_eq!(loaded.len(), 10);
        assert!(loaded.iter().all(|r| r.text.starts_with("199")));
    }

    #[test]
    fn concurrent_writers_share_fsyncs_and_all_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(dir.path()));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        let name = format!("t{t}-{i}");
                        store.put(&record("ns", &name, &name)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let fsyncs = store.log_fsyncs();
        assert!(fsyncs < 800, "{fsyncs} fsyncs for 800 writes");
        drop(store);
        let store = open(dir.path());
        let loaded = loaded(&store);
        assert_eq!(loaded.len(), 800);
        assert!(loaded.iter().all(|r| r.text == r.document.name));
    }

    #[test]
    fn fsync_policies_parse_and_interval_stores_recover() {
        assert_eq!("always".parse::<FsyncPolicy>(), Ok(FsyncPolicy::Always));
        assert_eq!("never".parse::<FsyncPolicy>(), Ok(FsyncPolicy::Never));
        assert_eq!(
            "250ms".parse::<FsyncPolicy>(),
            Ok(FsyncPolicy::Interval(Duration::from_millis(250)))
        );
        assert!("sometimes".parse::<FsyncPolicy>().is_err());
        assert!("0ms".parse::<FsyncPolicy>().is_err());
        assert_eq!(
            FsyncPolicy::Interval(Duration::from_millis(5)).to_string(),
            "5ms"
        );

        // An interval longer than the test: no write waits for an fsync.
        for policy in [
            FsyncPolicy::Interval(Duration::from_secs(60)),
            FsyncPolicy::Never,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let options = WalOptions {
                fsync: policy,
                ..opts()
            };
            let store = WalStore::open(dir.path(), options.clone()).unwrap();
            store.put(&record("ns", "a", "kept")).unwrap();
            assert_eq!(store.log_fsyncs(), 0, "{policy}");
            std::thread::sleep(Duration::from_millis(30));
            drop(store);
            let store = WalStore::open(dir.path(), options).unwrap();
            assert_eq!(texts(&store), ["kept"]);
        }
    }
}
