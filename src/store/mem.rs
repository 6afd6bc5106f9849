//! An in-memory [`Store`]: nothing survives the process. For tests (and for embedding the
//! service without a disk); `neardup serve` always uses the durable [`super::WalStore`].

use std::collections::{BTreeSet, HashMap};
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
    namespaces: BTreeSet<String>,
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
        if !records.namespaces.contains(&key.0) {
            records.namespaces.insert(key.0.clone());
        }
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

    fn create_namespace(&self, namespace: &str) -> Result<bool, StoreError> {
        Ok(self.records().namespaces.insert(namespace.to_string()))
    }

    fn delete_namespace(&self, namespace: &str) -> Result<usize, StoreError> {
        let mut records = self.records();
        records.namespaces.remove(namespace);
        let before = records.by_key.len();
        records.by_key.retain(|(ns, _), _| ns != namespace);
        Ok(before - records.by_key.len())
    }

    fn namespaces(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.records().namespaces.iter().cloned().collect())
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
