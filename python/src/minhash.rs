//! `MinHash` (datasketch's API over [`neardup::minhash`]) and `LshIndex` (the banded
//! index under the Python `MinHashLSH`, over [`neardup::lsh`]).
//!
//! Values are the crate's: 32-bit minima of the multiply-add-shift family, so a digest
//! differs from datasketch's for the same input, but every estimate means the same thing.
//! Element hashes: `update(b)` hashes bytes (or UTF-8 text) with xxh3 (the upper 32 bits)
//! unless a `hashfunc` is given, whose integer result is folded to 32 bits.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use numpy::{PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString, PyTuple, PyType};

use neardup::index::{PostingMap, ReadPolicy};
use neardup::lsh::{self, LshParams};
use neardup::minhash::{MinHasher, Signature};

/// Hashers by (permutations, seed), shared by every `MinHash` built with them while any
/// of those lives: a permutation family costs `num_perm` hashes to draw.
type HasherCache = HashMap<(usize, u64), Weak<MinHasher>>;
static HASHERS: LazyLock<Mutex<HasherCache>> = LazyLock::new(Default::default);

fn seeded_hasher(num_perm: usize, seed: u64) -> Arc<MinHasher> {
    let mut cache = HASHERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(h) = cache.get(&(num_perm, seed)).and_then(Weak::upgrade) {
        return h;
    }
    cache.retain(|_, w| w.strong_count() > 0);
    let h = Arc::new(MinHasher::new(num_perm, seed));
    cache.insert((num_perm, seed), Arc::downgrade(&h));
    h
}

/// A hash of bytes, for `update` without a `hashfunc`.
fn hash_bytes(b: &[u8]) -> u32 {
    (xxhash_rust::xxh3::xxh3_64(b) >> 32) as u32
}

/// The default element hash: bytes-like values and str (as UTF-8).
fn hash_value(b: &Bound<'_, PyAny>) -> PyResult<u32> {
    if let Ok(bytes) = b.cast::<PyBytes>() {
        return Ok(hash_bytes(bytes.as_bytes()));
    }
    if let Ok(s) = b.cast::<PyString>() {
        return Ok(hash_bytes(s.to_cow()?.as_bytes()));
    }
    if let Ok(array) = b.cast::<PyByteArray>() {
        return Ok(hash_bytes(&array.to_vec()));
    }
    // Buffers (memoryview, numpy values) hash as their bytes.
    if let Ok(view) = b.call_method0("tobytes")
        && let Ok(bytes) = view.cast::<PyBytes>()
    {
        return Ok(hash_bytes(bytes.as_bytes()));
    }
    Err(PyTypeError::new_err(format!(
        "MinHash.update takes bytes or str, not {} (pass hashfunc= to hash other values)",
        b.get_type().name()?
    )))
}

/// A `hashfunc` result as a 32-bit hash: an integer taken modulo 2^64, whose two halves
/// are folded together (so 32-bit values pass unchanged).
fn fold_hash(v: &Bound<'_, PyAny>) -> PyResult<u32> {
    let x: u64 = match v.extract::<u64>() {
        Ok(x) => x,
        Err(_) => match v.extract::<i64>() {
            Ok(x) => x as u64,
            Err(_) => v
                .call_method1("__and__", (u64::MAX,))
                .and_then(|m| m.extract::<u64>())
                .map_err(|_| {
                    PyTypeError::new_err(format!(
                        "hashfunc must return an integer, not {}",
                        v.get_type()
                            .name()
                            .map(|n| n.to_string())
                            .unwrap_or_default()
                    ))
                })?,
        },
    };
    Ok((x ^ (x >> 32)) as u32)
}

/// 32-bit hash values from an array or sequence of integers.
fn values_u32(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u32>> {
    let check = |v: u64| {
        u32::try_from(v)
            .map_err(|_| PyValueError::new_err(format!("{what}: {v} is not a 32-bit hash value")))
    };
    if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, u32>>() {
        return Ok(a.as_array().to_vec());
    }
    if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, u64>>() {
        return a.as_array().iter().map(|&v| check(v)).collect();
    }
    let mut out = Vec::new();
    for v in obj.try_iter()? {
        out.push(check(v?.extract::<u64>()?)?);
    }
    Ok(out)
}

fn u64_array<'py>(py: Python<'py>, values: &[u32]) -> Bound<'py, PyArray1<u64>> {
    PyArray1::from_iter(py, values.iter().map(|&v| v as u64))
}

/// MinHash of a set, with datasketch's interface.
#[pyclass(module = "neardup._neardup", subclass)]
pub struct MinHash {
    hasher: Arc<MinHasher>,
    sig: Signature,
    seed: u64,
    /// Whether `hasher` came from explicit permutations rather than from `seed`.
    custom_permutations: bool,
    hashfunc: Option<Py<PyAny>>,
    gpu_mode: String,
}

impl MinHash {
    fn same_family(&self, other: &MinHash, verb: &str) -> PyResult<()> {
        if other.seed != self.seed {
            return Err(PyValueError::new_err(format!(
                "Cannot {verb} MinHash with different seeds"
            )));
        }
        if other.sig.0.len() != self.sig.0.len() {
            return Err(PyValueError::new_err(format!(
                "Cannot {verb} MinHash with different numbers of permutation functions"
            )));
        }
        Ok(())
    }

    fn hash(&self, b: &Bound<'_, PyAny>) -> PyResult<u32> {
        match &self.hashfunc {
            Some(f) => fold_hash(&f.bind(b.py()).call1((b,))?),
            None => hash_value(b),
        }
    }

    fn duplicate(&self, py: Python<'_>) -> MinHash {
        MinHash {
            hasher: self.hasher.clone(),
            sig: self.sig.clone(),
            seed: self.seed,
            custom_permutations: self.custom_permutations,
            hashfunc: self.hashfunc.as_ref().map(|f| f.clone_ref(py)),
            gpu_mode: self.gpu_mode.clone(),
        }
    }

    /// The signature of a `MinHash` or of any object with datasketch's `hashvalues`.
    pub fn signature_of(obj: &Bound<'_, PyAny>) -> PyResult<Signature> {
        if let Ok(m) = obj.cast::<MinHash>() {
            return Ok(m.borrow().sig.clone());
        }
        let values = obj
            .getattr("hashvalues")
            .map_err(|_| PyTypeError::new_err("expected a MinHash (an object with hashvalues)"))?;
        Ok(Signature(values_u32(&values, "hashvalues")?.into()))
    }
}

#[pymethods]
impl MinHash {
    #[new]
    #[pyo3(signature = (num_perm=128, seed=1, gpu_mode="disable", hashfunc=None, hashobj=None, hashvalues=None, permutations=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        mut num_perm: usize,
        seed: u64,
        gpu_mode: &str,
        hashfunc: Option<Py<PyAny>>,
        hashobj: Option<&Bound<'_, PyAny>>,
        hashvalues: Option<&Bound<'_, PyAny>>,
        permutations: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<MinHash> {
        if !matches!(gpu_mode, "disable" | "detect" | "always") {
            return Err(PyValueError::new_err(format!(
                "gpu_mode must be 'disable', 'detect' or 'always', not {gpu_mode:?}"
            )));
        }
        if let Some(f) = &hashfunc
            && !f.bind(py).is_callable()
        {
            return Err(PyValueError::new_err("The hashfunc must be a callable."));
        }
        if hashobj.is_some() {
            let warning = py.get_type::<pyo3::exceptions::PyDeprecationWarning>();
            PyErr::warn(
                py,
                &warning,
                c"hashobj is deprecated, use hashfunc instead.",
                1,
            )?;
        }
        let values = hashvalues
            .map(|v| values_u32(v, "hashvalues"))
            .transpose()?;
        if let Some(v) = &values {
            num_perm = v.len();
        }
        if num_perm == 0 || num_perm > 1 << 20 {
            return Err(PyValueError::new_err(format!(
                "num_perm must be in 1..={}, not {num_perm}",
                1 << 20
            )));
        }
        let seeded = seeded_hasher(num_perm, seed);
        let (hasher, custom_permutations) = match permutations {
            None => (seeded, false),
            Some(p) => {
                let rows: Vec<Vec<u64>> = p
                    .try_iter()?
                    .map(|r| r?.extract())
                    .collect::<PyResult<_>>()?;
                if rows.len() != 2 {
                    return Err(PyValueError::new_err(
                        "permutations must be two sequences: multipliers and offsets",
                    ));
                }
                if rows[0].len() != num_perm || rows[1].len() != num_perm {
                    return Err(PyValueError::new_err(
                        "Numbers of hash values and permutations mismatch",
                    ));
                }
                if seeded.parameters() == (&rows[0][..], &rows[1][..]) {
                    (seeded, false)
                } else {
                    let h = MinHasher::from_parameters(&rows[0], &rows[1]).ok_or_else(|| {
                        PyValueError::new_err("Numbers of hash values and permutations mismatch")
                    })?;
                    (Arc::new(h), true)
                }
            }
        };
        let sig = match values {
            Some(v) => Signature(v.into()),
            None => hasher.signature(&[]),
        };
        Ok(MinHash {
            hasher,
            sig,
            seed,
            custom_permutations,
            hashfunc,
            gpu_mode: gpu_mode.to_string(),
        })
    }

    /// Adds one value: bytes or str by default, anything `hashfunc` takes otherwise.
    fn update(&mut self, b: &Bound<'_, PyAny>) -> PyResult<()> {
        let h = self.hash(b)?;
        self.hasher.update(&mut self.sig, &[h]);
        Ok(())
    }

    /// Adds many values (the MinHash loop runs once, without the GIL).
    fn update_batch(&mut self, py: Python<'_>, b: &Bound<'_, PyAny>) -> PyResult<()> {
        if self.gpu_mode == "always" {
            return Err(PyRuntimeError::new_err(
                "GPU mode 'always' requested but neardup has no GPU backend.",
            ));
        }
        let mut hashes = Vec::with_capacity(b.len().unwrap_or(0));
        for v in b.try_iter()? {
            hashes.push(self.hash(&v?)?);
        }
        let (hasher, sig) = (&self.hasher, &mut self.sig);
        py.detach(|| hasher.update(sig, &hashes));
        Ok(())
    }

    /// Adds precomputed 32-bit hashes (an array of integers below 2^32), such as the
    /// shingle sets of `neardup.analyze`: with the engine's seed and permutations this
    /// gives the engine's signature.
    fn update_hashes(&mut self, py: Python<'_>, hashes: &Bound<'_, PyAny>) -> PyResult<()> {
        let hashes = values_u32(hashes, "hashes")?;
        let (hasher, sig) = (&self.hasher, &mut self.sig);
        py.detach(|| hasher.update(sig, &hashes));
        Ok(())
    }

    /// Estimated Jaccard similarity of the two sets.
    fn jaccard(&self, other: PyRef<'_, MinHash>) -> PyResult<f64> {
        self.same_family(&other, "compute Jaccard given")?;
        Ok(self.sig.jaccard(&other.sig))
    }

    /// Estimated number of distinct values added.
    fn count(&self) -> f64 {
        self.sig.cardinality()
    }

    /// Makes this the MinHash of the union of both sets.
    fn merge(&mut self, other: PyRef<'_, MinHash>) -> PyResult<()> {
        self.same_family(&other, "merge")?;
        self.sig.merge(&other.sig);
        Ok(())
    }

    /// The hash values (a copy), as a numpy array of uint64.
    fn digest<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        u64_array(py, &self.sig.0)
    }

    /// True when no value was added.
    fn is_empty(&self) -> bool {
        self.sig.is_empty()
    }

    /// Forgets every value added.
    fn clear(&mut self) {
        self.sig = self.hasher.signature(&[]);
    }

    /// A copy (sharing the permutations).
    fn copy(&self, py: Python<'_>) -> MinHash {
        self.duplicate(py)
    }

    fn __copy__(&self, py: Python<'_>) -> MinHash {
        self.duplicate(py)
    }

    fn __deepcopy__(&self, py: Python<'_>, _memo: &Bound<'_, PyAny>) -> MinHash {
        self.duplicate(py)
    }

    fn __len__(&self) -> usize {
        self.sig.0.len()
    }

    fn __eq__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> bool {
        if !slf.get_type().is(other.get_type()) {
            return false;
        }
        let Ok(other) = other.cast::<MinHash>() else {
            return false;
        };
        let (a, b) = (slf.borrow(), other.borrow());
        a.seed == b.seed && a.sig == b.sig
    }

    fn __repr__(&self) -> String {
        format!("MinHash(num_perm={}, seed={})", self.sig.0.len(), self.seed)
    }

    /// Pickling: the class and the arguments that rebuild this MinHash.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let m = slf.borrow();
        let permutations = if m.custom_permutations {
            Some(m.permutations(py)?)
        } else {
            None
        };
        let args = (
            m.sig.0.len(),
            m.seed,
            m.gpu_mode.clone(),
            m.hashfunc.as_ref().map(|f| f.clone_ref(py)),
            py.None(),
            m.digest(py),
            permutations,
        );
        PyTuple::new(
            py,
            [
                slf.get_type().into_any(),
                args.into_pyobject(py)?.into_any(),
            ],
        )
    }

    /// The hash values, as a numpy array of uint64 (a copy; assign to replace them).
    #[getter]
    fn hashvalues<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        self.digest(py)
    }

    #[setter]
    fn set_hashvalues(&mut self, values: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = values_u32(values, "hashvalues")?;
        if v.len() != self.hasher.num_perm() {
            return Err(PyValueError::new_err(
                "Numbers of hash values and permutations mismatch",
            ));
        }
        self.sig = Signature(v.into());
        Ok(())
    }

    /// The permutations' multipliers and offsets, as a 2 × num_perm uint64 array.
    #[getter]
    fn permutations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<u64>>> {
        let (a, c) = self.hasher.parameters();
        PyArray2::from_vec2(py, &[a.to_vec(), c.to_vec()])
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.seed
    }

    #[getter]
    fn num_perm(&self) -> usize {
        self.sig.0.len()
    }

    /// The element hash given to the constructor (None: the built-in xxh3 of bytes).
    #[getter]
    fn hashfunc(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.hashfunc.as_ref().map(|f| f.clone_ref(py))
    }

    #[getter(_gpu_mode)]
    fn gpu_mode(&self) -> String {
        self.gpu_mode.clone()
    }

    /// The MinHash of the union of the given ones (at least two, same seed and size).
    #[classmethod]
    #[pyo3(signature = (*mhs))]
    fn union<'py>(
        cls: &Bound<'py, PyType>,
        mhs: Vec<PyRef<'py, MinHash>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = cls.py();
        let Some(first) = mhs.first() else {
            return Err(PyValueError::new_err("Cannot union less than 2 MinHash"));
        };
        if mhs.len() < 2 {
            return Err(PyValueError::new_err("Cannot union less than 2 MinHash"));
        }
        let mut union = first.duplicate(py);
        for m in &mhs[1..] {
            union.same_family(m, "union").map_err(|_| {
                PyValueError::new_err(
                    "The unioning MinHash must have the same seed and number of permutation functions",
                )
            })?;
            union.sig.merge(&m.sig);
        }
        if cls.is(py.get_type::<MinHash>()) {
            return Ok(Bound::new(py, union)?.into_any());
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item("hashfunc", union.hashfunc(py))?;
        kwargs.set_item("hashvalues", union.digest(py))?;
        kwargs.set_item("permutations", union.permutations(py)?)?;
        kwargs.set_item("gpu_mode", union.gpu_mode.clone())?;
        cls.call((union.sig.0.len(), union.seed), Some(&kwargs))
    }

    /// One MinHash per iterable of values in `b`, all built with `minhash_kwargs`.
    #[classmethod]
    #[pyo3(signature = (b, **minhash_kwargs))]
    fn bulk<'py>(
        cls: &Bound<'py, PyType>,
        b: &Bound<'py, PyAny>,
        minhash_kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        MinHash::generator(cls, b, minhash_kwargs)?
            .try_iter()?
            .collect()
    }

    /// As `bulk`, lazily.
    #[classmethod]
    #[pyo3(signature = (b, **minhash_kwargs))]
    fn generator<'py>(
        cls: &Bound<'py, PyType>,
        b: &Bound<'py, PyAny>,
        minhash_kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, MinHashGenerator>> {
        let template = cls.call((), minhash_kwargs)?;
        Bound::new(
            cls.py(),
            MinHashGenerator {
                template: template.unbind(),
                inputs: b.try_iter()?.into_any().unbind(),
            },
        )
    }
}

/// The iterator `MinHash.generator` returns.
#[pyclass(module = "neardup._neardup")]
pub struct MinHashGenerator {
    template: Py<PyAny>,
    inputs: Py<PyAny>,
}

#[pymethods]
impl MinHashGenerator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(values) = self.inputs.bind(py).try_iter()?.next() else {
            return Ok(None);
        };
        let m = self.template.bind(py).call_method0("copy")?;
        m.call_method1("update_batch", (values?,))?;
        Ok(Some(m))
    }
}

/// The LSH bands × rows datasketch's `MinHashLSH` picks for a threshold and weights
/// (false positives, false negatives), by the crate's optimizer.
#[pyfunction]
pub fn optimal_lsh_params(
    threshold: f64,
    num_perm: usize,
    false_positive_weight: f64,
    false_negative_weight: f64,
) -> (usize, usize) {
    let p = LshParams::optimal(
        threshold,
        num_perm,
        num_perm,
        false_positive_weight,
        false_negative_weight,
    );
    (p.bands, p.rows)
}

/// Buckets are read whole (no limit), as datasketch reads them.
const WHOLE: ReadPolicy = ReadPolicy {
    max_bucket: usize::MAX,
    sample: 0,
};

/// The banded index under `MinHashLSH`: signatures in, integer ids out. Buckets are
/// read whole (no bucket limit), as datasketch does.
#[pyclass(module = "neardup._neardup")]
pub struct LshIndex {
    params: LshParams,
    num_perm: usize,
    index: PostingMap,
    keys: HashMap<u32, Box<[u64]>>,
    next: u32,
}

impl LshIndex {
    fn band_keys_of(&self, minhash: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
        let sig = MinHash::signature_of(minhash)?;
        if sig.0.len() != self.num_perm {
            return Err(PyValueError::new_err(format!(
                "Expecting minhash with length {}, got {}",
                self.num_perm,
                sig.0.len()
            )));
        }
        Ok(lsh::band_keys(self.params, 0, &sig))
    }
}

#[pymethods]
impl LshIndex {
    #[new]
    fn new(bands: usize, rows: usize, num_perm: usize) -> PyResult<LshIndex> {
        if bands == 0 || rows == 0 || bands * rows > num_perm {
            return Err(PyValueError::new_err(format!(
                "bands × rows = {bands} × {rows} must be at least 1 and at most num_perm = {num_perm}"
            )));
        }
        let params = LshParams { bands, rows };
        Ok(LshIndex {
            params,
            num_perm,
            index: PostingMap::default(),
            keys: HashMap::new(),
            next: 0,
        })
    }

    /// Indexes a MinHash; returns its id.
    fn insert(&mut self, minhash: &Bound<'_, PyAny>) -> PyResult<u32> {
        let keys = self.band_keys_of(minhash)?;
        self.insert_band_keys(keys)
    }

    /// Indexes an entry given its band keys (from `band_keys` of an index with the same
    /// parameters); returns its id.
    fn insert_band_keys(&mut self, keys: Vec<u64>) -> PyResult<u32> {
        if keys.len() != self.params.bands {
            return Err(PyValueError::new_err(format!(
                "expected {} band keys, got {}",
                self.params.bands,
                keys.len()
            )));
        }
        let id = self.next;
        self.next = id
            .checked_add(1)
            .ok_or_else(|| PyValueError::new_err("more than 2^32 insertions"))?;
        for &k in &keys {
            self.index.insert(k, id);
        }
        self.keys.insert(id, keys.into());
        Ok(id)
    }

    /// Removes an entry by id; returns whether it was there.
    fn remove(&mut self, id: u32) -> bool {
        match self.keys.remove(&id) {
            Some(keys) => {
                for &k in keys.iter() {
                    self.index.remove(k, id);
                }
                true
            }
            None => false,
        }
    }

    /// Ids of the entries sharing at least one band with `minhash`, ascending.
    fn query(&self, py: Python<'_>, minhash: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
        let keys = self.band_keys_of(minhash)?;
        Ok(py.detach(|| {
            let mut ids = Vec::new();
            for &k in &keys {
                self.index.read(k, WHOLE, |id| ids.push(id));
            }
            ids.sort_unstable();
            ids.dedup();
            ids
        }))
    }

    /// The band keys of an entry (one 64-bit key per band).
    fn band_keys(&self, id: u32) -> PyResult<Vec<u64>> {
        self.keys
            .get(&id)
            .map(|k| k.to_vec())
            .ok_or_else(|| PyValueError::new_err(format!("no entry {id}")))
    }

    /// The band keys `minhash` would have here.
    fn band_keys_for(&self, minhash: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
        self.band_keys_of(minhash)
    }

    /// Ids of every entry, ascending.
    fn ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.keys.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    fn __len__(&self) -> usize {
        self.keys.len()
    }

    #[getter]
    fn bands(&self) -> usize {
        self.params.bands
    }

    #[getter]
    fn rows(&self) -> usize {
        self.params.rows
    }

    #[getter]
    fn num_perm(&self) -> usize {
        self.num_perm
    }
}
