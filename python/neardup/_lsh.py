"""``MinHashLSH``: datasketch's LSH index for MinHash, over neardup's banded index.

The bands × rows come from the crate's optimizer (the one datasketch's ``_optimal_param``
describes: minimize ``fp_weight · ∫₀ᵗ P + fn_weight · ∫ₜ¹ (1 - P)``); bucket keys are
the crate's hashes of each band's values, so a query returns every key that shares a band,
as datasketch's does, plus (once in 2^32 per band) a key whose band merely hashes alike.

The index lives in memory (datasketch's ``{"type": "dict"}`` storage). ``hashtables``
and ``keys`` are read-only snapshots, built on each access, for inspection.
"""

from __future__ import annotations

import pickle
from typing import Any, Dict, Hashable, Iterable, List, Optional, Set, Tuple

from . import _neardup

__all__ = ["MinHashLSH", "MinHashLSHInsertionSession", "MinHashLSHDeletionSession"]


def _bucket(key: int) -> bytes:
    # A band's bucket key as bytes, like datasketch's `_H` (its values, or their hash).
    return int(key).to_bytes(8, "little")


class MinHashLSH:
    """Index of MinHashes that answers "which keys likely have Jaccard above the threshold".

    Args:
        threshold: Jaccard similarity the bands × rows are tuned for, in [0, 1].
        num_perm: permutations of the MinHashes to index.
        weights: (false-positive weight, false-negative weight), summing to 1.
        params: (bands, rows), bypassing the optimization.
        storage_config: only ``{"type": "dict"}`` (in memory) is supported.
        prepickle: pickle keys before storing them (default: no).
        hashfunc: accepted for compatibility; bucket keys are always hashed.
    """

    def __init__(
        self,
        threshold: float = 0.9,
        num_perm: int = 128,
        weights: Tuple[float, float] = (0.5, 0.5),
        params: Optional[Tuple[int, int]] = None,
        storage_config: Optional[Dict[str, Any]] = None,
        prepickle: Optional[bool] = None,
        hashfunc: Any = None,
    ) -> None:
        storage_config = storage_config if storage_config else {"type": "dict"}
        if storage_config.get("type") != "dict":
            raise ValueError(
                "neardup.MinHashLSH keeps its index in memory: storage_config must be "
                f"{{'type': 'dict'}}, not {storage_config.get('type')!r}"
            )
        if threshold > 1.0 or threshold < 0.0:
            raise ValueError("threshold must be in [0.0, 1.0]")
        if num_perm < 2:
            raise ValueError("Too few permutation functions")
        if any(w < 0.0 or w > 1.0 for w in weights):
            raise ValueError("Weight must be in [0.0, 1.0]")
        if abs(sum(weights) - 1.0) > 1e-9:
            raise ValueError("Weights must sum to 1.0")
        self.threshold = threshold
        self.weights = tuple(weights)
        self.h = num_perm
        if params is not None:
            self.b, self.r = params
            if self.b * self.r > num_perm:
                raise ValueError(
                    "The product of b and r in params is "
                    f"{self.b} * {self.r} = {self.b * self.r} -- it must be less than "
                    f"num_perm {num_perm}. Did you forget to specify num_perm?"
                )
        else:
            self.b, self.r = _neardup.optimal_lsh_params(threshold, num_perm, *self.weights)
        if self.b < 2:
            raise ValueError("The number of bands are too small (b < 2)")
        self.prepickle = bool(prepickle)
        self.hashfunc = hashfunc
        self.buffer_size = 50000
        self._index = _neardup.LshIndex(self.b, self.r, num_perm)
        self._ids: Dict[Hashable, List[int]] = {}
        self._key_of: Dict[int, Hashable] = {}
        self._query_buffer: List[Any] = []

    # -- keys ------------------------------------------------------------------------

    def _stored(self, key: Hashable) -> Hashable:
        return pickle.dumps(key) if self.prepickle else key

    def _loaded(self, key: Hashable) -> Hashable:
        return pickle.loads(key) if self.prepickle else key  # type: ignore[arg-type]

    def _add(self, key: Hashable, entry: int) -> None:
        self._ids.setdefault(key, []).append(entry)
        self._key_of[entry] = key

    # -- the datasketch API ----------------------------------------------------------

    def insert(self, key: Hashable, minhash: Any, check_duplication: bool = True) -> None:
        """Indexes `minhash` under `key` (ValueError if the key exists and
        `check_duplication`; without it the key gets a second entry)."""
        self._insert(key, minhash, check_duplication)

    def _insert(self, key: Hashable, minhash: Any, check_duplication: bool = True) -> None:
        if len(minhash) != self.h:
            raise ValueError("Expecting minhash with length %d, got %d" % (self.h, len(minhash)))
        key = self._stored(key)
        if check_duplication and key in self._ids:
            raise ValueError("The given key already exists")
        self._add(key, self._index.insert(minhash))

    def query(self, minhash: Any) -> List[Hashable]:
        """The keys that share at least one band with `minhash` (candidates: verify them)."""
        if len(minhash) != self.h:
            raise ValueError("Expecting minhash with length %d, got %d" % (self.h, len(minhash)))
        keys = {self._key_of[i] for i in self._index.query(minhash)}
        return [self._loaded(k) for k in keys]

    def add_to_query_buffer(self, minhash: Any) -> None:
        """Buffers a query for `collect_query_buffer`."""
        if len(minhash) != self.h:
            raise ValueError("Expecting minhash with length %d, got %d" % (self.h, len(minhash)))
        self._query_buffer.append(minhash)

    def collect_query_buffer(self) -> List[Hashable]:
        """The keys every buffered query returns (their intersection); empties the buffer."""
        buffered, self._query_buffer = self._query_buffer, []
        results: Optional[Set[Hashable]] = None
        for minhash in buffered:
            keys = set(self.query(minhash))
            results = keys if results is None else results & keys
        return list(results or ())

    def remove(self, key: Hashable) -> None:
        """Removes every entry of `key` (ValueError if there is none)."""
        stored = self._stored(key)
        if stored not in self._ids:
            raise ValueError("The given key does not exist")
        for entry in self._ids.pop(stored):
            self._index.remove(entry)
            del self._key_of[entry]

    def __contains__(self, key: Hashable) -> bool:
        return self._stored(key) in self._ids

    def is_empty(self) -> bool:
        """True when nothing is indexed."""
        return len(self._index) == 0

    def insertion_session(self, buffer_size: int = 50000) -> "MinHashLSHInsertionSession":
        """A context manager for bulk insertion (inserts go straight to the index)."""
        return MinHashLSHInsertionSession(self, buffer_size)

    def deletion_session(self, buffer_size: int = 50000) -> "MinHashLSHDeletionSession":
        """A context manager for bulk removal."""
        return MinHashLSHDeletionSession(self, buffer_size)

    def merge(self, other: "MinHashLSH", check_overlap: bool = False) -> None:
        """Adds every entry of `other` (same num_perm, bands and rows)."""
        if type(self) is not type(other):
            raise ValueError(f"Cannot merge type MinHashLSH and type {type(other).__name__}.")
        if (self.h, self.b, self.r) != (other.h, other.b, other.r):
            raise ValueError("Cannot merge MinHashLSH with different initialization parameters.")
        if check_overlap and set(self._ids).intersection(other._ids):
            raise ValueError("The keys are overlapping, duplicate key exists.")
        for key, entries in list(other._ids.items()):
            for entry in entries:
                self._add(key, self._index.insert_band_keys(other._index.band_keys(entry)))

    # -- inspection ------------------------------------------------------------------

    def _entries(self) -> Iterable[Tuple[Hashable, List[int]]]:
        for entry in self._index.ids():
            yield self._key_of[entry], self._index.band_keys(entry)

    @property
    def hashtables(self) -> List[Dict[bytes, Set[Hashable]]]:
        """One dict per band: bucket key (bytes) → the keys in that bucket (a snapshot)."""
        tables: List[Dict[bytes, Set[Hashable]]] = [{} for _ in range(self.b)]
        for key, bands in self._entries():
            for table, band in zip(tables, bands):
                table.setdefault(_bucket(band), set()).add(key)
        return tables

    @property
    def keys(self) -> Dict[Hashable, List[bytes]]:
        """Key → its bucket keys, one per band and entry (a snapshot)."""
        out: Dict[Hashable, List[bytes]] = {}
        for key, bands in self._entries():
            out.setdefault(key, []).extend(_bucket(b) for b in bands)
        return out

    @property
    def hashranges(self) -> List[Tuple[int, int]]:
        """The slice of the signature each band covers."""
        return [(i * self.r, (i + 1) * self.r) for i in range(self.b)]

    def get_counts(self) -> List[Dict[bytes, int]]:
        """One dict per band: bucket key → number of keys in it."""
        return [{h: len(keys) for h, keys in t.items()} for t in self.hashtables]

    def get_subset_counts(self, *keys: Hashable) -> List[Dict[bytes, int]]:
        """`get_counts` restricted to the given keys."""
        wanted = {self._stored(k) for k in keys}
        tables: List[Dict[bytes, Set[Hashable]]] = [{} for _ in range(self.b)]
        for key, bands in self._entries():
            if key in wanted:
                for table, band in zip(tables, bands):
                    table.setdefault(_bucket(band), set()).add(key)
        return [{h: len(ks) for h, ks in t.items()} for t in tables]

    def __repr__(self) -> str:
        return (
            f"MinHashLSH(threshold={self.threshold}, num_perm={self.h}, b={self.b}, "
            f"r={self.r}, keys={len(self._ids)})"
        )

    # -- pickling --------------------------------------------------------------------

    def __getstate__(self) -> Dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("_index", "_ids", "_key_of")}
        state["_entries"] = list(self._entries())
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        entries = state.pop("_entries")
        self.__dict__.update(state)
        self._index = _neardup.LshIndex(self.b, self.r, self.h)
        self._ids = {}
        self._key_of = {}
        for key, bands in entries:
            self._add(key, self._index.insert_band_keys(bands))


class MinHashLSHInsertionSession:
    """Context manager for bulk insertion into a ``MinHashLSH``."""

    def __init__(self, lsh: MinHashLSH, buffer_size: int):
        self.lsh = lsh
        self.lsh.buffer_size = buffer_size

    def __enter__(self) -> "MinHashLSHInsertionSession":
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.close()

    def close(self) -> None:
        """Nothing is buffered: every insert is already in the index."""

    def insert(self, key: Hashable, minhash: Any, check_duplication: bool = True) -> None:
        self.lsh._insert(key, minhash, check_duplication=check_duplication)


class MinHashLSHDeletionSession:
    """Context manager for bulk removal from a ``MinHashLSH``."""

    def __init__(self, lsh: MinHashLSH, buffer_size: int):
        self.lsh = lsh
        self.lsh.buffer_size = buffer_size

    def __enter__(self) -> "MinHashLSHDeletionSession":
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.close()

    def close(self) -> None:
        """Nothing is buffered: every removal is already done."""

    def remove(self, key: Hashable) -> None:
        self.lsh.remove(key)
