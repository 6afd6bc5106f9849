//! The inputs of a batch run: sources (files or readers), gzip and zstd detected by their
//! magic bytes, the walk of input directories, and the reader thread that cuts the input
//! into chunks of non-blank lines for the run.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;

use super::BatchError;

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

/// A non-blank line of a chunk: its bytes in the chunk's data, its input and its 1-based
/// line number there.
pub(super) struct Line {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) source: u32,
    pub(super) number: u64,
}

/// Lines of the input, cut at a record or byte limit.
#[derive(Default)]
pub(super) struct Chunk {
    pub(super) data: Vec<u8>,
    pub(super) lines: Vec<Line>,
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

/// The reader thread: sends the sources' lines, in order, in chunks of at most
/// `max_records` lines or about `max_bytes` bytes, then an error if one stops it.
pub(super) fn read_chunks(
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
