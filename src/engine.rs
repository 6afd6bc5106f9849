//! The detection engine: documents in, per-paragraph reports of what they repeat out.
//!
//! The engine owns one index (a service keeps one engine per namespace). It is
//! synchronous and thread-safe: analysis (`analyze`) is pure CPU work that needs no lock,
//! and queries and inserts go through concurrent maps, so callers parallelize freely.
//! It knows nothing of transports or disks; durability is the caller's job (the service
//! writes to its store after `submit` succeeds and rolls back with `remove` if it fails).
//!
//! A submission is reported paragraph by paragraph, in order: each paragraph is compared
//! with every indexed paragraph and with the earlier paragraphs of the same document,
//! so repeats inside a document are flagged like repeats across documents.

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};
use crate::lsh::{self, LshIndex, LshParams, PostingMap, exact_key};
use crate::minhash::MinHasher;
use crate::text::{ParagraphSpan, ParagraphText, Split, analyze_paragraph, split_paragraphs_with};
use crate::verify::{self, MatchKind, Scores, Thresholds};

/// Engine settings. Those that shape signatures and the index (`num_perm`, `shingle`,
/// `seed`, the LSH ones) are fixed for the life of an index; the thresholds are defaults
/// that each query may override.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// MinHash permutations.
    pub num_perm: usize,
    /// Shingle size in words (a Chinese character counts 2/3 of a word).
    pub shingle: usize,
    /// Jaccard at or above which a pair is `near`.
    pub threshold: f64,
    /// Containment (either way) at or above which a pair is `partial`.
    pub containment: f64,
    /// Paragraphs shorter than this many words (Chinese: 1.5 characters a word) are too
    /// short to judge: reported as such, never matched, not indexed.
    pub min_length: f64,
    /// Similarity the LSH bands are tuned for (candidates below it are rarely found).
    pub lsh_threshold: f64,
    /// Upper bound on bands (each band costs one bucket entry per paragraph).
    pub max_bands: usize,
    /// Weight of false negatives in the bands × rows optimization (false positives get
    /// `1 - fn_weight`).
    pub fn_weight: f64,
    /// Most ids read whole from one LSH bucket per query. A bigger bucket is read only
    /// for `max_bucket / 8` ids, its first (usually the original) and its most recent
    /// ones: its value is a shingle so common (in thousands of paragraphs) that it says
    /// little, and reading such buckets whole made `check` 50 times slower at 300k
    /// English paragraphs (p50 11 ms at 1024, 0.2 ms at 64).
    pub max_bucket: usize,
    /// Most matches reported per paragraph.
    pub max_matches: usize,
    /// Seed of the shingle hash and the MinHash permutations.
    pub seed: u64,
    /// Keep document texts (needed for spans and for returning documents).
    pub retain_text: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            num_perm: 128,
            shingle: 2,
            threshold: 0.2,
            containment: 0.6,
            min_length: 6.0,
            lsh_threshold: 0.2,
            max_bands: 32,
            fn_weight: 0.95,
            max_bucket: 64,
            max_matches: 10,
            seed: 0x6e65_6172_6475_7030,
            retain_text: true,
        }
    }
}

impl Settings {
    /// Checks every value's range.
    pub fn validate(&self) -> Result<()> {
        let unit = |name: &'static str, v: f64| {
            if v > 0.0 && v <= 1.0 {
                Ok(())
            } else {
                Err(Error::invalid(name, format!("{v} is not in (0, 1]")))
            }
        };
        unit("threshold", self.threshold)?;
        unit("containment", self.containment)?;
        unit("lsh_threshold", self.lsh_threshold)?;
        if !(self.fn_weight > 0.0 && self.fn_weight < 1.0) {
            return Err(Error::invalid(
                "fn_weight",
                format!("{} is not in (0, 1)", self.fn_weight),
            ));
        }
        if !(1..=1024).contains(&self.num_perm) {
            return Err(Error::invalid(
                "num_perm",
                format!("{} is not in 1..=1024", self.num_perm),
            ));
        }
        if !(1..=16).contains(&self.shingle) {
            return Err(Error::invalid(
                "shingle",
                format!("{} is not in 1..=16", self.shingle),
            ));
        }
        if !(self.min_length >= 0.0 && self.min_length <= 10_000.0) {
            return Err(Error::invalid(
                "min_length",
                format!("{} is not in 0..=10000", self.min_length),
            ));
        }
        if self.max_bands == 0 || self.max_bucket == 0 || self.max_matches == 0 {
            return Err(Error::invalid(
                "max_bands/max_bucket/max_matches",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The bands × rows these settings give.
    pub fn lsh_params(&self) -> LshParams {
        LshParams::optimal(
            self.lsh_threshold,
            self.num_perm,
            self.max_bands,
            1.0 - self.fn_weight,
            self.fn_weight,
        )
    }

    /// The per-query options these settings give by default.
    pub fn query_options(&self) -> QueryOptions {
        QueryOptions {
            threshold: self.threshold,
            containment: self.containment,
            max_matches: self.max_matches,
            spans: true,
        }
    }

    /// Shared shingles a `near` or `partial` match needs (the long-reuse `partial` rule
    /// needs 8 times as many; see [`crate::verify`]): as many as a paragraph of the
    /// minimum length has, so a pair is never judged on less than a whole short
    /// paragraph's worth of text (two shared bigrams of six-word sentences mean nothing).
    pub fn min_shared(&self) -> usize {
        (self.min_length.round() as usize + 1)
            .saturating_sub(self.shingle)
            .max(3)
    }
}

/// Options of one query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryOptions {
    /// Jaccard for `near`.
    pub threshold: f64,
    /// Containment for `partial`.
    pub containment: f64,
    /// Most matches per paragraph.
    pub max_matches: usize,
    /// Whether to compute shared spans.
    pub spans: bool,
}

impl QueryOptions {
    /// Checks every value's range.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("threshold", self.threshold),
            ("containment", self.containment),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(Error::invalid(name, format!("{v} is not in (0, 1]")));
            }
        }
        if self.max_matches == 0 || self.max_matches > 1000 {
            return Err(Error::invalid(
                "max_matches",
                format!("{} is not in 1..=1000", self.max_matches),
            ));
        }
        Ok(())
    }
}

/// Internal id of a stored document.
pub type DocId = u32;

/// A document cut into analyzed paragraphs, ready to check or submit.
#[derive(Debug, Clone)]
pub struct AnalyzedDocument {
    /// The original text.
    pub text: Arc<str>,
    /// Its paragraphs, in order.
    pub paragraphs: Vec<AnalyzedParagraph>,
}

/// One analyzed paragraph.
#[derive(Debug, Clone)]
pub struct AnalyzedParagraph {
    /// Where it is in the document.
    pub span: ParagraphSpan,
    /// Its tokens, shingles and set.
    pub text: ParagraphText,
    /// Its LSH bucket keys (empty when too short).
    pub band_keys: Vec<u32>,
    /// Shorter than `min_length`.
    pub too_short: bool,
}

/// Whether a paragraph repeats anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParagraphStatus {
    /// Repeats nothing earlier.
    New,
    /// Repeats at least one earlier paragraph.
    Recycled,
    /// Too short to judge.
    TooShort,
}

/// The earlier paragraph a match points to.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRef {
    /// Its document (`None`: the document being checked, which is not stored).
    pub document: Option<DocId>,
    /// Its document's name (the caller's id).
    pub name: Arc<str>,
    /// Its index in that document.
    pub paragraph: usize,
    /// Its first code point in that document.
    pub start: usize,
    /// One past its last code point.
    pub end: usize,
    /// Its 1-based line.
    pub line: usize,
}

/// A run of shared text: code-point ranges in the query document and the source document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Start in the query document.
    pub start: usize,
    /// End in the query document.
    pub end: usize,
    /// Start in the source document.
    pub source_start: usize,
    /// End in the source document.
    pub source_end: usize,
}

/// One earlier paragraph that a paragraph repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The earlier paragraph.
    pub source: SourceRef,
    /// How it is repeated.
    pub kind: MatchKind,
    /// Exact scores.
    pub scores: Scores,
    /// Shared text (empty unless asked for, or when the source text is not kept).
    pub spans: Vec<Span>,
}

/// The report on one paragraph.
#[derive(Debug, Clone, PartialEq)]
pub struct ParagraphReport {
    /// 0-based position in the document.
    pub index: usize,
    /// First code point.
    pub start: usize,
    /// One past the last code point.
    pub end: usize,
    /// 1-based line.
    pub line: usize,
    /// New, recycled or too short.
    pub status: ParagraphStatus,
    /// Best matches first: exact, then near, then partial; higher Jaccard first.
    pub matches: Vec<Match>,
}

/// Totals over a document's report.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Paragraphs in the document.
    pub paragraphs: usize,
    /// Paragraphs with at least one match.
    pub recycled: usize,
    /// Paragraphs too short to judge.
    pub too_short: usize,
    /// Share of the paragraphs' code points that are in recycled paragraphs.
    pub recycled_share: f64,
    /// Distinct documents matched (the document itself counts when it repeats itself).
    pub distinct_sources: usize,
}

/// The report on one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Per paragraph, in order.
    pub paragraphs: Vec<ParagraphReport>,
    /// Totals.
    pub summary: Summary,
}

/// What `submit` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    /// The stored document's id.
    pub id: DocId,
    /// False when the same text was already stored under that name (nothing changed).
    pub created: bool,
    /// True when an earlier text under that name was replaced.
    pub replaced: bool,
    /// The report (against everything indexed before this document).
    pub report: Report,
}

/// A stored document, as returned by [`Engine::document`].
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Internal id.
    pub id: DocId,
    /// The caller's id.
    pub name: Arc<str>,
    /// The text (when the engine keeps texts).
    pub text: Option<Arc<str>>,
    /// Its paragraphs.
    pub paragraphs: Vec<ParagraphSpan>,
    /// Caller metadata.
    pub metadata: BTreeMap<String, String>,
    /// When it was stored, in milliseconds since the Unix epoch (set by the caller).
    pub stored_at_ms: u64,
    /// xxh3 of the text, to tell an idempotent resubmission from a conflicting one.
    pub text_hash: u64,
}

struct StoredParagraph {
    doc: DocId,
    index: u32,
    content_hash: u64,
    set: Box<[u32]>,
}

struct StoredDocument {
    doc: Arc<Document>,
    /// Paragraph id of each paragraph (`None` when too short).
    pids: Box<[Option<u32>]>,
}

/// Engine-wide counts and sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineStats {
    /// Stored documents.
    pub documents: usize,
    /// Indexed paragraphs (too-short ones are not indexed).
    pub paragraphs: usize,
    /// Bytes of the LSH and exact-hash tables.
    pub index_bytes: usize,
    /// Bands × rows in use.
    pub lsh: LshParams,
}

/// The detection engine. See the module docs.
pub struct Engine {
    settings: Settings,
    hasher: MinHasher,
    lsh: LshIndex,
    exact: PostingMap,
    paragraphs: DashMap<u32, StoredParagraph>,
    documents: DashMap<DocId, StoredDocument>,
    names: DashMap<Arc<str>, DocId>,
    next_pid: AtomicU32,
    next_doc: AtomicU32,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A candidate source: an indexed paragraph or an earlier one of the same document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Candidate {
    Indexed(u32),
    Earlier(usize),
}

impl Engine {
    /// A new, empty engine.
    pub fn new(settings: Settings) -> Result<Engine> {
        settings.validate()?;
        let params = settings.lsh_params();
        Ok(Engine {
            hasher: MinHasher::new(settings.num_perm, settings.seed),
            lsh: LshIndex::new(params, settings.max_bucket, settings.seed),
            exact: PostingMap::default(),
            paragraphs: DashMap::default(),
            documents: DashMap::default(),
            names: DashMap::default(),
            next_pid: AtomicU32::new(0),
            next_doc: AtomicU32::new(0),
            settings,
        })
    }

    /// The engine's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Splits, tokenizes, shingles and signs a document. Pure CPU work, no locks.
    pub fn analyze(&self, text: impl Into<Arc<str>>) -> AnalyzedDocument {
        self.analyze_with(text, Split::Auto)
    }

    /// [`Engine::analyze`] with a choice of paragraph splitting.
    pub fn analyze_with(&self, text: impl Into<Arc<str>>, split: Split) -> AnalyzedDocument {
        let text: Arc<str> = text.into();
        let paragraphs = split_paragraphs_with(&text, split)
            .into_iter()
            .map(|span| self.analyze_span(&text, span))
            .collect();
        AnalyzedDocument { text, paragraphs }
    }

    fn analyze_span(&self, text: &str, span: ParagraphSpan) -> AnalyzedParagraph {
        let analyzed =
            analyze_paragraph(span.text(text), self.settings.shingle, self.settings.seed);
        let too_short =
            analyzed.length < self.settings.min_length as f32 || analyzed.set.is_empty();
        let band_keys = if too_short {
            Vec::new()
        } else {
            self.lsh.band_keys(&self.hasher.signature(&analyzed.set))
        };
        AnalyzedParagraph {
            span,
            text: analyzed,
            band_keys,
            too_short,
        }
    }

    /// Reports what each paragraph of `doc` repeats, without indexing anything. `name`
    /// is what matches to the document's own earlier paragraphs call it.
    pub fn check(&self, doc: &AnalyzedDocument, name: &str, opts: &QueryOptions) -> Result<Report> {
        opts.validate()?;
        Ok(self.report(doc, (None, name.into()), None, opts))
    }

    /// Reports on `doc` and then indexes it under `name`.
    ///
    /// The same name with the same text is idempotent (`created == false`, and the report
    /// leaves the stored copy out). With a different text it fails with
    /// [`Error::AlreadyExists`] unless `replace` is set.
    pub fn submit(
        &self,
        name: &str,
        doc: AnalyzedDocument,
        metadata: BTreeMap<String, String>,
        stored_at_ms: u64,
        opts: &QueryOptions,
        replace: bool,
    ) -> Result<Submitted> {
        opts.validate()?;
        if name.is_empty() {
            return Err(Error::invalid("document id", "must not be empty"));
        }
        let text_hash = xxhash_rust::xxh3::xxh3_64(doc.text.as_bytes());
        let mut replaced = false;
        if let Some(existing) = self.document(name) {
            if existing.text_hash == text_hash
                && existing.text.as_deref().is_none_or(|t| *t == *doc.text)
            {
                let report = self.report(
                    &doc,
                    (Some(existing.id), existing.name.clone()),
                    Some(existing.id),
                    opts,
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
        let id = self.next_doc.fetch_add(1, Ordering::Relaxed);
        let name: Arc<str> = name.into();
        match self.names.entry(name.clone()) {
            Entry::Occupied(_) => return Err(Error::AlreadyExists(name.to_string())),
            Entry::Vacant(v) => {
                v.insert(id);
            }
        }
        let report = self.report(&doc, (Some(id), name.clone()), None, opts);
        self.insert(id, name, doc, metadata, stored_at_ms, text_hash);
        Ok(Submitted {
            id,
            created: true,
            replaced,
            report,
        })
    }

    /// Indexes a document without reporting on it (recovery from a store). Fails with
    /// [`Error::AlreadyExists`] if the name is taken.
    pub fn restore(
        &self,
        name: &str,
        doc: AnalyzedDocument,
        metadata: BTreeMap<String, String>,
        stored_at_ms: u64,
    ) -> Result<DocId> {
        let id = self.next_doc.fetch_add(1, Ordering::Relaxed);
        let name: Arc<str> = name.into();
        match self.names.entry(name.clone()) {
            Entry::Occupied(_) => return Err(Error::AlreadyExists(name.to_string())),
            Entry::Vacant(v) => {
                v.insert(id);
            }
        }
        let text_hash = xxhash_rust::xxh3::xxh3_64(doc.text.as_bytes());
        self.insert(id, name, doc, metadata, stored_at_ms, text_hash);
        Ok(id)
    }

    fn insert(
        &self,
        id: DocId,
        name: Arc<str>,
        doc: AnalyzedDocument,
        metadata: BTreeMap<String, String>,
        stored_at_ms: u64,
        text_hash: u64,
    ) {
        let mut pids = Vec::with_capacity(doc.paragraphs.len());
        for p in &doc.paragraphs {
            if p.too_short {
                pids.push(None);
                continue;
            }
            let pid = self.next_pid.fetch_add(1, Ordering::Relaxed);
            self.paragraphs.insert(
                pid,
                StoredParagraph {
                    doc: id,
                    index: p.span.index as u32,
                    content_hash: p.text.content_hash,
                    set: p.text.set.clone().into_boxed_slice(),
                },
            );
            self.exact.insert(exact_key(p.text.content_hash), pid);
            self.lsh.insert(pid, &p.band_keys);
            pids.push(Some(pid));
        }
        let document = Document {
            id,
            name,
            text: self.settings.retain_text.then_some(doc.text),
            paragraphs: doc.paragraphs.iter().map(|p| p.span).collect(),
            metadata,
            stored_at_ms,
            text_hash,
        };
        self.documents.insert(
            id,
            StoredDocument {
                doc: Arc::new(document),
                pids: pids.into_boxed_slice(),
            },
        );
    }

    /// Removes a document: afterwards nothing matches its paragraphs.
    pub fn remove(&self, name: &str) -> Result<Document> {
        let (_, id) = self
            .names
            .remove(name)
            .ok_or_else(|| Error::NotFound(name.to_string()))?;
        let Some((_, stored)) = self.documents.remove(&id) else {
            return Err(Error::NotFound(name.to_string()));
        };
        for pid in stored.pids.iter().flatten() {
            if let Some((_, p)) = self.paragraphs.remove(pid) {
                self.exact.remove(exact_key(p.content_hash), *pid);
                self.lsh
                    .remove(*pid, &self.lsh.band_keys(&self.hasher.signature(&p.set)));
            }
        }
        Ok(Arc::unwrap_or_clone(stored.doc))
    }

    /// The stored document with that name.
    pub fn document(&self, name: &str) -> Option<Document> {
        let id = *self.names.get(name)?;
        self.documents.get(&id).map(|d| (*d.doc).clone())
    }

    /// Names of all stored documents (unordered).
    pub fn names(&self) -> Vec<Arc<str>> {
        self.names.iter().map(|e| e.key().clone()).collect()
    }

    /// Counts and sizes.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            documents: self.documents.len(),
            paragraphs: self.paragraphs.len(),
            index_bytes: self.lsh.memory_bytes() + self.exact.memory_bytes(),
            lsh: self.lsh.params(),
        }
    }

    fn report(
        &self,
        doc: &AnalyzedDocument,
        this: (Option<DocId>, Arc<str>),
        exclude: Option<DocId>,
        opts: &QueryOptions,
    ) -> Report {
        let thresholds = Thresholds {
            jaccard: opts.threshold,
            containment: opts.containment,
            min_shared: self.settings.min_shared(),
        };
        let mut earlier_bands: HashMap<u32, Vec<usize>> = HashMap::new();
        let mut earlier_exact: HashMap<u32, Vec<usize>> = HashMap::new();
        let mut paragraphs = Vec::with_capacity(doc.paragraphs.len());
        let mut candidates: Vec<Candidate> = Vec::new();
        for (i, p) in doc.paragraphs.iter().enumerate() {
            let mut report = ParagraphReport {
                index: p.span.index,
                start: p.span.start,
                end: p.span.end,
                line: p.span.line,
                status: ParagraphStatus::TooShort,
                matches: Vec::new(),
            };
            if p.too_short {
                paragraphs.push(report);
                continue;
            }
            candidates.clear();
            let key = exact_key(p.text.content_hash);
            // Identical paragraphs are interchangeable: a few more than can be reported
            // is enough, however common the paragraph is.
            let exact_limit = 2 * opts.max_matches + 8;
            self.exact.for_each(key, exact_limit, |pid| {
                candidates.push(Candidate::Indexed(pid))
            });
            self.lsh
                .candidates(&p.band_keys, |pid| candidates.push(Candidate::Indexed(pid)));
            // The document's own earlier paragraphs, read with the same bounds, so a
            // document of a thousand identical paragraphs stays linear.
            let max_bucket = self.settings.max_bucket;
            let earlier = p
                .band_keys
                .iter()
                .filter_map(|k| earlier_bands.get(k))
                .map(|ids| (ids, lsh::read_limit(ids.len(), max_bucket)));
            let earlier = earlier.chain(earlier_exact.get(&key).map(|ids| (ids, exact_limit)));
            for (ids, limit) in earlier {
                // Like `PostingMap::for_each`: the first (the original) and the most recent.
                let first = ids.first().filter(|_| limit > 0);
                let recent = ids
                    .get(1..)
                    .unwrap_or_default()
                    .iter()
                    .rev()
                    .take(limit.saturating_sub(1));
                candidates.extend(
                    first
                        .into_iter()
                        .chain(recent)
                        .map(|&j| Candidate::Earlier(j)),
                );
            }
            candidates.sort_unstable();
            candidates.dedup();
            for &c in &candidates {
                if let Some(m) = self.verify(doc, &this, p, c, exclude, &thresholds) {
                    report.matches.push(m);
                }
            }
            report.matches.sort_by(|a, b| {
                (
                    a.kind,
                    b.scores.jaccard,
                    b.scores.containment.max(b.scores.containment_source),
                    a.source.document,
                    a.source.paragraph,
                )
                    .partial_cmp(&(
                        b.kind,
                        a.scores.jaccard,
                        a.scores.containment.max(a.scores.containment_source),
                        b.source.document,
                        b.source.paragraph,
                    ))
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            report.matches.truncate(opts.max_matches);
            if opts.spans {
                for m in &mut report.matches {
                    m.spans = self.spans(doc, p, is_self(m, &this), &m.source);
                }
            }
            report.status = if report.matches.is_empty() {
                ParagraphStatus::New
            } else {
                ParagraphStatus::Recycled
            };
            paragraphs.push(report);
            for &k in &p.band_keys {
                earlier_bands.entry(k).or_default().push(i);
            }
            earlier_exact.entry(key).or_default().push(i);
        }
        let summary = summarize(&paragraphs);
        Report {
            paragraphs,
            summary,
        }
    }

    fn verify(
        &self,
        doc: &AnalyzedDocument,
        this: &(Option<DocId>, Arc<str>),
        p: &AnalyzedParagraph,
        c: Candidate,
        exclude: Option<DocId>,
        t: &Thresholds,
    ) -> Option<Match> {
        let (scores, identical, source) = match c {
            Candidate::Earlier(j) => {
                let q = &doc.paragraphs[j];
                let scores = verify::candidate_scores(&p.text.set, &q.text.set, t)?;
                let identical =
                    q.text.content_hash == p.text.content_hash && q.text.set == p.text.set;
                let source = SourceRef {
                    document: this.0,
                    name: this.1.clone(),
                    paragraph: q.span.index,
                    start: q.span.start,
                    end: q.span.end,
                    line: q.span.line,
                };
                (scores, identical, source)
            }
            Candidate::Indexed(pid) => {
                let (doc_id, index, scores, identical) = {
                    let stored = self.paragraphs.get(&pid)?;
                    if Some(stored.doc) == exclude {
                        return None;
                    }
                    let scores = verify::candidate_scores(&p.text.set, &stored.set, t)?;
                    let identical =
                        stored.content_hash == p.text.content_hash && *stored.set == *p.text.set;
                    (stored.doc, stored.index as usize, scores, identical)
                };
                let d = self.documents.get(&doc_id)?;
                let span = d.doc.paragraphs.get(index)?;
                let source = SourceRef {
                    document: Some(doc_id),
                    name: d.doc.name.clone(),
                    paragraph: index,
                    start: span.start,
                    end: span.end,
                    line: span.line,
                };
                (scores, identical, source)
            }
        };
        let kind = verify::classify(&scores, identical, t)?;
        Some(Match {
            source,
            kind,
            scores,
            spans: Vec::new(),
        })
    }

    fn spans(
        &self,
        doc: &AnalyzedDocument,
        p: &AnalyzedParagraph,
        earlier: bool,
        source: &SourceRef,
    ) -> Vec<Span> {
        let stored;
        let (source_text, source_shingles) = if earlier {
            let q = &doc.paragraphs[source.paragraph];
            (q, &q.text)
        } else {
            let Some(d) = source
                .document
                .and_then(|id| self.documents.get(&id))
                .map(|d| d.doc.clone())
            else {
                return Vec::new();
            };
            let (Some(text), Some(span)) = (d.text.as_ref(), d.paragraphs.get(source.paragraph))
            else {
                return Vec::new();
            };
            stored = self.analyze_span(text, *span);
            (&stored, &stored.text)
        };
        let base_q = p.span.start;
        let base_s = source_text.span.start;
        verify::shared_spans(&p.text.shingles, &source_shingles.shingles)
            .into_iter()
            .map(|s| Span {
                start: base_q + p.text.tokens[s.q_first as usize].start as usize,
                end: base_q + p.text.tokens[s.q_last as usize - 1].end as usize,
                source_start: base_s + source_shingles.tokens[s.s_first as usize].start as usize,
                source_end: base_s + source_shingles.tokens[s.s_last as usize - 1].end as usize,
            })
            .collect()
    }
}

/// True when a match points into the document being reported on: its id is never an
/// indexed candidate's (new documents are indexed after their report, and a resubmitted
/// one is excluded).
fn is_self(m: &Match, this: &(Option<DocId>, Arc<str>)) -> bool {
    m.source.document == this.0
}

fn summarize(paragraphs: &[ParagraphReport]) -> Summary {
    let total: usize = paragraphs.iter().map(|p| p.end - p.start).sum();
    let recycled: usize = paragraphs
        .iter()
        .filter(|p| p.status == ParagraphStatus::Recycled)
        .map(|p| p.end - p.start)
        .sum();
    let sources: HashSet<Option<DocId>> = paragraphs
        .iter()
        .flat_map(|p| p.matches.iter().map(|m| m.source.document))
        .collect();
    Summary {
        paragraphs: paragraphs.len(),
        recycled: paragraphs
            .iter()
            .filter(|p| p.status == ParagraphStatus::Recycled)
            .count(),
        too_short: paragraphs
            .iter()
            .filter(|p| p.status == ParagraphStatus::TooShort)
            .count(),
        recycled_share: if total == 0 {
            0.0
        } else {
            recycled as f64 / total as f64
        },
        distinct_sources: sources.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "The committee reviewed the annual budget in detail and found that spending on roads had doubled.";
    const B: &str = "Rainfall in the northern provinces was well below the seasonal average for the third year running.";

    fn engine() -> Engine {
        Engine::new(Settings::default()).unwrap()
    }

    fn submit(e: &Engine, name: &str, text: &str) -> Result<Submitted> {
        e.submit(
            name,
            e.analyze(text),
            BTreeMap::new(),
            0,
            &e.settings().query_options(),
            false,
        )
    }

    fn sources(r: &Report) -> Vec<Vec<(Option<DocId>, usize, MatchKind)>> {
        r.paragraphs
            .iter()
            .map(|p| {
                p.matches
                    .iter()
                    .map(|m| (m.source.document, m.source.paragraph, m.kind))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn submit_reports_earlier_documents_and_own_repeats() {
        let e = engine();
        let first = submit(&e, "a", &format!("{A}\n\n{B}")).unwrap();
        assert!(first.created);
        assert_eq!(first.report.summary.recycled, 0);
        let second = submit(&e, "b", &format!("{B}\n\nshort one\n\n{B}")).unwrap();
        let s = sources(&second.report);
        assert_eq!(s[0], [(Some(first.id), 1, MatchKind::Exact)]);
        assert_eq!(
            second.report.paragraphs[1].status,
            ParagraphStatus::TooShort
        );
        assert_eq!(
            s[2],
            [
                (Some(first.id), 1, MatchKind::Exact),
                (Some(second.id), 0, MatchKind::Exact)
            ]
        );
        assert_eq!(second.report.summary.distinct_sources, 2);
        assert_eq!(second.report.summary.recycled, 2);
    }

    #[test]
    fn check_indexes_nothing_and_names_the_checked_document() {
        let e = engine();
        let doc = e.analyze(format!("{A}\n\n{A}"));
        let r = e
            .check(&doc, "draft", &e.settings().query_options())
            .unwrap();
        assert_eq!(r.paragraphs[1].matches[0].source.document, None);
        assert_eq!(&*r.paragraphs[1].matches[0].source.name, "draft");
        assert_eq!(e.stats().documents, 0);
        assert_eq!(e.stats().paragraphs, 0);
        assert!(
            e.check(&e.analyze(A), "again", &e.settings().query_options())
                .unwrap()
                .paragraphs[0]
                .matches
                .is_empty()
        );
    }

    #[test]
    fn resubmission_is_idempotent_conflicts_or_replaces() {
        let e = engine();
        let id = submit(&e, "a", A).unwrap().id;
        let again = submit(&e, "a", A).unwrap();
        assert_eq!((again.id, again.created), (id, false));
        assert!(
            again.report.paragraphs[0].matches.is_empty(),
            "a document does not match itself"
        );
        assert_eq!(submit(&e, "a", B), Err(Error::AlreadyExists("a".into())));
        let opts = e.settings().query_options();
        let replaced = e
            .submit("a", e.analyze(B), BTreeMap::new(), 5, &opts, true)
            .unwrap();
        assert!(replaced.replaced && replaced.created);
        assert_eq!(e.document("a").unwrap().text.as_deref(), Some(B));
        assert_eq!(e.stats().documents, 1);
        assert!(
            e.check(&e.analyze(A), "q", &opts).unwrap().paragraphs[0]
                .matches
                .is_empty()
        );
    }

    #[test]
    fn removed_documents_match_nothing() {
        let e = engine();
        submit(&e, "a", A).unwrap();
        let opts = e.settings().query_options();
        assert_eq!(
            e.check(&e.analyze(A), "q", &opts).unwrap().summary.recycled,
            1
        );
        let removed = e.remove("a").unwrap();
        assert_eq!(&*removed.name, "a");
        assert_eq!(
            e.check(&e.analyze(A), "q", &opts).unwrap().summary.recycled,
            0
        );
        assert_eq!(e.remove("a").unwrap_err(), Error::NotFound("a".into()));
        assert_eq!(e.stats().paragraphs, 0);
        assert!(submit(&e, "", A).is_err());
    }

    #[test]
    fn a_document_of_identical_paragraphs_reports_bounded_matches() {
        let e = engine();
        let text = vec![A; 3000].join("\n\n");
        let r = submit(&e, "same", &text).unwrap().report;
        assert_eq!(r.summary.recycled, 2999);
        let max = e.settings().max_matches;
        assert!(
            r.paragraphs[1..]
                .iter()
                .all(|p| p.matches.len() == p.index.min(max))
        );
        // The original is reported, then the nearest earlier copies.
        let last = &r.paragraphs[2999].matches;
        assert_eq!(last[0].source.paragraph, 0);
        assert!(
            last[1..]
                .iter()
                .all(|m| m.source.paragraph >= 2999 - 2 * max - 8)
        );
    }

    #[test]
    fn invalid_settings_and_options_are_refused() {
        for s in [
            Settings {
                threshold: 0.0,
                ..Settings::default()
            },
            Settings {
                containment: 1.5,
                ..Settings::default()
            },
            Settings {
                num_perm: 0,
                ..Settings::default()
            },
            Settings {
                shingle: 0,
                ..Settings::default()
            },
            Settings {
                min_length: f64::NAN,
                ..Settings::default()
            },
        ] {
            assert!(matches!(Engine::new(s), Err(Error::InvalidArgument { .. })));
        }
        let e = engine();
        let bad = QueryOptions {
            max_matches: 0,
            ..e.settings().query_options()
        };
        assert!(e.check(&e.analyze(A), "q", &bad).is_err());
    }
}
