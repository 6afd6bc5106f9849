//! `neardup dedup` on Parquet through the binary: the same matches and clusters as on
//! the same records in JSON Lines, the kept rows written back with their schema, matches
//! and clusters as Parquet tables, Parquet on standard input, named columns, and clear errors (exit code 2, no
//! panic) for missing columns, wrong types and malformed files.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt32Type};
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::util::{neardup, test_data};

/// The records of synthetic-dev (sources then variants): id, lang, text.
fn records() -> Vec<(String, String, String)> {
    ["sources.jsonl", "variants.jsonl"]
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(test_data("synthetic-dev").join(f)).unwrap();
            text.lines()
                .map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    let s = |k: &str| v[k].as_str().unwrap().to_string();
                    (s("id"), s("lang"), s("text"))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn write_jsonl(path: &Path, records: &[(String, String, String)]) {
    let lines: Vec<String> = records
        .iter()
        .map(|(id, lang, text)| {
            serde_json::json!({"id": id, "lang": lang, "body": text}).to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Writes `columns` as a Parquet file in row groups of `group` rows.
fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>, group: usize) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
    for start in (0..batch.num_rows()).step_by(group) {
        w.write(&batch.slice(start, group.min(batch.num_rows() - start)))
            .unwrap();
    }
    w.close().unwrap();
}

fn strings(v: impl IntoIterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

fn read_parquet(path: &Path) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = neardup();
    cmd.arg("dedup").env_remove("RAYON_NUM_THREADS");
    for a in args {
        cmd.arg(a);
    }
    cmd.output().unwrap()
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn fails_with(out: &Output, message: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(message), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neardup-parquet-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn parquet_input_gives_the_json_lines_result_and_keeps_rows_with_their_schema() {
    let dir = tmp("parity");
    let records = records();
    let jsonl = dir.join("in.jsonl");
    write_jsonl(&jsonl, &records);
    let parquet = dir.join("in.parquet");
    let n = records.len() as i64;
    write_parquet(
        &parquet,
        vec![
            ("id", strings(records.iter().map(|r| r.0.clone()))),
            (
                "n",
                Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef,
            ),
            ("lang", strings(records.iter().map(|r| r.1.clone()))),
            ("body", strings(records.iter().map(|r| r.2.clone()))),
        ],
        1000,
    );
    for unit in ["record", "paragraph"] {
        let out = |name: &str| dir.join(format!("{unit}-{name}"));
        let common = ["--text-field", "body", "--unit", unit];
        ok(&run(&[
            &"--input",
            &jsonl,
            &"--matches",
            &out("m.jsonl"),
            &"--clusters",
            &out("c.jsonl"),
            &"--kept",
            &out("k.jsonl"),
            &common[0],
            &common[1],
            &common[2],
            &common[3],
        ]));
        // Chunks smaller than the row groups, and several threads: the same output.
        ok(&run(&[
            &"--input",
            &parquet,
            &"--matches",
            &out("pm.jsonl"),
            &"--clusters",
            &out("pc.jsonl"),
            &"--kept",
            &out("k.parquet"),
            &"--chunk-records",
            &"300",
            &"-j",
            &"2",
            &common[0],
            &common[1],
            &common[2],
            &common[3],
        ]));
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
        let matches = read(out("m.jsonl"));
        assert!(matches.lines().count() > 1000, "{unit}");
        assert_eq!(read(out("pm.jsonl")), matches, "{unit}");
        assert_eq!(read(out("pc.jsonl")), read(out("c.jsonl")), "{unit}");
        // The same Parquet file on standard input.
        let piped = neardup()
            .args(["dedup", "--input", "-", "--matches"])
            .arg(out("sm.jsonl"))
            .args(common)
            .stdin(File::open(&parquet).unwrap())
            .output()
            .unwrap();
        ok(&piped);
        assert_eq!(read(out("sm.jsonl")), matches, "{unit}");

        // The kept rows: those of the JSON Lines run, every column, in order.
        let kept_ids: Vec<String> = read(out("k.jsonl"))
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(kept_ids.len() < records.len() / 2, "{unit}");
        let kept = read_parquet(&out("k.parquet"));
        let schema: Vec<(String, DataType)> = kept
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        assert_eq!(
            schema,
            [
                ("id".to_string(), DataType::Utf8),
                ("n".to_string(), DataType::Int64),
                ("lang".to_string(), DataType::Utf8),
                ("body".to_string(), DataType::Utf8),
            ]
        );
        let ids: Vec<&str> = kept.column(0).as_string::<i32>().iter().flatten().collect();
        assert_eq!(ids, kept_ids, "{unit}");
        let ns = kept.column(1).as_primitive::<Int64Type>();
        for (row, id) in ids.iter().enumerate() {
            assert_eq!(records[ns.value(row) as usize].0, *id);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn matches_and_clusters_as_parquet_tables() {
    let dir = tmp("tables");
    let records = records();
    let parquet = dir.join("in.parquet");
    // Integer ids; the text column named `text`.
    write_parquet(
        &parquet,
        vec![
            (
                "id",
                Arc::new(Int64Array::from_iter_values(
                    1000..1000 + records.len() as i64,
                )) as ArrayRef,
            ),
            ("text", strings(records.iter().map(|r| r.2.clone()))),
        ],
        4096,
    );
    let (mj, cj, mp, cp) = (
        dir.join("m.jsonl"),
        dir.join("c.jsonl"),
        dir.join("m.parquet"),
        dir.join("c.parquet"),
    );
    let stderr = ok(&run(&[
        &"--input",
        &parquet,
        &"--matches",
        &mj,
        &"--clusters",
        &cj,
        &"--unit",
        &"paragraph",
    ]));
    assert!(
        stderr.contains(&format!("{} records (0 bad)", records.len())),
        "{stderr}"
    );
    ok(&run(&[
        &"--input",
        &parquet,
        &"--matches",
        &mp,
        &"--clusters",
        &cp,
        &"--unit",
        &"paragraph",
    ]));
    let lines = |p: &Path| -> Vec<Value> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };

    let m = read_parquet(&mp);
    let expected: Vec<(String, u32, u32, String, u32, String, f64)> = lines(&mj)
        .iter()
        .flat_map(|l| {
            l["matches"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(rank, x)| {
                    (
                        l["id"].to_string(),
                        l["paragraph"].as_u64().unwrap() as u32,
                        rank as u32,
                        x["id"].to_string(),
                        x["paragraph"].as_u64().unwrap() as u32,
                        x["kind"].as_str().unwrap().to_string(),
                        x["jaccard"].as_f64().unwrap(),
                    )
                })
        })
        .collect();
    assert!(expected.len() > 1000);
    assert_eq!(m.num_rows(), expected.len());
    let s = |c: usize| m.column(c).as_string::<i32>();
    let u = |c: usize| m.column(c).as_primitive::<UInt32Type>();
    for (row, e) in expected.iter().enumerate() {
        let got = (
            s(0).value(row).to_string(),
            u(1).value(row),
            u(2).value(row),
            s(3).value(row).to_string(),
            u(4).value(row),
            s(5).value(row).to_string(),
            m.column(6).as_primitive::<Float64Type>().value(row),
        );
        assert_eq!(&got, e);
    }

    let c = read_parquet(&cp);
    let clusters = lines(&cj);
    let members: usize = clusters
        .iter()
        .map(|c| c["members"].as_array().unwrap().len())
        .sum();
    assert_eq!(c.num_rows(), members);
    assert_eq!(c.schema().field(0).name(), "cluster");
    let first = &clusters[0];
    assert_eq!(
        c.column(2).as_string::<i32>().value(0),
        first["representative"]["id"].to_string()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_parquet_inputs_are_clear_errors() {
    let dir = tmp("errors");
    let texts = || strings((0..50).map(|i| format!("the quick brown fox number {i} jumps over")));
    let good = dir.join("good.parquet");
    write_parquet(&good, vec![("text", texts())], 50);

    // A missing column, named with the columns there are.
    fails_with(
        &run(&[&"--input", &good, &"--text-field", &"body"]),
        r#"no column "body" (the columns: text)"#,
    );
    // Columns of the wrong type.
    let ints = dir.join("ints.parquet");
    write_parquet(
        &ints,
        vec![
            (
                "text",
                Arc::new(Int64Array::from_iter_values(0..50)) as ArrayRef,
            ),
            (
                "id",
                Arc::new(arrow_array::Float64Array::from_iter_values(
                    (0..50).map(f64::from),
                )),
            ),
        ],
        50,
    );
    fails_with(
        &run(&[&"--input", &ints]),
        r#"column "text" is Int64, not a string"#,
    );
    fails_with(
        &run(&[
            &"--input",
            &ints,
            &"--text-field",
            &"id",
            &"--id-field",
            &"text",
        ]),
        r#"column "id" is Float64, not a string"#,
    );
    let float_ids = dir.join("float-ids.parquet");
    write_parquet(
        &float_ids,
        vec![
            ("text", texts()),
            (
                "id",
                Arc::new(arrow_array::Float64Array::from_iter_values(
                    (0..50).map(f64::from),
                )),
            ),
        ],
        50,
    );
    fails_with(
        &run(&[&"--input", &float_ids]),
        r#"column "id" is Float64, not an integer or a string"#,
    );

    // Malformed files: the magic and garbage; a good file cut short; a good file with its
    // middle overwritten. Each fails cleanly.
    let bytes = std::fs::read(&good).unwrap();
    let garbage = dir.join("garbage.parquet");
    std::fs::write(&garbage, b"PAR1 this is not parquet at all PAR1").unwrap();
    fails_with(&run(&[&"--input", &garbage]), "not a readable Parquet file");
    let cut = dir.join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&run(&[&"--input", &cut]), "cannot use");
    for at in [8, bytes.len() / 3, bytes.len() / 2] {
        let mut broken = bytes.clone();
        for b in &mut broken[at..(at + 40).min(bytes.len() - 8)] {
            *b = 0xA5;
        }
        let path = dir.join(format!("broken-{at}.parquet"));
        std::fs::write(&path, &broken).unwrap();
        let out = run(&[&"--input", &path]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(2),
            "{stderr}"
        );
    }

    // Kept rows go to Parquet only from Parquet, and the other way round.
    let jsonl = dir.join("in.jsonl");
    std::fs::write(
        &jsonl,
        "{\"text\": \"the quick brown fox jumps over the lazy dog\"}\n",
    )
    .unwrap();
    fails_with(
        &run(&[&"--input", &jsonl, &"--kept", &dir.join("k.parquet")]),
        "only Parquet rows can be kept as Parquet",
    );
    fails_with(
        &run(&[&"--input", &good, &"--kept", &dir.join("k.jsonl")]),
        "Parquet rows can be kept only as Parquet",
    );

    // A null text is a bad record, kept; rows without an id are named by their number.
    let nulls = dir.join("nulls.parquet");
    let text: ArrayRef = Arc::new(StringArray::from(vec![
        Some("one two three four five six seven eight"),
        None,
        Some("one two three four five six seven eight"),
    ]));
    let schema = Schema::new(vec![Field::new("text", DataType::Utf8, true)]);
    let batch = RecordBatch::try_new(Arc::new(schema), vec![text]).unwrap();
    let mut w = ArrowWriter::try_new(File::create(&nulls).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let matches = dir.join("m.jsonl");
    let stderr = ok(&run(&[
        &"--input",
        &nulls,
        &"--matches",
        &matches,
        &"--kept",
        &dir.join("k2.parquet"),
    ]));
    assert!(
        stderr.contains(r#"bad record at "#)
            && stderr.contains(r#":2: field "text" is null, not a string"#),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&matches).unwrap(),
        "{\"id\":3,\"matches\":[{\"id\":1,\"kind\":\"exact\",\"jaccard\":1.0,\"containment\":1.0,\"containment_source\":1.0}]}\n"
    );
    assert_eq!(read_parquet(&dir.join("k2.parquet")).num_rows(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
