//! The service layer: namespaces of engines over one store, and the write transaction.
//!
//! Everything a front end needs that is neither transport nor algorithm lives here, so
//! the gRPC handlers, the `scan` command, the Python binding and the tests all go through
//! the same code, with or without a server:
//! - the namespace registry: one [`Engine`] per namespace, created explicitly
//!   ([`Service::create_namespace`]) or, when [`NamespaceLimits::auto_create`] allows it,
//!   by its first Submit; deleted with every document in it ([`Service::delete_namespace`]),
//!   each as one durable change of the store. Names of new namespaces are validated
//!   ([`validate_namespace`]);
//! - the limits that keep one caller from exhausting the server ([`NamespaceLimits`]):
//!   how many namespaces, how many documents and index bytes per namespace, and index
//!   bytes in all. Index bytes are accounted per document from its analysis
//!   ([`footprint`]): the band keys, shingle sets and sketches it adds to memory. A
//!   write checks the limits and reserves what it adds in one step, under one lock, and
//!   gives the reservation back if it fails; so concurrent writes never pass a limit
//!   (a replacement holds its new bytes beside the old ones until it is done);
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

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use crate::analysis::{AnalyzedDocument, Analyzer, ParagraphRecord};
use crate::engine::{
    Document, Engine, EngineStats, QueryOptions, Report, Settings, Submitted, Texts,
};
use crate::error::Error;
use crate::index::Bulk;
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
    /// The namespace does not exist (or the caller may not see it: the message is the
    /// same, so it tells nothing of namespaces the caller may not see).
    #[error("namespace {0:?} not found; CreateNamespace (an admin call) creates it")]
    NamespaceNotFound(String),
    /// CreateNamespace of a namespace that exists.
    #[error("namespace {0:?} already exists")]
    NamespaceExists(String),
    /// A limit of [`NamespaceLimits`] would be passed.
    #[error("{detail}: the limit is {limit} (`--{flag}`)")]
    LimitExceeded {
        /// The flag that sets the limit.
        flag: &'static str,
        /// The limit.
        limit: usize,
        /// What the refused call would have done.
        detail: String,
    },
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
    Store(StoreError),
    /// A stored record cannot be read back ([`StoreError::DataLoss`]): a retry will not
    /// help.
    #[error("{0}")]
    DataLoss(StoreError),
    /// A bug or a lost worker thread.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> ServiceError {
        match err {
            StoreError::DataLoss(_) => ServiceError::DataLoss(err),
            err => ServiceError::Store(err),
        }
    }
}

/// The longest name of a new namespace, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 64;

/// Checks the name of a new namespace: 1 to [`MAX_NAMESPACE_LEN`] ASCII letters, digits,
/// `-`, `_` and `.`, starting with a letter or digit. (Names are checked when a namespace
/// is created; an existing namespace of an older, looser rule stays usable.)
pub fn validate_namespace(name: &str) -> Result<(), Error> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty()
        || name.len() > MAX_NAMESPACE_LEN
        || !name.chars().all(ok_char)
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(Error::invalid(
            "namespace",
            format!(
                "{name:?} is not a valid namespace name: 1 to {MAX_NAMESPACE_LEN} ASCII letters, \
                 digits, `-`, `_` or `.`, starting with a letter or digit"
            ),
        ));
    }
    Ok(())
}

/// What a service holds at most, so that no caller can exhaust the server. `usize::MAX`
/// means no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceLimits {
    /// Namespaces (`--max-namespaces`).
    pub max_namespaces: usize,
    /// Documents in one namespace (`--max-namespace-documents`).
    pub max_documents: usize,
    /// Index bytes of one namespace (`--max-namespace-bytes`), as [`footprint`] counts them.
    pub max_namespace_bytes: usize,
    /// Index bytes of every namespace together (`--max-index-bytes`).
    pub max_index_bytes: usize,
    /// Whether a Submit to a namespace that does not exist creates it (otherwise it fails
    /// with NOT_FOUND, and namespaces are made with CreateNamespace). `neardup serve`
    /// defaults it with [`crate::server::auto_create_by_default`].
    pub auto_create: bool,
}

impl Default for NamespaceLimits {
    /// No limits; namespaces are created by their first Submit.
    fn default() -> NamespaceLimits {
        NamespaceLimits {
            max_namespaces: usize::MAX,
            max_documents: usize::MAX,
            max_namespace_bytes: usize::MAX,
            max_index_bytes: usize::MAX,
            auto_create: true,
        }
    }
}

/// The index memory a document's paragraph records account for: per record its band
/// keys and exact key (a posting each), its shingle set, its sketch and its fixed fields.
pub fn footprint(records: &[ParagraphRecord]) -> usize {
    records
        .iter()
        .map(|r| paragraph_footprint(r.band_keys.len(), r.set.len()))
        .sum()
}

/// [`footprint`] of the records an analyzed document will have.
pub fn document_footprint(doc: &AnalyzedDocument) -> usize {
    doc.paragraphs
        .iter()
        .filter(|p| !p.too_short)
        .map(|p| paragraph_footprint(p.band_keys.len(), p.text.set.len()))
        .sum()
}

fn paragraph_footprint(band_keys: usize, set: usize) -> usize {
    // A posting: a key and a slot in a map, with the map's control byte.
    const POSTING: usize = std::mem::size_of::<(u64, u32)>() + 1;
    std::mem::size_of::<ParagraphRecord>() + (band_keys + 1) * POSTING + set * 4
}

/// One namespace: its engine and what it accounts for.
struct Namespace {
    engine: Arc<Engine>,
    /// Held shared by every write and exclusively by the namespace's deletion, which sets
    /// it: a write never lands in a namespace being deleted.
    deleted: RwLock<bool>,
    documents: AtomicUsize,
    bytes: AtomicUsize,
}

impl Namespace {
    fn new(engine: Engine) -> Arc<Namespace> {
        Arc::new(Namespace {
            engine: Arc::new(engine),
            deleted: RwLock::new(false),
            documents: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
        })
    }
}

/// What a namespace holds, as the service accounts it (see [`NamespaceLimits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceUsage {
    /// Documents.
    pub documents: usize,
    /// Index bytes ([`footprint`]).
    pub bytes: usize,
}

/// Documents and index bytes a write holds against the limits, from its check
/// ([`Service::reserve`]) to its end: given back when dropped (the write failed, or
/// added nothing), unless settled.
struct Reservation<'a> {
    service: &'a Service,
    n: &'a Namespace,
    documents: usize,
    bytes: usize,
}

impl Reservation<'_> {
    /// The write is done: it added `documents` (at most the reserved ones) and the
    /// reserved bytes, and took `removed` bytes away (those of a document it replaced).
    fn settle(mut self, documents: usize, removed: usize) {
        let unused = self.documents.saturating_sub(documents);
        self.service.account(self.n, -(unused as isize), 0, removed);
        self.documents = 0;
        self.bytes = 0;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.documents > 0 || self.bytes > 0 {
            self.service
                .account(self.n, -(self.documents as isize), 0, self.bytes);
        }
    }
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
    namespaces: RwLock<HashMap<String, Arc<Namespace>>>,
    store: Arc<dyn Store>,
    limits: NamespaceLimits,
    /// Index bytes of every namespace ([`footprint`]).
    bytes: AtomicUsize,
    /// Held while a write checks the limits and reserves what it adds
    /// ([`Service::reserve`]), so that no two writes pass a check on the same room.
    reserving: Mutex<()>,
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
    /// Opens the service over `store` without limits, restoring every namespace's engine
    /// from [`Store::load`]. Blocking (CPU and store I/O).
    pub fn open(settings: Settings, store: Arc<dyn Store>) -> Result<Service, ServiceError> {
        Service::open_with(settings, store, NamespaceLimits::default())
    }

    /// [`Service::open`] with these limits. A store that holds more than they allow
    /// still opens, whole; only new writes are refused.
    pub fn open_with(
        settings: Settings,
        store: Arc<dyn Store>,
        limits: NamespaceLimits,
    ) -> Result<Service, ServiceError> {
        settings.validate()?;
        let service = Service {
            analyzer: Analyzer::new(settings.shape())?,
            settings,
            namespaces: RwLock::new(HashMap::new()),
            store,
            limits,
            bytes: AtomicUsize::new(0),
            reserving: Mutex::new(()),
            write_locks: (0..WRITE_LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        };
        service.restore()?;
        Ok(service)
    }

    /// The engine settings every namespace uses.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The limits in force.
    pub fn limits(&self) -> &NamespaceLimits {
        &self.limits
    }

    /// The analyzer submissions are analyzed with (before any namespace is touched).
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// The store everything is written through.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn registry(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Namespace>>> {
        self.namespaces.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Documents in every namespace.
    pub fn documents(&self) -> usize {
        self.registry()
            .values()
            .map(|n| n.documents.load(Ordering::Relaxed))
            .sum()
    }

    /// Index bytes of every namespace ([`footprint`]).
    pub fn index_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The write lock of one document id.
    fn write_lock(&self, namespace: &str, id: &str) -> MutexGuard<'_, ()> {
        let h = xxhash_rust::xxh3::xxh3_64(namespace.as_bytes())
            ^ xxhash_rust::xxh3::xxh3_64(id.as_bytes()).rotate_left(17);
        self.write_locks[(h % WRITE_LOCK_STRIPES as u64) as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn namespace(&self, ns: &str) -> Result<Arc<Namespace>, ServiceError> {
        self.registry()
            .get(ns)
            .cloned()
            .ok_or_else(|| ServiceError::NamespaceNotFound(ns.to_string()))
    }

    /// The engine of a namespace that exists.
    pub fn engine(&self, ns: &str) -> Result<Arc<Engine>, ServiceError> {
        self.namespace(ns).map(|n| n.engine.clone())
    }

    /// What a namespace that exists holds.
    pub fn usage(&self, ns: &str) -> Result<NamespaceUsage, ServiceError> {
        let n = self.namespace(ns)?;
        Ok(NamespaceUsage {
            documents: n.documents.load(Ordering::Relaxed),
            bytes: n.bytes.load(Ordering::Relaxed),
        })
    }

    /// The namespace a write goes to: an existing one, or a new one if
    /// [`NamespaceLimits::auto_create`].
    fn namespace_for_write(&self, ns: &str) -> Result<Arc<Namespace>, ServiceError> {
        match self.namespace(ns) {
            Ok(n) => Ok(n),
            Err(err) if !self.limits.auto_create => Err(err),
            Err(_) => {
                self.create_namespace(ns)?;
                self.namespace(ns)
            }
        }
    }

    /// Creates a namespace, recording it in the store; `false` if it existed already.
    /// Fails with [`ServiceError::LimitExceeded`] past `max_namespaces`, and with an
    /// invalid argument for a bad name ([`validate_namespace`]).
    pub fn create_namespace(&self, ns: &str) -> Result<bool, ServiceError> {
        validate_namespace(ns)?;
        if self.registry().contains_key(ns) {
            return Ok(false);
        }
        // Creation is rare: holding the registry across the store's write keeps the
        // count and the store in step.
        let mut registry = self.namespaces.write().unwrap_or_else(|e| e.into_inner());
        if registry.contains_key(ns) {
            return Ok(false);
        }
        if registry.len() >= self.limits.max_namespaces {
            return Err(ServiceError::LimitExceeded {
                flag: "max-namespaces",
                limit: self.limits.max_namespaces,
                detail: format!(
                    "cannot create namespace {ns:?}: the server holds {} namespaces",
                    registry.len()
                ),
            });
        }
        let engine = Engine::new(self.settings.clone())?;
        self.store.create_namespace(ns)?;
        registry.insert(ns.to_string(), Namespace::new(engine));
        Ok(true)
    }

    /// Deletes a namespace and every document in it, as one change of the store; returns
    /// how many documents it held. Writes to it under way finish first; later ones find
    /// no namespace.
    pub fn delete_namespace(&self, ns: &str) -> Result<usize, ServiceError> {
        let n = self.namespace(ns)?;
        let mut deleted = n.deleted.write().unwrap_or_else(|e| e.into_inner());
        if *deleted {
            return Err(ServiceError::NamespaceNotFound(ns.to_string()));
        }
        let documents = self.store.delete_namespace(ns)?;
        *deleted = true;
        self.namespaces
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(ns);
        self.bytes
            .fetch_sub(n.bytes.load(Ordering::Relaxed), Ordering::Relaxed);
        Ok(documents)
    }

    /// Names of the namespaces, sorted.
    pub fn namespaces(&self) -> Vec<String> {
        let mut names: Vec<String> = self.registry().keys().cloned().collect();
        names.sort();
        names
    }

    /// Accounts for a document added to (`added`) or removed from a namespace. Every
    /// change of the counts goes through here; one that raises them outside of
    /// restore goes through [`Service::reserve`] first.
    fn account(&self, n: &Namespace, documents: isize, bytes_added: usize, bytes_removed: usize) {
        if documents >= 0 {
            n.documents.fetch_add(documents as usize, Ordering::Relaxed);
        } else {
            n.documents
                .fetch_sub(documents.unsigned_abs(), Ordering::Relaxed);
        }
        n.bytes.fetch_add(bytes_added, Ordering::Relaxed);
        n.bytes.fetch_sub(bytes_removed, Ordering::Relaxed);
        self.bytes.fetch_add(bytes_added, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes_removed, Ordering::Relaxed);
    }

    /// Checks that a write adding a document (`new`) of `bytes` to `n` stays within the
    /// limits and, in the same step, accounts for it; the [`Reservation`] gives it back
    /// unless the write settles it. Counts only fall outside of this lock (deletions,
    /// reservations given back), so a check here can never be outdated by another write.
    fn reserve<'a>(
        &'a self,
        ns: &str,
        n: &'a Namespace,
        new: bool,
        bytes: usize,
    ) -> Result<Reservation<'a>, ServiceError> {
        let l = &self.limits;
        let _reserving = self.reserving.lock().unwrap_or_else(|e| e.into_inner());
        let documents = n.documents.load(Ordering::Relaxed);
        if new && documents >= l.max_documents {
            return Err(ServiceError::LimitExceeded {
                flag: "max-namespace-documents",
                limit: l.max_documents,
                detail: format!("namespace {ns:?} holds {documents} documents"),
            });
        }
        let held = n.bytes.load(Ordering::Relaxed);
        if held.saturating_add(bytes) > l.max_namespace_bytes {
            return Err(ServiceError::LimitExceeded {
                flag: "max-namespace-bytes",
                limit: l.max_namespace_bytes,
                detail: format!(
                    "namespace {ns:?} holds {held} index bytes, and this document needs {bytes} more"
                ),
            });
        }
        let total = self.bytes.load(Ordering::Relaxed);
        if total.saturating_add(bytes) > l.max_index_bytes {
            return Err(ServiceError::LimitExceeded {
                flag: "max-index-bytes",
                limit: l.max_index_bytes,
                detail: format!(
                    "the server's index holds {total} bytes, and this document needs {bytes} more"
                ),
            });
        }
        let documents = usize::from(new);
        self.account(n, documents as isize, bytes, 0);
        Ok(Reservation {
            service: self,
            n,
            documents,
            bytes,
        })
    }

    fn restore(&self) -> Result<(), ServiceError> {
        let started = Instant::now();
        // Namespaces the store lists exist, documents or not.
        for ns in self.store.namespaces()? {
            self.restored_namespace(&ns)?;
        }
        // Documents come one chunk at a time (records of a chunk in memory, not of the
        // store), and each namespace's tables are built in one go at the end.
        let mut bulk: HashMap<String, (Arc<Namespace>, Bulk)> = HashMap::new();
        let (mut count, mut migrated) = (0usize, 0usize);
        let mut failed = None;
        let loaded = self.store.load_chunks(4096, &mut |chunk| {
            count += chunk.len();
            match self.restore_chunk(chunk, &mut bulk) {
                Ok(m) => {
                    migrated += m;
                    Ok(())
                }
                Err(e) => {
                    // Stops the load; the error itself is returned below.
                    failed = Some(e);
                    Err(StoreError::Corrupt("restore failed".into()))
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        loaded?;
        let loaded_ms = started.elapsed().as_millis() as u64;
        for (n, b) in bulk.into_values() {
            n.engine.finish_restore(b);
        }
        if count > 0 {
            tracing::info!(
                documents = count,
                analyzed_again = migrated,
                loaded_ms,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "restored from store"
            );
        }
        Ok(())
    }

    /// Restores one chunk of stored documents into `bulk`; returns how many had to be
    /// analyzed again.
    fn restore_chunk(
        &self,
        chunk: Vec<StoredDocument>,
        bulk: &mut HashMap<String, (Arc<Namespace>, Bulk)>,
    ) -> Result<usize, ServiceError> {
        // Documents stored without their analysis (an older format, or other settings)
        // are analyzed again, in parallel, and written back in full.
        let stale: Vec<StoredRecord> = chunk
            .par_iter()
            .filter(|d| d.records.is_none())
            .map(|d| self.reanalyze(d))
            .collect::<Result<_, ServiceError>>()?;
        for record in &stale {
            self.store.put(record)?;
        }
        let migrated = stale.len();
        let mut stale = stale.into_iter();
        for d in chunk {
            let d = match d.records {
                Some(_) => d,
                None => stale.next().map_or(d, |r| r.document),
            };
            let (n, b) = match bulk.entry(d.namespace.clone()) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(v) => {
                    v.insert((self.restored_namespace(&d.namespace)?, Bulk::default()))
                }
            };
            let records = d.records.as_deref().unwrap_or_default();
            let document = d.entry();
            n.engine
                .restore_into(b, document, records)
                .map(|_| self.account(n, 1, footprint(records), 0))
                .map_err(|e| {
                    ServiceError::Store(StoreError::Corrupt(format!(
                        "cannot restore {:?} in namespace {:?}: {e}",
                        d.name, d.namespace
                    )))
                })?;
        }
        Ok(migrated)
    }

    /// The namespace of a restored document (or of the store's list), created without
    /// writing to the store or checking limits: what the store holds is restored whole.
    fn restored_namespace(&self, ns: &str) -> Result<Arc<Namespace>, ServiceError> {
        if let Ok(n) = self.namespace(ns) {
            return Ok(n);
        }
        let mut registry = self.namespaces.write().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = registry.get(ns) {
            return Ok(n.clone());
        }
        let n = Namespace::new(Engine::new(self.settings.clone())?);
        registry.insert(ns.to_string(), n.clone());
        Ok(n)
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
        let n = self.namespace_for_write(&s.namespace)?;
        let deleted = n.deleted.read().unwrap_or_else(|e| e.into_inner());
        if *deleted {
            return Err(ServiceError::NamespaceNotFound(s.namespace));
        }
        let engine = &n.engine;
        let _write = self.write_lock(&s.namespace, &s.id);
        let bytes = document_footprint(&s.doc);
        let existing = engine.document(&s.id);
        let same_text = existing
            .as_ref()
            .is_some_and(|d| d.text_hash == xxhash_rust::xxh3::xxh3_64(s.doc.text.as_bytes()));
        // An unchanged resubmission adds nothing, and a conflict fails in the engine.
        let reservation = if existing.is_none() || (s.replace && !same_text) {
            Some(self.reserve(&s.namespace, &n, existing.is_none(), bytes)?)
        } else {
            None
        };
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
        // Only a new document or a replacement by another text is created, and both
        // reserved.
        debug_assert!(reservation.is_some() || !submitted.created);
        if submitted.created
            && let Some(reservation) = reservation
        {
            let removed = previous
                .filter(|_| submitted.replaced)
                .map_or(0, |(_, records)| footprint(&records));
            reservation.settle(usize::from(!submitted.replaced), removed);
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
        let n = self.namespace(namespace)?;
        let deleted = n.deleted.read().unwrap_or_else(|e| e.into_inner());
        if *deleted {
            return Err(ServiceError::NamespaceNotFound(namespace.to_string()));
        }
        let _write = self.write_lock(namespace, id);
        let Some(records) = n.engine.records(id) else {
            return Err(Error::NotFound(id.to_string()).into());
        };
        self.store.delete(namespace, id)?;
        let paragraphs = n.engine.remove(id)?.paragraphs;
        self.account(&n, -1, 0, footprint(&records));
        Ok(paragraphs)
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
            None => self
                .registry()
                .iter()
                .map(|(k, v)| (k.clone(), v.engine.clone()))
                .collect(),
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
