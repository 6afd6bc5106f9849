//! `analyze`: the engine's analysis of many texts, as flat numpy columns (one row per
//! paragraph; list columns as offsets and values), for pipelines that do their own joins.
//! The Python side turns them into a pyarrow Table.

use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rayon::prelude::*;

use neardup::engine::{AnalyzedDocument, Settings};
use neardup::minhash::MinHasher;

use crate::{engine_error, settings_from, split_from};

/// One text's paragraphs, as columns.
#[derive(Default)]
struct Columns {
    doc: Vec<u64>,
    paragraph: Vec<u32>,
    start: Vec<u64>,
    end: Vec<u64>,
    line: Vec<u64>,
    length: Vec<f32>,
    too_short: Vec<bool>,
    content_hash: Vec<u64>,
    shingle_offsets: Vec<i64>,
    shingles: Vec<u32>,
    band_key_offsets: Vec<i64>,
    band_keys: Vec<u64>,
    signatures: Vec<u32>,
}

impl Columns {
    fn push(&mut self, doc: usize, analyzed: AnalyzedDocument, hasher: Option<&MinHasher>) {
        for p in analyzed.paragraphs {
            self.doc.push(doc as u64);
            self.paragraph.push(p.span.index as u32);
            self.start.push(p.span.start as u64);
            self.end.push(p.span.end as u64);
            self.line.push(p.span.line as u64);
            self.length.push(p.text.length);
            self.too_short.push(p.too_short);
            self.content_hash.push(p.text.content_hash);
            self.shingles.extend_from_slice(&p.text.set);
            self.shingle_offsets.push(self.shingles.len() as i64);
            // Band keys are 32-bit today; the column is 64-bit so that it keeps its type
            // when they widen.
            self.band_keys.extend_from_slice(&p.band_keys);
            self.band_key_offsets.push(self.band_keys.len() as i64);
            if let Some(h) = hasher {
                self.signatures
                    .extend_from_slice(&h.signature(&p.text.set).0);
            }
        }
    }

    fn append(&mut self, other: Columns) {
        let shingle_base = self.shingles.len() as i64;
        let band_base = self.band_keys.len() as i64;
        self.doc.extend(other.doc);
        self.paragraph.extend(other.paragraph);
        self.start.extend(other.start);
        self.end.extend(other.end);
        self.line.extend(other.line);
        self.length.extend(other.length);
        self.too_short.extend(other.too_short);
        self.content_hash.extend(other.content_hash);
        self.shingles.extend(other.shingles);
        self.shingle_offsets
            .extend(other.shingle_offsets.iter().map(|o| o + shingle_base));
        self.band_keys.extend(other.band_keys);
        self.band_key_offsets
            .extend(other.band_key_offsets.iter().map(|o| o + band_base));
        self.signatures.extend(other.signatures);
    }
}

/// Analyzes `texts` (a sequence of str) in parallel, without the GIL. Returns a dict of
/// numpy arrays: `doc`, `paragraph`, `start`, `end`, `line`, `length`, `too_short`,
/// `content_hash`, `shingles` with `shingle_offsets`, `band_keys` with `band_key_offsets`
/// (offsets have one more entry than there are rows), and `signatures` (rows ×
/// num_perm) when asked for; plus `settings`.
#[pyfunction]
#[pyo3(signature = (texts, *, split="auto", signatures=false, **settings))]
pub fn analyze<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    split: &str,
    signatures: bool,
    settings: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let split = split_from(split)?;
    let settings = settings_from(Settings::default(), settings)?;
    let engine = neardup::Engine::new(settings.clone()).map_err(engine_error)?;
    let mut owned = Vec::with_capacity(texts.len().unwrap_or(0));
    for t in texts.try_iter()? {
        owned.push(t?.extract::<String>()?);
    }
    let hasher = signatures.then(|| MinHasher::new(settings.num_perm, settings.seed));
    let columns = py.detach(|| {
        let parts: Vec<Columns> = owned
            .into_par_iter()
            .enumerate()
            .map(|(i, text)| {
                let mut c = Columns::default();
                c.push(i, engine.analyze_with(text, split), hasher.as_ref());
                c
            })
            .collect();
        let mut all = Columns {
            shingle_offsets: vec![0],
            band_key_offsets: vec![0],
            ..Columns::default()
        };
        for part in parts {
            all.append(part);
        }
        all
    });
    let out = PyDict::new(py);
    let rows = columns.doc.len();
    out.set_item("doc", PyArray1::from_vec(py, columns.doc))?;
    out.set_item("paragraph", PyArray1::from_vec(py, columns.paragraph))?;
    out.set_item("start", PyArray1::from_vec(py, columns.start))?;
    out.set_item("end", PyArray1::from_vec(py, columns.end))?;
    out.set_item("line", PyArray1::from_vec(py, columns.line))?;
    out.set_item("length", PyArray1::from_vec(py, columns.length))?;
    out.set_item("too_short", PyArray1::from_vec(py, columns.too_short))?;
    out.set_item("content_hash", PyArray1::from_vec(py, columns.content_hash))?;
    out.set_item(
        "shingle_offsets",
        PyArray1::from_vec(py, columns.shingle_offsets),
    )?;
    out.set_item("shingles", PyArray1::from_vec(py, columns.shingles))?;
    out.set_item(
        "band_key_offsets",
        PyArray1::from_vec(py, columns.band_key_offsets),
    )?;
    out.set_item("band_keys", PyArray1::from_vec(py, columns.band_keys))?;
    if signatures {
        let flat = PyArray1::from_vec(py, columns.signatures);
        let shaped: Bound<'py, PyArray2<u32>> = flat.reshape([rows, settings.num_perm])?;
        out.set_item("signatures", shaped)?;
    }
    out.set_item("settings", crate::settings_dict(py, &settings)?)?;
    Ok(out)
}
