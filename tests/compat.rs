//! Frozen data directories of every storage format still read: each opens, gives back its
//! documents and texts, and answers as an index. `tests/data/store-v1` was written by the
//! build before analyses were persisted (format 1: texts only), `tests/data/store-v2` by
//! the first build that persists them (format 2); both hold a snapshot and a log segment
//! left by a killed server, and the files of `store-v1/input` as documents.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use neardup::engine::Settings;
use neardup::service::Service;
use neardup::store::{Store, WalOptions, WalStore};
use neardup::text::Split;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A copy of a fixture directory (opening a store may rewrite it).
fn copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn open(dir: &Path) -> Arc<dyn Store> {
    Arc::new(WalStore::open(dir, WalOptions::new(&Settings::default())).unwrap())
}

fn input(file: &str) -> String {
    std::fs::read_to_string(fixture("store-v1/input").join(file)).unwrap()
}

/// Documents by file name (the servers stored them under the paths they were given).
fn by_file(service: &Service) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = service
        .engine("default")
        .unwrap()
        .names()
        .iter()
        .map(|n| {
            let file = n.rsplit('/').next().unwrap().to_string();
            (file, n.to_string())
        })
        .collect();
    out.sort();
    out
}

/// The checks every format must pass: all five documents with their texts, and the
/// index finds `a.txt`'s Chinese paragraph in `b.txt` and its English one in `d.txt`.
fn answers_as_written(service: &Service) {
    let docs = by_file(service);
    let files: Vec<&str> = docs.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(files, ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"]);
    for (file, name) in &docs {
        let stored = service.get("default", name).unwrap();
        assert_eq!(stored.text, input(file), "{file}");
    }
    let a = service.analyzer().document(input("a.txt"), Split::Auto);
    let opts = service.settings().query_options();
    let report = service.check("default", "probe", &a, &opts).unwrap();
    let sources = |p: usize| -> Vec<String> {
        let mut s: Vec<String> = report.paragraphs[p]
            .matches
            .iter()
            .map(|m| m.source.name.rsplit('/').next().unwrap().to_string())
            .collect();
        s.sort();
        s
    };
    assert_eq!(sources(0), ["a.txt", "b.txt"]);
    assert_eq!(sources(1), ["a.txt", "d.txt"]);
    // Spans slice both texts at the same words.
    let m = &report.paragraphs[0].matches[0];
    assert!(!m.spans.is_empty());
}

#[test]
fn format_1_is_read_analyzed_again_and_rewritten() {
    let dir = copy("store-v1");
    let store = open(dir.path());
    assert!(store.load().unwrap().iter().all(|d| d.records.is_none()));
    let service = Service::open(Settings::default(), store).unwrap();
    answers_as_written(&service);
    drop(service);
    // Rewritten with analyses: the next start loads them.
    let store = open(dir.path());
    let docs = store.load().unwrap();
    assert_eq!(docs.len(), 5);
    assert!(docs.iter().all(|d| d.records.is_some()));
    answers_as_written(&Service::open(Settings::default(), store).unwrap());
}

#[test]
fn format_2_restores_from_stored_analyses() {
    let dir = copy("store-v2");
    let store = open(dir.path());
    let docs = store.load().unwrap();
    assert_eq!(docs.len(), 5);
    // Every document long enough to index carries its records: nothing is analyzed.
    for d in &docs {
        let records = d.records.as_ref().unwrap();
        let judged = if d.name.ends_with("c.txt") {
            0
        } else {
            d.paragraphs
        };
        assert_eq!(records.len() as u32, judged, "{}", d.name);
    }
    answers_as_written(&Service::open(Settings::default(), store).unwrap());
}
