//! An in-memory [`Store`]: nothing survives the process. For tests (and for embedding the
//! service without a disk); `neardup serve` always uses the durable [`super::WalStore`].

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Store, StoreError, StoredDocument, StoredRecord};

/// Keeps records in memory, keyed by (namespace, name), each with the sequence number of
/// its first `put` so `load` can return them in that order. `put` and `delete` are O(1).
#[derive(Debug, Default)]
pub struct MemStore {
    inner: Mutex<Records>,
}

#[derive(Debug, Default)]
struct Records {
    next: u64,
    by_key: HashMap<(String, String), (u64, StoredRecord)>,
}

impl MemStore {
    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for MemStore {
    fn put(&self, record: &StoredRecord) -> Result<(), StoreError> {
        let mut records = self.records();
        let next = records.next;
        let key = (
            record.document.namespace.clone(),
            record.document.name.clone(),
        );
        let seq = records.by_key.get(&key).map_or(next, |(seq, _)| *seq);
        records.by_key.insert(key, (seq, record.clone()));
        records.next += 1;
        Ok(())
    }

    fn delete(&self, namespace: &str, name: &str) -> Result<(), StoreError> {
        self.records()
            .by_key
            .remove(&(namespace.to_string(), name.to_string()));
        Ok(())
    }

    fn load(&self) -> Result<Vec<StoredDocument>, StoreError> {
        let records = self.records();
        let mut live: Vec<&(u64, StoredRecord)> = records.by_key.values().collect();
        live.sort_by_key(|(seq, _)| *seq);
        Ok(live.into_iter().map(|(_, r)| r.document.clone()).collect())
    }

    fn text(&self, namespace: &str, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .records()
            .by_key
            .get(&(namespace.to_string(), name.to_string()))
            .map(|(_, r)| r.text.clone()))
    }
}
