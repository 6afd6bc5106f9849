//! Passages: runs of recycled paragraphs that follow one source document in order.
//!
//! An editor asks "which article is a reprint of which", not "which paragraph repeats
//! which". A passage is a run of paragraphs of the checked document whose matches point,
//! in the same order, at consecutive paragraphs of one source document: paragraph `i`
//! repeats source paragraph `j`, paragraph `i + 1` repeats `j + 1`, and so on. One
//! paragraph may be skipped on either side at each step (`max_gap`): a short heading, a
//! paragraph that is new, or one edited beyond recognition, on either side, does not
//! break a reprint in two.
//!
//! Passages are computed from a finished [`Report`] and change nothing in it: the
//! paragraph matches stay as they are. The function only reads paragraph indexes, ranges,
//! lines and match kinds, so it moves with the report types wherever they live.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::engine::{DocId, Report, SourceRef};
use crate::verify::MatchKind;

/// How passages are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassageOptions {
    /// Paragraphs that may be skipped between two steps, on either side.
    pub max_gap: usize,
    /// Fewest paired paragraphs a passage needs.
    pub min_paragraphs: usize,
}

impl Default for PassageOptions {
    fn default() -> PassageOptions {
        PassageOptions {
            max_gap: 1,
            min_paragraphs: 2,
        }
    }
}

/// One paragraph of a passage and the source paragraph it repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassagePair {
    /// Paragraph index in the checked document.
    pub paragraph: usize,
    /// Paragraph index in the source document.
    pub source_paragraph: usize,
    /// How it repeats it.
    pub kind: MatchKind,
}

/// Where a passage is, on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRange {
    /// First code point.
    pub start: usize,
    /// One past the last code point.
    pub end: usize,
    /// 1-based line of the first character.
    pub first_line: usize,
    /// 1-based line of the last character (the last paragraph's first line when that
    /// side's text is not available).
    pub last_line: usize,
}

/// How many pairs of each kind a passage has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KindMix {
    /// Identical after normalization.
    pub exact: usize,
    /// Lightly edited.
    pub near: usize,
    /// Fragments or supersets.
    pub partial: usize,
    /// Heavily edited copies, found by alignment.
    pub edited: usize,
}

impl KindMix {
    /// "18 exact, 1 near": the kinds present, most alike first.
    pub fn describe(&self) -> String {
        [
            (self.exact, "exact"),
            (self.near, "near"),
            (self.partial, "partial"),
            (self.edited, "edited"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, k)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// A run of recycled paragraphs that follows one source document.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// The source document (`None`: the checked document itself, not stored).
    pub source_document: Option<DocId>,
    /// The source document's name.
    pub source_name: Arc<str>,
    /// The paired paragraphs, in order on both sides.
    pub pairs: Vec<PassagePair>,
    /// Its range in the checked document.
    pub range: TextRange,
    /// Its range in the source document.
    pub source_range: TextRange,
    /// Paragraphs of the checked document inside the passage that are not paired
    /// (skipped: short, new or edited).
    pub skipped: Vec<usize>,
    /// Pairs by kind.
    pub kinds: KindMix,
}

/// One (paragraph, source paragraph) match, with what a passage needs from both.
#[derive(Debug, Clone)]
struct Pair {
    i: usize,
    j: usize,
    kind: MatchKind,
    source: SourceRef,
}

/// The passages of a report, longest first (ties: earliest first).
///
/// `text` is the checked document's text and `source_text` gives a source's text when
/// it is known (both only serve to find the last line of each side).
pub fn passages(
    report: &Report,
    text: &str,
    source_text: &dyn Fn(&SourceRef) -> Option<Arc<str>>,
    options: PassageOptions,
) -> Vec<Passage> {
    let mut by_source: BTreeMap<(Option<DocId>, Arc<str>), Vec<Pair>> = BTreeMap::new();
    for p in &report.paragraphs {
        for m in &p.matches {
            by_source
                .entry((m.source.document, m.source.name.clone()))
                .or_default()
                .push(Pair {
                    i: p.index,
                    j: m.source.paragraph,
                    kind: m.kind,
                    source: m.source.clone(),
                });
        }
    }
    let step = |a: usize, b: usize| b > a && b - a <= options.max_gap + 1;
    let mut out = Vec::new();
    for ((document, name), mut pairs) in by_source {
        pairs.sort_by_key(|p| (p.i, p.j));
        let mut used = vec![false; pairs.len()];
        loop {
            // Longest chain through unused pairs: best[k] = (length, previous).
            let mut best: Vec<(usize, Option<usize>)> = vec![(0, None); pairs.len()];
            for k in 0..pairs.len() {
                if used[k] {
                    continue;
                }
                best[k] = (1, None);
                // Pairs are sorted by paragraph: only the last `max_gap + 1` paragraphs
                // before this one can precede it, which keeps a long report linear.
                for l in (0..k).rev() {
                    if pairs[l].i + options.max_gap + 1 < pairs[k].i {
                        break;
                    }
                    if !used[l]
                        && step(pairs[l].i, pairs[k].i)
                        && step(pairs[l].j, pairs[k].j)
                        // `>=` going backwards: the earliest of equal chains wins.
                        && best[l].0 + 1 >= best[k].0
                    {
                        best[k] = (best[l].0 + 1, Some(l));
                    }
                }
            }
            let Some((end, &(len, _))) = best
                .iter()
                .enumerate()
                .max_by_key(|&(k, &(len, _))| (len, std::cmp::Reverse(k)))
            else {
                break;
            };
            if len < options.min_paragraphs.max(1) {
                break;
            }
            let mut chain = vec![end];
            while let Some(prev) = best[*chain.last().unwrap_or(&end)].1 {
                chain.push(prev);
            }
            chain.reverse();
            // A paragraph belongs to one passage per source: retire every pair of the
            // chain's paragraphs (a source paragraph may serve several copies).
            for (k, u) in used.iter_mut().enumerate() {
                if chain.iter().any(|&c| pairs[c].i == pairs[k].i) {
                    *u = true;
                }
            }
            let chained: Vec<&Pair> = chain.iter().map(|&c| &pairs[c]).collect();
            out.push(passage(
                report,
                text,
                source_text,
                document,
                &name,
                &chained,
            ));
        }
    }
    out.sort_by_key(|p| {
        (
            std::cmp::Reverse(p.pairs.len()),
            p.range.start,
            p.source_range.start,
        )
    });
    out
}

fn passage(
    report: &Report,
    text: &str,
    source_text: &dyn Fn(&SourceRef) -> Option<Arc<str>>,
    document: Option<DocId>,
    name: &Arc<str>,
    chain: &[&Pair],
) -> Passage {
    let (first, last) = (chain[0], chain[chain.len() - 1]);
    let paragraph = |i: usize| report.paragraphs.iter().find(|p| p.index == i);
    let (q_first, q_last) = (paragraph(first.i), paragraph(last.i));
    let range = TextRange {
        start: q_first.map_or(0, |p| p.start),
        end: q_last.map_or(0, |p| p.end),
        first_line: q_first.map_or(0, |p| p.line),
        last_line: q_last.map_or(0, |p| p.line + newlines(text, p.start, p.end)),
    };
    let source = source_text(&last.source);
    let source_range = TextRange {
        start: first.source.start,
        end: last.source.end,
        first_line: first.source.line,
        last_line: last.source.line
            + source.map_or(0, |t| newlines(&t, last.source.start, last.source.end)),
    };
    let mut kinds = KindMix::default();
    for p in chain {
        match p.kind {
            MatchKind::Exact => kinds.exact += 1,
            MatchKind::Near => kinds.near += 1,
            MatchKind::Partial => kinds.partial += 1,
            MatchKind::Edited => kinds.edited += 1,
        }
    }
    Passage {
        source_document: document,
        source_name: name.clone(),
        pairs: chain
            .iter()
            .map(|p| PassagePair {
                paragraph: p.i,
                source_paragraph: p.j,
                kind: p.kind,
            })
            .collect(),
        range,
        source_range,
        skipped: (first.i..=last.i)
            .filter(|i| !chain.iter().any(|p| p.i == *i))
            .collect(),
        kinds,
    }
}

/// Line breaks inside code points `start..end` of `text`.
fn newlines(text: &str, start: usize, end: usize) -> usize {
    text.chars()
        .skip(start)
        .take(end.saturating_sub(start))
        .filter(|&c| c == '\n')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Match, ParagraphReport, ParagraphStatus, Summary};
    use crate::verify::Scores;

    /// A report whose paragraph `i` (line `2i + 1`) repeats the given source paragraphs.
    fn report(rows: &[&[(u64, usize, MatchKind)]]) -> Report {
        let paragraphs = rows
            .iter()
            .enumerate()
            .map(|(i, ms)| ParagraphReport {
                index: i,
                start: 10 * i,
                end: 10 * i + 8,
                line: 2 * i + 1,
                status: if ms.is_empty() {
                    ParagraphStatus::New
                } else {
                    ParagraphStatus::Recycled
                },
                matches: ms
                    .iter()
                    .map(|&(doc, j, kind)| Match {
                        source: SourceRef {
                            document: Some(doc),
                            name: format!("doc{doc}").into(),
                            paragraph: j,
                            start: 100 * j,
                            end: 100 * j + 50,
                            line: 3 * j + 1,
                        },
                        kind,
                        scores: Scores {
                            jaccard: 1.0,
                            containment: 1.0,
                            containment_source: 1.0,
                            shared: 10,
                        },
                        spans: Vec::new(),
                        copies: 0,
                        aligned: None,
                    })
                    .collect(),
                boilerplate: false,
            })
            .collect();
        Report {
            paragraphs,
            summary: Summary::default(),
        }
    }

    /// (source document, paired paragraphs, skipped paragraphs) of each passage.
    type Found = (u64, Vec<(usize, usize)>, Vec<usize>);

    fn found(r: &Report) -> Vec<Found> {
        passages(r, "", &|_| None, PassageOptions::default())
            .into_iter()
            .map(|p| {
                (
                    p.source_document.unwrap(),
                    p.pairs
                        .iter()
                        .map(|q| (q.paragraph, q.source_paragraph))
                        .collect(),
                    p.skipped,
                )
            })
            .collect()
    }

    use MatchKind::{Exact, Near, Partial};

    #[test]
    fn consecutive_paragraphs_of_one_source_make_a_passage_across_one_gap() {
        let r = report(&[
            &[],
            &[(1, 4, Exact)],
            &[(1, 5, Near)],
            &[],              // new: skipped
            &[(1, 7, Exact)], // source paragraph 6 skipped too
            &[(1, 8, Partial)],
            &[],
            &[],
            &[(1, 9, Exact)], // two new paragraphs before it: a break
        ]);
        assert_eq!(
            found(&r),
            [(1, vec![(1, 4), (2, 5), (4, 7), (5, 8)], vec![3])]
        );
        let p = &passages(&r, "", &|_| None, PassageOptions::default())[0];
        assert_eq!(
            p.kinds,
            KindMix {
                exact: 2,
                near: 1,
                partial: 1,
                edited: 0
            }
        );
        assert_eq!(
            (p.range.start, p.range.end, p.range.first_line),
            (10, 58, 3)
        );
        assert_eq!((p.source_range.start, p.source_range.end), (400, 850));
        assert_eq!(
            (p.source_range.first_line, p.source_range.last_line),
            (13, 25)
        );
    }

    #[test]
    fn order_matters_and_sources_are_kept_apart() {
        let r = report(&[
            &[(1, 5, Exact), (2, 0, Exact)],
            &[(1, 4, Exact), (2, 1, Exact)],
            &[(1, 3, Exact)],
        ]);
        // Source 1 is followed backwards: no passage. Source 2 forwards: one.
        assert_eq!(found(&r), [(2, vec![(0, 0), (1, 1)], vec![])]);
    }

    #[test]
    fn a_single_recycled_paragraph_is_not_a_passage() {
        assert!(found(&report(&[&[(1, 0, Exact)], &[]])).is_empty());
    }

    #[test]
    fn a_source_repeated_twice_gives_one_passage_per_copy() {
        // Paragraphs 0–1 and 3–4 both repeat source paragraphs 0–1.
        let both: &[(u64, usize, MatchKind)] = &[(1, 0, Exact)];
        let both2: &[(u64, usize, MatchKind)] = &[(1, 1, Exact)];
        let r = report(&[both, both2, &[], both, both2]);
        assert_eq!(
            found(&r),
            [
                (1, vec![(0, 0), (1, 1)], vec![]),
                (1, vec![(3, 0), (4, 1)], vec![])
            ]
        );
    }
}
