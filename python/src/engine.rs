//! `Engine`: the crate's service layer ([`neardup::service::Service`]) over an in-memory
//! store, one namespace, with its reports as the dataclasses of `neardup._report`, whose
//! fields are those of the gRPC `Report` (offsets in code points, so they slice the
//! Python string). It is what `neardup serve` runs per namespace, with the same write
//! transaction and the texts kept once, by the store. Analysis and queries run without
//! the GIL; the service is thread-safe, so threads sharing one `Engine` run in parallel.

use std::collections::BTreeMap;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyType};

use neardup::engine::{self, DocId, ParagraphStatus, QueryOptions, Report};
use neardup::service::{DEFAULT_NAMESPACE, Service, ServiceError, StoredText, Submission};
use neardup::store::MemStore;

use crate::{engine_error, service_error, settings_dict, settings_from, split_from};

/// The report classes of `neardup._report`, imported once.
struct Classes {
    span: Py<PyType>,
    source: Py<PyType>,
    match_: Py<PyType>,
    paragraph_report: Py<PyType>,
    summary: Py<PyType>,
    report: Py<PyType>,
    submitted: Py<PyType>,
    paragraph: Py<PyType>,
    document: Py<PyType>,
    stats: Py<PyType>,
    engine_settings: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let m = py.import("neardup._report")?;
        let get = |name: &str| -> PyResult<Py<PyType>> {
            Ok(m.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        Ok(Classes {
            span: get("Span")?,
            source: get("SourceParagraph")?,
            match_: get("Match")?,
            paragraph_report: get("ParagraphReport")?,
            summary: get("Summary")?,
            report: get("Report")?,
            submitted: get("Submitted")?,
            paragraph: get("Paragraph")?,
            document: get("Document")?,
            stats: get("Stats")?,
            engine_settings: get("EngineSettings")?,
        })
    })
}

fn status_name(s: ParagraphStatus) -> &'static str {
    match s {
        ParagraphStatus::New => "new",
        ParagraphStatus::Recycled => "recycled",
        ParagraphStatus::TooShort => "too_short",
    }
}

/// A report as `neardup.Report`. `this` is the engine's id of the reported document
/// (`None` for a check): matches pointing to it are `same_document`.
fn report_to_py<'py>(
    py: Python<'py>,
    report: Report,
    this: Option<DocId>,
) -> PyResult<Bound<'py, PyAny>> {
    let c = classes(py)?;
    let paragraphs = PyList::empty(py);
    for p in report.paragraphs {
        let matches = PyList::empty(py);
        for m in p.matches {
            let spans = PyList::empty(py);
            for s in &m.spans {
                spans.append(c.span.bind(py).call1((
                    s.start,
                    s.end,
                    s.source_start,
                    s.source_end,
                ))?)?;
            }
            let source = c.source.bind(py).call1((
                &*m.source.name,
                m.source.document == this,
                m.source.paragraph,
                m.source.start,
                m.source.end,
                m.source.line,
            ))?;
            matches.append(c.match_.bind(py).call1((
                source,
                m.kind.as_str(),
                m.scores.jaccard,
                m.scores.containment,
                m.scores.containment_source,
                m.scores.shared,
                spans,
                m.copies,
                m.aligned.map(|a| a.coverage),
                m.aligned.map(|a| a.coverage_source),
            ))?)?;
        }
        paragraphs.append(c.paragraph_report.bind(py).call1((
            p.index,
            p.start,
            p.end,
            p.line,
            status_name(p.status),
            matches,
            p.boilerplate,
        ))?)?;
    }
    let s = report.summary;
    let summary = c.summary.bind(py).call1((
        s.paragraphs,
        s.recycled,
        s.too_short,
        s.recycled_share,
        s.distinct_sources,
        s.boilerplate,
    ))?;
    c.report.bind(py).call1((paragraphs, summary))
}

fn document_to_py<'py>(py: Python<'py>, d: StoredText) -> PyResult<Bound<'py, PyAny>> {
    let c = classes(py)?;
    let paragraphs = PyList::empty(py);
    for p in &d.paragraphs {
        paragraphs.append(
            c.paragraph
                .bind(py)
                .call1((p.index, p.start, p.end, p.line))?,
        )?;
    }
    c.document.bind(py).call1((
        &*d.document.name,
        d.text,
        paragraphs,
        d.document.metadata,
        d.document.stored_at_ms,
    ))
}

/// The near-duplicate engine: an in-memory index of documents that reports, for each
/// paragraph of a submitted or checked text, which earlier paragraphs it repeats.
#[pyclass(module = "neardup._neardup", frozen)]
pub struct Engine {
    service: Service,
}

impl Engine {
    /// The engine of the one namespace (created with the service, so it always exists).
    fn engine(&self) -> Arc<neardup::Engine> {
        self.service
            .engine(DEFAULT_NAMESPACE)
            .expect("the namespace is created with the engine")
    }

    fn options(
        &self,
        threshold: Option<f64>,
        containment: Option<f64>,
        max_matches: Option<usize>,
        spans: bool,
    ) -> QueryOptions {
        let d = self.service.settings().query_options();
        QueryOptions {
            threshold: threshold.unwrap_or(d.threshold),
            containment: containment.unwrap_or(d.containment),
            max_matches: max_matches.unwrap_or(d.max_matches),
            spans,
            edited: d.edited,
        }
    }
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (**settings))]
    fn new(settings: Option<&Bound<'_, PyDict>>) -> PyResult<Engine> {
        let settings = settings_from(engine::Settings::default(), settings)?;
        let service =
            Service::open(settings, Arc::new(MemStore::default())).map_err(service_error)?;
        service
            .create_namespace(DEFAULT_NAMESPACE)
            .map_err(service_error)?;
        Ok(Engine { service })
    }

    /// Reports on `text` against everything submitted before, then stores it as
    /// `doc_id`. The same id with the same text is idempotent; with another text it
    /// raises `AlreadyExistsError` unless `replace`.
    #[pyo3(signature = (doc_id, text, metadata=None, replace=false, *, threshold=None, containment=None, max_matches=None, spans=true, split="auto"))]
    #[allow(clippy::too_many_arguments)]
    fn submit<'py>(
        &self,
        py: Python<'py>,
        doc_id: String,
        text: String,
        metadata: Option<BTreeMap<String, String>>,
        replace: bool,
        threshold: Option<f64>,
        containment: Option<f64>,
        max_matches: Option<usize>,
        spans: bool,
        split: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let split = split_from(split)?;
        let opts = self.options(threshold, containment, max_matches, spans);
        opts.validate().map_err(engine_error)?;
        let submitted = py
            .detach(|| {
                let submission = Submission {
                    namespace: DEFAULT_NAMESPACE.into(),
                    id: doc_id.clone(),
                    doc: self.service.analyzer().document(text, split),
                    split,
                    metadata: metadata.unwrap_or_default(),
                    opts,
                    replace,
                };
                self.service.submit(submission, || {})
            })
            .map_err(service_error)?;
        let outcome = match (submitted.created, submitted.replaced) {
            (false, _) => "unchanged",
            (true, false) => "created",
            (true, true) => "replaced",
        };
        let report = report_to_py(py, submitted.report, Some(submitted.id))?;
        classes(py)?
            .submitted
            .bind(py)
            .call1((doc_id, outcome, report))
    }

    /// Reports on `text` against everything submitted, storing nothing. `document_id`
    /// names it in matches with its own earlier paragraphs.
    #[pyo3(signature = (text, document_id="", *, threshold=None, containment=None, max_matches=None, spans=true, split="auto"))]
    #[allow(clippy::too_many_arguments)]
    fn check<'py>(
        &self,
        py: Python<'py>,
        text: String,
        document_id: &str,
        threshold: Option<f64>,
        containment: Option<f64>,
        max_matches: Option<usize>,
        spans: bool,
        split: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let split = split_from(split)?;
        let opts = self.options(threshold, containment, max_matches, spans);
        let report = py
            .detach(|| {
                let doc = self.service.analyzer().document(text, split);
                self.service
                    .check(DEFAULT_NAMESPACE, document_id, &doc, &opts)
            })
            .map_err(service_error)?;
        report_to_py(py, report, None)
    }

    /// Removes a document (KeyError if there is none) and returns it.
    fn remove<'py>(&self, py: Python<'py>, doc_id: &str) -> PyResult<Bound<'py, PyAny>> {
        let removed = py
            .detach(|| {
                let stored = self.service.get(DEFAULT_NAMESPACE, doc_id)?;
                self.service.delete(DEFAULT_NAMESPACE, doc_id)?;
                Ok::<_, ServiceError>(stored)
            })
            .map_err(service_error)?;
        document_to_py(py, removed)
    }

    /// The stored document with that id, or None.
    fn get<'py>(&self, py: Python<'py>, doc_id: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        match py.detach(|| self.service.get(DEFAULT_NAMESPACE, doc_id)) {
            Ok(d) => document_to_py(py, d).map(Some),
            Err(ServiceError::Engine(neardup::Error::NotFound(_))) => Ok(None),
            Err(e) => Err(service_error(e)),
        }
    }

    /// Counts, index size and the settings in use.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = classes(py)?;
        let st = self.engine().stats();
        let s = self.service.settings();
        let settings = c.engine_settings.bind(py).call1((
            s.num_perm,
            st.lsh.bands,
            st.lsh.rows,
            s.shingle,
            s.threshold,
            s.containment,
            s.min_length,
            s.lsh_threshold,
            s.max_matches,
        ))?;
        c.stats
            .bind(py)
            .call1((st.documents, st.paragraphs, st.index_bytes, settings))
    }

    /// Every setting, with the LSH bands and rows they give.
    #[getter]
    fn settings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        settings_dict(py, self.service.settings())
    }

    fn __len__(&self) -> usize {
        self.engine().stats().documents
    }

    fn __contains__(&self, doc_id: &str) -> bool {
        self.engine().document(doc_id).is_some()
    }

    fn __repr__(&self) -> String {
        let st = self.engine().stats();
        format!(
            "Engine(documents={}, paragraphs={})",
            st.documents, st.paragraphs
        )
    }
}
