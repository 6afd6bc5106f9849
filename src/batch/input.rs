//! The inputs of a batch run: sources (JSON Lines files or readers, Parquet files, records
//! in memory), gzip and zstd detected by their magic bytes, the walk of input directories,
//! and the reader thread that cuts the input into chunks of records for the run.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;

use super::BatchError;
use super::record::{Fields, parse_record};

/// One input of a batch run.
pub struct Source {
    name: String,
    input: SourceInput,
}

enum SourceInput {
    Path(PathBuf),
    Reader(Box<dyn Read + Send>),
    Records(Box<dyn Iterator<Item = Record> + Send>),
}

/// A record given in memory rather than as a JSON line.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Its id, written as JSON in the outputs; `None` names the record by its 1-based
    /// position in its source, as a JSON Lines record without an id is named by its line.
    pub id: Option<serde_json::Value>,
    /// Its text, or why it has none (the record is then bad: counted, kept, never
    /// compared).
    pub text: Result<String, String>,
}

impl Record {
    /// A record from the JSON values of its id and text fields (`None` when absent), judged
    /// as a JSON line with those fields is: a text that is absent or not a string makes a
    /// bad record, and the reason names `text_field`.
    pub fn from_json(
        id: Option<serde_json::Value>,
        text: Option<serde_json::Value>,
        text_field: &str,
    ) -> Record {
        Record {
            id,
            text: super::record::text_of(text, text_field),
        }
    }
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

    /// Records in memory, under a name used in messages and ids. The iterator is drawn on
    /// the reader thread, a chunk at a time.
    pub fn records(
        name: impl Into<String>,
        records: impl IntoIterator<Item = Record, IntoIter: Send + 'static>,
    ) -> Source {
        Source {
            name: name.into(),
            input: SourceInput::Records(Box::new(records.into_iter())),
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

/// True for names of Parquet files.
pub fn is_parquet_name(name: &str) -> bool {
    name.ends_with(".parquet")
}

/// Expands directories into the JSON Lines and Parquet files under them (recursively, sorted by
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

/// The JSON Lines and Parquet files under `dir`. Symbolic links below `dir` are not followed (a link
/// back up, `sub/up -> ..`, would list every file again and again), as in ripgrep.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry?;
        if entry.file_type().is_file()
            && entry
                .file_name()
                .to_str()
                .is_some_and(|n| is_jsonl_name(n) || is_parquet_name(n))
        {
            out.push(entry.into_path());
        }
    }
    Ok(())
}

/// A record of a chunk: where it is in the chunk's body, its input and its 1-based line
/// number (or position) there.
pub(super) struct Line {
    /// JSON Lines: the line's first byte in the data; records: the record's index; Parquet:
    /// the batch's index.
    pub(super) start: usize,
    /// JSON Lines: the end of the line (its newline excluded); Parquet: the row in the
    /// batch.
    pub(super) end: usize,
    pub(super) source: u32,
    pub(super) number: u64,
}

/// What a chunk's records are made of.
pub(super) enum Body {
    /// JSON lines, end to end.
    Json(Vec<u8>),
    /// Records given in memory.
    Records(Vec<Record>),
    /// Rows of Parquet files.
    Parquet(Vec<super::parquet::TextBatch>),
}

impl Default for Body {
    fn default() -> Body {
        Body::Json(Vec::new())
    }
}

/// The kinds of [`Body`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Records,
    Parquet,
}

impl Body {
    /// The id (as JSON text, when present) and text of the record at `line`, or why it
    /// cannot be used.
    pub(super) fn record(
        &self,
        line: &Line,
        fields: Fields<'_>,
    ) -> Result<(Option<String>, Cow<'_, str>), String> {
        match self {
            Body::Json(data) => parse_record(&data[line.start..line.end], fields)
                .map(|(id, text)| (id, Cow::Owned(text))),
            Body::Records(records) => {
                let r = &records[line.start];
                let text = r.text.as_deref().map_err(|e| e.to_string())?;
                Ok((r.id.as_ref().map(|v| v.to_string()), Cow::Borrowed(text)))
            }
            Body::Parquet(batches) => batches[line.start]
                .record(line.end)
                .map(|(id, text)| (id, Cow::Borrowed(text))),
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Body::Json(_) => Kind::Json,
            Body::Records(_) => Kind::Records,
            Body::Parquet(_) => Kind::Parquet,
        }
    }
}

/// Records of the input, cut at a record or byte limit (and where the kind of input
/// changes).
#[derive(Default)]
pub(super) struct Chunk {
    pub(super) body: Body,
    pub(super) lines: Vec<Line>,
    /// Bytes of text or lines held (the byte limit's measure).
    bytes: usize,
    /// Input bytes read when the chunk was cut (the reader runs ahead of the work).
    pub(super) bytes_read: u64,
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

/// Opens a JSON Lines input, decompressing gzip or zstd when its first bytes say so.
fn open_lines(
    raw: Box<dyn Read + Send>,
    counter: &Arc<AtomicU64>,
) -> io::Result<Box<dyn BufRead + Send>> {
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

/// Fills chunks and sends them to the run.
pub(super) struct Cutter {
    chunk: Chunk,
    tx: SyncSender<Result<Chunk, BatchError>>,
    max_records: usize,
    max_bytes: usize,
    pub(super) counter: Arc<AtomicU64>,
}

impl Cutter {
    /// Sends the chunk; false when the run has stopped listening.
    fn send(&mut self) -> bool {
        self.chunk.bytes_read = self.counter.load(Ordering::Relaxed);
        self.tx.send(Ok(std::mem::take(&mut self.chunk))).is_ok()
    }

    /// Sends the chunk when it is full; false when the run has stopped listening.
    fn cut(&mut self) -> bool {
        let full = self.chunk.lines.len() >= self.max_records || self.chunk.bytes >= self.max_bytes;
        !full || self.send()
    }

    /// The chunk's body, made of `kind` (the chunk sent first if it holds records of
    /// another kind); `None` when the run has stopped listening.
    fn body(&mut self, kind: Kind) -> Option<&mut Body> {
        if self.chunk.body.kind() != kind {
            if !self.chunk.lines.is_empty() && !self.send() {
                return None;
            }
            self.chunk.body = match kind {
                Kind::Json => Body::Json(Vec::new()),
                Kind::Records => Body::Records(Vec::new()),
                Kind::Parquet => Body::Parquet(Vec::new()),
            };
        }
        Some(&mut self.chunk.body)
    }

    /// Adds a Parquet batch of `rows` rows of input `source`, numbered from `first`;
    /// false when the run has stopped listening.
    pub(super) fn parquet(
        &mut self,
        batch: super::parquet::TextBatch,
        source: u32,
        first: u64,
    ) -> bool {
        let rows = batch.rows();
        let bytes = batch.text_bytes();
        let Some(Body::Parquet(batches)) = self.body(Kind::Parquet) else {
            return false;
        };
        batches.push(batch);
        let b = batches.len() - 1;
        self.chunk.bytes += bytes;
        self.chunk.lines.extend((0..rows).map(|row| Line {
            start: b,
            end: row,
            source,
            number: first + row as u64 + 1,
        }));
        self.cut()
    }

    /// Reads one JSON Lines input; false when the run has stopped listening.
    fn lines(&mut self, mut reader: Box<dyn BufRead + Send>, source: u32) -> io::Result<bool> {
        let mut number = 0u64;
        loop {
            let Some(Body::Json(data)) = self.body(Kind::Json) else {
                return Ok(false);
            };
            let start = data.len();
            if reader.read_until(b'\n', data)? == 0 {
                return Ok(true);
            }
            number += 1;
            let mut end = data.len();
            if data[end - 1] == b'\n' {
                end -= 1;
            }
            if data[start..end].iter().all(u8::is_ascii_whitespace) {
                data.truncate(start);
                continue;
            }
            self.chunk.bytes = data.len();
            self.chunk.lines.push(Line {
                start,
                end,
                source,
                number,
            });
            if !self.cut() {
                return Ok(false);
            }
        }
    }

    /// Reads records given in memory; false when the run has stopped listening.
    fn records(&mut self, records: Box<dyn Iterator<Item = Record> + Send>, source: u32) -> bool {
        for (n, record) in records.enumerate() {
            let Some(Body::Records(body)) = self.body(Kind::Records) else {
                return false;
            };
            let bytes = record.text.as_ref().map_or(0, |t| t.len());
            body.push(record);
            let start = body.len() - 1;
            self.chunk.lines.push(Line {
                start,
                end: 0,
                source,
                number: n as u64 + 1,
            });
            self.chunk.bytes += bytes;
            if !self.cut() {
                return false;
            }
        }
        true
    }
}

/// The reader thread: sends the sources' records, in order, in chunks of at most
/// `max_records` records or about `max_bytes` bytes, then an error if one stops it.
/// `fields` name the id and text columns of Parquet inputs.
pub(super) fn read_chunks(
    sources: Vec<Source>,
    tx: SyncSender<Result<Chunk, BatchError>>,
    (max_records, max_bytes): (usize, usize),
    counter: Arc<AtomicU64>,
    fields: Fields<'_>,
) {
    let mut cutter = Cutter {
        chunk: Chunk::default(),
        tx,
        max_records,
        max_bytes,
        counter,
    };
    for (index, source) in sources.into_iter().enumerate() {
        let index = index as u32;
        let name = source.name;
        let read = |error| BatchError::Read {
            path: name.clone(),
            error,
        };
        let went_on = match source.input {
            SourceInput::Records(records) => Ok(cutter.records(records, index)),
            SourceInput::Path(path) => match File::open(&path).and_then(super::parquet::sniff) {
                Err(e) => Err(read(e)),
                Ok((file, true)) => {
                    let rows = cutter.max_records;
                    super::parquet::read(file, &name, index, fields, &mut cutter, rows)
                }
                Ok((file, false)) => open_lines(Box::new(file), &cutter.counter)
                    .and_then(|reader| cutter.lines(reader, index))
                    .map_err(read),
            },
            SourceInput::Reader(r) => match super::parquet::spool(r) {
                Err(e) => Err(read(e)),
                Ok(Ok(file)) => {
                    let rows = cutter.max_records;
                    super::parquet::read(file, &name, index, fields, &mut cutter, rows)
                }
                Ok(Err(r)) => open_lines(r, &cutter.counter)
                    .and_then(|reader| cutter.lines(reader, index))
                    .map_err(read),
            },
        };
        match went_on {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                let _ = cutter.tx.send(Err(e));
                return;
            }
        }
    }
    if !cutter.chunk.lines.is_empty() {
        cutter.send();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_names() {
        for name in ["a.jsonl", "a.ndjson.gz", "b.json.zst"] {
            assert!(is_jsonl_name(name), "{name}");
        }
        for name in ["a.txt", "a.gz", "jsonl"] {
            assert!(!is_jsonl_name(name), "{name}");
        }
    }
}
