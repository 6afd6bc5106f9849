//! `neardup dedup` through the binary: known duplicates (exact, near, partial, across and
//! within records) in all three outputs, byte-identical output for any number of threads
//! and chunk size, compressed inputs, directories, bad records and `--strict`.

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::util::neardup;

/// `n` pseudo-random words (`w123` style, from a vocabulary of 5000) from `seed`.
fn words(seed: u64, n: usize) -> Vec<String> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("w{}", x % 5000)
        })
        .collect()
}

fn record(id: &str, text: &str) -> String {
    json!({"id": id, "text": text}).to_string()
}

struct Run {
    output: Output,
    matches: String,
    clusters: String,
    kept: String,
}

impl Run {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    fn matches(&self) -> Vec<Value> {
        json_lines(&self.matches)
    }
    fn clusters(&self) -> Vec<Value> {
        json_lines(&self.clusters)
    }
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).expect("output line is JSON"))
        .collect()
}

/// Runs `neardup dedup` on `inputs` with all three outputs in `dir`.
fn dedup(dir: &Path, inputs: &[PathBuf], extra: &[&str]) -> Run {
    let (m, c, k) = (
        dir.join("matches.jsonl"),
        dir.join("clusters.jsonl"),
        dir.join("kept.jsonl"),
    );
    let mut cmd = neardup();
    cmd.arg("dedup");
    for input in inputs {
        cmd.arg("--input").arg(input);
    }
    cmd.arg("--matches")
        .arg(&m)
        .arg("--clusters")
        .arg(&c)
        .arg("--kept")
        .arg(&k)
        .args(extra)
        .env_remove("RAYON_NUM_THREADS");
    let output = cmd.output().expect("neardup runs");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    Run {
        matches: read(&m),
        clusters: read(&c),
        kept: read(&k),
        output,
    }
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&path, text).unwrap();
    path
}

/// Records with known duplicates, and what each is.
fn corpus() -> Vec<String> {
    let a = words(1, 40);
    let b = words(2, 80);
    let c = words(3, 12);
    // near: three words of `a` replaced.
    let mut a_near = a.clone();
    a_near[5] = "changed".into();
    a_near[20] = "edited".into();
    a_near[33] = "altered".into();
    // superset: `c` followed by 70 new words.
    let mut c_super = c.clone();
    c_super.extend(words(4, 70));
    vec![
        record("a", &a.join(" ")),
        record("b", &b.join(" ")),
        // exact: same words, different case, spacing and punctuation.
        record("a-copy", &format!("  {}!!", a.join("  ").to_uppercase())),
        record("a-near", &a_near.join(" ")),
        // partial: a 12-word fragment of the 80-word `b` (Jaccard 0.14).
        record("b-part", &b[30..42].join(" ")),
        record("unrelated", &words(5, 30).join(" ")),
        record("c", &c.join(" ")),
        record("c-super", &c_super.join(" ")),
        record("short", "too short to judge"),
        record("short-again", "too short to judge"),
    ]
}

#[test]
fn record_units_find_exact_near_and_partial_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.jsonl", &corpus());
    let run = dedup(dir.path(), std::slice::from_ref(&input), &[]);
    assert!(run.output.status.success(), "{}", run.stderr());

    let matches = run.matches();
    let summary: Vec<(String, Vec<(String, String)>)> = matches
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_string(),
                m["matches"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| {
                        (
                            x["id"].as_str().unwrap().to_string(),
                            x["kind"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    let pair = |id: &str, src: &str, kind: &str| {
        (id.to_string(), vec![(src.to_string(), kind.to_string())])
    };
    assert_eq!(
        summary,
        vec![
            pair("a-copy", "a", "exact"),
            // The exact copy is not indexed again: the near copy points at the first.
            pair("a-near", "a", "near"),
            pair("b-part", "b", "partial"),
            pair("c-super", "c", "partial"),
        ]
    );
    assert!(matches.iter().all(|m| m.get("paragraph").is_none()));
    let exact = &matches[0]["matches"][0];
    assert_eq!(
        (
            exact["jaccard"].as_f64(),
            exact["containment"].as_f64(),
            exact["containment_source"].as_f64()
        ),
        (Some(1.0), Some(1.0), Some(1.0))
    );
    // a-near: 3 of 40 words changed: 39 word bigrams each, 33 shared (each edit changes
    // two bigrams), so Jaccard 33 / 45.
    let near = &matches[1]["matches"][0];
    assert_eq!(near["jaccard"].as_f64(), Some(0.7333));
    // b-part is wholly inside b; c-super only contains c.
    let part = &matches[2]["matches"][0];
    assert_eq!(part["containment"].as_f64(), Some(1.0));
    assert!(part["jaccard"].as_f64().unwrap() < 0.2);
    let superset = &matches[3]["matches"][0];
    assert_eq!(superset["containment_source"].as_f64(), Some(1.0));
    assert!(superset["containment"].as_f64().unwrap() < 0.6);

    // Clusters: only the duplicate relation (c-super keeps text c lacks, so it is not one).
    assert_eq!(
        run.clusters(),
        vec![
            json!({"representative": "a", "size": 3, "members": ["a", "a-copy", "a-near"]}),
            json!({"representative": "b", "size": 2, "members": ["b", "b-part"]}),
        ]
    );

    // Kept: everything but the three duplicates, byte for byte; too-short records are kept.
    let input_text = std::fs::read_to_string(&input).unwrap();
    let expected: Vec<&str> = input_text
        .lines()
        .filter(|l| {
            !["\"a-copy\"", "\"a-near\"", "\"b-part\""]
                .iter()
                .any(|id| l.contains(&format!("\"id\":{id}")))
        })
        .collect();
    assert_eq!(run.kept, expected.join("\n") + "\n");
    let stderr = run.stderr();
    assert!(
        stderr.contains("10 records (0 bad), 3 duplicates removed, 2 clusters"),
        "{stderr}"
    );
}

#[test]
fn paragraph_units_find_repeats_across_and_within_records() {
    let p = |seed| words(seed, 30).join(" ");
    let mut p1_near = words(11, 30);
    p1_near[10] = "different".into();
    let records = [
        json!({"id": 1, "text": format!("{}\n\n{}", p(11), p(12))}),
        // Within a record: its third paragraph repeats its first.
        json!({"id": 2, "text": format!("{}\n\n{}\n\n{}", p(13), p(14), p(13))}),
        // Across records: a near copy of record 1's first paragraph, and a short heading.
        json!({"id": 3, "text": format!("Heading\n\n{}", p1_near.join(" "))}),
        // Every paragraph repeats an earlier one: removed from kept.
        json!({"id": 4, "text": format!("{}\n\n{}", p(12), p(14))}),
    ];
    let lines: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.jsonl", &lines);
    let run = dedup(dir.path(), &[input], &["--unit", "paragraph"]);
    assert!(run.output.status.success(), "{}", run.stderr());

    let got: Vec<Value> = run
        .matches()
        .iter()
        .map(|m| {
            json!({
                "id": m["id"], "paragraph": m["paragraph"],
                "matches": m["matches"].as_array().unwrap().iter()
                    .map(|x| json!([x["id"], x["paragraph"], x["kind"]])).collect::<Vec<_>>(),
            })
        })
        .collect();
    assert_eq!(
        got,
        vec![
            json!({"id": 2, "paragraph": 2, "matches": [[2, 0, "exact"]]}),
            json!({"id": 3, "paragraph": 1, "matches": [[1, 0, "near"]]}),
            json!({"id": 4, "paragraph": 0, "matches": [[1, 1, "exact"]]}),
            json!({"id": 4, "paragraph": 1, "matches": [[2, 1, "exact"]]}),
        ]
    );
    assert_eq!(
        run.clusters(),
        vec![
            json!({"representative": {"id": 1, "paragraph": 0}, "size": 2,
                   "members": [{"id": 1, "paragraph": 0}, {"id": 3, "paragraph": 1}]}),
            json!({"representative": {"id": 1, "paragraph": 1}, "size": 2,
                   "members": [{"id": 1, "paragraph": 1}, {"id": 4, "paragraph": 0}]}),
            json!({"representative": {"id": 2, "paragraph": 0}, "size": 2,
                   "members": [{"id": 2, "paragraph": 0}, {"id": 2, "paragraph": 2}]}),
            json!({"representative": {"id": 2, "paragraph": 1}, "size": 2,
                   "members": [{"id": 2, "paragraph": 1}, {"id": 4, "paragraph": 1}]}),
        ]
    );
    // Record 3's heading is too short to judge and its other paragraph repeats, so every
    // judged paragraph is a duplicate, as in record 4; record 2 has new paragraphs.
    let kept_ids: Vec<Value> = json_lines(&run.kept)
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(kept_ids, vec![json!(1), json!(2)]);
    assert!(
        run.stderr()
            .contains("2 duplicates removed, 4 of 9 paragraphs repeated"),
        "{}",
        run.stderr()
    );
}

/// A larger corpus with many chained near duplicates, so that threads and chunks matter.
fn noisy_corpus(n: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let base = i % 37;
            let mut w = words(100 + base, 25 + (base as usize % 20));
            // Edit a few words, differently for each record.
            for k in 0..(i % 5) as usize {
                let at = (i as usize * 7 + k * 11) % w.len();
                w[at] = format!("e{i}x{k}");
            }
            if i % 9 == 0 {
                w.truncate(w.len() / 2);
            }
            let text = if i % 4 == 0 {
                format!("{}\n\n{}", w.join(" "), words(1000 + i, 15).join(" "))
            } else {
                w.join(" ")
            };
            json!({"id": format!("r{i}"), "text": text, "meta": {"n": i}}).to_string()
        })
        .collect()
}

#[test]
fn output_is_identical_for_any_threads_and_chunk_size() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.jsonl", &noisy_corpus(400));
    for unit in ["record", "paragraph"] {
        let base = dedup(
            dir.path(),
            std::slice::from_ref(&input),
            &["--unit", unit, "--threads", "1"],
        );
        assert!(base.output.status.success(), "{}", base.stderr());
        assert!(base.matches().len() > 300, "{unit}: few matches");
        assert!(!base.clusters().is_empty());
        for extra in [
            &["--threads", "4"][..],
            &["--threads", "3", "--chunk-records", "7"],
            &["--threads", "2", "--chunk-records", "1"],
        ] {
            let mut args = vec!["--unit", unit];
            args.extend_from_slice(extra);
            let other = dedup(dir.path(), std::slice::from_ref(&input), &args);
            assert!(other.output.status.success(), "{}", other.stderr());
            assert_eq!(other.matches, base.matches, "{unit} {extra:?}");
            assert_eq!(other.clusters, base.clusters, "{unit} {extra:?}");
            assert_eq!(other.kept, base.kept, "{unit} {extra:?}");
        }
    }
    // With buckets past --max-bucket, which are sampled (the first and the most recent),
    // the order within a bucket must be the input's too, not the threads' or the chunks'.
    let large = write(dir.path(), "large.jsonl", &noisy_corpus(6000));
    let sampled = |threads: &str, chunk: &str| {
        let args = [
            "--max-bucket",
            "3",
            "--threads",
            threads,
            "--chunk-records",
            chunk,
        ];
        let run = dedup(dir.path(), std::slice::from_ref(&large), &args);
        assert!(run.output.status.success(), "{}", run.stderr());
        (run.matches, run.clusters, run.kept)
    };
    let one = sampled("1", "3000");
    for _ in 0..3 {
        assert!(
            sampled("4", "3000") == one,
            "sampled buckets depend on the threads"
        );
    }
    for chunk in ["1", "7", "100000"] {
        assert!(
            sampled("2", chunk) == one,
            "sampled buckets depend on chunk {chunk}"
        );
    }
    // And sampling happened: the whole buckets give other answers.
    let whole = dedup(
        dir.path(),
        std::slice::from_ref(&large),
        &["--max-bucket", "100000"],
    );
    assert!(whole.kept != one.2, "no bucket was sampled");
    // RAYON_NUM_THREADS is honoured when --threads is absent (and changes nothing).
    let base = dedup(
        dir.path(),
        std::slice::from_ref(&input),
        &["--threads", "1"],
    );
    let mut cmd = neardup();
    let out = dir.path().join("env-matches.jsonl");
    let output = cmd
        .args(["dedup", "--input"])
        .arg(&input)
        .arg("--matches")
        .arg(&out)
        .env("RAYON_NUM_THREADS", "3")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), base.matches);
}

#[test]
fn gzip_zstd_and_directory_inputs_give_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    let lines = noisy_corpus(120);
    let plain = write(dir.path(), "in.jsonl", &lines);
    let bytes = std::fs::read(&plain).unwrap();
    let gz = dir.path().join("in.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&bytes).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let zst = dir.path().join("in.jsonl.zst");
    std::fs::write(&zst, zstd::encode_all(&bytes[..], 3).unwrap()).unwrap();

    let base = dedup(dir.path(), &[plain], &[]);
    assert!(base.output.status.success(), "{}", base.stderr());
    assert!(!base.matches.is_empty());
    for input in [gz, zst] {
        let run = dedup(dir.path(), std::slice::from_ref(&input), &[]);
        assert!(run.output.status.success(), "{}", run.stderr());
        assert_eq!(run.matches, base.matches, "{}", input.display());
        assert_eq!(run.clusters, base.clusters);
        assert_eq!(
            run.kept, base.kept,
            "kept records are the decompressed lines"
        );
    }

    // A directory: its JSON Lines files in name order, here the first half then the second.
    let sub = dir.path().join("parts");
    std::fs::create_dir(&sub).unwrap();
    write(&sub, "1.jsonl", &lines[..60]);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all((lines[60..].join("\n") + "\n").as_bytes())
        .unwrap();
    std::fs::write(sub.join("2.jsonl.gz"), enc.finish().unwrap()).unwrap();
    std::fs::write(sub.join("notes.txt"), "not an input").unwrap();
    let run = dedup(dir.path(), &[sub], &[]);
    assert!(run.output.status.success(), "{}", run.stderr());
    assert_eq!(run.matches, base.matches);
    assert_eq!(run.kept, base.kept);
}

#[test]
fn ids_default_to_line_numbers() {
    let text = words(7, 20).join(" ");
    let lines = vec![
        json!({"body": text}).to_string(),
        String::new(),
        json!({"body": text}).to_string(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.jsonl", &lines);
    let run = dedup(dir.path(), &[input], &["--text-field", "body"]);
    assert!(run.output.status.success(), "{}", run.stderr());
    assert_eq!(
        run.matches(),
        vec![
            json!({"id": 3, "matches": [{"id": 1, "kind": "exact", "jaccard": 1.0,
            "containment": 1.0, "containment_source": 1.0}]})
        ]
    );
}

#[test]
fn bad_records_are_counted_reported_and_kept_unless_strict() {
    let good = words(8, 20).join(" ");
    let mut bytes = Vec::new();
    for line in [
        record("ok", &good),
        "{\"id\": \"broken\", \"text\": ".to_string(),
        json!({"id": "no-text"}).to_string(),
        json!({"id": "number", "text": 42}).to_string(),
        "[1, 2, 3]".to_string(),
        record("dup", &good),
    ] {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(b"{\"id\": \"latin1\", \"text\": \"caf\xe9\"}\n");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, &bytes).unwrap();

    let run = dedup(dir.path(), std::slice::from_ref(&input), &[]);
    assert!(run.output.status.success(), "{}", run.stderr());
    let stderr = run.stderr();
    for (line, reason) in [
        (2, "invalid JSON"),
        (3, "no field \"text\""),
        (4, "field \"text\" is a number, not a string"),
        (5, "invalid type: sequence, expected a JSON object"),
        (7, "invalid JSON"),
    ] {
        let needle = format!("bad record at {}:{line}: {reason}", input.display());
        assert!(stderr.contains(&needle), "{needle:?} not in {stderr}");
    }
    assert!(
        stderr.contains("7 records (5 bad), 1 duplicates removed"),
        "{stderr}"
    );
    // Bad records are not duplicates: they pass to kept unchanged (the invalid UTF-8 too).
    let kept = std::fs::read(dir.path().join("kept.jsonl")).unwrap();
    let dup_line = format!("{}\n", record("dup", &good));
    let expected: Vec<u8> = bytes
        .windows(dup_line.len())
        .position(|w| w == dup_line.as_bytes())
        .map(|at| [&bytes[..at], &bytes[at + dup_line.len()..]].concat())
        .unwrap();
    assert_eq!(kept, expected);
    assert_eq!(run.matches().len(), 1);

    let strict = dedup(dir.path(), std::slice::from_ref(&input), &["--strict"]);
    assert_eq!(strict.output.status.code(), Some(2), "{}", strict.stderr());
    assert!(
        strict.stderr().contains(&format!(
            "bad record at {}:2: invalid JSON",
            input.display()
        )),
        "{}",
        strict.stderr()
    );
}

#[test]
fn missing_input_and_bad_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let run = dedup(dir.path(), &[dir.path().join("absent.jsonl")], &[]);
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    let empty = dir.path().join("empty-dir");
    std::fs::create_dir(&empty).unwrap();
    let run = dedup(dir.path(), &[empty], &[]);
    assert_eq!(run.output.status.code(), Some(2));
    assert!(
        run.stderr().contains("no JSON Lines files"),
        "{}",
        run.stderr()
    );
    let input = write(dir.path(), "in.jsonl", &corpus());
    let run = dedup(dir.path(), &[input], &["--threshold", "1.5"]);
    assert_eq!(run.output.status.code(), Some(2));
    // An existing output inside an input directory is refused, not truncated and read.
    let kept = dir.path().join("kept.jsonl");
    std::fs::write(&kept, "{\"text\": \"earlier output\"}\n").unwrap();
    let run = dedup(dir.path(), &[dir.path().to_path_buf()], &[]);
    assert_eq!(run.output.status.code(), Some(2));
    assert!(
        run.stderr().contains("is also an output"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(&kept).unwrap(),
        "{\"text\": \"earlier output\"}\n"
    );
}

/// Issue 9: `DIR/sub/up -> ..` made the walk read DIR's one-record file 41 times and report
/// 40 duplicates. Links inside a directory are not followed, and a file named twice is
/// read once.
#[cfg(unix)]
#[test]
fn directory_walk_reads_each_file_once_through_a_symlink_loop() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    let file = write(
        &data,
        "one.jsonl",
        &[record("only", &words(11, 30).join(" "))],
    );
    std::os::unix::fs::symlink("..", data.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("one.jsonl", data.join("link.jsonl")).unwrap();
    for inputs in [vec![data.clone()], vec![data.clone(), file]] {
        let run = dedup(dir.path(), &inputs, &[]);
        assert!(run.output.status.success(), "{}", run.stderr());
        assert!(
            run.stderr()
                .contains("neardup: 1 records (0 bad), 0 duplicates removed, 0 clusters"),
            "{inputs:?}: {}",
            run.stderr()
        );
        assert_eq!(run.kept.lines().count(), 1);
        assert!(run.matches.is_empty(), "{}", run.matches);
    }
}

/// `--ignore-boilerplate` on the synthetic newsletter (50 issues, a masthead and a
/// copyright line in each, some real reprints): once the masthead and the copyright line
/// are in K - 1 earlier issues, they are set apart (not matches, not clusters, not what
/// makes an issue a duplicate), while every reprint is still a duplicate.
#[test]
fn boilerplate_paragraphs_are_set_apart_with_ignore_boilerplate() {
    let dir = tempfile::tempdir().unwrap();
    let issues = crate::util::boilerplate::corpus();
    let lines: Vec<String> = issues.iter().map(|i| record(&i.name, &i.text)).collect();
    let input = write(dir.path(), "issues.jsonl", &lines);
    let reprints: usize = issues.iter().map(|i| i.reprints.len()).sum();
    let paragraph_of = |v: &Value| {
        (
            v["id"].as_str().unwrap().to_string(),
            v["paragraph"].as_u64().unwrap() as usize,
        )
    };
    let is_boilerplate = |id: &str, p: usize| {
        issues
            .iter()
            .any(|i| i.name == id && i.boilerplate.contains(&p))
    };
    let plain = dedup(
        dir.path(),
        std::slice::from_ref(&input),
        &["--unit", "paragraph"],
    );
    assert!(plain.output.status.success(), "{}", plain.stderr());
    let set_apart = dedup(
        dir.path(),
        std::slice::from_ref(&input),
        &[
            "--unit",
            "paragraph",
            "--ignore-boilerplate",
            "--boilerplate",
            "10",
        ],
    );
    assert!(set_apart.output.status.success(), "{}", set_apart.stderr());
    // Without it, every later masthead and copyright line is a repeat (49 each).
    let boilerplate_matched = |run: &Run| {
        run.matches()
            .iter()
            .filter(|m| {
                let (id, p) = paragraph_of(m);
                is_boilerplate(&id, p)
            })
            .count()
    };
    assert_eq!(boilerplate_matched(&plain), 2 * 49);
    // With it, only the copies before the 10th issue are (8 each), and the clusters of
    // the masthead and the copyright line stop at 9 members.
    assert_eq!(boilerplate_matched(&set_apart), 2 * 8);
    assert!(
        set_apart
            .stderr()
            .contains(&format!("{} boilerplate", 2 * 41)),
        "{}",
        set_apart.stderr()
    );
    let reprinted = |run: &Run| {
        run.matches()
            .iter()
            .filter(|m| {
                let (id, p) = paragraph_of(m);
                issues
                    .iter()
                    .any(|i| i.name == id && i.reprints.iter().any(|r| r.0 == p))
            })
            .count()
    };
    assert_eq!(reprinted(&plain), reprints);
    assert_eq!(reprinted(&set_apart), reprints);
    let largest = set_apart
        .clusters()
        .iter()
        .map(|c| c["size"].as_u64().unwrap())
        .max()
        .unwrap();
    assert_eq!(largest, 9);
    // The issues are kept or removed alike: the boilerplate never decided one alone.
    assert_eq!(set_apart.kept, plain.kept);
    // Record units, or no boilerplate count: a clear error, exit 2.
    for extra in [
        &["--ignore-boilerplate"][..],
        &[
            "--unit",
            "paragraph",
            "--ignore-boilerplate",
            "--boilerplate",
            "0",
        ],
    ] {
        let run = dedup(dir.path(), std::slice::from_ref(&input), extra);
        assert_eq!(
            run.output.status.code(),
            Some(2),
            "{extra:?}: {}",
            run.stderr()
        );
        assert!(
            run.stderr().contains("ignore_boilerplate"),
            "{}",
            run.stderr()
        );
    }
}
