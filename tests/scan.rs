//! `neardup scan` through the binary: the magazine's repeats, offsets and spans that
//! slice the original text, several files and standard input, and invalid input.

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Output, Stdio};

use crate::util::{neardup, slice_chars, test_data};

fn run(args: &[&str]) -> Output {
    neardup().args(args).output().expect("neardup runs")
}

fn json_lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn slice(text: &str, start: &Value, end: &Value) -> String {
    slice_chars(text, start.as_u64().unwrap(), end.as_u64().unwrap())
}

fn token_hashes(text: &str) -> Vec<u64> {
    neardup::text::tokenize(text)
        .iter()
        .map(|t| t.hash)
        .collect()
}

/// Every paragraph of the magazine that repeats an earlier one, as (line, source line).
/// Computed independently of neardup: all pairs of blank-line paragraphs whose exact
/// character 5-gram Jaccard is ≥ 0.1 or containment ≥ 0.3, reviewed by hand; six more
/// pairs pass that bar only by sharing a topic's vocabulary (a title inside a long
/// paragraph; two court articles) and must not be reported.
pub const MAGAZINE_REPEATS: &[(u64, u64)] = &[
    (133, 59),
    (135, 61),
    (137, 55),
    (139, 57),
    (141, 133),
    (141, 59),
    (143, 63),
    (145, 65),
    (147, 67),
    (161, 37),
    (163, 39),
    (165, 41),
    (179, 151),
    (181, 153),
    (183, 155),
    (185, 157),
    (187, 159),
    (189, 161),
    (189, 37),
    (191, 163),
    (191, 39),
    (193, 165),
    (193, 41),
    (195, 167),
    (197, 169),
    (199, 171),
    (201, 173),
    (203, 175),
    (205, 177),
    (207, 151),
    (207, 179),
    (209, 153),
    (209, 181),
    (211, 155),
    (211, 183),
    (213, 157),
    (213, 185),
    (215, 159),
    (215, 187),
];

#[test]
fn magazine_repeats_are_all_found_and_nothing_else() {
    let path = test_data("magazine-zh/magazine.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines = json_lines(&run(&["scan", "--format", "json", path.to_str().unwrap()]));
    let mut found = BTreeSet::new();
    for l in &lines {
        let this = slice(&text, &l["start"], &l["end"]);
        assert!(
            !this.is_empty() && !this.starts_with(['#', ' ', '\n']),
            "{this:?}"
        );
        for m in l["matches"].as_array().unwrap() {
            found.insert((l["line"].as_u64().unwrap(), m["line"].as_u64().unwrap()));
            let source = slice(&text, &m["start"], &m["end"]);
            if m["kind"] == "exact" {
                assert_eq!(token_hashes(&this), token_hashes(&source));
            }
            assert!(m["jaccard"].as_f64().unwrap() >= 0.2 || m["kind"] == "partial");
            let spans = m["spans"].as_array().unwrap();
            assert!(!spans.is_empty());
            for s in spans {
                let a = slice(&text, &s[0], &s[1]);
                let b = slice(&text, &s[2], &s[3]);
                assert!(this.contains(&a) && source.contains(&b));
                assert_eq!(
                    token_hashes(&a),
                    token_hashes(&b),
                    "span texts differ: {a:?} vs {b:?}"
                );
            }
        }
    }
    let expected: BTreeSet<(u64, u64)> = MAGAZINE_REPEATS.iter().copied().collect();
    assert_eq!(found, expected);
}

#[test]
fn magazine_text_report_names_places_and_sums_up() {
    let path = test_data("magazine-zh/magazine.txt");
    let out = run(&["scan", path.to_str().unwrap()]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains('\x1b'), "no colour when not on a terminal");
    let name = path.to_str().unwrap();
    assert!(stdout.contains(&format!("{name}:133\n  near ")), "{stdout}");
    assert!(stdout.contains(&format!("from {name}:59")));
    assert!(stdout.contains("    this:   人民法院需要加大对黄河水系的司法保护力度"));
    assert!(
        stdout.ends_with("30 of 103 paragraphs recycled in 1 file (0 too short to judge)\n"),
        "{stdout}"
    );
}

/// A paragraph cut in two by a page break, one half followed by unrelated text, and a
/// lightly edited copy: all found in an earlier file, across files and from stdin.
#[test]
fn page_break_split_and_edits_are_found_across_files_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let original = "# Report\n\nThe committee reviewed the annual budget in detail and found that spending on road maintenance had doubled since the previous year, while the money set aside for public libraries had been cut by a third without any explanation.\n\nAn unrelated closing remark about the weather.\n";
    let a = dir.path().join("a.md");
    std::fs::write(&a, original).unwrap();
    let later = "The committee reviewed the annual budget in detail and found that spending on road\n\nmaintenance had doubled since the previous year, while the money set aside for public libraries had been cut by a third without any explanation.\n\nThe Committee reviewed the annual budget in great detail and found that spending on road maintenance had doubled since last year, while money set aside for public libraries had been cut by a third without explanation!\n";
    let mut child = neardup()
        .args(["scan", "--format", "json", a.to_str().unwrap(), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(later.as_bytes())
        .unwrap();
    let lines = json_lines(&child.wait_with_output().unwrap());
    assert_eq!(lines.len(), 3, "{lines:#?}");
    // The first half is a third of the source (containment 1.0 / 0.35): partial. The
    // second half is 62 % of it, over the containment threshold both ways: near.
    for (l, kind) in lines.iter().zip(["partial", "near", "near"]) {
        assert_eq!(l["document"], "-");
        let m = &l["matches"][0];
        assert_eq!(
            (
                m["document"].as_str(),
                m["paragraph"].as_u64(),
                m["line"].as_u64()
            ),
            (a.to_str(), Some(1), Some(3))
        );
        assert_eq!(m["kind"], kind, "{l}");
        assert_eq!(
            slice(original, &m["start"], &m["end"]),
            original.split("\n\n").nth(1).unwrap()
        );
    }
    assert_eq!(lines[0]["matches"][0]["containment"], 1.0);
    // The edited copy also repeats the two halves earlier in the same submission.
    let own: Vec<_> = lines[2]["matches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["document"] == "-")
        .collect();
    assert_eq!(own.len(), 2);
}

#[test]
fn invalid_options_and_inputs_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("bin");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["scan", "--threshold", "1.5", "x"],
            "invalid threshold: 1.5 is not in (0, 1]",
        ),
        (&["scan", "--containment", "0", "x"], "invalid containment"),
        (&["scan", "--num-perm", "0", "x"], "invalid num_perm"),
        (&["scan", "--shingle", "0", "x"], "invalid shingle"),
        (&["scan", "--threshold", "abc", "x"], "invalid value 'abc'"),
        (
            &["scan", "/nonexistent/file.txt"],
            "cannot read /nonexistent/file.txt",
        ),
        (&["scan", binary.to_str().unwrap()], "is not UTF-8 text"),
        (&["scan"], "required"),
    ];
    for (args, message) in cases {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn empty_input_reports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let out = run(&["scan", empty.to_str().unwrap(), empty.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "0 of 0 paragraphs recycled in 2 files (0 too short to judge)\n"
    );
}

#[test]
fn split_flag_chooses_the_paragraphs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lines.txt");
    let line = "alpha beta gamma delta epsilon zeta eta theta";
    std::fs::write(&file, format!("{line}\n{line}\n\nshort\n")).unwrap();
    let f = file.to_str().unwrap();
    let summary = |args: &[&str]| {
        let out = run(&[&["scan"], args, &[f]].concat());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        summary(&[]),
        "0 of 2 paragraphs recycled in 1 file (1 too short to judge)"
    );
    assert_eq!(
        summary(&["--split", "lines"]),
        "1 of 3 paragraphs recycled in 1 file (1 too short to judge)"
    );
    assert_eq!(
        summary(&["--split", "none"]),
        "0 of 1 paragraphs recycled in 1 file (0 too short to judge)"
    );
    let out = run(&[
        "scan",
        "--split",
        "lines",
        "--server",
        "http://127.0.0.1:9",
        f,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid split"));
}
