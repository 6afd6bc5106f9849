"""neardup.MinHash: datasketch's interface, neardup's permutations, the same meaning."""

from __future__ import annotations

import copy
import math
import pickle
import random

import numpy as np
import pytest

import neardup
from neardup import MinHash


def sets(seed: int, shared: int, only_a: int, only_b: int):
    rng = random.Random(seed)
    common = [rng.getrandbits(64).to_bytes(8, "little") for _ in range(shared)]
    a = common + [rng.getrandbits(64).to_bytes(8, "little") for _ in range(only_a)]
    b = common + [rng.getrandbits(64).to_bytes(8, "little") for _ in range(only_b)]
    return a, b


def minhash(values, num_perm=256, seed=1) -> MinHash:
    m = MinHash(num_perm=num_perm, seed=seed)
    m.update_batch(values)
    return m


def test_empty_minhash_and_defaults():
    m = MinHash()
    assert m.is_empty() and len(m) == 128 and m.seed == 1 and m.hashfunc is None
    assert m.digest().dtype == np.uint64
    assert (m.digest() == 2**32 - 1).all()
    assert m.count() == 0.0
    m.update(b"x")
    assert not m.is_empty()
    m.clear()
    assert m.is_empty()


@pytest.mark.parametrize("shared,only_a,only_b", [(100, 100, 100), (300, 30, 60), (10, 200, 200), (0, 50, 50)])
def test_jaccard_estimate_is_within_its_error(shared, only_a, only_b):
    for seed in range(5):
        a, b = sets(seed, shared, only_a, only_b)
        exact = shared / (shared + only_a + only_b)
        est = minhash(a, seed=seed).jaccard(minhash(b, seed=seed))
        bound = 5 * math.sqrt(exact * (1 - exact) / 256) + 1 / 256
        assert abs(est - exact) <= bound, (seed, est, exact)


def test_update_and_update_batch_agree_in_any_order():
    values = [f"token {i}".encode() for i in range(300)]
    one = MinHash()
    for v in reversed(values):
        one.update(v)
    assert one == minhash(values, num_perm=128)
    # str is hashed as its UTF-8 bytes; bytearray and memoryview as their bytes.
    assert minhash(["é", "x"]) == minhash(["é".encode(), bytearray(b"x")])
    assert minhash([memoryview(b"abc")]) == minhash([b"abc"])
    with pytest.raises(TypeError):
        MinHash().update(12)


def test_merge_is_union_and_count_estimates_cardinality():
    a, b = sets(3, 400, 300, 300)
    m = minhash(a)
    m.merge(minhash(b))
    assert m == minhash(a + b)
    union = len(set(a) | set(b))
    # Relative standard error about 1/sqrt(256): 5 of them.
    assert abs(m.count() - union) <= 0.32 * union
    u = MinHash.union(minhash(a), minhash(b))
    assert u == m and type(u) is MinHash


def test_mismatched_minhashes_raise_value_error():
    m = MinHash(num_perm=128, seed=1)
    for other in (MinHash(num_perm=128, seed=2), MinHash(num_perm=64, seed=1)):
        with pytest.raises(ValueError):
            m.jaccard(other)
        with pytest.raises(ValueError):
            m.merge(other)
        with pytest.raises(ValueError):
            MinHash.union(m, other)
    with pytest.raises(ValueError):
        MinHash.union(m)
    with pytest.raises(ValueError):
        MinHash(num_perm=0)
    with pytest.raises(ValueError):
        MinHash(hashfunc=42)


def test_equality_copy_and_pickling():
    m = minhash([b"a", b"b", b"c"], num_perm=64, seed=9)
    assert m == m.copy() and m.copy() is not m
    assert m != minhash([b"a", b"b", b"c"], num_perm=64, seed=10)
    assert m != minhash([b"a", b"b"], num_perm=64, seed=9)
    assert m != m.digest()
    c = m.copy()
    c.update(b"d")
    assert c != m, "a copy is independent"
    for clone in (pickle.loads(pickle.dumps(m)), copy.copy(m), copy.deepcopy(m)):
        assert clone == m
        assert np.array_equal(clone.permutations, m.permutations)
        clone.update(b"d")
        assert clone == c, "the clone keeps the permutations"
    with pytest.raises(TypeError):
        hash(m)


def test_hashvalues_and_permutations_rebuild_a_minhash():
    m = minhash([b"a", b"b"], num_perm=32, seed=4)
    assert m.permutations.shape == (2, 32) and m.permutations.dtype == np.uint64
    again = MinHash(seed=4, hashvalues=m.digest(), permutations=m.permutations)
    assert again == m and len(again) == 32
    again.update(b"c")
    assert again == minhash([b"a", b"b", b"c"], num_perm=32, seed=4)
    # Other permutations: another family, still consistent with itself and picklable.
    a, c = m.permutations
    custom = MinHash(num_perm=32, seed=4, permutations=(a[::-1], c[::-1]))
    custom.update_batch([b"a", b"b"])
    assert custom != m
    assert pickle.loads(pickle.dumps(custom)) == custom
    assert np.array_equal(pickle.loads(pickle.dumps(custom)).permutations, custom.permutations)
    with pytest.raises(ValueError):
        MinHash(num_perm=32, permutations=(a[:3], c[:3]))
    with pytest.raises(ValueError):
        MinHash(hashvalues=[2**32])
    m.hashvalues = np.zeros(32, dtype=np.uint64)
    assert m.count() == float("inf") and not m.is_empty()


def test_hashfunc_results_are_folded_to_32_bits():
    def fold(x: int) -> int:
        x &= 2**64 - 1
        return (x ^ (x >> 32)) & 0xFFFFFFFF

    batch = MinHash(num_perm=16, hashfunc=lambda x: x)
    batch.update_batch([12, 2**40 + 5, -3, 2**70 + 9])
    one_by_one = MinHash(num_perm=16, hashfunc=lambda x: x)
    for v in (12, 2**40 + 5, -3, 2**70 + 9):
        a = MinHash(num_perm=16, hashfunc=lambda x: x)
        a.update(v)
        b = MinHash(num_perm=16, hashfunc=lambda x: x)
        b.update(fold(v))
        assert a == b, v
        one_by_one.update(v)
    assert batch == one_by_one
    with pytest.raises(TypeError):
        MinHash(hashfunc=lambda x: "not an int").update(b"a")


def test_bulk_and_generator_build_one_minhash_per_set():
    data = [[b"a", b"b"], [b"c"], []]
    built = MinHash.bulk(data, num_perm=16, seed=3)
    assert [m == minhash(d, num_perm=16, seed=3) for m, d in zip(built, data)] == [True] * 3
    assert built[2].is_empty()
    lazy = MinHash.generator(iter(data), num_perm=16, seed=3)
    assert list(lazy) == built


def test_update_hashes_gives_the_engine_signature():
    settings = neardup.engine_defaults()
    table = neardup.analyze(
        ["Rainfall in the northern provinces was well below the seasonal average."],
        signatures=True,
    )
    m = MinHash(num_perm=settings["num_perm"], seed=settings["seed"])
    m.update_hashes(np.asarray(table["shingles"][0].values))
    assert m.digest().tolist() == table["signature"][0].as_py()


def test_gpu_mode_is_accepted_but_always_needs_a_gpu():
    assert MinHash(gpu_mode="detect")._gpu_mode == "detect"
    with pytest.raises(RuntimeError):
        MinHash(gpu_mode="always").update_batch([b"a"])
    with pytest.raises(ValueError):
        MinHash(gpu_mode="sometimes")
