"""neardup.MinHashLSH: datasketch's index API over neardup's banded index."""

from __future__ import annotations

import pickle
import random

import pytest

from neardup import MinHash, MinHashLSH

# (threshold, num_perm, weights) -> (b, r) as datasketch's `_optimal_param` computes them
# (scipy quad integration), computed once with datasketch's code.
DATASKETCH_PARAMS = {
    (0.2, 16, (0.05, 0.95)): (16, 1),
    (0.5, 16, (0.8, 0.2)): (4, 4),
    (0.5, 16, (0.05, 0.95)): (8, 2),
    (0.7, 16, (0.8, 0.2)): (2, 8),
    (0.2, 32, (0.05, 0.95)): (20, 1),
    (0.5, 32, (0.8, 0.2)): (6, 5),
    (0.5, 32, (0.05, 0.95)): (13, 2),
    (0.7, 32, (0.8, 0.2)): (3, 9),
    (0.2, 64, (0.05, 0.95)): (20, 1),
    (0.5, 64, (0.05, 0.95)): (21, 3),
    (0.1, 128, (0.5, 0.5)): (64, 2),
    (0.1, 128, (0.2, 0.8)): (27, 1),
    (0.2, 128, (0.5, 0.5)): (28, 2),
    (0.2, 128, (0.2, 0.8)): (56, 2),
    (0.2, 128, (0.05, 0.95)): (64, 2),
    (0.3, 128, (0.5, 0.5)): (37, 3),
    (0.3, 128, (0.2, 0.8)): (42, 3),
    (0.4, 128, (0.5, 0.5)): (32, 4),
    (0.4, 128, (0.2, 0.8)): (31, 3),
    (0.5, 128, (0.5, 0.5)): (25, 5),
    (0.5, 128, (0.2, 0.8)): (30, 4),
    (0.5, 128, (0.05, 0.95)): (26, 3),
    (0.6, 128, (0.5, 0.5)): (18, 7),
    (0.6, 128, (0.2, 0.8)): (23, 5),
    (0.7, 128, (0.5, 0.5)): (14, 9),
    (0.7, 128, (0.2, 0.8)): (18, 7),
    (0.8, 128, (0.5, 0.5)): (9, 13),
    (0.8, 128, (0.2, 0.8)): (12, 10),
    (0.9, 128, (0.5, 0.5)): (5, 25),
    (0.9, 128, (0.2, 0.8)): (7, 18),
    (0.2, 256, (0.05, 0.95)): (95, 2),
    (0.5, 256, (0.05, 0.95)): (53, 4),
}


def minhash(tokens, num_perm=128) -> MinHash:
    m = MinHash(num_perm=num_perm)
    m.update_batch(tokens)
    return m


def pair(rng: random.Random, jaccard: float, size: int = 200):
    """Two sets of `size` tokens with about that Jaccard similarity."""
    shared = round(2 * size * jaccard / (1 + jaccard))
    common = [rng.getrandbits(64).to_bytes(8, "little") for _ in range(shared)]
    a = common + [rng.getrandbits(64).to_bytes(8, "little") for _ in range(size - shared)]
    b = common + [rng.getrandbits(64).to_bytes(8, "little") for _ in range(size - shared)]
    return a, b


@pytest.mark.parametrize("args,expected", sorted(DATASKETCH_PARAMS.items()))
def test_bands_and_rows_are_datasketch_s(args, expected):
    threshold, num_perm, weights = args
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=weights)
    assert (lsh.b, lsh.r) == expected
    assert lsh.h == num_perm and lsh.is_empty()


def test_bad_parameters_raise_value_error():
    for kwargs in (
        dict(threshold=1.5),
        dict(num_perm=1),
        dict(weights=(0.5, 0.6)),
        dict(weights=(-0.5, 1.5)),
        dict(num_perm=16, params=(5, 4)),
        dict(num_perm=16, params=(1, 4)),
        dict(storage_config={"type": "redis", "redis": {"host": "localhost"}}),
    ):
        with pytest.raises(ValueError):
            MinHashLSH(**kwargs)
    lsh = MinHashLSH(threshold=0.5, num_perm=16)
    with pytest.raises(ValueError):
        lsh.insert("a", MinHash(num_perm=18))
    with pytest.raises(ValueError):
        lsh.query(MinHash(num_perm=18))


def test_query_follows_the_s_curve():
    rng = random.Random(5)
    lsh = MinHashLSH(threshold=0.5, num_perm=128)
    queries = {}
    for i in range(150):
        j = [0.1, 0.5, 0.9][i % 3]
        a, b = pair(rng, j)
        lsh.insert(("doc", i), minhash(a))
        queries[i] = (j, minhash(b))
    found = {0.1: 0, 0.5: 0, 0.9: 0}
    for i, (j, q) in queries.items():
        result = lsh.query(q)
        found[j] += ("doc", i) in result
        assert len(result) == len(set(result))
    # 25 bands of 5 rows: P(candidate) is 1.0000 at 0.9, 0.55 at 0.5 and 0.0003 at 0.1;
    # the bounds for 0.5 are 4.5 standard deviations of 50 draws.
    assert (lsh.b, lsh.r) == (25, 5)
    assert found[0.9] == 50
    assert 11 <= found[0.5] <= 44
    assert found[0.1] <= 1


def test_insert_query_remove_and_contains():
    lsh = MinHashLSH(threshold=0.5, num_perm=16)
    m1, m2 = minhash([b"a"], 16), minhash([b"b"], 16)
    lsh.insert("a", m1)
    lsh.insert("b", m2)
    assert "a" in lsh and "b" in lsh and "c" not in lsh and not lsh.is_empty()
    assert lsh.query(m1) == ["a"] and lsh.query(m2) == ["b"]
    with pytest.raises(ValueError):
        lsh.insert("a", m2)
    lsh.insert("a", m2, check_duplication=False)
    assert sorted(lsh.query(m2)) == ["a", "b"]
    lsh.remove("a")
    assert "a" not in lsh and lsh.query(m1) == [] and lsh.query(m2) == ["b"]
    with pytest.raises(ValueError):
        lsh.remove("a")
    lsh.remove("b")
    assert lsh.is_empty()


def test_views_sessions_counts_and_merge():
    lsh = MinHashLSH(threshold=0.5, num_perm=16)
    ms = {k: minhash([k.encode(), b"common"], 16) for k in "abcd"}
    with lsh.insertion_session() as session:
        for k in "abc":
            session.insert(k, ms[k])
    tables = lsh.hashtables
    assert len(tables) == lsh.b == len(lsh.get_counts())
    for i, h in enumerate(lsh.keys["a"]):
        assert "a" in tables[i][h] and len(h) == 8
    assert all(sum(t.values()) == 3 for t in lsh.get_counts())
    assert all(sum(t.values()) == 1 for t in lsh.get_subset_counts("b"))
    with lsh.deletion_session() as session:
        session.remove("c")
    assert "c" not in lsh.keys and all("c" not in ks for t in lsh.hashtables for ks in t.values())

    other = MinHashLSH(threshold=0.5, num_perm=16)
    other.insert("d", ms["d"])
    other.insert("a", ms["d"])
    with pytest.raises(ValueError):
        lsh.merge(other, check_overlap=True)
    lsh.merge(other)
    assert "d" in lsh and set(lsh.query(ms["d"])) >= {"a", "d"}
    with pytest.raises(ValueError):
        lsh.merge(MinHashLSH(threshold=0.5, num_perm=32))


def test_query_buffer_intersects_buffered_queries():
    lsh = MinHashLSH(threshold=0.5, num_perm=16)
    m1, m2 = minhash([b"a"], 16), minhash([b"b"], 16)
    lsh.insert("a", m1)
    lsh.insert("b", m2)
    lsh.add_to_query_buffer(m1)
    assert lsh.collect_query_buffer() == ["a"]
    lsh.add_to_query_buffer(m1)
    lsh.add_to_query_buffer(m2)
    assert lsh.collect_query_buffer() == []


def test_pickling_keeps_the_index_and_prepickle_keeps_keys():
    lsh = MinHashLSH(threshold=0.5, num_perm=16, prepickle=True)
    m1, m2 = minhash([b"a"], 16), minhash([b"b"], 16)
    lsh.insert(("a", 1), m1)
    lsh.insert(frozenset({"b"}), m2)
    again = pickle.loads(pickle.dumps(lsh))
    assert again.query(m1) == [("a", 1)] and again.query(m2) == [frozenset({"b"})]
    assert (again.b, again.r, again.h) == (lsh.b, lsh.r, lsh.h)
    assert ("a", 1) in again
    again.remove(("a", 1))
    assert again.query(m1) == [] and lsh.query(m1) == [("a", 1)]


def test_any_object_with_hashvalues_can_be_indexed():
    class Lean:
        def __init__(self, m):
            self.hashvalues = m.digest()

        def __len__(self):
            return len(self.hashvalues)

    lsh = MinHashLSH(threshold=0.5, num_perm=16)
    m = minhash([b"x", b"y"], 16)
    lsh.insert("x", Lean(m))
    assert lsh.query(m) == ["x"]
