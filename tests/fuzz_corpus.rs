//! The fuzz targets' committed corpora (`fuzz/corpus/<target>/`), replayed through the
//! same checks the targets run (`neardup::fuzzing`), on stable Rust: every input that
//! libFuzzer kept, and every crash it ever found, stays a regression test.

use std::path::PathBuf;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no corpus in {}", dir.display());
    for path in inputs {
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} fails its check",
            path.display()
        );
    }
}

#[test]
fn convert() {
    replay("convert", neardup::fuzzing::convert);
}

#[test]
fn tokenize() {
    replay("tokenize", neardup::fuzzing::tokenize_text);
}

#[test]
fn paragraphs() {
    replay("paragraphs", neardup::fuzzing::paragraphs);
}

#[test]
fn jsonl_record() {
    replay("jsonl_record", neardup::fuzzing::jsonl_record);
}

#[test]
fn wal_record() {
    replay("wal_record", neardup::fuzzing::wal_record);
}

#[test]
fn snapshot() {
    replay("snapshot", neardup::fuzzing::snapshot);
}

/// The store targets' seeds, made afresh by the current encoder, pass their checks (the
/// committed ones were made the same way, and stay as regression inputs when the format
/// moves on).
#[test]
fn store_seeds() {
    let seeds = neardup::fuzzing::store_seeds();
    assert!(seeds.len() >= 8);
    for (target, name, data) in seeds {
        let check = match target {
            "wal_record" => neardup::fuzzing::wal_record,
            "snapshot" => neardup::fuzzing::snapshot,
            other => panic!("no target {other}"),
        };
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}/{name} fails its check");
        if let Ok(dir) = std::env::var("NEARDUP_WRITE_SEEDS") {
            let dir = std::path::Path::new(&dir).join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), data).unwrap();
        }
    }
}
