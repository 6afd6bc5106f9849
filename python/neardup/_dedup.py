"""``dedup``: the batch deduplication of ``neardup dedup`` over Python records.

The records are streamed, a batch at a time, into the crate's batch run (the one the CLI
runs), so the result is the CLI's on the same records: the same kept records, the same
matches and clusters, whatever the number of threads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from . import _neardup

__all__ = ["dedup", "DedupResult", "DedupSummary", "BadRecord"]

# An id or text that a record does not have (not the same as None, which is JSON null).
_MISSING = object()


@dataclass
class BadRecord:
    """A record that could not be used: it is kept, and not compared."""

    #: 0-based position of the record in the input.
    index: int
    reason: str


@dataclass
class DedupSummary:
    """Totals of a run (the CLI's closing line, and more)."""

    records: int
    bad_records: int
    bad: List[BadRecord]
    units: int
    judged_units: int
    matched_units: int
    duplicate_units: int
    duplicate_records: int
    boilerplate_units: int
    clusters: int
    indexed_units: int
    index_bytes: int
    id_bytes: int
    bands: int
    rows: int


@dataclass
class DedupResult:
    """What ``dedup`` found.

    ``kept`` and ``kept_index`` are the records that are not duplicates (their ids, and
    their 0-based positions in the input: ``df.iloc[result.kept_index]`` keeps them).
    ``matches`` and ``clusters`` are the objects of the CLI's ``--matches`` and
    ``--clusters`` JSON Lines, in the same order. A record without an id is called by its
    1-based position, as the CLI calls it by its line number.
    """

    kept: List[Any]
    kept_index: Any
    matches: List[Dict[str, Any]] = field(repr=False)
    clusters: List[Dict[str, Any]] = field(repr=False)
    summary: DedupSummary


def _is_pandas(obj: Any) -> bool:
    return type(obj).__module__.startswith("pandas") and hasattr(obj, "iloc")


def _is_arrow(obj: Any) -> bool:
    return type(obj).__module__.startswith("pyarrow")


def _pandas_column(frame: Any, name: str) -> List[Any]:
    column = frame[name]
    # Missing values (NaN, NA, NaT) become None, which is JSON null.
    return column.astype(object).where(column.notna(), None).tolist()


def _pandas_batches(frame: Any, text_field: str, id_field: str, size: int) -> Iterator[Tuple]:
    if text_field not in frame.columns:
        raise KeyError(f"the DataFrame has no column {text_field!r} (text_field)")
    has_ids = id_field in frame.columns
    for start in range(0, len(frame), size):
        chunk = frame.iloc[start : start + size]
        ids = _pandas_column(chunk, id_field) if has_ids else None
        yield ids, _pandas_column(chunk, text_field)


def _arrow_batches(data: Any, text_field: str, id_field: str, size: int) -> Iterator[Tuple]:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        batches: Iterable[Any] = data.to_batches(max_chunksize=size)
        schema = data.schema
    elif isinstance(data, pa.RecordBatch):
        batches, schema = [data], data.schema
    elif isinstance(data, pa.RecordBatchReader):
        batches, schema = data, data.schema
    else:
        raise TypeError(f"cannot deduplicate a {type(data).__name__}")
    if text_field not in schema.names:
        raise KeyError(f"the table has no column {text_field!r} (text_field)")
    has_ids = id_field in schema.names
    for batch in batches:
        for start in range(0, batch.num_rows, size):
            part = batch.slice(start, size)
            ids = part.column(id_field).to_pylist() if has_ids else None
            yield ids, part.column(text_field).to_pylist()


def _record_batches(
    records: Iterable[Any], text_field: str, id_field: str, size: int
) -> Iterator[Tuple]:
    ids: List[Any] = []
    texts: List[Any] = []
    for n, record in enumerate(records):
        if not hasattr(record, "get"):
            raise TypeError(f"record {n} is a {type(record).__name__}, not a dict")
        ids.append(record.get(id_field, _MISSING))
        texts.append(record.get(text_field, _MISSING))
        if len(texts) >= size:
            yield ids, texts
            ids, texts = [], []
    if texts:
        yield ids, texts


def dedup(
    records: Any,
    text_field: str = "text",
    id_field: str = "id",
    unit: str = "record",
    *,
    strict: bool = False,
    threads: Optional[int] = None,
    batch_size: int = 8192,
    ignore_boilerplate: bool = False,
    **settings: Any,
) -> DedupResult:
    """Removes near-duplicate records (or paragraphs), as ``neardup dedup`` does.

    ``records`` is an iterable of dicts, a pandas DataFrame, or a pyarrow Table,
    RecordBatch or RecordBatchReader; ``text_field`` and ``id_field`` name the text and
    the id (any JSON value; a record without one is called by its 1-based position).
    ``unit="record"`` compares whole records, ``unit="paragraph"`` every paragraph with
    every earlier one; a record is removed when all its paragraphs long enough to judge
    are duplicates. Only kept units are compared against, in input order.

    A record whose text is missing or not a string (None, NaN) is a bad record: it is
    counted, listed in ``summary.bad`` and kept; ``strict=True`` raises ValueError on the
    first one instead. ``threads`` defaults to one per core; ``settings`` are those of
    ``neardup.dedup_defaults()`` (``threshold``, ``containment``, ``num_perm``,
    ``shingle``, ``min_length``, ``max_matches``, ``fold``, ``boilerplate``, and the
    tuning ones). ``ignore_boilerplate=True`` (paragraph units) sets boilerplate apart
    as ``neardup dedup --ignore-boilerplate`` does: a paragraph whose duplicates are
    already in ``boilerplate - 1`` other records neither makes its record a duplicate
    nor keeps it, and is left out of the matches and clusters.

    The work runs without the GIL while records are read in batches of ``batch_size``;
    memory holds the index and a few batches, not the input.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if _is_pandas(records):
        batches = _pandas_batches(records, text_field, id_field, batch_size)
    elif _is_arrow(records):
        batches = _arrow_batches(records, text_field, id_field, batch_size)
    elif isinstance(records, (str, bytes, dict)):
        raise TypeError("dedup takes an iterable of records (dicts), a DataFrame or a Table")
    else:
        batches = _record_batches(records, text_field, id_field, batch_size)
    summary, matches, clusters, kept, kept_index = _neardup.dedup(
        batches,
        _MISSING,
        text_field=text_field,
        unit=unit,
        strict=strict,
        threads=threads,
        ignore_boilerplate=ignore_boilerplate,
        **settings,
    )
    summary["bad"] = [BadRecord(line - 1, reason) for line, reason in summary["bad"]]
    return DedupResult(
        kept=json.loads(kept),
        kept_index=kept_index.astype("int64"),
        matches=[json.loads(line) for line in matches.splitlines()],
        clusters=[json.loads(line) for line in clusters.splitlines()],
        summary=DedupSummary(**summary),
    )
