//! The `neardup.v1.NearDup` service: thin handlers over the [`Service`] layer.
//!
//! Handlers validate, convert ([`super::convert`]), call the service and convert back.
//! Analysis and index work run on tokio's blocking pool, at most `workers` jobs at a
//! time, admitted in arrival order (a fair semaphore), so many callers share the CPU
//! evenly and the async workers only move bytes. More than `max_pending` waiting jobs
//! make new calls fail fast with RESOURCE_EXHAUSTED instead of queueing without bound.
//!
//! Each write runs to the end on its worker thread even if the caller goes away, so the
//! engine and the store never disagree about a finished write (the write transaction
//! itself is [`Service::submit`]). Check may see a document whose write is still in
//! flight.
//!
//! Each handler checks the call's permission on its namespace ([`super::auth`]) before
//! any work, and records the namespace and document id in the call's span
//! ([`super::telemetry`], which also writes the call's log line and metrics).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use super::auth::{Access, Permission, authorize};
use super::backend::Backend;
use super::convert::{editorial_options, query_options, repaired_to_pb, report_to_pb};
use super::pb::{self, near_dup_server::NearDup};
use super::telemetry::{record, record_counts};
use crate::analysis::AnalyzedDocument;
use crate::editorial::{EditorialOptions, alignments_among, matched_sources, repairs};
use crate::engine::{DocId, Engine, NoTexts};
use crate::engine::{EngineStats, QueryOptions, Report, Settings};
use crate::error::Error;
use crate::report::{Aligned, Repaired};
use crate::service::{DEFAULT_NAMESPACE, NamespaceLimits, Service, ServiceError, Submission};
use crate::store::Store;
use crate::text::Split;
use crate::text::repair::Repair;

/// Request and load limits of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request message, in bytes (larger ones fail with RESOURCE_EXHAUSTED).
    pub max_message_bytes: usize,
    /// Longest text, in bytes of UTF-8.
    pub max_text_bytes: usize,
    /// Most paragraphs per document.
    pub max_paragraphs: usize,
    /// Engine jobs run at the same time (defaults to the number of CPUs).
    pub workers: usize,
    /// Jobs running or waiting for a worker beyond which new calls are refused as
    /// overloaded.
    pub max_pending: usize,
    /// Requests of one SubmitStream analyzed ahead of the one being applied.
    pub stream_window: usize,
    /// Namespaces, documents and index bytes held at most, and whether Submit creates
    /// namespaces.
    pub namespaces: NamespaceLimits,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 16 << 20,
            max_text_bytes: 8 << 20,
            max_paragraphs: 20_000,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_pending: 4096,
            stream_window: 32,
            namespaces: NamespaceLimits::default(),
        }
    }
}

impl Limits {
    /// Checks that every limit is usable.
    pub fn validate(&self) -> Result<(), Error> {
        let n = &self.namespaces;
        for (name, v) in [
            ("max_namespaces", n.max_namespaces),
            ("max_namespace_documents", n.max_documents),
            ("max_namespace_bytes", n.max_namespace_bytes),
            ("max_index_bytes", n.max_index_bytes),
            ("max_message_bytes", self.max_message_bytes),
            ("max_text_bytes", self.max_text_bytes),
            ("max_paragraphs", self.max_paragraphs),
            ("workers", self.workers),
            ("max_pending", self.max_pending),
            ("stream_window", self.stream_window),
        ] {
            if v == 0 {
                return Err(Error::invalid(name, "must be at least 1"));
            }
        }
        if self.max_text_bytes > self.max_message_bytes {
            return Err(Error::invalid(
                "max_text_bytes",
                format!(
                    "{} is larger than max_message_bytes ({}), so no request could carry such a text",
                    self.max_text_bytes, self.max_message_bytes
                ),
            ));
        }
        if self.workers > 1024 {
            return Err(Error::invalid(
                "workers",
                format!("{} is not in 1..=1024", self.workers),
            ));
        }
        Ok(())
    }
}

/// The service. Cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub struct NearDupService {
    inner: Arc<Inner>,
}

struct Inner {
    service: Backend,
    defaults: QueryOptions,
    limits: Limits,
    workers: Arc<Semaphore>,
    pending: AtomicUsize,
    /// Jobs waiting for a worker (for metrics).
    waiting: AtomicUsize,
}

/// What a call logs.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    paragraphs: usize,
    matches: usize,
}

impl Counts {
    fn of(report: &Report) -> Counts {
        Counts {
            paragraphs: report.summary.paragraphs,
            matches: report.paragraphs.iter().map(|p| p.matches.len()).sum(),
        }
    }
}

impl std::fmt::Debug for NearDupService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearDupService")
            .field("settings", self.inner.service.settings())
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl NearDupService {
    /// Opens the service over `store`, restoring every namespace's engine from
    /// [`Store::load`]. Blocking (CPU and store I/O): call it off the async runtime.
    pub fn open(
        settings: Settings,
        limits: Limits,
        store: Arc<dyn Store>,
    ) -> Result<NearDupService, ServiceError> {
        limits.validate()?;
        let service = Service::open_with(settings, store, limits.namespaces.clone())?;
        NearDupService::with_backend(Backend::Embedded(service), limits)
    }

    /// The service over a backend already open (the embedded one, or a cluster replica).
    pub fn with_backend(service: Backend, limits: Limits) -> Result<NearDupService, ServiceError> {
        limits.validate()?;
        Ok(NearDupService {
            inner: Arc::new(Inner {
                defaults: service.settings().query_options(),
                workers: Arc::new(Semaphore::new(limits.workers)),
                service,
                limits,
                pending: AtomicUsize::new(0),
                waiting: AtomicUsize::new(0),
            }),
        })
    }

    /// The service layer underneath.
    pub fn service(&self) -> &Backend {
        &self.inner.service
    }

    /// The engine settings every namespace uses.
    pub fn settings(&self) -> &Settings {
        self.inner.service.settings()
    }

    /// Documents in every namespace.
    pub fn documents(&self) -> usize {
        self.inner.service.documents()
    }

    /// Engine jobs waiting for a worker and holding one, now.
    pub fn load(&self) -> Load {
        Load {
            waiting: self.inner.waiting.load(Ordering::Relaxed),
            running: self.inner.limits.workers - self.inner.workers.available_permits(),
        }
    }

    /// Figures of every namespace, by name.
    pub fn namespace_stats(&self) -> Vec<(String, EngineStats)> {
        self.inner.service.live_stats()
    }

    /// Runs `job` on the blocking pool once a worker is free (in arrival order), or fails
    /// with [`ServiceError::Overloaded`] when too many jobs are waiting already. The job
    /// holds the worker until it returns or releases it (before waiting on the store).
    async fn blocking<T, F>(&self, job: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, Worker) -> Result<T, ServiceError> + Send + 'static,
    {
        struct Pending<'a>(&'a AtomicUsize);
        impl Drop for Pending<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let waiting = self.inner.pending.fetch_add(1, Ordering::Relaxed);
        let _pending = Pending(&self.inner.pending);
        if waiting >= self.inner.limits.max_pending {
            return Err(ServiceError::Overloaded(waiting));
        }
        self.inner.waiting.fetch_add(1, Ordering::Relaxed);
        let waiting = Pending(&self.inner.waiting);
        let permit = self
            .inner
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ServiceError::Internal("worker pool closed".into()))?;
        drop(waiting);
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || job(&inner, Worker(permit)))
            .await
            .map_err(|e| ServiceError::Internal(format!("worker failed: {e}")))?
    }
}

/// Engine jobs at one moment (see [`NearDupService::load`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Jobs waiting for a worker.
    pub waiting: usize,
    /// Jobs holding a worker.
    pub running: usize,
}

/// A job's claim on one of the `workers` CPU slots; dropping it frees the slot.
struct Worker(#[allow(dead_code)] OwnedSemaphorePermit);

impl Worker {
    /// Frees the CPU slot before the job waits on I/O.
    fn release(self) {}
}

/// The namespace a request names (empty: the default one).
fn namespace(ns: &str) -> Result<String, Error> {
    if ns.is_empty() {
        return Ok(DEFAULT_NAMESPACE.to_string());
    }
    if ns.len() > 256 || ns.chars().any(char::is_control) {
        return Err(Error::invalid(
            "namespace",
            "must be at most 256 bytes without control characters",
        ));
    }
    Ok(ns.to_string())
}

fn document_id(id: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::invalid("document_id", "must not be empty"));
    }
    if id.len() > 1024 {
        return Err(Error::invalid("document_id", "must be at most 1024 bytes"));
    }
    Ok(())
}

impl Inner {
    fn check_text(&self, text: &str) -> Result<(), Error> {
        if text.trim().is_empty() {
            return Err(Error::invalid("text", "must not be empty"));
        }
        if text.len() > self.limits.max_text_bytes {
            return Err(Error::TooLarge(format!(
                "text is {} bytes, more than the limit of {} bytes",
                text.len(),
                self.limits.max_text_bytes
            )));
        }
        Ok(())
    }

    fn check_paragraphs(&self, paragraphs: usize) -> Result<(), Error> {
        if paragraphs > self.limits.max_paragraphs {
            return Err(Error::TooLarge(format!(
                "text has {paragraphs} paragraphs, more than the limit of {}",
                self.limits.max_paragraphs
            )));
        }
        Ok(())
    }

    /// Validates and analyzes a submission (pure CPU; touches no index).
    fn prepare(&self, req: pb::SubmitRequest) -> Result<Prepared, ServiceError> {
        let namespace = namespace(&req.namespace)?;
        document_id(&req.document_id)?;
        self.check_text(&req.text)?;
        let editorial = editorial_options(req.options.as_ref(), EditorialOptions::default())?;
        let opts = query_options(req.options, self.defaults)?;
        let doc = self.service.analyzer().document(req.text, Split::Auto);
        self.check_paragraphs(doc.paragraphs.len())?;
        Ok(Prepared {
            submission: Submission {
                namespace,
                id: req.document_id,
                doc,
                split: Split::Auto,
                metadata: req.metadata.into_iter().collect(),
                opts,
                replace: req.replace,
            },
            editorial,
        })
    }

    /// The repaired paragraphs of `doc`, judged against the namespace as it is (before
    /// `doc` is indexed, if it is submitted): see [`crate::editorial::repairs`].
    fn repairs(
        &self,
        namespace: &str,
        name: &str,
        doc: &AnalyzedDocument,
        opts: &QueryOptions,
    ) -> Result<Vec<Repaired>, ServiceError> {
        let analyzer = self.service.analyzer();
        if self.service.require_namespace(namespace).is_err() {
            // A Submit that creates its namespace: nothing is indexed, so an empty
            // engine judges the joined paragraphs against the document alone.
            let empty = Engine::new(self.service.settings().clone())?;
            return Ok(repairs(analyzer, doc, name, |d| {
                empty.check(d, name, opts, &NoTexts)
            })?);
        }
        repairs(analyzer, doc, name, |d| {
            self.service.check(namespace, name, d, opts)
        })
    }

    /// The passage mode: `text` (named `name`) aligned with the stored documents that
    /// `report` matches.
    fn alignments(
        &self,
        namespace: &str,
        name: &str,
        text: &str,
        report: &Report,
    ) -> Result<Vec<Aligned>, ServiceError> {
        let mut sources: Vec<(String, Arc<str>)> = Vec::new();
        for source in matched_sources(report, name) {
            match self.service.get(namespace, &source) {
                Ok(stored) => sources.push((source, stored.text.into())),
                // Deleted meanwhile: nothing to align with.
                Err(ServiceError::Engine(Error::NotFound(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(alignments_among(
            text,
            &sources,
            STOPWORDS,
            self.service.settings().fold,
        ))
    }

    /// Applies a prepared submission through the service's write transaction.
    fn apply(
        &self,
        p: Prepared,
        worker: Worker,
    ) -> Result<(pb::SubmitResponse, Counts), ServiceError> {
        let s = p.submission;
        let (namespace, id) = (s.namespace.clone(), s.id.clone());
        if !self.limits.namespaces.auto_create {
            // The embedded service checks this too; a cluster replica relies on it here.
            self.service.require_namespace(&namespace)?;
        }
        let repaired = match p.editorial.repair {
            Repair::Auto => self.repairs(&namespace, &id, &s.doc, &s.opts)?,
            Repair::Off => Vec::new(),
        };
        let text = s.doc.text.clone();
        let submitted = self.service.submit(s, || worker.release())?;
        let aligned = match p.editorial.passages {
            true => self.alignments(&namespace, &id, &text, &submitted.report)?,
            false => Vec::new(),
        };
        let outcome = match (submitted.created, submitted.replaced) {
            (false, _) => pb::SubmitOutcome::Unchanged,
            (true, true) => pb::SubmitOutcome::Replaced,
            (true, false) => pb::SubmitOutcome::Created,
        };
        let counts = Counts::of(&submitted.report);
        Ok((
            pb::SubmitResponse {
                namespace,
                document_id: id,
                outcome: outcome as i32,
                report: Some(editorial_to_pb(
                    report_to_pb(submitted.report, Some(submitted.id)),
                    repaired,
                    aligned,
                    Some(submitted.id),
                )),
            },
            counts,
        ))
    }

    fn check(&self, req: pb::CheckRequest) -> Result<(pb::CheckResponse, Counts), ServiceError> {
        let namespace = namespace(&req.namespace)?;
        self.check_text(&req.text)?;
        let editorial = editorial_options(req.options.as_ref(), EditorialOptions::default())?;
        let opts = query_options(req.options, self.defaults)?;
        // Refuse an unknown namespace before analyzing anything.
        self.service.require_namespace(&namespace)?;
        let doc = self.service.analyzer().document(req.text, Split::Auto);
        self.check_paragraphs(doc.paragraphs.len())?;
        let name = &req.document_id;
        let report = self.service.check(&namespace, name, &doc, &opts)?;
        let repaired = match editorial.repair {
            Repair::Auto => self.repairs(&namespace, name, &doc, &opts)?,
            Repair::Off => Vec::new(),
        };
        let aligned = match editorial.passages {
            true => self.alignments(&namespace, name, &doc.text, &report)?,
            false => Vec::new(),
        };
        let counts = Counts::of(&report);
        Ok((
            pb::CheckResponse {
                namespace,
                report: Some(editorial_to_pb(
                    report_to_pb(report, None),
                    repaired,
                    aligned,
                    None,
                )),
            },
            counts,
        ))
    }

    fn stats(&self, ns: &str) -> Result<pb::StatsResponse, ServiceError> {
        let ns = if ns.is_empty() {
            None
        } else {
            Some(namespace(ns)?)
        };
        let namespaces = self
            .service
            .stats(ns.as_deref())?
            .into_iter()
            .map(|(name, s)| pb::NamespaceStats {
                namespace: name,
                documents: s.documents as u64,
                paragraphs: s.paragraphs as u64,
                index_bytes: s.index_bytes as u64,
            })
            .collect();
        Ok(pb::StatsResponse {
            namespaces,
            settings: Some(pb::EngineSettings::from(self.service.settings())),
            limits: Some(pb::Limits::from(&self.limits)),
            cluster_used_memory_bytes: self.service.cluster_memory()?.unwrap_or(0),
        })
    }

    fn list_namespaces(&self, access: &Access) -> Result<pb::ListNamespacesResponse, ServiceError> {
        let namespaces = self
            .service
            .namespaces()?
            .into_iter()
            .filter(|ns| access.may(Permission::Admin, ns))
            .filter_map(|ns| {
                let usage = self.service.usage(&ns).ok()?;
                Some(pb::NamespaceInfo {
                    namespace: ns,
                    documents: usage.documents as u64,
                    accounted_bytes: usage.bytes as u64,
                })
            })
            .collect();
        Ok(pb::ListNamespacesResponse { namespaces })
    }
}

impl From<&Limits> for pb::Limits {
    fn from(l: &Limits) -> pb::Limits {
        let limit = |v: usize| (v != usize::MAX).then_some(v as u64);
        let n = &l.namespaces;
        pb::Limits {
            max_message_bytes: l.max_message_bytes as u64,
            max_text_bytes: l.max_text_bytes as u64,
            max_paragraphs: l.max_paragraphs as u64,
            max_namespaces: limit(n.max_namespaces),
            max_namespace_documents: limit(n.max_documents),
            max_namespace_bytes: limit(n.max_namespace_bytes),
            max_index_bytes: limit(n.max_index_bytes),
            auto_create_namespaces: n.auto_create,
        }
    }
}

/// Records a call's counts in its span (the telemetry layer logs the outcome).
fn record_result<T>(result: &Result<T, ServiceError>, counts: impl FnOnce(&T) -> Counts) {
    if let Ok(value) = result {
        let c = counts(value);
        record_counts(c.paragraphs, c.matches);
    }
}

/// Responses of `SubmitStream`.
pub type SubmitStreamResponses =
    Pin<Box<dyn Stream<Item = Result<pb::SubmitStreamResponse, Status>> + Send + 'static>>;

/// One read-ahead item of a stream: its position, id and analysis in progress.
type Ahead = (
    u64,
    String,
    tokio::task::JoinHandle<Result<Prepared, ServiceError>>,
);

/// A validated, analyzed submission and what it asks for besides its report.
struct Prepared {
    submission: Submission,
    editorial: EditorialOptions,
}

/// Function words for the passage mode: the tokens most frequent in the aligned texts.
const STOPWORDS: usize = 50;

/// `report` with the repaired paragraphs and the alignments added.
fn editorial_to_pb(
    mut report: pb::Report,
    repaired: Vec<Repaired>,
    aligned: Vec<Aligned>,
    this: Option<DocId>,
) -> pb::Report {
    report.repaired = repaired
        .into_iter()
        .map(|r| repaired_to_pb(r, this))
        .collect();
    report.alignments = aligned.into_iter().map(pb::Alignment::from).collect();
    report
}

#[tonic::async_trait]
impl NearDup for NearDupService {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        record(&request.get_ref().namespace, &request.get_ref().document_id);
        authorize(&request, Permission::Write, &request.get_ref().namespace)?;
        let req = request.into_inner();
        let result = self
            .blocking(move |inner, worker| inner.apply(inner.prepare(req)?, worker))
            .await;
        record_result(&result, |(_, c)| *c);
        Ok(Response::new(result?.0))
    }

    async fn check(
        &self,
        request: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        record(&request.get_ref().namespace, &request.get_ref().document_id);
        authorize(&request, Permission::Read, &request.get_ref().namespace)?;
        let req = request.into_inner();
        let result = self.blocking(move |inner, _| inner.check(req)).await;
        record_result(&result, |(_, c)| *c);
        Ok(Response::new(result?.0))
    }

    type SubmitStreamStream = SubmitStreamResponses;

    async fn submit_stream(
        &self,
        request: Request<Streaming<pb::SubmitRequest>>,
    ) -> Result<Response<Self::SubmitStreamStream>, Status> {
        let access = super::auth::access(&request);
        let bytes = super::budget::call_bytes(&request);
        let mut inbound = request.into_inner();
        let window = self.inner.limits.stream_window;
        let (ahead_tx, mut ahead_rx) = mpsc::channel::<Result<Ahead, Status>>(window);
        let (out_tx, out_rx) = mpsc::channel(window);
        // Reader: analyzes up to `window` requests ahead, in parallel. When the channel
        // is full it stops reading, and HTTP/2 flow control holds the producer back.
        let reader = self.clone();
        tokio::spawn(
            async move {
                let mut sequence = 0u64;
                loop {
                    let item = match inbound.message().await {
                        Ok(Some(req)) => {
                            let id = req.document_id.clone();
                            let service = reader.clone();
                            let allowed = access.authorize(Permission::Write, &req.namespace);
                            let job = tokio::spawn(async move {
                                allowed?;
                                service.blocking(move |inner, _| inner.prepare(req)).await
                            });
                            Ok((sequence, id, job))
                        }
                        Ok(None) => break,
                        Err(status) => Err(status),
                    };
                    let failed = item.is_err();
                    if ahead_tx.send(item).await.is_err() || failed {
                        break;
                    }
                    sequence += 1;
                }
            }
            .in_current_span(),
        );
        // Applier: applies the analyzed requests one at a time, in stream order, so each
        // is reported against every earlier one.
        let applier = self.clone();
        tokio::spawn(
            async move {
                while let Some(item) = ahead_rx.recv().await {
                    let (sequence, document_id, job) = match item {
                        Ok(ahead) => ahead,
                        Err(status) => {
                            let _ = out_tx.send(Err(status)).await;
                            break;
                        }
                    };
                    let prepared = job.await.unwrap_or_else(|e| {
                        Err(ServiceError::Internal(format!("worker failed: {e}")))
                    });
                    let result = match prepared {
                        Ok(p) => {
                            applier
                                .blocking(move |inner, worker| inner.apply(p, worker))
                                .await
                        }
                        Err(e) => Err(e),
                    };
                    // This request is done with: its bytes go back to the budget.
                    if let Some(bytes) = &bytes {
                        bytes.release_oldest();
                    }
                    tracing::debug!(sequence, document_id, ok = result.is_ok(), "stream item");
                    let result = Some(match result {
                        Ok((submitted, _)) => {
                            pb::submit_stream_response::Result::Submitted(submitted)
                        }
                        Err(err) => pb::submit_stream_response::Result::Error(pb::ItemError {
                            code: err.code() as i32,
                            message: err.to_string(),
                        }),
                    });
                    let response = pb::SubmitStreamResponse {
                        sequence,
                        document_id,
                        result,
                    };
                    if out_tx.send(Ok(response)).await.is_err() {
                        break;
                    }
                }
            }
            .in_current_span(),
        );
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }

    async fn get_document(
        &self,
        request: Request<pb::GetDocumentRequest>,
    ) -> Result<Response<pb::GetDocumentResponse>, Status> {
        record(&request.get_ref().namespace, &request.get_ref().document_id);
        authorize(&request, Permission::Read, &request.get_ref().namespace)?;
        let req = request.into_inner();
        // The text is read from the store: off the runtime, like any other blocking work.
        let result = self
            .blocking(move |inner, _| {
                let ns = namespace(&req.namespace)?;
                document_id(&req.document_id)?;
                inner.service.get(&ns, &req.document_id)
            })
            .await;
        record_result(&result, |d| Counts {
            paragraphs: d.paragraphs.len(),
            matches: 0,
        });
        Ok(Response::new(pb::GetDocumentResponse {
            document: Some(result?.into()),
        }))
    }

    async fn delete_document(
        &self,
        request: Request<pb::DeleteDocumentRequest>,
    ) -> Result<Response<pb::DeleteDocumentResponse>, Status> {
        record(&request.get_ref().namespace, &request.get_ref().document_id);
        authorize(&request, Permission::Write, &request.get_ref().namespace)?;
        let req = request.into_inner();
        let result = self
            .blocking(move |inner, worker| {
                let ns = namespace(&req.namespace)?;
                document_id(&req.document_id)?;
                drop(worker);
                inner.service.delete(&ns, &req.document_id)
            })
            .await;
        record_result(&result, |&n| Counts {
            paragraphs: n,
            matches: 0,
        });
        Ok(Response::new(pb::DeleteDocumentResponse {
            paragraphs: result? as u32,
        }))
    }

    async fn stats(
        &self,
        request: Request<pb::StatsRequest>,
    ) -> Result<Response<pb::StatsResponse>, Status> {
        let all = request.get_ref().namespace.is_empty();
        let access = if all {
            super::auth::access(&request)
        } else {
            record(&request.get_ref().namespace, "");
            authorize(&request, Permission::Read, &request.get_ref().namespace)?
        };
        let req = request.into_inner();
        let mut response = self
            .blocking(move |inner, _| inner.stats(&req.namespace))
            .await?;
        // Without a namespace: only those this caller may read.
        response
            .namespaces
            .retain(|n| access.may(Permission::Read, &n.namespace));
        Ok(Response::new(response))
    }

    async fn create_namespace(
        &self,
        request: Request<pb::CreateNamespaceRequest>,
    ) -> Result<Response<pb::CreateNamespaceResponse>, Status> {
        let ns = request.get_ref().namespace.clone();
        record(&ns, "");
        if ns.is_empty() {
            return Err(
                ServiceError::from(Error::invalid("namespace", "must not be empty")).into(),
            );
        }
        authorize(&request, Permission::Admin, &ns)?;
        let created = self
            .blocking(move |inner, worker| {
                drop(worker);
                match inner.service.create_namespace(&ns)? {
                    true => Ok(ns),
                    false => Err(ServiceError::NamespaceExists(ns)),
                }
            })
            .await?;
        Ok(Response::new(pb::CreateNamespaceResponse {
            namespace: created,
        }))
    }

    async fn delete_namespace(
        &self,
        request: Request<pb::DeleteNamespaceRequest>,
    ) -> Result<Response<pb::DeleteNamespaceResponse>, Status> {
        let ns = request.get_ref().namespace.clone();
        record(&ns, "");
        if ns.is_empty() {
            return Err(ServiceError::from(Error::invalid(
                "namespace",
                "must not be empty (name the namespace to delete, even \"default\")",
            ))
            .into());
        }
        authorize(&request, Permission::Admin, &ns)?;
        let documents = self
            .blocking(move |inner, worker| {
                drop(worker);
                inner.service.delete_namespace(&namespace(&ns)?)
            })
            .await?;
        Ok(Response::new(pb::DeleteNamespaceResponse {
            documents: documents as u64,
        }))
    }

    async fn list_namespaces(
        &self,
        request: Request<pb::ListNamespacesRequest>,
    ) -> Result<Response<pb::ListNamespacesResponse>, Status> {
        let access = super::auth::access(&request);
        if !access.is_admin_anywhere() {
            return Err(ServiceError::PermissionDenied {
                token: access.token_name().to_string(),
                permission: Permission::Admin.name(),
                namespace: "*".into(),
            }
            .into());
        }
        let response = self
            .blocking(move |inner, _| inner.list_namespaces(&access))
            .await?;
        Ok(Response::new(response))
    }
}
