//! The run: the chunk pipeline of the module docs (analyze, number, query, decide,
//! index), the in-memory index of kept units it queries, and the union-find that groups
//! duplicates into clusters.

use std::sync::mpsc::Receiver;

use rayon::prelude::*;

use crate::analysis::Analyzer;
use crate::edit::{self, Unit as EditUnit};
use crate::engine::Settings;
use crate::engine::edited;
use crate::index::{
    BandKey, LocalTable, PostingMap, ReadPolicy, SKETCH_LEN, Selection, Sketch, bucket_key,
    exact_key, rank,
};
use crate::lsh::LshParams;
use crate::text::{Split, split_paragraphs};
use crate::verify::{self, MatchKind, Scores, Side, Thresholds};

use super::input::{Chunk, Line};
use super::output::{Names, Writer};
use super::record::{Fields, Ids};
use super::{
    BadRecord, BatchError, DedupOptions, MAX_LISTED_BAD, Outputs, Progress, Summary, Unit,
    reserve_lean,
};

// ---------------------------------------------------------------------------------------
// Analysis

/// One analyzed unit of a chunk.
struct ChunkUnit {
    /// Index of its record among the chunk's lines.
    line: usize,
    set: Vec<u32>,
    hash: u64,
    keys: Vec<BandKey>,
    sketch: Sketch,
    /// Alignment units (empty unless edited copies are looked for).
    units: Vec<EditUnit>,
    /// The kept unit of an earlier chunk it is an exact copy of.
    exact: Option<u32>,
    /// Whether it is kept (once judged: not a duplicate), so that later units are
    /// compared with it.
    kept: bool,
}

impl ChunkUnit {
    fn side(&self) -> Side<'_> {
        Side {
            set: &self.set,
            content_hash: self.hash,
            sketch: &self.sketch,
        }
    }
}

struct AnalyzedRecord {
    id: Option<String>,
    /// Units in the record (too-short ones included).
    units: u32,
    judged: Vec<JudgedUnit>,
}

struct UnitAnalyzer<'a> {
    analyzer: &'a Analyzer,
    unit: Unit,
    edited: bool,
}

/// A unit of a record long enough to judge, as the batch analyzes it.
#[derive(Debug, Clone)]
pub struct JudgedUnit {
    /// Its paragraph in the record (0 for record units).
    pub paragraph: u32,
    /// The sorted distinct shingle hashes.
    pub set: Vec<u32>,
    /// The content hash (equal for texts identical after normalization).
    pub hash: u64,
    /// One LSH bucket key per band.
    pub keys: Vec<BandKey>,
    /// The b-bit MinHash sketch verification tests first.
    pub sketch: Sketch,
    /// Its alignment units for the edited-copy stage ([`crate::edit`]); empty unless
    /// asked for.
    pub units: Vec<EditUnit>,
}

impl UnitAnalyzer<'_> {
    /// The number of units in `text` and those long enough to judge.
    fn analyze(&self, text: &str) -> (u32, Vec<JudgedUnit>) {
        judge(self.analyzer, self.unit, text, self.edited)
    }
}

/// The number of units in a record's `text` and those long enough to judge, cut and
/// analyzed as the batch does (for pipelines that run the batch's steps elsewhere).
pub fn units(analyzer: &Analyzer, unit: Unit, text: &str) -> (u32, Vec<JudgedUnit>) {
    judge(analyzer, unit, text, false)
}

/// [`units`], with the alignment units of each when `edited`.
fn judge(analyzer: &Analyzer, unit: Unit, text: &str, edited: bool) -> (u32, Vec<JudgedUnit>) {
    let spans = match unit {
        Unit::Record => crate::text::split_paragraphs_with(text, Split::None),
        Unit::Paragraph => split_paragraphs(text),
    };
    let units = match unit {
        Unit::Record => 1,
        Unit::Paragraph => spans.len() as u32,
    };
    let judged = spans
        .into_iter()
        .map(|span| analyzer.paragraph(text, span))
        .filter(|p| !p.too_short)
        .map(|p| JudgedUnit {
            paragraph: p.span.index as u32,
            units: if edited {
                edited::units(&p.text)
            } else {
                Vec::new()
            },
            set: p.text.set,
            hash: p.text.content_hash,
            keys: p.band_keys,
            sketch: p.sketch,
        })
        .collect();
    (units, judged)
}

/// Whether a verified match makes the later unit a duplicate of the earlier one: `exact`
/// or `near`, or `partial` with the later unit inside the earlier one.
pub fn is_duplicate(kind: MatchKind, scores: &Scores, t: &Thresholds) -> bool {
    match kind {
        MatchKind::Exact | MatchKind::Near => true,
        MatchKind::Partial => scores.containment >= t.containment,
        // Found only with `DedupOptions::edited`.
        MatchKind::Edited => true,
    }
}

// ---------------------------------------------------------------------------------------
// The index

/// A verified match of a unit with an earlier one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Found {
    pub(super) uid: u32,
    pub(super) kind: MatchKind,
    pub(super) scores: Scores,
    /// For an `edited` match, the aligned coverage of both sides.
    pub(super) aligned: Option<(f64, f64)>,
}

/// Sorts matches best first ([`rank`]).
fn by_rank(found: &mut [Found]) {
    found.sort_by(|a, b| rank((a.kind, &a.scores, a.uid), (b.kind, &b.scores, b.uid)));
}

impl Found {
    fn is_duplicate(&self, t: &Thresholds) -> bool {
        is_duplicate(self.kind, &self.scores, t)
    }
}

/// The units seen so far: read-only while a chunk is queried, appended to in order.
///
/// The buckets hold every judged unit, kept or not, so that which units a large bucket
/// gives (the first and the most recent, by [`ReadPolicy`]) depends on the input alone,
/// never on the chunks or on decisions; units that are not kept are then passed over.
/// Only kept units have their sets stored.
struct Index {
    params: LshParams,
    policy: ReadPolicy,
    thresholds: Thresholds,
    analyzer: Analyzer,
    /// LSH buckets: band key → units.
    bands: PostingMap,
    /// Content hash → kept units (at most one per content: a later copy of a kept unit
    /// is its duplicate).
    exact: PostingMap,
    /// Per unit: whether it is kept.
    kept: Vec<bool>,
    /// Per unit: end of its set in `arena` (the start is the previous unit's end; units
    /// that are not kept have empty sets).
    set_ends: Vec<u64>,
    arena: Vec<u32>,
    /// Per unit: content hash.
    hashes: Vec<u64>,
    /// Per unit: sketch.
    sketches: Vec<Sketch>,
    /// Whether edited copies are looked for; then per unit, end of its alignment units in
    /// `unit_keys` and `unit_words` (as `set_ends` for sets). Only what the text stage
    /// reads is kept, 12 bytes a token instead of a whole [`EditUnit`]'s 32: the batch
    /// reports no spans.
    edited: bool,
    unit_ends: Vec<u64>,
    unit_keys: Vec<u64>,
    unit_words: Vec<f32>,
}

impl Index {
    fn new(s: &Settings, edited: bool) -> Result<Index, BatchError> {
        Ok(Index {
            params: s.lsh_params(),
            policy: s.read_policy(),
            thresholds: s.thresholds(&s.query_options()),
            analyzer: Analyzer::new(s.shape())?,
            bands: PostingMap::default(),
            exact: PostingMap::default(),
            kept: Vec::new(),
            set_ends: Vec::new(),
            arena: Vec::new(),
            hashes: Vec::new(),
            sketches: Vec::new(),
            edited,
            unit_ends: Vec::new(),
            unit_keys: Vec::new(),
            unit_words: Vec::new(),
        })
    }

    /// The alignment units of an indexed unit, rebuilt from what is kept of them.
    fn edit_units(&self, uid: u32) -> Vec<EditUnit> {
        let uid = uid as usize;
        let start = if uid == 0 { 0 } else { self.unit_ends[uid - 1] } as usize;
        let end = self.unit_ends[uid] as usize;
        let words = &self.unit_words[start..end];
        (self.unit_keys[start..end].iter().zip(words).enumerate())
            .map(|(i, (&key, &words))| EditUnit::bare(i, key, words))
            .collect()
    }

    fn set(&self, uid: u32) -> &[u32] {
        let uid = uid as usize;
        let start = if uid == 0 { 0 } else { self.set_ends[uid - 1] };
        &self.arena[start as usize..self.set_ends[uid] as usize]
    }

    /// The kept unit whose content is identical to (`hash`, `set`), if any.
    fn exact_copy(&self, hash: u64, set: &[u32]) -> Option<u32> {
        let mut exact: Option<u32> = None;
        let whole = ReadPolicy {
            max_bucket: usize::MAX,
            sample: 0,
        };
        self.exact.read(exact_key(hash), whole, |c| {
            if exact.is_none_or(|e| c < e) && self.hashes[c as usize] == hash && self.set(c) == set
            {
                exact = Some(c);
            }
        });
        exact
    }

    /// Every verified match of unit `i` of the chunk with an earlier kept unit of an
    /// earlier chunk, or any earlier unit of this chunk (which step 4 keeps only if it is
    /// kept), best first. `base` is the number of the chunk's first unit; `local` holds
    /// the bucket keys of the chunk's units.
    fn query(&self, units: &[ChunkUnit], base: u32, i: usize, local: &LocalTable) -> Vec<Found> {
        let u = &units[i];
        let mut candidates: Vec<u32> = Vec::new();
        if let Some(e) = u.exact {
            candidates.push(e);
        }
        let mut earlier: Vec<u32> = Vec::new();
        for &k in &u.keys {
            earlier.clear();
            earlier.extend(local.earlier(bucket_key(k), i as u32));
            let global = self
                .bands
                .read_at_most(k, self.policy, earlier.len(), |id| {
                    if self.kept[id as usize] {
                        candidates.push(id)
                    }
                });
            let sel = self.policy.select(global, earlier.len());
            candidates.extend(
                Selection::pick(sel.local_first, sel.local_recent, &earlier).map(|j| base + j),
            );
        }
        candidates.sort_unstable();
        candidates.dedup();
        let size = edited::Size {
            units: u.units.len(),
            words: u.units.iter().map(|x| x.words as f64).sum(),
        };
        let this = u.side();
        let zone = edited::GreyQuery::new(this.sketch, size, this.set);
        let mut found: Vec<Found> = candidates
            .into_iter()
            .filter_map(|c| {
                let (candidate, chunk_units) = if c >= base {
                    let v = &units[(c - base) as usize];
                    (v.side(), Some(&v.units[..]))
                } else {
                    let side = Side {
                        set: self.set(c),
                        content_hash: self.hashes[c as usize],
                        sketch: &self.sketches[c as usize],
                    };
                    (side, None)
                };
                let (kind, scores, aligned) =
                    match verify::verify(this, candidate, &self.thresholds) {
                        Some((kind, scores)) => (kind, scores, None),
                        None if self.edited => {
                            // The grey zone: the engine's second stage, on the units kept.
                            let min_shared = self.thresholds.min_shared;
                            let scores = zone.test(candidate, min_shared)?;
                            let indexed;
                            let candidate_units = match chunk_units {
                                Some(units) => units,
                                None => {
                                    indexed = self.edit_units(c);
                                    &indexed[..]
                                }
                            };
                            let e = edit::decide(&u.units, candidate_units, min_shared)?;
                            let aligned = Some((e.coverage, e.coverage_source));
                            (MatchKind::Edited, scores, aligned)
                        }
                        None => return None,
                    };
                Some(Found {
                    uid: c,
                    kind,
                    scores,
                    aligned,
                })
            })
            .collect();
        by_rank(&mut found);
        found
    }

    /// Appends a chunk's units (sets of the kept ones in order, buckets in parallel, each
    /// bucket in unit order).
    fn insert(&mut self, units: &[ChunkUnit], base: usize) {
        let new_shingles: usize = units.iter().filter(|u| u.kept).map(|u| u.set.len()).sum();
        reserve_lean(&mut self.arena, new_shingles);
        reserve_lean(&mut self.set_ends, units.len());
        reserve_lean(&mut self.hashes, units.len());
        reserve_lean(&mut self.sketches, units.len());
        reserve_lean(&mut self.kept, units.len());
        if self.edited {
            reserve_lean(&mut self.unit_ends, units.len());
            let new_units: usize = units.iter().filter(|u| u.kept).map(|u| u.units.len()).sum();
            reserve_lean(&mut self.unit_keys, new_units);
            reserve_lean(&mut self.unit_words, new_units);
            for u in units {
                if u.kept {
                    self.unit_keys.extend(u.units.iter().map(|x| x.key));
                    self.unit_words.extend(u.units.iter().map(|x| x.words));
                }
                self.unit_ends.push(self.unit_keys.len() as u64);
            }
        }
        for u in units {
            if u.kept {
                self.arena.extend_from_slice(&u.set);
            }
            self.set_ends.push(self.arena.len() as u64);
            self.hashes.push(u.hash);
            self.sketches.push(u.sketch);
            self.kept.push(u.kept);
        }
        // Each task owns the buckets of one part and appends to them in unit order: a
        // bucket's order (which the read policy samples once it is large) is then the
        // input's, whatever the threads do.
        let (bands, exact) = (&self.bands, &self.exact);
        let parts = rayon::current_num_threads().max(1) as u64;
        let mine = |p: u64, key: u64| (key >> 32) % parts == p;
        (0..parts).into_par_iter().for_each(|p| {
            for (i, u) in units.iter().enumerate() {
                let uid = (base + i) as u32;
                for &k in u.keys.iter().filter(|&&k| mine(p, k)) {
                    bands.insert(k, uid);
                }
                let k = exact_key(u.hash);
                if u.kept && mine(p, k) {
                    exact.insert(k, uid);
                }
            }
        });
    }

    fn memory_bytes(&self) -> usize {
        self.bands.memory_bytes()
            + self.exact.memory_bytes()
            + self.arena.capacity() * 4
            + self.set_ends.capacity() * 8
            + self.hashes.capacity() * 8
            + self.sketches.capacity() * SKETCH_LEN
            + self.kept.capacity()
            + self.unit_ends.capacity() * 8
            + self.unit_keys.capacity() * 8
            + self.unit_words.capacity() * 4
    }
}

// ---------------------------------------------------------------------------------------
// The run

/// A run in progress: the index, the per-unit tables, the ids, the outputs.
pub(super) struct Run<'o> {
    options: DedupOptions,
    names: Vec<String>,
    out: Writer<'o>,
    index: Index,
    /// Per unit: its record, its paragraph, its union-find parent (never above itself).
    owner: Vec<u32>,
    paragraph: Vec<u32>,
    parent: Vec<u32>,
    /// Per cluster of two or more units (by root), the records its units are in, when
    /// boilerplate is set apart: (distinct records, the last one counted).
    spread: std::collections::HashMap<u32, (u32, u32)>,
    ids: Ids,
    summary: Summary,
}

impl<'o> Run<'o> {
    /// A run over inputs named `names`, writing to `outputs`.
    pub(super) fn new(
        options: &DedupOptions,
        names: Vec<String>,
        outputs: Outputs<'o>,
    ) -> Result<Run<'o>, BatchError> {
        let index = Index::new(&options.settings, options.edited)?;
        Ok(Run {
            summary: Summary {
                records: 0,
                bad_records: 0,
                bad: Vec::new(),
                units: 0,
                judged_units: 0,
                matched_units: 0,
                duplicate_units: 0,
                boilerplate_units: 0,
                duplicate_records: 0,
                clusters: 0,
                indexed_units: 0,
                index_bytes: 0,
                id_bytes: 0,
                lsh: index.params,
            },
            index,
            owner: Vec::new(),
            paragraph: Vec::new(),
            parent: Vec::new(),
            spread: Default::default(),
            ids: Ids::default(),
            out: Writer::new(
                outputs,
                options.unit,
                options.settings.max_matches,
                (options.id_field.clone(), options.text_field.clone()),
            ),
            options: options.clone(),
            names,
        })
    }

    /// Runs every chunk the reader sends, calling `observe` after each.
    pub(super) fn consume(
        &mut self,
        rx: Receiver<Result<Chunk, BatchError>>,
        mut observe: impl FnMut(&Progress),
    ) -> Result<(), BatchError> {
        for chunk in rx {
            let chunk = chunk?;
            let bytes_read = chunk.bytes_read;
            self.chunk(chunk)?;
            observe(&Progress {
                records: self.summary.records,
                bad_records: self.summary.bad_records,
                duplicate_records: self.summary.duplicate_records,
                bytes_read,
            });
        }
        Ok(())
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// Joins two components; the root is always the smallest unit, i.e. the first.
    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb) as usize] = ra.min(rb);
            if self.options.ignore_boilerplate {
                let records = |run: &mut Self, r: u32| {
                    run.spread.remove(&r).unwrap_or((1, run.owner[r as usize]))
                };
                let (a, b) = (records(self, ra), records(self, rb));
                // Members of two clusters in one record are counted twice: rare, and
                // only ever sooner boilerplate.
                let last = if ra < rb { b.1 } else { a.1 };
                let distinct = a.0 + b.0 - u32::from(a.1 == b.1);
                self.spread.insert(ra.min(rb), (distinct, last));
            }
        }
    }

    /// Whether unit `uid`, with these matches, is boilerplate: a duplicate of a cluster
    /// whose units are already in `boilerplate - 1` other records.
    fn is_boilerplate(&mut self, uid: u32, matches: &[Found]) -> bool {
        let k = self.options.settings.boilerplate as u32;
        if !self.options.ignore_boilerplate || k == 0 {
            return false;
        }
        let thresholds = self.index.thresholds;
        let own = self.owner[uid as usize];
        matches
            .iter()
            .filter(|m| m.is_duplicate(&thresholds))
            .map(|m| {
                let r = self.find(m.uid);
                let (records, last) = self
                    .spread
                    .get(&r)
                    .copied()
                    .unwrap_or((1, self.owner[r as usize]));
                records - u32::from(last == own)
            })
            .max()
            .is_some_and(|others| others + 1 >= k)
    }

    fn bad_record(&mut self, line: &Line, reason: String) -> Result<(), BatchError> {
        let input = self.names[line.source as usize].clone();
        if self.options.strict {
            return Err(BatchError::BadRecord {
                input,
                line: line.number,
                reason,
            });
        }
        self.summary.bad_records += 1;
        if self.summary.bad.len() < MAX_LISTED_BAD {
            self.summary.bad.push(BadRecord {
                input,
                line: line.number,
                reason,
            });
        }
        Ok(())
    }

    fn chunk(&mut self, chunk: Chunk) -> Result<(), BatchError> {
        // 1. Parse and analyze, in parallel.
        let analyzed: Vec<Result<AnalyzedRecord, String>> = {
            let fields = Fields {
                id: &self.options.id_field,
                text: &self.options.text_field,
            };
            let analyzer = UnitAnalyzer {
                analyzer: &self.index.analyzer,
                unit: self.options.unit,
                edited: self.options.edited,
            };
            chunk
                .lines
                .par_iter()
                .map(|line| {
                    let (id, text) = chunk.body.record(line, fields)?;
                    let (units, judged) = analyzer.analyze(&text);
                    Ok(AnalyzedRecord { id, units, judged })
                })
                .collect()
        };

        // 2. In order: number records and units, find exact copies.
        let base = self.parent.len();
        let mut units: Vec<ChunkUnit> = Vec::new();
        let first_record = self.summary.records;
        for (li, (line, result)) in chunk.lines.iter().zip(analyzed).enumerate() {
            self.summary.records += 1;
            let record = match result {
                Ok(r) => r,
                Err(reason) => {
                    self.bad_record(line, reason)?;
                    continue;
                }
            };
            let ordinal = self.ids.push(line, record.id, &self.names)?;
            self.summary.units += record.units as u64;
            for JudgedUnit {
                paragraph,
                set,
                hash,
                keys,
                sketch,
                units: edit_units,
            } in record.judged
            {
                let uid = base + units.len();
                if uid >= u32::MAX as usize {
                    return Err(BatchError::TooLarge(format!(
                        "more than {} units",
                        u32::MAX - 1
                    )));
                }
                let exact = self.index.exact_copy(hash, &set);
                reserve_lean(&mut self.owner, 1);
                self.owner.push(ordinal);
                reserve_lean(&mut self.paragraph, 1);
                self.paragraph.push(paragraph);
                reserve_lean(&mut self.parent, 1);
                self.parent.push(uid as u32);
                units.push(ChunkUnit {
                    line: li,
                    set,
                    hash,
                    keys,
                    sketch,
                    units: edit_units,
                    exact,
                    kept: false,
                });
            }
        }
        self.summary.judged_units += units.len() as u64;

        // 3. Query the frozen index plus the chunk's earlier units, in parallel.
        let pairs = LocalTable::new(
            units
                .iter()
                .enumerate()
                .flat_map(|(i, u)| u.keys.iter().map(move |&k| (bucket_key(k), i as u32)))
                .collect(),
        );
        let found: Vec<Vec<Found>> = {
            let index = &self.index;
            (0..units.len())
                .into_par_iter()
                .map(|i| index.query(&units, base as u32, i, &pairs))
                .collect()
        };
        drop(pairs);

        // 4. In order: matches, union-find, kept records.
        let mut judged_in_line = vec![0u32; chunk.lines.len()];
        let mut duplicates_in_line = vec![0u32; chunk.lines.len()];
        let thresholds = self.index.thresholds;
        // The chunk's kept units by content hash, for exact copies within the chunk.
        let mut kept_here: std::collections::HashMap<u64, usize> = Default::default();
        for (i, mut matches) in found.into_iter().enumerate() {
            let uid = (base + i) as u32;
            // Earlier units of this chunk that turned out to be duplicates are not kept:
            // drop them, as the index passes over such units of earlier chunks.
            matches.retain(|m| m.uid < base as u32 || units[(m.uid - base as u32) as usize].kept);
            let u = &units[i];
            // An exact copy of a kept unit of this chunk. Bands sample large buckets, so it
            // may not be among the matches yet; the exact-copy map of earlier chunks always
            // finds it, and so must this.
            if let Some(&j) = kept_here.get(&u.hash)
                && let c = (base + j) as u32
                && units[j].set == u.set
                && !matches.iter().any(|m| m.uid == c)
                && let Some((kind, scores)) = verify::verify(u.side(), units[j].side(), &thresholds)
            {
                matches.push(Found {
                    uid: c,
                    kind,
                    scores,
                    aligned: None,
                });
                by_rank(&mut matches);
            }
            if self.is_boilerplate(uid, &matches) {
                // Neither a duplicate nor an original: not indexed, not reported.
                self.summary.boilerplate_units += 1;
                continue;
            }
            let u = &mut units[i];
            judged_in_line[u.line] += 1;
            let duplicate = matches.iter().any(|m| m.is_duplicate(&thresholds));
            u.kept = !duplicate;
            if u.kept {
                kept_here.insert(u.hash, i);
            }
            for m in matches.iter().filter(|m| m.is_duplicate(&thresholds)) {
                self.union(uid, m.uid);
            }
            if duplicate {
                duplicates_in_line[u.line] += 1;
                self.summary.duplicate_units += 1;
            }
            if !matches.is_empty() {
                self.summary.matched_units += 1;
                if self.out.wants_matches() {
                    let names = Names {
                        ids: &self.ids,
                        owner: &self.owner,
                        paragraph: &self.paragraph,
                    };
                    self.out.matches(&names, uid, &matches);
                }
            }
        }
        self.out.end_matches()?;
        let keep: Vec<bool> = (0..chunk.lines.len())
            .map(|li| judged_in_line[li] == 0 || duplicates_in_line[li] < judged_in_line[li])
            .collect();
        self.summary.duplicate_records += keep.iter().filter(|&&k| !k).count() as u64;
        self.out.kept(&chunk, &keep, first_record, &self.names)?;

        // 5. Index the new units.
        self.index.insert(&units, base);
        self.summary.indexed_units += units.iter().filter(|u| u.kept).count() as u64;
        Ok(())
    }

    /// Writes the clusters, flushes the outputs and returns the totals.
    pub(super) fn finish(mut self) -> Result<Summary, BatchError> {
        // Every parent is at or below its unit, so one forward pass points every unit at
        // its root, the component's first unit.
        let n = self.parent.len();
        for x in 0..n {
            let p = self.parent[x] as usize;
            self.parent[x] = self.parent[p];
        }
        let mut size = vec![0u32; n];
        for &r in &self.parent {
            size[r as usize] += 1;
        }
        self.summary.clusters = size.iter().filter(|&&s| s > 1).count() as u64;
        let names = Names {
            ids: &self.ids,
            owner: &self.owner,
            paragraph: &self.paragraph,
        };
        self.out.clusters(&names, &self.parent, &size)?;
        self.out.finish()?;
        self.summary.index_bytes = (self.index.memory_bytes()
            + (self.owner.capacity() + self.paragraph.capacity() + self.parent.capacity()) * 4)
            as u64;
        self.summary.id_bytes = self.ids.memory_bytes() as u64;
        Ok(self.summary)
    }
}
