"""The engine's reports as plain Python objects.

The fields are those of the gRPC messages of ``proto/neardup/v1/neardup.proto`` (``Report``,
``Document``, ``StatsResponse``). Offsets are code points of the text as given, so
``text[p.start:p.end]`` is the paragraph; ``end`` is exclusive and lines are 1-based.
Statuses and kinds are strings: ``"new"``, ``"recycled"``, ``"too_short"``; ``"exact"``,
``"near"``, ``"partial"``. ``dataclasses.asdict`` turns any of them into plain dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional


@dataclass
class Span:
    """A run of shared text, as code-point ranges in this document and in the source."""

    start: int
    end: int
    source_start: int
    source_end: int


@dataclass
class SourceParagraph:
    """The earlier paragraph a match points to."""

    document_id: str
    #: True when the source is an earlier paragraph of the document being reported on.
    same_document: bool
    paragraph: int
    start: int
    end: int
    line: int


@dataclass
class Match:
    """One earlier paragraph that a paragraph repeats, with exact scores over shingle sets
    (Q: this paragraph, S: the source)."""

    source: SourceParagraph
    #: ``"exact"``, ``"near"``, ``"partial"`` or ``"edited"`` (a heavily edited copy,
    #: found by aligning the words).
    kind: str
    #: |Q ∩ S| / |Q ∪ S|.
    jaccard: float
    #: |Q ∩ S| / |Q|: how much of this paragraph is in the source.
    containment: float
    #: |Q ∩ S| / |S|: how much of the source is in this paragraph.
    containment_source: float
    #: |Q ∩ S|.
    shared_shingles: int
    spans: List[Span] = field(default_factory=list)
    #: Later paragraphs identical to this source that this paragraph also repeats (the
    #: list leads with distinct sources; the copies follow when there is room).
    copies: int = 0
    #: For ``edited`` matches only (else ``None``): the share of this paragraph's words
    #: inside the aligned runs shared with the source...
    aligned_coverage: Optional[float] = None
    #: ...and the share of the source's words.
    aligned_coverage_source: Optional[float] = None


@dataclass
class ParagraphReport:
    """The report on one paragraph."""

    index: int
    start: int
    end: int
    line: int
    #: ``"new"``, ``"recycled"`` or ``"too_short"``.
    status: str
    #: Best first: exact, then near, then partial; higher Jaccard first.
    matches: List[Match] = field(default_factory=list)
    #: Boilerplate (a masthead, a copyright line: exact or near copies in at least
    #: ``boilerplate`` documents): reported without matches, not as recycling.
    boilerplate: bool = False


@dataclass
class Summary:
    """Totals over a document's report."""

    paragraphs: int
    recycled: int
    too_short: int
    #: Share of the paragraphs' code points that lie in recycled paragraphs.
    recycled_share: float
    #: Distinct documents matched (the document itself counts when it repeats itself).
    distinct_sources: int
    #: Paragraphs that are boilerplate (not counted as recycled).
    boilerplate: int = 0


@dataclass
class Report:
    """The report on one document: one entry per paragraph, in order."""

    paragraphs: List[ParagraphReport]
    summary: Summary

    def recycled(self) -> List[ParagraphReport]:
        """The paragraphs with at least one match."""
        return [p for p in self.paragraphs if p.matches]


@dataclass
class Submitted:
    """What ``Engine.submit`` did."""

    document_id: str
    #: ``"created"``, ``"unchanged"`` (same text already stored) or ``"replaced"``.
    outcome: str
    #: Against everything indexed before this document.
    report: Report


@dataclass
class Paragraph:
    """Where a paragraph is in its document."""

    index: int
    start: int
    end: int
    line: int


@dataclass
class Document:
    """A stored document."""

    document_id: str
    #: The text as submitted (the store keeps it; the index does not).
    text: str
    paragraphs: List[Paragraph]
    metadata: Dict[str, str]
    stored_at_unix_ms: int


@dataclass
class EngineSettings:
    """The settings an engine runs with (``EngineSettings`` of the gRPC ``Stats``)."""

    num_perm: int
    bands: int
    rows: int
    shingle: int
    threshold: float
    containment: float
    min_length: float
    lsh_threshold: float
    max_matches: int


@dataclass
class Stats:
    """Counts and sizes of an engine."""

    documents: int
    #: Indexed paragraphs (too-short ones are not indexed).
    paragraphs: int
    #: Bytes held by the LSH and exact-match tables.
    index_bytes: int
    settings: EngineSettings
