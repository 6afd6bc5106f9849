//! `dedup`: [`neardup::batch::dedup`] over Python records, so that the result is the
//! CLI's by construction.
//!
//! The Python side hands over batches of `(ids, texts)` lists. Each record becomes one
//! JSON line `{"n": position, "id": id, "text": text}` (a record without an id gets its
//! 1-based position, as the CLI gives a record its line number), streamed through a
//! bounded channel to the batch run on another thread: memory holds a few batches, not the
//! input. The matches and clusters come back as the CLI's JSON Lines; the kept records
//! as their positions and ids, read from the `kept` output.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use numpy::PyArray1;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use neardup::batch::{self, DedupOptions, Outputs, Source, Unit};

use crate::{batch_error, settings_from};

/// The input of the batch run: JSON lines handed over by the producer.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(next) => {
                    self.buf = next;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The `kept` output, reduced to the kept records' positions and ids.
#[derive(Default)]
struct KeptSink {
    pending: Vec<u8>,
    positions: Vec<u64>,
    /// The ids as a JSON array.
    ids: Vec<u8>,
}

#[derive(serde::Deserialize)]
struct KeptLine {
    n: u64,
    id: serde_json::Value,
}

impl Write for KeptSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let mut start = 0;
        while let Some(len) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let line: KeptLine = serde_json::from_slice(&self.pending[start..start + len])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            self.ids.push(if self.positions.is_empty() {
                b'['
            } else {
                b','
            });
            serde_json::to_writer(&mut self.ids, &line.id)?;
            self.positions.push(line.n);
            start += len + 1;
        }
        self.pending.drain(..start);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes a Python value as JSON: None, bool, int, float (non-finite as null), str,
/// list, tuple and dict with str keys, and numpy scalars (through `.item()`).
fn write_json(v: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> PyResult<()> {
    let json = |e: serde_json::Error| PyValueError::new_err(e.to_string());
    if depth > 100 {
        return Err(PyValueError::new_err("value nested too deeply for JSON"));
    }
    if v.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(b) = v.cast::<PyBool>() {
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
    } else if let Ok(i) = v.cast::<PyInt>() {
        if let Ok(x) = i.extract::<i64>() {
            serde_json::to_writer(&mut *out, &x).map_err(json)?;
        } else if let Ok(x) = i.extract::<u64>() {
            serde_json::to_writer(&mut *out, &x).map_err(json)?;
        } else {
            // A larger integer is still a JSON number; the reader takes it as a float, as
            // the CLI does.
            out.extend_from_slice(i.str()?.to_cow()?.as_bytes());
        }
    } else if let Ok(f) = v.cast::<PyFloat>() {
        let x = f.value();
        if x.is_finite() {
            serde_json::to_writer(&mut *out, &x).map_err(json)?;
        } else {
            out.extend_from_slice(b"null");
        }
    } else if let Ok(s) = v.cast::<PyString>() {
        serde_json::to_writer(&mut *out, &*s.to_cow()?).map_err(json)?;
    } else if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        out.push(b'[');
        for (k, item) in v.try_iter()?.enumerate() {
            if k > 0 {
                out.push(b',');
            }
            write_json(&item?, out, depth + 1)?;
        }
        out.push(b']');
    } else if let Ok(d) = v.cast::<PyDict>() {
        out.push(b'{');
        for (k, (key, value)) in d.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            let key = key
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("dict keys must be str to be written as JSON"))?;
            serde_json::to_writer(&mut *out, &*key.to_cow()?).map_err(json)?;
            out.push(b':');
            write_json(&value, out, depth + 1)?;
        }
        out.push(b'}');
    } else if v.hasattr("item")? && v.hasattr("dtype")? {
        write_json(&v.call_method0("item")?, out, depth + 1)?;
    } else {
        return Err(PyTypeError::new_err(format!(
            "{} is not a JSON value (ids and texts must be str, int, float, bool, None, \
             or lists and dicts of those)",
            v.get_type().name()?
        )));
    }
    Ok(())
}

/// Serializes the batches into JSON lines and hands them to the run. Stops early (with
/// `Ok`) when the run has stopped reading.
fn produce(
    py: Python<'_>,
    batches: &Bound<'_, PyAny>,
    missing: &Bound<'_, PyAny>,
    tx: SyncSender<Vec<u8>>,
) -> PyResult<()> {
    let mut n: u64 = 0;
    for item in batches.try_iter()? {
        let item = item?;
        let (ids, texts): (Bound<'_, PyAny>, Bound<'_, PyList>) = item.extract()?;
        let ids = if ids.is_none() {
            None
        } else {
            let ids = ids.cast_into::<PyList>()?;
            if ids.len() != texts.len() {
                return Err(PyValueError::new_err(format!(
                    "a batch has {} ids for {} texts",
                    ids.len(),
                    texts.len()
                )));
            }
            Some(ids)
        };
        let mut buf = Vec::with_capacity(texts.len() * 256);
        for (i, text) in texts.iter().enumerate() {
            let context = |e: PyErr| {
                PyErr::from_type(e.get_type(py), format!("record {}: {}", n, e.value(py)))
            };
            buf.extend_from_slice(b"{\"n\":");
            buf.extend_from_slice(n.to_string().as_bytes());
            buf.extend_from_slice(b",\"id\":");
            match ids.as_ref().map(|ids| ids.get_item(i)).transpose()? {
                Some(id) if !id.is(missing) => write_json(&id, &mut buf, 0).map_err(context)?,
                _ => buf.extend_from_slice((n + 1).to_string().as_bytes()),
            }
            if !text.is(missing) {
                buf.extend_from_slice(b",\"text\":");
                write_json(&text, &mut buf, 0).map_err(context)?;
            }
            buf.extend_from_slice(b"}\n");
            n += 1;
        }
        if py.detach(|| tx.send(buf)).is_err() {
            break;
        }
    }
    Ok(())
}

/// Runs the batch dedup over `batches`, an iterable of `(ids or None, texts)` lists (an
/// id or text that is the `missing` object is absent). Returns `(summary, matches,
/// clusters, kept_ids, kept_positions)`: a dict, the CLI's matches and clusters JSON Lines
/// as bytes, the kept records' ids as a JSON array (bytes) and their 0-based positions.
#[pyfunction]
#[pyo3(signature = (batches, missing, *, unit="record", strict=false, threads=None, chunk_records=None, **settings))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn dedup<'py>(
    py: Python<'py>,
    batches: &Bound<'py, PyAny>,
    missing: &Bound<'py, PyAny>,
    unit: &str,
    strict: bool,
    threads: Option<usize>,
    chunk_records: Option<usize>,
    settings: Option<&Bound<'py, PyDict>>,
) -> PyResult<(
    Bound<'py, PyDict>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyArray1<u64>>,
)> {
    let defaults = DedupOptions::default();
    let unit = match unit {
        "record" => Unit::Record,
        "paragraph" => Unit::Paragraph,
        other => {
            return Err(PyValueError::new_err(format!(
                "invalid unit {other:?}: expected record or paragraph"
            )));
        }
    };
    if chunk_records == Some(0) {
        return Err(PyValueError::new_err("chunk_records must be at least 1"));
    }
    let options = DedupOptions {
        settings: settings_from(defaults.settings.clone(), settings)?,
        unit,
        strict,
        chunk_records: chunk_records.unwrap_or(defaults.chunk_records),
        ..defaults
    };
    let pool = match threads {
        Some(0) => return Err(PyValueError::new_err("threads must be at least 1")),
        Some(n) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(|i| format!("neardup-dedup-{i}"))
                .build()
                .map_err(|e| PyValueError::new_err(e.to_string()))?,
        ),
        None => None,
    };

    let (tx, rx) = sync_channel(4);
    let reader = ChannelReader {
        rx,
        buf: Vec::new(),
        pos: 0,
    };
    let (mut matches, mut clusters, mut kept) = (Vec::new(), Vec::new(), KeptSink::default());
    let (produced, result) = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let outputs = Outputs {
                matches: Some(&mut matches),
                clusters: Some(&mut clusters),
                kept: Some(&mut kept),
            };
            let run = || {
                batch::dedup(
                    vec![Source::reader("records", reader)],
                    &options,
                    outputs,
                    |_| {},
                )
            };
            match &pool {
                Some(pool) => pool.install(run),
                None => run(),
            }
        });
        let produced = produce(py, batches, missing, tx);
        let result = py.detach(|| worker.join());
        (produced, result)
    });
    produced?;
    let summary = match result {
        Ok(r) => r.map_err(batch_error)?,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    if kept.positions.is_empty() {
        kept.ids.push(b'[');
    }
    kept.ids.push(b']');

    let s = PyDict::new(py);
    s.set_item("records", summary.records)?;
    s.set_item("bad_records", summary.bad_records)?;
    let bad: Vec<(u64, String)> = summary
        .bad
        .iter()
        .map(|b| (b.line, b.reason.clone()))
        .collect();
    s.set_item("bad", bad)?;
    s.set_item("units", summary.units)?;
    s.set_item("judged_units", summary.judged_units)?;
    s.set_item("matched_units", summary.matched_units)?;
    s.set_item("duplicate_units", summary.duplicate_units)?;
    s.set_item("duplicate_records", summary.duplicate_records)?;
    s.set_item("clusters", summary.clusters)?;
    s.set_item("indexed_units", summary.indexed_units)?;
    s.set_item("index_bytes", summary.index_bytes)?;
    s.set_item("id_bytes", summary.id_bytes)?;
    s.set_item("bands", summary.lsh.bands)?;
    s.set_item("rows", summary.lsh.rows)?;
    Ok((
        s,
        PyBytes::new(py, &matches),
        PyBytes::new(py, &clusters),
        PyBytes::new(py, &kept.ids),
        PyArray1::from_vec(py, kept.positions),
    ))
}
