//! [`MemoryIndex`]: the embedded [`Index`], in concurrent maps, for one process.
//!
//! Paragraph records live in a [`Slab`] under dense 32-bit slots (the paragraph ids it
//! gives out), buckets in two [`PostingMap`]s of slots, documents and names in
//! `DashMap`s, and the submission clock is an atomic counter. Every future it returns is
//! ready when made: the embedded engine drives them without a runtime.

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use std::future::{Future, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::backend::{
    Bucket, Created, DocId, DocState, Document, Head, IN_PROGRESS, Index, Lookup, Map, ParagraphId,
    RESTORED, Read,
};
use super::{PostingMap, ReadPolicy, Sketch, Slab};
use crate::analysis::ParagraphRecord;
use crate::error::{Error, Result};

/// An indexed paragraph: where it is, and what verification needs.
struct Stored {
    doc: DocId,
    index: u32,
    start: u32,
    end: u32,
    line: u32,
    content_hash: u64,
    set: Arc<[u32]>,
    sketch: Sketch,
}

/// A stored document: its catalog entry, its paragraphs' slots and its stamps.
struct Entry2 {
    doc: Arc<Document>,
    slots: Box<[u32]>,
    started: u64,
    finished: AtomicU64,
}

/// Bucket entries of restored paragraphs, gathered for one [`MemoryIndex::freeze`].
#[derive(Debug, Default)]
pub struct Bulk {
    bands: Parts,
    exact: Parts,
}

/// Words in parts of fixed capacity: growing one vector of hundreds of megabytes would
/// copy it at each doubling.
#[derive(Debug, Default)]
struct Parts(Vec<Vec<u64>>);

impl Parts {
    const LEN: usize = 1 << 20;

    fn push(&mut self, word: u64) {
        match self.0.last_mut() {
            Some(part) if part.len() < Parts::LEN => part.push(word),
            _ => {
                let mut part = Vec::with_capacity(Parts::LEN);
                part.push(word);
                self.0.push(part);
            }
        }
    }

    fn into_words(self) -> Vec<u64> {
        let mut words = Vec::with_capacity(self.0.iter().map(Vec::len).sum());
        for part in self.0 {
            words.extend_from_slice(&part);
        }
        words
    }
}

impl Bulk {
    /// Adds `slot` under bucket `b`; slots must come in the order they were created.
    pub fn push(&mut self, b: Bucket, slot: u32) {
        let word = PostingMap::word(b.key, slot);
        match b.map {
            Map::Exact => self.exact.push(word),
            Map::Bands => self.bands.push(word),
        }
    }
}

/// Sizes of a [`MemoryIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStats {
    /// Documents.
    pub documents: usize,
    /// Paragraph records.
    pub paragraphs: usize,
    /// Bytes of the bucket tables.
    pub index_bytes: usize,
    /// Bytes of the records (slot table and shingle sets).
    pub record_bytes: usize,
}

/// The embedded index; see the module docs.
pub struct MemoryIndex {
    bands: PostingMap,
    exact: PostingMap,
    paragraphs: Slab<Stored>,
    documents: DashMap<DocId, Entry2>,
    names: DashMap<Arc<str>, DocId>,
    next_doc: AtomicU64,
    clock: AtomicU64,
    /// Test hook: called with a submission's name and the number of its entries appended
    /// so far, to interleave concurrent submissions deterministically.
    #[cfg(test)]
    pub(crate) after_append: std::sync::RwLock<Option<AppendHook>>,
}

#[cfg(test)]
pub(crate) type AppendHook = Arc<dyn Fn(&str, usize) + Send + Sync>;

impl Default for MemoryIndex {
    fn default() -> MemoryIndex {
        MemoryIndex {
            bands: PostingMap::default(),
            exact: PostingMap::default(),
            paragraphs: Slab::default(),
            documents: DashMap::default(),
            names: DashMap::default(),
            next_doc: AtomicU64::new(0),
            clock: AtomicU64::new(RESTORED + 1),
            #[cfg(test)]
            after_append: Default::default(),
        }
    }
}

impl std::fmt::Debug for MemoryIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryIndex")
            .field("documents", &self.documents.len())
            .finish_non_exhaustive()
    }
}

fn slot(id: ParagraphId) -> Option<u32> {
    u32::try_from(id).ok()
}

impl MemoryIndex {
    fn map(&self, map: Map) -> &PostingMap {
        match map {
            Map::Exact => &self.exact,
            Map::Bands => &self.bands,
        }
    }

    /// Takes the bucket entries of restored paragraphs in one go (see
    /// [`PostingMap::freeze`]).
    pub fn freeze(&self, bulk: Bulk) {
        rayon::join(
            || self.bands.freeze(bulk.bands.into_words()),
            || self.exact.freeze(bulk.exact.into_words()),
        );
    }

    /// Names of all stored documents (unordered).
    pub fn names(&self) -> Vec<Arc<str>> {
        self.names.iter().map(|e| e.key().clone()).collect()
    }

    /// Counts and sizes.
    pub fn stats(&self) -> MemoryStats {
        let mut sets = 0usize;
        self.paragraphs.for_each(|p| sets += p.set.len() * 4 + 16);
        MemoryStats {
            documents: self.documents.len(),
            paragraphs: self.paragraphs.len(),
            index_bytes: self.bands.memory_bytes() + self.exact.memory_bytes(),
            record_bytes: self.paragraphs.memory_bytes() + sets,
        }
    }

    fn document_now(&self, name: &str) -> Option<Document> {
        let id = *self.names.get(name)?;
        self.documents.get(&id).map(|d| (*d.doc).clone())
    }

    fn create_now(
        &self,
        document: Document,
        records: &[ParagraphRecord],
        restored: bool,
    ) -> Result<Created> {
        let id = self.next_doc.fetch_add(1, Ordering::Relaxed);
        let name = document.name.clone();
        match self.names.entry(name.clone()) {
            Entry::Occupied(_) => return Err(Error::AlreadyExists(name.to_string())),
            Entry::Vacant(v) => {
                v.insert(id);
            }
        }
        let mut slots = Vec::with_capacity(records.len());
        for r in records {
            let stored = Stored {
                doc: id,
                index: r.index,
                start: r.start,
                end: r.end,
                line: r.line,
                content_hash: r.content_hash,
                set: r.set.as_slice().into(),
                sketch: r.sketch,
            };
            match self.paragraphs.insert(stored) {
                Some(s) => slots.push(s),
                None => {
                    for &s in &slots {
                        self.paragraphs.take(s);
                        self.paragraphs.release(s);
                    }
                    self.names.remove(&name);
                    return Err(Error::TooLarge(
                        "the index holds as many paragraphs as it can address".into(),
                    ));
                }
            }
        }
        let (started, finished) = if restored {
            (RESTORED, RESTORED)
        } else {
            (self.clock.fetch_add(1, Ordering::SeqCst), IN_PROGRESS)
        };
        self.documents.insert(
            id,
            Entry2 {
                doc: Arc::new(Document { id, ..document }),
                slots: slots.clone().into(),
                started,
                finished: AtomicU64::new(finished),
            },
        );
        Ok(Created {
            id,
            paragraphs: slots.into_iter().map(u64::from).collect(),
            started,
        })
    }

    fn head_now(&self, id: ParagraphId) -> Option<Head> {
        self.paragraphs.with(slot(id)?, |s| Head {
            doc: s.doc,
            index: s.index,
            start: s.start,
            end: s.end,
            line: s.line,
            content_hash: s.content_hash,
            sketch: s.sketch,
            set_len: s.set.len() as u32,
            set: Some(s.set.clone()),
        })
    }
}

impl Index for MemoryIndex {
    fn document(&self, name: &str) -> impl Future<Output = Result<Option<Document>>> + Send {
        ready(Ok(self.document_now(name)))
    }

    fn create(
        &self,
        document: Document,
        records: &[ParagraphRecord],
        restored: bool,
    ) -> impl Future<Output = Result<Created>> + Send {
        ready(self.create_now(document, records, restored))
    }

    fn append_read(
        &self,
        entries: &[(Bucket, ParagraphId, ReadPolicy)],
    ) -> impl Future<Output = Result<Vec<Vec<ParagraphId>>>> + Send {
        #[cfg(test)]
        let hook = self.after_append.read().unwrap().clone().and_then(|h| {
            let s = slot(entries.first()?.1)?;
            let doc = self.paragraphs.with(s, |p| p.doc)?;
            let name = self.documents.get(&doc)?.doc.name.clone();
            Some((h, name))
        });
        #[cfg(test)]
        let mut appended = 0;
        let out = entries
            .iter()
            .map(|&(b, id, policy)| {
                let mut before = Vec::new();
                if let Some(s) = slot(id) {
                    self.map(b.map)
                        .append_read(b.key, s, policy, |p| before.push(p as u64));
                }
                #[cfg(test)]
                if let Some((hook, name)) = &hook {
                    appended += 1;
                    hook(name, appended);
                }
                before
            })
            .collect();
        ready(Ok(out))
    }

    fn append(&self, entries: &[(Bucket, ParagraphId)]) -> impl Future<Output = Result<()>> + Send {
        for &(b, id) in entries {
            if let Some(s) = slot(id) {
                self.map(b.map).insert(b.key, s);
            }
        }
        ready(Ok(()))
    }

    fn finish(&self, doc: DocId) -> impl Future<Output = Result<()>> + Send {
        if let Some(e) = self.documents.get(&doc) {
            e.finished
                .store(self.clock.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
        }
        ready(Ok(()))
    }

    fn read(&self, lookups: &[Lookup]) -> impl Future<Output = Result<Vec<Read>>> + Send {
        let out = lookups
            .iter()
            .map(|l| {
                let mut ids = Vec::new();
                let len =
                    self.map(l.bucket.map)
                        .read_at_most(l.bucket.key, l.policy, l.local, |s| ids.push(s as u64));
                Read { len, ids }
            })
            .collect();
        ready(Ok(out))
    }

    fn heads(&self, ids: &[ParagraphId]) -> impl Future<Output = Result<Vec<Option<Head>>>> + Send {
        ready(Ok(ids.iter().map(|&id| self.head_now(id)).collect()))
    }

    fn sets(
        &self,
        ids: &[ParagraphId],
    ) -> impl Future<Output = Result<Vec<Option<Arc<[u32]>>>>> + Send {
        let out = ids
            .iter()
            .map(|&id| self.paragraphs.with(slot(id)?, |s| s.set.clone()))
            .collect();
        ready(Ok(out))
    }

    fn documents(
        &self,
        ids: &[DocId],
    ) -> impl Future<Output = Result<Vec<Option<DocState>>>> + Send {
        let out = ids
            .iter()
            .map(|id| {
                self.documents.get(id).map(|e| DocState {
                    name: e.doc.name.clone(),
                    started: e.started,
                    finished: e.finished.load(Ordering::SeqCst),
                })
            })
            .collect();
        ready(Ok(out))
    }

    fn records(
        &self,
        doc: DocId,
    ) -> impl Future<Output = Result<Vec<(ParagraphId, ParagraphRecord)>>> + Send {
        let slots = self
            .documents
            .get(&doc)
            .map(|e| e.slots.clone())
            .unwrap_or_default();
        let out = slots
            .iter()
            .filter_map(|&s| {
                self.paragraphs.with(s, |p| {
                    let record = ParagraphRecord {
                        index: p.index,
                        start: p.start,
                        end: p.end,
                        line: p.line,
                        content_hash: p.content_hash,
                        set: p.set.to_vec(),
                        band_keys: Vec::new(),
                        sketch: p.sketch,
                    };
                    (s as u64, record)
                })
            })
            .collect();
        ready(Ok(out))
    }

    fn delete(
        &self,
        document: &Document,
        buckets: &[(ParagraphId, Vec<Bucket>)],
    ) -> impl Future<Output = Result<()>> + Send {
        self.names
            .remove_if(&document.name, |_, &id| id == document.id);
        self.documents.remove(&document.id);
        // Records go first, so a query that still finds a slot in a bucket drops it; the
        // slots are reused only once no bucket holds them.
        let mut taken = Vec::with_capacity(buckets.len());
        for (id, _) in buckets {
            if let Some(s) = slot(*id)
                && self.paragraphs.take(s).is_some()
            {
                taken.push(s);
            }
        }
        for (id, keys) in buckets {
            if let Some(s) = slot(*id) {
                for b in keys {
                    self.map(b.map).remove(b.key, s);
                }
            }
        }
        for s in taken {
            self.paragraphs.release(s);
        }
        ready(Ok(()))
    }
}
