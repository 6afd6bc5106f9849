//! [`WalStore`]: a write-ahead log with group commit and snapshots, in one data directory.
//!
//! Layout of the directory:
//! - `LOCK`: held with an exclusive file lock while a process has the store open.
//! - `snapshot`: every live record as of one log sequence (see `snapshot`).
//! - `wal-<first seq>.log`: segments of the log, each a header (format version, engine
//!   [`Fingerprint`], first sequence) followed by CRC-checked frames (see `codec`).
//! - `damaged/`: segments a repair cut away, kept for inspection (never read again).
//!
//! Invariants:
//! - Every change gets the next sequence number and is appended to the current segment;
//!   `put`/`delete` return only once their frame is written and, under
//!   [`FsyncPolicy::Always`], fsynced. Writers that arrive while a write is under way
//!   queue their frames in a shared buffer; the next leader writes and fsyncs them all at
//!   once (group commit), so concurrent writers share fsyncs.
//! - Replay applies a frame only if its sequence is above the last one applied, so
//!   replaying a segment that a snapshot already covers changes nothing.
//! - On open, a torn or damaged frame is found by its CRC. A bad frame that is the last
//!   thing in the last segment is a torn tail (a crash mid-append): the segment is cut
//!   back to the last good frame, with a `tracing::warn!`, and the store opens. Damage
//!   anywhere else (good records follow it, records are missing, a record does not
//!   decode, a segment header is damaged) is never skipped: skipping a deletion would
//!   bring a document back, a state that never existed. The store refuses to open with
//!   [`StoreError::Damaged`], naming the segment, the offset and every record after it;
//!   opened with [`WalOptions::repair`], it keeps the store as of the last good record
//!   (a snapshot of it), moves the damaged segment and those after it to `damaged/` for
//!   inspection, and reports what it dropped in [`Recovery::repaired`]. Damage to records
//!   that the snapshot already covers (an old segment left by a compaction cut short)
//!   loses nothing and is only logged.
//! - Compaction writes a snapshot of the live records (temp file, fsync, rename, fsync of
//!   the directory) and only then deletes the segments it covers. It runs in the
//!   background once the log outgrows both [`WalOptions::compact_min_bytes`] and the
//!   live data, so a store's size stays proportional to its live documents.
//! - Any failed write poisons the store: later writes fail instead of being acknowledged
//!   on top of a log whose end is unknown.
//!
//! - Namespaces are logged too: a creation, and a deletion that removes the namespace and
//!   every document in it in one record; snapshots list the namespaces that exist.
//! - Background threads (the periodic fsync, a compaction) never outlive the store:
//!   dropping it stops and joins them, so the directory lock is free once the drop returns.
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
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::TryLockError;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
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
/// Where a repair moves the segments it cuts away.
const DAMAGED_DIR: &str = "damaged";
/// Changes after a damage named in the error message (the [`Damage`] holds them all).
const NAMED_CHANGES: usize = 20;
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
    /// Open a log damaged in the middle by cutting it at the first damage (see the module
    /// docs) instead of refusing to open.
    pub repair: bool,
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
            repair: false,
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
    /// Bytes cut from the torn tail of the last segment.
    pub truncated_bytes: u64,
    /// Bytes of damaged records that the snapshot already covered (nothing was lost).
    pub covered_bytes: u64,
    /// The damage a repair cut the log at, and what it dropped.
    pub repaired: Option<Damage>,
    /// Whether data written under other settings was taken over (`reindex`).
    pub reindexed: bool,
    /// Time it took to open.
    pub elapsed: Duration,
}

/// What a logged change did, as a damage report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A document was stored or replaced.
    Put,
    /// A document was deleted.
    Delete,
    /// A namespace was created.
    CreateNamespace,
    /// A namespace and its documents were deleted.
    DeleteNamespace,
}

/// One logged change, read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its sequence number.
    pub seq: u64,
    /// What it did.
    pub kind: ChangeKind,
    /// The namespace of the document, or the namespace created or deleted.
    pub namespace: String,
    /// The document's name (empty for a namespace change).
    pub name: String,
}

impl Change {
    fn of(seq: u64, key: codec::PayloadKey) -> Change {
        Change {
            seq,
            kind: match key.op {
                Op::Put => ChangeKind::Put,
                Op::Delete => ChangeKind::Delete,
                Op::CreateNamespace => ChangeKind::CreateNamespace,
                Op::DeleteNamespace => ChangeKind::DeleteNamespace,
            },
            namespace: key.namespace,
            name: key.name,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (seq, ns, name) = (self.seq, &self.namespace, &self.name);
        match self.kind {
            ChangeKind::Put => write!(f, "#{seq} put {name:?} in namespace {ns:?}"),
            ChangeKind::Delete => write!(f, "#{seq} delete {name:?} in namespace {ns:?}"),
            ChangeKind::CreateNamespace => write!(f, "#{seq} create namespace {ns:?}"),
            ChangeKind::DeleteNamespace => write!(f, "#{seq} delete namespace {ns:?}"),
        }
    }
}

/// How the first bad record of a log is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamageKind {
    /// Its checksum does not match.
    Checksum,
    /// It claims more bytes than there are before the next good record.
    Length,
    /// Its checksum matches but its content does not decode.
    Unreadable,
    /// Records are missing: sequence numbers jump from `after` to `next`.
    Missing {
        /// The last sequence before the gap.
        after: u64,
        /// The first sequence after it.
        next: u64,
    },
    /// A segment's header is damaged.
    Header,
}

impl fmt::Display for DamageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DamageKind::Checksum => f.write_str("a record fails its checksum"),
            DamageKind::Length => f.write_str("a record has a damaged length"),
            DamageKind::Unreadable => f.write_str("a record does not decode"),
            DamageKind::Missing { after, next } => write!(
                f,
                "records {}..={} are missing",
                after + 1,
                next.saturating_sub(1)
            ),
            DamageKind::Header => f.write_str("the segment header is damaged"),
        }
    }
}

/// The first damage in the middle of a log: where it is and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The segment it is in.
    pub segment: PathBuf,
    /// Its byte offset in that segment.
    pub offset: u64,
    /// What is wrong there.
    pub kind: DamageKind,
    /// The last sequence applied before it: a repair keeps the store as of this one.
    pub last_good_seq: u64,
    /// What the damaged record itself seems to have been (its key read despite the bad
    /// checksum, so not to be trusted).
    pub suspect: Option<Change>,
    /// The good records after the damage, in log order: what a repair drops.
    pub after: Vec<Change>,
    /// Bytes of the log from the damage to its end.
    pub bytes: u64,
    /// The segments from the damaged one to the last (a repair moves them to `damaged/`).
    pub segments: Vec<PathBuf>,
}

impl Damage {
    /// The documents (namespace, name) whose state the damage leaves unknown: those the
    /// dropped records name (a namespace change names the namespace, with no document),
    /// sorted, each once. The damaged record itself may have concerned any document.
    pub fn documents(&self) -> Vec<(String, String)> {
        let set: BTreeSet<(String, String)> = self
            .suspect
            .iter()
            .chain(&self.after)
            .map(|c| (c.namespace.clone(), c.name.clone()))
            .collect();
        set.into_iter().collect()
    }

    /// One line per record dropped, at most `limit`, then how many more.
    pub fn describe_dropped(&self, limit: usize) -> String {
        let mut out = String::new();
        if let Some(s) = &self.suspect {
            out.push_str(&format!("\n  the damaged record itself, probably: {s}"));
        }
        for c in self.after.iter().take(limit) {
            out.push_str(&format!("\n  {c}"));
        }
        if self.after.len() > limit {
            out.push_str(&format!("\n  … and {} more", self.after.len() - limit));
        }
        out
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WAL segment {} is damaged at offset {}: {}, after sequence {}, with {} good \
             records after it. Skipping it could bring back a deleted document, so the store \
             does not open. The records after the damage, which a repair drops:{}\n\
             If the machine crashed or lost power, those records were probably never \
             acknowledged. Start with --repair to cut the log there, keeping every change up \
             to sequence {} (the cut segments are kept in {}/ for inspection); or restore the \
             data directory from a backup.",
            self.segment.display(),
            self.offset,
            self.kind,
            self.last_good_seq,
            self.after.len(),
            if self.after.is_empty() && self.suspect.is_none() {
                "\n  (none)".to_string()
            } else {
                self.describe_dropped(NAMED_CHANGES)
            },
            self.last_good_seq,
            DAMAGED_DIR,
        )
    }
}

/// A store in a data directory: see the module docs.
#[derive(Debug)]
pub struct WalStore {
    inner: Arc<Inner>,
    /// The periodic fsync thread, stopped and joined on drop.
    flusher: Option<(Arc<Stop>, JoinHandle<()>)>,
    /// The last background compaction, joined on drop.
    compactor: Mutex<Option<JoinHandle<()>>>,
}

/// Tells the periodic fsync thread to stop.
#[derive(Debug, Default)]
struct Stop {
    stopped: Mutex<bool>,
    cond: Condvar,
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
    /// The record's payload, read back (and checked) from its file if need be. A frame
    /// that no longer passes its checksum is [`StoreError::DataLoss`]; a failed read is
    /// I/O.
    fn payload(&self) -> Result<Arc<[u8]>, StoreError> {
        match &self.place {
            Place::Memory(p) => Ok(p.clone()),
            Place::File { file, offset, len } => {
                let mut buf = vec![0u8; FRAME_HEADER + *len as usize];
                file.read_exact_at(&mut buf, *offset)?;
                match codec::read_frame(&buf, 0) {
                    FrameRead::Frame { seq, payload, .. } if seq <= self.seq => Ok(payload.into()),
                    _ => Err(StoreError::DataLoss(format!(
                        "the record {} no longer reads back whole from disk",
                        self.location()
                    ))),
                }
            }
        }
    }

    /// Where the record is, for messages: its file (by name, not path: messages reach
    /// clients), the offset of its frame and its sequence (for a record of the snapshot,
    /// the snapshot's).
    fn location(&self) -> String {
        match &self.place {
            Place::Memory(_) => format!("of sequence {}, not yet written", self.seq),
            Place::File { file, offset, .. } => {
                let name = file
                    .path()
                    .file_name()
                    .map_or_else(|| "?".into(), |n| n.to_string_lossy());
                format!("in {name} at offset {offset} (sequence {})", self.seq)
            }
        }
    }
}

/// The live records: where each is, in load order, and where each key sits; and the
/// namespaces that exist.
#[derive(Debug, Default)]
struct Live {
    order: HashMap<Vec<u8>, u64>,
    records: BTreeMap<u64, Held>,
    bytes: u64,
    namespaces: BTreeSet<String>,
}

impl Live {
    /// Records `held` (of `len` payload bytes) under `key`, a key of `namespace`; returns
    /// its load order.
    fn put(&mut self, namespace: &str, key: Vec<u8>, seq: u64, held: Held, len: u64) -> u64 {
        if !self.namespaces.contains(namespace) {
            self.namespaces.insert(namespace.to_string());
        }
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

    /// Removes a namespace and its documents (a scan of every key: namespaces are
    /// deleted rarely); `None` if there was no such namespace.
    fn delete_namespace(&mut self, namespace: &str) -> Option<usize> {
        let existed = self.namespaces.remove(namespace);
        let prefix = key_of(namespace, "");
        let keys: Vec<Vec<u8>> = self
            .order
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for key in &keys {
            self.delete(key);
        }
        (existed || !keys.is_empty()).then_some(keys.len())
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
    /// [`StoreError::Corrupt`] if the snapshot is damaged, and [`StoreError::Damaged`] if
    /// the log is damaged anywhere but in a torn tail (unless `opts.repair`; see the
    /// module docs). A torn tail is cut with a warning.
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
                let namespaces: Vec<String> = replay.live.namespaces.iter().cloned().collect();
                let (bytes, offsets, file) = write_snapshot(
                    &dir,
                    opts.fingerprint,
                    replay.applied,
                    &namespaces,
                    &records,
                )?;
                replay.snapshot_bytes = bytes;
                replay.snapshot_seq = replay.applied;
                relocate(&mut replay.live, &records, &offsets, &file);
                replay.tail = None;
                // Only once the snapshot is durable: segments a repair cut away are
                // moved aside, the others (all covered by the snapshot) removed.
                let cut: &[PathBuf] = replay
                    .recovery
                    .repaired
                    .as_ref()
                    .map_or(&[], |d| &d.segments);
                if !cut.is_empty() {
                    move_aside(&dir, cut)?;
                }
                for (_, path) in &replay.segments {
                    if !cut.contains(path) {
                        fs::remove_file(path)?;
                    }
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
        let flusher = match inner.opts.fsync {
            FsyncPolicy::Interval(every) => {
                let weak = Arc::downgrade(&inner);
                let stop = Arc::new(Stop::default());
                let stopped = stop.clone();
                let thread = std::thread::Builder::new()
                    .name("neardup-wal-sync".into())
                    .spawn(move || flush_every(weak, every, &stopped))?;
                Some((stop, thread))
            }
            FsyncPolicy::Always | FsyncPolicy::Never => None,
        };
        Ok(WalStore {
            inner,
            flusher,
            compactor: Mutex::new(None),
        })
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

/// Moves segments a repair cut away into `damaged/`, under names that say when.
fn move_aside(dir: &Path, segments: &[PathBuf]) -> Result<(), StoreError> {
    let aside = dir.join(DAMAGED_DIR);
    fs::create_dir_all(&aside)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    for path in segments {
        let name = path
            .file_name()
            .map_or_else(|| "segment".into(), |n| n.to_string_lossy().into_owned());
        fs::rename(path, aside.join(format!("{stamp}-{name}")))?;
    }
    sync_dir(&aside)?;
    Ok(())
}

/// Writes a snapshot of `namespaces` and `records` (order and where each is), reading
/// each record back. Returns the offsets of the records' frames (not the namespaces').
fn write_snapshot(
    dir: &Path,
    fingerprint: Fingerprint,
    last_seq: u64,
    namespaces: &[String],
    records: &[(u64, Held)],
) -> Result<(u64, Vec<u64>, Arc<File>), StoreError> {
    // Namespaces first, under order 0 (no record has it: sequences start at 1).
    let orders: Vec<u64> = namespaces
        .iter()
        .map(|_| 0)
        .chain(records.iter().map(|(o, _)| *o))
        .collect();
    let n = namespaces.len();
    let (bytes, mut offsets, file) = snapshot::write(dir, fingerprint, last_seq, &orders, |i| {
        match i.checked_sub(n) {
            None => Ok(codec::encode_namespace(&namespaces[i], false).into()),
            Some(r) => records[r].1.payload(),
        }
    })?;
    offsets.drain(..n);
    Ok((bytes, offsets, file))
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

/// Fsyncs the log every `every` until the store is dropped (`stop`). It holds the store
/// only while it syncs, and the store's drop joins it, so it never outlives the store.
fn flush_every(weak: Weak<Inner>, every: Duration, stop: &Stop) {
    let mut stopped = lock(&stop.stopped);
    loop {
        stopped = stop
            .cond
            .wait_timeout_while(stopped, every, |s| !*s)
            .unwrap_or_else(|e| e.into_inner())
            .0;
        if *stopped {
            return;
        }
        let Some(inner) = weak.upgrade() else { return };
        let synced = lock(&inner.writer).sync();
        if let Err(e) = synced {
            tracing::error!(error = %e, "periodic fsync of the WAL failed");
            lock(&inner.state).failed = Some(format!("fsync failed: {e}"));
        }
    }
}

/// The sequence of the frame at `offset` of `buf` (which must hold a frame header).
fn seq_at(buf: &[u8], offset: usize) -> u64 {
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&buf[offset + 8..offset + 16]);
    u64::from_le_bytes(seq)
}

/// The good records of `buf` from `offset` on whose sequence is above `after`, looking
/// past damaged bytes for the next good frame: what a damage report names.
fn changes_from(buf: &[u8], mut offset: usize, after: u64) -> Vec<Change> {
    let mut out = Vec::new();
    let mut last = after;
    loop {
        match codec::read_frame(buf, offset) {
            FrameRead::Frame { seq, payload, next } => {
                if seq > after
                    && let Some(key) = codec::decode_key(payload)
                {
                    out.push(Change::of(seq, key));
                }
                last = last.max(seq);
                offset = next;
            }
            FrameRead::End => return out,
            FrameRead::Truncated | FrameRead::Checksum => {
                match codec::resync(buf, offset, last, RESYNC_WINDOW) {
                    Some(good) => offset = good,
                    None => return out,
                }
            }
        }
    }
}

/// The damage at `offset` of the segment `path` (read into `buf`), found after
/// sequence `applied`.
fn damage_at(
    path: &Path,
    buf: &[u8],
    applied: u64,
    offset: usize,
    kind: DamageKind,
    suspect: Option<Change>,
    after: Vec<Change>,
) -> Damage {
    Damage {
        segment: path.to_path_buf(),
        offset: offset as u64,
        kind,
        last_good_seq: applied,
        suspect,
        after,
        bytes: (buf.len() - offset) as u64,
        segments: vec![path.to_path_buf()],
    }
}

/// What the damaged frame at `offset` (the next good one at `good`) seems to hold.
fn suspect_at(buf: &[u8], offset: usize, good: usize) -> Option<Change> {
    let body = buf.get(offset + FRAME_HEADER..good)?;
    codec::decode_key(body).map(|key| Change::of(seq_at(buf, offset), key))
}

/// Reads the snapshot and every segment of `dir`, cutting a torn tail, and stopping at
/// the first damage elsewhere (see the module docs).
/// The bytes of a WAL segment, mapped rather than read: replay reads each frame once, and
/// a copy of a segment of hundreds of megabytes would cost its size in fresh memory.
fn map(path: &Path) -> Result<memmap2::Mmap, StoreError> {
    let file = File::open(path)?;
    // SAFETY: the mapping is read-only and lives only while the segment is replayed,
    // under the directory's lock: no other neardup writes it meanwhile. A program that
    // truncated it anyway could make a read fault; nothing else is unsound.
    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| {
        StoreError::Io(std::io::Error::new(
            e.kind(),
            format!("failed to map file `{}`: {e}", path.display()),
        ))
    })
}

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
    let mut located: Vec<(u64, u64, u32, String, Vec<u8>)> = Vec::new();
    let mut namespaces = Vec::new();
    let snap = snapshot::read(dir, |order, offset, payload| {
        match codec::decode_key(payload) {
            Some(key) if key.op == Op::Put => {
                let k = key_of(&key.namespace, &key.name);
                located.push((order, offset, payload.len() as u32, key.namespace, k));
            }
            Some(key) if key.op == Op::CreateNamespace => namespaces.push(key.namespace),
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "snapshot in {} holds an unreadable record (order {order})",
                    dir_name()
                )));
            }
        }
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
        r.live.namespaces.extend(namespaces);
        for (order, offset, len, namespace, key) in located {
            let held = Held {
                seq: snap.header.seq,
                place: Place::File {
                    file: snap.file.clone(),
                    offset,
                    len,
                },
            };
            r.live.put(&namespace, key, order, held, len as u64);
        }
        r.applied = snap.header.seq;
        r.snapshot_seq = snap.header.seq;
        r.snapshot_bytes = snap.bytes;
    }

    let segments = list_segments(dir)?;
    let count = segments.len();
    let mut damage: Option<Damage> = None;
    for (i, (_, path)) in segments.iter().enumerate() {
        let is_last = i + 1 == count;
        let buf = map(path)?;
        if let Some(d) = &mut damage {
            // Past the damage nothing is applied: the records are only named.
            let from = if Header::decode(&buf, WAL_MAGIC).is_ok() {
                HEADER_LEN
            } else {
                0
            };
            d.after.extend(changes_from(&buf, from, d.last_good_seq));
            d.bytes += buf.len() as u64;
            d.segments.push(path.clone());
            continue;
        }
        let header = match Header::decode(&buf, WAL_MAGIC) {
            Ok(h) => h,
            Err(e) if is_last && (buf.len() <= HEADER_LEN || e == HeaderError::Short) => {
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
            Err(_) => {
                let after = changes_from(&buf, 0, r.applied);
                damage = Some(damage_at(
                    path,
                    &buf,
                    r.applied,
                    0,
                    DamageKind::Header,
                    None,
                    after,
                ));
                continue;
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
        if header.seq > r.applied + 1 {
            // Records between the last applied one and this segment are gone.
            let kind = DamageKind::Missing {
                after: r.applied,
                next: header.seq,
            };
            let after = changes_from(&buf, offset, r.applied);
            damage = Some(damage_at(path, &buf, r.applied, offset, kind, None, after));
            continue;
        }
        let mut last_in_file = header.seq.saturating_sub(1);
        loop {
            match codec::read_frame(&buf, offset) {
                FrameRead::Frame { seq, payload, next } => {
                    last_in_file = last_in_file.max(seq);
                    if seq <= r.applied {
                        // Already in the snapshot.
                        offset = next;
                        continue;
                    }
                    let key = codec::decode_key(payload);
                    if seq > r.applied + 1 {
                        let kind = DamageKind::Missing {
                            after: r.applied,
                            next: seq,
                        };
                        let after = changes_from(&buf, offset, r.applied);
                        damage = Some(damage_at(path, &buf, r.applied, offset, kind, None, after));
                        break;
                    }
                    let Some(key) = key else {
                        let after = changes_from(&buf, next, seq);
                        damage = Some(damage_at(
                            path,
                            &buf,
                            r.applied,
                            offset,
                            DamageKind::Unreadable,
                            None,
                            after,
                        ));
                        break;
                    };
                    let place = Place::File {
                        file: file.clone(),
                        offset: offset as u64,
                        len: payload.len() as u32,
                    };
                    apply(&mut r.live, key, seq, place, payload.len() as u64);
                    r.recovery.replayed += 1;
                    r.applied = seq;
                    offset = next;
                }
                FrameRead::End => break,
                bad @ (FrameRead::Truncated | FrameRead::Checksum) => {
                    match codec::resync(&buf, offset, last_in_file, RESYNC_WINDOW) {
                        Some(good) if seq_at(&buf, good) <= r.applied + 1 => {
                            // Every record up to the next good one is in the snapshot.
                            tracing::warn!(
                                segment = %path.display(),
                                offset,
                                bytes = good - offset,
                                "a damaged WAL record is already in the snapshot; nothing \
                                 is lost, and the store will be rewritten without it"
                            );
                            r.recovery.covered_bytes += (good - offset) as u64;
                            r.rewrite = true;
                            offset = good;
                        }
                        Some(good) => {
                            let kind = match bad {
                                FrameRead::Checksum => DamageKind::Checksum,
                                _ => DamageKind::Length,
                            };
                            let suspect = suspect_at(&buf, offset, good);
                            let after = changes_from(&buf, good, r.applied);
                            damage = Some(damage_at(
                                path, &buf, r.applied, offset, kind, suspect, after,
                            ));
                            break;
                        }
                        None if is_last => {
                            let cut = buf.len() - offset;
                            tracing::warn!(
                                segment = %path.display(),
                                offset,
                                bytes = cut,
                                last_good_seq = last_in_file,
                                "cutting a torn WAL tail back to the last good record"
                            );
                            r.recovery.truncated_bytes += cut as u64;
                            file.set_len(offset as u64)?;
                            file.sync_all()?;
                            break;
                        }
                        None => {
                            // The end of an older segment: whether records were lost shows
                            // in the first sequence of the next one.
                            tracing::warn!(
                                segment = %path.display(),
                                offset,
                                bytes = buf.len() - offset,
                                "a WAL segment that is not the last ends in damage"
                            );
                            r.recovery.covered_bytes += (buf.len() - offset) as u64;
                            r.rewrite = true;
                            break;
                        }
                    }
                }
            }
        }
        if damage.is_some() {
            continue;
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
    if let Some(d) = damage {
        if !opts.repair {
            return Err(StoreError::Damaged(Box::new(d)));
        }
        tracing::warn!(
            segment = %d.segment.display(),
            offset = d.offset,
            kept_up_to_seq = d.last_good_seq,
            dropped = d.after.len(),
            "repair: cutting the WAL at the first damage; dropped:{}",
            d.describe_dropped(usize::MAX)
        );
        r.recovery.repaired = Some(d);
        r.rewrite = true;
        r.tail = None;
    }
    Ok(r)
}

/// Applies one logged change to the live records.
fn apply(live: &mut Live, key: codec::PayloadKey, seq: u64, place: Place, len: u64) {
    let k = key_of(&key.namespace, &key.name);
    match key.op {
        Op::Put => {
            live.put(&key.namespace, k, seq, Held { seq, place }, len);
        }
        Op::Delete => {
            live.delete(&k);
        }
        Op::CreateNamespace => {
            live.namespaces.insert(key.namespace);
        }
        Op::DeleteNamespace => {
            live.delete_namespace(&key.namespace);
        }
    }
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
        // Namespace changes logged after `last` may show here already; the log replays
        // them again on top of the snapshot, which changes nothing.
        let namespaces: Vec<String> = st.live.namespaces.iter().cloned().collect();
        self.cond.notify_all();
        drop(st);
        flushed?;
        rotated?;

        let (snapshot_bytes, offsets, file) = write_snapshot(
            &self.dir,
            self.opts.fingerprint,
            last,
            &namespaces,
            &records,
        )?;
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
        let mut slot = lock(&self.compactor);
        if let Some(done) = slot.take() {
            // The previous compaction has finished (`compacting` was clear).
            let _ = done.join();
        }
        let spawned = std::thread::Builder::new()
            .name("neardup-compact".into())
            .spawn(move || {
                if let Err(e) = inner.compact() {
                    tracing::warn!(error = %e, "background compaction failed; will retry later");
                }
                inner.compacting.store(false, Ordering::Release);
            });
        match spawned {
            Ok(thread) => *slot = Some(thread),
            Err(e) => {
                tracing::warn!(error = %e, "could not start a compaction thread");
                self.inner.compacting.store(false, Ordering::Release);
            }
        }
    }

    fn held(&self, namespace: &str, name: &str) -> Option<Held> {
        lock(&self.inner.state).live.held(&key_of(namespace, name))
    }
}

/// Stops the background threads before the store goes, so that nothing holds the
/// directory (its lock, its files) once the drop returns.
impl Drop for WalStore {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.flusher.take() {
            *lock(&stop.stopped) = true;
            stop.cond.notify_all();
            let _ = thread.join();
        }
        if let Some(thread) = lock(&self.compactor).take() {
            let _ = thread.join();
        }
    }
}

impl Store for WalStore {
    fn put(&self, record: &StoredRecord) -> Result<(), StoreError> {
        let payload = codec::encode_put(record);
        if payload.len() > codec::MAX_PAYLOAD {
            return Err(StoreError::TooLarge(payload.len()));
        }
        let namespace = &record.document.namespace;
        let key = key_of(namespace, &record.document.name);
        let due = self.inner.commit(&payload, |live, seq| {
            let held = Held {
                seq,
                place: Place::Memory(payload.clone()),
            };
            Some(Some(live.put(
                namespace,
                key,
                seq,
                held,
                payload.len() as u64,
            )))
        })?;
        self.maybe_compact(due);
        Ok(())
    }

    fn create_namespace(&self, namespace: &str) -> Result<bool, StoreError> {
        let payload = codec::encode_namespace(namespace, false);
        let mut created = false;
        let due = self.inner.commit(&payload, |live, _| {
            created = !live.namespaces.contains(namespace);
            if created {
                live.namespaces.insert(namespace.to_string());
            }
            created.then_some(None)
        })?;
        self.maybe_compact(due);
        Ok(created)
    }

    fn delete_namespace(&self, namespace: &str) -> Result<usize, StoreError> {
        let payload = codec::encode_namespace(namespace, true);
        let mut deleted = 0;
        let due = self.inner.commit(&payload, |live, _| {
            deleted = live.delete_namespace(namespace)?;
            Some(None)
        })?;
        self.maybe_compact(due);
        Ok(deleted)
    }

    fn namespaces(&self) -> Result<Vec<String>, StoreError> {
        Ok(lock(&self.inner.state)
            .live
            .namespaces
            .iter()
            .cloned()
            .collect())
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
        let mut all = Vec::new();
        self.load_chunks(4096, &mut |chunk| {
            all.extend(chunk);
            Ok(())
        })?;
        Ok(all)
    }

    fn load_chunks(
        &self,
        chunk: usize,
        each: &mut (dyn FnMut(Vec<StoredDocument>) -> Result<(), StoreError> + Send),
    ) -> Result<(), StoreError> {
        let held: Vec<Held> = lock(&self.inner.state)
            .live
            .records
            .values()
            .cloned()
            .collect();
        let reindexed = self.inner.reindexed;
        let decode = |part: &[Held]| {
            part.par_iter()
                .map(|h| {
                    let payload = h.payload()?;
                    let mut d = codec::decode_document(&payload).ok_or_else(|| {
                        let what = codec::decode_key(&payload).map_or_else(
                            || "a record".to_string(),
                            |k| {
                                format!("the record of {:?} in namespace {:?}", k.name, k.namespace)
                            },
                        );
                        StoreError::Corrupt(format!(
                            "{what} (sequence {}) passes its checksum but does not decode: a \
                             faulty build wrote it or another program changed it; restore the \
                             data directory from a backup",
                            h.seq
                        ))
                    })?;
                    if reindexed {
                        // Written under other settings: the analysis does not fit this index.
                        d.records = None;
                    }
                    Ok(d)
                })
                .collect::<Result<Vec<_>, StoreError>>()
        };
        // The next chunk is read and decoded while `each` takes the current one.
        let mut parts = held.chunks(chunk.max(1));
        let mut next = parts.next().map(decode);
        while let Some(current) = next.take() {
            let current = current?;
            let (taken, decoded) = rayon::join(|| each(current), || parts.next().map(decode));
            taken?;
            next = decoded;
        }
        Ok(())
    }

    fn text(&self, namespace: &str, name: &str) -> Result<Option<String>, StoreError> {
        let Some(held) = self.held(namespace, name) else {
            return Ok(None);
        };
        // Texts are decoded only here, not at open (a restart would pay for every one):
        // a record whose checksum holds but whose text does not decode is found now, and
        // is data loss, not unavailability.
        let lost = |why: String| {
            StoreError::DataLoss(format!(
                "the stored text of document {name:?} in namespace {namespace:?} is lost: {why}; \
                 delete the document and submit it again, or restore the data directory from \
                 a backup"
            ))
        };
        let payload = match held.payload() {
            Err(StoreError::DataLoss(why)) => return Err(lost(why)),
            other => other?,
        };
        codec::decode_text(&payload).map(Some).ok_or_else(|| {
            lost(format!(
                "the record {} passes its checksum but its text does not decode",
                held.location()
            ))
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
        frame_offsets_of(&fs::read(path).unwrap())
    }

    fn frame_offsets_of(buf: &[u8]) -> Vec<usize> {
        let mut offsets = Vec::new();
        let mut offset = HEADER_LEN;
        while let FrameRead::Frame { next, .. } = codec::read_frame(buf, offset) {
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
        assert_eq!((r.truncated_bytes, r.covered_bytes), (0, 0));
        assert_eq!(r.repaired, None);
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

    fn damaged(dir: &Path, opts: WalOptions) -> Damage {
        match WalStore::open(dir, opts) {
            Err(StoreError::Damaged(d)) => *d,
            Err(e) => panic!("expected a damage report, got {e}"),
            Ok(_) => panic!("a damaged store opened"),
        }
    }

    fn repair() -> WalOptions {
        WalOptions {
            repair: true,
            ..opts()
        }
    }

    fn put_names(changes: &[Change]) -> Vec<&str> {
        changes
            .iter()
            .map(|c| {
                assert_eq!(c.kind, ChangeKind::Put);
                c.name.as_str()
            })
            .collect()
    }

    #[test]
    fn a_damaged_record_in_the_middle_refuses_to_open_until_repaired() {
        for damage_length in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            write_docs(dir.path(), 6);
            let path = last_segment(dir.path());
            let mut buf = fs::read(&path).unwrap();
            let third = frame_offsets(&path)[2];
            if damage_length {
                buf[third + 2] = 0x7f; // the frame now claims to be megabytes long
            } else {
                buf[third + 36] ^= 0x01; // a flipped bit in the payload, past its key
            }
            fs::write(&path, &buf).unwrap();
            let what = format!("damaged length: {damage_length}");

            // Refused, naming the segment, the offset and the documents after it.
            let d = damaged(dir.path(), opts());
            assert_eq!(d.segment, path, "{what}");
            assert_eq!(d.offset, third as u64, "{what}");
            let kind = match damage_length {
                true => DamageKind::Length,
                false => DamageKind::Checksum,
            };
            assert_eq!(d.kind, kind, "{what}");
            assert_eq!(d.last_good_seq, 2, "{what}");
            assert_eq!(put_names(&d.after), ["d3", "d4", "d5"], "{what}");
            let seqs: Vec<u64> = d.after.iter().map(|c| c.seq).collect();
            assert_eq!(seqs, [4, 5, 6]);
            if !damage_length {
                // Its key still reads, though it cannot be trusted.
                assert_eq!(d.suspect.as_ref().map(|c| c.name.as_str()), Some("d2"));
            }
            let message = StoreError::Damaged(Box::new(d.clone())).to_string();
            for needle in [
                path.display().to_string(),
                format!("offset {third}"),
                "#4 put \"d3\" in namespace \"ns\"".to_string(),
                "#6 put \"d5\"".to_string(),
                "--repair".to_string(),
            ] {
                assert!(message.contains(&needle), "{needle:?} in {message}");
            }
            // Refusing changed nothing on disk.
            assert_eq!(fs::read(&path).unwrap(), buf);
            assert_eq!(damaged(dir.path(), opts()), d);

            // Repair keeps the store as of the last good record, and says what it dropped.
            let store = WalStore::open(dir.path(), repair()).unwrap();
            assert_eq!(texts(&store), ["text-0", "text-1"], "{what}");
            assert_eq!(store.recovery().repaired.as_ref(), Some(&d));
            assert_eq!(
                d.documents(),
                ["d2", "d3", "d4", "d5"]
                    .map(|n| ("ns".to_string(), n.to_string()))
                    .to_vec()
            );
            // The cut segment is kept aside, byte for byte.
            let aside: Vec<PathBuf> = fs::read_dir(dir.path().join(DAMAGED_DIR))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            assert_eq!(aside.len(), 1);
            assert_eq!(fs::read(&aside[0]).unwrap(), buf);
            store.put(&record("ns", "d9", "text-9")).unwrap();
            drop(store);
            // The next open is clean, without --repair.
            let store = open(dir.path());
            assert_eq!(store.recovery().repaired, None);
            assert_eq!(texts(&store), ["text-0", "text-1", "text-9"]);
        }
    }

    #[test]
    fn a_damaged_deletion_is_never_skipped() {
        // Skipping the damaged deletion of `a` would give {a, b, c}: a state that never
        // existed. The store refuses; a repair gives {a, b}, the state after sequence 2.
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.put(&record("ns", "a", "a1")).unwrap();
        store.put(&record("ns", "b", "b1")).unwrap();
        store.delete("ns", "a").unwrap();
        store.put(&record("ns", "c", "c1")).unwrap();
        drop(store);
        let path = last_segment(dir.path());
        let mut buf = fs::read(&path).unwrap();
        let delete = frame_offsets(&path)[2];
        buf[delete + 5] ^= 0x10; // its checksum
        fs::write(&path, &buf).unwrap();
        let d = damaged(dir.path(), opts());
        let suspect = d.suspect.clone().unwrap();
        assert_eq!(
            (suspect.kind, suspect.name.as_str()),
            (ChangeKind::Delete, "a")
        );
        assert_eq!(put_names(&d.after), ["c"]);
        let message = StoreError::Damaged(Box::new(d)).to_string();
        assert!(message.contains("probably: #3 delete \"a\""), "{message}");
        let store = WalStore::open(dir.path(), repair()).unwrap();
        assert_eq!(texts(&store), ["a1", "b1"]);
    }

    #[test]
    fn damage_in_an_older_segment_refuses_and_names_the_later_segments() {
        // Two segments (a compaction cut short after rotating), damage in the first.
        let dir = tempfile::tempdir().unwrap();
        write_docs(dir.path(), 3);
        let first = last_segment(dir.path());
        let mut buf = fs::read(&first).unwrap();
        let second_frame = frame_offsets(&first)[1];
        let store = open(dir.path());
        drop(store);
        let mut seg = Segment::create(dir.path(), 4, opts().fingerprint).unwrap();
        let mut frames = Vec::new();
        codec::encode_frame(
            &mut frames,
            4,
            &codec::encode_put(&record("ns", "d3", "text-3")),
        );
        codec::encode_frame(&mut frames, 5, &codec::encode_delete("ns", "d0"));
        seg.append(&frames, 2, FsyncPolicy::Always).unwrap();
        buf[second_frame + 20] ^= 0x01;
        fs::write(&first, &buf).unwrap();
        let d = damaged(dir.path(), opts());
        assert_eq!(
            (d.segment.clone(), d.offset),
            (first.clone(), second_frame as u64)
        );
        let after: Vec<String> = d.after.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            after,
            [
                "#3 put \"d2\" in namespace \"ns\"",
                "#4 put \"d3\" in namespace \"ns\"",
                "#5 delete \"d0\" in namespace \"ns\"",
            ]
        );
        assert_eq!(d.segments.len(), 2);
        let store = WalStore::open(dir.path(), repair()).unwrap();
        assert_eq!(texts(&store), ["text-0"]);
        assert_eq!(list_segments(dir.path()).unwrap().len(), 1);
        assert_eq!(
            fs::read_dir(dir.path().join(DAMAGED_DIR)).unwrap().count(),
            2
        );
    }

    #[test]
    fn a_damaged_segment_header_or_unreadable_record_is_damage_too() {
        let dir = tempfile::tempdir().unwrap();
        write_docs(dir.path(), 2);
        let path = last_segment(dir.path());
        let good = fs::read(&path).unwrap();
        let mut bad = good.clone();
        bad[12] ^= 0x01; // inside the header: its checksum fails
        fs::write(&path, &bad).unwrap();
        let d = damaged(dir.path(), opts());
        assert_eq!(
            (d.kind, d.offset, d.last_good_seq),
            (DamageKind::Header, 0, 0)
        );
        assert_eq!(put_names(&d.after), ["d0", "d1"]);

        // A frame whose checksum is good but whose content is not a record.
        let mut bad = good[..frame_offsets(&path)[1]].to_vec();
        codec::encode_frame(&mut bad, 2, b"\xffnot a record");
        codec::encode_frame(&mut bad, 3, &codec::encode_delete("ns", "d0"));
        fs::write(&path, &bad).unwrap();
        let d = damaged(dir.path(), opts());
        assert_eq!((d.kind, d.last_good_seq), (DamageKind::Unreadable, 1));
        assert_eq!(d.after.len(), 1);
        assert_eq!(d.after[0].kind, ChangeKind::Delete);
        let store = WalStore::open(dir.path(), repair()).unwrap();
        assert_eq!(texts(&store), ["text-0"]);
    }

    #[test]
    fn damage_the_snapshot_already_covers_loses_nothing() {
        // As after a crash between a snapshot's rename and its segments' removal, with
        // the old segment damaged since: every record in it is in the snapshot.
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for i in 0..4 {
            store.put(&record("ns", &format!("d{i}"), "v1")).unwrap();
        }
        let old = last_segment(dir.path());
        let mut old_bytes = fs::read(&old).unwrap();
        store.compact().unwrap();
        store.put(&record("ns", "d4", "v1")).unwrap();
        drop(store);
        let second = frame_offsets_of(&old_bytes)[1];
        old_bytes[second + 20] ^= 0x01;
        fs::write(&old, &old_bytes).unwrap();
        let store = open(dir.path());
        assert_eq!(texts(&store).len(), 5);
        assert!(store.recovery().covered_bytes > 0);
        assert_eq!(store.recovery().repaired, None);
        drop(store);
        assert!(!old.exists(), "the store was rewritten without it");
        assert_eq!(open(dir.path()).recovery().covered_bytes, 0);
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
            Settings {
                fold: crate::text::Fold::Simplified,
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
                    StoreError::FormatVersion { found, expected, .. }
                        if found == FORMAT_VERSION + 1 && expected == FORMAT_VERSION
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
        assert_eq!(store.recovery().repaired, None);
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
        // A lost record is damage, not something to carry on past.
        let first = last_segment(dir.path());
        let mut buf = fs::read(&first).unwrap();
        let second = frame_offsets(&first)[1];
        buf.drain(HEADER_LEN..second);
        fs::write(&first, &buf).unwrap();
        let d = damaged(dir.path(), opts());
        assert_eq!(d.kind, DamageKind::Missing { after: 0, next: 2 });
        assert_eq!(d.offset, HEADER_LEN as u64);
        assert_eq!(put_names(&d.after), ["d1", "d2"]);
        assert!(
            StoreError::Damaged(Box::new(d))
                .to_string()
                .contains("records 1..=1 are missing")
        );
    }

    #[test]
    fn namespaces_survive_reopen_and_compaction_and_deletion_is_one_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        assert!(store.create_namespace("empty").unwrap());
        assert!(!store.create_namespace("empty").unwrap());
        store.put(&record("gone", "a", "a")).unwrap();
        store.put(&record("gone", "b", "b")).unwrap();
        store.put(&record("kept", "a", "kept a")).unwrap();
        let before = last_segment(dir.path());
        let frames_before = frame_offsets(&before).len();
        assert_eq!(store.delete_namespace("gone").unwrap(), 2);
        assert_eq!(frame_offsets(&before).len(), frames_before + 1);
        assert_eq!(store.delete_namespace("never").unwrap(), 0);
        assert_eq!(frame_offsets(&before).len(), frames_before + 1);
        assert_eq!(store.namespaces().unwrap(), ["empty", "kept"]);
        drop(store);
        for compact in [false, true] {
            let store = open(dir.path());
            assert_eq!(store.namespaces().unwrap(), ["empty", "kept"], "{compact}");
            assert_eq!(texts(&store), ["kept a"]);
            assert_eq!(store.text("gone", "a").unwrap(), None);
            if compact {
                store.compact().unwrap();
            }
        }
        let store = open(dir.path());
        assert_eq!(store.recovery().snapshot_records, 1);
        assert_eq!(store.namespaces().unwrap(), ["empty", "kept"]);
        // A namespace deleted and written to again starts empty.
        store.delete_namespace("kept").unwrap();
        store.put(&record("kept", "new", "new")).unwrap();
        drop(store);
        let store = open(dir.path());
        assert_eq!(texts(&store), ["new"]);
        assert_eq!(store.namespaces().unwrap(), ["empty", "kept"]);
    }

    #[test]
    fn dropping_a_store_stops_its_threads_and_frees_the_directory_at_once() {
        // The periodic fsync (every millisecond here) and a background compaction must
        // not hold the store, and so the directory lock, past its drop.
        let dir = tempfile::tempdir().unwrap();
        let options = WalOptions {
            fsync: FsyncPolicy::Interval(Duration::from_millis(1)),
            compact_min_bytes: 1,
            ..opts()
        };
        for round in 0..50 {
            let store = WalStore::open(dir.path(), options.clone())
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            store.put(&record("ns", &format!("d{round}"), "x")).unwrap();
            std::thread::sleep(Duration::from_micros(500 * (round % 4)));
        }
        let store = WalStore::open(dir.path(), options).unwrap();
        assert_eq!(texts(&store).len(), 50);
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
