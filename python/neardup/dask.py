"""``neardup.dask``: ``neardup dedup`` on a Dask DataFrame, with the in-process answer.

``dedup(ddf)`` removes the records that ``neardup.dedup`` (and ``neardup dedup``) would
remove from the same rows in the same order, over any number of partitions and workers,
and gives the same clusters:

1. **analysis per partition** (one task per partition, persisted): each record is cut
   into units (the record, or its paragraphs) and analyzed by the batch's own code:
   shingle set, content hash, LSH bucket keys, sketch, in flat arrays. Units are numbered
   in input order (record ordinal, paragraph), the order the batch judges them in.
2. **the band join by shuffle**: one row per (bucket key, unit) and per (content hash,
   unit), shuffled on the key. The batch's buckets hold every judged unit in input
   order, kept or not, and a bucket of more than ``max_bucket`` earlier units is read
   for its first and most recent ones (``max_bucket // 8`` in all); so in each bucket
   every unit is paired with exactly the earlier units the batch reads, and pairs found
   in several buckets are kept once. In a content bucket (identical texts) each unit is
   paired with the one before it: a chain.
3. **exact verification** of every candidate pair, by the batch's verification (sketch
   test, exact Jaccard and containment), in blocks: the pairs are shuffled by the pair
   of partitions their units are in, and each block is verified against those two
   partitions' arrays, so no set travels with a pair (a partition's arrays go to each
   of the blocks that need them instead, about half of all). A band pair is kept when it
   makes the later unit a duplicate of the earlier one; a chain pair when the two texts
   are identical.
4. **the keep/drop pass**, in input order of the later units, over those pairs (two
   integers each, the only data that reaches the client): a unit is a duplicate when one
   of its earlier band partners is *kept* (the batch's "only kept units are compared
   against" rule), or when an earlier identical unit is kept (the batch's exact-copy
   map); the chain carries the kept copy along. Connected components of the duplicate
   relation are the clusters, whose members' ids are then fetched.
5. **the records to drop** are sent back to the partitions, which filter their rows:
   the result is a lazy Dask DataFrame of the kept rows.

Memory per worker is bounded by the partition and shuffle sizes, not by the corpus (a
block task holds two partitions' arrays and the pairs between them); the client holds
the duplicate pairs (16 bytes each), the dropped records' numbers and the clusters.
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


def _meta(columns: Dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(dtype=v) for k, v in columns.items()})


def _analyze(part: pd.DataFrame, text_field: str, unit: str, settings: Dict[str, Any],
             first: int) -> Dict[str, np.ndarray]:
    """One partition's units, as the batch analyzes them, in flat arrays (one row per
    unit, sorted by uid): what the band join and the verification of its blocks read."""
    c = _neardup.dedup_units(part[text_field].tolist(), unit=unit, **settings)
    record = c["record"].astype("int64") + first
    c["record"] = record
    c["uid"] = (record << _SHIFT) | c["paragraph"].astype("int64")
    return c


_KEY_COLUMNS = {"space": "uint8", "key": "uint64", "uid": "int64"}


def _keys(c: Dict[str, np.ndarray]) -> pd.DataFrame:
    uid = c["uid"]
    counts = np.diff(c["bucket_key_offsets"])
    band = pd.DataFrame(
        {
            "space": np.zeros(int(counts.sum()), dtype=np.uint8),
            "key": c["bucket_keys"],
            "uid": np.repeat(uid, counts),
        }
    )
    exact = pd.DataFrame(
        {
            "space": np.ones(len(uid), dtype=np.uint8),
            "key": c["content_hash"],
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


def _sides(c: Dict[str, np.ndarray]):
    return c["shingles"], c["shingle_offsets"], c["content_hash"], c["sketch"]


def _block(pairs: pd.DataFrame, offsets: np.ndarray, nparts: int) -> pd.DataFrame:
    """Each pair with its block: the partitions of its later and earlier units (a pair
    of partitions (l, e), e ≤ l, numbered l (l + 1) / 2 + e)."""
    part = lambda uid: np.searchsorted(offsets, uid >> _SHIFT, side="right") - 1
    later, earlier = part(pairs["later"].to_numpy()), part(pairs["earlier"].to_numpy())
    return pairs.assign(block=later * (later + 1) // 2 + earlier)


def _verify_block(pairs: pd.DataFrame, later: Dict[str, np.ndarray],
                  earlier: Dict[str, np.ndarray], settings: Dict[str, Any]):
    """The pairs between two partitions, verified with the partitions' own arrays (no
    set travels with a pair): the pairs kept, and how many there were."""
    if len(pairs) == 0:
        return _meta(_PAIR_COLUMNS), 0
    li = np.searchsorted(later["uid"], pairs["later"].to_numpy())
    ei = np.searchsorted(earlier["uid"], pairs["earlier"].to_numpy())
    kind, duplicate = _neardup.verify_pairs(_sides(later), _sides(earlier), li, ei, **settings)
    chain = pairs["chain"].to_numpy(dtype=bool)
    keep = np.where(chain, kind == 1, duplicate)
    return pairs.loc[keep, ["later", "earlier", "chain"]].reset_index(drop=True), len(pairs)


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


def _removed_records(c: Dict[str, np.ndarray], duplicate: np.ndarray) -> np.ndarray:
    """Records whose every judged unit is a duplicate."""
    record = c["record"]
    dup = np.isin(c["uid"], duplicate)
    records, judged = np.unique(record, return_counts=True)
    duplicates = np.bincount(np.searchsorted(records, record[dup]), minlength=len(records))
    return records[judged == duplicates]


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

    import dask
    import dask.dataframe as dd

    lengths = ddf.map_partitions(len, meta=(None, "int64")).compute()
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=offsets[1:])
    records = int(offsets[-1])
    nparts = ddf.npartitions

    analyze = dask.delayed(_analyze, pure=True)
    units = dask.persist(*[
        analyze(part, text_field, unit, settings, int(offsets[i]))
        for i, part in enumerate(ddf[[text_field]].to_delayed())
    ])
    keys = dd.from_delayed([dask.delayed(_keys)(c) for c in units], meta=_meta(_KEY_COLUMNS))
    pairs = (
        keys.shuffle(["space", "key"], npartitions=nparts)
        .map_partitions(_pairs, max_bucket, sample, meta=_meta(_PAIR_COLUMNS))
        .drop_duplicates(split_out=nparts)
    )
    # Verification by blocks of two partitions: each block's pairs are gathered by a
    # shuffle on the block number, and verified against the two partitions' arrays.
    blocks = [(later, earlier) for later in range(nparts) for earlier in range(later + 1)]
    by_block = (
        pairs.map_partitions(_block, offsets, nparts, meta=_meta({**_PAIR_COLUMNS, "block": "int64"}))
        .set_index("block", divisions=list(range(len(blocks) + 1)))
        .to_delayed()
    )
    verify = dask.delayed(_verify_block, pure=True)
    verified = [verify(by_block[k], units[later], units[earlier], settings)
                for k, (later, earlier) in enumerate(blocks)]
    done = dask.compute(*verified)
    edges = pd.concat([d[0] for d in done], ignore_index=True)
    candidate_pairs = sum(d[1] for d in done)
    duplicate, relation = _decide(edges)
    removed = np.concatenate(
        dask.compute(*[dask.delayed(_removed_records)(c, duplicate) for c in units])
    ).astype(np.int64)
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
