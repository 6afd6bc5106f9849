//! The engine: the reports of what each paragraph of a document repeats, over an index.
//!
//! [`Core`] is the whole flow (check, submit, remove, restore) written once over any
//! [`Index`]; [`Engine`] is the embedded engine, a [`Core`] over a
//! [`MemoryIndex`] driven synchronously (its index answers at once), which the service
//! keeps one of per namespace. It is thread-safe: analysis ([`Analyzer`]) is pure CPU work
//! that needs no lock, and queries and inserts go through concurrent maps, so callers
//! parallelize freely. It knows nothing of transports or disks: durability is the
//! caller's job (the [`crate::service`] layer writes to its store after `submit` succeeds
//! and rolls back with `remove` if it fails), and the texts of stored documents stay in
//! the store, which a query reads through [`Texts`] for the spans of the matches it
//! reports.
//!
//! A submission is reported paragraph by paragraph, in order: each paragraph is compared
//! with every indexed paragraph and with the earlier paragraphs of the same document, so
//! repeats inside a document are flagged like repeats across documents.
//!
//! # Concurrent submissions
//!
//! A submission writes its paragraph records, then appends each paragraph to its buckets
//! with an atomic read-and-append ([`Index::append_read`]),
//! and only then decides its report from what was in those buckets before it. Of two
//! submissions that share a bucket, the later appender sees the earlier, so at least one
//! sees the other. Which one reports the other is then decided the same way on both sides
//! (`query::reports_concurrent`): a submission that finished appending before the other
//! began is the source; otherwise the one that appended second to their lowest shared
//! bucket reports the first. So of two concurrent near-duplicates exactly one reports the
//! other (when the lowest shared bucket is read whole, or the first is among its most
//! recent ids), and the rule needs no lock across buckets: it carries over to a shared
//! remote index.

mod core;
pub mod edited;
mod query;
mod report;
mod settings;

pub use self::core::{Core, Funnel, NoTexts, Texts};
pub use query::Found;
pub use report::{
    Aligned, DocId, Document, EngineStats, Match, ParagraphReport, ParagraphStatus, Report,
    SourceRef, Span, Submitted, Summary,
};
pub use settings::{DEFAULT_BOILERPLATE, QueryOptions, Settings};

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

pub use crate::analysis::{AnalyzedDocument, AnalyzedParagraph, Analyzer, ParagraphRecord};
use crate::error::Result;
use crate::index::MemoryIndex;
use crate::index::{Bulk, Index};
use crate::text::Split;

/// Runs a future whose awaits are all on ready futures (the embedded index's, and texts
/// given synchronously) to its end, with no runtime.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        // Not reached with the embedded index; a caller's text source that really waits
        // is polled again rather than lost.
        std::thread::yield_now();
    }
}

/// The embedded engine. See the module docs.
#[derive(Debug)]
pub struct Engine {
    core: Core<MemoryIndex>,
}

impl Engine {
    /// A new, empty engine.
    pub fn new(settings: Settings) -> Result<Engine> {
        Ok(Engine {
            core: Core::new(settings, MemoryIndex::default())?,
        })
    }

    /// The engine's settings.
    pub fn settings(&self) -> &Settings {
        self.core.settings()
    }

    /// The analyzer documents must be analyzed with before they are checked or submitted.
    pub fn analyzer(&self) -> &Analyzer {
        self.core.analyzer()
    }

    /// The index underneath.
    pub fn index(&self) -> &MemoryIndex {
        self.core.index()
    }

    /// Splits, tokenizes, shingles and signs a document (at blank lines, or at line breaks
    /// when it has none). Pure CPU work, no locks.
    pub fn analyze(&self, text: impl Into<Arc<str>>) -> AnalyzedDocument {
        self.core.analyzer().document(text, Split::Auto)
    }

    /// [`Engine::analyze`] with a choice of paragraph splitting.
    pub fn analyze_with(&self, text: impl Into<Arc<str>>, split: Split) -> AnalyzedDocument {
        self.core.analyzer().document(text, split)
    }

    /// Reports what each paragraph of `doc` repeats, without indexing anything
    /// ([`Core::check`]).
    pub fn check(
        &self,
        doc: &AnalyzedDocument,
        name: &str,
        opts: &QueryOptions,
        texts: &impl Texts,
    ) -> Result<Report> {
        now(self.core.check(doc, name, opts, texts))
    }

    /// Reports on `doc` and indexes it under `name`, in one step ([`Core::submit`]).
    #[allow(clippy::too_many_arguments)]
    pub fn submit(
        &self,
        name: &str,
        doc: &AnalyzedDocument,
        metadata: BTreeMap<String, String>,
        stored_at_ms: u64,
        opts: &QueryOptions,
        replace: bool,
        split: Split,
        texts: &impl Texts,
    ) -> Result<Submitted> {
        now(self.core.submit(
            name,
            doc,
            metadata,
            stored_at_ms,
            opts,
            replace,
            split,
            texts,
        ))
    }

    /// Indexes an analyzed document under `name` without reporting on it (bulk loading;
    /// [`Engine::restore`] with the document's records).
    pub fn insert(&self, name: &str, doc: &AnalyzedDocument, split: Split) -> Result<DocId> {
        let records: Vec<ParagraphRecord> =
            doc.paragraphs.iter().filter_map(|p| p.record()).collect();
        let document = Document {
            id: 0,
            name: name.into(),
            metadata: BTreeMap::new(),
            stored_at_ms: 0,
            text_hash: xxhash_rust::xxh3::xxh3_64(doc.text.as_bytes()),
            split,
            paragraphs: doc.paragraphs.len(),
        };
        self.restore(document, &records)
    }

    /// Indexes a document from its stored records without reporting on it
    /// ([`Core::restore`]).
    pub fn restore(&self, document: Document, records: &[ParagraphRecord]) -> Result<DocId> {
        now(self.core.restore(document, records))
    }

    /// Indexes a document from its stored records as [`Engine::restore`] does, but keeps
    /// its bucket entries in `bulk` until [`Engine::finish_restore`]: restoring a whole
    /// store this way builds the tables in one go, which is several times faster and
    /// smaller than inserting entry by entry. Until then the documents exist but nothing
    /// matches them.
    pub fn restore_into(
        &self,
        bulk: &mut Bulk,
        document: Document,
        records: &[ParagraphRecord],
    ) -> Result<DocId> {
        let created = now(self.core.index().create(document, records, true))?;
        for (b, id) in self.core.restored_buckets(records, &created.paragraphs) {
            // The embedded index's ids are its 32-bit slots.
            if let Ok(slot) = u32::try_from(id) {
                bulk.push(b, slot);
            }
        }
        Ok(created.id)
    }

    /// Indexes what [`Engine::restore_into`] gathered.
    pub fn finish_restore(&self, bulk: Bulk) {
        self.core.index().freeze(bulk);
    }

    /// Removes a document: afterwards nothing matches its paragraphs.
    pub fn remove(&self, name: &str) -> Result<Document> {
        now(self.core.remove(name))
    }

    /// The stored document with that name.
    pub fn document(&self, name: &str) -> Option<Document> {
        now(self.core.document(name)).ok().flatten()
    }

    /// The stored paragraph records of a document, in order (what [`Engine::restore`]
    /// takes back).
    pub fn records(&self, name: &str) -> Option<Vec<ParagraphRecord>> {
        now(self.core.records(name)).ok().flatten()
    }

    /// Names of all stored documents (unordered).
    pub fn names(&self) -> Vec<Arc<str>> {
        self.core.index().names()
    }

    /// Counts and sizes.
    pub fn stats(&self) -> EngineStats {
        let s = self.core.index().stats();
        EngineStats {
            documents: s.documents,
            paragraphs: s.paragraphs,
            index_bytes: s.index_bytes,
            record_bytes: s.record_bytes,
            lsh: self.analyzer().shape().lsh,
            funnel: self.core.funnel(),
        }
    }
}

#[cfg(test)]
mod tests;
