//! The conformance suite every [`Store`] must pass, run against each implementation
//! (the pattern of tantivy's `directory/tests.rs`). It checks only the trait's contract;
//! what is particular to one store (recovery, damage, compaction files) is tested beside
//! that store.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{MemStore, Store, StoredRecord, WalOptions, WalStore};
use crate::engine::Settings;

/// A record as the service would store it: the text analyzed with the default settings.
pub(crate) fn record(namespace: &str, name: &str, text: &str) -> StoredRecord {
    let analyzer = crate::analysis::Analyzer::new(Settings::default().shape()).unwrap();
    crate::service::record(
        namespace,
        name,
        &analyzer.document(text, crate::text::Split::Auto),
        crate::text::Split::Auto,
        &BTreeMap::from([("name".to_string(), name.to_string())]),
        1_700_000_000_000 + name.len() as u64,
    )
}

/// Every live record with its text, in load order, as [`Store::load`] and [`Store::text`]
/// give them.
pub(crate) fn loaded(store: &dyn Store) -> Vec<StoredRecord> {
    store
        .load()
        .unwrap()
        .into_iter()
        .map(|d| StoredRecord {
            text: store
                .text(&d.namespace, &d.name)
                .unwrap()
                .expect("a live text"),
            document: d,
        })
        .collect()
}

fn names(store: &dyn Store) -> Vec<(String, String)> {
    store
        .load()
        .unwrap()
        .into_iter()
        .map(|r| (r.namespace, r.name))
        .collect()
}

fn pair(ns: &str, name: &str) -> (String, String) {
    (ns.to_string(), name.to_string())
}

fn empty_store_loads_nothing(store: &dyn Store) {
    assert_eq!(loaded(store), Vec::<StoredRecord>::new());
}

fn load_returns_records_in_first_stored_order(store: &dyn Store) {
    let long = "一段很长的中文文本，用来检查压缩后的往返。".repeat(40);
    let records = [
        record("a", "z-last-name-first", "first text"),
        record("a", "b", &long),
        record("b", "a", ""),
    ];
    for r in &records {
        store.put(r).unwrap();
    }
    assert_eq!(loaded(store), records.to_vec());
}

fn replace_keeps_place_and_takes_new_content(store: &dyn Store) {
    store.put(&record("ns", "one", "v1")).unwrap();
    store.put(&record("ns", "two", "v1")).unwrap();
    let mut new = record("ns", "one", "v2 is longer than v1");
    new.document.metadata.insert("edited".into(), "yes".into());
    new.document.stored_at_ms = 42;
    store.put(&new).unwrap();
    let loaded = loaded(store);
    assert_eq!(loaded, vec![new, record("ns", "two", "v1")]);
}

fn delete_removes_and_tolerates_missing(store: &dyn Store) {
    store.put(&record("ns", "keep", "k")).unwrap();
    store.put(&record("ns", "drop", "d")).unwrap();
    store.delete("ns", "drop").unwrap();
    store.delete("ns", "never-stored").unwrap();
    store.delete("other", "keep").unwrap();
    assert_eq!(names(store), vec![pair("ns", "keep")]);
    // A deleted name stored again goes to the end.
    store.put(&record("ns", "drop", "again")).unwrap();
    store.put(&record("ns", "after", "a")).unwrap();
    assert_eq!(
        names(store),
        vec![pair("ns", "keep"), pair("ns", "drop"), pair("ns", "after")]
    );
    assert_eq!(loaded(store)[1].text, "again");
}

fn namespaces_are_separate(store: &dyn Store) {
    store.put(&record("x", "doc", "in x")).unwrap();
    store.put(&record("y", "doc", "in y")).unwrap();
    store.put(&record("xy", "", "tricky split")).unwrap();
    store.delete("x", "doc").unwrap();
    let loaded = loaded(store);
    assert_eq!(
        loaded.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
        ["in y", "tricky split"]
    );
}

fn namespaces_live_from_creation_or_first_put_until_deleted(store: &dyn Store) {
    assert_eq!(store.namespaces().unwrap(), Vec::<String>::new());
    assert!(store.create_namespace("empty").unwrap());
    assert!(!store.create_namespace("empty").unwrap());
    store.put(&record("written", "x", "x")).unwrap();
    store.put(&record("doomed", "1", "one")).unwrap();
    store.put(&record("doomed", "2", "two")).unwrap();
    // A namespace whose name extends another's is not part of it.
    store.put(&record("doomed-not", "1", "kept")).unwrap();
    assert_eq!(
        store.namespaces().unwrap(),
        ["doomed", "doomed-not", "empty", "written"]
    );
    assert_eq!(store.delete_namespace("doomed").unwrap(), 2);
    assert_eq!(store.delete_namespace("never").unwrap(), 0);
    assert_eq!(store.text("doomed", "1").unwrap(), None);
    assert_eq!(
        names(store),
        vec![pair("written", "x"), pair("doomed-not", "1")]
    );
    assert_eq!(
        store.namespaces().unwrap(),
        ["doomed-not", "empty", "written"]
    );
    // Deleting every document leaves the namespace; writing to a deleted one brings it
    // back empty but for the new document.
    store.delete("written", "x").unwrap();
    store.put(&record("doomed", "3", "three")).unwrap();
    assert_eq!(
        store.namespaces().unwrap(),
        ["doomed", "doomed-not", "empty", "written"]
    );
    store.compact().unwrap();
    assert_eq!(
        names(store),
        vec![pair("doomed-not", "1"), pair("doomed", "3")]
    );
    assert_eq!(store.namespaces().unwrap().len(), 4);
}

fn compaction_keeps_live_records(store: &dyn Store) {
    for i in 0..20 {
        store.put(&record("ns", &format!("d{i}"), "first")).unwrap();
    }
    for i in 0..20 {
        if i % 2 == 0 {
            store.delete("ns", &format!("d{i}")).unwrap();
        } else {
            store
                .put(&record("ns", &format!("d{i}"), "second"))
                .unwrap();
        }
    }
    let before = loaded(store);
    store.compact().unwrap();
    assert_eq!(loaded(store), before);
    assert_eq!(before.len(), 10);
    assert!(before.iter().all(|r| r.text == "second"));
    store.put(&record("ns", "d1", "third")).unwrap();
    store.sync().unwrap();
    assert_eq!(loaded(store)[0].text, "third");
}

fn concurrent_writers_are_all_stored(store: Arc<dyn Store>) {
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let name = format!("t{t}-{i}");
                    store.put(&record("ns", &name, &name)).unwrap();
                    if i % 5 == 0 {
                        store.delete("ns", &name).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let loaded = loaded(&*store);
    assert_eq!(loaded.len(), 8 * 40);
    assert!(loaded.iter().all(|r| r.text == r.document.name));
    // Each writer's records come back in the order it wrote them.
    for t in 0..8 {
        let prefix = format!("t{t}-");
        let mine: Vec<usize> = loaded
            .iter()
            .filter_map(|r| r.document.name.strip_prefix(&prefix))
            .map(|i| i.parse().unwrap())
            .collect();
        let expected: Vec<usize> = (0..50).filter(|i| i % 5 != 0).collect();
        assert_eq!(mine, expected);
    }
}

/// Runs every conformance check against stores made by `$make`, which returns the store
/// and whatever must live as long as it.
macro_rules! conformance {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn empty_store_loads_nothing() {
                let (s, _keep) = $make;
                super::empty_store_loads_nothing(&*s);
            }
            #[test]
            fn load_returns_records_in_first_stored_order() {
                let (s, _keep) = $make;
                super::load_returns_records_in_first_stored_order(&*s);
            }
            #[test]
            fn replace_keeps_place_and_takes_new_content() {
                let (s, _keep) = $make;
                super::replace_keeps_place_and_takes_new_content(&*s);
            }
            #[test]
            fn delete_removes_and_tolerates_missing() {
                let (s, _keep) = $make;
                super::delete_removes_and_tolerates_missing(&*s);
            }
            #[test]
            fn namespaces_are_separate() {
                let (s, _keep) = $make;
                super::namespaces_are_separate(&*s);
            }
            #[test]
            fn namespaces_live_from_creation_or_first_put_until_deleted() {
                let (s, _keep) = $make;
                super::namespaces_live_from_creation_or_first_put_until_deleted(&*s);
            }
            #[test]
            fn compaction_keeps_live_records() {
                let (s, _keep) = $make;
                super::compaction_keeps_live_records(&*s);
            }
            #[test]
            fn concurrent_writers_are_all_stored() {
                let (s, _keep) = $make;
                super::concurrent_writers_are_all_stored(s);
            }
        }
    };
}

fn mem() -> (Arc<dyn Store>, ()) {
    (Arc::new(MemStore::default()), ())
}

fn wal() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = WalStore::open(dir.path(), WalOptions::new(&Settings::default())).unwrap();
    (Arc::new(store), dir)
}

/// A WAL store that compacts after nearly every write, so the suite also runs across
/// background compactions.
fn wal_compacting() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        compact_min_bytes: 256,
        ..WalOptions::new(&Settings::default())
    };
    let store = WalStore::open(dir.path(), opts).unwrap();
    (Arc::new(store), dir)
}

conformance!(mem_store, mem());
conformance!(wal_store, wal());
conformance!(wal_store_compacting, wal_compacting());
