//! Conversions between the `neardup.v1` messages and the engine's types, both ways: the
//! server turns requests into engine options and reports into messages; the `scan
//! --server` client turns messages back into engine [`Report`]s so the offline renderers
//! print them unchanged.
//!
//! Incoming values are checked here (ranges, enum values, offsets), so a bad message
//! becomes an [`Error::InvalidArgument`], never a panic.

use std::collections::HashMap;
use std::sync::Arc;

use super::pb;
use crate::editorial::EditorialOptions;
use crate::engine::{
    Aligned as AlignedCoverage, DocId, Match, ParagraphReport, ParagraphStatus, QueryOptions,
    Report, Settings, SourceRef, Span, Summary,
};
use crate::error::{Error, Result};
use crate::report::passage::{Passage, PassageOptions, passages};
use crate::report::{Aligned, Repaired};
use crate::service::StoredText;
use crate::text::repair::Repair;
use crate::text::{Fold, ParagraphSpan};
use crate::verify::{MatchKind, Scores};

/// The engine options of a request: the request's overrides over `defaults`, validated.
pub fn query_options(
    options: Option<pb::QueryOptions>,
    defaults: QueryOptions,
) -> Result<QueryOptions> {
    let Some(o) = options else {
        return Ok(defaults);
    };
    let opts = QueryOptions {
        threshold: o.threshold.unwrap_or(defaults.threshold),
        containment: o.containment.unwrap_or(defaults.containment),
        max_matches: o.max_matches.map_or(defaults.max_matches, |m| m as usize),
        spans: o.include_spans.unwrap_or(defaults.spans),
        edited: o.edited.unwrap_or(defaults.edited),
    };
    opts.validate()?;
    Ok(opts)
}

/// A report as a message. `this` is the id the engine gave the reported document (`None`
/// for a Check): matches pointing to it are marked `same_document`.
pub fn report_to_pb(report: Report, this: Option<DocId>) -> pb::Report {
    let passages = passages(&report, "", &|_| None, PassageOptions::default())
        .into_iter()
        .map(|p| passage_to_pb(p, this))
        .collect();
    pb::Report {
        passages,
        paragraphs: report
            .paragraphs
            .into_iter()
            .map(|p| pb::ParagraphReport {
                index: p.index as u32,
                start: p.start as u64,
                end: p.end as u64,
                line: p.line as u32,
                status: if p.boilerplate {
                    pb::ParagraphStatus::Boilerplate
                } else {
                    pb::ParagraphStatus::from(p.status)
                } as i32,
                matches: p
                    .matches
                    .into_iter()
                    .map(|m| match_to_pb(m, this))
                    .collect(),
            })
            .collect(),
        summary: Some(pb::Summary::from(report.summary)),
        repaired: Vec::new(),
        alignments: Vec::new(),
    }
}

/// The page-break repair and passage mode of a request: its choices over `defaults`;
/// an enum value this server does not know is an error.
pub fn editorial_options(
    options: Option<&pb::QueryOptions>,
    defaults: EditorialOptions,
) -> Result<EditorialOptions> {
    let Some(o) = options else {
        return Ok(defaults);
    };
    let repair = match pb::PageBreakRepair::try_from(o.repair) {
        Ok(pb::PageBreakRepair::Unspecified) => defaults.repair,
        Ok(pb::PageBreakRepair::Auto) => Repair::Auto,
        Ok(pb::PageBreakRepair::Off) => Repair::Off,
        Err(_) => {
            return Err(Error::invalid(
                "repair",
                format!("{} is not a PageBreakRepair value", o.repair),
            ));
        }
    };
    let passages = match pb::PassageMode::try_from(o.passage_mode) {
        Ok(pb::PassageMode::Unspecified) => defaults.passages,
        Ok(pb::PassageMode::On) => true,
        Ok(pb::PassageMode::Off) => false,
        Err(_) => {
            return Err(Error::invalid(
                "passage_mode",
                format!("{} is not a PassageMode value", o.passage_mode),
            ));
        }
    };
    Ok(EditorialOptions { repair, passages })
}

/// A repaired paragraph as a message (`this` as in [`report_to_pb`]).
pub fn repaired_to_pb(r: Repaired, this: Option<DocId>) -> pb::RepairedParagraph {
    pb::RepairedParagraph {
        pieces: r.pieces.into_iter().map(pb::Paragraph::from).collect(),
        matches: r
            .matches
            .into_iter()
            .map(|m| match_to_pb(m, this))
            .collect(),
    }
}

impl From<Aligned> for pb::Alignment {
    fn from(a: Aligned) -> pb::Alignment {
        pb::Alignment {
            source_document_id: a.source.to_string(),
            start: a.alignment.start as u64,
            end: a.alignment.end as u64,
            source_start: a.alignment.source_start as u64,
            source_end: a.alignment.source_end as u64,
        }
    }
}

fn passage_to_pb(p: Passage, this: Option<DocId>) -> pb::Passage {
    pb::Passage {
        source_document_id: p.source_name.to_string(),
        same_document: p.source_document.is_none() || p.source_document == this,
        start: p.range.start as u64,
        end: p.range.end as u64,
        source_start: p.source_range.start as u64,
        source_end: p.source_range.end as u64,
        line: p.range.first_line as u32,
        last_paragraph_line: p.range.last_line as u32,
        source_line: p.source_range.first_line as u32,
        source_last_paragraph_line: p.source_range.last_line as u32,
        pairs: p
            .pairs
            .iter()
            .map(|q| pb::PassagePair {
                paragraph: q.paragraph as u32,
                source_paragraph: q.source_paragraph as u32,
                kind: pb::MatchKind::from(q.kind) as i32,
            })
            .collect(),
        skipped: p.skipped.iter().map(|&i| i as u32).collect(),
    }
}

fn match_to_pb(m: Match, this: Option<DocId>) -> pb::Match {
    pb::Match {
        source: Some(pb::SourceParagraph {
            document_id: m.source.name.to_string(),
            // No id: the checked document itself, which is not stored.
            same_document: m.source.document.is_none() || m.source.document == this,
            paragraph: m.source.paragraph as u32,
            start: m.source.start as u64,
            end: m.source.end as u64,
            line: m.source.line as u32,
        }),
        kind: pb::MatchKind::from(m.kind) as i32,
        jaccard: m.scores.jaccard,
        containment: m.scores.containment,
        containment_source: m.scores.containment_source,
        shared_shingles: m.scores.shared as u32,
        spans: m.spans.into_iter().map(pb::Span::from).collect(),
        copies: m.copies as u32,
        aligned_coverage: m.aligned.map(|a| a.coverage),
        aligned_coverage_source: m.aligned.map(|a| a.coverage_source),
    }
}

impl From<ParagraphStatus> for pb::ParagraphStatus {
    fn from(s: ParagraphStatus) -> pb::ParagraphStatus {
        match s {
            ParagraphStatus::New => pb::ParagraphStatus::New,
            ParagraphStatus::Recycled => pb::ParagraphStatus::Recycled,
            ParagraphStatus::TooShort => pb::ParagraphStatus::TooShort,
        }
    }
}

impl From<MatchKind> for pb::MatchKind {
    fn from(k: MatchKind) -> pb::MatchKind {
        match k {
            MatchKind::Exact => pb::MatchKind::Exact,
            MatchKind::Near => pb::MatchKind::Near,
            MatchKind::Partial => pb::MatchKind::Partial,
            MatchKind::Edited => pb::MatchKind::Edited,
        }
    }
}

impl From<Span> for pb::Span {
    fn from(s: Span) -> pb::Span {
        pb::Span {
            start: s.start as u64,
            end: s.end as u64,
            source_start: s.source_start as u64,
            source_end: s.source_end as u64,
        }
    }
}

impl From<Summary> for pb::Summary {
    fn from(s: Summary) -> pb::Summary {
        pb::Summary {
            paragraphs: s.paragraphs as u32,
            recycled: s.recycled as u32,
            too_short: s.too_short as u32,
            recycled_share: s.recycled_share,
            distinct_sources: s.distinct_sources as u32,
            boilerplate: s.boilerplate as u32,
        }
    }
}

impl From<ParagraphSpan> for pb::Paragraph {
    fn from(p: ParagraphSpan) -> pb::Paragraph {
        pb::Paragraph {
            index: p.index as u32,
            start: p.start as u64,
            end: p.end as u64,
            line: p.line as u32,
        }
    }
}

impl From<StoredText> for pb::Document {
    fn from(d: StoredText) -> pb::Document {
        pb::Document {
            document_id: d.document.name.to_string(),
            text: d.text,
            paragraphs: d.paragraphs.into_iter().map(pb::Paragraph::from).collect(),
            metadata: d.document.metadata.into_iter().collect(),
            stored_at_unix_ms: d.document.stored_at_ms,
        }
    }
}

impl From<&Settings> for pb::EngineSettings {
    fn from(s: &Settings) -> pb::EngineSettings {
        let lsh = s.lsh_params();
        pb::EngineSettings {
            num_perm: s.num_perm as u32,
            bands: lsh.bands as u32,
            rows: lsh.rows as u32,
            shingle: s.shingle as u32,
            threshold: s.threshold,
            containment: s.containment,
            min_length: s.min_length,
            lsh_threshold: s.lsh_threshold,
            max_matches: s.max_matches as u32,
            fold: match s.fold {
                Fold::None => pb::HanFold::None,
                Fold::Simplified => pb::HanFold::Simplified,
            } as i32,
            boilerplate: s.boilerplate as u32,
        }
    }
}

// ---- messages back into engine types (the client side) ----

fn bad(message: impl Into<String>) -> Error {
    Error::invalid("response", message)
}

fn range(start: u64, end: u64, what: &str) -> Result<(usize, usize)> {
    let s = usize::try_from(start).map_err(|_| bad(format!("{what} start {start} too large")))?;
    let e = usize::try_from(end).map_err(|_| bad(format!("{what} end {end} too large")))?;
    if s > e {
        return Err(bad(format!("{what} starts at {s} after its end {e}")));
    }
    Ok((s, e))
}

/// Turns a report message back into an engine [`Report`]. `name` is the reported
/// document's name: `same_document` matches get it with `document: None`, as the engine's
/// own Check reports do. Other sources get ids local to this report (by first
/// appearance), since the server's internal ids never cross the wire.
pub fn report_from_pb(report: pb::Report, name: &str) -> Result<Report> {
    let this: Arc<str> = name.into();
    let mut ids: HashMap<String, DocId> = HashMap::new();
    let mut paragraphs = Vec::with_capacity(report.paragraphs.len());
    for p in report.paragraphs {
        let (start, end) = range(p.start, p.end, "paragraph")?;
        let status = match pb::ParagraphStatus::try_from(p.status) {
            Ok(pb::ParagraphStatus::New) => ParagraphStatus::New,
            Ok(pb::ParagraphStatus::Recycled) => ParagraphStatus::Recycled,
            Ok(pb::ParagraphStatus::TooShort) => ParagraphStatus::TooShort,
            Ok(pb::ParagraphStatus::Boilerplate) => ParagraphStatus::New,
            _ => return Err(bad(format!("unknown paragraph status {}", p.status))),
        };
        let mut matches = Vec::with_capacity(p.matches.len());
        for m in p.matches {
            let source = m.source.ok_or_else(|| bad("match without a source"))?;
            let kind = match pb::MatchKind::try_from(m.kind) {
                Ok(pb::MatchKind::Exact) => MatchKind::Exact,
                Ok(pb::MatchKind::Near) => MatchKind::Near,
                Ok(pb::MatchKind::Partial) => MatchKind::Partial,
                Ok(pb::MatchKind::Edited) => MatchKind::Edited,
                _ => return Err(bad(format!("unknown match kind {}", m.kind))),
            };
            let (s_start, s_end) = range(source.start, source.end, "source paragraph")?;
            let (document, name) = if source.same_document {
                (None, this.clone())
            } else {
                let next = ids.len() as DocId;
                let id = *ids.entry(source.document_id.clone()).or_insert(next);
                (Some(id), Arc::from(source.document_id.as_str()))
            };
            let mut spans = Vec::with_capacity(m.spans.len());
            for s in m.spans {
                let (start, end) = range(s.start, s.end, "span")?;
                let (source_start, source_end) = range(s.source_start, s.source_end, "span")?;
                spans.push(Span {
                    start,
                    end,
                    source_start,
                    source_end,
                });
            }
            matches.push(Match {
                source: SourceRef {
                    document,
                    name,
                    paragraph: source.paragraph as usize,
                    start: s_start,
                    end: s_end,
                    line: source.line as usize,
                },
                kind,
                scores: Scores {
                    jaccard: m.jaccard,
                    containment: m.containment,
                    containment_source: m.containment_source,
                    shared: m.shared_shingles as usize,
                },
                spans,
                copies: m.copies as usize,
                aligned: match (m.aligned_coverage, m.aligned_coverage_source) {
                    (Some(coverage), Some(coverage_source)) => Some(AlignedCoverage {
                        coverage,
                        coverage_source,
                    }),
                    _ => None,
                },
            });
        }
        if status == ParagraphStatus::Recycled && matches.is_empty() {
            return Err(bad(format!(
                "paragraph {} is recycled without a match",
                p.index
            )));
        }
        paragraphs.push(ParagraphReport {
            index: p.index as usize,
            start,
            end,
            line: p.line as usize,
            status,
            matches,
            boilerplate: p.status == pb::ParagraphStatus::Boilerplate as i32,
        });
    }
    let s = report
        .summary
        .ok_or_else(|| bad("report without a summary"))?;
    Ok(Report {
        paragraphs,
        summary: Summary {
            paragraphs: s.paragraphs as usize,
            recycled: s.recycled as usize,
            too_short: s.too_short as usize,
            recycled_share: s.recycled_share,
            distinct_sources: s.distinct_sources as usize,
            boilerplate: s.boilerplate as usize,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;

    #[test]
    fn report_round_trips() {
        let engine = Engine::new(Settings::default()).unwrap();
        let opts = engine.settings().query_options();
        let para = "The quick brown fox jumps over the lazy dog near the river bank today.";
        let text =
            format!("{para}\n\nSomething else entirely, written for this one test.\n\n{para}");
        let doc = engine.analyze(text);
        let report = engine
            .check(&doc, "me", &opts, &crate::engine::NoTexts)
            .unwrap();
        assert_eq!(report.summary.recycled, 1);
        let back = report_from_pb(report_to_pb(report.clone(), None), "me").unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn options_override_and_validate() {
        let defaults = Settings::default().query_options();
        assert_eq!(query_options(None, defaults).unwrap(), defaults);
        let o = query_options(
            Some(pb::QueryOptions {
                threshold: Some(0.5),
                max_matches: Some(3),
                include_spans: Some(false),
                ..Default::default()
            }),
            defaults,
        )
        .unwrap();
        assert_eq!(
            (o.threshold, o.containment, o.max_matches, o.spans),
            (0.5, defaults.containment, 3, false)
        );
        for bad in [
            pb::QueryOptions {
                threshold: Some(0.0),
                ..Default::default()
            },
            pb::QueryOptions {
                containment: Some(1.5),
                ..Default::default()
            },
            pb::QueryOptions {
                max_matches: Some(0),
                ..Default::default()
            },
            pb::QueryOptions {
                threshold: Some(f64::NAN),
                ..Default::default()
            },
        ] {
            assert!(matches!(
                query_options(Some(bad), defaults),
                Err(Error::InvalidArgument { .. })
            ));
        }
    }

    #[test]
    fn bad_messages_are_errors() {
        let mut r = pb::Report {
            paragraphs: vec![pb::ParagraphReport {
                start: 5,
                end: 2,
                status: 1,
                ..Default::default()
            }],
            summary: Some(pb::Summary::default()),
            ..Default::default()
        };
        assert!(report_from_pb(r.clone(), "x").is_err());
        r.paragraphs[0].end = 9;
        assert!(report_from_pb(r.clone(), "x").is_ok());
        r.paragraphs[0].status = 0;
        assert!(report_from_pb(r, "x").is_err());
    }
}
