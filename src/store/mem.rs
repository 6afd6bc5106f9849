//! An in-memory [`Store`]: nothing survives the process. For tests and ephemeral runs.

use std::sync::Mutex;

use super::{Store, StoreError, StoredRecord};

/// Keeps records in insertion order in memory.
#[derive(Debug, Default)]
pub struct MemStore {
    records: Mutex<Vec<StoredRecord>>,
}

impl Store for MemStore {
    fn put(&self, record: &StoredRecord) -> Result<(), StoreError> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        match records
            .iter_mut()
            .find(|r| r.namespace == record.namespace && r.name == record.name)
        {
            Some(r) => *r = record.clone(),
            None => records.push(record.clone()),
        }
        Ok(())
    }

    fn delete(&self, namespace: &str, name: &str) -> Result<(), StoreError> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.retain(|r| !(r.namespace == namespace && r.name == name));
        Ok(())
    }

    fn load(&self) -> Result<Vec<StoredRecord>, StoreError> {
        Ok(self
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone())
    }
}
