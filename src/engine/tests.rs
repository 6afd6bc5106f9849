//! Unit tests of the embedded engine.

use super::*;
use crate::error::Error;
use crate::verify::MatchKind;
use std::collections::HashMap;
use std::sync::Mutex;

/// The texts the tests submitted, standing in for a store.
#[derive(Default)]
struct Store(Mutex<HashMap<String, Arc<str>>>);

impl Texts for Store {
    fn text(&self, name: &str) -> impl std::future::Future<Output = Option<Arc<str>>> + Send {
        std::future::ready(self.0.lock().unwrap().get(name).cloned())
    }
}

const A: &str = "The committee reviewed the annual budget in detail and found that spending on roads had doubled.";
const B: &str = "Rainfall in the northern provinces was well below the seasonal average for the third year running.";

fn engine() -> Engine {
    Engine::new(Settings::default()).unwrap()
}

fn submit(e: &Engine, name: &str, text: &str) -> Result<Submitted> {
    submit_with(e, &Store::default(), name, text, false)
}

fn submit_with(
    e: &Engine,
    store: &Store,
    name: &str,
    text: &str,
    replace: bool,
) -> Result<Submitted> {
    let opts = e.settings().query_options();
    let done = e.submit(
        name,
        &e.analyze(text),
        BTreeMap::new(),
        0,
        &opts,
        replace,
        Split::Auto,
        store,
    )?;
    store
        .0
        .lock()
        .unwrap()
        .insert(name.to_string(), text.into());
    Ok(done)
}

fn sources(r: &Report) -> Vec<Vec<(Option<DocId>, usize, MatchKind)>> {
    r.paragraphs
        .iter()
        .map(|p| {
            p.matches
                .iter()
                .map(|m| (m.source.document, m.source.paragraph, m.kind))
                .collect()
        })
        .collect()
}

#[test]
fn submit_reports_earlier_documents_and_own_repeats() {
    let e = engine();
    let first = submit(&e, "a", &format!("{A}\n\n{B}")).unwrap();
    assert!(first.created);
    assert_eq!(first.report.summary.recycled, 0);
    let second = submit(&e, "b", &format!("{B}\n\nshort one\n\n{B}")).unwrap();
    let s = sources(&second.report);
    assert_eq!(s[0], [(Some(first.id), 1, MatchKind::Exact)]);
    assert_eq!(
        second.report.paragraphs[1].status,
        ParagraphStatus::TooShort
    );
    assert_eq!(
        s[2],
        [
            (Some(first.id), 1, MatchKind::Exact),
            (Some(second.id), 0, MatchKind::Exact)
        ]
    );
    assert_eq!(second.report.summary.distinct_sources, 2);
    assert_eq!(second.report.summary.recycled, 2);
}

#[test]
fn check_indexes_nothing_and_names_the_checked_document() {
    let e = engine();
    let doc = e.analyze(format!("{A}\n\n{A}"));
    let r = e
        .check(&doc, "draft", &e.settings().query_options(), &NoTexts)
        .unwrap();
    assert_eq!(r.paragraphs[1].matches[0].source.document, None);
    assert_eq!(&*r.paragraphs[1].matches[0].source.name, "draft");
    assert_eq!(e.stats().documents, 0);
    assert_eq!(e.stats().paragraphs, 0);
    assert!(
        e.check(
            &e.analyze(A),
            "again",
            &e.settings().query_options(),
            &NoTexts
        )
        .unwrap()
        .paragraphs[0]
            .matches
            .is_empty()
    );
}

#[test]
fn resubmission_is_idempotent_conflicts_or_replaces() {
    let e = engine();
    let store = Store::default();
    let id = submit_with(&e, &store, "a", A, false).unwrap().id;
    let again = submit_with(&e, &store, "a", A, false).unwrap();
    assert_eq!((again.id, again.created), (id, false));
    assert!(
        again.report.paragraphs[0].matches.is_empty(),
        "a document does not match itself"
    );
    assert_eq!(
        submit_with(&e, &store, "a", B, false),
        Err(Error::AlreadyExists("a".into()))
    );
    let opts = e.settings().query_options();
    let replaced = submit_with(&e, &store, "a", B, true).unwrap();
    assert!(replaced.replaced && replaced.created);
    assert_eq!(
        e.document("a").unwrap().text_hash,
        xxhash_rust::xxh3::xxh3_64(B.as_bytes())
    );
    assert_eq!(e.stats().documents, 1);
    assert!(
        e.check(&e.analyze(A), "q", &opts, &NoTexts)
            .unwrap()
            .paragraphs[0]
            .matches
            .is_empty()
    );
}

#[test]
fn removed_documents_match_nothing() {
    let e = engine();
    submit(&e, "a", A).unwrap();
    let opts = e.settings().query_options();
    assert_eq!(
        e.check(&e.analyze(A), "q", &opts, &NoTexts)
            .unwrap()
            .summary
            .recycled,
        1
    );
    let removed = e.remove("a").unwrap();
    assert_eq!(&*removed.name, "a");
    assert_eq!(
        e.check(&e.analyze(A), "q", &opts, &NoTexts)
            .unwrap()
            .summary
            .recycled,
        0
    );
    assert_eq!(e.remove("a").unwrap_err(), Error::NotFound("a".into()));
    assert_eq!(e.stats().paragraphs, 0);
    assert!(submit(&e, "", A).is_err());
}

#[test]
fn a_document_of_identical_paragraphs_reports_bounded_matches() {
    let e = engine();
    let text = vec![A; 3000].join("\n\n");
    let r = submit(&e, "same", &text).unwrap().report;
    assert_eq!(r.summary.recycled, 2999);
    let max = e.settings().max_matches;
    assert!(
        r.paragraphs[1..]
            .iter()
            .all(|p| p.matches.len() == p.index.min(max))
    );
    // The original is reported (with the number of copies read), then copies among the
    // nearest earlier ones.
    let last = &r.paragraphs[2999].matches;
    assert_eq!(last[0].source.paragraph, 0);
    assert!(last[0].copies >= max, "{}", last[0].copies);
    assert!(
        last[1..]
            .iter()
            .all(|m| m.source.paragraph >= 2999 - 2 * max - 8)
    );
}

#[test]
fn invalid_settings_and_options_are_refused() {
    for s in [
        Settings {
            threshold: 0.0,
            ..Settings::default()
        },
        Settings {
            containment: 1.5,
            ..Settings::default()
        },
        Settings {
            num_perm: 0,
            ..Settings::default()
        },
        Settings {
            shingle: 0,
            ..Settings::default()
        },
        Settings {
            min_length: f64::NAN,
            ..Settings::default()
        },
    ] {
        assert!(matches!(Engine::new(s), Err(Error::InvalidArgument { .. })));
    }
    let e = engine();
    let bad = QueryOptions {
        max_matches: 0,
        ..e.settings().query_options()
    };
    assert!(e.check(&e.analyze(A), "q", &bad, &NoTexts).is_err());
}

/// Two near-duplicates (one word apart) submitted by two threads, interleaved by the test
/// hook: `a` appends to its first `split` buckets, waits for `b` to finish, then goes on.
/// Returns, for each, the names of the documents its report matched.
fn interleaved(split: usize) -> (Vec<String>, Vec<String>) {
    use std::sync::Barrier;
    let words: Vec<String> = (0..40).map(|w| format!("w{w}")).collect();
    let a_text = words.join(" ");
    let mut b_words = words.clone();
    b_words[20] = "changed".into();
    let b_text = b_words.join(" ");
    let e = Arc::new(engine());
    let (paused, resume) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    {
        let (paused, resume) = (paused.clone(), resume.clone());
        *e.index().after_append.write().unwrap() = Some(Arc::new(move |name: &str, n| {
            if name == "a" && n == split {
                paused.wait();
                resume.wait();
            }
        }));
    }
    let names = |s: &Submitted| -> Vec<String> {
        s.report.paragraphs[0]
            .matches
            .iter()
            .map(|m| m.source.name.to_string())
            .collect()
    };
    let a = {
        let e = e.clone();
        std::thread::spawn(move || names(&submit(&e, "a", &a_text).unwrap()))
    };
    paused.wait();
    let b = names(&submit(&e, "b", &b_text).unwrap());
    resume.wait();
    (a.join().unwrap(), b)
}

#[test]
fn of_two_interleaved_near_duplicates_exactly_one_reports_the_other() {
    let bands = Settings::default().lsh_params().bands;
    // `a` paused before any band (b sees a only in its exact bucket, which they do not
    // share), in the middle (each sees the other on some buckets), and after all of them.
    for split in [1, 2, bands / 2, bands, bands + 1] {
        let (a, b) = interleaved(split);
        assert_eq!(
            a.len() + b.len(),
            1,
            "paused after {split} buckets: a reports {a:?}, b reports {b:?}"
        );
    }
}
