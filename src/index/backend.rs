//! [`Index`]: where an index's catalog, paragraph records and buckets live, behind one
//! trait, so that the engine's decisions ([`crate::engine`]) run unchanged on the embedded
//! maps ([`super::MemoryIndex`]) or on a shared remote store.
//!
//! The engine plans what to look up (the buckets of a document's paragraphs, the records
//! of candidates, the documents of sources), an index performs the lookups, and the engine
//! decides the report from what came back. Every method works on a batch (one call per
//! step of a query, so a remote index can issue the lookups of a step concurrently) and
//! returns a future: the embedded index answers at once (its futures are ready when
//! made), a remote one awaits its network. Nothing here names a runtime or a socket.
//!
//! The contract every implementation keeps (the engine's correctness rests on it):
//! - [`Index::append_read`] is atomic per bucket: of two appends to one bucket, the second
//!   sees the first; the entries of one call are applied in order.
//! - Records are written ([`Index::create`]) before their paragraphs are appended to any
//!   bucket, and removed ([`Index::delete`]) before their buckets are cleaned, so a
//!   candidate whose record is gone is simply dropped.
//! - [`DocState::finished`] is a value of one clock for the whole index, taken after a
//!   submission's last append; [`Created::started`] is taken before its first.

use std::future::Future;
use std::sync::Arc;

use super::{BandKey, ReadPolicy, Sketch};
use crate::analysis::ParagraphRecord;
use crate::error::Result;
use crate::text::Split;

/// Internal id of a stored document: unique within an index, never reused.
pub type DocId = u64;

/// Id of an indexed paragraph, as its index assigns it (an index may pack the document
/// and the paragraph's position into it, or number paragraphs densely).
pub type ParagraphId = u64;

/// `DocState::finished` of a submission still appending.
pub const IN_PROGRESS: u64 = 0;
/// `DocState::finished` of a restored document: before every live submission.
pub const RESTORED: u64 = 1;

/// A stored document's catalog entry. The text is not here: the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Internal id.
    pub id: DocId,
    /// The caller's id.
    pub name: Arc<str>,
    /// Caller metadata.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// When it was stored, in milliseconds since the Unix epoch (set by the caller).
    pub stored_at_ms: u64,
    /// xxh3 of the text, to tell an idempotent resubmission from a conflicting one.
    pub text_hash: u64,
    /// How the text was cut into paragraphs.
    pub split: Split,
    /// Paragraphs in the text (too-short ones included).
    pub paragraphs: usize,
}

/// The two maps of an index: band keys, and content hashes for exact copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Map {
    /// The exact-copy map, keyed by content hash.
    Exact,
    /// The LSH band map.
    Bands,
}

/// One bucket: a map and a key in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bucket {
    /// Which map.
    pub map: Map,
    /// The key.
    pub key: BandKey,
}

/// One bucket to read, with its policy and how many more ids of it the caller holds
/// itself (the earlier paragraphs of the document being checked): the policy applies to
/// the bucket as a whole ([`ReadPolicy::select`]).
#[derive(Debug, Clone, Copy)]
pub struct Lookup {
    /// The bucket.
    pub bucket: Bucket,
    /// How to read it.
    pub policy: ReadPolicy,
    /// Ids of it the caller holds.
    pub local: usize,
}

/// What a read of one bucket gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Read {
    /// Ids in the bucket in the index.
    pub len: usize,
    /// Those the policy reads.
    pub ids: Vec<ParagraphId>,
}

/// What verification needs of a candidate before its set, and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// Its document.
    pub doc: DocId,
    /// Its position in the document.
    pub index: u32,
    /// Its first code point in the document.
    pub start: u32,
    /// One past its last code point.
    pub end: u32,
    /// Its 1-based line.
    pub line: u32,
    /// Its content hash.
    pub content_hash: u64,
    /// Its sketch.
    pub sketch: Sketch,
    /// Shingles in its set.
    pub set_len: u32,
    /// Its set, when the index has it at hand anyway (an embedded index); `None` asks the
    /// engine to fetch it with [`Index::sets`] if the sketch does not reject the candidate.
    pub set: Option<Arc<[u32]>>,
}

/// A document's name and the stamps of its submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocState {
    /// The caller's id.
    pub name: Arc<str>,
    /// Clock value before its first append.
    pub started: u64,
    /// Clock value after its last append ([`IN_PROGRESS`] until then).
    pub finished: u64,
}

/// What [`Index::create`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The document's id.
    pub id: DocId,
    /// The ids of its paragraph records, in order.
    pub paragraphs: Vec<ParagraphId>,
    /// Clock value taken before any of them is appended.
    pub started: u64,
}

/// An index's catalog, records and buckets; see the module docs.
pub trait Index: Send + Sync {
    /// The catalog entry under `name`.
    fn document(&self, name: &str) -> impl Future<Output = Result<Option<Document>>> + Send;

    /// Claims `name` (failing with [`crate::Error::AlreadyExists`] if it is taken), and
    /// stores the document's catalog entry and its paragraph records, in none of the
    /// buckets yet. A restored document is finished at once, before every live one.
    fn create(
        &self,
        document: Document,
        records: &[ParagraphRecord],
        restored: bool,
    ) -> impl Future<Output = Result<Created>> + Send;

    /// Appends each entry's paragraph to its bucket and returns, per entry, what the
    /// policy reads of the bucket as it was just before (atomically per bucket).
    fn append_read(
        &self,
        entries: &[(Bucket, ParagraphId, ReadPolicy)],
    ) -> impl Future<Output = Result<Vec<Vec<ParagraphId>>>> + Send;

    /// Appends without reading (restore).
    fn append(&self, entries: &[(Bucket, ParagraphId)]) -> impl Future<Output = Result<()>> + Send;

    /// Marks a created document's appends finished (its `finished` stamp).
    fn finish(&self, doc: DocId) -> impl Future<Output = Result<()>> + Send;

    /// Reads buckets.
    fn read(&self, lookups: &[Lookup]) -> impl Future<Output = Result<Vec<Read>>> + Send;

    /// The heads of paragraph records (`None` for a record that is gone).
    fn heads(&self, ids: &[ParagraphId]) -> impl Future<Output = Result<Vec<Option<Head>>>> + Send;

    /// The shingle sets of paragraph records.
    fn sets(
        &self,
        ids: &[ParagraphId],
    ) -> impl Future<Output = Result<Vec<Option<Arc<[u32]>>>>> + Send;

    /// The names and stamps of documents.
    fn documents(
        &self,
        ids: &[DocId],
    ) -> impl Future<Output = Result<Vec<Option<DocState>>>> + Send;

    /// The paragraph records of a document, in order, with their ids.
    fn records(
        &self,
        doc: DocId,
    ) -> impl Future<Output = Result<Vec<(ParagraphId, ParagraphRecord)>>> + Send;

    /// Removes a document: its name and catalog entry and records first, then its
    /// paragraphs from the given buckets.
    fn delete(
        &self,
        document: &Document,
        buckets: &[(ParagraphId, Vec<Bucket>)],
    ) -> impl Future<Output = Result<()>> + Send;
}
