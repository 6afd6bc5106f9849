//! The two steps of a distributed `dedup` that must be the batch's own, so that a
//! distributed run decides as `neardup dedup` does: cutting and analyzing records into
//! units ([`neardup::batch::units`]) and verifying candidate pairs
//! ([`neardup::verify::verify`], sketch test included, then
//! [`neardup::batch::is_duplicate`]). The joins between them are the caller's (Dask).

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use rayon::prelude::*;

use neardup::analysis::Analyzer;
use neardup::batch::{self, DedupOptions, Unit};
use neardup::index::{SKETCH_LEN, Sketch, bucket_key};
use neardup::verify::{MatchKind, Side};

use crate::{engine_error, settings_from};

fn unit_from(unit: &str) -> PyResult<Unit> {
    match unit {
        "record" => Ok(Unit::Record),
        "paragraph" => Ok(Unit::Paragraph),
        other => Err(PyValueError::new_err(format!(
            "invalid unit {other:?}: expected record or paragraph"
        ))),
    }
}

/// Analyzes `texts` (str, or anything else for a bad record, which gets no units) as the
/// batch does. Returns a dict of numpy arrays, one row per judged unit: `record` (position
/// in `texts`), `paragraph`, `content_hash`, `shingles` + `shingle_offsets`,
/// `bucket_keys` + `bucket_key_offsets` (each band key as the batch's buckets hold it,
/// [`neardup::index::bucket_key`]), `sketch` (rows × 64 uint8).
#[pyfunction]
#[pyo3(signature = (texts, *, unit="record", **settings))]
pub fn dedup_units<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    unit: &str,
    settings: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let unit = unit_from(unit)?;
    let settings = settings_from(DedupOptions::default().settings, settings)?;
    let analyzer = Analyzer::new(settings.shape()).map_err(engine_error)?;
    let mut owned: Vec<Option<String>> = Vec::new();
    for t in texts.try_iter()? {
        let t = t?;
        owned.push(match t.cast::<PyString>() {
            Ok(s) => Some(s.to_cow()?.into_owned()),
            Err(_) => None,
        });
    }
    let analyzed: Vec<Vec<batch::JudgedUnit>> = py.detach(|| {
        owned
            .par_iter()
            .map(|t| {
                t.as_deref()
                    .map_or_else(Vec::new, |t| batch::units(&analyzer, unit, t).1)
            })
            .collect()
    });
    let (mut record, mut paragraph, mut hash) = (Vec::new(), Vec::new(), Vec::new());
    let (mut shingles, mut shingle_offsets) = (Vec::new(), vec![0i64]);
    let (mut keys, mut key_offsets) = (Vec::new(), vec![0i64]);
    let mut sketches: Vec<u8> = Vec::new();
    for (r, units) in analyzed.into_iter().enumerate() {
        for u in units {
            record.push(r as u64);
            paragraph.push(u.paragraph);
            hash.push(u.hash);
            shingles.extend_from_slice(&u.set);
            shingle_offsets.push(shingles.len() as i64);
            keys.extend(u.keys.iter().map(|&k| bucket_key(k)));
            key_offsets.push(keys.len() as i64);
            sketches.extend_from_slice(&u.sketch.0);
        }
    }
    let rows = record.len();
    let out = PyDict::new(py);
    out.set_item("record", PyArray1::from_vec(py, record))?;
    out.set_item("paragraph", PyArray1::from_vec(py, paragraph))?;
    out.set_item("content_hash", PyArray1::from_vec(py, hash))?;
    out.set_item("shingles", PyArray1::from_vec(py, shingles))?;
    out.set_item("shingle_offsets", PyArray1::from_vec(py, shingle_offsets))?;
    out.set_item("bucket_keys", PyArray1::from_vec(py, keys))?;
    out.set_item("bucket_key_offsets", PyArray1::from_vec(py, key_offsets))?;
    let sketch: Bound<'py, PyArray2<u8>> =
        PyArray1::from_vec(py, sketches).reshape([rows, SKETCH_LEN])?;
    out.set_item("sketch", sketch)?;
    Ok(out)
}

/// One side of the pairs: the sets (values + offsets), content hashes and sketches.
type Sides<'py> = (
    PyReadonlyArray1<'py, u32>,
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, u64>,
    PyReadonlyArray2<'py, u8>,
);

/// The sets, content hashes and sketches of one side of the pairs, owned.
type Owned = (Vec<u32>, Vec<i64>, Vec<u64>, Vec<Sketch>);

/// Pair `i`'s unit on side `x`.
fn side(x: &Owned, i: usize) -> Side<'_> {
    Side {
        set: &x.0[x.1[i] as usize..x.1[i + 1] as usize],
        content_hash: x.2[i],
        sketch: &x.3[i],
    }
}

/// The kinds and duplicate flags of verified pairs.
type Verdicts<'py> = (Bound<'py, PyArray1<u8>>, Bound<'py, PyArray1<bool>>);

/// Verifies pairs exactly, as the batch does: `(later[i], earlier[i])`, or with index
/// arrays `(later[later_index[i]], earlier[earlier_index[i]])` (the units of two
/// partitions, given once, and the pairs between them). Returns `(kind, duplicate)`:
/// kind 0 none, 1 exact, 2 near, 3 partial; duplicate when the match makes the later
/// unit a duplicate of the earlier one.
#[pyfunction]
#[pyo3(signature = (later, earlier, later_index=None, earlier_index=None, **settings))]
pub fn verify_pairs<'py>(
    py: Python<'py>,
    later: Sides<'py>,
    earlier: Sides<'py>,
    later_index: Option<PyReadonlyArray1<'py, i64>>,
    earlier_index: Option<PyReadonlyArray1<'py, i64>>,
    settings: Option<&Bound<'py, PyDict>>,
) -> PyResult<Verdicts<'py>> {
    let settings = settings_from(DedupOptions::default().settings, settings)?;
    let t = settings.thresholds(&settings.query_options());
    let view = |s: &Sides<'py>| -> PyResult<Owned> {
        let (values, offsets, hashes) = (s.0.as_slice()?, s.1.as_slice()?, s.2.as_slice()?);
        let sk = s.3.as_array();
        if offsets.len() != hashes.len() + 1
            || sk.nrows() != hashes.len()
            || sk.ncols() != SKETCH_LEN
        {
            return Err(PyValueError::new_err("the pairs' columns do not line up"));
        }
        if offsets
            .windows(2)
            .any(|w| w[0] > w[1] || w[1] as usize > values.len())
        {
            return Err(PyValueError::new_err(
                "shingle offsets out of order or range",
            ));
        }
        let sketches = sk
            .rows()
            .into_iter()
            .map(|r| {
                let mut s = [0u8; SKETCH_LEN];
                s.iter_mut().zip(r.iter()).for_each(|(d, v)| *d = *v);
                Sketch(s)
            })
            .collect();
        Ok((values.to_vec(), offsets.to_vec(), hashes.to_vec(), sketches))
    };
    let (q, s) = (view(&later)?, view(&earlier)?);
    let pairs: Vec<(usize, usize)> = match (&later_index, &earlier_index) {
        (None, None) if q.2.len() == s.2.len() => (0..q.2.len()).map(|i| (i, i)).collect(),
        (None, None) => {
            return Err(PyValueError::new_err(
                "as many later as earlier units, please (or index arrays)",
            ));
        }
        (Some(li), Some(ei)) => {
            let (li, ei) = (li.as_slice()?, ei.as_slice()?);
            let within = |i: i64, n: usize| usize::try_from(i).ok().filter(|&i| i < n);
            if li.len() != ei.len() {
                return Err(PyValueError::new_err("index arrays of different lengths"));
            }
            li.iter()
                .zip(ei)
                .map(|(&a, &b)| within(a, q.2.len()).zip(within(b, s.2.len())))
                .collect::<Option<_>>()
                .ok_or_else(|| PyValueError::new_err("a pair index is out of range"))?
        }
        _ => {
            return Err(PyValueError::new_err(
                "later_index and earlier_index go together",
            ));
        }
    };
    let (kinds, dups): (Vec<u8>, Vec<bool>) = py.detach(|| {
        pairs
            .par_iter()
            .map(
                |&(i, j)| match neardup::verify::verify(side(&q, i), side(&s, j), &t) {
                    None => (0, false),
                    Some((kind, scores)) => {
                        let code = match kind {
                            MatchKind::Exact => 1,
                            MatchKind::Near => 2,
                            MatchKind::Partial => 3,
                            // Only the edited-copy stage decides `edited`; this
                            // verification does not run it.
                            MatchKind::Edited => 4,
                        };
                        (code, batch::is_duplicate(kind, &scores, &t))
                    }
                },
            )
            .unzip()
    });
    Ok((PyArray1::from_vec(py, kinds), PyArray1::from_vec(py, dups)))
}
