#!/usr/bin/env python3
"""Signatures inside Python, one run, the same paragraphs: `neardup.MinHash` and
`neardup.analyze` against rensa and datasketch.

    python bench/python_minhash.py PARAGRAPHS.jsonl [--limit N] [--repeat R]

PARAGRAPHS is JSON Lines with a "text" field (the benchmark corpora, or
synthetic-dev's sources). Two inputs are timed, each with the best of R passes:

- **shingles → signature**: every library gets the same word-bigram shingles (lower-cased
  `\\w+` words, as bench/minhash_dedup.py), 128 permutations, one MinHash per paragraph;
  neardup and datasketch take the shingles as bytes, rensa as str (its API). `bulk` is
  each library's batch call where it has one (`neardup.MinHash.bulk`,
  `datasketch.MinHash.bulk`).
- **text → signature**: `neardup.analyze(texts, signatures=True)` (its own tokenizer and
  shingles, in Rust, on all cores) against the Python tokenizer above followed by each
  library's fastest shingles → signature call. This is what a pipeline pays per text.

Prints paragraphs/s and each as a ratio of rensa's. Single-threaded except `analyze`,
which says so; RAYON_NUM_THREADS=1 pins it to one core as well.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

WORD = re.compile(r"\w+")


def shingles(text: str):
    words = WORD.findall(text.lower())
    return [f"{a} {b}" for a, b in zip(words, words[1:])] or words


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input", type=Path)
    ap.add_argument("--limit", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import datasketch
    import neardup
    import rensa

    texts = []
    with args.input.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                texts.append(json.loads(line)["text"])
                if len(texts) == args.limit:
                    break
    n = len(texts)
    sh = [shingles(t) for t in texts]
    sh_bytes = [[s.encode("utf-8") for s in x] for x in sh]

    def each(cls, method, sets):
        """One MinHash per paragraph, fed by `method`, then its digest."""
        for x in sets:
            m = cls(num_perm=128, seed=1)
            getattr(m, method)(x)
            m.digest()

    def bulk(cls, sets):
        for m in cls.bulk(sets, num_perm=128, seed=1):
            m.digest()

    def encoded(sets):
        return [[s.encode("utf-8") for s in x] for x in sets]

    neardup_each = lambda: each(neardup.MinHash, "update_batch", sh_bytes)
    neardup_bulk = lambda: bulk(neardup.MinHash, sh_bytes)
    rensa_each = lambda: each(rensa.RMinHash, "update", sh)
    datasketch_each = lambda: each(datasketch.MinHash, "update_batch", sh_bytes)
    datasketch_bulk = lambda: bulk(datasketch.MinHash, sh_bytes)

    def neardup_analyze():
        neardup.analyze(texts, signatures=True)

    def tokenized(fn):
        """`fn` on shingles made by the Python tokenizer inside the timed call."""
        return lambda: fn([shingles(t) for t in texts])

    rensa_from = lambda local: each(rensa.RMinHash, "update", local)
    neardup_from = lambda local: bulk(neardup.MinHash, encoded(local))
    datasketch_from = lambda local: bulk(datasketch.MinHash, encoded(local))

    rows = [
        ("shingles → signature", "neardup.MinHash update_batch", best(neardup_each, args.repeat)),
        ("shingles → signature", "neardup.MinHash.bulk", best(neardup_bulk, args.repeat)),
        ("shingles → signature", "rensa.RMinHash update", best(rensa_each, args.repeat)),
        ("shingles → signature", "datasketch.MinHash update_batch",
         best(datasketch_each, max(1, args.repeat // 3))),
        ("shingles → signature", "datasketch.MinHash.bulk",
         best(datasketch_bulk, max(1, args.repeat // 3))),
        ("text → signature", "neardup.analyze (Rust tokenizer, all cores)",
         best(neardup_analyze, args.repeat)),
        ("text → signature", "Python tokenizer + neardup.MinHash.bulk",
         best(tokenized(neardup_from), args.repeat)),
        ("text → signature", "Python tokenizer + rensa", best(tokenized(rensa_from), args.repeat)),
        ("text → signature", "Python tokenizer + datasketch.MinHash.bulk",
         best(tokenized(datasketch_from), max(1, args.repeat // 3))),
    ]
    print(f"{n} paragraphs from {args.input.name}, best of {args.repeat} "
          f"(datasketch: best of {max(1, args.repeat // 3)}), "
          f"neardup's minhash loop: {neardup.minhash_implementation()}")
    print("| input | call | paragraphs/s | × rensa |")
    print("| --- | --- | ---: | ---: |")
    base = {}
    for group, name, s in rows:
        if name.startswith("rensa") or name == "Python tokenizer + rensa":
            base[group] = s
    for group, name, s in rows:
        print(f"| {group} | {name} | {n / s:,.0f} | {base[group] / s:.2f} |")


if __name__ == "__main__":
    main()
