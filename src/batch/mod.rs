//! Batch deduplication of JSON Lines corpora: the library half of `neardup dedup`.
//!
//! Records stream in from one or more sources (plain, gzip or zstd JSON Lines, detected by
//! their magic bytes; Parquet files; records in memory, see [`Record`]), are cut into units (a whole record, or each of its paragraphs) and
//! compared with every earlier unit in input order. The first occurrence is kept; a later
//! unit that repeats it is reported and, for `--kept`, removed.
//!
//! # Pipeline and determinism
//!
//! A reader thread decompresses and cuts the input into chunks of lines. Each chunk goes
//! through five steps:
//!
//! 1. parse and analyze every record, in parallel (rayon);
//! 2. in order: number the units, and find each unit's exact copy, if any, among the kept
//!    units of earlier chunks;
//! 3. query each unit, in parallel, against the index as it was before the chunk (frozen,
//!    read-only) plus the earlier units of the same chunk (a sorted table of bucket keys);
//! 4. in order: drop matches with earlier units of the chunk that turned out to be
//!    duplicates, add the exact copy kept earlier in the chunk, decide, write matches and
//!    kept records, join duplicates in the union-find;
//! 5. index the chunk's units (sets of the kept ones appended in order, buckets filled in
//!    parallel, each in unit order).
//!
//! Candidates are sorted by unit number before verification and every decision depends only
//! on the units before the one being judged, so the output is the same byte for byte for
//! any number of threads and any chunk size. Large buckets are why the buckets hold every
//! judged unit, kept or not: which units of a bucket of more than `max_bucket` earlier
//! units are read (the first and the most recent) then depends on the input alone, and
//! the units that are not kept among them are passed over. A distributed run (the Python
//! package's `neardup.dask`) reproduces this from a band join, since the same rule
//! applies to a bucket however it is stored.
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
//! Later units are compared with kept units only (as in the usual query-then-insert
//! MinHash LSH pipeline): a duplicate is matched with the kept units it repeats. A chain of small edits A → B → C is thus judged
//! against A, not B, and `--matches` always points at text that is still in `--kept`.
//!
//! # Candidates
//!
//! The batch finds candidates exactly as the engine does: the same analysis, LSH bands,
//! bucket-read policy (a large bucket gives its first unit and its most recent ones, see
//! [`ReadPolicy`](crate::index::ReadPolicy)) and verification, so it finds what the engine
//! finds (splits and merges included) apart from what only-kept indexing leaves out. Every candidate is verified
//! exactly, so tuning changes recall (pairs never compared), never precision.
//!
//! # Memory
//!
//! Per kept unit: its shingle set (4 bytes a shingle, in one arena) and an exact-hash
//! entry; per judged unit, its LSH bucket entries (8 bytes a band), its sketch (64 bytes)
//! and 29 bytes (set end, content hash, record, paragraph, union-find parent, kept flag);
//! per record, its id.
//! Boilerplate repeated many times costs one set.
//!
//! # Files
//!
//! - `input`: sources, decompression, the directory walk, and cutting the input into
//!   chunks of records on a reader thread;
//! - `parquet`: Parquet inputs, the kept rows as Parquet, matches and clusters as Parquet;
//! - `record`: parsing a JSON Lines record (its id and text), and the table of record ids;
//! - `run`: the chunk pipeline above, the in-memory index of kept units and the
//!   union-find of duplicates;
//! - `output`: the writers of `--matches`, `--clusters` and `--kept`.
//!
//! This module reads files but knows nothing of terminals or flags; the binary draws the
//! progress bar from the [`Progress`] it is given.

mod input;
mod output;
mod parquet;
mod record;
mod run;

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::sync_channel;

use crate::engine::Settings;
use crate::lsh::LshParams;

pub use input::{Record, Source, expand_inputs, is_jsonl_name, is_parquet_name};
pub use parquet::{KeptParquet, ParquetLines, Table};
pub(crate) use record::parse_default_record;
pub use run::{JudgedUnit, is_duplicate, units};

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
    /// An input or the combination of inputs and outputs cannot be used: a malformed
    /// Parquet file, a missing column or one of the wrong type, Parquet rows for a JSON
    /// Lines `kept` output or the other way round.
    #[error("cannot use {path}: {reason}")]
    BadInput {
        /// The input's name (or the output's flag).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A directory holds no inputs.
    #[error(
        "no JSON Lines files (.jsonl, .ndjson, .json, optionally .gz or .zst) or Parquet \
         files (.parquet) in {0}"
    )]
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
    /// Set boilerplate paragraphs apart (paragraph units only): a paragraph whose cluster
    /// of duplicates already spans `settings.boilerplate - 1` other records (a masthead,
    /// a copyright line) neither makes its record a duplicate nor keeps it, and is not
    /// reported in matches or clusters. Judged online, in input order: its first copies
    /// are duplicates as usual.
    pub ignore_boilerplate: bool,
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
            ignore_boilerplate: false,
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
    /// The input records that are not duplicates: JSON lines byte for byte, records given
    /// in memory as JSON objects of their id (when they have one) and text. Parquet rows
    /// cannot go here (see `kept_parquet`).
    pub kept: Option<&'a mut (dyn Write + Send)>,
    /// The rows of Parquet inputs that are not duplicates, with their schema. JSON Lines
    /// and records in memory cannot go here.
    pub kept_parquet: Option<&'a mut KeptParquet>,
    /// The 0-based numbers of the records that are not duplicates, counted over all the
    /// inputs (bad records included, and kept), in order.
    pub kept_records: Option<&'a mut Vec<u64>>,
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
    /// Units set apart as boilerplate ([`DedupOptions::ignore_boilerplate`]).
    pub boilerplate_units: u64,
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
    if options.ignore_boilerplate && options.unit != Unit::Paragraph {
        return Err(crate::Error::invalid(
            "ignore_boilerplate",
            "boilerplate is set apart among paragraphs: use paragraph units",
        )
        .into());
    }
    if options.ignore_boilerplate && options.settings.boilerplate == 0 {
        return Err(crate::Error::invalid(
            "ignore_boilerplate",
            "needs a boilerplate count (boilerplate) of at least 2",
        )
        .into());
    }
    let names: Vec<String> = sources.iter().map(|s| s.name().to_string()).collect();
    let (tx, rx) = sync_channel(2);
    let limits = (options.chunk_records.max(1), options.chunk_bytes.max(1));
    std::thread::scope(|scope| {
        let counter = Arc::new(AtomicU64::new(0));
        let fields = record::Fields {
            id: &options.id_field,
            text: &options.text_field,
        };
        scope.spawn(move || input::read_chunks(sources, tx, limits, counter, fields));
        let mut run = run::Run::new(options, names, outputs)?;
        run.consume(rx, observe)?;
        run.finish()
    })
}

/// Grows a vector by at most a quarter at a time, so a large table wastes little.
fn reserve_lean<T>(v: &mut Vec<T>, extra: usize) {
    if v.capacity() - v.len() < extra {
        v.reserve_exact(extra.max(v.capacity() / 4).max(1024));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ..Outputs::default()
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
    fn records_in_memory_give_the_json_lines_result() {
        let mut input = String::new();
        let mut records = Vec::new();
        for i in 0..120u64 {
            let t = text(i % 9, 25 + (i % 4) as usize);
            let id = (i % 5 != 0).then(|| serde_json::json!(format!("r{i}")));
            let mut line = serde_json::Map::new();
            if let Some(id) = &id {
                line.insert("id".into(), id.clone());
            }
            line.insert("text".into(), t.clone().into());
            input.push_str(&serde_json::Value::Object(line).to_string());
            input.push('\n');
            records.push(Record { id, text: Ok(t) });
        }
        // A bad record, in both forms.
        input.push_str("{\"id\": \"bad\", \"text\": 5}\n");
        records.push(Record::from_json(
            Some("bad".into()),
            Some(5.into()),
            "text",
        ));
        let options = DedupOptions {
            chunk_records: 7,
            ..DedupOptions::default()
        };
        let json = run(&input, &options);
        let (mut m, mut c, mut numbers) = (Vec::new(), Vec::new(), Vec::new());
        let outputs = Outputs {
            matches: Some(&mut m),
            clusters: Some(&mut c),
            kept_records: Some(&mut numbers),
            ..Outputs::default()
        };
        let summary = dedup(
            vec![Source::records("mem", records)],
            &options,
            outputs,
            |_| {},
        )
        .unwrap();
        assert_eq!(summary, json.0);
        assert_eq!((m, c), (json.1, json.2));
        assert_eq!(
            summary.bad[0].reason,
            "field \"text\" is a number, not a string"
        );
        let lines: Vec<&str> = input.lines().collect();
        let kept: Vec<&str> = numbers.iter().map(|&n| lines[n as usize]).collect();
        let expected = String::from_utf8(json.3).unwrap();
        assert_eq!(kept, expected.lines().collect::<Vec<_>>());
        assert!(numbers.len() < 60 && numbers.contains(&120));
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
