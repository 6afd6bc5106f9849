//! `neardup._neardup`: the native half of the `neardup` Python package.
//!
//! A thin conversion layer over the `neardup` crate. Every algorithm (text analysis,
//! MinHash, LSH banding, verification, the engine, batch dedup) lives in the crate; this
//! crate only turns Python values into the crate's types and back, maps the crate's
//! errors to Python exceptions, and releases the GIL around the work. The pure-Python
//! package `neardup/` re-exports these classes and adds the pieces that are Python API
//! only (input adapters, dataclasses, the datasketch-style `MinHashLSH`).

use pyo3::exceptions::{PyKeyError, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use neardup::engine::Settings;
use neardup::text::{Fold, Split};

mod analyze;
mod dask;
mod dedup;
mod engine;
mod minhash;

pyo3::create_exception!(
    _neardup,
    AlreadyExistsError,
    PyValueError,
    "A document id is already taken by a different text (pass replace=True to replace it)."
);

/// The Python exception for an engine error.
fn engine_error(e: neardup::Error) -> PyErr {
    match e {
        neardup::Error::NotFound(_) => PyKeyError::new_err(e.to_string()),
        neardup::Error::AlreadyExists(_) => AlreadyExistsError::new_err(e.to_string()),
        neardup::Error::InvalidArgument { .. } | neardup::Error::TooLarge(_) => {
            PyValueError::new_err(e.to_string())
        }
        neardup::Error::Unavailable(_) => PyRuntimeError::new_err(e.to_string()),
    }
}

/// The Python exception for a service error (an engine error as [`engine_error`]; an
/// in-memory store never fails).
fn service_error(e: neardup::service::ServiceError) -> PyErr {
    match e {
        neardup::service::ServiceError::Engine(e) => engine_error(e),
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

/// The Python exception for a batch error.
fn batch_error(e: neardup::batch::BatchError) -> PyErr {
    use neardup::batch::BatchError;
    match e {
        BatchError::Read { .. } | BatchError::Write { .. } => PyOSError::new_err(e.to_string()),
        BatchError::Settings(e) => engine_error(e),
        BatchError::BadRecord { .. }
        | BatchError::BadInput { .. }
        | BatchError::NoInput(_)
        | BatchError::TooLarge(_) => PyValueError::new_err(e.to_string()),
    }
}

/// The settings a caller may pass as keyword arguments, by name.
const SETTING_NAMES: &str = "num_perm, shingle, threshold, containment, min_length, \
     lsh_threshold, max_bands, fn_weight, max_bucket, max_matches, seed, fold, boilerplate";

/// A Han folding from its name (`none`, `simplified`).
fn fold_from(name: &str) -> PyResult<Fold> {
    match name {
        "none" => Ok(Fold::None),
        "simplified" => Ok(Fold::Simplified),
        other => Err(PyValueError::new_err(format!(
            "invalid fold {other:?}: expected none or simplified"
        ))),
    }
}

/// The name of a Han folding.
fn fold_name(fold: Fold) -> &'static str {
    match fold {
        Fold::None => "none",
        Fold::Simplified => "simplified",
    }
}

/// `base` with the keyword arguments in `kwargs` applied, validated by the crate.
fn settings_from(mut s: Settings, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Settings> {
    let mut derived: Vec<(&'static str, usize)> = Vec::new();
    if let Some(kwargs) = kwargs {
        for (key, value) in kwargs.iter() {
            let key: String = key.extract()?;
            let named =
                |e: PyErr| PyTypeError::new_err(format!("setting {key}: {}", e.value(value.py())));
            match key.as_str() {
                "num_perm" => s.num_perm = value.extract().map_err(named)?,
                "shingle" => s.shingle = value.extract().map_err(named)?,
                "threshold" => s.threshold = value.extract().map_err(named)?,
                "containment" => s.containment = value.extract().map_err(named)?,
                "min_length" => s.min_length = value.extract().map_err(named)?,
                "lsh_threshold" => s.lsh_threshold = value.extract().map_err(named)?,
                "max_bands" => s.max_bands = value.extract().map_err(named)?,
                "fn_weight" => s.fn_weight = value.extract().map_err(named)?,
                "max_bucket" => s.max_bucket = value.extract().map_err(named)?,
                "max_matches" => s.max_matches = value.extract().map_err(named)?,
                "seed" => s.seed = value.extract().map_err(named)?,
                "fold" => s.fold = fold_from(&value.extract::<String>().map_err(named)?)?,
                "boilerplate" => s.boilerplate = value.extract().map_err(named)?,
                // Derived values, accepted so that a settings dict can be passed back.
                "bands" => derived.push(("bands", value.extract().map_err(named)?)),
                "rows" => derived.push(("rows", value.extract().map_err(named)?)),
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "unexpected setting {other:?} (the settings are {SETTING_NAMES})"
                    )));
                }
            }
        }
    }
    s.validate().map_err(engine_error)?;
    let lsh = s.lsh_params();
    for (name, value) in derived {
        let actual = if name == "bands" { lsh.bands } else { lsh.rows };
        if value != actual {
            return Err(PyValueError::new_err(format!(
                "{name} = {value} does not follow from these settings ({} bands x {} rows): \
                 bands and rows are chosen from lsh_threshold, max_bands and fn_weight",
                lsh.bands, lsh.rows
            )));
        }
    }
    Ok(s)
}

/// A settings object as a dict of its values, with the bands × rows they give.
fn settings_dict<'py>(py: Python<'py>, s: &Settings) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let lsh = s.lsh_params();
    d.set_item("num_perm", s.num_perm)?;
    d.set_item("shingle", s.shingle)?;
    d.set_item("threshold", s.threshold)?;
    d.set_item("containment", s.containment)?;
    d.set_item("min_length", s.min_length)?;
    d.set_item("lsh_threshold", s.lsh_threshold)?;
    d.set_item("max_bands", s.max_bands)?;
    d.set_item("fn_weight", s.fn_weight)?;
    d.set_item("max_bucket", s.max_bucket)?;
    d.set_item("max_matches", s.max_matches)?;
    d.set_item("seed", s.seed)?;
    d.set_item("fold", fold_name(s.fold))?;
    d.set_item("boilerplate", s.boilerplate)?;
    d.set_item("bands", lsh.bands)?;
    d.set_item("rows", lsh.rows)?;
    Ok(d)
}

/// A paragraph-splitting mode from its name (`auto`, `blank-lines`, `lines`, `none`).
fn split_from(name: &str) -> PyResult<Split> {
    match name {
        "auto" => Ok(Split::Auto),
        "blank-lines" | "blank_lines" => Ok(Split::BlankLines),
        "lines" => Ok(Split::Lines),
        "none" => Ok(Split::None),
        other => Err(PyValueError::new_err(format!(
            "invalid split {other:?}: expected auto, blank-lines, lines or none"
        ))),
    }
}

/// The engine's default settings (what `Engine()` and `analyze` use), as a dict.
#[pyfunction]
fn engine_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    settings_dict(py, &Settings::default())
}

/// The batch dedup's default settings (what `dedup` and `neardup dedup` use), as a dict.
#[pyfunction]
fn dedup_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    settings_dict(py, &neardup::batch::DedupOptions::default().settings)
}

/// The MinHash loop this CPU runs (`avx512`, `avx2` or `portable`).
#[pyfunction]
fn minhash_implementation() -> &'static str {
    neardup::minhash::implementation()
}

#[pymodule]
fn _neardup(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add(
        "AlreadyExistsError",
        m.py().get_type::<AlreadyExistsError>(),
    )?;
    m.add_class::<minhash::MinHash>()?;
    m.add_class::<minhash::MinHashGenerator>()?;
    m.add_class::<minhash::LshIndex>()?;
    m.add_function(wrap_pyfunction!(minhash::optimal_lsh_params, m)?)?;
    m.add_class::<engine::Engine>()?;
    m.add_function(wrap_pyfunction!(analyze::analyze, m)?)?;
    m.add_function(wrap_pyfunction!(dedup::dedup, m)?)?;
    m.add_function(wrap_pyfunction!(dask::dedup_units, m)?)?;
    m.add_function(wrap_pyfunction!(dask::verify_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(engine_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(dedup_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_implementation, m)?)?;
    Ok(())
}
