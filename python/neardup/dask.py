"""``neardup.dask``: ``neardup dedup`` on a Dask DataFrame, with the in-process answer.

``dedup(ddf)`` removes the records that ``neardup.dedup`` (and ``neardup dedup``) would
remove from the same rows in the same order, over any number of partitions and workers,
and gives the same clusters:

1. **analysis per partition** (``map_partitions``): each record is cut into units
   (the record, or its paragraphs) and analyzed by the batch's own code: shingle set,
   content hash, LSH band keys, sketch. Units are numbered in input order (record
   ordinal, paragraph), the order the batch judges them in.
2. **the band join by shuffle**: one row per (bucket key, unit) and per (content hash,
   unit), shuffled on the key. The batch's buckets hold every judged unit in input
   order, kept or not, and a bucket of more than ``max_bucket`` earlier units is read
   for its first and most recent ones (``max_bucket // 8`` in all); so in each bucket
   every unit is paired with exactly the earlier units the batch reads, and pairs found
   in several buckets are kept once. In a content bucket (identical texts) each unit is
   paired with the one before it: a chain.
3. **exact verification** of every candidate pair, by the batch's verification (sketch
   test, exact Jaccard and containment), after joining both sides' sets by shuffle. A
   band pair is kept when it makes the later unit a duplicate of the earlier one; a
   chain pair when the two texts are identical.
4. **the keep/drop pass**, in input order of the later units, over those pairs (two
   integers each, the only data that reaches the client): a unit is a duplicate when one
   of its earlier band partners is *kept* (the batch's "only kept units are compared
   against" rule), or when an earlier identical unit is kept (the batch's exact-copy
   map); the chain carries the kept copy along. Connected components of the duplicate
   relation are the clusters, whose members' ids are then fetched.
5. **the records to drop** are sent back to the partitions, which filter their rows:
   the result is a lazy Dask DataFrame of the kept rows.

Memory per worker is bounded by the partition and shuffle sizes, not by the corpus; the
client holds the duplicate pairs (16 bytes each), the dropped records' numbers and the
clusters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

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
    and index unchanged). ``clusters`` are the objects of the CLI's ``--clusters`` JSON
    Lines, in the same order (as ``neardup.dedup(...).clusters``). The counts are
    computed.
    """

    kept: Any
    clusters: List[Dict[str, Any]] = field(repr=False)
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

# A band key's bucket in the batch's index is its upper half (``neardup::index::bucket_key``).
_BUCKET_MASK = np.uint64(0xFFFF_FFFF_0000_0000)


def _keys(units: pd.DataFrame) -> pd.DataFrame:
    counts = np.fromiter((len(k) for k in units["band_keys"]), dtype=np.int64, count=len(units))
    uid = units["uid"].to_numpy()
    keys = (
        np.concatenate([np.asarray(k, dtype=np.uint64) for k in units["band_keys"]])
        if len(units)
        else np.zeros(0, dtype=np.uint64)
    )
    band = pd.DataFrame(
        {
            "space": np.zeros(int(counts.sum()), dtype=np.uint8),
            "key": keys & _BUCKET_MASK,
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


_PAIR_COLUMNS = {"later": "int64", "earlier": "int64", "chain": "bool"}


def _pairs(keys: pd.DataFrame, max_bucket: int, sample: int) -> pd.DataFrame:
    """Each unit with the earlier units of its buckets that the batch reads (vectorized:
    a row per bucket entry, sorted, then as many pairs as the read policy gives it)."""
    k = keys.drop_duplicates().sort_values(["space", "key", "uid"])
    space = k["space"].to_numpy()
    key = k["key"].to_numpy()
    uid = k["uid"].to_numpy()
    n = len(uid)
    if n == 0:
        return _meta(_PAIR_COLUMNS)
    row = np.arange(n)
    first = np.ones(n, dtype=bool)
    first[1:] = (space[1:] != space[:-1]) | (key[1:] != key[:-1])
    start = np.maximum.accumulate(np.where(first, row, 0))
    j = row - start  # earlier units in the bucket
    chain = space == 1
    whole = j <= max_bucket
    count = np.where(chain, np.minimum(j, 1), np.where(whole, j, np.minimum(j, sample)))
    later = np.repeat(row, count)
    t = np.arange(len(later)) - np.repeat(np.cumsum(count) - count, count)
    # Chain: the unit before. Whole bucket: every earlier one. Large bucket: the first,
    # then the most recent.
    earlier = np.where(
        chain[later],
        later - 1,
        np.where(whole[later] | (t == 0), start[later] + t, later - t),
    )
    return pd.DataFrame(
        {"later": uid[later], "earlier": uid[earlier], "chain": chain[later]}
    )


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
    kind, duplicate = _neardup.verify_pairs(_side(joined, "_l"), _side(joined, "_e"), **settings)
    chain = joined["chain"].to_numpy(dtype=bool)
    keep = np.where(chain, kind == 1, duplicate)
    return joined.loc[keep, ["later", "earlier", "chain"]].reset_index(drop=True)


def _decide(edges: pd.DataFrame):
    """The keep/drop pass, in input order of the later units.

    Returns the duplicate units and the duplicate relation's edges (later, kept earlier):
    a band edge whose earlier unit is kept, and each unit with the kept unit it is an
    exact copy of.
    """
    duplicate: set = set()
    copy_of: Dict[int, int] = {}
    relation: List[tuple] = []
    edges = edges.sort_values(["later", "chain", "earlier"])
    later = edges["later"].to_numpy()
    earlier = edges["earlier"].to_numpy()
    chain = edges["chain"].to_numpy(dtype=bool)
    bounds = np.flatnonzero(np.diff(later)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(later)]):
        if hi == lo:
            continue
        u = int(later[lo])
        for e, c in zip(earlier[lo:hi].tolist(), chain[lo:hi].tolist()):
            if not c:
                if e not in duplicate:
                    relation.append((u, e))
            else:
                kept_copy = e if e not in duplicate else copy_of.get(e)
                if kept_copy is not None:
                    copy_of[u] = kept_copy
                    relation.append((u, kept_copy))
        if relation and relation[-1][0] == u:
            duplicate.add(u)
    return np.fromiter(sorted(duplicate), dtype=np.int64, count=len(duplicate)), relation


def _components(relation: List[tuple]) -> Dict[int, List[int]]:
    """The clusters of the duplicate relation: first unit → members, in input order."""
    parent: Dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in relation:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: Dict[int, List[int]] = {}
    for x in sorted(set(parent) | set(parent.values())):
        groups.setdefault(find(x), []).append(x)
    return dict(sorted((r, m) for r, m in groups.items() if len(m) > 1))


def _ids(part: pd.DataFrame, id_field: Optional[str], wanted: np.ndarray, offsets: np.ndarray,
         partition_info: Any = None) -> pd.DataFrame:
    first = int(offsets[partition_info["number"]]) if partition_info else 0
    ordinals = np.arange(first, first + len(part), dtype=np.int64)
    mine = np.isin(ordinals, wanted)
    if id_field is None:
        ids = pd.Series(ordinals[mine] + 1, dtype=object)
    else:
        column = part[id_field][mine]
        ids = column.astype(object).where(column.notna(), None).reset_index(drop=True)
    return pd.DataFrame({"record": ordinals[mine], "id": ids})


def _clusters(ddf: Any, id_field: Optional[str], unit: str, relation: List[tuple],
              offsets: np.ndarray) -> List[Dict[str, Any]]:
    groups = _components(relation)
    members = np.fromiter((x for m in groups.values() for x in m), dtype=np.int64)
    wanted = np.unique(members >> _SHIFT)
    meta = _meta({"record": "int64", "id": object})
    columns = [id_field] if id_field is not None else ddf.columns[:1].tolist()
    found = ddf[columns].map_partitions(_ids, id_field, wanted, offsets, meta=meta).compute()
    ids = dict(zip(found["record"].tolist(), found["id"].tolist()))

    def name(x: int) -> Any:
        record_id = _plain(ids[x >> _SHIFT])
        if unit == "paragraph":
            return {"id": record_id, "paragraph": x & ((1 << _SHIFT) - 1)}
        return record_id

    return [
        {"representative": name(r), "size": len(m), "members": [name(x) for x in m]}
        for r, m in groups.items()
    ]


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON would give."""
    return value.item() if isinstance(value, np.generic) else value


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
    id_field: str = "id",
    unit: str = "record",
    **settings: Any,
) -> DaskDedupResult:
    """Removes near-duplicate rows of a Dask DataFrame as ``neardup.dedup`` would.

    ``text_field`` names the text column and ``id_field`` the column that names records
    in the clusters (without one, a record is named by its 1-based position, as
    ``neardup.dedup`` does); ``unit`` is ``"record"`` or ``"paragraph"`` (a row is
    removed when all its paragraphs long enough to judge are duplicates); ``settings``
    are those of ``neardup.dedup_defaults()``. Rows keep their order, so row order is
    input order, as in ``neardup.dedup(ddf.compute())``.

    Runs on the current Dask scheduler (a ``distributed.Client`` if one is active).
    Returns the kept rows (lazy), the clusters and the counts (computed).
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
    # The batch's read policy for a larger bucket (`Settings::read_policy`).
    sample = max(max_bucket // 8, 1)

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
        .map_partitions(_pairs, max_bucket, sample, meta=_meta(_PAIR_COLUMNS))
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
    duplicate, relation = _decide(edges)
    removed = units.map_partitions(
        _removed_records, duplicate, meta=_meta({"record": "int64"})
    ).compute()["record"].to_numpy(dtype=np.int64)
    kept = ddf.map_partitions(_keep, removed, offsets, meta=ddf._meta)
    names = id_field if id_field in ddf.columns else None
    return DaskDedupResult(
        kept=kept,
        clusters=_clusters(ddf, names, unit, relation, offsets),
        records=records,
        duplicate_records=len(removed),
        duplicate_units=len(duplicate),
        candidate_pairs=int(candidate_pairs),
    )


def _compute(*collections: Any):
    import dask

    return dask.compute(*collections)
