#!/usr/bin/env python3
"""Reference MinHash-LSH dedup pipelines for bench/dedup-compare.sh.

    python3 minhash_dedup.py {datasketch|rensa} INPUT.jsonl [--limit N] [--threshold T]

Reads JSON Lines records ({"text": ...}), keeps the first occurrence, and counts a record as
a duplicate when an earlier, kept record is an LSH candidate whose estimated Jaccard
similarity is at or above the threshold: the usual datasketch MinHashLSH recipe (query,
then insert if new). Shingles are lower-cased word bigrams, as neardup's defaults (k = 2).
Records with fewer than 8 words are skipped, like neardup's --min-length 8. Prints one
JSON line with the counts and the wall time of the pipeline (parsing included).
"""

import argparse
import json
import re
import sys
import time

WORD = re.compile(r"\w+")


def shingles(text):
    words = WORD.findall(text.lower())
    if len(words) < 8:
        return None
    return {f"{a} {b}" for a, b in zip(words, words[1:])}


def run_datasketch(texts, threshold, num_perm):
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept = {}
    dups = judged = 0
    for i, text in enumerate(texts):
        sh = shingles(text)
        if sh is None:
            continue
        judged += 1
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch([s.encode("utf-8") for s in sh])
        if any(m.jaccard(kept[k]) >= threshold for k in lsh.query(m)):
            dups += 1
            continue
        lsh.insert(i, m)
        kept[i] = m
    return judged, dups


def run_rensa(texts, threshold, num_perm):
    from rensa import RMinHash, RMinHashLSH

    # rensa takes the band count, which must divide num_perm. datasketch picks 28 bands of
    # 2 rows for threshold 0.2 and 128 permutations; rensa gets 64 bands of 2 rows (the same
    # rows, so the same per-band probability; more bands, so better recall at 0.2).
    lsh = RMinHashLSH(threshold=threshold, num_perm=num_perm, num_bands=num_perm // 2)
    kept = {}
    dups = judged = 0
    for i, text in enumerate(texts):
        sh = shingles(text)
        if sh is None:
            continue
        judged += 1
        m = RMinHash(num_perm=num_perm, seed=1)
        m.update(list(sh))
        if any(m.jaccard(kept[k]) >= threshold for k in lsh.query(m)):
            dups += 1
            continue
        lsh.insert(i, m)
        kept[i] = m
    return judged, dups


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("engine", choices=["datasketch", "rensa"])
    ap.add_argument("input")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threshold", type=float, default=0.2)
    ap.add_argument("--num-perm", type=int, default=128)
    args = ap.parse_args()
    start = time.perf_counter()
    with open(args.input, encoding="utf-8") as f:
        lines = (l for l in f if l.strip())
        if args.limit:
            lines = (l for _, l in zip(range(args.limit), lines))
        fn = run_datasketch if args.engine == "datasketch" else run_rensa
        judged, dups = fn((json.loads(l)["text"] for l in lines), args.threshold, args.num_perm)
    secs = time.perf_counter() - start
    json.dump(
        {"engine": args.engine, "judged": judged, "duplicates": dups, "seconds": round(secs, 2)},
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
