//! The embedded engine: an in-memory index and catalog, and the reports of what each
//! paragraph of a document repeats.
//!
//! The engine owns one index (a service keeps one engine per namespace). It is
//! synchronous and thread-safe: analysis ([`Analyzer`]) is pure CPU work that needs no
//! lock, and queries and inserts go through concurrent maps, so callers parallelize
//! freely. It knows nothing of transports or disks: durability is the caller's job (the
//! [`crate::service`] layer writes to its store after `submit` succeeds and rolls back with
//! `remove` if it fails), and the texts of stored documents stay in the store, which a
//! query reads through [`Texts`] for the spans of the matches it reports.
//!
//! A submission is reported paragraph by paragraph, in order: each paragraph is compared
//! with every indexed paragraph and with the earlier paragraphs of the same document, so
//! repeats inside a document are flagged like repeats across documents.
//!
//! # Concurrent submissions
//!
//! A submission writes its paragraph records, then appends each paragraph to its buckets
//! with an atomic read-and-append ([`PostingMap::append_read`]), and only then decides its
//! report from what was in those buckets before it. Of two submissions that share a
//! bucket, the later appender sees the earlier, so at least one sees the other. Which one
//! reports the other is then decided the same way on both sides (`query::reports_concurrent`):
//! a submission that finished appending before the other began is the source; otherwise
//! the one that appended second to their lowest shared bucket reports the first. So of two
//! concurrent near-duplicates exactly one reports the other (when the lowest shared
//! bucket is read whole, or the first is among its most recent ids), and the rule needs no
//! lock across buckets: it carries over to a shared remote index.

mod query;
mod report;
mod settings;

pub use query::Found;
pub use report::{
    DocId, Document, EngineStats, Match, ParagraphReport, ParagraphStatus, Report, SourceRef, Span,
    Submitted, Summary,
};
pub use settings::{QueryOptions, Settings};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::analysis::{AnalyzedDocument, AnalyzedParagraph, Analyzer, ParagraphRecord};
use crate::error::{Error, Result};
use crate::index::{BandKey, LocalTable, PostingMap, ReadPolicy, Sketch, Slab, exact_key};
use crate::text::Split;

/// Where the engine reads the texts of stored documents (the store: the engine keeps no
/// copy), for the spans of reported matches.
pub trait Texts {
    /// The text of the stored document `name`, if it is there.
    fn text(&self, name: &str) -> Option<Arc<str>>;
}

impl<F: Fn(&str) -> Option<Arc<str>>> Texts for F {
    fn text(&self, name: &str) -> Option<Arc<str>> {
        self(name)
    }
}

/// No texts: matches with stored documents come without spans.
pub struct NoTexts;

impl Texts for NoTexts {
    fn text(&self, _: &str) -> Option<Arc<str>> {
        None
    }
}

/// An indexed paragraph: its place and what verification needs.
struct Stored {
    doc: DocId,
    index: u32,
    start: u32,
    end: u32,
    line: u32,
    content_hash: u64,
    set: Box<[u32]>,
    sketch: Sketch,
}

/// A stored document: its catalog entry, its paragraphs' slots and the stamps of its
/// submission (see the module docs).
struct Entry2 {
    doc: Arc<Document>,
    slots: Box<[u32]>,
    /// Clock value taken before its first append.
    started: u64,
    /// Clock value taken after its last append; [`IN_PROGRESS`] until then.
    finished: AtomicU64,
}

/// `finished` of a submission still appending.
const IN_PROGRESS: u64 = 0;
/// `finished` of a restored document: before every live submission.
const RESTORED: u64 = 1;

/// The detection engine. See the module docs.
pub struct Engine {
    settings: Settings,
    analyzer: Analyzer,
    policy: ReadPolicy,
    bands: PostingMap,
    exact: PostingMap,
    paragraphs: Slab<Stored>,
    documents: DashMap<DocId, Entry2>,
    names: DashMap<Arc<str>, DocId>,
    next_doc: AtomicU64,
    clock: AtomicU64,
    /// Test hook: called with a submission's name and the number of buckets it has
    /// appended to so far, to interleave concurrent submissions deterministically.
    #[cfg(test)]
    after_append: std::sync::RwLock<Option<AppendHook>>,
}

#[cfg(test)]
type AppendHook = Arc<dyn Fn(&str, usize) + Send + Sync>;

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A candidate source: an indexed paragraph (by slot) or an earlier paragraph of the
/// document being checked (by position).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Candidate {
    Indexed(u32),
    Earlier(usize),
}

/// Which of the two posting maps a bucket is in, and its key: what the concurrent-submit
/// rule compares.
type Bucket = (u8, BandKey);

/// A submission's id, start stamp and what it read from each bucket, for the
/// concurrent-submit rule.
type Submitting<'a> = (DocId, u64, &'a [(u32, Bucket)]);

/// The name and catalog entry of each source document of a report, once read.
type Sources = HashMap<DocId, Option<(Arc<str>, Arc<Document>)>>;
const EXACT: u8 = 0;
const BANDS: u8 = 1;

impl Engine {
    /// A new, empty engine.
    pub fn new(settings: Settings) -> Result<Engine> {
        settings.validate()?;
        Ok(Engine {
            analyzer: Analyzer::new(settings.shape())?,
            policy: settings.read_policy(),
            bands: PostingMap::default(),
            exact: PostingMap::default(),
            paragraphs: Slab::default(),
            documents: DashMap::default(),
            names: DashMap::default(),
            next_doc: AtomicU64::new(0),
            clock: AtomicU64::new(RESTORED + 1),
            settings,
            #[cfg(test)]
            after_append: Default::default(),
        })
    }

    /// The engine's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The analyzer documents must be analyzed with before they are checked or submitted.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Splits, tokenizes, shingles and signs a document (at blank lines, or at line breaks
    /// when it has none). Pure CPU work, no locks.
    pub fn analyze(&self, text: impl Into<Arc<str>>) -> AnalyzedDocument {
        self.analyzer.document(text, Split::Auto)
    }

    /// [`Engine::analyze`] with a choice of paragraph splitting.
    pub fn analyze_with(&self, text: impl Into<Arc<str>>, split: Split) -> AnalyzedDocument {
        self.analyzer.document(text, split)
    }

    /// Reports what each paragraph of `doc` repeats, without indexing anything. `name`
    /// is what matches to the document's own earlier paragraphs call it.
    pub fn check(
        &self,
        doc: &AnalyzedDocument,
        name: &str,
        opts: &QueryOptions,
        texts: &dyn Texts,
    ) -> Result<Report> {
        opts.validate()?;
        Ok(self.read_report(doc, (None, name.into()), None, opts, texts))
    }

    /// Reports on `doc` and indexes it under `name`, in one step (see the module docs).
    ///
    /// The same name with the same text is idempotent (`created == false`, and the report
    /// leaves the stored copy out). With a different text it fails with
    /// [`Error::AlreadyExists`] unless `replace` is set. `texts` gives the texts of stored
    /// documents, for spans.
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
        texts: &dyn Texts,
    ) -> Result<Submitted> {
        opts.validate()?;
        if name.is_empty() {
            return Err(Error::invalid("document id", "must not be empty"));
        }
        if doc.text.len() > u32::MAX as usize {
            return Err(Error::TooLarge(format!(
                "text is {} bytes, more than an index can address ({})",
                doc.text.len(),
                u32::MAX
            )));
        }
        let text_hash = xxhash_rust::xxh3::xxh3_64(doc.text.as_bytes());
        let mut replaced = false;
        if let Some(existing) = self.document(name) {
            if existing.text_hash == text_hash && texts.text(name).is_none_or(|t| *t == *doc.text) {
                let report = self.read_report(
                    doc,
                    (Some(existing.id), existing.name.clone()),
                    Some(existing.id),
                    opts,
                    texts,
                );
                return Ok(Submitted {
                    id: existing.id,
                    created: false,
                    replaced: false,
                    report,
                });
            }
            if !replace {
                return Err(Error::AlreadyExists(name.to_string()));
            }
            self.remove(name)?;
            replaced = true;
        }
        let name: Arc<str> = name.into();
        let id = self.next_doc.fetch_add(1, Ordering::Relaxed);
        match self.names.entry(name.clone()) {
            Entry::Occupied(_) => return Err(Error::AlreadyExists(name.to_string())),
            Entry::Vacant(v) => {
                v.insert(id);
            }
        }
        let records: Vec<ParagraphRecord> =
            doc.paragraphs.iter().filter_map(|p| p.record()).collect();
        let document = Document {
            id,
            name: name.clone(),
            metadata,
            stored_at_ms,
            text_hash,
            split,
            paragraphs: doc.paragraphs.len(),
        };
        let slots = match self.insert_records(id, document, &records, IN_PROGRESS) {
            Ok(slots) => slots,
            Err(e) => {
                self.names.remove(&name);
                return Err(e);
            }
        };
        let report = self.submit_report(doc, id, &name, &slots, opts, texts);
        Ok(Submitted {
            id,
            created: true,
            replaced,
            report,
        })
    }

    /// Indexes a document from its stored records without reporting on it (recovery from
    /// a store; nothing is analyzed again). Fails with [`Error::AlreadyExists`] if the
    /// name is taken.
    pub fn restore(&self, document: Document, records: &[ParagraphRecord]) -> Result<DocId> {
        let id = self.next_doc.fetch_add(1, Ordering::Relaxed);
        let name = document.name.clone();
        match self.names.entry(name.clone()) {
            Entry::Occupied(_) => return Err(Error::AlreadyExists(name.to_string())),
            Entry::Vacant(v) => {
                v.insert(id);
            }
        }
        let document = Document { id, ..document };
        match self.insert_records(id, document, records, RESTORED) {
            Ok(slots) => {
                for (r, &slot) in records.iter().zip(slots.iter()) {
                    self.exact.insert(exact_key(r.content_hash), slot);
                    for &k in &r.band_keys {
                        self.bands.insert(k, slot);
                    }
                }
                Ok(id)
            }
            Err(e) => {
                self.names.remove(&name);
                Err(e)
            }
        }
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

    /// Stores the paragraph records and the catalog entry of a new document (not yet in
    /// any bucket).
    fn insert_records(
        &self,
        id: DocId,
        document: Document,
        records: &[ParagraphRecord],
        finished: u64,
    ) -> Result<Box<[u32]>> {
        let mut slots = Vec::with_capacity(records.len());
        for r in records {
            let stored = Stored {
                doc: id,
                index: r.index,
                start: r.start,
                end: r.end,
                line: r.line,
                content_hash: r.content_hash,
                set: r.set.clone().into_boxed_slice(),
                sketch: r.sketch,
            };
            match self.paragraphs.insert(stored) {
                Some(slot) => slots.push(slot),
                None => {
                    for &s in &slots {
                        self.paragraphs.take(s);
                        self.paragraphs.release(s);
                    }
                    return Err(Error::TooLarge(
                        "the index holds as many paragraphs as it can address".into(),
                    ));
                }
            }
        }
        let slots: Box<[u32]> = slots.into();
        let started = if finished == IN_PROGRESS {
            self.clock.fetch_add(1, Ordering::SeqCst)
        } else {
            RESTORED
        };
        self.documents.insert(
            id,
            Entry2 {
                doc: Arc::new(document),
                slots: slots.clone(),
                started,
                finished: AtomicU64::new(finished),
            },
        );
        Ok(slots)
    }

    /// Removes a document: afterwards nothing matches its paragraphs.
    pub fn remove(&self, name: &str) -> Result<Document> {
        let (_, id) = self
            .names
            .remove(name)
            .ok_or_else(|| Error::NotFound(name.to_string()))?;
        let Some((_, entry)) = self.documents.remove(&id) else {
            return Err(Error::NotFound(name.to_string()));
        };
        // Records go first, so a query that still finds a slot in a bucket drops it; the
        // slots are reused only once no bucket holds them.
        for &slot in entry.slots.iter() {
            if let Some(p) = self.paragraphs.take(slot) {
                self.exact.remove(exact_key(p.content_hash), slot);
                for k in self.analyzer.band_keys_of(&p.set) {
                    self.bands.remove(k, slot);
                }
                self.paragraphs.release(slot);
            }
        }
        Ok(Arc::unwrap_or_clone(entry.doc))
    }

    /// The stored document with that name.
    pub fn document(&self, name: &str) -> Option<Document> {
        let id = *self.names.get(name)?;
        self.documents.get(&id).map(|d| (*d.doc).clone())
    }

    /// The stored paragraph records of a document, in order (what [`Engine::restore`]
    /// takes back).
    pub fn records(&self, name: &str) -> Option<Vec<ParagraphRecord>> {
        let id = *self.names.get(name)?;
        let slots = self.documents.get(&id)?.slots.clone();
        slots
            .iter()
            .map(|&slot| {
                self.paragraphs.with(slot, |p| ParagraphRecord {
                    index: p.index,
                    start: p.start,
                    end: p.end,
                    line: p.line,
                    content_hash: p.content_hash,
                    set: p.set.to_vec(),
                    band_keys: self.analyzer.band_keys_of(&p.set),
                    sketch: p.sketch,
                })
            })
            .collect()
    }

    /// Names of all stored documents (unordered).
    pub fn names(&self) -> Vec<Arc<str>> {
        self.names.iter().map(|e| e.key().clone()).collect()
    }

    /// Counts and sizes.
    pub fn stats(&self) -> EngineStats {
        let mut sets = 0usize;
        self.paragraphs.for_each(|p| sets += p.set.len() * 4);
        EngineStats {
            documents: self.documents.len(),
            paragraphs: self.paragraphs.len(),
            index_bytes: self.bands.memory_bytes() + self.exact.memory_bytes(),
            record_bytes: self.paragraphs.memory_bytes() + sets,
            lsh: self.settings.lsh_params(),
        }
    }

    /// The report of a check (or an unchanged resubmission): nothing is appended. The
    /// document's own earlier paragraphs come from a [`LocalTable`].
    fn read_report(
        &self,
        doc: &AnalyzedDocument,
        this: (Option<DocId>, Arc<str>),
        exclude: Option<DocId>,
        opts: &QueryOptions,
        texts: &dyn Texts,
    ) -> Report {
        let judged = || {
            doc.paragraphs
                .iter()
                .enumerate()
                .filter(|(_, p)| !p.too_short)
        };
        let local_bands = LocalTable::new(
            judged()
                .flat_map(|(i, p)| p.band_keys.iter().map(move |&k| (k, i as u32)))
                .collect(),
        );
        let local_exact =
            LocalTable::new(judged().map(|(i, p)| (p.exact_key(), i as u32)).collect());
        let exact_policy = opts.exact_policy();
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut local: Vec<u32> = Vec::new();
        let mut found = Vec::with_capacity(doc.paragraphs.len());
        for (i, p) in doc.paragraphs.iter().enumerate() {
            candidates.clear();
            if !p.too_short {
                let buckets =
                    std::iter::once((&self.exact, &local_exact, p.exact_key(), exact_policy))
                        .chain(
                            p.band_keys
                                .iter()
                                .map(|&k| (&self.bands, &local_bands, k, self.policy)),
                        );
                for (map, table, key, policy) in buckets {
                    local.clear();
                    local.extend(table.earlier(key, i as u32));
                    let global = map.read_at_most(key, policy, local.len(), |slot| {
                        candidates.push(Candidate::Indexed(slot))
                    });
                    let sel = policy.select(global, local.len());
                    candidates.extend(
                        crate::index::Selection::pick(sel.local_first, sel.local_recent, &local)
                            .map(|j| Candidate::Earlier(j as usize)),
                    );
                }
            }
            found.push(self.verify_all(doc, i, &candidates, exclude, opts, None));
        }
        self.finish(doc, this, found, opts, texts)
    }

    /// The report of a new submission whose records are stored under `slots` (one per
    /// judged paragraph, in order): appends every paragraph to its buckets, then decides.
    fn submit_report(
        &self,
        doc: &AnalyzedDocument,
        id: DocId,
        name: &Arc<str>,
        slots: &[u32],
        opts: &QueryOptions,
        texts: &dyn Texts,
    ) -> Report {
        let exact_policy = opts.exact_policy();
        // What each judged paragraph found in each of its buckets before it.
        let mut seen: Vec<Vec<(u32, Bucket)>> = Vec::with_capacity(slots.len());
        let judged: Vec<usize> = (0..doc.paragraphs.len())
            .filter(|&i| !doc.paragraphs[i].too_short)
            .collect();
        for (&i, &slot) in judged.iter().zip(slots) {
            let p = &doc.paragraphs[i];
            let mut before = Vec::new();
            let key = p.exact_key();
            self.exact
                .append_read(key, slot, exact_policy, |s| before.push((s, (EXACT, key))));
            self.appended(name, 1);
            for (n, &k) in p.band_keys.iter().enumerate() {
                self.bands
                    .append_read(k, slot, self.policy, |s| before.push((s, (BANDS, k))));
                self.appended(name, n + 2);
            }
            seen.push(before);
        }
        let started = match self.documents.get(&id) {
            Some(e) => {
                e.finished
                    .store(self.clock.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
                e.started
            }
            None => 0,
        };
        let mut found = Vec::with_capacity(doc.paragraphs.len());
        let mut seen = seen.into_iter();
        let mut candidates = Vec::new();
        for (i, p) in doc.paragraphs.iter().enumerate() {
            if p.too_short {
                found.push(Vec::new());
                continue;
            }
            let before = seen.next().unwrap_or_default();
            candidates.clear();
            candidates.extend(before.iter().map(|&(s, _)| Candidate::Indexed(s)));
            let this = (id, started, before.as_slice());
            found.push(self.verify_all(doc, i, &candidates, None, opts, Some(this)));
        }
        self.finish(doc, (Some(id), name.clone()), found, opts, texts)
    }

    #[cfg(test)]
    fn appended(&self, name: &str, n: usize) {
        let hook = self.after_append.read().unwrap().clone();
        if let Some(hook) = hook {
            hook(name, n);
        }
    }

    #[cfg(not(test))]
    #[inline(always)]
    fn appended(&self, _: &str, _: usize) {}

    /// Verifies paragraph `i`'s candidates; `submitting` carries the submission's id,
    /// start stamp and bucket reads, for the concurrent-submit rule.
    fn verify_all(
        &self,
        doc: &AnalyzedDocument,
        i: usize,
        candidates: &[Candidate],
        exclude: Option<DocId>,
        opts: &QueryOptions,
        submitting: Option<Submitting<'_>>,
    ) -> Vec<Found> {
        let p = &doc.paragraphs[i];
        let mut candidates = candidates.to_vec();
        candidates.sort_unstable();
        candidates.dedup();
        let t = self.settings.thresholds(opts);
        let mut found = Vec::new();
        for c in candidates {
            let hit = match c {
                Candidate::Earlier(j) => {
                    let q = &doc.paragraphs[j];
                    query::verify(p, &q.text.set, q.text.content_hash, &q.sketch, &t).map(
                        |(kind, scores)| Found {
                            source: query::Source::Earlier(j),
                            kind,
                            scores,
                            order: (None, q.span.index as u32),
                            content_hash: q.text.content_hash,
                            copies: 0,
                        },
                    )
                }
                Candidate::Indexed(slot) => self
                    .paragraphs
                    .with(slot, |s| {
                        if Some(s.doc) == exclude {
                            return None;
                        }
                        let (kind, scores) =
                            query::verify(p, &s.set, s.content_hash, &s.sketch, &t)?;
                        Some(Found {
                            source: query::Source::Indexed {
                                doc: s.doc,
                                index: s.index,
                                start: s.start,
                                end: s.end,
                                line: s.line,
                            },
                            kind,
                            scores,
                            order: (Some(s.doc), s.index),
                            content_hash: s.content_hash,
                            copies: 0,
                        })
                    })
                    .flatten()
                    .filter(|f| match (submitting, f.source) {
                        (Some((me, started, before)), query::Source::Indexed { doc, .. })
                            if doc != me =>
                        {
                            self.reports(p, slot, doc, started, before)
                        }
                        _ => true,
                    }),
            };
            found.extend(hit);
        }
        query::select(found, opts.max_matches)
    }

    /// Whether the submission that started at `started` and read `before` reports the
    /// verified candidate in `slot` (of document `other`): see the module docs.
    fn reports(
        &self,
        p: &AnalyzedParagraph,
        slot: u32,
        other: DocId,
        started: u64,
        before: &[(u32, Bucket)],
    ) -> bool {
        let Some(finished) = self
            .documents
            .get(&other)
            .map(|e| e.finished.load(Ordering::SeqCst))
        else {
            return false;
        };
        if finished != IN_PROGRESS && finished < started {
            return true;
        }
        let Some(theirs) = self.paragraphs.with(slot, |s| {
            let mut keys: Vec<Bucket> = vec![(EXACT, exact_key(s.content_hash))];
            keys.extend(
                self.analyzer
                    .band_keys_of(&s.set)
                    .into_iter()
                    .map(|k| (BANDS, k)),
            );
            keys
        }) else {
            return false;
        };
        let mine: Vec<Bucket> = std::iter::once((EXACT, p.exact_key()))
            .chain(p.band_keys.iter().map(|&k| (BANDS, k)))
            .collect();
        query::reports_concurrent(&mine, &theirs, |bucket| {
            before.iter().any(|&(s, b)| s == slot && b == bucket)
        })
    }

    /// Turns verified matches into the report: sources, spans, statuses, totals.
    fn finish(
        &self,
        doc: &AnalyzedDocument,
        this: (Option<DocId>, Arc<str>),
        found: Vec<Vec<Found>>,
        opts: &QueryOptions,
        texts: &dyn Texts,
    ) -> Report {
        let mut sources: Sources = HashMap::new();
        let mut paragraphs = Vec::with_capacity(doc.paragraphs.len());
        for (p, found) in doc.paragraphs.iter().zip(found) {
            let mut report = ParagraphReport {
                index: p.span.index,
                start: p.span.start,
                end: p.span.end,
                line: p.span.line,
                status: if p.too_short {
                    ParagraphStatus::TooShort
                } else {
                    ParagraphStatus::New
                },
                matches: Vec::new(),
            };
            for f in found {
                let m = match f.source {
                    query::Source::Earlier(j) => {
                        let q = &doc.paragraphs[j];
                        let spans = if opts.spans {
                            query::spans(p, &q.text, q.span.start)
                        } else {
                            Vec::new()
                        };
                        Match {
                            source: SourceRef {
                                document: this.0,
                                name: this.1.clone(),
                                paragraph: q.span.index,
                                start: q.span.start,
                                end: q.span.end,
                                line: q.span.line,
                            },
                            kind: f.kind,
                            scores: f.scores,
                            spans,
                            copies: f.copies,
                        }
                    }
                    query::Source::Indexed {
                        doc: doc_id,
                        index,
                        start,
                        end,
                        line,
                    } => {
                        let (name, spans) = if Some(doc_id) == this.0 {
                            // An earlier paragraph of this very submission.
                            let spans = match doc.paragraphs.get(index as usize) {
                                Some(q) if opts.spans => query::spans(p, &q.text, q.span.start),
                                _ => Vec::new(),
                            };
                            (this.1.clone(), spans)
                        } else {
                            let source = sources.entry(doc_id).or_insert_with(|| {
                                let d = self.documents.get(&doc_id)?.doc.clone();
                                let text = if opts.spans {
                                    texts.text(&d.name).unwrap_or_else(|| "".into())
                                } else {
                                    "".into()
                                };
                                Some((text, d))
                            });
                            // A source removed meanwhile is not reported.
                            let Some((text, d)) = source else { continue };
                            let spans = if opts.spans {
                                query::spans_in_text(
                                    &self.analyzer,
                                    p,
                                    text,
                                    start as usize,
                                    end as usize,
                                )
                            } else {
                                Vec::new()
                            };
                            (d.name.clone(), spans)
                        };
                        Match {
                            source: SourceRef {
                                document: Some(doc_id),
                                name,
                                paragraph: index as usize,
                                start: start as usize,
                                end: end as usize,
                                line: line as usize,
                            },
                            kind: f.kind,
                            scores: f.scores,
                            spans,
                            copies: f.copies,
                        }
                    }
                };
                report.matches.push(m);
            }
            if !report.matches.is_empty() {
                report.status = ParagraphStatus::Recycled;
            }
            paragraphs.push(report);
        }
        Report::new(paragraphs)
    }
}

#[cfg(test)]
mod tests;
