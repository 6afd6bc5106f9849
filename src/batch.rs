//! Batch deduplication of JSON Lines corpora: the library half of `neardup dedup`.
//!
//! Records stream in from one or more sources (plain, gzip or zstd JSON Lines, detected by
//! their magic bytes), are cut into units (a whole record, or each of its paragraphs) and
//! compared with every earlier unit in input order. The first occurrence is kept; a later
//! unit that repeats it is reported and, for `--kept`, removed.
//!
//! # Pipeline and determinism
//!
//! A reader thread decompresses and cuts the input into chunks of lines. Each chunk goes
//! through five steps:
//!
//! 1. parse and analyze every record, in parallel (rayon);
//! 2. in order: number the units, and find each unit's exact copy, if any, among the indexed
//!    units and the earlier units of the chunk;
//! 3. query each unit, in parallel, against the index as it was before the chunk (frozen,
//!    read-only) plus the earlier units of the same chunk (a sorted table of band keys);
//! 4. in order: drop matches with earlier units of the chunk that turned out to be
//!    duplicates, decide, write matches and kept records, join duplicates in the union-find;
//! 5. index the chunk's kept units (sets appended in order, buckets filled in parallel).
//!
//! Candidates are sorted by unit number before verification and every decision depends only
//! on the units before the one being judged, so the output is the same byte for byte for
//! any number of threads. It does not depend on the chunk size either, except through
//! large buckets: which units of a bucket of more than `max_bucket` earlier units (of the
//! index and the chunk) are read depends on how many of them are in the chunk, and the
//! chunk's count includes its duplicates.
//!
//! # What a duplicate is
//!
//! A unit is a *duplicate* when it matches an earlier unit as `exact` or `near` (Jaccard at
//! or above the threshold), or as `partial` with the unit itself inside the earlier one
//! (`containment`, the share of this unit found in the earlier one, at or above its
//! threshold). A later unit that merely *contains* an earlier one (only
//! `containment_source` is high) is reported in the matches but is not a duplicate:
//! removing it would lose text that exists nowhere else. With `Unit::Record` a record is
//! removed when its unit is a duplicate; with `Unit::Paragraph` when it has at least one
//! paragraph long enough to judge and every such paragraph is a duplicate. Clusters are the
//! connected groups of the duplicate relation; their representative is their first member,
//! which is never a duplicate and so always kept.
//!
//! Only units that are kept are indexed: a duplicate is matched with the kept units it
//! repeats, and later units are compared with kept units only (as in the usual
//! query-then-insert MinHash LSH pipeline). A chain of small edits A → B → C is thus judged
//! against A, not B, and `--matches` always points at text that is still in `--kept`.
//!
//! # Candidates
//!
//! The batch finds candidates exactly as the engine does: the same analysis, LSH bands,
//! bucket-read policy (a large bucket gives its first unit and its most recent ones, see
//! [`ReadPolicy`]) and verification, so it finds what the engine finds (splits and merges
//! included) apart from what only-kept indexing leaves out. Every candidate is verified
//! exactly, so tuning changes recall (pairs never compared), never precision.
//!
//! # Memory
//!
//! Memory grows with the index, never with the input: per kept unit, its shingle set
//! (4 bytes a shingle, in one arena), its LSH bucket entries and an exact-hash entry; per
//! judged unit, 28 bytes (set end, content hash, record, paragraph, union-find parent); per
//! record, its id. Boilerplate repeated many times costs one set.
//!
//! This module reads files but knows nothing of terminals or flags; the binary draws the
//! progress bar from the [`Progress`] it is given.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use rayon::prelude::*;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::analysis::Analyzer;
use crate::edit::{self, Unit as EditUnit};
use crate::engine::Settings;
use crate::engine::edited;
use crate::index::{
    BandKey, LocalTable, PostingMap, ReadPolicy, SKETCH_LEN, Selection, Sketch, exact_key, rank,
};
use crate::lsh::LshParams;
use crate::text::{Split, split_paragraphs};
use crate::verify::{self, MatchKind, Scores, Side, Thresholds};

/// Errors of a batch run.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// An input could not be opened, read or decompressed.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The input's name.
        path: String,
        /// What went wrong.
        error: io::Error,
    },
    /// An output could not be written.
    #[error("cannot write the {what} output: {error}")]
    Write {
        /// Which output.
        what: &'static str,
        /// What went wrong.
        error: io::Error,
    },
    /// A record is not usable and the run is strict.
    #[error("bad record at {input}:{line}: {reason}")]
    BadRecord {
        /// The input's name.
        input: String,
        /// 1-based line in that input.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A directory holds no JSON Lines files.
    #[error("no JSON Lines files (.jsonl, .ndjson, .json, optionally .gz or .zst) in {0}")]
    NoInput(String),
    /// More records or units than the index can number.
    #[error("{0}")]
    TooLarge(String),
    /// Invalid settings.
    #[error(transparent)]
    Settings(#[from] crate::Error),
}

/// What is compared: whole records or their paragraphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Each record's text is one unit.
    Record,
    /// Each paragraph of each record is one unit.
    Paragraph,
}

/// Options of a batch run.
#[derive(Debug, Clone)]
pub struct DedupOptions {
    /// Engine settings (thresholds, shingles, permutations, LSH).
    pub settings: Settings,
    /// Record or paragraph units.
    pub unit: Unit,
    /// Field holding a record's id (the line number is used when it is absent).
    pub id_field: String,
    /// Field holding a record's text.
    pub text_field: String,
    /// Fail on the first bad record instead of counting it.
    pub strict: bool,
    /// Most records per chunk (does not change the output).
    pub chunk_records: usize,
    /// Most input bytes per chunk (does not change the output).
    pub chunk_bytes: usize,
    /// Count heavily edited copies (`edited` matches, [`crate::edit`]) as duplicates. The
    /// index then keeps every unit's tokens as well as its set.
    pub edited: bool,
}

impl Default for DedupOptions {
    fn default() -> DedupOptions {
        DedupOptions {
            settings: Settings::default(),
            unit: Unit::Record,
            id_field: "id".into(),
            text_field: "text".into(),
            strict: false,
            chunk_records: 32 * 1024,
            chunk_bytes: 32 << 20,
            edited: false,
        }
    }
}

/// Where the outputs go; any may be absent.
#[derive(Default)]
pub struct Outputs<'a> {
    /// JSON Lines, one object per unit that matches an earlier unit.
    pub matches: Option<&'a mut (dyn Write + Send)>,
    /// JSON Lines, one object per cluster of two or more units.
    pub clusters: Option<&'a mut (dyn Write + Send)>,
    /// The input records that are not duplicates, byte for byte.
    pub kept: Option<&'a mut (dyn Write + Send)>,
}

/// One input of a batch run.
pub struct Source {
    name: String,
    input: SourceInput,
}

enum SourceInput {
    Path(PathBuf),
    Reader(Box<dyn Read + Send>),
}

impl Source {
    /// A file, opened when its turn comes.
    pub fn path(path: impl Into<PathBuf>) -> Source {
        let path = path.into();
        Source {
            name: path.display().to_string(),
            input: SourceInput::Path(path),
        }
    }

    /// Any reader (standard input, memory), under a name used in messages and ids.
    pub fn reader(name: impl Into<String>, reader: impl Read + Send + 'static) -> Source {
        Source {
            name: name.into(),
            input: SourceInput::Reader(Box::new(reader)),
        }
    }

    /// The name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("name", &self.name).finish()
    }
}

/// True for names of JSON Lines files, compressed or not.
pub fn is_jsonl_name(name: &str) -> bool {
    let base = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(name);
    [".jsonl", ".ndjson", ".json"]
        .iter()
        .any(|ext| base.ends_with(ext))
}

/// Expands directories into the JSON Lines files under them (recursively, sorted by
/// path, symbolic links inside not followed); files are taken as given, whatever their
/// names.
pub fn expand_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>, BatchError> {
    let mut out = Vec::new();
    for path in paths {
        let read_err = |error| BatchError::Read {
            path: path.display().to_string(),
            error,
        };
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found).map_err(read_err)?;
            if found.is_empty() {
                return Err(BatchError::NoInput(path.display().to_string()));
            }
            found.sort();
            out.extend(found);
        } else {
            std::fs::metadata(path).map_err(read_err)?;
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// The JSON Lines files under `dir`. Symbolic links below `dir` are not followed (a link
/// back up, `sub/up -> ..`, would list every file again and again), as in ripgrep.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry?;
        if entry.file_type().is_file() && entry.file_name().to_str().is_some_and(is_jsonl_name) {
            out.push(entry.into_path());
        }
    }
    Ok(())
}

/// Where a run is, reported after each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Records read so far (bad ones included).
    pub records: u64,
    /// Bad records so far.
    pub bad_records: u64,
    /// Records found to be duplicates so far.
    pub duplicate_records: u64,
    /// Input bytes read up to the last chunk processed, as stored (compressed bytes for
    /// compressed inputs; the reader's buffer of 1 MiB runs ahead).
    pub bytes_read: u64,
}

/// A record that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// The input's name.
    pub input: String,
    /// 1-based line in that input.
    pub line: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// Most bad records listed in a [`Summary`] (all are counted).
pub const MAX_LISTED_BAD: usize = 100;

/// Totals of a finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Records read (non-blank lines), bad ones included.
    pub records: u64,
    /// Records that could not be used (passed to `kept` unchanged).
    pub bad_records: u64,
    /// The first [`MAX_LISTED_BAD`] bad records.
    pub bad: Vec<BadRecord>,
    /// Units (records or paragraphs) of the good records.
    pub units: u64,
    /// Units long enough to judge.
    pub judged_units: u64,
    /// Units with at least one match (of any kind).
    pub matched_units: u64,
    /// Units that are duplicates (see the module docs).
    pub duplicate_units: u64,
    /// Records removed from `kept`.
    pub duplicate_records: u64,
    /// Clusters of two or more units.
    pub clusters: u64,
    /// Units in the index (judged units that are not exact copies of an indexed one).
    pub indexed_units: u64,
    /// Heap bytes of the index: LSH buckets, exact-hash table, shingle sets and per-unit
    /// fields (record ids not included).
    pub index_bytes: u64,
    /// Heap bytes of the record ids.
    pub id_bytes: u64,
    /// Bands × rows in use.
    pub lsh: LshParams,
}

/// Runs a deduplication over `sources`, in order, writing the requested outputs and
/// calling `observe` after each chunk. Parallel on the current rayon pool.
pub fn dedup(
    sources: Vec<Source>,
    options: &DedupOptions,
    outputs: Outputs<'_>,
    observe: impl FnMut(&Progress),
) -> Result<Summary, BatchError> {
    options.settings.validate()?;
    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    let (tx, rx) = sync_channel(2);
    let limits = (options.chunk_records.max(1), options.chunk_bytes.max(1));
    std::thread::scope(|scope| {
        let counter = Arc::new(AtomicU64::new(0));
        scope.spawn(move || read_chunks(sources, tx, limits, counter));
        let mut run = Run::new(options, names, outputs)?;
        run.consume(rx, observe)?;
        run.finish()
    })
}

// ---------------------------------------------------------------------------------------
// Reading

struct Line {
    start: usize,
    end: usize,
    source: u32,
    number: u64,
}

#[derive(Default)]
struct Chunk {
    data: Vec<u8>,
    lines: Vec<Line>,
    /// Input bytes read when the chunk was cut (the reader runs ahead of the work).
    bytes_read: u64,
}

struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens an input, decompressing gzip or zstd when its first bytes say so.
fn open_source(
    input: SourceInput,
    counter: &Arc<AtomicU64>,
) -> io::Result<Box<dyn BufRead + Send>> {
    let raw: Box<dyn Read + Send> = match input {
        SourceInput::Path(path) => Box::new(File::open(path)?),
        SourceInput::Reader(r) => r,
    };
    let mut buffered = BufReader::with_capacity(
        1 << 20,
        Counting {
            inner: raw,
            counter: counter.clone(),
        },
    );
    let head = buffered.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(buffered),
        )))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            zstd::stream::read::Decoder::with_buffer(buffered)?,
        )))
    } else {
        Ok(Box::new(buffered))
    }
}

fn read_chunks(
    sources: Vec<Source>,
    tx: SyncSender<Result<Chunk, BatchError>>,
    (max_records, max_bytes): (usize, usize),
    counter: Arc<AtomicU64>,
) {
    let mut chunk = Chunk::default();
    for (index, source) in sources.into_iter().enumerate() {
        let fail = |error| {
            Err(BatchError::Read {
                path: source.name.clone(),
                error,
            })
        };
        let mut reader = match open_source(source.input, &counter) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(fail(e));
                return;
            }
        };
        let mut number = 0u64;
        loop {
            let start = chunk.data.len();
            match reader.read_until(b'\n', &mut chunk.data) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(fail(e));
                    return;
                }
            }
            number += 1;
            let mut end = chunk.data.len();
            if chunk.data[end - 1] == b'\n' {
                end -= 1;
            }
            if chunk.data[start..end].iter().all(u8::is_ascii_whitespace) {
                chunk.data.truncate(start);
                continue;
            }
            chunk.lines.push(Line {
                start,
                end,
                source: index as u32,
                number,
            });
            if chunk.lines.len() >= max_records || chunk.data.len() >= max_bytes {
                chunk.bytes_read = counter.load(Ordering::Relaxed);
                if tx.send(Ok(std::mem::take(&mut chunk))).is_err() {
                    return;
                }
            }
        }
    }
    if !chunk.lines.is_empty() {
        chunk.bytes_read = counter.load(Ordering::Relaxed);
        let _ = tx.send(Ok(chunk));
    }
}

// ---------------------------------------------------------------------------------------
// Parsing

enum Key {
    Id,
    Text,
    Other,
}

#[derive(Clone, Copy)]
struct Fields<'a> {
    id: &'a str,
    text: &'a str,
}

struct KeySeed<'a>(Fields<'a>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Key;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(if v == self.0.text {
            Key::Text
        } else if v == self.0.id {
            Key::Id
        } else {
            Key::Other
        })
    }
}

#[derive(Default)]
struct RawRecord {
    id: Option<serde_json::Value>,
    text: Option<serde_json::Value>,
}

impl<'de> DeserializeSeed<'de> for Fields<'_> {
    type Value = RawRecord;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<RawRecord, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Fields<'_> {
    type Value = RawRecord;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawRecord, A::Error> {
        let mut record = RawRecord::default();
        while let Some(key) = map.next_key_seed(KeySeed(self))? {
            match key {
                Key::Text => record.text = Some(map.next_value()?),
                Key::Id => record.id = Some(map.next_value()?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(record)
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Parses one line: its id (as JSON text, when present) and its text.
/// [`parse_record`] with the default field names (`id`, `text`), for the fuzz checks
/// ([`crate::fuzzing`]).
pub(crate) fn parse_default_record(line: &[u8]) -> Result<(Option<String>, String), String> {
    parse_record(
        line,
        Fields {
            id: "id",
            text: "text",
        },
    )
}

fn parse_record(line: &[u8], fields: Fields<'_>) -> Result<(Option<String>, String), String> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let record = fields
        .deserialize(&mut de)
        .and_then(|r| de.end().map(|()| r))
        .map_err(|e| match e.classify() {
            serde_json::error::Category::Data => e.to_string(),
            _ => format!("invalid JSON: {e}"),
        })?;
    let text = match record.text {
        Some(serde_json::Value::String(s)) => s,
        Some(other) => {
            return Err(format!(
                "field {:?} is {}, not a string",
                fields.text,
                json_type(&other)
            ));
        }
        None => return Err(format!("no field {:?}", fields.text)),
    };
    Ok((record.id.map(|v| v.to_string()), text))
}

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
    /// The indexed or earlier unit it is an exact copy of.
    exact: Option<u32>,
    /// Whether it goes into the index: not an exact copy, and (once judged) not a
    /// duplicate.
    indexed: bool,
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

/// A unit of a record long enough to judge.
struct JudgedUnit {
    paragraph: u32,
    set: Vec<u32>,
    hash: u64,
    keys: Vec<BandKey>,
    sketch: Sketch,
    units: Vec<EditUnit>,
}

impl UnitAnalyzer<'_> {
    /// The number of units in `text` and those long enough to judge.
    fn analyze(&self, text: &str) -> (u32, Vec<JudgedUnit>) {
        let spans = match self.unit {
            Unit::Record => crate::text::split_paragraphs_with(text, Split::None),
            Unit::Paragraph => split_paragraphs(text),
        };
        let units = match self.unit {
            Unit::Record => 1,
            Unit::Paragraph => spans.len() as u32,
        };
        let judged = spans
            .into_iter()
            .map(|span| self.analyzer.paragraph(text, span))
            .filter(|p| !p.too_short)
            .map(|p| JudgedUnit {
                paragraph: p.span.index as u32,
                units: if self.edited {
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
}

// ---------------------------------------------------------------------------------------
// The index

/// A verified match of a unit with an earlier one.
#[derive(Debug, Clone, Copy)]
struct Found {
    uid: u32,
    kind: MatchKind,
    scores: Scores,
    /// For an `edited` match, the aligned coverage of both sides.
    aligned: Option<(f64, f64)>,
}

impl Found {
    fn is_duplicate(&self, t: &Thresholds) -> bool {
        match self.kind {
            MatchKind::Exact | MatchKind::Near => true,
            MatchKind::Partial => self.scores.containment >= t.containment,
            // Found only with `DedupOptions::edited`.
            MatchKind::Edited => true,
        }
    }
}

/// Grows a vector by at most a quarter at a time, so a large table wastes little.
fn reserve_lean<T>(v: &mut Vec<T>, extra: usize) {
    if v.capacity() - v.len() < extra {
        v.reserve_exact(extra.max(v.capacity() / 4).max(1024));
    }
}

/// The units seen so far: read-only while a chunk is queried, appended to in order.
struct Index {
    params: LshParams,
    policy: ReadPolicy,
    thresholds: Thresholds,
    analyzer: Analyzer,
    /// LSH buckets: band key → units.
    bands: PostingMap,
    /// Content hash → units (first copies only).
    exact: PostingMap,
    /// Per unit: end of its set in `arena` (the start is the previous unit's end; units
    /// that are not indexed have empty sets).
    set_ends: Vec<u64>,
    arena: Vec<u32>,
    /// Per unit: content hash.
    hashes: Vec<u64>,
    /// Per unit: sketch.
    sketches: Vec<Sketch>,
    /// Whether edited copies are looked for; then per unit, end of its alignment units in
    /// `unit_arena` (as `set_ends` for sets).
    edited: bool,
    unit_ends: Vec<u64>,
    unit_arena: Vec<EditUnit>,
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
            set_ends: Vec::new(),
            arena: Vec::new(),
            hashes: Vec::new(),
            sketches: Vec::new(),
            edited,
            unit_ends: Vec::new(),
            unit_arena: Vec::new(),
        })
    }

    fn set(&self, uid: u32) -> &[u32] {
        let uid = uid as usize;
        let start = if uid == 0 { 0 } else { self.set_ends[uid - 1] };
        &self.arena[start as usize..self.set_ends[uid] as usize]
    }

    fn edit_units(&self, uid: u32) -> &[EditUnit] {
        let uid = uid as usize;
        let start = if uid == 0 { 0 } else { self.unit_ends[uid - 1] };
        &self.unit_arena[start as usize..self.unit_ends[uid] as usize]
    }

    /// The indexed unit whose content is identical to (`hash`, `set`), if any.
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

    /// Every verified match of unit `i` of the chunk with an earlier unit, best first.
    /// `base` is the number of the chunk's first unit; `local` holds the band keys of the
    /// chunk's new units.
    fn query(&self, units: &[ChunkUnit], base: u32, i: usize, local: &LocalTable) -> Vec<Found> {
        let u = &units[i];
        let mut candidates: Vec<u32> = Vec::new();
        if let Some(e) = u.exact {
            candidates.push(e);
        }
        let mut earlier: Vec<u32> = Vec::new();
        for &k in &u.keys {
            earlier.clear();
            earlier.extend(local.earlier(k, i as u32));
            let global = self
                .bands
                .read_at_most(k, self.policy, earlier.len(), |id| candidates.push(id));
            let sel = self.policy.select(global, earlier.len());
            candidates.extend(
                Selection::pick(sel.local_first, sel.local_recent, &earlier).map(|j| base + j),
            );
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut found: Vec<Found> = candidates
            .into_iter()
            .filter_map(|c| {
                let (candidate, candidate_units) = if c >= base {
                    let v = &units[(c - base) as usize];
                    let side = Side {
                        set: &v.set,
                        content_hash: v.hash,
                        sketch: &v.sketch,
                    };
                    (side, &v.units[..])
                } else {
                    let side = Side {
                        set: self.set(c),
                        content_hash: self.hashes[c as usize],
                        sketch: &self.sketches[c as usize],
                    };
                    (side, if self.edited { self.edit_units(c) } else { &[] })
                };
                let this = Side {
                    set: &u.set,
                    content_hash: u.hash,
                    sketch: &u.sketch,
                };
                let (kind, scores, aligned) =
                    match verify::verify(this, candidate, &self.thresholds) {
                        Some((kind, scores)) => (kind, scores, None),
                        None if self.edited => {
                            // The grey zone: the engine's second stage, on the units kept.
                            let min_shared = self.thresholds.min_shared;
                            let scores = edited::grey(this, candidate, min_shared)?;
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
        found.sort_by(|a, b| rank((a.kind, &a.scores, a.uid), (b.kind, &b.scores, b.uid)));
        found
    }

    /// Appends a chunk's units (sets of the new ones in order, buckets in parallel).
    fn insert(&mut self, units: &[ChunkUnit], base: usize) {
        let new_shingles: usize = units
            .iter()
            .filter(|u| u.indexed)
            .map(|u| u.set.len())
            .sum();
        reserve_lean(&mut self.arena, new_shingles);
        reserve_lean(&mut self.set_ends, units.len());
        reserve_lean(&mut self.hashes, units.len());
        reserve_lean(&mut self.sketches, units.len());
        if self.edited {
            reserve_lean(&mut self.unit_ends, units.len());
            for u in units {
                if u.indexed {
                    self.unit_arena.extend_from_slice(&u.units);
                }
                self.unit_ends.push(self.unit_arena.len() as u64);
            }
        }
        for u in units {
            if u.indexed {
                self.arena.extend_from_slice(&u.set);
            }
            self.set_ends.push(self.arena.len() as u64);
            self.hashes.push(u.hash);
            self.sketches.push(u.sketch);
        }
        let (bands, exact) = (&self.bands, &self.exact);
        units.par_iter().enumerate().for_each(|(i, u)| {
            if u.indexed {
                let uid = (base + i) as u32;
                for &k in &u.keys {
                    bands.insert(k, uid);
                }
                exact.insert(exact_key(u.hash), uid);
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
            + self.unit_ends.capacity() * 8
            + self.unit_arena.capacity() * std::mem::size_of::<EditUnit>()
    }
}

// ---------------------------------------------------------------------------------------
// The run

struct Run<'o> {
    options: DedupOptions,
    names: Vec<String>,
    outputs: Outputs<'o>,
    index: Index,
    /// Per unit: its record, its paragraph, its union-find parent (never above itself).
    owner: Vec<u32>,
    paragraph: Vec<u32>,
    parent: Vec<u32>,
    /// Per record: end of its id (JSON text) in `ids`.
    id_ends: Vec<u64>,
    ids: Vec<u8>,
    summary: Summary,
    buf: Vec<u8>,
}

impl<'o> Run<'o> {
    fn new(
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
            id_ends: Vec::new(),
            ids: Vec::new(),
            options: options.clone(),
            names,
            outputs,
            buf: Vec::new(),
        })
    }

    fn consume(
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

    fn id(&self, record: u32) -> &[u8] {
        let r = record as usize;
        let start = if r == 0 { 0 } else { self.id_ends[r - 1] };
        &self.ids[start as usize..self.id_ends[r] as usize]
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
        }
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

    /// Stores a record's id (its JSON text; the line number when absent) and returns the
    /// record's number.
    fn push_id(&mut self, line: &Line, id: Option<String>) -> Result<u32, BatchError> {
        let ordinal = self.id_ends.len();
        if ordinal >= u32::MAX as usize {
            return Err(BatchError::TooLarge(format!(
                "more than {} records",
                u32::MAX - 1
            )));
        }
        match id {
            Some(id) => self.ids.extend_from_slice(id.as_bytes()),
            None if self.names.len() > 1 => {
                let id = format!("{}:{}", self.names[line.source as usize], line.number);
                self.ids
                    .extend_from_slice(serde_json::Value::from(id).to_string().as_bytes());
            }
            None => self
                .ids
                .extend_from_slice(line.number.to_string().as_bytes()),
        }
        reserve_lean(&mut self.id_ends, 1);
        self.id_ends.push(self.ids.len() as u64);
        Ok(ordinal as u32)
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
                    let (id, text) = parse_record(&chunk.data[line.start..line.end], fields)?;
                    let (units, judged) = analyzer.analyze(&text);
                    Ok(AnalyzedRecord { id, units, judged })
                })
                .collect()
        };

        // 2. In order: number records and units, find exact copies.
        let base = self.parent.len();
        let mut units: Vec<ChunkUnit> = Vec::new();
        let mut first_copy: std::collections::HashMap<u64, u32> = Default::default();
        for (li, (line, result)) in chunk.lines.iter().zip(analyzed).enumerate() {
            self.summary.records += 1;
            let record = match result {
                Ok(r) => r,
                Err(reason) => {
                    self.bad_record(line, reason)?;
                    continue;
                }
            };
            let ordinal = self.push_id(line, record.id)?;
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
                let mut exact = self.index.exact_copy(hash, &set);
                if exact.is_none() {
                    match first_copy.entry(hash) {
                        std::collections::hash_map::Entry::Occupied(e) => {
                            let j = *e.get() as usize;
                            if units[j].set == set {
                                exact = Some((base + j) as u32);
                            }
                        }
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(units.len() as u32);
                        }
                    }
                }
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
                    indexed: exact.is_none(),
                });
            }
        }
        self.summary.judged_units += units.len() as u64;

        // 3. Query the frozen index plus the chunk's earlier new units, in parallel.
        let pairs = LocalTable::new(
            units
                .iter()
                .enumerate()
                .filter(|(_, u)| u.exact.is_none())
                .flat_map(|(i, u)| u.keys.iter().map(move |&k| (k, i as u32)))
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
        self.buf.clear();
        let thresholds = self.index.thresholds;
        for (i, mut matches) in found.into_iter().enumerate() {
            let uid = (base + i) as u32;
            // Earlier units of this chunk that turned out to be duplicates are not indexed:
            // drop them, as if they had been looked up in the index.
            matches
                .retain(|m| m.uid < base as u32 || units[(m.uid - base as u32) as usize].indexed);
            let u = &mut units[i];
            judged_in_line[u.line] += 1;
            let duplicate = matches.iter().any(|m| m.is_duplicate(&thresholds));
            u.indexed = u.exact.is_none() && !duplicate;
            for m in matches.iter().filter(|m| m.is_duplicate(&thresholds)) {
                self.union(uid, m.uid);
            }
            if duplicate {
                duplicates_in_line[u.line] += 1;
                self.summary.duplicate_units += 1;
            }
            if !matches.is_empty() {
                self.summary.matched_units += 1;
                if self.outputs.matches.is_some() {
                    self.write_matches(uid, &matches);
                }
            }
        }
        if let Some(out) = self.outputs.matches.as_mut() {
            out.write_all(&self.buf)
                .map_err(|error| BatchError::Write {
                    what: "matches",
                    error,
                })?;
        }
        self.buf.clear();
        for (li, line) in chunk.lines.iter().enumerate() {
            if judged_in_line[li] > 0 && duplicates_in_line[li] == judged_in_line[li] {
                self.summary.duplicate_records += 1;
            } else if self.outputs.kept.is_some() {
                self.buf
                    .extend_from_slice(&chunk.data[line.start..line.end]);
                self.buf.push(b'\n');
            }
        }
        if let Some(out) = self.outputs.kept.as_mut() {
            out.write_all(&self.buf)
                .map_err(|error| BatchError::Write {
                    what: "kept",
                    error,
                })?;
        }

        // 5. Index the new units.
        self.index.insert(&units, base);
        self.summary.indexed_units += units.iter().filter(|u| u.indexed).count() as u64;
        Ok(())
    }

    /// Writes `{"id": ID` (and `"paragraph": i` for paragraph units), leaving the object
    /// open.
    fn write_ref(&mut self, uid: u32) {
        let record = self.owner[uid as usize] as usize;
        let start = if record == 0 {
            0
        } else {
            self.id_ends[record - 1] as usize
        };
        let end = self.id_ends[record] as usize;
        self.buf.extend_from_slice(b"{\"id\":");
        self.buf.extend_from_slice(&self.ids[start..end]);
        if self.options.unit == Unit::Paragraph {
            let _ = write!(self.buf, ",\"paragraph\":{}", self.paragraph[uid as usize]);
        }
    }

    fn write_matches(&mut self, uid: u32, matches: &[Found]) {
        self.write_ref(uid);
        self.buf.extend_from_slice(b",\"matches\":[");
        for (n, m) in matches
            .iter()
            .take(self.options.settings.max_matches)
            .enumerate()
        {
            if n > 0 {
                self.buf.push(b',');
            }
            self.write_ref(m.uid);
            let _ = write!(self.buf, ",\"kind\":\"{}\"", m.kind.as_str());
            let aligned = m
                .aligned
                .iter()
                .flat_map(|&(q, s)| [("aligned_coverage", q), ("aligned_coverage_source", s)]);
            for (name, x) in [
                ("jaccard", m.scores.jaccard),
                ("containment", m.scores.containment),
                ("containment_source", m.scores.containment_source),
            ]
            .into_iter()
            .chain(aligned)
            {
                let _ = write!(self.buf, ",\"{name}\":");
                // Writing to a vector cannot fail; floats keep their decimal point.
                let _ = serde_json::to_writer(&mut self.buf, &verify::round_score(x));
            }
            self.buf.push(b'}');
        }
        self.buf.extend_from_slice(b"]}\n");
    }

    /// A cluster member: the record id, or `{"id", "paragraph"}` for paragraph units.
    fn write_member(&mut self, uid: u32) {
        if self.options.unit == Unit::Paragraph {
            self.write_ref(uid);
            self.buf.push(b'}');
        } else {
            let record = self.owner[uid as usize];
            let id = self.id(record).to_vec();
            self.buf.extend_from_slice(&id);
        }
    }

    fn flush_clusters(&mut self) -> Result<(), BatchError> {
        if let Some(out) = self.outputs.clusters.as_mut() {
            out.write_all(&self.buf)
                .map_err(|error| BatchError::Write {
                    what: "clusters",
                    error,
                })?;
        }
        self.buf.clear();
        Ok(())
    }

    fn finish(mut self) -> Result<Summary, BatchError> {
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
        if self.outputs.clusters.is_some() {
            let mut members: Vec<(u32, u32)> = (0..n as u32)
                .filter_map(|x| {
                    let r = self.parent[x as usize];
                    (size[r as usize] > 1).then_some((r, x))
                })
                .collect();
            members.sort_unstable();
            self.buf.clear();
            for group in members.chunk_by(|a, b| a.0 == b.0) {
                self.buf.extend_from_slice(b"{\"representative\":");
                self.write_member(group[0].0);
                let _ = write!(self.buf, ",\"size\":{},\"members\":[", group.len());
                for (k, &(_, x)) in group.iter().enumerate() {
                    if k > 0 {
                        self.buf.push(b',');
                    }
                    self.write_member(x);
                }
                self.buf.extend_from_slice(b"]}\n");
                if self.buf.len() > 1 << 20 {
                    self.flush_clusters()?;
                }
            }
            self.flush_clusters()?;
        }
        for (out, what) in [
            (self.outputs.matches.as_mut(), "matches"),
            (self.outputs.kept.as_mut(), "kept"),
            (self.outputs.clusters.as_mut(), "clusters"),
        ] {
            if let Some(out) = out {
                out.flush()
                    .map_err(|error| BatchError::Write { what, error })?;
            }
        }
        self.summary.index_bytes = (self.index.memory_bytes()
            + (self.owner.capacity() + self.paragraph.capacity() + self.parent.capacity()) * 4)
            as u64;
        self.summary.id_bytes = (self.ids.capacity() + self.id_ends.capacity() * 8) as u64;
        Ok(self.summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields<'static> {
        Fields {
            id: "id",
            text: "text",
        }
    }

    #[test]
    fn records_parse_with_escaped_keys_and_any_id_type() {
        let (id, text) = parse_record(
            br#"{"meta":{"a":[1]},"t\u0065xt":"caf\u00e9","id":7}"#,
            fields(),
        )
        .unwrap();
        assert_eq!((id.as_deref(), text.as_str()), (Some("7"), "café"));
        let (id, _) = parse_record(br#"{"text":"x","id":"a\"b"}"#, fields()).unwrap();
        assert_eq!(id.as_deref(), Some(r#""a\"b""#));
        let (id, _) = parse_record(br#"{"text":"x"}"#, fields()).unwrap();
        assert_eq!(id, None);
    }

    #[test]
    fn bad_records_say_what_is_wrong() {
        let err = |line: &[u8]| parse_record(line, fields()).unwrap_err();
        assert!(err(b"{\"text\": ").starts_with("invalid JSON"));
        assert!(err(b"{\"text\": \"a\"} trailing").starts_with("invalid JSON"));
        assert_eq!(err(br#"{"id": 1}"#), "no field \"text\"");
        assert_eq!(
            err(br#"{"text": null}"#),
            "field \"text\" is null, not a string"
        );
        assert!(err(b"\"just a string\"").contains("expected a JSON object"));
    }

    #[test]
    fn jsonl_names() {
        for name in ["a.jsonl", "a.ndjson.gz", "b.json.zst"] {
            assert!(is_jsonl_name(name), "{name}");
        }
        for name in ["a.txt", "a.gz", "jsonl"] {
            assert!(!is_jsonl_name(name), "{name}");
        }
    }

    fn text(seed: u64, n: usize) -> String {
        let mut x = seed * 2 + 1;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                format!("t{}", (x >> 33) % 3000)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn run(input: &str, options: &DedupOptions) -> (Summary, Vec<u8>, Vec<u8>, Vec<u8>) {
        let (mut m, mut c, mut k) = (Vec::new(), Vec::new(), Vec::new());
        let outputs = Outputs {
            matches: Some(&mut m),
            clusters: Some(&mut c),
            kept: Some(&mut k),
        };
        let source = Source::reader("mem", std::io::Cursor::new(input.as_bytes().to_vec()));
        let summary = dedup(vec![source], options, outputs, |_| {}).unwrap();
        (summary, m, c, k)
    }

    #[test]
    fn chunk_size_does_not_change_the_output() {
        let mut input = String::new();
        for i in 0..200u64 {
            let t = text(i % 13, 30);
            let edited = format!("{t} extra{i} words{i}");
            let t = if i % 3 == 0 { edited } else { t };
            input.push_str(&serde_json::json!({"id": i, "text": t}).to_string());
            input.push('\n');
        }
        let big = run(&input, &DedupOptions::default());
        assert_eq!(big.0.records, 200);
        assert_eq!(big.0.clusters, 13);
        // All but the first record of each of the 13 families are duplicates.
        assert_eq!(big.0.duplicate_records, 200 - 13);
        // Only kept units are indexed.
        assert_eq!(big.0.indexed_units, 13);
        for chunk in [1, 2, 17] {
            let options = DedupOptions {
                chunk_records: chunk,
                ..DedupOptions::default()
            };
            let small = run(&input, &options);
            // Everything but the tables' capacities.
            let same = Summary {
                index_bytes: big.0.index_bytes,
                ..small.0
            };
            assert_eq!(same, big.0, "chunk {chunk}");
            assert_eq!((&small.1, &small.2, &small.3), (&big.1, &big.2, &big.3));
        }
    }

    #[test]
    fn exact_copies_cost_one_index_entry() {
        // Many exact copies cost one index entry: the first copy.
        let line = serde_json::json!({"text": text(5, 40)}).to_string();
        let input = format!("{line}\n").repeat(50);
        let (summary, m, c, k) = run(&input, &DedupOptions::default());
        assert_eq!(summary.indexed_units, 1);
        assert_eq!(summary.duplicate_records, 49);
        assert_eq!(String::from_utf8(k).unwrap(), format!("{line}\n"));
        let m = String::from_utf8(m).unwrap();
        assert_eq!(m.lines().count(), 49);
        assert!(
            m.lines()
                .all(|l| l.contains(r#""matches":[{"id":1,"kind":"exact""#))
        );
        assert_eq!(String::from_utf8(c).unwrap().lines().count(), 1);
    }
}
