"""``neardup.dask``: ``neardup dedup`` on a Dask DataFrame, with the in-process answer.

``dedup(ddf)`` removes the records that ``neardup.dedup`` (and ``neardup dedup``) would
remove from the same rows in the same order, over any number of partitions and workers:

1. **analysis per partition** (``map_partitions``): each record is cut into units
   (the record, or its paragraphs) and analyzed by the batch's own code: shingle set,
   content hash, LSH band keys, sketch. Units are numbered in input order (record
   ordinal, paragraph), the order the batch judges them in.
2. **the band join by shuffle**: one row per (band key, unit) and per (content hash,
   unit), shuffled on the key; in each bucket every unit is paired with the earlier
   units of the bucket (at most ``max_bucket`` of them: the first and the most recent),
   and pairs found in several buckets are kept once.
3. **exact verification** of every candidate pair, by the batch's verification (sketch
   test, exact Jaccard and containment), after joining both sides' sets by shuffle. A pair
   is kept when it makes the later unit a duplicate of the earlier one.
4. **the keep/drop pass**: the duplicate pairs (two integers each, the only data that
   reaches the client) are taken in input order of their later unit; a unit is a
   duplicate when one of its earlier partners is *kept*, which is the batch's "only
   kept units are compared against" rule. Connected components of these pairs never need
   to be formed: each unit depends only on earlier ones.
5. **the records to drop** are sent back to the partitions, which filter their rows:
   the result is a lazy Dask DataFrame of the kept rows.

Memory per worker is bounded by the partition and shuffle sizes, not by the corpus; the
client holds the duplicate pairs (16 bytes each) and the dropped records' numbers.

The answer equals the in-process one whenever no bucket holds more than ``max_bucket``
(64 by default) earlier units; past that, the batch reads a sample of a bucket's *kept*
units, which depends on decisions made on the way, while step 2 pairs a unit with the
first and the ``max_bucket`` most recent units of any kind, so the two may differ on such
(boilerplate) buckets. The in-process batch itself depends on its chunk size there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

import numpy as np
import pandas as pd

from . import _neardup

__all__ = ["dedup", "DaskDedupResult"]

# Units are numbered record << _SHIFT | paragraph: input order, as the batch judges them.
_SHIFT = 24


@dataclass
class DaskDedupResult:
    """What ``neardup.dask.dedup`` found.

    ``kept`` is a lazy Dask DataFrame of the rows that are not duplicates (their columns
    and index unchanged). The counts are computed.
    """

    kept: Any
    records: int
    duplicate_records: int
    duplicate_units: int
    candidate_pairs: int


_UNIT_COLUMNS = {
    "uid": "int64",
    "record": "int64",
    "content_hash": "uint64",
    "shingles": object,
    "band_keys": object,
    "sketch": object,
}


def _meta(columns: Dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(dtype=v) for k, v in columns.items()})


def _units(part: pd.DataFrame, text_field: str, unit: str, settings: Dict[str, Any],
           offsets: np.ndarray, partition_info: Any = None) -> pd.DataFrame:
    first = int(offsets[partition_info["number"]]) if partition_info else 0
    texts = part[text_field].tolist()
    c = _neardup.dedup_units(texts, unit=unit, **settings)
    record = c["record"].astype("int64") + first
    so, sh = c["shingle_offsets"], c["shingles"]
    ko, keys = c["band_key_offsets"], c["band_keys"]
    n = len(record)
    return pd.DataFrame(
        {
            "uid": (record << _SHIFT) | c["paragraph"].astype("int64"),
            "record": record,
            "content_hash": c["content_hash"],
            "shingles": pd.Series([sh[so[i] : so[i + 1]] for i in range(n)], dtype=object),
            "band_keys": pd.Series([keys[ko[i] : ko[i + 1]] for i in range(n)], dtype=object),
            "sketch": pd.Series([bytes(row) for row in c["sketch"]], dtype=object),
        }
    )


_KEY_COLUMNS = {"space": "uint8", "key": "uint64", "uid": "int64"}


def _keys(units: pd.DataFrame) -> pd.DataFrame:
    counts = np.fromiter((len(k) for k in units["band_keys"]), dtype=np.int64, count=len(units))
    uid = units["uid"].to_numpy()
    band = pd.DataFrame(
        {
            "space": np.zeros(int(counts.sum()), dtype=np.uint8),
            "key": np.concatenate([np.asarray(k, dtype=np.uint64) for k in units["band_keys"]])
            if len(units)
            else np.zeros(0, dtype=np.uint64),
            "uid": np.repeat(uid, counts),
        }
    )
    exact = pd.DataFrame(
        {
            "space": np.ones(len(units), dtype=np.uint8),
            "key": units["content_hash"].to_numpy(dtype=np.uint64),
            "uid": uid,
        }
    )
    return pd.concat([band, exact], ignore_index=True)


_PAIR_COLUMNS = {"later": "int64", "earlier": "int64"}


def _pairs(keys: pd.DataFrame, max_bucket: int) -> pd.DataFrame:
    later, earlier = [], []
    for _, group in keys.groupby(["space", "key"], sort=False):
        uids = np.unique(group["uid"].to_numpy())
        for j in range(1, len(uids)):
            if j <= max_bucket:
                before = uids[:j]
            else:
                before = np.concatenate([uids[:1], uids[j - max_bucket + 1 : j]])
            later.append(np.full(len(before), uids[j], dtype=np.int64))
            earlier.append(before)
    if not later:
        return _meta(_PAIR_COLUMNS)
    return pd.DataFrame({"later": np.concatenate(later), "earlier": np.concatenate(earlier)})


def _side(frame: pd.DataFrame, suffix: str):
    sets = [np.asarray(s, dtype=np.uint32) for s in frame["shingles" + suffix]]
    offsets = np.zeros(len(sets) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in sets], out=offsets[1:])
    values = np.concatenate(sets) if sets else np.zeros(0, dtype=np.uint32)
    sketch = np.frombuffer(b"".join(frame["sketch" + suffix]), dtype=np.uint8).reshape(-1, 64)
    return values, offsets, frame["content_hash" + suffix].to_numpy(dtype=np.uint64), sketch


def _verify(joined: pd.DataFrame, settings: Dict[str, Any]) -> pd.DataFrame:
    if len(joined) == 0:
        return _meta(_PAIR_COLUMNS)
    _, duplicate = _neardup.verify_pairs(_side(joined, "_l"), _side(joined, "_e"), **settings)
    return joined.loc[duplicate, ["later", "earlier"]].reset_index(drop=True)


def _dropped_units(edges: pd.DataFrame) -> np.ndarray:
    """The units that are duplicates: in input order, a unit with a kept earlier partner."""
    duplicate: set = set()
    edges = edges.sort_values(["later", "earlier"])
    later = edges["later"].to_numpy()
    earlier = edges["earlier"].to_numpy()
    bounds = np.flatnonzero(np.diff(later)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(later)]):
        if hi > lo and any(int(e) not in duplicate for e in earlier[lo:hi]):
            duplicate.add(int(later[lo]))
    return np.fromiter(sorted(duplicate), dtype=np.int64, count=len(duplicate))


def _removed_records(units: pd.DataFrame, duplicate: np.ndarray) -> pd.DataFrame:
    """Records whose every judged unit is a duplicate."""
    is_dup = np.isin(units["uid"].to_numpy(), duplicate)
    per = pd.DataFrame({"record": units["record"].to_numpy(), "dup": is_dup})
    g = per.groupby("record")["dup"].agg(["size", "sum"])
    return pd.DataFrame({"record": g.index[g["size"] == g["sum"]].to_numpy(dtype=np.int64)})


def _keep(part: pd.DataFrame, removed: np.ndarray, offsets: np.ndarray,
          partition_info: Any = None) -> pd.DataFrame:
    first = int(offsets[partition_info["number"]]) if partition_info else 0
    ordinals = np.arange(first, first + len(part), dtype=np.int64)
    return part[~np.isin(ordinals, removed)]


def dedup(
    ddf: Any,
    text_field: str = "text",
    unit: str = "record",
    **settings: Any,
) -> DaskDedupResult:
    """Removes near-duplicate rows of a Dask DataFrame as ``neardup.dedup`` would.

    ``text_field`` names the text column; ``unit`` is ``"record"`` or ``"paragraph"``
    (a row is removed when all its paragraphs long enough to judge are duplicates);
    ``settings`` are those of ``neardup.dedup_defaults()``. Rows keep their order, so
    row order is input order, as in ``neardup.dedup(ddf.compute())``.

    Runs on the current Dask scheduler (a ``distributed.Client`` if one is active).
    Returns the kept rows (lazy) and the counts (computed).
    """
    if text_field not in ddf.columns:
        raise KeyError(f"the DataFrame has no column {text_field!r} (text_field)")
    if unit not in ("record", "paragraph"):
        raise ValueError(f"invalid unit {unit!r}: expected record or paragraph")
    # Validates the settings before any work (and gives max_bucket its default).
    defaults = _neardup.dedup_defaults()
    unknown = set(settings) - set(defaults)
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    _neardup.dedup_units([], unit=unit, **settings)
    max_bucket = int(settings.get("max_bucket", defaults["max_bucket"]))

    lengths = ddf.map_partitions(len, meta=(None, "int64")).compute()
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=offsets[1:])
    records = int(offsets[-1])

    units = ddf[[text_field]].map_partitions(
        _units, text_field, unit, settings, offsets, meta=_meta(_UNIT_COLUMNS)
    ).persist()
    nparts = units.npartitions
    keys = units.map_partitions(_keys, meta=_meta(_KEY_COLUMNS))
    pairs = (
        keys.shuffle(["space", "key"], npartitions=nparts)
        .map_partitions(_pairs, max_bucket, meta=_meta(_PAIR_COLUMNS))
        .drop_duplicates(split_out=nparts)
    )
    side = units[["uid", "content_hash", "shingles", "sketch"]]
    joined = pairs.merge(
        side.rename(columns=lambda c: c + "_l"), left_on="later", right_on="uid_l",
        npartitions=nparts,
    ).merge(
        side.rename(columns=lambda c: c + "_e"), left_on="earlier", right_on="uid_e",
        npartitions=nparts,
    )
    verified = joined.map_partitions(_verify, settings, meta=_meta(_PAIR_COLUMNS))
    candidates = pairs.shape[0]
    edges, candidate_pairs = _compute(verified, candidates)
    duplicate = _dropped_units(edges)
    removed = units.map_partitions(
        _removed_records, duplicate, meta=_meta({"record": "int64"})
    ).compute()["record"].to_numpy(dtype=np.int64)
    kept = ddf.map_partitions(_keep, removed, offsets, meta=ddf._meta)
    return DaskDedupResult(
        kept=kept,
        records=records,
        duplicate_records=len(removed),
        duplicate_units=len(duplicate),
        candidate_pairs=int(candidate_pairs),
    )


def _compute(*collections: Any):
    import dask

    return dask.compute(*collections)
