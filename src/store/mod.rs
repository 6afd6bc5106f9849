//! Durable storage of submitted documents, behind a small trait.
//!
//! The service writes every accepted submission and deletion through a [`Store`] before
//! it acknowledges the call, and rebuilds its engines from [`Store::load`] at start. The
//! engine never sees a store. A stored document is its catalog entry, its analysis (the
//! paragraph records the index is made of, so a restart loads rather than analyzes) and
//! its text, which the store is the only holder of: the service reads it back with
//! [`Store::text`] for spans and GetDocument. [`MemStore`] keeps everything in memory
//! (tests, and callers of [`crate::server::serve`] that want no disk); [`WalStore`], which
//! `neardup serve` uses, keeps a checksummed write-ahead log with group commit and
//! snapshots in a data directory, and reads texts back from its files.
//!
//! Invariants every implementation keeps (checked by one conformance suite run against
//! each of them, in `store::tests`):
//! - `put` and `delete` return only once the change is durable under the store's
//!   [`FsyncPolicy`]; with [`FsyncPolicy::Always`] (the default) that means fsynced.
//! - `load` returns every live document once, in the order it was first stored; a
//!   replacement keeps its place, a deletion removes it. `text` returns the text of a
//!   live document.
//! - A namespace exists from its `create_namespace` or its first `put` until its
//!   `delete_namespace`, which removes it and every document in it as one durable change
//!   (a restart never sees part of it); `namespaces` lists those that exist, empty ones
//!   included.
//! - A store opened on data written with other engine settings ([`Fingerprint`]) refuses
//!   to open unless asked to re-index.

pub(crate) mod codec;
mod mem;
pub(crate) mod snapshot;
mod wal;

#[cfg(test)]
mod tests;

pub use mem::MemStore;
pub use wal::{
    Change, ChangeKind, Damage, DamageKind, Recovery, WalObserver, WalOptions, WalStore,
};

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::analysis::ParagraphRecord;
use crate::engine::Settings;
use crate::text::{Fold, Split};

/// What the store keeps of a document besides its text: enough to put it back in an
/// index without analyzing it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    /// Namespace the document belongs to.
    pub namespace: String,
    /// The caller's document id.
    pub name: String,
    /// Caller metadata.
    pub metadata: BTreeMap<String, String>,
    /// When it was stored, in milliseconds since the Unix epoch.
    pub stored_at_ms: u64,
    /// xxh3 of the text.
    pub text_hash: u64,
    /// How the text was cut into paragraphs.
    pub split: Split,
    /// Paragraphs in the text (too-short ones included).
    pub paragraphs: u32,
    /// The records of its paragraphs long enough to index; `None` for a document stored
    /// by a format that kept only texts (version 1), which must be analyzed again.
    pub records: Option<Vec<ParagraphRecord>>,
}

impl StoredDocument {
    /// Its catalog entry, for an index to restore it under (the index gives the id).
    pub fn entry(&self) -> crate::index::Document {
        crate::index::Document {
            id: 0,
            name: self.name.as_str().into(),
            metadata: self.metadata.clone(),
            stored_at_ms: self.stored_at_ms,
            text_hash: self.text_hash,
            split: self.split,
            paragraphs: self.paragraphs as usize,
        }
    }
}

/// One stored document and its text, as [`Store::put`] takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Everything but the text.
    pub document: StoredDocument,
    /// The full text.
    pub text: String,
}

/// Errors of a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The underlying I/O failed.
    #[error("storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The data on disk cannot be used as it is.
    #[error("storage is unusable: {0}")]
    Corrupt(String),
    /// One stored record is damaged beyond reading (it passes its checksum but does not
    /// decode, or no longer reads back whole): what it held is lost, and retrying will
    /// not bring it back. The message names the record and where it is stored. The rest
    /// of the store is unaffected.
    #[error("{0}")]
    DataLoss(String),
    /// The data directory was written with other engine settings.
    #[error(
        "data directory {dir} was written with {stored}, but this server runs with {current}; \
         start it with the original settings, or re-index the stored documents with the new \
         ones (`--reindex`)"
    )]
    SettingsMismatch {
        /// The data directory.
        dir: String,
        /// Settings found on disk.
        stored: Fingerprint,
        /// Settings of this process.
        current: Fingerprint,
    },
    /// The data directory was written by another version of the storage format.
    #[error(
        "data directory {dir} uses storage format version {found}, this build reads version \
         {expected}; use a matching neardup build"
    )]
    FormatVersion {
        /// The data directory.
        dir: String,
        /// Version on disk.
        found: u32,
        /// Version this build writes.
        expected: u32,
    },
    /// Another process holds the data directory.
    #[error("data directory {0} is in use by another neardup process")]
    Locked(String),
    /// An earlier write failed, so later ones cannot be acknowledged.
    #[error("storage failed earlier and accepts no more writes: {0}")]
    Failed(String),
    /// A record is larger than the store can frame.
    #[error("record of {0} bytes is too large to store")]
    TooLarge(usize),
    /// A record in the middle of the log is damaged: the store refuses to open rather
    /// than skip it (it may have been a deletion), until asked to repair.
    #[error("{0}")]
    Damaged(Box<Damage>),
}

/// When the store fsyncs its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Before acknowledging every write (concurrent writers share one fsync). Survives
    /// power loss. The default.
    #[default]
    Always,
    /// At most this long after a write: a write is acknowledged once the OS has it, so it
    /// survives a crash of the process but the last interval may be lost on power loss.
    Interval(Duration),
    /// Never explicitly (only on compaction and close): survives a crash of the process,
    /// not of the machine.
    Never,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;

    /// `always`, `never`, or an interval in milliseconds such as `100ms`.
    fn from_str(s: &str) -> Result<FsyncPolicy, String> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            other => other
                .strip_suffix("ms")
                .and_then(|ms| ms.parse::<u64>().ok())
                .filter(|&ms| ms > 0)
                .map(|ms| FsyncPolicy::Interval(Duration::from_millis(ms)))
                .ok_or_else(|| {
                    format!("{other:?} is not `always`, `never` or an interval like `100ms`")
                }),
        }
    }
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsyncPolicy::Always => f.write_str("always"),
            FsyncPolicy::Never => f.write_str("never"),
            FsyncPolicy::Interval(d) => write!(f, "{}ms", d.as_millis()),
        }
    }
}

/// The engine settings that shape signatures and the index. Data written under one
/// fingerprint is never mixed with an engine running under another (the stored analysis
/// depends on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    /// MinHash permutations.
    pub num_perm: u32,
    /// Shingle size in words.
    pub shingle: u32,
    /// Seed of the shingle hash and the permutations.
    pub seed: u64,
    /// LSH bands.
    pub bands: u32,
    /// LSH rows per band.
    pub rows: u32,
    /// Minimum paragraph length indexed, as `f64` bits.
    pub min_length_bits: u64,
    /// Han folding: 0 for none; for Traditional → Simplified, 16 bits of the folding
    /// table's digest, never 0 (a table that maps differently gives other tokens).
    pub fold: u16,
}

impl Fingerprint {
    /// Bytes of the encoded fingerprint.
    pub const ENCODED_LEN: usize = 32;

    /// The fingerprint of these engine settings.
    pub fn from_settings(settings: &Settings) -> Fingerprint {
        let lsh = settings.lsh_params();
        Fingerprint {
            num_perm: settings.num_perm as u32,
            shingle: settings.shingle as u32,
            seed: settings.seed,
            bands: lsh.bands as u32,
            rows: lsh.rows as u32,
            min_length_bits: settings.min_length.to_bits(),
            fold: match settings.fold {
                Fold::None => 0,
                Fold::Simplified => ((crate::text::fold::table_digest() >> 48) as u16).max(1),
            },
        }
    }

    // The fold tag is the upper half of the shingle field: shingles are at most 16, so
    // every header written before folding existed has zeros there and reads as no
    // folding, and headers without folding are byte for byte what they were.
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.num_perm.to_le_bytes());
        out.extend_from_slice(&(self.shingle | u32::from(self.fold) << 16).to_le_bytes());
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(&self.bands.to_le_bytes());
        out.extend_from_slice(&self.rows.to_le_bytes());
        out.extend_from_slice(&self.min_length_bits.to_le_bytes());
    }

    fn decode(r: &mut codec::Reader<'_>) -> Option<Fingerprint> {
        let num_perm = r.u32()?;
        let shingle = r.u32()?;
        Some(Fingerprint {
            num_perm,
            shingle: shingle & 0xFFFF,
            seed: r.u64()?,
            bands: r.u32()?,
            rows: r.u32()?,
            min_length_bits: r.u64()?,
            fold: (shingle >> 16) as u16,
        })
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "num_perm={} shingle={} seed={:#x} lsh={}x{} min_length={}",
            self.num_perm,
            self.shingle,
            self.seed,
            self.bands,
            self.rows,
            f64::from_bits(self.min_length_bits)
        )?;
        // Written only when on, so that fingerprints without folding read as before
        // (the cluster compares this text).
        if self.fold != 0 {
            write!(f, " fold=simplified:{:04x}", self.fold)?;
        }
        Ok(())
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Live documents written to the snapshot.
    pub documents: usize,
    /// Bytes on disk before.
    pub bytes_before: u64,
    /// Bytes on disk after.
    pub bytes_after: u64,
}

/// Where documents are kept durably. Implementations are shared between threads; `put`
/// and `delete` return only once the change is durable (per the store's fsync policy).
pub trait Store: Send + Sync + 'static {
    /// Records a document (a later `put` with the same namespace and name replaces it).
    fn put(&self, record: &StoredRecord) -> Result<(), StoreError>;
    /// Records the deletion of a document.
    fn delete(&self, namespace: &str, name: &str) -> Result<(), StoreError>;
    /// Records that a namespace exists, documents or not; `false` if it did already
    /// (nothing is recorded then).
    fn create_namespace(&self, namespace: &str) -> Result<bool, StoreError>;
    /// Records the deletion of a namespace and of every document in it, as one change;
    /// returns how many documents it held (nothing is recorded for a namespace that does
    /// not exist).
    fn delete_namespace(&self, namespace: &str) -> Result<usize, StoreError>;
    /// The namespaces that exist (created or written to, not deleted since), sorted.
    fn namespaces(&self) -> Result<Vec<String>, StoreError>;
    /// Every live document without its text, in the order it was first stored.
    fn load(&self) -> Result<Vec<StoredDocument>, StoreError>;
    /// [`Store::load`], handed to `each` at most `chunk` documents at a time, so that a
    /// restore holds one chunk of records in memory rather than all of them (and a store
    /// may prepare the next chunk while `each` takes one).
    fn load_chunks(
        &self,
        chunk: usize,
        each: &mut (dyn FnMut(Vec<StoredDocument>) -> Result<(), StoreError> + Send),
    ) -> Result<(), StoreError> {
        let _ = chunk;
        each(self.load()?)
    }
    /// The text of a live document, if there is one under that name.
    fn text(&self, namespace: &str, name: &str) -> Result<Option<String>, StoreError>;
    /// Rewrites the live documents so that deleted and replaced ones stop taking space.
    /// Stores that keep nothing superseded have nothing to do.
    fn compact(&self) -> Result<CompactionStats, StoreError> {
        Ok(CompactionStats::default())
    }
    /// Makes every acknowledged change durable regardless of the fsync policy (called on
    /// shutdown). Stores without a disk have nothing to do.
    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
