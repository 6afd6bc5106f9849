//! The service layer: namespaces of engines over one store, and the write transaction.
//!
//! Everything a front end needs that is neither transport nor algorithm lives here, so
//! the gRPC handlers, the `scan` command, the Python binding and the tests all go through
//! the same code, with or without a server:
//! - the namespace registry (one [`Engine`] per namespace, created by its first Submit);
//! - the write transaction: a submission is reported on and indexed by its engine, then
//!   recorded in the store, and only then acknowledged; if the store fails, the engine
//!   change is rolled back (a replaced document is put back from its records) and the
//!   call fails. A deletion goes to the store first;
//! - the serialization of writes to one document id (a striped lock held from the engine
//!   change to the store's answer), so the store sees them in the engine's order and an
//!   idempotent resubmission is acknowledged only once the original is durable;
//! - restore at start, from the analyses the store persisted (documents stored by format 1
//!   are analyzed again and rewritten in the current format).
//!
//! It is synchronous and blocking (store I/O): async callers run it off their runtime.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use crate::analysis::{AnalyzedDocument, Analyzer};
use crate::engine::{
    Document, Engine, EngineStats, QueryOptions, Report, Settings, Submitted, Texts,
};
use crate::error::Error;
use crate::store::{Store, StoreError, StoredDocument, StoredRecord};
use crate::text::{ParagraphSpan, Split, split_paragraphs_with};

/// The namespace an empty namespace name means.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Everything a service call can fail with (the edge's refusals included, so that one
/// mapping to status codes covers every call).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The engine refused the request.
    #[error(transparent)]
    Engine(#[from] Error),
    /// The namespace has no documents yet.
    #[error("namespace {0:?} not found (it is created by its first Submit)")]
    NamespaceNotFound(String),
    /// Too many calls are waiting for a worker.
    #[error("server overloaded: {0} calls already waiting for a worker, retry later")]
    Overloaded(usize),
    /// Too many request bytes are being received or processed.
    #[error(
        "server overloaded: {held} bytes of requests in flight, and this {wanted}-byte message \
         would pass the limit of {limit} bytes; retry later"
    )]
    InflightBytes {
        /// Bytes held by calls in flight.
        held: usize,
        /// Bytes the refused message needed.
        wanted: usize,
        /// The limit (`--max-inflight-bytes`).
        limit: usize,
    },
    /// No valid bearer token.
    #[error("{0}")]
    Unauthenticated(String),
    /// The token may see the namespace but lacks this permission there.
    #[error("token {token:?} has no {permission} permission on namespace {namespace:?}")]
    PermissionDenied {
        /// The token's name.
        token: String,
        /// The permission the call needs (`read`, `write` or `admin`).
        permission: &'static str,
        /// The namespace.
        namespace: String,
    },
    /// The server is still rebuilding its index from the store.
    #[error("server is starting: the index is being restored from the store, retry shortly")]
    Starting,
    /// The store could not record the change; nothing was changed.
    #[error("{0}; the change was not applied, retry later")]
    Store(#[from] StoreError),
    /// A bug or a lost worker thread.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A submission, validated and analyzed, ready to apply.
#[derive(Debug)]
pub struct Submission {
    /// The namespace it goes to.
    pub namespace: String,
    /// The caller's document id.
    pub id: String,
    /// The analyzed text.
    pub doc: AnalyzedDocument,
    /// How the text was split.
    pub split: Split,
    /// Caller metadata.
    pub metadata: BTreeMap<String, String>,
    /// Report options.
    pub opts: QueryOptions,
    /// Replace a different text under the same id.
    pub replace: bool,
}

/// A stored document and its text, as GetDocument returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredText {
    /// The catalog entry.
    pub document: Document,
    /// The text.
    pub text: String,
    /// Its paragraphs, as they were split.
    pub paragraphs: Vec<ParagraphSpan>,
}

/// The service: see the module docs. Cheap to share (`Arc` it).
pub struct Service {
    settings: Settings,
    analyzer: Analyzer,
    engines: RwLock<HashMap<String, Arc<Engine>>>,
    store: Arc<dyn Store>,
    /// Striped per-document write locks (see the module docs).
    write_locks: Box<[Mutex<()>]>,
}

/// Stripes of the per-document write locks.
const WRITE_LOCK_STRIPES: usize = 256;

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The texts of one namespace, read from the store.
struct StoreTexts<'a> {
    store: &'a dyn Store,
    namespace: &'a str,
}

impl Texts for StoreTexts<'_> {
    /// Reads the store right away (the embedded engine is synchronous).
    fn text(&self, name: &str) -> impl std::future::Future<Output = Option<Arc<str>>> + Send {
        let text = match self.store.text(self.namespace, name) {
            Ok(text) => text.map(Arc::from),
            Err(e) => {
                tracing::warn!(namespace = self.namespace, document_id = name, error = %e, "cannot read a stored text; its spans are left out");
                None
            }
        };
        std::future::ready(text)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Service {
    /// Opens the service over `store`, restoring every namespace's engine from
    /// [`Store::load`]. Blocking (CPU and store I/O).
    pub fn open(settings: Settings, store: Arc<dyn Store>) -> Result<Service, ServiceError> {
        settings.validate()?;
        let service = Service {
            analyzer: Analyzer::new(settings.shape())?,
            settings,
            engines: RwLock::new(HashMap::new()),
            store,
            write_locks: (0..WRITE_LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        };
        service.restore()?;
        Ok(service)
    }

    /// The engine settings every namespace uses.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The analyzer submissions are analyzed with (before any namespace is touched).
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// The store everything is written through.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Documents in every namespace.
    pub fn documents(&self) -> usize {
        self.engines
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|e| e.stats().documents)
            .sum()
    }

    /// The write lock of one document id.
    fn write_lock(&self, namespace: &str, id: &str) -> MutexGuard<'_, ()> {
        let h = xxhash_rust::xxh3::xxh3_64(namespace.as_bytes())
            ^ xxhash_rust::xxh3::xxh3_64(id.as_bytes()).rotate_left(17);
        self.write_locks[(h % WRITE_LOCK_STRIPES as u64) as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The engine of a namespace that exists.
    pub fn engine(&self, ns: &str) -> Result<Arc<Engine>, ServiceError> {
        self.engines
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(ns)
            .cloned()
            .ok_or_else(|| ServiceError::NamespaceNotFound(ns.to_string()))
    }

    fn engine_or_create(&self, ns: &str) -> Result<Arc<Engine>, ServiceError> {
        if let Ok(engine) = self.engine(ns) {
            return Ok(engine);
        }
        let mut engines = self.engines.write().unwrap_or_else(|e| e.into_inner());
        if let Some(engine) = engines.get(ns) {
            return Ok(engine.clone());
        }
        let engine = Arc::new(Engine::new(self.settings.clone())?);
        engines.insert(ns.to_string(), engine.clone());
        Ok(engine)
    }

    /// Creates a namespace if it does not exist yet (Submit does it implicitly).
    pub fn create_namespace(&self, ns: &str) -> Result<(), ServiceError> {
        self.engine_or_create(ns).map(|_| ())
    }

    /// Names of the namespaces, sorted.
    pub fn namespaces(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .engines
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    fn restore(&self) -> Result<(), ServiceError> {
        let started = Instant::now();
        let documents = self.store.load()?;
        let count = documents.len();
        let mut migrated = 0usize;
        for chunk in documents.chunks(4096) {
            // Documents stored without their analysis (an older format, or other
            // settings) are analyzed again, in parallel, and written back in full.
            let stale: Vec<StoredRecord> = chunk
                .par_iter()
                .filter(|d| d.records.is_none())
                .map(|d| self.reanalyze(d))
                .collect::<Result<_, ServiceError>>()?;
            migrated += stale.len();
            for record in &stale {
                self.store.put(record)?;
            }
            let mut stale = stale.into_iter();
            let ready: Vec<StoredDocument> = chunk
                .iter()
                .map(|d| match &d.records {
                    Some(_) => d.clone(),
                    None => stale
                        .next()
                        .map(|r| r.document)
                        .unwrap_or_else(|| d.clone()),
                })
                .collect();
            // The engine's maps are concurrent: indexing in parallel halves the restore on
            // two cores.
            ready.par_iter().try_for_each(|d| {
                let engine = self.engine_or_create(&d.namespace)?;
                let document = Document {
                    id: 0,
                    name: d.name.as_str().into(),
                    metadata: d.metadata.clone(),
                    stored_at_ms: d.stored_at_ms,
                    text_hash: d.text_hash,
                    split: d.split,
                    paragraphs: d.paragraphs as usize,
                };
                engine
                    .restore(document, d.records.as_deref().unwrap_or_default())
                    .map(|_| ())
                    .map_err(|e| {
                        ServiceError::Store(StoreError::Corrupt(format!(
                            "cannot restore {:?} in namespace {:?}: {e}",
                            d.name, d.namespace
                        )))
                    })
            })?;
        }
        if count > 0 {
            tracing::info!(
                documents = count,
                analyzed_again = migrated,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "restored from store"
            );
        }
        Ok(())
    }

    /// The record of a stored document analyzed again from its stored text.
    fn reanalyze(&self, d: &StoredDocument) -> Result<StoredRecord, ServiceError> {
        let text = self
            .store
            .text(&d.namespace, &d.name)?
            .ok_or_else(|| StoreError::Corrupt(format!("the text of {:?} is missing", d.name)))?;
        let doc = self.analyzer.document(text.as_str(), d.split);
        Ok(record(
            &d.namespace,
            &d.name,
            &doc,
            d.split,
            &d.metadata,
            d.stored_at_ms,
        ))
    }

    /// Reports on and indexes a submission, then records it in the store (see the module
    /// docs). Blocking. `indexed` is called once the CPU work is done, before the wait for
    /// the store (a caller that bounds concurrent CPU work frees its slot there).
    pub fn submit(&self, s: Submission, indexed: impl FnOnce()) -> Result<Submitted, ServiceError> {
        let engine = self.engine_or_create(&s.namespace)?;
        let _write = self.write_lock(&s.namespace, &s.id);
        let previous = if s.replace {
            engine
                .document(&s.id)
                .and_then(|d| Some((d.clone(), engine.records(&s.id)?)))
        } else {
            None
        };
        let stored_at_ms = now_ms();
        let texts = StoreTexts {
            store: &*self.store,
            namespace: &s.namespace,
        };
        let submitted = engine.submit(
            &s.id,
            &s.doc,
            s.metadata.clone(),
            stored_at_ms,
            &s.opts,
            s.replace,
            s.split,
            &texts,
        )?;
        let record = submitted.created.then(|| {
            record(
                &s.namespace,
                &s.id,
                &s.doc,
                s.split,
                &s.metadata,
                stored_at_ms,
            )
        });
        indexed();
        if let Some(record) = record
            && let Err(err) = self.store.put(&record)
        {
            let _ = engine.remove(&s.id);
            if let Some((doc, records)) = previous.filter(|_| submitted.replaced) {
                let _ = engine.restore(doc, &records);
            }
            tracing::warn!(namespace = %s.namespace, document_id = %s.id, error = %err, "store put failed; rolled back");
            return Err(err.into());
        }
        Ok(submitted)
    }

    /// Reports on a document against a namespace that exists, indexing nothing.
    pub fn check(
        &self,
        namespace: &str,
        name: &str,
        doc: &AnalyzedDocument,
        opts: &QueryOptions,
    ) -> Result<Report, ServiceError> {
        let engine = self.engine(namespace)?;
        let texts = StoreTexts {
            store: &*self.store,
            namespace,
        };
        Ok(engine.check(doc, name, opts, &texts)?)
    }

    /// Deletes a document (store first); returns how many paragraphs it had.
    pub fn delete(&self, namespace: &str, id: &str) -> Result<usize, ServiceError> {
        let engine = self.engine(namespace)?;
        let _write = self.write_lock(namespace, id);
        if engine.document(id).is_none() {
            return Err(Error::NotFound(id.to_string()).into());
        }
        self.store.delete(namespace, id)?;
        Ok(engine.remove(id)?.paragraphs)
    }

    /// A stored document with its text and paragraphs.
    pub fn get(&self, namespace: &str, id: &str) -> Result<StoredText, ServiceError> {
        let engine = self.engine(namespace)?;
        let document = engine
            .document(id)
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        let text = self
            .store
            .text(namespace, id)?
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        let paragraphs = split_paragraphs_with(&text, document.split);
        Ok(StoredText {
            document,
            text,
            paragraphs,
        })
    }

    /// Counts of one namespace, or of all of them (sorted by name).
    pub fn stats(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<(String, EngineStats)>, ServiceError> {
        let engines: Vec<(String, Arc<Engine>)> = match namespace {
            None => {
                let map = self.engines.read().unwrap_or_else(|e| e.into_inner());
                map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            }
            Some(ns) => vec![(ns.to_string(), self.engine(ns)?)],
        };
        let mut stats: Vec<(String, EngineStats)> =
            engines.into_iter().map(|(n, e)| (n, e.stats())).collect();
        stats.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(stats)
    }

    /// Makes every acknowledged change durable and compacts the store (at shutdown).
    pub fn close(&self) -> Result<(), ServiceError> {
        self.store.sync()?;
        self.store.compact()?;
        Ok(())
    }
}

/// What the store keeps of an analyzed document.
pub fn record(
    namespace: &str,
    name: &str,
    doc: &AnalyzedDocument,
    split: Split,
    metadata: &BTreeMap<String, String>,
    stored_at_ms: u64,
) -> StoredRecord {
    StoredRecord {
        document: StoredDocument {
            namespace: namespace.to_string(),
            name: name.to_string(),
            metadata: metadata.clone(),
            stored_at_ms,
            text_hash: xxhash_rust::xxh3::xxh3_64(doc.text.as_bytes()),
            split,
            paragraphs: doc.paragraphs.len() as u32,
            records: Some(doc.paragraphs.iter().filter_map(|p| p.record()).collect()),
        },
        text: doc.text.to_string(),
    }
}
