//! Durable storage of submitted documents, behind a small trait.
//!
//! The service writes every accepted submission and deletion through a [`Store`] before
//! it acknowledges the call, and rebuilds its engines from [`Store::load`] at start. The
//! engine never sees a store. [`MemStore`] keeps everything in memory, for tests and for
//! running without a data directory.

mod mem;

pub use mem::MemStore;

use std::collections::BTreeMap;

/// One stored document, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Namespace the document belongs to.
    pub namespace: String,
    /// The caller's document id.
    pub name: String,
    /// The full text.
    pub text: String,
    /// Caller metadata.
    pub metadata: BTreeMap<String, String>,
    /// When it was stored, in milliseconds since the Unix epoch.
    pub stored_at_ms: u64,
}

/// Errors of a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The underlying I/O failed.
    #[error("storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The data on disk cannot be used as it is.
    #[error("storage is unusable: {0}")]
    Corrupt(String),
}

/// Where documents are kept durably. Implementations are shared between threads; `put`
/// and `delete` return only once the change is durable (per the store's fsync policy).
pub trait Store: Send + Sync + 'static {
    /// Records a document (a later `put` with the same namespace and name replaces it).
    fn put(&self, record: &StoredRecord) -> Result<(), StoreError>;
    /// Records the deletion of a document.
    fn delete(&self, namespace: &str, name: &str) -> Result<(), StoreError>;
    /// Every live document, in the order it was first stored.
    fn load(&self) -> Result<Vec<StoredRecord>, StoreError>;
}
