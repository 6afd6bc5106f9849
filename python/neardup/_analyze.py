"""``analyze``: the engine's analysis of texts as columns, for pipelines doing their own joins."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable

from . import _neardup

__all__ = ["analyze"]

_COLUMNS = ("doc", "paragraph", "start", "end", "line", "length", "too_short", "content_hash")


def analyze(
    texts: Iterable[str],
    *,
    split: str = "auto",
    format: str = "arrow",
    signatures: bool = False,
    **settings: Any,
) -> Any:
    """Analyzes texts the way the engine does: one row per paragraph.

    Each text is cut into paragraphs (``split``: ``"auto"``, ``"blank-lines"``,
    ``"lines"`` or ``"none"``, which makes each text one paragraph, like the record unit
    of ``dedup``), normalized, shingled, signed and banded. Paragraphs of all texts are
    analyzed in parallel, without the GIL.

    Columns: ``doc`` (position of the text in ``texts``), ``paragraph``, ``start`` and
    ``end`` (code points), ``line``, ``length`` (in words; a Chinese character counts 2/3),
    ``too_short`` (below ``min_length``: such paragraphs get no band keys and are never
    matched), ``content_hash`` (equal for texts identical after normalization),
    ``shingles`` (the sorted set of 32-bit shingle hashes that Jaccard is computed on),
    ``band_keys`` (one LSH bucket key per band, uint64; candidates share one) and, with
    ``signatures=True``, ``signature`` (the MinHash values, ``num_perm`` of them).

    ``settings`` are the engine's (``neardup.engine_defaults()``); pass
    ``**neardup.dedup_defaults()`` for the band keys ``dedup`` uses.

    Returns a ``pyarrow.Table`` (``format="arrow"``; list columns are ``list<uint32>``
    and ``list<uint64>``; the settings are in the schema metadata under
    ``neardup.settings``), or with ``format="numpy"`` a dict of numpy arrays where each
    list column comes as values plus ``*_offsets`` (one more than there are rows).
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError("analyze takes a sequence of texts; wrap a single text in a list")
    if format not in ("arrow", "numpy"):
        raise ValueError(f"format must be 'arrow' or 'numpy', not {format!r}")
    if not isinstance(texts, (list, tuple)):
        texts = list(texts)
    columns: Dict[str, Any] = _neardup.analyze(
        texts, split=split, signatures=signatures, **settings
    )
    if format == "numpy":
        return columns
    return _to_arrow(columns)


def _list_array(pa: Any, offsets: Any, values: Any) -> Any:
    if len(values) < 2**31:
        return pa.ListArray.from_arrays(pa.array(offsets.astype("int32")), pa.array(values))
    return pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values))


def _to_arrow(columns: Dict[str, Any]) -> Any:
    try:
        import pyarrow as pa
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "analyze(format='arrow') needs pyarrow (pip install pyarrow), "
            "or use format='numpy'"
        ) from e
    arrays = {name: pa.array(columns[name]) for name in _COLUMNS}
    arrays["shingles"] = _list_array(pa, columns["shingle_offsets"], columns["shingles"])
    arrays["band_keys"] = _list_array(pa, columns["band_key_offsets"], columns["band_keys"])
    if "signatures" in columns:
        sig = columns["signatures"]
        arrays["signature"] = pa.FixedSizeListArray.from_arrays(
            pa.array(sig.reshape(-1)), sig.shape[1]
        )
    metadata = {"neardup.settings": json.dumps(columns["settings"])}
    return pa.table(arrays, metadata=metadata)
