//! [`Core`]: the engine's whole flow — check, submit, remove, restore — written once over
//! any [`Index`]. It plans what to look up, awaits the index, and decides from what came
//! back with the pure functions of [`super::query`]. It names no runtime: the embedded
//! [`super::Engine`] drives it over a [`MemoryIndex`] whose futures are ready when made,
//! and a remote index drives the same code over the network.
//!
//! [`MemoryIndex`]: crate::index::MemoryIndex

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::edited::{self, GreyQuery};
use super::query::{self, Found, Source};
use super::{
    Match, ParagraphReport, ParagraphStatus, QueryOptions, Report, Settings, SourceRef, Submitted,
};
use crate::analysis::{AnalyzedDocument, AnalyzedParagraph, Analyzer, ParagraphRecord};
use crate::error::{Error, Result};
use crate::index::{
    BandKey, Bucket, DocId, DocState, Document, Head, IN_PROGRESS, Index, LocalTable, Lookup, Map,
    ParagraphId, ReadPolicy, Selection, exact_key,
};
use crate::text::{Chars, Split};
use crate::verify::{MatchKind, Side};

/// Where the engine reads the texts of stored documents (the store: the engine keeps no
/// copy), for the spans of reported matches.
pub trait Texts {
    /// The text of the stored document `name`, if it is there.
    fn text(&self, name: &str) -> impl Future<Output = Option<Arc<str>>> + Send;
}

impl<F: Fn(&str) -> Option<Arc<str>>> Texts for F {
    fn text(&self, name: &str) -> impl Future<Output = Option<Arc<str>>> + Send {
        std::future::ready(self(name))
    }
}

/// No texts: matches with stored documents come without spans.
pub struct NoTexts;

impl Texts for NoTexts {
    fn text(&self, _: &str) -> impl Future<Output = Option<Arc<str>>> + Send {
        std::future::ready(None)
    }
}

/// A candidate source: an indexed paragraph, or an earlier paragraph of the document being
/// checked (by position).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Candidate {
    Indexed(ParagraphId),
    Earlier(usize),
}

/// A submission's id, start stamp and, per judged paragraph, what it read from each bucket
/// before appending to it: what the concurrent-submit rule needs.
struct Submitting<'a> {
    id: DocId,
    started: u64,
    seen: &'a [Vec<(ParagraphId, Bucket)>],
}

/// What verification decided, per paragraph: the matches to report, and whether the
/// paragraph is boilerplate.
struct Judged {
    found: Vec<Vec<Found>>,
    boilerplate: Vec<bool>,
}

/// The engine over an index; see the module docs.
#[derive(Debug)]
pub struct Core<I> {
    settings: Settings,
    analyzer: Analyzer,
    policy: ReadPolicy,
    index: I,
    funnel: FunnelCounters,
}

/// Running counts of the candidate funnel (see [`Funnel`]).
#[derive(Debug, Default)]
struct FunnelCounters {
    candidates: AtomicU64,
    verified: AtomicU64,
    matched: AtomicU64,
}

/// How many indexed candidates the engine has examined since it started, how many of
/// them the sketch let through to an exact comparison of shingle sets, and how many of
/// those matched: the precision of candidate generation, which decides what a query
/// costs. (Candidates among the earlier paragraphs of the same document are not counted.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Funnel {
    /// Indexed candidates examined (distinct per query paragraph).
    pub candidates: u64,
    /// Candidates the sketch did not reject, whose sets were compared.
    pub verified: u64,
    /// Verified candidates that matched.
    pub matched: u64,
}

/// The buckets of an analyzed paragraph: its exact key, then its bands.
fn buckets(p: &AnalyzedParagraph) -> impl Iterator<Item = Bucket> + '_ {
    buckets_of(p.exact_key(), &p.band_keys)
}

/// The buckets of a paragraph with this exact key and these band keys, exact first.
fn buckets_of(exact: BandKey, bands: &[BandKey]) -> impl Iterator<Item = Bucket> + '_ {
    std::iter::once(Bucket {
        map: Map::Exact,
        key: exact,
    })
    .chain(bands.iter().map(|&key| Bucket {
        map: Map::Bands,
        key,
    }))
}

impl<I: Index> Core<I> {
    /// The engine over `index`, whose contents must have been made with `settings`.
    pub fn new(settings: Settings, index: I) -> Result<Core<I>> {
        settings.validate()?;
        Ok(Core {
            analyzer: Analyzer::new(settings.shape())?,
            policy: settings.read_policy(),
            settings,
            index,
            funnel: FunnelCounters::default(),
        })
    }

    /// The candidate funnel so far.
    pub fn funnel(&self) -> Funnel {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Funnel {
            candidates: get(&self.funnel.candidates),
            verified: get(&self.funnel.verified),
            matched: get(&self.funnel.matched),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The analyzer documents must be analyzed with.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// The index.
    pub fn index(&self) -> &I {
        &self.index
    }

    /// The buckets of a stored paragraph: its exact key and the band keys of its set.
    fn stored_buckets(&self, content_hash: u64, set: &[u32]) -> Vec<Bucket> {
        buckets_of(exact_key(content_hash), &self.analyzer.band_keys_of(set)).collect()
    }

    /// Reports what each paragraph of `doc` repeats, indexing nothing. `name` is what
    /// matches to the document's own earlier paragraphs call it.
    pub async fn check(
        &self,
        doc: &AnalyzedDocument,
        name: &str,
        opts: &QueryOptions,
        texts: &impl Texts,
    ) -> Result<Report> {
        opts.validate()?;
        self.read_report(doc, (None, name.into()), None, opts, texts)
            .await
    }

    /// Reports on `doc` and indexes it under `name`, in one step: the paragraphs are
    /// appended to their buckets, and the report is decided from what was there before
    /// (see [`super`] on concurrent submissions).
    ///
    /// The same name with the same text is idempotent (`created == false`, and the report
    /// leaves the stored copy out). With a different text it fails with
    /// [`Error::AlreadyExists`] unless `replace` is set.
    #[allow(clippy::too_many_arguments)]
    pub async fn submit(
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
        if let Some(existing) = self.index.document(name).await? {
            if existing.text_hash == text_hash
                && texts.text(name).await.is_none_or(|t| *t == *doc.text)
            {
                let this = (Some(existing.id), existing.name.clone());
                let report = self
                    .read_report(doc, this, Some(existing.id), opts, texts)
                    .await?;
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
            self.remove(name).await?;
            replaced = true;
        }
        let name: Arc<str> = name.into();
        let records: Vec<ParagraphRecord> =
            doc.paragraphs.iter().filter_map(|p| p.record()).collect();
        let document = Document {
            id: 0,
            name: name.clone(),
            metadata,
            stored_at_ms,
            text_hash,
            split,
            paragraphs: doc.paragraphs.len(),
        };
        let created = self.index.create(document, &records, false).await?;
        let report = self
            .submit_report(
                doc,
                &name,
                &created.paragraphs,
                created.id,
                created.started,
                opts,
                texts,
            )
            .await?;
        Ok(Submitted {
            id: created.id,
            created: true,
            replaced,
            report,
        })
    }

    /// Indexes a document from its stored records without reporting on it (recovery from
    /// a store; nothing is analyzed again). Fails with [`Error::AlreadyExists`] if the
    /// name is taken.
    pub async fn restore(&self, document: Document, records: &[ParagraphRecord]) -> Result<DocId> {
        let created = self.index.create(document, records, true).await?;
        let entries = self.restored_buckets(records, &created.paragraphs);
        self.index.append(&entries).await?;
        Ok(created.id)
    }

    /// The bucket entries of restored records, given the ids their paragraphs got: the
    /// stored band keys, or keys computed from the set when a record has none.
    pub fn restored_buckets(
        &self,
        records: &[ParagraphRecord],
        ids: &[ParagraphId],
    ) -> Vec<(Bucket, ParagraphId)> {
        let mut entries = Vec::with_capacity(records.len() * (self.analyzer.shape().lsh.bands + 1));
        for (r, &pid) in records.iter().zip(ids) {
            let buckets = if r.band_keys.is_empty() {
                self.stored_buckets(r.content_hash, &r.set)
            } else {
                buckets_of(exact_key(r.content_hash), &r.band_keys).collect()
            };
            entries.extend(buckets.into_iter().map(|b| (b, pid)));
        }
        entries
    }

    /// Removes a document: afterwards nothing matches its paragraphs.
    pub async fn remove(&self, name: &str) -> Result<Document> {
        let document = self
            .index
            .document(name)
            .await?
            .ok_or_else(|| Error::NotFound(name.to_string()))?;
        let buckets: Vec<(ParagraphId, Vec<Bucket>)> = self
            .index
            .records(document.id)
            .await?
            .into_iter()
            .map(|(pid, r)| (pid, self.stored_buckets(r.content_hash, &r.set)))
            .collect();
        self.index.delete(&document, &buckets).await?;
        Ok(document)
    }

    /// The catalog entry under `name`.
    pub async fn document(&self, name: &str) -> Result<Option<Document>> {
        self.index.document(name).await
    }

    /// The stored paragraph records of a document, in order, band keys included (what
    /// [`Core::restore`] takes back).
    pub async fn records(&self, name: &str) -> Result<Option<Vec<ParagraphRecord>>> {
        let Some(document) = self.index.document(name).await? else {
            return Ok(None);
        };
        let records = self.index.records(document.id).await?;
        Ok(Some(
            records
                .into_iter()
                .map(|(_, mut r)| {
                    if r.band_keys.is_empty() {
                        r.band_keys = self.analyzer.band_keys_of(&r.set);
                    }
                    r
                })
                .collect(),
        ))
    }

    /// The report of a check (or an unchanged resubmission): nothing is appended. The
    /// document's own earlier paragraphs come from [`LocalTable`]s.
    async fn read_report(
        &self,
        doc: &AnalyzedDocument,
        this: (Option<DocId>, Arc<str>),
        exclude: Option<DocId>,
        opts: &QueryOptions,
        texts: &impl Texts,
    ) -> Result<Report> {
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
        // One read of every bucket of every paragraph, with the earlier paragraphs of the
        // document that share each bucket.
        let mut lookups: Vec<Lookup> = Vec::new();
        let mut locals: Vec<Vec<u32>> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        for (i, p) in judged() {
            for bucket in buckets(p) {
                let (table, policy) = match bucket.map {
                    Map::Exact => (&local_exact, exact_policy),
                    Map::Bands => (&local_bands, self.policy),
                };
                let local: Vec<u32> = table.earlier(bucket.key, i as u32).collect();
                lookups.push(Lookup {
                    bucket,
                    policy,
                    local: local.len(),
                });
                locals.push(local);
                owner.push(i);
            }
        }
        let reads = self.index.read(&lookups).await?;
        let mut candidates: Vec<Vec<Candidate>> = vec![Vec::new(); doc.paragraphs.len()];
        for (((lookup, read), local), &i) in lookups.iter().zip(reads).zip(&locals).zip(&owner) {
            let c = &mut candidates[i];
            c.extend(read.ids.into_iter().map(Candidate::Indexed));
            let sel = lookup.policy.select(read.len, local.len());
            c.extend(
                Selection::pick(sel.local_first, sel.local_recent, local)
                    .map(|j| Candidate::Earlier(j as usize)),
            );
        }
        let found = self
            .verify_document(doc, candidates, exclude, opts, None, texts)
            .await?;
        self.finish(doc, this, found, opts, texts).await
    }

    /// The report of a new submission whose records are stored under `pids` (one per
    /// judged paragraph, in order): appends every paragraph to its buckets, then decides.
    #[allow(clippy::too_many_arguments)]
    async fn submit_report(
        &self,
        doc: &AnalyzedDocument,
        name: &Arc<str>,
        pids: &[ParagraphId],
        id: DocId,
        started: u64,
        opts: &QueryOptions,
        texts: &impl Texts,
    ) -> Result<Report> {
        let exact_policy = opts.exact_policy();
        let judged: Vec<usize> = (0..doc.paragraphs.len())
            .filter(|&i| !doc.paragraphs[i].too_short)
            .collect();
        let mut entries: Vec<(Bucket, ParagraphId, ReadPolicy)> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        for (n, (&i, &pid)) in judged.iter().zip(pids).enumerate() {
            for bucket in buckets(&doc.paragraphs[i]) {
                let policy = match bucket.map {
                    Map::Exact => exact_policy,
                    Map::Bands => self.policy,
                };
                entries.push((bucket, pid, policy));
                owner.push(n);
            }
        }
        let befores = self.index.append_read(&entries).await?;
        self.index.finish(id).await?;
        let mut seen: Vec<Vec<(ParagraphId, Bucket)>> = vec![Vec::new(); judged.len()];
        for (((bucket, _, _), before), &n) in entries.iter().zip(befores).zip(&owner) {
            seen[n].extend(before.into_iter().map(|s| (s, *bucket)));
        }
        let mut candidates: Vec<Vec<Candidate>> = vec![Vec::new(); doc.paragraphs.len()];
        for (n, &i) in judged.iter().enumerate() {
            candidates[i] = seen[n]
                .iter()
                .map(|&(s, _)| Candidate::Indexed(s))
                .collect();
        }
        let submitting = Submitting {
            id,
            started,
            seen: &seen,
        };
        let found = self
            .verify_document(doc, candidates, None, opts, Some(submitting), texts)
            .await?;
        self.finish(doc, (Some(id), name.clone()), found, opts, texts)
            .await
    }

    /// Verifies every paragraph's candidates: the heads of indexed candidates in one
    /// batch, the sketch test, the sets of the survivors the index did not give at once,
    /// exact verification, the edited-copy stage for the grey zone (when asked for), and
    /// for a submission the concurrent-submit rule.
    async fn verify_document(
        &self,
        doc: &AnalyzedDocument,
        mut candidates: Vec<Vec<Candidate>>,
        exclude: Option<DocId>,
        opts: &QueryOptions,
        submitting: Option<Submitting<'_>>,
        texts: &impl Texts,
    ) -> Result<Judged> {
        let own = submitting.as_ref().map(|s| s.id).or(exclude);
        let k = self.settings.boilerplate;
        let t = self.settings.thresholds(opts);
        let min_shared = t.min_shared;
        for c in &mut candidates {
            c.sort_unstable();
            c.dedup();
        }
        let mut ids: Vec<ParagraphId> = candidates
            .iter()
            .flatten()
            .filter_map(|c| match c {
                Candidate::Indexed(id) => Some(*id),
                Candidate::Earlier(_) => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let heads: HashMap<ParagraphId, Head> = ids
            .iter()
            .copied()
            .zip(self.index.heads(&ids).await?)
            .filter_map(|(id, h)| Some((id, h?)))
            .filter(|(_, h)| Some(h.doc) != exclude)
            .collect();
        // The sketch rejects most candidates before any set is touched.
        let passes = |p: &AnalyzedParagraph, h: &Head| {
            let need = crate::verify::shared_needed(p.text.set.len(), h.set_len as usize, &t);
            p.sketch
                .may_reach(&h.sketch, p.text.set.len(), h.set_len as usize, need)
        };
        // A candidate the sketch rejects for every kind may still be an edited copy.
        let grey = |p: &AnalyzedParagraph, h: &Head| {
            opts.edited
                && GreyQuery::of(&p.text, &p.sketch).may_be(
                    &h.sketch,
                    h.set_len as usize,
                    min_shared,
                )
        };
        let mut missing: Vec<ParagraphId> = Vec::new();
        for (i, c) in candidates.iter().enumerate() {
            let p = &doc.paragraphs[i];
            for cand in c {
                if let Candidate::Indexed(id) = cand
                    && let Some(h) = heads.get(id)
                    && h.set.is_none()
                    && (passes(p, h) || grey(p, h))
                {
                    missing.push(*id);
                }
            }
        }
        missing.sort_unstable();
        missing.dedup();
        let fetched: HashMap<ParagraphId, Arc<[u32]>> = if missing.is_empty() {
            HashMap::new()
        } else {
            missing
                .iter()
                .copied()
                .zip(self.index.sets(&missing).await?)
                .filter_map(|(id, s)| Some((id, s?)))
                .collect()
        };
        let indexed = |id: ParagraphId, h: &Head, kind, scores| Found {
            source: Source::Indexed {
                id,
                doc: h.doc,
                index: h.index,
                start: h.start,
                end: h.end,
                line: h.line,
            },
            kind,
            scores,
            order: (Some(h.doc), h.index),
            content_hash: h.content_hash,
            copies: 0,
            edited: None,
        };
        let mut found: Vec<Vec<Found>> = Vec::with_capacity(doc.paragraphs.len());
        let mut funnel = Funnel::default();
        // Grey-zone candidates of stored documents, decided once their texts are read.
        let mut greys: Vec<(usize, Found)> = Vec::new();
        for (i, c) in candidates.iter().enumerate() {
            let p = &doc.paragraphs[i];
            let mut hits = Vec::new();
            // The paragraph's alignment units, made at its first grey candidate.
            let mut units = None;
            let zone = GreyQuery::of(&p.text, &p.sketch);
            for cand in c {
                match *cand {
                    Candidate::Earlier(j) => {
                        let q = &doc.paragraphs[j];
                        let earlier = |kind, scores, edited| Found {
                            source: Source::Earlier(j),
                            kind,
                            scores,
                            order: (None, q.span.index as u32),
                            content_hash: q.text.content_hash,
                            copies: 0,
                            edited,
                        };
                        if let Some((kind, scores)) =
                            query::verify(p, &q.text.set, q.text.content_hash, &q.sketch, &t)
                        {
                            hits.push(earlier(kind, scores, None));
                        } else if opts.edited
                            && let Some(scores) = zone.test(
                                Side {
                                    set: &q.text.set,
                                    content_hash: q.text.content_hash,
                                    sketch: &q.sketch,
                                },
                                min_shared,
                            )
                        {
                            let u = units.get_or_insert_with(|| edited::units(&p.text));
                            let s = edited::units(&q.text);
                            if let Some(a) = edited::decide(u, &s, min_shared) {
                                hits.push(earlier(MatchKind::Edited, scores, Some(a)));
                            }
                        }
                    }
                    Candidate::Indexed(id) => {
                        let Some(h) = heads.get(&id) else { continue };
                        funnel.candidates += 1;
                        let strict = passes(p, h);
                        if !strict && !grey(p, h) {
                            continue;
                        }
                        let Some(set) = h.set.as_ref().or_else(|| fetched.get(&id)) else {
                            continue;
                        };
                        let verified = if strict {
                            funnel.verified += 1;
                            query::verify_sets(p, set, h.content_hash, &t)
                        } else {
                            None
                        };
                        if let Some((kind, scores)) = verified {
                            funnel.matched += 1;
                            hits.push(indexed(id, h, kind, scores));
                        } else if opts.edited
                            && let Some(scores) = zone.scores(set, min_shared)
                        {
                            greys.push((i, indexed(id, h, MatchKind::Edited, scores)));
                        }
                    }
                }
            }
            found.push(hits);
        }
        let add = |c: &AtomicU64, n: u64| c.fetch_add(n, Ordering::Relaxed);
        add(&self.funnel.candidates, funnel.candidates);
        add(&self.funnel.verified, funnel.verified);
        add(&self.funnel.matched, funnel.matched);
        if !greys.is_empty() {
            let own = submitting.as_ref().map(|s| s.id);
            self.decide_greys(doc, own, greys, &mut found, min_shared, texts)
                .await?;
        }
        if let Some(s) = submitting {
            self.apply_concurrent_rule(doc, &mut found, &heads, &fetched, &s)
                .await?;
        }
        // Boilerplate is decided on every verified copy, before the matches are cut to
        // `max_matches`: the documents it recurs in, besides this one.
        let boilerplate = found
            .iter()
            .map(|hits| {
                let mut docs: Vec<DocId> = hits
                    .iter()
                    .filter(|f| matches!(f.kind, MatchKind::Exact | MatchKind::Near))
                    .filter_map(|f| f.order.0)
                    .filter(|&d| Some(d) != own)
                    .collect();
                docs.sort_unstable();
                docs.dedup();
                k > 0 && docs.len() + 1 >= k
            })
            .collect();
        let found = found
            .into_iter()
            .map(|hits| query::select(hits, opts.max_matches))
            .collect();
        Ok(Judged { found, boilerplate })
    }

    /// The text stage for grey-zone candidates of stored documents: reads each source
    /// document's text once (`own` is a submission's own id: its text is `doc`), aligns,
    /// and adds the edited copies to `found`. A source whose text is not there is not
    /// decided.
    async fn decide_greys(
        &self,
        doc: &AnalyzedDocument,
        own: Option<DocId>,
        greys: Vec<(usize, Found)>,
        found: &mut [Vec<Found>],
        min_shared: usize,
        texts: &impl Texts,
    ) -> Result<()> {
        let mut docs: Vec<DocId> = greys
            .iter()
            .filter_map(|(_, f)| match f.source {
                Source::Indexed { doc, .. } if Some(doc) != own => Some(doc),
                _ => None,
            })
            .collect();
        docs.sort_unstable();
        docs.dedup();
        let states = self.index.documents(&docs).await?;
        let mut source_texts: HashMap<DocId, Arc<str>> = HashMap::new();
        for (&id, state) in docs.iter().zip(states) {
            if let Some(state) = state
                && let Some(text) = texts.text(&state.name).await
            {
                source_texts.insert(id, text);
            }
        }
        let source_texts: HashMap<DocId, Chars> = source_texts
            .iter()
            .map(|(&id, text)| (id, Chars::new(text)))
            .collect();
        let mut units: HashMap<usize, Vec<crate::edit::Unit>> = HashMap::new();
        for (i, mut f) in greys {
            let Source::Indexed {
                doc: d,
                index,
                start,
                end,
                ..
            } = f.source
            else {
                continue;
            };
            let source = if Some(d) == own {
                match doc.paragraphs.get(index as usize) {
                    Some(q) => edited::units(&q.text),
                    None => continue,
                }
            } else {
                let Some(text) = source_texts.get(&d) else {
                    continue;
                };
                let Some(slice) = text.get(start as usize, end as usize) else {
                    continue;
                };
                edited::text_units(&self.analyzer, slice)
            };
            let u = units
                .entry(i)
                .or_insert_with(|| edited::units(&doc.paragraphs[i].text));
            if let Some(a) = edited::decide(u, &source, min_shared) {
                f.edited = Some(a);
                found[i].push(f);
            }
        }
        Ok(())
    }

    /// Drops, from a submission's matches, the sources that report it instead (see the
    /// concurrent-submit rule in [`super`]).
    async fn apply_concurrent_rule(
        &self,
        doc: &AnalyzedDocument,
        found: &mut [Vec<Found>],
        heads: &HashMap<ParagraphId, Head>,
        fetched: &HashMap<ParagraphId, Arc<[u32]>>,
        s: &Submitting<'_>,
    ) -> Result<()> {
        let mut others: Vec<DocId> = found
            .iter()
            .flatten()
            .filter_map(|f| match f.source {
                Source::Indexed { doc, .. } if doc != s.id => Some(doc),
                _ => None,
            })
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        others.sort_unstable();
        others.dedup();
        let states: HashMap<DocId, Option<DocState>> = others
            .iter()
            .copied()
            .zip(self.index.documents(&others).await?)
            .collect();
        let judged: Vec<usize> = (0..doc.paragraphs.len())
            .filter(|&i| !doc.paragraphs[i].too_short)
            .collect();
        for (n, &i) in judged.iter().enumerate() {
            let p = &doc.paragraphs[i];
            let seen = &s.seen[n];
            found[i].retain(|f| {
                let Source::Indexed { id, doc: other, .. } = f.source else {
                    return true;
                };
                if other == s.id {
                    return true;
                }
                let Some(Some(state)) = states.get(&other) else {
                    return false;
                };
                if state.finished != IN_PROGRESS && state.finished < s.started {
                    return true;
                }
                // Concurrent: the one that appended second to the lowest shared bucket
                // reports the other.
                let Some(h) = heads.get(&id) else {
                    return false;
                };
                let Some(set) = h.set.as_ref().or_else(|| fetched.get(&id)) else {
                    return false;
                };
                let theirs = self.stored_buckets(h.content_hash, set);
                let mine: Vec<Bucket> = buckets(p).collect();
                query::reports_concurrent(&mine, &theirs, |b| {
                    seen.iter().any(|&(sid, sb)| sid == id && sb == b)
                })
            });
        }
        Ok(())
    }

    /// Turns verified matches into the report: sources, spans, statuses, totals.
    async fn finish(
        &self,
        doc: &AnalyzedDocument,
        this: (Option<DocId>, Arc<str>),
        judged: Judged,
        opts: &QueryOptions,
        texts: &impl Texts,
    ) -> Result<Report> {
        let Judged { found, boilerplate } = judged;
        // Each source document, and whether its text is needed: an edited match brings its
        // spans from its alignment.
        let mut source_docs: Vec<(DocId, bool)> = found
            .iter()
            .flatten()
            .filter_map(|f| match f.source {
                Source::Indexed { doc, .. } if Some(doc) != this.0 => {
                    Some((doc, opts.spans && f.edited.is_none()))
                }
                _ => None,
            })
            .collect();
        // Needing the text sorts first, so `dedup_by_key` keeps it.
        source_docs.sort_unstable_by_key(|&(doc, needed)| (doc, std::cmp::Reverse(needed)));
        source_docs.dedup_by_key(|&mut (doc, _)| doc);
        let ids: Vec<DocId> = source_docs.iter().map(|&(doc, _)| doc).collect();
        let states = self.index.documents(&ids).await?;
        let mut names: HashMap<DocId, Arc<str>> = HashMap::new();
        let mut source_texts: HashMap<DocId, Arc<str>> = HashMap::new();
        for (&(id, needed), state) in source_docs.iter().zip(states) {
            // A source removed meanwhile is not reported.
            let Some(state) = state else { continue };
            if needed && let Some(text) = texts.text(&state.name).await {
                source_texts.insert(id, text);
            }
            names.insert(id, state.name);
        }
        let source_texts: HashMap<DocId, Chars> = source_texts
            .iter()
            .map(|(&id, text)| (id, Chars::new(text)))
            .collect();
        let mut paragraphs = Vec::with_capacity(doc.paragraphs.len());
        for ((p, found), boilerplate) in doc.paragraphs.iter().zip(found).zip(boilerplate) {
            if boilerplate {
                paragraphs.push(ParagraphReport {
                    index: p.span.index,
                    start: p.span.start,
                    end: p.span.end,
                    line: p.span.line,
                    status: ParagraphStatus::New,
                    matches: Vec::new(),
                    boilerplate: true,
                });
                continue;
            }
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
                boilerplate: false,
            };
            for f in found {
                let (source, spans) = match f.source {
                    Source::Earlier(j) => {
                        let q = &doc.paragraphs[j];
                        let source = SourceRef {
                            document: this.0,
                            name: this.1.clone(),
                            paragraph: q.span.index,
                            start: q.span.start,
                            end: q.span.end,
                            line: q.span.line,
                        };
                        let spans = match (opts.spans, &f.edited) {
                            (false, _) => Vec::new(),
                            (true, Some(e)) => e.spans(p.span.start, q.span.start),
                            (true, None) => {
                                query::spans(p, (&q.text.tokens, &q.text.shingles), q.span.start)
                            }
                        };
                        (source, spans)
                    }
                    Source::Indexed {
                        doc: doc_id,
                        index,
                        start,
                        end,
                        line,
                        ..
                    } => {
                        let own = Some(doc_id) == this.0;
                        let name = if own {
                            this.1.clone()
                        } else {
                            match names.get(&doc_id) {
                                Some(n) => n.clone(),
                                None => continue,
                            }
                        };
                        let spans = match (opts.spans, own, &f.edited) {
                            (false, _, _) => Vec::new(),
                            (true, _, Some(e)) => e.spans(p.span.start, start as usize),
                            // An earlier paragraph of this very submission.
                            (true, true, None) => match doc.paragraphs.get(index as usize) {
                                Some(q) => query::spans(
                                    p,
                                    (&q.text.tokens, &q.text.shingles),
                                    q.span.start,
                                ),
                                None => Vec::new(),
                            },
                            (true, false, None) => match source_texts.get(&doc_id) {
                                Some(text) => query::spans_in_text(
                                    &self.analyzer,
                                    p,
                                    text,
                                    start as usize,
                                    end as usize,
                                ),
                                None => Vec::new(),
                            },
                        };
                        let source = SourceRef {
                            document: Some(doc_id),
                            name,
                            paragraph: index as usize,
                            start: start as usize,
                            end: end as usize,
                            line: line as usize,
                        };
                        (source, spans)
                    }
                };
                report.matches.push(Match {
                    source,
                    kind: f.kind,
                    scores: f.scores,
                    spans,
                    copies: f.copies,
                    aligned: f.edited.map(|e| e.aligned),
                });
            }
            if !report.matches.is_empty() {
                report.status = ParagraphStatus::Recycled;
            }
            paragraphs.push(report);
        }
        Ok(Report::new(paragraphs))
    }
}
