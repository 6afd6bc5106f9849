#!/usr/bin/env python3
"""One run, one input: `neardup dedup` (the CLI) against `neardup.dedup` from Python
(list of dicts, pandas DataFrame, pyarrow Table) and `neardup.dask.dedup` on a
LocalCluster, with records/s and each one's time as a ratio of the CLI's.

    python bench/python_dedup.py INPUT.jsonl --cli target/release/neardup \
        [--unit record|paragraph] [--workers 2] [--partitions 8] [--no-dask] \
        [--peers datasketch,rensa] [--peer-limit N]

Every run must keep the same records (checked). Build the wheel and the CLI in release
mode first (`pip install ./python`, `cargo build --release`); debug builds measure the
debug build. The Dask run also prints its candidate pairs, the volume that its shuffle
join and verification move. `--peers` also runs the usual datasketch and rensa MinHashLSH
pipelines (bench/minhash_dedup.py: query, then insert if new) in this process on the
texts of the first `--peer-limit` records (all by default), for records/s against
`neardup.dedup`'s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input", type=Path)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--unit", default="record")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--peers", default="")
    ap.add_argument("--peer-limit", type=int, default=0)
    args = ap.parse_args()

    import neardup
    import pandas as pd
    import pyarrow as pa

    records = [json.loads(line) for line in args.input.open(encoding="utf-8") if line.strip()]
    n = len(records)
    rows = []

    with tempfile.TemporaryDirectory() as tmp:
        kept_path = Path(tmp) / "kept.jsonl"
        t = time.perf_counter()
        subprocess.run(
            [args.cli, "dedup", "--input", str(args.input), "--unit", args.unit,
             "--kept", str(kept_path)],
            check=True, capture_output=True,
        )
        cli = time.perf_counter() - t
        expected = [json.loads(line).get("id") for line in kept_path.open(encoding="utf-8")]
    rows.append(("neardup dedup (CLI, reads the file)", cli, len(expected)))

    frame = pd.DataFrame(records)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name, data in (("list of dicts", records), ("pandas DataFrame", frame),
                       ("pyarrow Table", table)):
        t = time.perf_counter()
        result = neardup.dedup(data, unit=args.unit)
        elapsed = time.perf_counter() - t
        assert result.kept == expected, name
        rows.append((f"neardup.dedup ({name})", elapsed, len(result.kept)))

    if not args.no_dask:
        import dask.dataframe as dd
        import distributed
        import neardup.dask

        with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                      processes=True, dashboard_address=None) as cluster, \
                distributed.Client(cluster):
            ddf = dd.from_pandas(frame, npartitions=args.partitions).persist()
            t = time.perf_counter()
            result = neardup.dask.dedup(ddf, unit=args.unit)
            kept = result.kept.compute()
            elapsed = time.perf_counter() - t
            assert kept["id"].tolist() == expected
            rows.append((f"neardup.dask.dedup ({args.workers} workers, "
                         f"{args.partitions} partitions)", elapsed, len(kept)))
            print(f"dask: {result.candidate_pairs} candidate pairs, "
                  f"{result.duplicate_units} duplicate units")

    peers = []
    if args.peers:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import minhash_dedup

        limit = args.peer_limit or n
        texts = [r["text"] for r in records[:limit]]
        for peer in args.peers.split(","):
            fn = {"datasketch": minhash_dedup.run_datasketch,
                  "rensa": minhash_dedup.run_rensa}[peer]
            t = time.perf_counter()
            judged, dups = fn(texts, 0.2, 128)
            peers.append((f"{peer} MinHashLSH pipeline", time.perf_counter() - t, limit,
                          limit - dups))

    print(f"{n} records, unit={args.unit}")
    print("| run | records | s | records/s | records/s / CLI's | kept |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, s, k in rows:
        print(f"| {name} | {n} | {s:.2f} | {n / s:,.0f} | {cli / s:.2f} | {k} |")
    for name, s, m, k in peers:
        print(f"| {name} | {m} | {s:.2f} | {m / s:,.0f} | {(m / s) / (n / cli):.3f} | {k} |")


if __name__ == "__main__":
    main()
