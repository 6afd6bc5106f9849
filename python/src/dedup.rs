//! `dedup`: [`neardup::batch::dedup`] over Python records, so that the result is the
//! CLI's by construction.
//!
//! The Python side hands over batches of `(ids, texts)` lists. Each record becomes a
//! [`Record`] (its id as a JSON value, its text as a string, or the reason it is bad, as
//! the CLI words it), sent through a bounded channel to the batch run on another thread:
//! memory holds a few batches, not the input, and nothing is serialized. The matches and
//! clusters come back as the CLI's JSON Lines; the kept records as their positions.

use std::sync::mpsc::{SyncSender, sync_channel};

use numpy::PyArray1;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

use neardup::batch::{self, DedupOptions, Outputs, Record, Source, Unit};

use crate::{batch_error, settings_from};

/// A Python value as JSON: None, bool, int, float (non-finite as null), str, list, tuple
/// and dict with str keys, and numpy scalars (through `.item()`).
fn to_json(v: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > 100 {
        return Err(PyValueError::new_err("value nested too deeply for JSON"));
    }
    Ok(if v.is_none() {
        Value::Null
    } else if let Ok(b) = v.cast::<PyBool>() {
        Value::Bool(b.is_true())
    } else if let Ok(i) = v.cast::<PyInt>() {
        if let Ok(x) = i.extract::<i64>() {
            Value::from(x)
        } else if let Ok(x) = i.extract::<u64>() {
            Value::from(x)
        } else {
            // A larger integer is read as a float, as the CLI reads it from JSON.
            let x: f64 = i.str()?.to_cow()?.parse().unwrap_or(f64::NAN);
            serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
        }
    } else if let Ok(f) = v.cast::<PyFloat>() {
        serde_json::Number::from_f64(f.value()).map_or(Value::Null, Value::Number)
    } else if let Ok(s) = v.cast::<PyString>() {
        Value::String(s.to_cow()?.into_owned())
    } else if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items: PyResult<Vec<Value>> = v
            .try_iter()?
            .map(|item| to_json(&item?, depth + 1))
            .collect();
        Value::Array(items?)
    } else if let Ok(d) = v.cast::<PyDict>() {
        let mut object = serde_json::Map::new();
        for (key, value) in d.iter() {
            let key = key
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("dict keys must be str to be written as JSON"))?;
            object.insert(key.to_cow()?.into_owned(), to_json(&value, depth + 1)?);
        }
        Value::Object(object)
    } else if v.hasattr("item")? && v.hasattr("dtype")? {
        to_json(&v.call_method0("item")?, depth + 1)?
    } else {
        return Err(PyTypeError::new_err(format!(
            "{} is not a JSON value (ids and texts must be str, int, float, bool, None, \
             or lists and dicts of those)",
            v.get_type().name()?
        )));
    })
}

/// Turns the batches into records and hands them to the run, keeping the ids for the
/// kept list. Stops early (with `Ok`) when the run has stopped reading.
fn produce(
    py: Python<'_>,
    batches: &Bound<'_, PyAny>,
    missing: &Bound<'_, PyAny>,
    text_field: &str,
    tx: SyncSender<Vec<Record>>,
    ids_seen: &mut Vec<Option<Value>>,
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
        let mut records = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            let context = |e: PyErr| {
                PyErr::from_type(e.get_type(py), format!("record {}: {}", n, e.value(py)))
            };
            let id = match ids.as_ref().map(|ids| ids.get_item(i)).transpose()? {
                Some(id) if !id.is(missing) => Some(to_json(&id, 0).map_err(context)?),
                _ => None,
            };
            let record = if let Ok(s) = text.cast::<PyString>() {
                Record {
                    id: id.clone(),
                    text: Ok(s.to_cow()?.into_owned()),
                }
            } else {
                let text = (!text.is(missing))
                    .then(|| to_json(&text, 0))
                    .transpose()
                    .map_err(context)?;
                Record::from_json(id.clone(), text, text_field)
            };
            ids_seen.push(id);
            records.push(record);
            n += 1;
        }
        if py.detach(|| tx.send(records)).is_err() {
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
#[pyo3(signature = (batches, missing, *, text_field="text", unit="record", strict=false, threads=None, chunk_records=None, ignore_boilerplate=false, **settings))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn dedup<'py>(
    py: Python<'py>,
    batches: &Bound<'py, PyAny>,
    missing: &Bound<'py, PyAny>,
    text_field: &str,
    unit: &str,
    strict: bool,
    threads: Option<usize>,
    chunk_records: Option<usize>,
    ignore_boilerplate: bool,
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
        text_field: text_field.to_string(),
        strict,
        chunk_records: chunk_records.unwrap_or(defaults.chunk_records),
        ignore_boilerplate,
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

    let (tx, rx) = sync_channel::<Vec<Record>>(4);
    let (mut matches, mut clusters, mut kept) = (Vec::new(), Vec::new(), Vec::new());
    let mut ids = Vec::new();
    let (produced, result) = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let outputs = Outputs {
                matches: Some(&mut matches),
                clusters: Some(&mut clusters),
                kept_records: Some(&mut kept),
                ..Outputs::default()
            };
            let run = || {
                batch::dedup(
                    vec![Source::records("records", rx.into_iter().flatten())],
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
        let produced = produce(py, batches, missing, text_field, tx, &mut ids);
        let result = py.detach(|| worker.join());
        (produced, result)
    });
    produced?;
    let summary = match result {
        Ok(r) => r.map_err(batch_error)?,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    // A record without an id is named by its 1-based position, as the batch names it.
    let kept_ids: Vec<Value> = kept
        .iter()
        .map(|&n| ids[n as usize].take().unwrap_or_else(|| Value::from(n + 1)))
        .collect();
    let kept_ids =
        serde_json::to_vec(&kept_ids).map_err(|e| PyValueError::new_err(e.to_string()))?;

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
    s.set_item("boilerplate_units", summary.boilerplate_units)?;
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
        PyBytes::new(py, &kept_ids),
        PyArray1::from_vec(py, kept),
    ))
}
