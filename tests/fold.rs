//! Traditional ↔ Simplified folding against text converted by another tool: every
//! distinct magazine paragraph and its zh-Hant forms from OpenCC's own converter
//! (`tests/data/zh-hant/make_fixture.py`, Python `opencc`). With folding, a reprint in
//! Traditional characters is the same paragraph as its Simplified original; without it,
//! it is mostly a different one.

use neardup::text::{Fold, analyze_paragraph_with, tokenize_with};
use neardup::verify::scores;
use serde_json::Value;

const FIXTURE: &str = include_str!("data/zh-hant/magazine-hant.jsonl");
const SEED: u64 = 0x6e65_6172_6475_7030;

fn rows() -> Vec<Value> {
    FIXTURE
        .lines()
        .map(|l| serde_json::from_str(l).expect("fixture lines are JSON"))
        .collect()
}

#[test]
fn hant_reprints_match_their_hans_originals_only_when_folded() {
    let (mut pairs, mut exact_folded, mut exact_plain) = (0, 0, 0);
    let (mut min_folded, mut sum_plain) = (1.0f64, 0.0f64);
    for row in rows() {
        let hans = row["hans"].as_str().unwrap();
        for variant in ["s2t", "s2tw", "s2hk"] {
            let hant = row[variant].as_str().unwrap();
            pairs += 1;
            let [a, b] = [hans, hant].map(|t| analyze_paragraph_with(t, 2, SEED, Fold::Simplified));
            let [c, d] = [hans, hant].map(|t| analyze_paragraph_with(t, 2, SEED, Fold::None));
            exact_folded += usize::from(a.content_hash == b.content_hash);
            exact_plain += usize::from(c.content_hash == d.content_hash);
            min_folded = min_folded.min(scores(&a.set, &b.set).jaccard);
            sum_plain += scores(&c.set, &d.set).jaccard;
        }
    }
    let mean_plain = sum_plain / pairs as f64;
    eprintln!(
        "{pairs} pairs: exact folded {exact_folded}, exact unfolded {exact_plain}, \
         min Jaccard folded {min_folded:.3}, mean Jaccard unfolded {mean_plain:.3}"
    );
    assert_eq!(pairs, 159);
    // Every reprint is the same paragraph once folded (OpenCC converts character for
    // character here, and folding undoes each conversion).
    assert_eq!(exact_folded, pairs);
    assert_eq!(min_folded, 1.0);
    assert_eq!(exact_plain, 0);
    assert!(mean_plain < 0.3, "{mean_plain}");
}

#[test]
fn folded_tokens_keep_offsets_on_the_characters_as_written() {
    for row in rows().iter().take(10) {
        let hant = row["s2t"].as_str().unwrap();
        let hans = row["hans"].as_str().unwrap();
        let chars: Vec<char> = hant.chars().collect();
        let folded = tokenize_with(hant, Fold::Simplified);
        let plain = tokenize_with(hant, Fold::None);
        let offsets =
            |t: &[neardup::text::Token]| t.iter().map(|t| (t.start, t.end)).collect::<Vec<_>>();
        assert_eq!(offsets(&folded), offsets(&plain));
        // OpenCC kept every paragraph's length, so a token at the same offsets in the
        // original is the same character once folded.
        let original = tokenize_with(hans, Fold::Simplified);
        for (t, o) in folded.iter().zip(&original) {
            assert_eq!((t.start, t.end), (o.start, o.end));
            if t.hash != o.hash {
                let piece: String = chars[t.start as usize..t.end as usize].iter().collect();
                panic!("{piece:?} does not fold to its original");
            }
        }
    }
}
